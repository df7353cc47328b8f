"""The edge validator in every service, against the real stack (FerretDB, PostgreSQL,
Kafka, S3): NUL bytes (in the path, the query, a JSON body) and non-finite numbers are
400 problems before any store sees them — they used to be 500s from FerretDB and
PostgreSQL — and the next valid request is served as usual. Each service's OpenAPI
documents the problem responses."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dinamis_shared.auth import ensure_local_signing_key, mint_token
from dinamis_shared.signing import signature
from dinamis_testkit.testing import start_service, stop_service
from tests.integration.orders_api import FIELD, seed_member, tasking
from tests.ports import free_ports

ORDERS, NOTIFY, DELIVERY, INGEST, CATALOG, TILES = free_ports(6)
SECRET = "edge-supplier-secret"
JSON = {"Content-Type": "application/json"}


def url(port: int, path: str) -> str:
    return f"http://127.0.0.1:{port}{path}"


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile: Path) -> Iterator[dict[str, subprocess.Popen]]:
    logs = tmp_path_factory.mktemp("edge")
    common = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": url(ORDERS, ""),
        "DINAMIS_ORDERS_CATALOG_URL": url(CATALOG, ""),
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_CATALOG_PUBLIC_URL": url(CATALOG, ""),
        "DINAMIS_CATALOG_TILES_HTTP_PORT": str(TILES),
        "DINAMIS_NOTIFY_MONGO_DATABASE": f"notify_edge_{uuid.uuid4().hex[:8]}",
        "DINAMIS_INGEST_SUPPLIER_SECRETS": json.dumps({"airbus": SECRET}),
        "DINAMIS_DELIVERY_REPLICA_ID": "edge",
        "DINAMIS_DELIVERY_WORK_DIR": str(logs / "work"),
    }
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, port in (
            ("orders", ORDERS),
            ("catalog", CATALOG),
            ("catalog-tiles", TILES),
            ("notify", NOTIFY),
            ("delivery", DELIVERY),
            ("ingest", INGEST),
        ):
            procs[name] = start_service(name, port, logs, env=common)
        yield procs
    finally:
        for proc in procs.values():
            stop_service(proc)


@pytest.fixture(scope="module")
def member(services, keyfile: Path) -> dict[str, str]:
    org, user = f"org-edge-{uuid.uuid4().hex[:6]}", f"usr-edge-{uuid.uuid4().hex[:6]}"
    seed_member(org, user)
    token = mint_token(ensure_local_signing_key(keyfile), user_id=user, organisation_id=org, roles=["member"])
    return {"Authorization": f"Bearer {token}"}


def assert_problem(answer: httpx.Response, code: str) -> None:
    assert answer.status_code == 400, (answer.request.url, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    assert answer.json()["code"] == code, answer.text
    assert answer.json()["detail"], answer.text


def test_orders(member):
    def call(method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(method, url(ORDERS, path), headers={**member, **JSON}, timeout=30, **kwargs)

    # A NUL in a stored string (a request title, an API key name, a display name) used to
    # be a FerretDB 500.
    assert_problem(
        call("POST", "/v1/requests", content=_with(tasking(), title="Haies\\u0000")), "invalid-character"
    )
    assert_problem(call("POST", "/v1/api-keys", content=b'{"name": "cl\\u00e9\\u0000"}'), "invalid-character")
    assert_problem(
        call("PUT", "/v1/organisations/x/users/y", content=b'{"display_name": "A\\u0000"}'),
        "invalid-character",
    )
    assert_problem(call("GET", "/v1/requests/req-%00"), "invalid-character")
    assert_problem(call("GET", "/v1/requests", params={"status": "submitted\x00"}), "invalid-character")
    assert_problem(
        call("POST", "/v1/requests/quote", content=_with(tasking(), max_cloud_cover="NaN")),
        "non-finite-number",
    )
    assert_problem(call("POST", "/v1/requests/quote", content=b'{"aoi": [Infinity]}'), "non-finite-number")
    assert_problem(call("POST", "/v1/requests/quote", content=b'{"kind": '), "invalid-json")
    # The next valid requests are served.
    key = call("POST", "/v1/api-keys", json={"name": "clé édge"})
    assert key.status_code == 201, key.text
    created = call("POST", "/v1/requests", json=tasking(aoi=FIELD))
    assert created.status_code == 201, created.text
    assert call("GET", f"/v1/requests/{created.json()['request_id']}").status_code == 200


def test_notify(member):
    def call(method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(method, url(NOTIFY, path), headers={**member, **JSON}, timeout=30, **kwargs)

    hook = {"url": "http://127.0.0.1:9/hook", "event_types": [], "description": "relais"}
    assert_problem(
        call("POST", "/v1/webhooks", content=_with(hook, description="x\\u0000")), "invalid-character"
    )
    assert_problem(call("GET", "/v1/webhooks/wh%00"), "invalid-character")
    assert_problem(call("GET", "/v1/notifications", params={"limit": "5\x00"}), "invalid-character")
    assert_problem(call("PUT", "/v1/preferences", content=b'{"digest": NaN}'), "non-finite-number")
    # The next valid requests are served (webhooks need a user the directory knows of, from
    # orders' events: preferences and listings do not).
    assert call("PUT", "/v1/preferences", json={"digest": True, "language": "fr"}).status_code == 200
    assert call("GET", "/v1/preferences").json()["digest"] is True
    assert call("GET", "/v1/webhooks").status_code == 200


def test_delivery(member):
    def get(path: str, **kwargs) -> httpx.Response:
        return httpx.get(url(DELIVERY, path), headers=member, timeout=30, **kwargs)

    assert_problem(get("/orders/ord-%00/products"), "invalid-character")
    assert_problem(get("/downloads/p-1%00"), "invalid-character")
    assert_problem(get("/orders/ord-1/products", params={"x": "\x00"}), "invalid-character")
    # Valid: an order nobody placed is a 404 problem, as before.
    answer = get("/orders/ord-edge-none/products")
    assert answer.status_code == 404 and answer.json()["code"] == "order-not-found", answer.text


def test_ingest():
    target = url(INGEST, "/v1/suppliers/airbus/deliveries")

    def push(body: bytes) -> httpx.Response:
        ts = str(int(time.time()))
        headers = {"X-Dinamis-Timestamp": ts, "X-Dinamis-Signature": signature(SECRET, ts, body), **JSON}
        return httpx.post(target, content=body, headers=headers, timeout=30)

    assert_problem(push(b'{"scene_id": "S\\u0000", "supplier": "airbus"}'), "invalid-character")
    assert_problem(push(b'{"scene_id": "S", "cloud_cover": NaN}'), "non-finite-number")
    assert_problem(
        httpx.post(url(INGEST, "/v1/suppliers/air%00bus/deliveries"), content=b"{}"), "invalid-character"
    )
    # Valid JSON reaches the route byte for byte: the signature verifies, the event is
    # then judged (422: not a scene-acquired event).
    answer = push(b'{"scene_id": "x"}')
    assert answer.status_code == 422 and answer.json()["code"] == "invalid-event", answer.text


def test_catalog_stac_api(services):
    api = url(CATALOG, "")
    assert_problem(httpx.get(f"{api}/collections/spot%00/items", timeout=30), "invalid-character")
    assert_problem(
        httpx.get(f"{api}/search", params={"collections": "spot\x00"}, timeout=30), "invalid-character"
    )
    search = f"{api}/search"
    assert_problem(
        httpx.post(search, content=b'{"collections": ["a\\u0000"]}', headers=JSON, timeout=30),
        "invalid-character",
    )
    assert_problem(
        httpx.post(search, content=b'{"bbox": [0, 0, NaN, 1]}', headers=JSON, timeout=30), "non-finite-number"
    )
    answer = httpx.post(search, json={"limit": 1, "bbox": [0, 0, 1, 1]}, timeout=30)
    assert answer.status_code == 200 and answer.json()["type"] == "FeatureCollection", answer.text
    assert httpx.get(f"{api}/collections", timeout=30).status_code == 200


def test_catalog_tiles(services):
    register = url(TILES, "/searches/register")
    assert_problem(
        httpx.post(register, content=b'{"collections": ["x\\u0000"]}', headers=JSON, timeout=30),
        "invalid-character",
    )
    assert_problem(
        httpx.post(register, content=b'{"bbox": [0, 0, Infinity, 1]}', headers=JSON, timeout=30),
        "non-finite-number",
    )
    assert_problem(httpx.get(url(TILES, "/searches/abc%00/info"), timeout=30), "invalid-character")
    answer = httpx.post(
        register, json={"collections": ["spot-6-7-ortho"], "bbox": [2, 48, 3, 49]}, timeout=30
    )
    assert answer.status_code == 200 and answer.json()["id"], answer.text


@pytest.mark.parametrize(
    ("port", "operation"),
    [
        (ORDERS, ("/v1/requests", "post")),
        (NOTIFY, ("/v1/webhooks/{endpoint_id}", "get")),
        (DELIVERY, ("/orders/{order_id}/products", "get")),
        (INGEST, ("/v1/suppliers/{supplier}/deliveries", "post")),
        (CATALOG, ("/search", "post")),
        (TILES, ("/searches/register", "post")),
    ],
)
def test_openapi_documents_the_problems(services, port, operation):
    schema = httpx.get(url(port, "/openapi.json"), timeout=30).json()
    assert schema["components"]["schemas"]["Problem"]["properties"]["code"]["type"] == "string"
    path, method = operation
    responses = schema["paths"][path][method]["responses"]
    for code in ("400", "5XX"):
        media = responses[code]["content"]["application/problem+json"]
        assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, (path, code)
    if method == "post":
        assert "application/problem+json" in responses["413"]["content"]


def _with(body: dict, **raw: str) -> bytes:
    """`body` as JSON with some values spliced in as raw JSON text (escapes, NaN)."""
    text = json.dumps({**body, **{k: f"@@{k}@@" for k in raw}})
    for key, value in raw.items():
        spliced = value if value in ("NaN", "Infinity", "-Infinity") else f'"{value}"'
        text = text.replace(f'"@@{key}@@"', spliced)
    return text.encode()
