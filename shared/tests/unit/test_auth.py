import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dinamis_shared.auth import (
    LOCAL_ISSUER,
    Authenticator,
    Identity,
    Principal,
    TokenVerifier,
    Unauthenticated,
    ensure_local_signing_key,
    mint_token,
    verifier_from_settings,
)
from dinamis_shared.health import prefers_english


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return ensure_local_signing_key(tmp_path_factory.mktemp("auth") / "key.pem")


@pytest.fixture(scope="module")
def verifier(key):
    return TokenVerifier(public_key=key.public_key())


def test_token_says_who_and_nothing_more(key, verifier):
    """Claims such as `org` and `roles` are ignored: entitlements come from the records."""
    token = mint_token(
        key, user_id="user-marie", organisation_id="org-inrae", roles=["operator"], email="m@inrae.fr"
    )
    identity = verifier.verify_sync(token)
    assert identity == Identity(sub="user-marie", email="m@inrae.fr", issuer=verifier.issuer)
    assert not hasattr(identity, "roles") and not hasattr(identity, "organisation_id")


def test_key_file_is_private_and_reused(tmp_path):
    path = tmp_path / "k.pem"
    a = ensure_local_signing_key(path)
    b = ensure_local_signing_key(path)
    assert path.stat().st_mode & 0o077 == 0
    assert a.private_numbers() == b.private_numbers()


def test_expired_token_refused(key, verifier):
    token = mint_token(
        key,
        user_id="u1",
        organisation_id="o1",
        roles=["member"],
        now=datetime.now(UTC) - timedelta(days=1),
        ttl=timedelta(hours=1),
    )
    with pytest.raises(Unauthenticated) as err:
        verifier.verify_sync(token)
    assert err.value.code == "token-expired"


def test_token_signed_by_another_key_refused(verifier):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = mint_token(other, user_id="u1", organisation_id="o1", roles=["admin"])
    with pytest.raises(Unauthenticated, match="invalid token"):
        verifier.verify_sync(token)


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_alg_none_and_hmac_with_public_key_refused(key, verifier):
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": "u1",
        "org": "o1",
        "roles": ["admin"],
        "iss": verifier.issuer,
        "aud": "dinamis",
        "iat": now,
        "exp": now + 600,
    }
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(Unauthenticated):
        verifier.verify_sync(unsigned)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64({"alg": "HS256", "typ": "JWT"})
    body = _b64(claims)
    import hashlib
    import hmac

    sig = base64.urlsafe_b64encode(hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    forged = f"{header}.{body}.{sig.rstrip(b'=').decode()}"
    with pytest.raises(Unauthenticated):
        verifier.verify_sync(forged)


def test_wrong_audience_issuer_and_missing_claims_refused(key, verifier):
    for token in (
        mint_token(key, user_id="u1", organisation_id="o1", roles=["member"], audience="other"),
        mint_token(key, user_id="u1", organisation_id="o1", roles=["member"], issuer="https://evil/"),
        jwt.encode(
            {"iss": verifier.issuer, "aud": "dinamis", "iat": 1, "exp": 2**40}, key, algorithm="RS256"
        ),
        jwt.encode(
            {
                "sub": "bad id with spaces",
                "org": "o1",
                "roles": [],
                "iss": verifier.issuer,
                "aud": "dinamis",
                "iat": 1,
                "exp": 2**40,
            },
            key,
            algorithm="RS256",
        ),
        "not-a-jwt",
    ):
        with pytest.raises(Unauthenticated):
            verifier.verify_sync(token)


async def test_authenticator_headers(key, verifier):
    seen = []

    async def api_keys(access: str, secret: str):
        seen.append((access, secret))
        raise Unauthenticated("unknown key", code="invalid-api-key")

    async def records(identity: Identity, credentials: dict[str, str]) -> Principal:
        assert credentials["Authorization"].startswith("Bearer ")
        return Principal(user_id=identity.sub, organisation_id="org-records", standing="member")

    auth = Authenticator(verifier, api_keys, records)
    token = mint_token(key, user_id="u1", organisation_id="o1", roles=["admin"])
    p = await auth.authenticate({"authorization": f"Bearer {token}"})
    assert (p.user_id, p.organisation_id, p.roles, p.is_staff) == ("u1", "org-records", frozenset(), False)
    with pytest.raises(Unauthenticated):
        await auth.authenticate({"authorization": f"Basic {token}"})
    with pytest.raises(Unauthenticated, match="no credentials"):
        await auth.authenticate({})
    with pytest.raises(Unauthenticated, match="unknown key"):
        await auth.authenticate({"access-key": "ak", "secret-key": "sk"})
    assert seen == [("ak", "sk")]


def test_development_trusts_the_provider_and_the_local_key_production_only_the_provider(tmp_path):
    from types import SimpleNamespace

    common = {
        "auth_issuer": "http://127.0.0.1:8180/realms/dinamis",
        "auth_audience": "dinamis",
        "auth_local_key_file": str(tmp_path / "k.pem"),
    }
    dev = verifier_from_settings(
        SimpleNamespace(environment="development", auth_jwks_url="http://127.0.0.1:8180/certs", **common)
    )
    assert set(dev.by_issuer) == {common["auth_issuer"], LOCAL_ISSUER}
    prod = verifier_from_settings(
        SimpleNamespace(environment="production", auth_jwks_url="https://idp.example/certs", **common)
    )
    assert set(prod.by_issuer) == {common["auth_issuer"]}
    local = mint_token(ensure_local_signing_key(tmp_path / "k.pem"), user_id="u1")
    with pytest.raises(Unauthenticated):  # production: the local key's tokens are refused
        prod.verify_sync(local)
    stranger = mint_token(ensure_local_signing_key(tmp_path / "k.pem"), user_id="u1", issuer="https://evil/")
    with pytest.raises(Unauthenticated, match="untrusted issuer"):
        dev.verify_sync(stranger)
    assert dev.verify_sync(local).sub == "u1"
    with pytest.raises(ValueError, match="production needs auth_jwks_url"):
        verifier_from_settings(SimpleNamespace(environment="production", auth_jwks_url=None, **common))


@pytest.mark.parametrize(
    ("header", "english"),
    [
        ("", False),
        ("fr-FR,fr;q=0.9", False),
        ("en-GB,en;q=0.9,fr;q=0.5", True),
        ("fr;q=0.4, en;q=0.8", True),
        ("de, en;q=0.1", True),
        ("en;q=0.5, fr", False),
        ("en;q=bogus", False),
    ],
)
def test_language_negotiation(header, english):
    assert prefers_english(header) is english
