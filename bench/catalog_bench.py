"""Catalogue search latency at archive scale, HTTP API vs pgSTAC SQL, in one run.

Loads N synthetic items (realistic French footprints: SPOT 60 km and Pléiades 20 km
scenes inside the IGN outline of metropolitan France, over 10 years) into the
collection `bench-catalog` with pypgstac, then times each search shape through the
catalog's STAC API (HTTP, keep-alive) and through `pgstac.search()` directly:
bbox + datetime; the same + CQL2 `eo:cloud_cover < 10`; intersects with a 5 x 5 km
field; sort by -datetime with no filter; 10 pages of paging. Limit 100.
Then freshness: `scene-ingested` published -> item returned by search.
Then footprint vector tiles (`dinamis-catalog-tiles`, `/searches/{id}/footprints/{z}/{x}/{y}.mvt`)
of a search on the whole collection: sequential p50/p95 per zoom over tiles at random
places in France (the process's tile cache off: every request runs the query).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import shapely
from psycopg.types.json import Jsonb
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods
from pyproj import Transformer

from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import SceneIngestedV1
from dinamis_shared.settings import ServiceSettings
from dinamis_sim.coverage import france_outline_l93
from dinamis_testkit.testing import start_service, stop_service

# The benchmarks run the platform on the local stack, in development (the services'
# default, production, refuses the local stack's credentials).
os.environ["DINAMIS_ENVIRONMENT"] = "development"

PORT = 18402
TILES_PORT = 18406
MVT_ZOOMS = (6, 8, 10, 12)
API = f"http://127.0.0.1:{PORT}"
COLLECTION = "bench-catalog"
T0, YEARS = datetime(2016, 1, 1, tzinfo=UTC), 10
rng = random.Random(42)
FRANCE = france_outline_l93()
TO_WGS84 = Transformer.from_crs(2154, 4326, always_xy=True)


def random_point_l93() -> tuple[float, float]:
    x0, y0, x1, y1 = FRANCE.bounds
    while True:
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if shapely.contains_xy(FRANCE, x, y):
            return x, y


def square(x: float, y: float, side: float) -> list[list[float]]:
    h = side / 2
    corners = [(x - h, y + h), (x - h, y - h), (x + h, y - h), (x + h, y + h), (x - h, y + h)]
    return [list(TO_WGS84.transform(cx, cy)) for cx, cy in corners]


def make_item(k: int) -> dict:
    x, y = random_point_l93()
    spot = rng.random() < 0.6
    ring = square(x, y, 60_000 if spot else 20_000)
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    when = T0 + timedelta(seconds=rng.uniform(0, YEARS * 365.25 * 86400))
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": f"bench-{k:07d}",
        "collection": COLLECTION,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "properties": {
            "datetime": when.isoformat().replace("+00:00", "Z"),
            "platform": rng.choice(["spot-6", "spot-7"] if spot else ["pleiades-1a", "pleiades-1b"]),
            "eo:cloud_cover": round(rng.uniform(0, 100), 2),
            "gsd": 1.5 if spot else 0.5,
            "view:incidence_angle": round(rng.uniform(0, 30), 2),
        },
        "links": [],
        "assets": {
            "ms": {
                "href": f"http://127.0.0.1:8333/archive/bench/{k}/ms.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
            }
        },
    }


def load(dsn: str, n: int) -> dict:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pgstac.items WHERE collection = %s", [COLLECTION]).fetchone()
        if row[0] == n:
            return {"items": n, "loaded_now": 0, "load_s": 0}
        conn.execute(
            "SELECT pgstac.upsert_collection(%s)",
            [
                Jsonb(
                    {
                        "type": "Collection",
                        "stac_version": "1.1.0",
                        "id": COLLECTION,
                        "description": "benchmark",
                        "license": "other",
                        "links": [],
                        "extent": {
                            "spatial": {"bbox": [[-5.2, 41.3, 9.6, 51.1]]},
                            "temporal": {"interval": [["2016-01-01T00:00:00Z", None]]},
                        },
                    }
                )
            ],
        )
        conn.execute("DELETE FROM pgstac.items WHERE collection = %s", [COLLECTION])
    t0 = time.perf_counter()
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as f:
        for k in range(n):
            f.write(json.dumps(make_item(k)) + "\n")
    loader = Loader(db=PgstacDB(dsn=dsn))
    loader.load_items(f.name, insert_mode=Methods.upsert)
    os.unlink(f.name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE pgstac.items")
    return {"items": n, "loaded_now": n, "load_s": round(time.perf_counter() - t0, 1)}


def shapes(runs: int) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {
        "bbox_datetime": [],
        "bbox_datetime_cloud": [],
        "intersects_5km": [],
        "sort_datetime": [],
    }
    for _ in range(runs):
        x, y = random_point_l93()
        w, s = TO_WGS84.transform(x - 10_000, y - 10_000)
        e, n = TO_WGS84.transform(x + 10_000, y + 10_000)
        year = rng.randint(2016, 2025)
        base = {
            "collections": [COLLECTION],
            "limit": 100,
            "bbox": [w, s, e, n],
            "datetime": f"{year}-01-01T00:00:00Z/{year}-12-31T23:59:59Z",
        }
        out["bbox_datetime"].append(base)
        out["bbox_datetime_cloud"].append(
            {
                **base,
                "filter-lang": "cql2-json",
                "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]},
            }
        )
        out["intersects_5km"].append(
            {
                "collections": [COLLECTION],
                "limit": 100,
                "intersects": {"type": "Polygon", "coordinates": [square(x, y, 5000)]},
            }
        )
        out["sort_datetime"].append(
            {
                "collections": [COLLECTION],
                "limit": 100,
                "sortby": [{"field": "properties.datetime", "direction": "desc"}],
            }
        )
    return out


def pct(values: list[float]) -> dict:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50_ms": round(q[49] * 1000, 1),
        "p95_ms": round(q[94] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
    }


def time_http(client: httpx.Client, body: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = client.post(f"{API}/search", json=body)
    r.raise_for_status()
    doc = r.json()
    return time.perf_counter() - t0, doc


def time_sql(conn: psycopg.Connection, body: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    (doc,) = conn.execute("SELECT pgstac.search(%s)", [Jsonb(body)]).fetchone()
    return time.perf_counter() - t0, doc


def paging(run, body: dict, token_of) -> float:
    """10 pages: the first request, then 9 follow-ups with the next token."""
    t0 = time.perf_counter()
    for page in range(10):
        _, doc = run(body)
        token = token_of(doc)
        if token is None:
            raise RuntimeError(f"no next link after page {page + 1}")
        body = {**body, "token": token}
    return time.perf_counter() - t0


def http_token(doc: dict) -> str | None:
    for link in doc.get("links", []):
        if link.get("rel") == "next":
            return (link.get("body") or {}).get("token") or httpx.URL(link["href"]).params.get("token")
    return None


def sql_token(doc: dict) -> str | None:
    for link in doc.get("links", []):
        if link.get("rel") == "next":
            return link["href"].split("token=", 1)[1]
    return None


async def freshness(settings: ServiceSettings, n: int) -> dict:
    client = httpx.AsyncClient(timeout=30)
    broker = make_broker(settings)
    await broker.connect()
    publisher = EventPublisher(broker, "/bench/ingest")
    lags = []
    try:
        for _ in range(n):
            doc = make_item(0)
            doc["id"] = f"fresh-{uuid.uuid4().hex[:12]}"
            doc["collection"] = "spot-6-7-ortho"
            doc["properties"]["dinamis:version"] = 1
            event = SceneIngestedV1(
                scene_id=doc["id"],
                version=1,
                collection="spot-6-7-ortho",
                item=doc,
                archive_prefix=f"spot-6-7-ortho/bench/{doc['id']}/v1/",
                manifest_sha256="ab" * 32,
            )
            t0 = time.perf_counter()
            await publisher.publish(event)
            while True:
                r = await client.post(
                    f"{API}/search", json={"ids": [doc["id"]], "collections": ["spot-6-7-ortho"]}
                )
                if r.json()["features"]:
                    break
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError("item not searchable after 30 s")
                await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - t0)
    finally:
        await broker.stop()
        await client.aclose()
    return {"events": n, **pct(lags)}


def footprint_tiles(runs: int) -> dict:
    """Sequential latency of footprint tiles, per zoom (warm: a few tiles first)."""
    import morecantile

    mercator = morecantile.tms.get("WebMercatorQuad")
    env = {
        "DINAMIS_CATALOG_TILES_HTTP_PORT": str(TILES_PORT),
        "DINAMIS_CATALOG_TILES_TILES_FOOTPRINTS_CACHE_MB": "0",
    }
    proc = start_service("catalog-tiles", TILES_PORT, Path(tempfile.mkdtemp(prefix="bench-tiles-")), env=env)
    base = f"http://127.0.0.1:{TILES_PORT}"
    out: dict = {}
    try:
        with httpx.Client(timeout=60) as client:
            r = client.post(f"{base}/searches/register", json={"collections": [COLLECTION]})
            r.raise_for_status()
            search = r.json()["id"]
            for z in MVT_ZOOMS:
                tiles = [mercator.tile(*TO_WGS84.transform(*random_point_l93()), z) for _ in range(runs)]
                for t in tiles[:3]:
                    client.get(f"{base}/searches/{search}/footprints/{z}/{t.x}/{t.y}.mvt")
                times, sizes, empty = [], [], 0
                for t in tiles:
                    t0 = time.perf_counter()
                    r = client.get(f"{base}/searches/{search}/footprints/{z}/{t.x}/{t.y}.mvt")
                    times.append(time.perf_counter() - t0)
                    if r.status_code == 204:
                        empty += 1
                    elif r.status_code != 200:
                        raise RuntimeError(f"footprint tile {z}/{t.x}/{t.y}: {r.status_code} {r.text[:200]}")
                    sizes.append(len(r.content))
                out[f"z{z}"] = {
                    **pct(times),
                    "mean_kb": round(statistics.mean(sizes) / 1024, 1),
                    "empty": empty,
                }
                print(json.dumps({f"mvt_z{z}": out[f"z{z}"]}), file=sys.stderr)
    finally:
        stop_service(proc)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--million", action="store_true")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--fresh", type=int, default=40)
    parser.add_argument("--mvt-only", action="store_true", help="load, then footprint tiles only")
    args = parser.parse_args()
    n = 1_000_000 if args.million else args.items
    settings = ServiceSettings()
    dsn = settings.postgres_dsn.get_secret_value()
    result: dict = {"load": load(dsn, n)}
    print(json.dumps(result), file=sys.stderr)
    if args.mvt_only:
        result["footprint_tiles"] = footprint_tiles(args.runs)
        print(json.dumps(result, indent=1))
        return
    proc = start_service("catalog", PORT, Path(tempfile.mkdtemp(prefix="bench-catalog-")))
    try:
        with (
            httpx.Client(timeout=60) as client,
            psycopg.connect(dsn, autocommit=True, options="-c search_path=pgstac,public") as conn,
        ):
            searches = {}
            for name, bodies in shapes(args.runs).items():
                for body in bodies[:3]:  # warm both paths (plans, caches)
                    time_http(client, body)
                    time_sql(conn, body)
                http = [time_http(client, b)[0] for b in bodies]
                sql = [time_sql(conn, b)[0] for b in bodies]
                searches[name] = {
                    "http": pct(http),
                    "sql": pct(sql),
                    "http_to_sql_p95": round(pct(http)["p95_ms"] / max(pct(sql)["p95_ms"], 0.1), 2),
                }
                print(json.dumps({name: searches[name]}), file=sys.stderr)
            page_body = {"collections": [COLLECTION], "limit": 100}
            http_pages = [
                paging(lambda b: time_http(client, b), page_body, http_token)
                for _ in range(max(5, args.runs // 4))
            ]
            sql_pages = [
                paging(lambda b: time_sql(conn, b), page_body, sql_token)
                for _ in range(max(5, args.runs // 4))
            ]
            searches["paging_10_pages"] = {
                "http": pct(http_pages),
                "sql": pct(sql_pages),
                "http_to_sql_p95": round(pct(http_pages)["p95_ms"] / pct(sql_pages)["p95_ms"], 2),
            }
            result["searches"] = searches
            result["freshness"] = asyncio.run(freshness(settings, args.fresh))
    finally:
        stop_service(proc)
    result["footprint_tiles"] = footprint_tiles(args.runs)
    result["targets"] = {
        "bbox_datetime_cloud_p95_ms": 50,
        "http_to_sql_p95": 1.5,
        "freshness_p95_ms": 1000,
        "footprint_tile_p95_ms": 30,
        "note": "targets are stated at 1,000,000 items",
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
