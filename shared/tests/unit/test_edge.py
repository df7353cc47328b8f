"""The edge validator (`dinamis_shared.edge`) as every service gets it from the
scaffold: NUL bytes, non-finite numbers and invalid JSON are 400 problems, before a
route sees them; authentication still comes before the body, uploads and streams pass
untouched; and the OpenAPI documents the problem responses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, ClassVar

import httpx
import pytest
from fastapi import APIRouter, Body, FastAPI, Request
from fastapi.responses import StreamingResponse

from dinamis_shared.auth import (
    Authenticator,
    CurrentPrincipal,
    Identity,
    Principal,
    Unauthenticated,
    install_authenticator,
)
from dinamis_shared.edge import check_json, check_target
from dinamis_shared.service import ServiceDefinition, create_service_app
from dinamis_shared.settings import ServiceSettings


class Seen:
    bodies: ClassVar[list[Any]] = []


router = APIRouter()


@router.post("/v1/things/{thing_id}")
async def save_thing(thing_id: str, principal: CurrentPrincipal, body: Annotated[dict, Body()]) -> dict:
    Seen.bodies.append(body)
    return {"thing_id": thing_id, "user": principal.user_id}


@router.post("/v1/public")
async def public(body: Annotated[dict, Body()]) -> dict:
    Seen.bodies.append(body)
    return {"ok": True}


@router.get("/v1/search")
async def search(q: str = "") -> dict:
    return {"q": q}


@router.put("/v1/upload")
async def upload(request: Request) -> dict:
    data = b"".join([chunk async for chunk in request.stream()])
    return {"size": len(data), "nul": data.count(b"\x00")}


@router.post("/v1/signed")
async def signed(request: Request) -> dict:
    """Like ingest's signed push: the route reads the raw bytes itself."""
    return {"raw": (await request.body()).decode()}


@router.get("/v1/stream")
async def stream() -> StreamingResponse:
    async def events() -> AsyncIterator[bytes]:
        for n in range(3):
            yield f"id: {n}\ndata: {n}\n\n".encode()

    return StreamingResponse(events(), media_type="text/event-stream")


class Verifier:
    async def verify(self, token: str) -> Identity:
        if token != "good":
            raise Unauthenticated("invalid token", code="invalid-token")
        return Identity(sub="marie")


async def member(identity: Identity, credentials: dict[str, str]) -> Principal:
    return Principal(user_id=identity.sub, organisation_id="o1", standing="member")


@pytest.fixture
def app() -> FastAPI:
    service = create_service_app(
        ServiceDefinition(
            settings=ServiceSettings(environment="development"), dependencies=(), routers=[router]
        )
    )
    install_authenticator(service, Authenticator(Verifier(), entitlements=member))
    Seen.bodies.clear()
    return service


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        yield client


AUTH = {"Authorization": "Bearer good", "Content-Type": "application/json"}


def assert_problem(answer: httpx.Response, code: str, where: str | None = None) -> dict:
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["code"] == code and problem["type"] == f"urn:dinamis:problem:{code}"
    if where:
        assert problem["location"] == where
    return problem


@pytest.mark.parametrize(
    "body",
    [
        b'{"title": "a\\u0000b"}',
        b'{"nested": [{"deep": ["ok", "x\\u0000"]}]}',
        b'{"a\\u0000": 1}',
        b'{"title": "a\x00b"}',
        b'{"title": "\\ud800"}',
        b'{"title": "\xff\xfe"}',
    ],
)
async def test_nul_and_unencodable_text_in_a_json_body(http, body):
    answer = await http.post("/v1/things/t1", content=body, headers=AUTH)
    problem = assert_problem(answer, "invalid-character", "body")
    assert Seen.bodies == []
    assert problem["detail"].startswith(("caractère nul", "texte qui n'est pas"))  # French first


@pytest.mark.parametrize(
    "body",
    [
        b'{"x": NaN}',
        b'{"x": [1, Infinity]}',
        b'{"x": -Infinity}',
        b'{"x": 1e400}',
        b"NaN",
        # beyond 64 bits (the fuzzer's catalog search: orjson could not echo it back)
        b'{"a": {"b": 53503059371413750153216}}',
        b'{"x": -9223372036854775809}',
    ],
)
async def test_non_finite_numbers(http, body):
    answer = await http.post("/v1/public", content=body, headers={"Content-Type": "application/json"})
    assert_problem(answer, "non-finite-number", "body")
    # No media type: FastAPI would read it as JSON, so it is checked as JSON.
    assert_problem(await http.post("/v1/public", content=body), "non-finite-number")
    assert Seen.bodies == []


@pytest.mark.parametrize("body", [b'{"x": ', b"{'x': 1}", b"[" * 100_000, b'{"x": 1} trailing'])
async def test_invalid_json(http, body):
    answer = await http.post("/v1/public", content=body, headers={"Content-Type": "application/geo+json"})
    assert_problem(answer, "invalid-json", "body")


async def test_nul_in_path_query_and_headers(http):
    assert_problem(await http.post("/v1/things/a%00b", json={}, headers=AUTH), "invalid-character", "path")
    assert_problem(await http.get("/v1/search?q=a%00"), "invalid-character", "query")
    assert_problem(await http.get("/v1/search?a%00=1"), "invalid-character", "query")
    # "%2500" is the text "%00", not a NUL: allowed.
    assert (await http.get("/v1/search?q=%2500")).json() == {"q": "%00"}
    english = await http.get("/v1/search", params={"q": "x\x00"}, headers={"Accept-Language": "en"})
    assert assert_problem(english, "invalid-character")["detail"].startswith("NUL character")


def test_nul_in_a_header_value_and_raw_in_the_path():
    """Servers usually refuse these themselves; the check holds when they do not."""
    scope = {"path": "/v1/x", "raw_path": b"/v1/x", "query_string": b"", "headers": [(b"x-a", b"a\x00")]}
    problem = check_target(scope)
    assert problem is not None and (problem.code, problem.where) == ("invalid-character", "header")
    scope = {"path": "/v1/\x00", "raw_path": b"/v1/\x00", "query_string": b"", "headers": []}
    problem = check_target(scope)
    assert problem is not None and problem.where == "path"
    assert (
        check_target({"path": "/v1/x", "raw_path": b"/v1/x", "query_string": b"a=1", "headers": []}) is None
    )


@pytest.mark.parametrize(
    "headers",
    [
        [("Authorization", "Bearer good"), ("Authorization", "Bearer other")],
        [("authorization", "Bearer good"), ("Authorization", "Bearer good")],
        [("access-key", "a"), ("secret-key", "s"), ("Access-Key", "b")],
        [("access-key", "a"), ("secret-key", "s"), ("secret-key", "t")],
    ],
)
async def test_credentials_given_twice_are_refused(http, headers):
    """Which of two credentials counts would depend on who reads them: neither does."""
    answer = await http.post(
        "/v1/things/t1", json={"x": 1}, headers=[*headers, ("Content-Type", "application/json")]
    )
    assert_problem(answer, "duplicate-header", "header")
    assert Seen.bodies == []
    # Other headers may repeat (Accept, cookies...).
    answer = await http.get("/v1/search", headers=[("Accept", "application/json"), ("Accept", "*/*")])
    assert answer.status_code == 200


async def test_unknown_routes_and_methods_are_problems(http):
    answer = await http.get("/v1/nope")
    assert (answer.status_code, answer.headers["content-type"]) == (404, "application/problem+json")
    assert answer.json()["code"] == "not-found" and answer.json()["detail"].startswith(
        "Ressource introuvable"
    )
    answer = await http.delete("/v1/search", headers={"Accept-Language": "en"})
    assert (answer.status_code, answer.json()["code"]) == (405, "method-not-allowed")
    assert answer.json()["detail"] == "method not allowed here" and answer.headers["allow"] == "GET"


def test_valid_json_passes_even_with_escapes():
    assert check_json(b'{"t": "\\u00e9t\\u00e9 \\ud83d\\ude00", "n": [1.5, -2, 1e300]}') is None
    assert check_json(json.dumps({"t": "é\\u0000 literal backslash"}).encode()) is None


async def test_authentication_still_comes_before_the_body(http):
    # A NUL body without credentials: 401 (the body is never read), not 400.
    answer = await http.post(
        "/v1/things/t1", content=b'{"x": NaN}', headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"


async def test_valid_requests_still_work_after_refusals(http):
    assert (await http.post("/v1/things/t1", content=b'{"x": NaN}', headers=AUTH)).status_code == 400
    answer = await http.post("/v1/things/t1", json={"title": "été", "n": 1.5}, headers=AUTH)
    assert answer.status_code == 200 and answer.json() == {"thing_id": "t1", "user": "marie"}
    assert Seen.bodies == [{"title": "été", "n": 1.5}]


async def test_uploads_raw_bodies_and_streams_pass_untouched(http):
    payload = b"\x00\x01 binary NaN \x00" * 1000
    answer = await http.put(
        "/v1/upload", content=payload, headers={"Content-Type": "application/octet-stream"}
    )
    assert answer.json() == {"size": len(payload), "nul": 2000}
    raw = '{"z": 1,   "a": "é"}'
    answer = await http.post("/v1/signed", content=raw.encode(), headers={"Content-Type": "application/json"})
    assert answer.json() == {"raw": raw}, "the route gets the very bytes sent"
    answer = await http.get("/v1/stream")
    assert answer.status_code == 200 and answer.text.count("data:") == 3


async def test_a_body_over_the_limit_is_still_a_413(http):
    big = b'{"blob": "' + b"x" * (1024 * 1024 + 10) + b'\\u0000"}'
    answer = await http.post("/v1/public", content=big, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["code"] == "body-too-large"


async def test_form_bodies_are_checked_for_nul(http):
    answer = await http.post(
        "/v1/public", content=b"a=1&b=x%00", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_problem(answer, "invalid-character", "body")


async def test_openapi_documents_problem_responses(app):
    schema = app.openapi()
    problem = schema["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= {"type", "status", "code"}
    media = "application/problem+json"
    ref = {"$ref": "#/components/schemas/Problem"}
    save = schema["paths"]["/v1/things/{thing_id}"]["post"]["responses"]
    for code in ("400", "401", "403", "404", "413", "422", "4XX", "5XX"):
        assert save[code]["content"][media]["schema"] == ref, code
    assert "application/json" not in save["422"]["content"], "our 422 is a problem, not HTTPValidationError"
    public = schema["paths"]["/v1/public"]["post"]["responses"]
    assert "401" not in public and "404" not in public and "413" in public
    search = schema["paths"]["/v1/search"]["get"]["responses"]
    assert "413" not in search and search["400"]["content"][media]["schema"] == ref


async def test_the_checks_do_not_slow_a_large_body_much():
    body = json.dumps({"items": [{"id": f"i{n}", "t": "é\\u00e9"} for n in range(20_000)]}).encode()
    started = asyncio.get_running_loop().time()
    assert check_json(body) is None
    assert asyncio.get_running_loop().time() - started < 1.0
