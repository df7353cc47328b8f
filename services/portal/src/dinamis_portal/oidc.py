"""OpenID Connect, authorization code flow with PKCE (S256), as a confidential client
of Keycloak's `dinamis` realm. The portal keeps the tokens server-side (sessions.py):
the browser never sees them. The ID token is checked (signature against the realm's
JWKS, issuer, audience, expiry, and the `nonce` of this login)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import httpx
import jwt

from dinamis_portal.errors import PortalError
from dinamis_portal.settings import PortalSettings

log = logging.getLogger(__name__)


def code_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)), no padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class LoginStart:
    """What the session keeps while the user is at the identity provider."""

    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls) -> LoginStart:
        # 64 random bytes: an 86-character verifier (RFC 7636 asks for 43 to 128).
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64))


def login_refused(code: str, message_fr: str, message: str, status: int = 400) -> PortalError:
    return PortalError(message, code=code, message_fr=message_fr, status=status)


def provider_unavailable() -> PortalError:
    return login_refused(
        "identity-provider-unavailable",
        "le service d'identification ne répond pas ; réessayez dans quelques instants",
        "the identity provider is not answering; try again in a moment",
        503,
    )


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


# Where each endpoint the portal uses may be: the browser is sent to the first two (the
# public issuer's origin); the client secret is posted to the token endpoint and the keys
# are read from the JWKS (the public or the internal issuer's origin).
BROWSER_ENDPOINTS = ("authorization_endpoint", "end_session_endpoint")
BACK_CHANNEL_ENDPOINTS = ("token_endpoint", "jwks_uri")


def misplaced_endpoints(metadata: dict[str, Any], issuer: str, internal_issuer: str | None) -> list[str]:
    """The metadata's endpoints that are missing or off the issuers' origins: a misconfigured
    identity provider (or a proxy) must not get the client secret or the browser elsewhere."""
    public = _origin(issuer)
    back = {public, _origin(internal_issuer or issuer)}
    wrong = []
    for name, allowed in [
        *((n, {public}) for n in BROWSER_ENDPOINTS),
        *((n, back) for n in BACK_CHANNEL_ENDPOINTS),
    ]:
        value = metadata.get(name)
        if not isinstance(value, str) or _origin(value) not in allowed:
            wrong.append(f"{name}={value!r}")
    return wrong


class IdentityProvider(Protocol):
    """The port the login routes use (Keycloak here; a fake in unit tests)."""

    async def authorization_url(self, start: LoginStart, lang: str) -> str: ...
    async def exchange(self, code: str, verifier: str) -> dict[str, Any]: ...
    async def refresh(self, refresh_token: str) -> dict[str, Any]: ...
    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]: ...
    async def end_session_url(self, id_token_hint: str | None) -> str: ...


class KeycloakProvider:
    def __init__(self, settings: PortalSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self._metadata: dict[str, Any] | None = None
        self._fetched_at = 0.0
        self._jwks: jwt.PyJWKClient | None = None

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._fetched_at > 3600:
            url = f"{self.settings.oidc_internal_issuer}/.well-known/openid-configuration"
            try:
                response = await self.http.get(url)
                response.raise_for_status()
                metadata = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise provider_unavailable() from exc
            # OpenID Connect Discovery 1.0, 4.3: the metadata's issuer must be the one we
            # expect (read from an internal address, it must still be the public one).
            if not isinstance(metadata, dict) or metadata.get("issuer") != self.settings.oidc_issuer:
                log.error(
                    "identity provider metadata names issuer %r, expected %r",
                    metadata.get("issuer") if isinstance(metadata, dict) else None,
                    self.settings.oidc_issuer,
                )
                raise provider_unavailable()
            wrong = misplaced_endpoints(
                metadata, self.settings.oidc_issuer, self.settings.oidc_internal_issuer
            )
            if wrong:
                log.error("identity provider metadata: endpoints off the expected origins: %s", wrong)
                raise provider_unavailable()
            self._metadata = metadata
            self._fetched_at = time.monotonic()
            self._jwks = jwt.PyJWKClient(self._metadata["jwks_uri"], cache_keys=True, lifespan=300)
        return self._metadata

    async def authorization_url(self, start: LoginStart, lang: str) -> str:
        meta = await self.metadata()
        query = {
            "response_type": "code",
            "client_id": self.settings.oidc_client_id,
            "redirect_uri": self.settings.redirect_uri,
            "scope": self.settings.oidc_scopes,
            "state": start.state,
            "nonce": start.nonce,
            "code_challenge": code_challenge(start.verifier),
            "code_challenge_method": "S256",
            "ui_locales": lang,
        }
        return f"{meta['authorization_endpoint']}?{urlencode(query)}"

    async def _token(self, form: dict[str, str]) -> dict[str, Any]:
        meta = await self.metadata()
        try:
            response = await self.http.post(
                meta["token_endpoint"],
                data=form,
                auth=(self.settings.oidc_client_id, self.settings.oidc_client_secret.get_secret_value()),
            )
        except httpx.HTTPError as exc:
            raise provider_unavailable() from exc
        if response.status_code != 200:
            raise login_refused(
                "login-refused",
                "le service d'identification a refusé la connexion ; recommencez",
                "the identity provider refused the login; start again",
            )
        return response.json()

    async def exchange(self, code: str, verifier: str) -> dict[str, Any]:
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.settings.redirect_uri,
                "code_verifier": verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        await self.metadata()  # the keys' client (its JWKS address) comes with the metadata
        assert self._jwks is not None
        try:
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, id_token)
            claims = jwt.decode(
                id_token,
                key.key,
                algorithms=["RS256"],
                audience=self.settings.oidc_client_id,
                issuer=self.settings.oidc_issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=30,
            )
        except (jwt.PyJWTError, httpx.HTTPError) as exc:
            raise login_refused(
                "invalid-id-token",
                "le jeton d'identité reçu n'est pas valide ; recommencez la connexion",
                "the ID token received is not valid; log in again",
            ) from exc
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise login_refused(
                "oidc-nonce-mismatch",
                "la réponse du service d'identification ne correspond pas à cette connexion (nonce)",
                "the identity provider's answer does not belong to this login (nonce)",
            )
        return claims

    async def end_session_url(self, id_token_hint: str | None) -> str:
        meta = await self.metadata()
        query = {
            "client_id": self.settings.oidc_client_id,
            "post_logout_redirect_uri": f"{self.settings.public_url}/",
        }
        if id_token_hint:
            query["id_token_hint"] = id_token_hint
        return f"{meta['end_session_endpoint']}?{urlencode(query)}"
