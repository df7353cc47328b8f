"""Who is calling: OIDC bearer JWTs (RS256) and API keys, as a `Principal`.

Production verifies tokens against the identity provider's JWKS URL
(`DINAMIS_AUTH_JWKS_URL`); on a laptop a local RSA key stands in for it
(`DINAMIS_AUTH_LOCAL_KEY_FILE`, created on first use; `dinamis token` mints tokens
with it). Only RS256 is accepted: no `none`, no HMAC algorithm a public key could be
abused as a secret for.

API keys (`access-key` / `secret-key` headers, as the public DINAMIS SDK sends them)
are issued and stored (hashed) by the orders service. Other services resolve them
through the orders service's API (`OrdersApiKeyResolver`), never from a local copy.
"""

from __future__ import annotations

import asyncio
import contextlib
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


STAFF_ROLES = frozenset({Role.OPERATOR, Role.ADMIN})


class Principal(BaseModel):
    """An authenticated caller. `organisation_id` is the organisation the token speaks for."""

    model_config = ConfigDict(frozen=True)

    user_id: Identifier
    organisation_id: Identifier
    roles: frozenset[Role] = Field(default_factory=frozenset)
    via: str = "jwt"  # "jwt" or "api-key"
    key_id: str | None = None

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    def has(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))


class Unauthenticated(DinamisError):
    code = "unauthenticated"
    http_status = 401
    message_fr = "Authentification requise ou invalide."


class Forbidden(DinamisError):
    code = "forbidden"
    http_status = 403
    message_fr = "Accès refusé."


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
    organisation_id: str,
    roles: list[str] | tuple[str, ...],
    ttl: timedelta = timedelta(hours=12),
    issuer: str = LOCAL_ISSUER,
    audience: str = AUDIENCE,
    now: datetime | None = None,
) -> str:
    """A token as the identity provider would issue it (local key; tests and `dinamis token`)."""
    issued = now or datetime.now(UTC)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": user_id,
        "org": organisation_id,
        "roles": [Role(r).value for r in roles],
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": "local"})


class TokenVerifier:
    """Verifies RS256 bearer tokens against a JWKS URL or a local public key."""

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

    def _key_for(self, token: str) -> Any:
        if self._jwks is not None:
            try:
                return self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError as exc:
                raise ConnectionError(f"identity provider keys unreachable: {exc}") from exc
        return self._public_key

    def verify_sync(self, token: str) -> Principal:
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
        org = claims.get("org")
        raw_roles = claims.get("roles", [])
        if not isinstance(org, str) or not isinstance(raw_roles, list):
            raise Unauthenticated("token lacks the 'org' and 'roles' claims", code="invalid-token")
        try:
            roles = frozenset(Role(r) for r in raw_roles)
            return Principal(user_id=claims["sub"], organisation_id=org, roles=roles)
        except ValueError as exc:
            raise Unauthenticated(f"invalid claims: {exc}", code="invalid-token") from exc

    async def verify(self, token: str) -> Principal:
        if self._jwks is None:
            return self.verify_sync(token)
        return await asyncio.to_thread(self.verify_sync, token)  # JWKS fetch is blocking I/O


class ApiKeyResolver(Protocol):
    async def __call__(self, access_key: str, secret_key: str) -> Principal: ...


class OrdersApiKeyResolver:
    """Resolves API keys by asking the orders service (which stores them hashed).

    Successful answers are cached for `ttl_s` seconds per (key, secret digest): a
    revoked key stops working within that delay."""

    def __init__(self, orders_url: str, ttl_s: float = 30.0, client: httpx.AsyncClient | None = None) -> None:
        self.url = orders_url.rstrip("/") + "/v1/api-keys/verify"
        self.ttl_s = ttl_s
        self._client = client or httpx.AsyncClient(timeout=5.0)
        self._cache: dict[tuple[str, str], tuple[float, Principal]] = {}

    async def __call__(self, access_key: str, secret_key: str) -> Principal:
        import hashlib

        cache_key = (access_key, hashlib.sha256(secret_key.encode()).hexdigest())
        hit = self._cache.get(cache_key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        response = await self._client.post(
            self.url, json={"access_key": access_key, "secret_key": secret_key}
        )
        if response.status_code in (401, 403, 404):
            raise Unauthenticated("unknown or revoked API key", code="invalid-api-key")
        response.raise_for_status()
        principal = Principal.model_validate(response.json())
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[cache_key] = (time.monotonic() + self.ttl_s, principal)
        return principal

    async def aclose(self) -> None:
        await self._client.aclose()


class Authenticator:
    """Turns a request's credentials into a Principal. Bearer JWT first, then API key."""

    def __init__(self, verifier: TokenVerifier, api_keys: ApiKeyResolver | None = None) -> None:
        self.verifier = verifier
        self.api_keys = api_keys

    async def authenticate(self, headers: object) -> Principal:
        get = headers.get  # type: ignore[attr-defined]
        authorization = get("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("Authorization must be 'Bearer <token>'", code="invalid-token")
            return await self.verifier.verify(token.strip())
        access_key, secret_key = get("access-key"), get("secret-key")
        if access_key and secret_key and self.api_keys is not None:
            if len(access_key) > 200 or len(secret_key) > 200:
                raise Unauthenticated("malformed API key", code="invalid-api-key")
            return await self.api_keys(access_key, secret_key)
        raise Unauthenticated("no credentials: send 'Authorization: Bearer <token>' or API key headers")


def authenticator_from_settings(settings: object, api_keys: ApiKeyResolver | None = None) -> Authenticator:
    """The Authenticator a service's settings describe (`auth_*` fields of ServiceSettings)."""
    s = settings
    if s.auth_jwks_url:  # type: ignore[attr-defined]
        verifier = TokenVerifier(jwks_url=s.auth_jwks_url, issuer=s.auth_issuer, audience=s.auth_audience)  # type: ignore[attr-defined]
    else:
        key = ensure_local_signing_key(Path(s.auth_local_key_file))  # type: ignore[attr-defined]
        verifier = TokenVerifier(public_key=key.public_key(), issuer=s.auth_issuer, audience=s.auth_audience)  # type: ignore[attr-defined]
    return Authenticator(verifier, api_keys)


def install_authenticator(app: object, authenticator: Authenticator) -> None:
    app.state.authenticator = authenticator  # type: ignore[attr-defined]


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller (401 problem details otherwise)."""
    authenticator: Authenticator | None = getattr(request.app.state, "authenticator", None)
    if authenticator is None:
        raise RuntimeError("no authenticator installed on this app")
    principal = await authenticator.authenticate(request.headers)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """FastAPI dependency factory: the caller must hold one of `roles`."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has(*roles):
            raise Forbidden(f"this action needs one of the roles: {', '.join(sorted(roles))}")
        return principal

    return dependency
