"""The catalog's fast search path (`service/fast_search.py`: one SQL query instead of
pgSTAC's `search()`) answers exactly as `search()` does, on the real pgSTAC.

Three collections of synthetic items: one partitioned by year (as the catalog partitions
its own), one not, one whose base item changed halfway (items tagged with the base item
they were stored against, others not). Datetimes are drawn from a few instants, so many
items tie and the `collection`/`id` tiebreakers decide the order and the paging.

- In SQL: 160 random searches (collections, ids, bbox or intersects, every `datetime`
  form, CQL2 filters, sort either way, limits 1 to 200, `fields`), each followed over
  three `next` pages and one `prev`: the same features (content, geometry, base item), the
  same tokens and `numberReturned` as `search()` with `nohydrate`.
- Over HTTP: a catalog with the fast path and one without, the same requests (POST and
  GET `/search`, `/collections/{id}/items`, their next links): the same JSON.
- A bad or unknown token: the same `invalid-token` problem either way.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import orjson
import psycopg
import pytest
from psycopg.types.json import Jsonb
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods

from dinamis_catalog.service.fast_search import FastSearch, plan
from dinamis_testkit.testing import start_service, stop_service
from tests.ports import free_ports

FAST_PORT, PGSTAC_PORT = free_ports(2)
RUN = uuid.uuid4().hex[:8]
YEARLY, PLAIN, TAGGED = f"fs-yearly-{RUN}", f"fs-plain-{RUN}", f"fs-tagged-{RUN}"
COLLECTIONS = (YEARLY, PLAIN, TAGGED)
rng = random.Random(20261128)
T0 = datetime(2019, 1, 1, tzinfo=UTC)
# Few distinct instants: many items share one, so the tiebreakers order them.
INSTANTS = [T0 + timedelta(days=rng.uniform(0, 6 * 365), seconds=rng.randint(0, 86399)) for _ in range(120)]
PLATFORMS = ["spot-6", "spot-7", "pleiades-1a", "pleiades-neo-3"]


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def collection_doc(cid: str, roles: list[str]) -> dict:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": cid,
        "description": "fast search test",
        "license": "other",
        "links": [],
        "extent": {
            "spatial": {"bbox": [[-5.2, 41.3, 9.6, 51.1]]},
            "temporal": {"interval": [["2019-01-01T00:00:00Z", None]]},
        },
        "item_assets": {"ms": {"type": "image/tiff; application=geotiff", "roles": roles, "title": "MS"}},
    }


def item_doc(cid: str, k: int) -> dict:
    x, y = rng.uniform(1.0, 3.0), rng.uniform(45.0, 47.0)
    side = rng.choice([0.05, 0.2, 0.5])
    ring = [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]
    props: dict = {"datetime": _iso(rng.choice(INSTANTS)), "platform": rng.choice(PLATFORMS), "gsd": 1.5}
    if rng.random() > 0.1:  # some items have no cloud cover
        props["eo:cloud_cover"] = round(rng.uniform(0, 100), 1)
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": f"{cid}-{k:05d}",
        "collection": cid,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [x, y, x + side, y + side],
        "properties": props,
        "links": [{"rel": "license", "href": "https://example.org/licence"}],
        "assets": {
            "ms": {
                "href": f"http://127.0.0.1:1/{cid}/{k}.tif",
                "type": "image/tiff; application=geotiff",
                "roles": ["data"],
                "title": "MS",
            }
        },
    }


def load(dsn: str, items: list[dict]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as f:
        for item in items:
            f.write(json.dumps(item) + "\n")
    Loader(db=PgstacDB(dsn=dsn)).load_items(f.name, insert_mode=Methods.upsert)
    Path(f.name).unlink()


@pytest.fixture(scope="module")
def indexed(settings) -> list[dict]:
    dsn = settings.postgres_dsn.get_secret_value()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for cid in COLLECTIONS:
            conn.execute("SELECT pgstac.upsert_collection(%s)", [Jsonb(collection_doc(cid, ["data"]))])
        conn.execute("UPDATE pgstac.collections SET partition_trunc = 'year' WHERE id = %s", [YEARLY])
    first = [item_doc(YEARLY, k) for k in range(900)] + [item_doc(PLAIN, k) for k in range(500)]
    first += [item_doc(TAGGED, k) for k in range(200)]
    load(dsn, first)
    # The tagged collection's base item changes: items stored from now on carry its tag.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pgstac.upsert_collection(%s)", [Jsonb(collection_doc(TAGGED, ["data", "visual"]))]
        )
        tagged = conn.execute(
            "SELECT count(*) FROM pgstac.base_items WHERE collection = %s", [TAGGED]
        ).fetchone()
        assert tagged and tagged[0] >= 2
    later = [item_doc(TAGGED, k) for k in range(200, 400)]
    load(dsn, later)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE pgstac.items")
        stored = conn.execute(
            "SELECT count(*) FILTER (WHERE content ? 'pgstac:base_item')"
            " FROM pgstac.items WHERE collection = %s",
            [TAGGED],
        ).fetchone()
        assert stored and stored[0] == 200  # the later half is tagged
    return first + later


def random_search(items: list[dict]) -> dict:
    body: dict = {"limit": rng.choice([1, 3, 7, 50, 200])}
    r = rng.random()
    if r < 0.8:
        body["collections"] = rng.sample(COLLECTIONS, rng.randint(1, 3))
    if rng.random() < 0.15:
        body["ids"] = [rng.choice(items)["id"] for _ in range(rng.randint(1, 40))] + ["no-such-item"]
        body.setdefault("collections", list(COLLECTIONS))
    g = rng.random()
    if g < 0.35:
        x, y = rng.uniform(1.0, 3.0), rng.uniform(45.0, 47.0)
        body["bbox"] = [x, y, x + rng.uniform(0.05, 0.8), y + rng.uniform(0.05, 0.8)]
    elif g < 0.5:
        x, y, s = rng.uniform(1.0, 3.0), rng.uniform(45.0, 47.0), rng.uniform(0.05, 0.6)
        body["intersects"] = {"type": "Polygon", "coordinates": [[[x, y], [x + s, y], [x, y + s], [x, y]]]}
    d = rng.random()
    a, b = sorted(rng.sample(INSTANTS, 2))
    if d < 0.15:
        body["datetime"] = _iso(a)  # an instant many items share
    elif d < 0.4:
        body["datetime"] = f"{_iso(a)}/{_iso(b)}"
    elif d < 0.5:
        body["datetime"] = f"../{_iso(b)}"
    elif d < 0.6:
        body["datetime"] = f"{_iso(a)}/.."
    elif d < 0.65:
        body["datetime"] = f"{a.isoformat()}/{(b + timedelta(hours=2)).astimezone().isoformat()}"
    f = rng.random()
    cloud = {"property": "eo:cloud_cover"}
    if f < 0.15:
        body["filter"] = {"op": "<", "args": [cloud, rng.uniform(5, 80)]}
    elif f < 0.25:
        body["filter"] = {
            "op": "and",
            "args": [
                {"op": ">=", "args": [cloud, 20]},
                {"op": "=", "args": [{"property": "platform"}, "spot-6"]},
            ],
        }
    elif f < 0.3:
        body["filter"] = {"op": "in", "args": [{"property": "platform"}, ["spot-7", "pleiades-1a"]]}
    elif f < 0.35:
        body["filter"] = {"op": "isNull", "args": [cloud]}
    if "filter" in body:
        body["filter-lang"] = "cql2-json"
    s = rng.random()
    if s < 0.25:
        body["sortby"] = [{"field": "properties.datetime", "direction": "asc"}]
    elif s < 0.4:
        body["sortby"] = [{"field": "datetime", "direction": "desc"}]
    if rng.random() < 0.15:
        body["fields"] = rng.choice(
            [
                {"include": ["id", "properties.datetime"], "exclude": []},
                {"include": [], "exclude": ["geometry"]},
            ]
        )
    return body


def tokens(page: dict) -> dict[str, str | None]:
    out: dict[str, str | None] = {"next": None, "prev": None}
    for link in page.get("links", []):
        if link["rel"] in out:
            out[link["rel"]] = link["href"].split(f"token={link['rel']}:")[1]
    return out


async def _init(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=orjson.dumps, decoder=orjson.loads, schema="pg_catalog")


async def compare_in_sql(dsn: str, items: list[dict], n_searches: int) -> dict[str, int]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "pgstac,public", "jit": "off"})
    await _init(conn)
    fast = FastSearch()
    seen = {"searches": 0, "pages": 0, "features": 0, "ties": 0, "tagged": 0, "prev": 0}
    try:
        for _ in range(n_searches):
            body = {**random_search(items), "conf": {"nohydrate": True}}
            seen["searches"] += 1
            for step in range(4):
                expected = await conn.fetchval("SELECT * FROM search($1::text::jsonb)", json.dumps(body))
                planned = plan(body)
                assert planned is not None, body
                got = await fast.search(conn, planned)
                assert got is not None
                want = tokens(expected)
                assert [f["id"] for f in got["features"]] == [f["id"] for f in expected["features"]], body
                assert got["features"] == expected["features"], body
                assert (got["next"], got["prev"]) == (want["next"], want["prev"]), body
                assert got["numberReturned"] == expected["numberReturned"]
                seen["pages"] += 1
                seen["features"] += len(got["features"])
                times = [f["properties"].get("datetime") for f in got["features"] if "properties" in f]
                seen["ties"] += len(times) - len(set(times))
                seen["tagged"] += sum(1 for f in got["features"] if f["collection"] == TAGGED)
                if step < 2 and got["next"]:
                    body = {**body, "token": f"next:{got['next']}"}
                elif step == 2 and got["prev"]:
                    body = {**body, "token": f"prev:{got['prev']}"}
                    seen["prev"] += 1
                else:
                    break
    finally:
        await conn.close()
    return seen


async def test_the_fast_path_answers_as_pgstac_search_does(settings, indexed):
    seen = await compare_in_sql(settings.postgres_dsn.get_secret_value(), indexed, 160)
    # The comparison covered what it is about: pages, ties, tagged items, both tokens.
    assert seen["pages"] >= 250 and seen["features"] >= 3000, seen
    assert seen["ties"] >= 100 and seen["tagged"] >= 100 and seen["prev"] >= 20, seen


def test_searches_it_does_not_plan_go_to_pgstac():
    base = {"collections": ["a"], "limit": 10}
    for body in (
        {**base, "q": "forest"},
        {**base, "query": {"eo:cloud_cover": {"lt": 10}}},
        {**base, "bbox": [1, 2, 0, 3, 4, 10]},
        {**base, "datetime": "2020-01-01"},
        {**base, "datetime": "P1D/2020-01-01T00:00:00Z"},
        {**base, "datetime": "2020-01-01T00:00:00/2021-01-01T00:00:00Z"},  # no offset
        {**base, "datetime": "2021-01-01T00:00:00Z/2020-01-01T00:00:00Z"},  # inverted
        {**base, "sortby": [{"field": "properties.eo:cloud_cover", "direction": "asc"}]},
        {**base, "sortby": [{"field": "datetime", "direction": "desc"}, {"field": "id", "direction": "asc"}]},
        {
            **base,
            "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]},
            "filter-lang": "cql-json",
        },
        {**base, "conf": {"nohydrate": True, "context": "on"}},
        {**base, "limit": 0},
        {**base, "collections": []},
    ):
        assert plan(body) is None, body
    assert plan({**base, "datetime": "2020-01-01T00:00:00+02:00/.."}) is not None


# --- Over HTTP: the same answers with and without the fast path --------------------------


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory, keyfile, indexed):
    logs = tmp_path_factory.mktemp("logs")
    procs = []
    try:
        for port, fast in ((FAST_PORT, "true"), (PGSTAC_PORT, "false")):
            env = {
                "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
                "DINAMIS_CATALOG_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "DINAMIS_CATALOG_SEARCH_FAST_PATH": fast,
            }
            procs.append(start_service("catalog", port, logs, env=env))
        yield
    finally:
        for proc in procs:
            stop_service(proc)


def normalised(response: httpx.Response, port: int) -> object:
    return json.loads(response.text.replace(f"127.0.0.1:{port}", "HOST"))


async def _both(client: httpx.AsyncClient, method: str, path: str, **kwargs) -> tuple[object, object, int]:
    fast, slow = await asyncio.gather(
        client.request(method, f"http://127.0.0.1:{FAST_PORT}{path}", **kwargs),
        client.request(method, f"http://127.0.0.1:{PGSTAC_PORT}{path}", **kwargs),
    )
    assert fast.status_code == slow.status_code, (path, fast.text[:300], slow.text[:300])
    assert fast.headers["content-type"] == slow.headers["content-type"]
    return normalised(fast, FAST_PORT), normalised(slow, PGSTAC_PORT), fast.status_code


async def test_http_answers_are_the_same_with_and_without_the_fast_path(catalogs, indexed):
    compared = 0
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(25):
            body = random_search(indexed)
            for _page in range(3):
                fast, slow, status = await _both(client, "POST", "/search", json=body)
                assert status == 200 and fast == slow, body
                compared += 1
                nxt = next((link for link in fast["links"] if link["rel"] == "next"), None)  # type: ignore[index]
                if nxt is None:
                    break
                body = nxt["body"]
        for cid in COLLECTIONS:
            path = f"/collections/{cid}/items?limit=25&bbox=1,45,2.5,46.5&datetime=2019-01-01T00:00:00Z/.."
            for _page in range(3):
                fast, slow, status = await _both(client, "GET", path)
                assert status == 200 and fast == slow, path
                compared += 1
                nxt = next((link for link in fast["links"] if link["rel"] == "next"), None)  # type: ignore[index]
                if nxt is None:
                    break
                path = nxt["href"].replace("http://HOST", "")
        get = (
            "/search?collections="
            + ",".join(COLLECTIONS)
            + "&limit=40&sortby=%2Bdatetime&filter=platform%3D%27spot-7%27"
        )
        fast, slow, status = await _both(client, "GET", get)
        assert status == 200 and fast == slow and fast["features"]  # type: ignore[index]
        compared += 1
    assert compared >= 40


async def test_a_bad_or_unknown_token_is_the_same_problem_either_way(catalogs):
    gone = "next:" + YEARLY.encode().hex() + ":" + b"no-such-item".hex()
    async with httpx.AsyncClient(timeout=60) as client:
        for token in (gone, "next:zz:zz", "sideways:61:62", "next:" + "ff" * 4 + ":61"):
            body = {"collections": [YEARLY], "limit": 5, "token": token}
            fast, slow, status = await _both(client, "POST", "/search", json=body)
            assert status == 400, token
            assert fast["code"] == slow["code"] == "invalid-token", (token, fast, slow)  # type: ignore[index]
