"""The identity provider of the local stack: Keycloak's `dinamis` realm as the repo
declares it, RS256 tokens that carry who the caller is (and nothing the platform must
decide), and the device authorization grant the DINAMIS SDK logs in with."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from tests.integration.identity import approve_device, keycloak_url, new_user, oidc, password_token


@pytest.fixture(scope="module")
def discovery() -> dict:
    found = httpx.get(f"{keycloak_url()}/realms/dinamis/.well-known/openid-configuration", timeout=10)
    assert found.status_code == 200
    return found.json()


def verify(token: str, discovery: dict) -> dict:
    key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience="dinamis", issuer=discovery["issuer"])


def test_realm_advertises_what_the_clients_need(discovery):
    assert discovery["issuer"] == f"{keycloak_url()}/realms/dinamis"
    assert "S256" in discovery["code_challenge_methods_supported"]
    assert "urn:ietf:params:oauth:grant-type:device_code" in discovery["grant_types_supported"]
    assert discovery["device_authorization_endpoint"] == oidc("/auth/device")
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]


def test_token_says_who_and_is_for_dinamis(discovery):
    sub, email = new_user("who")
    claims = verify(password_token(email), discovery)
    assert claims["sub"] == sub
    assert "dinamis" in claims["aud"]
    assert claims["email"] == email
    # Nothing the platform decides travels in the token: organisation and roles come
    # from the orders service's records.
    assert "organisation_id" not in claims and "roles" not in claims


def test_wrong_password_and_unknown_client_are_refused():
    _, email = new_user("wrong")
    refused = httpx.post(
        oidc("/token"),
        data={"grant_type": "password", "client_id": "dinamis-dev", "username": email, "password": "nope"},
        timeout=10,
    )
    assert refused.status_code == 401
    unknown = httpx.post(oidc("/auth/device"), data={"client_id": "not-a-client"}, timeout=10)
    assert unknown.status_code in (400, 401)


def test_portal_client_is_public_with_pkce_and_no_password_grant():
    refused = httpx.post(
        oidc("/token"),
        data={"grant_type": "password", "client_id": "portal", "username": "x", "password": "y"},
        timeout=10,
    )
    assert refused.status_code in (400, 401)
    # An authorization request without a PKCE challenge is refused (S256 required).
    page = httpx.get(
        oidc("/auth"),
        params={
            "client_id": "portal",
            "response_type": "code",
            "redirect_uri": "http://127.0.0.1:8107/callback",
            "scope": "openid",
        },
        timeout=10,
    )
    assert page.status_code in (302, 303, 400)
    if page.status_code in (302, 303):
        assert "error=invalid_request" in page.headers["location"]
        assert "code_challenge" in page.headers["location"]


def test_device_grant_approved_by_the_user_gives_their_token(discovery):
    sub, email = new_user("device")
    started = httpx.post(oidc("/auth/device"), data={"client_id": "gdal"}, timeout=10).json()
    pending = httpx.post(
        oidc("/token"),
        data={
            "client_id": "gdal",
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": started["device_code"],
        },
        timeout=10,
    )
    assert pending.json()["error"] == "authorization_pending"
    page = approve_device(started["verification_uri_complete"], email)
    assert "réussi" in page or "success" in page.lower(), page[:300]
    time.sleep(started["interval"])  # a client polls no faster than told (else: slow_down)
    granted = httpx.post(
        oidc("/token"),
        data={
            "client_id": "gdal",
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": started["device_code"],
        },
        timeout=10,
    )
    assert granted.status_code == 200, granted.text
    claims = verify(granted.json()["access_token"], discovery)
    assert claims["sub"] == sub and claims["azp"] == "gdal"
    # A device code is used once.
    again = httpx.post(
        oidc("/token"),
        data={
            "client_id": "gdal",
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": started["device_code"],
        },
        timeout=10,
    )
    assert again.status_code == 400
