"""Hostile input against the running catalogue (STAC API `dinamis-catalog` and tiles
`dinamis-catalog-tiles`): every case answers its 4xx with an RFC 9457 problem and a stable
`code`, never a 5xx, within 5 s, and the same client's next valid request still succeeds
(a 500 used to reset the keep-alive connection). Client errors are logged on one line,
never as a traceback."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pystac_client import Client

from dinamis_testkit.testing import start_service, stop_service
from tests.integration.test_catalog import ingested, item, publish, region, wait_search
from tests.ports import free_ports

CATALOG, TILES = free_ports(2)
API = f"http://127.0.0.1:{CATALOG}"
TILER = f"http://127.0.0.1:{TILES}"
COLLECTION = "pleiades-neo-ortho"
PROBLEM = "application/problem+json"
SLOWEST_S = 5.0
LOGS: dict[str, Path] = {}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    status: int
    code: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON document (serialised strictly)
    raw: bytes | None = None  # or raw bytes
    content_type: str | None = "application/json"
    tiles: bool = False

    def __str__(self) -> str:
        return self.name


def q(doc: Any) -> str:
    return json.dumps(doc)


POLY_NAN = '{"type":"Polygon","coordinates":[[[0,0],[1,NaN],[1,1],[0,0]]]}'
HUGE = "1e400"  # a JSON number Python reads as infinity

STAC_GET = [
    Case("search token garbage", "GET", "/search", 400, "invalid-token", {"token": "xyz"}),
    Case("search token next unknown", "GET", "/search", 400, "invalid-token", {"token": "next:nope"}),
    Case("search token prev unknown", "GET", "/search", 400, "invalid-token", {"token": "prev:nope"}),
    Case("search query not json", "GET", "/search", 400, "invalid-json", {"query": "abc"}),
    Case("search query truncated", "GET", "/search", 400, "invalid-json", {"query": '{"a":'}),
    Case(
        "search query empty property", "GET", "/search", 400, "invalid-query", {"query": q({"": {"eq": 1}})}
    ),
    Case(
        "search query blank property", "GET", "/search", 400, "invalid-query", {"query": q({"  ": {"eq": 1}})}
    ),
    Case(
        "search query unknown operator",
        "GET",
        "/search",
        400,
        "invalid-parameter",
        {"query": q({"a": {"like": "x"}})},
    ),
    Case(
        "search query startsWith number",
        "GET",
        "/search",
        400,
        "invalid-query",
        {"query": q({"a": {"startsWith": 1}})},
    ),
    Case("search query in empty", "GET", "/search", 400, "invalid-query", {"query": q({"a": {"in": []}})}),
    Case("search query in string", "GET", "/search", 400, "invalid-query", {"query": q({"a": {"in": "x"}})}),
    Case("search query eq list", "GET", "/search", 400, "invalid-query", {"query": q({"a": {"eq": [1]}})}),
    Case("search query no operator", "GET", "/search", 400, "invalid-query", {"query": q({"a": {}})}),
    Case("search query not object", "GET", "/search", 400, "invalid-parameter", {"query": "[1]"}),
    Case(
        "search query number on text",
        "GET",
        "/search",
        400,
        "invalid-search",
        {"query": q({"eo:cloud_cover": {"eq": "abc"}})},
    ),
    Case(
        "search query like on number",
        "GET",
        "/search",
        400,
        "invalid-search",
        {"query": q({"eo:cloud_cover": {"startsWith": "1"}})},
    ),
    Case("search intersects not json", "GET", "/search", 400, "invalid-json", {"intersects": "garbage"}),
    Case("search intersects NaN", "GET", "/search", 400, "invalid-json", {"intersects": POLY_NAN}),
    Case(
        "search intersects unknown type",
        "GET",
        "/search",
        400,
        "invalid-parameter",
        {"intersects": q({"type": "Foo"})},
    ),
    Case("search bbox nan", "GET", "/search", 400, "invalid-bbox", {"bbox": "nan,1,2,3"}),
    Case("search bbox inf", "GET", "/search", 400, "invalid-parameter", {"bbox": "1,2,inf,4"}),
    Case("search bbox -infinity", "GET", "/search", 400, "invalid-parameter", {"bbox": "-infinity,1,2,3"}),
    Case("search bbox huge", "GET", "/search", 400, "invalid-parameter", {"bbox": f"1,2,{HUGE},4"}),
    Case("search bbox three values", "GET", "/search", 400, "invalid-parameter", {"bbox": "1,2,3"}),
    Case("search bbox letters", "GET", "/search", 400, "invalid-parameter", {"bbox": "a,b,c,d"}),
    Case("search limit negative", "GET", "/search", 400, "invalid-parameter", {"limit": "-1"}),
    Case("search limit zero", "GET", "/search", 400, "invalid-parameter", {"limit": "0"}),
    Case("search limit text", "GET", "/search", 400, "invalid-parameter", {"limit": "abc"}),
    Case("search datetime garbage", "GET", "/search", 400, "invalid-datetime", {"datetime": "xx"}),
    Case(
        "search datetime month 13",
        "GET",
        "/search",
        400,
        "invalid-parameter",
        {"datetime": "2020-13-01T00:00:00Z"},
    ),
    Case("search datetime open both", "GET", "/search", 400, "invalid-parameter", {"datetime": "../.."}),
    Case("search filter syntax", "GET", "/search", 400, "invalid-filter", {"filter": "a=="}),
    Case("search filter unclosed", "GET", "/search", 400, "invalid-filter", {"filter": "(a = 1"}),
    Case(
        "search filter json and no array",
        "GET",
        "/search",
        400,
        "invalid-filter",
        {"filter": q({"op": "and", "args": {}}), "filter-lang": "cql2-json"},
    ),
    Case(
        "search filter json garbage",
        "GET",
        "/search",
        400,
        "invalid-filter",
        {"filter": "{x", "filter-lang": "cql2-json"},
    ),
    Case(
        "search filter lang unknown",
        "GET",
        "/search",
        400,
        "invalid-parameter",
        {"filter": "a=1", "filter-lang": "cql9"},
    ),
    Case(
        "search filter empty property",
        "GET",
        "/search",
        400,
        "invalid-search",
        {"filter": q({"op": "=", "args": [{"property": ""}, 1]}), "filter-lang": "cql2-json"},
    ),
    Case(
        "search filter text vs number",
        "GET",
        "/search",
        400,
        "invalid-search",
        {"filter": "\"eo:cloud_cover\" < 'abc'"},
    ),
    Case(
        "items token garbage",
        "GET",
        f"/collections/{COLLECTION}/items",
        400,
        "invalid-token",
        {"token": "xyz"},
    ),
    Case(
        "items bbox nan",
        "GET",
        f"/collections/{COLLECTION}/items",
        400,
        "invalid-bbox",
        {"bbox": "nan,1,2,3"},
    ),
    Case(
        "items query not json",
        "GET",
        f"/collections/{COLLECTION}/items",
        400,
        "invalid-json",
        {"query": "abc"},
    ),
    Case(
        "items query empty property",
        "GET",
        f"/collections/{COLLECTION}/items",
        400,
        "invalid-query",
        {"query": q({"": {"eq": 1}})},
    ),
    Case(
        "items limit negative",
        "GET",
        f"/collections/{COLLECTION}/items",
        400,
        "invalid-parameter",
        {"limit": "-5"},
    ),
    Case(
        "items datetime garbage",
        "GET",
        f"/collections/{COLLECTION}/items",
        400,
        "invalid-datetime",
        {"datetime": "xx"},
    ),
    Case(
        "items filter syntax",
        "GET",
        f"/collections/{COLLECTION}/items",
        400,
        "invalid-filter",
        {"filter": "a=="},
    ),
    Case("items of unknown collection", "GET", "/collections/nope/items", 404, "not-found"),
    Case("unknown item", "GET", f"/collections/{COLLECTION}/items/nope", 404, "not-found"),
    Case("unknown collection", "GET", "/collections/nope", 404, "not-found"),
    Case("unknown route", "GET", "/nope", 404, "not-found"),
    Case("collections bbox nan", "GET", "/collections", 400, "invalid-bbox", {"bbox": "nan,1,2,3"}),
    Case("collections limit negative", "GET", "/collections", 400, "invalid-parameter", {"limit": "-1"}),
    Case("collections query not json", "GET", "/collections", 400, "invalid-json", {"query": "abc"}),
    Case("collections filter syntax", "GET", "/collections", 400, "invalid-filter", {"filter": "a=="}),
    Case("search DELETE", "DELETE", "/search", 405, "method-not-allowed", content_type=None),
    Case("collections PUT", "PUT", "/collections", 405, "method-not-allowed", body={}),
    Case(
        "items POST (no transactions)",
        "POST",
        f"/collections/{COLLECTION}/items",
        405,
        "method-not-allowed",
        body={},
    ),
]

STAC_POST = [
    Case("body list", "POST", "/search", 400, "invalid-body", raw=b"[1]"),
    Case("body number", "POST", "/search", 400, "invalid-body", raw=b"1"),
    Case("body string", "POST", "/search", 400, "invalid-body", raw=b'"x"'),
    Case("body null", "POST", "/search", 400, "invalid-body", raw=b"null"),
    Case("body truncated", "POST", "/search", 400, "invalid-json", raw=b"{"),
    Case("body empty", "POST", "/search", 400, "invalid-json", raw=b""),
    Case("body not utf-8", "POST", "/search", 400, "invalid-character", raw=b"\xff\xfe{}"),
    Case("body nested too deep", "POST", "/search", 400, "invalid-json", raw=b"[" * 200_000),
    Case("bbox NaN", "POST", "/search", 400, "non-finite-number", raw=b'{"bbox": [NaN, 1, 2, 3]}'),
    Case("bbox Infinity", "POST", "/search", 400, "non-finite-number", raw=b'{"bbox": [1, 2, Infinity, 4]}'),
    Case(
        "bbox -Infinity", "POST", "/search", 400, "non-finite-number", raw=b'{"bbox": [-Infinity, 1, 2, 3]}'
    ),
    Case(
        "bbox huge number",
        "POST",
        "/search",
        400,
        "non-finite-number",
        raw=b'{"bbox": [1, 2, ' + HUGE.encode() + b", 4]}",
    ),
    Case(
        "polygon NaN",
        "POST",
        "/search",
        400,
        "non-finite-number",
        raw=b'{"intersects": ' + POLY_NAN.encode() + b"}",
    ),
    Case(
        "polygon huge number",
        "POST",
        "/search",
        400,
        "non-finite-number",
        raw=b'{"intersects": {"type": "Point", "coordinates": [' + HUGE.encode() + b", 0]}}",
    ),
    Case(
        "polygon coordinates string",
        "POST",
        "/search",
        400,
        "invalid-parameter",
        body={"intersects": {"type": "Polygon", "coordinates": "x"}},
    ),
    Case(
        "filter and without array",
        "POST",
        "/search",
        400,
        "invalid-search",
        body={"filter": {"op": "and", "args": {}}},
    ),
    Case(
        "filter unknown operator",
        "POST",
        "/search",
        400,
        "invalid-search",
        body={"filter": {"op": "foo", "args": []}},
    ),
    Case(
        "filter empty property",
        "POST",
        "/search",
        400,
        "invalid-search",
        body={"filter": {"op": "=", "args": [{"property": ""}, 1]}},
    ),
    Case(
        "filter lang text",
        "POST",
        "/search",
        400,
        "invalid-parameter",
        body={"filter": "a=1", "filter-lang": "cql2-text"},
    ),
    Case("token garbage", "POST", "/search", 400, "invalid-token", body={"token": "xyz"}),
    Case("query empty property", "POST", "/search", 400, "invalid-query", body={"query": {"": {"eq": 1}}}),
    Case(
        "query unknown operator",
        "POST",
        "/search",
        400,
        "invalid-parameter",
        body={"query": {"a": {"like": 1}}},
    ),
    Case("query in not array", "POST", "/search", 400, "invalid-query", body={"query": {"a": {"in": "x"}}}),
    Case(
        "query with filter-lang",
        "POST",
        "/search",
        400,
        "invalid-parameter",
        body={"query": {"a": {"eq": 1}}, "filter-lang": "cql2-json"},
    ),
    Case("limit text", "POST", "/search", 400, "invalid-parameter", body={"limit": "abc"}),
    Case("limit negative", "POST", "/search", 400, "invalid-parameter", body={"limit": -1}),
    Case("datetime garbage", "POST", "/search", 400, "invalid-parameter", body={"datetime": "xx"}),
    Case("fields number", "POST", "/search", 400, "invalid-parameter", body={"fields": 5}),
    Case("sortby string", "POST", "/search", 400, "invalid-parameter", body={"sortby": "x"}),
    Case("collections number", "POST", "/search", 400, "invalid-parameter", body={"collections": 5}),
    Case(
        "text/plain body",
        "POST",
        "/search",
        415,
        "unsupported-media-type",
        raw=b'{"limit": 1}',
        content_type="text/plain",
    ),
    Case(
        "no content type",
        "POST",
        "/search",
        415,
        "unsupported-media-type",
        raw=b'{"limit": 1}',
        content_type=None,
    ),
    Case(
        "body over 4 MiB",
        "POST",
        "/search",
        413,
        "body-too-large",
        raw=b'{"ids": ["' + b"x" * (4 * 1024 * 1024) + b'"]}',
    ),
]

REGISTER = "/searches/register"
TILES_CASES = [
    Case("register list", "POST", REGISTER, 400, "invalid-body", raw=b"[1]", tiles=True),
    Case("register number", "POST", REGISTER, 400, "invalid-body", raw=b"1", tiles=True),
    Case("register truncated", "POST", REGISTER, 400, "invalid-json", raw=b"{", tiles=True),
    Case(
        "register bbox NaN",
        "POST",
        REGISTER,
        400,
        "non-finite-number",
        raw=b'{"bbox": [NaN, 1, 2, 3]}',
        tiles=True,
    ),
    Case(
        "register polygon NaN",
        "POST",
        REGISTER,
        400,
        "non-finite-number",
        raw=b'{"intersects": ' + POLY_NAN.encode() + b"}",
        tiles=True,
    ),
    Case(
        "register bbox huge",
        "POST",
        REGISTER,
        400,
        "non-finite-number",
        raw=b'{"bbox": [1, 2, ' + HUGE.encode() + b", 4]}",
        tiles=True,
    ),
    Case(
        "register bad bbox with intersects",
        "POST",
        REGISTER,
        422,
        "invalid-request",
        body={"bbox": [1, 2], "intersects": {"type": "Point", "coordinates": [1, 2]}},
        tiles=True,
    ),
    Case(
        "register bbox string with intersects",
        "POST",
        REGISTER,
        422,
        "invalid-request",
        body={"bbox": "x", "intersects": {"type": "Point", "coordinates": [1, 2]}},
        tiles=True,
    ),
    Case(
        "register defaults number",
        "POST",
        REGISTER,
        422,
        "invalid-request",
        body={"metadata": {"defaults": {"a": 1}}},
        tiles=True,
    ),
    Case(
        "register defaults list",
        "POST",
        REGISTER,
        422,
        "invalid-request",
        body={"metadata": {"defaults": ["a"]}},
        tiles=True,
    ),
    Case(
        "register defaults rescale object",
        "POST",
        REGISTER,
        422,
        "invalid-request",
        body={"metadata": {"defaults": {"a": {"rescale": {"x": 1}}}}},
        tiles=True,
    ),
    Case(
        "register defaults assets objects",
        "POST",
        REGISTER,
        422,
        "invalid-request",
        body={"metadata": {"defaults": {"a": {"assets": [{"x": 1}]}}}},
        tiles=True,
    ),
    Case(
        "register defaults too deep",
        "POST",
        REGISTER,
        422,
        "invalid-request",
        body={"metadata": {"defaults": {"a": {"x": [[[1]]]}}}},
        tiles=True,
    ),
    Case(
        "register filter and without array",
        "POST",
        REGISTER,
        400,
        "invalid-search",
        body={"filter": {"op": "and", "args": {}}},
        tiles=True,
    ),
    Case(
        "register filter unknown operator",
        "POST",
        REGISTER,
        400,
        "invalid-search",
        body={"filter": {"op": "foo", "args": []}},
        tiles=True,
    ),
    Case(
        "register collections string",
        "POST",
        REGISTER,
        422,
        "invalid-request",
        body={"collections": "x"},
        tiles=True,
    ),
    Case("register DELETE", "DELETE", REGISTER, 405, "method-not-allowed", content_type=None, tiles=True),
    Case("tiles unknown route", "GET", "/nope", 404, "not-found", tiles=True),
    Case(
        "tiles unknown search",
        "GET",
        "/searches/0123456789abcdef0123456789abcdef/info",
        404,
        "mosaic-not-found",
        tiles=True,
    ),
    Case("tiles malformed search id", "GET", "/searches/zzz/info", 404, "mosaic-not-found", tiles=True),
]
# Cases on a registered search ({search} is replaced by its id).
TILE = "/searches/{search}/tiles/WebMercatorQuad"
TILES_CASES += [
    Case(
        "tiles unknown grid",
        "GET",
        "/searches/{search}/tiles/Foo/1/1/1.png",
        404,
        "tile-matrix-set-not-offered",
        tiles=True,
    ),
    Case("tiles zoom out of range", "GET", f"{TILE}/99/1/1.png", 422, "invalid-tile-parameter", tiles=True),
    Case("tiles x out of matrix", "GET", f"{TILE}/2/9/1.png", 422, "invalid-tile-parameter", tiles=True),
    Case("tiles tif refused", "GET", f"{TILE}/2/1/1.tif", 400, "tile-format-not-offered", tiles=True),
    Case(
        "tiles tilesize text",
        "GET",
        f"{TILE}/2/1/1.png",
        422,
        "invalid-tile-parameter",
        {"tilesize": "abc"},
        tiles=True,
    ),
    Case(
        "tiles rescale reversed",
        "GET",
        f"{TILE}/12/2103/1461.png",
        422,
        "invalid-tile-parameter",
        {"assets": "pan", "rescale": "9,1"},
        tiles=True,
    ),
    Case(
        "tiles algorithm",
        "GET",
        f"{TILE}/2/1/1.png",
        422,
        "invalid-tile-parameter",
        {"algorithm": "hillshade"},
        tiles=True,
    ),
]

CASES = STAC_GET + STAC_POST + TILES_CASES


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    logs = tmp_path_factory.mktemp("hostile")
    env = {
        "DINAMIS_CATALOG_PUBLIC_URL": API,
        "DINAMIS_CATALOG_TILES_HTTP_PORT": str(TILES),
        # the cases register more than the 30 searches a minute a caller may
        "DINAMIS_CATALOG_TILES_TILES_REGISTER_PER_MINUTE": "1000",
    }
    procs = [
        start_service("catalog", CATALOG, logs, env=env),
        start_service("catalog-tiles", TILES, logs, env=env),
    ]
    LOGS["catalog"] = logs / f"catalog-{CATALOG}.log"
    LOGS["tiles"] = logs / f"catalog-tiles-{TILES}.log"
    try:
        yield
    finally:
        for proc in procs:
            stop_service(proc)


@pytest.fixture(scope="module")
def clients(services):
    """One keep-alive client per process, shared by every case."""
    with httpx.Client(base_url=API, timeout=30) as stac, httpx.Client(base_url=TILER, timeout=30) as tiler:
        yield {"stac": stac, "tiles": tiler}


@pytest.fixture(scope="module")
def search_id(clients):
    r = clients["tiles"].post(REGISTER, json={"collections": [COLLECTION]})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def send(client: httpx.Client, case: Case, search: str) -> httpx.Response:
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    if case.raw is not None:
        content = case.raw
    elif case.body is not None:
        content = json.dumps(case.body, allow_nan=False).encode()
    else:
        content = None
    path = case.path.replace("{search}", search)
    return client.request(case.method, path, params=case.params, content=content, headers=headers)


def test_there_are_enough_cases_and_each_is_named_once():
    assert len(CASES) >= 80
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile_input_is_a_4xx_problem_and_the_client_keeps_working(clients, search_id, case):
    client = clients["tiles" if case.tiles else "stac"]
    started = time.monotonic()
    r = send(client, case, search_id)
    elapsed = time.monotonic() - started
    assert r.status_code < 500, (r.status_code, r.text[:500])
    assert elapsed < SLOWEST_S, f"{case}: {elapsed:.1f} s"
    assert (r.status_code, r.headers.get("content-type", "").split(";")[0]) == (case.status, PROBLEM), r.text[
        :500
    ]
    problem = r.json()
    assert problem["code"] == case.code, problem
    assert problem["status"] == case.status and problem["type"] == f"urn:dinamis:problem:{case.code}"
    assert problem["detail"] and "Traceback" not in r.text and "asyncpg" not in r.text
    # The same client (its keep-alive connection, if the server kept it) still gets answers.
    if case.tiles:
        ok = client.get(f"/searches/{search_id}/info")
    else:
        ok = client.get("/search", params={"collections": COLLECTION, "limit": 1})
    assert ok.status_code == 200, ok.text[:300]


def test_problems_are_in_english_on_request(clients):
    fr = clients["stac"].get("/search", params={"bbox": "nan,1,2,3"})
    en = clients["stac"].get("/search", params={"bbox": "nan,1,2,3"}, headers={"Accept-Language": "en"})
    assert "nombres finis" in fr.json()["detail"] and "finite numbers" in fr.json()["detail"]
    assert en.json()["detail"] == "bbox values must be finite numbers"


@pytest.fixture(scope="module")
async def indexed_item(settings, services):
    """One item of our own, indexed through Kafka as in production."""
    doc = item(*region(), datetime(2021, 5, 2, 10, 30, tzinfo=UTC), cloud=12.0)
    await publish(settings, ingested(doc))
    found = await wait_search(Client.open(API), 1, ids=[doc["id"]])
    assert len(found) == 1, "item not indexed in 30 s"
    return doc


def test_query_and_filter_together_are_both_applied(clients, indexed_item):
    """Formerly a 500 (pgSTAC takes one or the other): both must hold."""
    stac = clients["stac"]
    both = {"ids": indexed_item["id"], "query": q({"eo:cloud_cover": {"eq": 12}})}
    hit = stac.get("/search", params={**both, "filter": '"eo:cloud_cover" <= 12'})
    miss = stac.get("/search", params={**both, "filter": '"eo:cloud_cover" < 12'})
    assert [f["id"] for f in hit.json()["features"]] == [indexed_item["id"]]
    assert miss.status_code == 200 and miss.json()["features"] == []
    post = stac.post(
        "/search", json={"ids": [indexed_item["id"]], "query": {"platform": {"contains": "neo"}}}
    )
    assert [f["id"] for f in post.json()["features"]] == [indexed_item["id"]]


def test_client_errors_are_logged_on_one_line_without_traceback(clients, search_id):
    """Runs after the cases: a refused request costs one short log line, not a traceback."""
    for name, log in LOGS.items():
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"{name}: a traceback was logged"
        refusals = [line for line in text.splitlines() if "refused" in line]
        assert refusals, f"{name}: refusals are not logged"
        assert all(len(line) < 2000 for line in refusals)
        errors = [
            json.loads(line) for line in text.splitlines() if line.startswith("{") and '"ERROR"' in line
        ]
        assert not [e for e in errors if e.get("level") == "ERROR"], errors[:3]
