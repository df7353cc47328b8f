"""Who is calling, and what the platform's records let them do now: a `Principal`.

One authority for entitlements. A bearer token (OIDC, RS256) says only *who* the
caller is (`sub`, and the e-mail if present): an `Identity`. Claims such as `org` or
`roles` are ignored. What the caller may do now (organisation, its status, the user's
active flag and roles, staff = user of the platform's own organisation, the contractor
delegation, the end of the membership) comes from the orders service's records:

- the orders service resolves it locally (`Authenticator(..., entitlements=...)`);
- every other service asks the orders service through ONE client,
  `OrdersEntitlements` (`POST /v1/access/whoami`, forwarding the caller's own
  credentials), with a short per-sub cache (`auth_entitlements_ttl_s`, 5 s at most).

Tokens are verified against the identity provider's JWKS (`DINAMIS_AUTH_JWKS_URL`,
issuer `DINAMIS_AUTH_ISSUER`, audience, expiry). Outside production a local RSA key
(`DINAMIS_AUTH_LOCAL_KEY_FILE`, issuer `https://auth.dinamis.local/`) is accepted as
well, told apart by the issuer, so tests mint tokens fast; production accepts only the
configured provider. Only RS256 is accepted: no `none`, no HMAC algorithm a public key
could be abused as a secret for.

API keys (`access-key` / `secret-key` headers, as the public DINAMIS SDK sends them)
are issued and stored (hashed) by the orders service. Other services resolve them
through the orders service's API (`OrdersApiKeyResolver`, same short cache), never
from a local copy.

Routes depend on `CurrentPrincipal` (a caller in good standing: an active user of an
active member organisation, or active staff; anything else is 403 with the reason)
or, for the few routes that make sense for anyone authenticated (`/v1/me`, applying
for membership, reading one's own organisation's record), `AuthenticatedPrincipal`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from dinamis_shared.errors import DinamisError
from dinamis_shared.events import Identifier

ALGORITHM = "RS256"
LOCAL_ISSUER = "https://auth.dinamis.local/"
AUDIENCE = "dinamis"


class Role(StrEnum):
    MEMBER = "member"
    REFERENT = "referent"  # manages its own organisation's users
    OPERATOR = "operator"  # DINAMIS staff
    ADMIN = "admin"
    # The working group's members (users of the platform's own organisation): read the
    # reporting's detailed indicators, nothing else (never staff: STAFF_ROLES below).
    GOVERNANCE = "governance"


STAFF_ROLES = frozenset({Role.OPERATOR, Role.ADMIN})
# The roles that exist only for users of the platform's own organisation (stripped anywhere else).
STAFF_ORGANISATION_ROLES = STAFF_ROLES | {Role.GOVERNANCE}


class Unauthenticated(DinamisError):
    code = "unauthenticated"
    http_status = 401
    message_fr = "Authentification requise ou invalide."


class Forbidden(DinamisError):
    code = "forbidden"
    http_status = 403
    message_fr = "Accès refusé."


class Identity(BaseModel):
    """Who a verified token says the caller is — and nothing more. What they may do is
    the orders service's records' answer (`Principal`), never a claim."""

    model_config = ConfigDict(frozen=True)

    sub: Identifier
    email: str | None = None
    issuer: str = LOCAL_ISSUER
    # The OAuth2 client the token was issued to (`azp`): a platform service's own client
    # (`service-<name>`, client credentials) when a service calls another.
    client_id: str | None = None


# Standings (`Principal.standing`): why a caller may or may not use the platform now.
GOOD_STANDINGS = frozenset({"member", "staff"})
# A user of the platform's own organisation holding `governance` and neither operator nor
# admin: a member of the working group. Not a good standing (no ordering, no operations,
# every `CurrentPrincipal` route answers 403 `governance`); the reporting's working-group
# routes accept it (with "staff") by reading `Principal.standing`.
GOVERNANCE_STANDING = "governance"


class Principal(BaseModel):
    """An authenticated caller and what the orders service's records entitle them to now.

    `organisation_id` is the organisation of the user's record (None: a sub unknown to
    the platform); `roles` come from that record (operator/admin only for users of the
    platform's own organisation); `standing` is the decision code of
    `member_standing` ("member", "staff", "not-a-member", "organisation-suspended",
    "organisation-pending", "organisation-inactive", "user-inactive"), or "governance"
    (the working group: see `GOVERNANCE_STANDING`); `access_until`
    is the earliest of the membership end and (contractors) the contract end."""

    model_config = ConfigDict(frozen=True)

    user_id: Identifier
    organisation_id: Identifier | None = None
    roles: frozenset[Role] = Field(default_factory=frozenset)
    via: str = "jwt"  # "jwt" or "api-key"
    key_id: str | None = None
    email: str | None = None
    standing: str = "unresolved"
    reason: str | None = None
    access_until: datetime | None = None

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    @property
    def in_good_standing(self) -> bool:
        return self.standing in GOOD_STANDINGS

    def has(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))

    @property
    def member_organisation(self) -> str:
        """The caller's organisation (403 for a sub unknown to the platform)."""
        if self.organisation_id is None:
            raise Forbidden(
                "not a user of any organisation",
                code="not-a-member",
                message_fr="utilisateur d'aucune organisation",
            )
        return self.organisation_id

    def refusal(self) -> Forbidden:
        """The 403 to answer a caller not in good standing (French first, code = standing)."""
        fr, _, en = (self.reason or "accès refusé / access denied").partition(" / ")
        return Forbidden(en or fr, code=self.standing, message_fr=fr)


# --- keys -------------------------------------------------------------------------


def ensure_local_signing_key(path: Path) -> rsa.RSAPrivateKey:
    """Load the laptop signing key, creating it (mode 0600) if absent.

    Several processes may start at once: the key is written to a temporary file then
    hard-linked into place, which fails if another process won the race; everyone
    then reads the same key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    return loaded


def mint_token(
    key: rsa.RSAPrivateKey,
    *,
    user_id: str,
    organisation_id: str | None = None,
    roles: list[str] | tuple[str, ...] = (),
    ttl: timedelta = timedelta(hours=12),
    issuer: str = LOCAL_ISSUER,
    audience: str = AUDIENCE,
    now: datetime | None = None,
    email: str | None = None,
) -> str:
    """A token signed with the local development key (tests; `dinamis token --local`).

    Development only: production accepts only the configured identity provider's
    tokens. `organisation_id` and `roles`, when given, are written as `org`/`roles`
    claims solely so tests can show they are ignored."""
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": user_id,
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    if organisation_id is not None:
        claims["org"] = organisation_id
    if roles:
        claims["roles"] = [str(r) for r in roles]
    if email is not None:
        claims["email"] = email
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": "local"})


class TokenVerifier:
    """Verifies RS256 bearer tokens of one issuer against a JWKS URL or a local public key."""

    def __init__(
        self,
        *,
        jwks_url: str | None = None,
        public_key: rsa.RSAPublicKey | None = None,
        issuer: str = LOCAL_ISSUER,
        audience: str = AUDIENCE,
        leeway_s: int = 30,
    ) -> None:
        if (jwks_url is None) == (public_key is None):
            raise ValueError("give exactly one of jwks_url and public_key")
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._public_key = public_key
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s

    @property
    def blocking(self) -> bool:
        return self._jwks is not None

    def _key_for(self, token: str) -> Any:
        if self._jwks is not None:
            try:
                return self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError as exc:
                raise ConnectionError(f"identity provider keys unreachable: {exc}") from exc
        return self._public_key

    def verify_sync(self, token: str) -> Identity:
        """The caller's identity (`sub`, e-mail): any other claim is ignored."""
        try:
            key = self._key_for(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token expired", code="token-expired") from exc
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthenticated(f"invalid token: {exc}", code="invalid-token") from exc
        email, azp = claims.get("email"), claims.get("azp")
        try:
            return Identity(
                sub=claims["sub"],
                email=email if isinstance(email, str) else None,
                issuer=self.issuer,
                client_id=azp if isinstance(azp, str) else None,
            )
        except ValueError as exc:
            raise Unauthenticated(f"invalid subject: {exc}", code="invalid-token") from exc

    async def verify(self, token: str) -> Identity:
        if self._jwks is None:
            return self.verify_sync(token)
        return await asyncio.to_thread(self.verify_sync, token)  # JWKS fetch is blocking I/O


class IssuerVerifiers:
    """Several trusted issuers (development: Keycloak and the local key), told apart by
    the token's `iss`; the signature is then checked against that issuer's keys only."""

    def __init__(self, verifiers: list[TokenVerifier]) -> None:
        if not verifiers:
            raise ValueError("no trusted token issuer")
        self.by_issuer = {v.issuer: v for v in verifiers}

    def _pick(self, token: str) -> TokenVerifier:
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}", code="invalid-token") from exc
        verifier = self.by_issuer.get(issuer) if isinstance(issuer, str) else None
        if verifier is None:
            raise Unauthenticated("token from an untrusted issuer", code="invalid-token")
        return verifier

    def verify_sync(self, token: str) -> Identity:
        return self._pick(token).verify_sync(token)

    async def verify(self, token: str) -> Identity:
        return await self._pick(token).verify(token)


class Verifier(Protocol):
    async def verify(self, token: str) -> Identity: ...


class ApiKeyResolver(Protocol):
    async def __call__(self, access_key: str, secret_key: str) -> Principal: ...


class EntitlementsResolver(Protocol):
    """What a verified identity may do now. `credentials` are the caller's own headers
    (`Authorization`), which a remote resolver forwards to authenticate its question."""

    async def __call__(self, identity: Identity, credentials: dict[str, str]) -> Principal: ...


class _TtlCache:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic, size: int = 10_000) -> None:
        if not 0 <= ttl_s <= 5:
            raise ValueError("entitlements are cached 5 s at most (auth_entitlements_ttl_s)")
        self.ttl_s, self.clock, self.size = ttl_s, clock, size
        self.entries: dict[Any, tuple[float, Principal]] = {}

    def get(self, key: Any) -> Principal | None:
        hit = self.entries.get(key)
        if hit is None:
            return None
        if hit[0] <= self.clock():
            self.entries.pop(key, None)
            return None
        return hit[1]

    def put(self, key: Any, principal: Principal) -> None:
        if self.ttl_s <= 0:
            return
        if len(self.entries) >= self.size:
            self.entries.clear()
        self.entries[key] = (self.clock() + self.ttl_s, principal)

    def invalidate(self, *, user_id: str | None = None, organisation_id: str | None = None) -> int:
        """Drop the entries of a user, or of every user of an organisation."""
        doomed = [
            k
            for k, (_, p) in self.entries.items()
            if (user_id is not None and p.user_id == user_id)
            or (organisation_id is not None and p.organisation_id == organisation_id)
        ]
        for k in doomed:
            self.entries.pop(k, None)
        return len(doomed)


class OrdersEntitlements:
    """The one client every service but orders uses to learn what a caller may do now:
    `POST {orders_url}/v1/access/whoami` with the caller's own `Authorization` header
    (the answer is about the caller only, so it cannot enumerate anyone), cached per
    (issuer, sub) for `ttl_s` seconds (5 at most). `invalidate` drops entries early
    (`user-changed` / `organisation-changed` consumers)."""

    def __init__(
        self,
        orders_url: str,
        ttl_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = orders_url.rstrip("/") + "/v1/access/whoami"
        self.cache = _TtlCache(ttl_s, clock)
        self._client = client

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0)
        return self._client

    async def __call__(self, identity: Identity, credentials: dict[str, str]) -> Principal:
        key = (identity.issuer, identity.sub)
        if (hit := self.cache.get(key)) is not None:
            return hit
        try:
            response = await self.client.post(self.url, headers=credentials)
        except httpx.HTTPError as exc:
            raise ConnectionError(f"the orders service (entitlements) is unreachable: {exc}") from exc
        if response.status_code == 401:
            raise Unauthenticated("the orders service did not recognise these credentials")
        response.raise_for_status()
        principal = Principal.model_validate(response.json())
        if principal.user_id != identity.sub:
            raise Unauthenticated("entitlements answered for another subject")
        self.cache.put(key, principal)
        return principal

    def invalidate(self, *, user_id: str | None = None, organisation_id: str | None = None) -> int:
        return self.cache.invalidate(user_id=user_id, organisation_id=organisation_id)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class OrdersApiKeyResolver:
    """Resolves API keys by asking the orders service (which stores them hashed, and
    answers with the owner's current entitlements).

    Answers are cached for `ttl_s` seconds (5 at most) per (key, secret digest): a
    revoked key, or a suspended owner, stops working within that delay."""

    def __init__(
        self,
        orders_url: str,
        ttl_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = orders_url.rstrip("/") + "/v1/api-keys/verify"
        self.cache = _TtlCache(ttl_s, clock)
        self._client = client or httpx.AsyncClient(timeout=5.0)

    async def __call__(self, access_key: str, secret_key: str) -> Principal:
        cache_key = (access_key, hashlib.sha256(secret_key.encode()).hexdigest())
        if (hit := self.cache.get(cache_key)) is not None:
            return hit
        response = await self._client.post(
            self.url, json={"access_key": access_key, "secret_key": secret_key}
        )
        if response.status_code in (401, 403, 404):
            raise Unauthenticated("unknown or revoked API key", code="invalid-api-key")
        response.raise_for_status()
        principal = Principal.model_validate(response.json())
        self.cache.put(cache_key, principal)
        return principal

    def invalidate(self, *, user_id: str | None = None, organisation_id: str | None = None) -> int:
        return self.cache.invalidate(user_id=user_id, organisation_id=organisation_id)

    async def aclose(self) -> None:
        await self._client.aclose()


class Authenticator:
    """Turns a request's credentials into a Principal: bearer JWT (identity verified
    here, entitlements from the orders service's records), else API key."""

    def __init__(
        self,
        verifier: Verifier,
        api_keys: ApiKeyResolver | None = None,
        entitlements: EntitlementsResolver | None = None,
    ) -> None:
        self.verifier = verifier
        self.api_keys = api_keys
        self.entitlements = entitlements

    async def identify(self, headers: object) -> Identity | None:
        """The bearer token's identity, or None when the request carries no bearer token."""
        get = headers.get  # type: ignore[attr-defined]
        authorization = get("authorization")
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization must be 'Bearer <token>'", code="invalid-token")
        return await self.verifier.verify(token.strip())

    async def authenticate(self, headers: object) -> Principal:
        get = headers.get  # type: ignore[attr-defined]
        identity = await self.identify(headers)
        if identity is not None:
            if self.entitlements is None:
                raise RuntimeError("no entitlements resolver: who may do what is the orders service's answer")
            return await self.entitlements(identity, {"Authorization": get("authorization")})
        access_key, secret_key = get("access-key"), get("secret-key")
        if access_key and secret_key and self.api_keys is not None:
            if len(access_key) > 200 or len(secret_key) > 200:
                raise Unauthenticated("malformed API key", code="invalid-api-key")
            return await self.api_keys(access_key, secret_key)
        raise Unauthenticated("no credentials: send 'Authorization: Bearer <token>' or API key headers")

    def invalidate(self, *, user_id: str | None = None, organisation_id: str | None = None) -> None:
        """Forget cached entitlements early (on `user-changed` / `organisation-changed`)."""
        for source in (self.entitlements, self.api_keys):
            drop = getattr(source, "invalidate", None)
            if drop is not None:
                drop(user_id=user_id, organisation_id=organisation_id)


def verifier_from_settings(settings: object) -> IssuerVerifiers:
    """The trusted token issuers: the configured provider (JWKS URL + issuer) and, outside
    production, the local development key (issuer https://auth.dinamis.local/)."""
    s: Any = settings
    production = getattr(s, "environment", "development") == "production"
    verifiers: list[TokenVerifier] = []
    if s.auth_jwks_url:
        verifiers.append(
            TokenVerifier(jwks_url=s.auth_jwks_url, issuer=s.auth_issuer, audience=s.auth_audience)
        )
    elif production:
        raise ValueError("production needs auth_jwks_url: the local signing key is for development only")
    if not production:
        local_issuer = LOCAL_ISSUER if s.auth_jwks_url else s.auth_issuer
        if all(v.issuer != local_issuer for v in verifiers):
            key = ensure_local_signing_key(Path(s.auth_local_key_file))
            verifiers.append(
                TokenVerifier(public_key=key.public_key(), issuer=local_issuer, audience=s.auth_audience)
            )
    return IssuerVerifiers(verifiers)


def authenticator_from_settings(
    settings: object,
    api_keys: ApiKeyResolver | None = None,
    entitlements: EntitlementsResolver | None = None,
) -> Authenticator:
    """The Authenticator a service's settings describe (`auth_*` fields of ServiceSettings).

    Without `entitlements` (every service but orders), callers' entitlements are asked
    of the orders service (`settings.orders_url`) through `OrdersEntitlements`; API keys
    likewise through `OrdersApiKeyResolver` when no resolver is given."""
    s: Any = settings
    ttl_s = float(getattr(s, "auth_entitlements_ttl_s", 5.0))
    if entitlements is None:
        entitlements = OrdersEntitlements(s.orders_url, ttl_s=ttl_s)
    if api_keys is None:
        api_keys = OrdersApiKeyResolver(s.orders_url, ttl_s=ttl_s)
    return Authenticator(verifier_from_settings(s), api_keys, entitlements)


def install_authenticator(app: object, authenticator: Authenticator) -> None:
    app.state.authenticator = authenticator  # type: ignore[attr-defined]


def authenticator_of(app: object) -> Authenticator | None:
    found = getattr(getattr(app, "state", None), "authenticator", None)
    return found if isinstance(found, Authenticator) else None


# Request state key of the principal the request guard (dinamis_shared.guard) found
# before reading the body: the dependency below then does not verify twice.
PREAUTHENTICATED = "preauthenticated_principal"


async def authenticated_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller whatever their standing (401 otherwise).
    Only for routes that make sense for anyone: `/v1/me`, applying for membership..."""
    principal = getattr(request.state, PREAUTHENTICATED, None)
    if not isinstance(principal, Principal):
        authenticator: Authenticator | None = getattr(request.app.state, "authenticator", None)
        if authenticator is None:
            raise RuntimeError("no authenticator installed on this app")
        principal = await authenticator.authenticate(request.headers)
    request.state.principal = principal
    return principal


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: an authenticated caller in good standing now — an active user
    of an active member organisation, or active staff. Anyone else: 403 with the reason
    (unknown to the platform, organisation suspended/pending/expired, user deactivated)."""
    principal = await authenticated_principal(request)
    if not principal.in_good_standing:
        raise principal.refusal()
    return principal


async def authenticated_service(request: Request) -> Identity:
    """FastAPI dependency: the identity of a bearer token, for the internal routes a
    platform service calls with its own client-credentials token (`Identity.client_id`
    says which client; the route decides which clients it answers). 401 without one."""
    authenticator = authenticator_of(request.app)
    if authenticator is None:
        raise RuntimeError("no authenticator installed on this app")
    identity = await authenticator.identify(request.headers)
    if identity is None:
        raise Unauthenticated("a service token is required: send 'Authorization: Bearer <token>'")
    return identity


AuthenticatedService = Annotated[Identity, Depends(authenticated_service)]
AuthenticatedPrincipal = Annotated[Principal, Depends(authenticated_principal)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """FastAPI dependency factory: the caller, in good standing, must hold one of `roles`."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has(*roles):
            raise Forbidden(f"this action needs one of the roles: {', '.join(sorted(roles))}")
        return principal

    return dependency
