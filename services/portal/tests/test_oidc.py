"""PKCE (RFC 7636's own example), and the ID token checks of the Keycloak adapter:
signature against the realm's JWKS, issuer, audience, expiry and this login's nonce.
Keycloak's HTTP answers are played by httpx.MockTransport (a unit test; the real
Keycloak is driven in tests/integration/test_portal.py)."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dinamis_portal.errors import PortalError
from dinamis_portal.oidc import KeycloakProvider, LoginStart, code_challenge

from .conftest import settings

ISSUER = "http://idp.test/realms/dinamis"


def test_code_challenge_is_rfc_7636_s256():
    # RFC 7636, appendix B.
    assert (
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_each_login_gets_new_random_values():
    a, b = LoginStart.new(), LoginStart.new()
    assert len({a.state, a.nonce, a.verifier, b.state, b.nonce, b.verifier}) == 6
    assert 43 <= len(a.verifier) <= 128


class Realm:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
        self.token_forms: list[dict] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            base = f"{ISSUER}/protocol/openid-connect"
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{base}/auth",
                    "token_endpoint": f"{base}/token",
                    "jwks_uri": f"{base}/certs",
                    "end_session_endpoint": f"{base}/logout",
                },
            )
        if path.endswith("/token"):
            self.token_forms.append(dict(parse_qs(request.content.decode())))
            return httpx.Response(200, json={"access_token": "a", "id_token": "i", "expires_in": 300})
        return httpx.Response(404)

    def id_token(self, **claims) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": "dinamis-portal",
            "sub": "s1",
            "iat": now,
            "exp": now + 300,
            "nonce": "n1",
        }
        body.update(claims)
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def realm(monkeypatch):
    realm = Realm()

    # PyJWKClient fetches the JWKS itself (urllib): give it the realm's keys.
    def fetch_data(self):
        return realm.jwks

    monkeypatch.setattr(jwt.PyJWKClient, "fetch_data", fetch_data)
    return realm


@pytest.fixture
async def provider(realm):
    http = httpx.AsyncClient(transport=httpx.MockTransport(realm.handler))
    yield KeycloakProvider(settings(oidc_issuer=ISSUER), http)
    await http.aclose()


async def test_authorization_url_asks_for_the_code_with_pkce(provider):
    start = LoginStart.new()
    query = parse_qs(urlsplit(await provider.authorization_url(start, "en")).query)
    assert query == {
        "response_type": ["code"],
        "client_id": ["dinamis-portal"],
        "redirect_uri": ["http://portal.test/auth/callback"],
        "scope": ["openid email profile"],
        "state": [start.state],
        "nonce": [start.nonce],
        "code_challenge": [code_challenge(start.verifier)],
        "code_challenge_method": ["S256"],
        "ui_locales": ["en"],
    }


async def test_the_code_is_exchanged_with_the_verifier(provider, realm):
    await provider.exchange("the-code", "the-verifier")
    assert realm.token_forms == [
        {
            "grant_type": ["authorization_code"],
            "code": ["the-code"],
            "redirect_uri": ["http://portal.test/auth/callback"],
            "code_verifier": ["the-verifier"],
        }
    ]


async def test_a_valid_id_token_is_accepted(provider, realm):
    claims = await provider.verify_id_token(realm.id_token(), "n1")
    assert claims["sub"] == "s1"


@pytest.mark.parametrize(
    ("claims", "nonce", "code"),
    [
        ({}, "another", "oidc-nonce-mismatch"),
        ({"nonce": None}, "n1", "oidc-nonce-mismatch"),
        ({"aud": "portal"}, "n1", "invalid-id-token"),
        ({"iss": "http://evil.test/realms/dinamis"}, "n1", "invalid-id-token"),
        ({"exp": int(time.time()) - 120}, "n1", "invalid-id-token"),
    ],
)
async def test_bad_id_tokens_are_refused(provider, realm, claims, nonce, code):
    token = realm.id_token(**{k: v for k, v in claims.items() if v is not None})
    if claims.get("nonce", "x") is None:
        token = jwt.encode(
            {k: v for k, v in jwt.decode(token, options={"verify_signature": False}).items() if k != "nonce"},
            realm.key,
            algorithm="RS256",
            headers={"kid": "k1"},
        )
    with pytest.raises(PortalError) as refused:
        await provider.verify_id_token(token, nonce)
    assert refused.value.code == code


async def test_a_token_signed_by_another_key_is_refused(provider, realm):
    other = Realm()
    with pytest.raises(PortalError) as refused:
        await provider.verify_id_token(other.id_token(), "n1")
    assert refused.value.code == "invalid-id-token"


async def test_logout_url_ends_the_keycloak_session_and_comes_back(provider):
    query = parse_qs(urlsplit(await provider.end_session_url("idt")).query)
    assert query == {
        "client_id": ["dinamis-portal"],
        "post_logout_redirect_uri": ["http://portal.test/"],
        "id_token_hint": ["idt"],
    }


async def test_discovery_is_read_at_the_internal_address_and_must_name_the_public_issuer(realm):
    """Containers: the portal reaches Keycloak as keycloak:8080; the metadata it reads there
    names the public issuer (Keycloak's hostname), which is what tokens carry."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return realm.handler(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        internal = KeycloakProvider(
            settings(oidc_issuer=ISSUER, oidc_internal_issuer="http://keycloak:8080/realms/dinamis/"), http
        )
        meta = await internal.metadata()
        assert seen == ["http://keycloak:8080/realms/dinamis/.well-known/openid-configuration"]
        assert meta["issuer"] == ISSUER
        # metadata naming another issuer (a mix-up, or the wrong realm) is refused
        other = KeycloakProvider(settings(oidc_issuer="http://idp.test/realms/other"), http)
        with pytest.raises(PortalError) as refused:
            await other.metadata()
        assert refused.value.http_status == 503


@pytest.mark.parametrize(
    "endpoint, where",
    [
        ("token_endpoint", "https://elsewhere.example/token"),  # the client secret would go there
        ("jwks_uri", "http://idp.test:8443/certs"),  # another origin (port) than the issuer's
        ("authorization_endpoint", "http://keycloak:8080/realms/dinamis/auth"),  # browsers: public only
        ("end_session_endpoint", None),
    ],
)
async def test_metadata_whose_endpoints_leave_the_issuers_origins_is_refused(realm, endpoint, where):
    def handler(request: httpx.Request) -> httpx.Response:
        response = realm.handler(request)
        if request.url.path.endswith("/.well-known/openid-configuration"):
            meta = response.json()
            meta[endpoint] = where
            return httpx.Response(200, json=meta)
        return response

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        provider = KeycloakProvider(
            settings(oidc_issuer=ISSUER, oidc_internal_issuer="http://keycloak:8080/realms/dinamis"), http
        )
        with pytest.raises(PortalError) as refused:
            await provider.metadata()
        assert refused.value.http_status == 503


def test_back_channel_endpoints_may_be_at_the_internal_address_only_those():
    from dinamis_portal.oidc import misplaced_endpoints

    internal = "http://keycloak:8080/realms/dinamis"
    meta = {
        "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
        "end_session_endpoint": f"{ISSUER}/protocol/openid-connect/logout",
        "token_endpoint": f"{internal}/protocol/openid-connect/token",
        "jwks_uri": f"{internal}/protocol/openid-connect/certs",
    }
    assert misplaced_endpoints(meta, ISSUER, internal) == []
    assert misplaced_endpoints(meta, ISSUER, None) == [
        f"token_endpoint={meta['token_endpoint']!r}",
        f"jwks_uri={meta['jwks_uri']!r}",
    ]
