"""Secure by default (issue 12, item 5): production unless said otherwise and its start
refusals; request body limits and authentication before the body (guard.py); error
bodies without exception text; /readyz details for the operations network only."""

from __future__ import annotations

import asyncio
from typing import Annotated, ClassVar

import httpx
import pytest
from fastapi import APIRouter, Body, FastAPI
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from dinamis_shared.auth import (
    AuthenticatedPrincipal,
    Authenticator,
    CurrentPrincipal,
    Identity,
    Principal,
    Unauthenticated,
    install_authenticator,
)
from dinamis_shared.health import health_router, install_problem_handlers, parse_networks
from dinamis_shared.service import ServiceDefinition, create_service_app
from dinamis_shared.settings import ServiceSettings

MiB = 1024 * 1024
PRODUCTION_SECRETS = {
    "DINAMIS_DEMO_S3_SECRET_KEY": "a-real-secret",
    "DINAMIS_DEMO_KAFKA_SASL_PASSWORD": "another-real-secret",
    "DINAMIS_DEMO_SERVICE_CLIENT_SECRET": "a-third-real-secret",
    "DINAMIS_POSTGRES_DSN": "postgresql://u:real@db/dinamis",
    "DINAMIS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "DINAMIS_AUTH_JWKS_URL": "https://idp.example.fr/jwks.json",
}


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DINAMIS_DEMO_", extra="ignore")
    SERVICE: ClassVar[str] = "demo"


# --- production unless said otherwise ----------------------------------------------


def test_environment_defaults_to_production(monkeypatch):
    """A deployment that forgets DINAMIS_ENVIRONMENT is production: it refuses the local
    stack's secrets and the local signing key instead of accepting local-key tokens."""
    monkeypatch.delenv("DINAMIS_ENVIRONMENT", raising=False)
    monkeypatch.delenv("DINAMIS_AUTH_JWKS_URL", raising=False)
    with pytest.raises(ValidationError, match="unsafe settings in production"):
        DemoSettings()
    for name, value in PRODUCTION_SECRETS.items():
        monkeypatch.setenv(name, value)
    assert DemoSettings().environment == "production"
    monkeypatch.setenv("DINAMIS_ENVIRONMENT", "development")
    assert DemoSettings().environment == "development"


@pytest.mark.parametrize(
    ("variable", "value", "refusal"),
    [
        ("DINAMIS_DEMO_S3_SECRET_KEY", "dinamis-dev-s3-demo", "s3_secret_key is unset or a local-stack"),
        ("DINAMIS_DEMO_KAFKA_SASL_PASSWORD", "", "kafka_sasl_password is unset or a local-stack"),
        ("DINAMIS_DEMO_SERVICE_CLIENT_SECRET", "", "service_client_secret is unset or a local-stack"),
        ("DINAMIS_VERIFY_EVENT_ISSUER", "false", "verify_event_issuer must stay on"),
        ("DINAMIS_POSTGRES_DSN", "postgresql://dinamis:dinamis-dev@db/x", "development password"),
        ("DINAMIS_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT", "must be SASL_SSL"),
        # No identity provider: the local signing key (auth_local_key_file) would be used.
        ("DINAMIS_AUTH_JWKS_URL", "", "auth_jwks_url is unset (auth_local_key_file"),
    ],
)
def test_production_refuses_each_development_setting(monkeypatch, variable, value, refusal):
    monkeypatch.setenv("DINAMIS_ENVIRONMENT", "production")
    for name, good in PRODUCTION_SECRETS.items():
        monkeypatch.setenv(name, good)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=refusal.replace("(", r"\(")):
        DemoSettings()


def test_readyz_details_networks_are_checked(monkeypatch):
    monkeypatch.setenv("DINAMIS_READYZ_DETAILS_NETWORKS", "10.0.0.0/8, fd00::/8")
    assert [str(n) for n in parse_networks(DemoSettings().readyz_details_networks)] == [
        "10.0.0.0/8",
        "fd00::/8",
    ]
    monkeypatch.setenv("DINAMIS_READYZ_DETAILS_NETWORKS", "")
    assert parse_networks(DemoSettings().readyz_details_networks) == ()
    monkeypatch.setenv("DINAMIS_READYZ_DETAILS_NETWORKS", "the-ops-lan")
    with pytest.raises(ValidationError):
        DemoSettings()


# --- the request guard --------------------------------------------------------------


class CountingVerifier:
    """Accepts "Bearer good-<sub>"; counts verifications."""

    def __init__(self) -> None:
        self.calls = 0

    async def verify(self, token: str) -> Identity:
        self.calls += 1
        if not token.startswith("good-"):
            raise Unauthenticated("invalid token", code="invalid-token")
        return Identity(sub=token.removeprefix("good-"))


async def member_entitlements(identity: Identity, credentials: dict[str, str]) -> Principal:
    return Principal(user_id=identity.sub, organisation_id="o1", standing="member")


class Reads:
    """What the routes saw."""

    bodies: ClassVar[list[int]] = []


router = APIRouter()


@router.post("/v1/things")
async def protected(principal: CurrentPrincipal, body: Annotated[dict, Body()]) -> dict:
    Reads.bodies.append(len(body.get("blob", "")))
    return {"user": principal.user_id}


@router.put("/v1/me/things")
async def anyone_authenticated(principal: AuthenticatedPrincipal, body: Annotated[dict, Body()]) -> dict:
    return {"user": principal.user_id}


@router.post("/v1/public")
async def public(body: Annotated[dict, Body()]) -> dict:
    Reads.bodies.append(len(body.get("blob", "")))
    return {"ok": True}


@router.post("/v1/big/upload")
async def big(body: Annotated[dict, Body()]) -> dict:
    return {"size": len(body.get("blob", ""))}


@router.get("/v1/boom")
async def boom() -> dict:
    raise RuntimeError("SELECT secret FROM users -- postgresql://dinamis@db.internal:5432")


@pytest.fixture
def guarded() -> tuple[FastAPI, CountingVerifier]:
    settings = ServiceSettings(environment="development")
    app = create_service_app(
        ServiceDefinition(
            settings=settings,
            dependencies=(),
            routers=[router],
            body_limits={"/v1/big": 4 * MiB},
        )
    )
    verifier = CountingVerifier()
    install_authenticator(app, Authenticator(verifier, entitlements=member_entitlements))
    Reads.bodies.clear()
    return app, verifier


async def call(
    app: FastAPI, method: str, path: str, headers: dict, chunks: list[bytes]
) -> tuple[int, dict, int]:
    """Drive the ASGI app directly: (status, JSON body, body chunks the app pulled)."""
    pulled = 0
    pending = list(chunks)

    async def receive() -> dict:
        nonlocal pulled
        if not pending:
            await asyncio.sleep(3600)  # the client would wait: the app must not
        pulled += 1
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    await asyncio.wait_for(app(scope, receive, send), 10)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    import json

    return start["status"], json.loads(body or b"{}"), pulled


def blob(n: int) -> bytes:
    return b'{"blob": "' + b"x" * n + b'"}'


async def test_anonymous_body_to_a_protected_route_is_refused_before_it_is_read(guarded):
    app, _ = guarded
    body = blob(900_000)
    status, problem, pulled = await call(
        app,
        "POST",
        "/v1/things",
        {"content-type": "application/json", "content-length": str(len(body))},
        [body],
    )
    assert (status, problem["code"], pulled) == (401, "unauthenticated", 0)
    assert problem["type"] == "urn:dinamis:problem:unauthenticated"
    # Chunked, no Content-Length; and a bad token: the same, nothing read.
    status, problem, pulled = await call(
        app, "PUT", "/v1/me/things", {"authorization": "Bearer forged"}, [body[:1000], body[1000:]]
    )
    assert (status, problem["code"], pulled) == (401, "invalid-token", 0)
    assert Reads.bodies == []


async def test_credentials_are_verified_once(guarded):
    app, verifier = guarded
    body = blob(10)
    status, answer, _ = await call(
        app,
        "POST",
        "/v1/things",
        {"authorization": "Bearer good-marie", "content-type": "application/json"},
        [body],
    )
    assert (status, answer) == (200, {"user": "marie"})
    assert verifier.calls == 1, "the route's dependency reuses the guard's principal"


async def test_bodies_over_the_limit_are_refused(guarded):
    app, _ = guarded
    big = blob(MiB + 10)
    # Declared: refused before a byte is read, French first.
    status, problem, pulled = await call(
        app,
        "POST",
        "/v1/public",
        {"content-length": str(len(big)), "content-type": "application/json"},
        [big],
    )
    assert (status, problem["code"], problem["max_bytes"], pulled) == (413, "body-too-large", MiB, 0)
    assert problem["detail"].startswith("Corps de requête trop volumineux")
    # Streamed without Content-Length (authenticated): refused once past the limit.
    huge = blob(3 * MiB)
    chunks = [huge[i : i + 65536] for i in range(0, len(huge), 65536)]
    status, problem, pulled = await call(
        app, "POST", "/v1/things", {"authorization": "Bearer good-marie"}, chunks
    )
    assert (status, problem["code"]) == (413, "body-too-large")
    assert pulled == 17 < len(chunks), "reading stops at the limit"
    assert Reads.bodies == []
    # A lying Content-Length does not help either.
    status, problem, _ = await call(app, "POST", "/v1/public", {"content-length": "100"}, chunks)
    assert status == 413
    # Within the limit: read as usual.
    small = blob(1000)
    assert (await call(app, "POST", "/v1/public", {"content-type": "application/json"}, [small]))[0] == 200
    assert Reads.bodies == [1000]


async def test_a_route_prefix_may_have_a_larger_limit(guarded):
    app, _ = guarded
    body = blob(3 * MiB)
    status, answer, _ = await call(
        app,
        "POST",
        "/v1/big/upload",
        {"content-length": str(len(body)), "content-type": "application/json"},
        [body],
    )
    assert (status, answer) == (200, {"size": 3 * MiB})
    body = blob(4 * MiB)
    assert (await call(app, "POST", "/v1/big/upload", {"content-length": str(len(body))}, [body]))[0] == 413


# --- error bodies -------------------------------------------------------------------


async def test_an_unexpected_error_is_a_500_problem_without_its_text(guarded):
    app, _ = guarded
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        answer = await http.get("/v1/boom")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "internal-error"
    assert "SELECT" not in answer.text and "db.internal" not in answer.text


async def test_readyz_details_only_for_the_operations_network():
    async def postgres() -> None:
        raise ConnectionError("connection to db.internal (10.2.3.4) as user dinamis_catalog refused")

    async def kafka() -> None:
        return None

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(
        health_router({"postgres": postgres, "kafka": kafka}, 1.0, parse_networks("10.9.0.0/16"))
    )

    async def readyz(client: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
            return await http.get("/readyz")

    public = await readyz("192.0.2.10")
    assert public.status_code == 503
    assert public.json() == {"status": "not-ready", "checks": {"postgres": "failed", "kafka": "ok"}}
    assert "db.internal" not in public.text and "dinamis_catalog" not in public.text
    operations = await readyz("10.9.1.2")
    assert operations.status_code == 503 and operations.json()["checks"]["postgres"] == "failed"
    assert "db.internal" in operations.json()["details"]["postgres"]["error"]
