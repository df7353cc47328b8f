"""Delivery benchmark, side by side in one run; prints JSON.

The scene: one SPOT 6 PAN + MS scene of 60 x 60 km (3,600 km²), made by the supplier
simulator at a reduced size (`--size` PAN pixels, 10 m at the default 6000), ingested
by `dinamis-ingest` (512 px DEFLATE COG tiles) and catalogued by `dinamis-catalog`;
kept between runs (same scene id) and only built when missing.

1. Clip efficiency: 10 km² fields (PAN band, Lambert-93) built by one fresh replica;
   bytes the worker read from the object store (GDAL's network statistics, HTTP cache
   emptied per product) divided by the bytes of the COG tiles that intersect the
   field (tile sizes from the COG's own tile index): the physical minimum. Target ≤ 1.2.
2. Throughput: a burst of `--burst` clip requests (10 km² fields, one product each,
   distinct orders spread over the 6 partitions), first publish → last
   `product-ready`, with 1 replica then 2 replicas (each a process pool sized to the
   cores). Alongside: machine CPU busy share, CPU seconds in the workers and in the
   replicas' main processes (event loop, Kafka, S3, Mongo), so the time is accounted for.
3. Latency `delivery-requested` → `product-ready` of a 100 km² clip (all 4 MS bands,
   Lambert-93), sequential requests on an idle replica: p50 / p95.

`--clip-only`: only the clip efficiency, on a set of fields of several sizes (0.25, 1,
10, 100 km², `--clip-sizes`) and positions: inside one tile, across a vertical tile
edge, across a horizontal one, on a tile corner (4 tiles), at random (`--clip-random`
per size). Per field: the bytes read and how (header read at open, plain reads,
multi-range tile reads, requests, from the worker's record), the intersecting tiles'
bytes, the strict ratio, and the ratio counting the COG's header (TIFF header, IFDs,
tile index: the bytes before its first tile) as necessary too. Output in `--out` too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import rasterio
from pyproj import Transformer
from shapely.geometry import box as shapely_box
from shapely.geometry import shape

from dinamis_shared import clients
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import (
    DeliveryRequestedV1,
    ProductFailedV1,
    ProductReadyV1,
    ProductSpec,
    SceneIngestedV1,
)
from dinamis_shared.settings import ServiceSettings
from dinamis_sim.simulator import SimulatedScene, announce, stage_package, write_package
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher

# The benchmarks run the platform on the local stack, in development (the services'
# default, production, refuses the local stack's credentials).
os.environ["DINAMIS_ENVIRONMENT"] = "development"


def shapely_transform(func, geom):
    """Apply func(xs, ys) -> (xs, ys) to every vertex."""
    import shapely

    return shapely.transform(geom, lambda xy: np.column_stack(func(xy[:, 0], xy[:, 1])))


SCENE_KM = 60.0
PORTS = [18410, 18411]  # --port-base changes them
LON, LAT = 2.6, 47.3  # Burgundy, metropolitan France: Lambert-93 applies


def scene_for(size: int) -> SimulatedScene:
    return SimulatedScene(
        mission="SPOT6",
        lon=LON,
        lat=LAT,
        acquired_at=datetime(2026, 4, 20, 10, 40, tzinfo=UTC),
        size=size,
        job_id=f"9{size:06d}01",
        seed=11,
        extent_m=SCENE_KM * 1000,
    )


async def get_item(settings, collection: str, item_id: str) -> dict | None:
    conn = await clients.pg_connect(settings)
    async with conn:
        cur = await conn.execute("SELECT pgstac.get_item(%s, %s)", (item_id, collection))
        row = await cur.fetchone()
    return row[0] if row and row[0] else None


async def publish(settings, events) -> None:
    broker = make_broker(settings)
    await broker.connect()
    try:
        publisher = EventPublisher(broker, "/bench/orders")
        for e in events:
            await publisher.publish(e)
    finally:
        await broker.stop()


async def ensure_scene(settings, size: int, logs: Path) -> tuple[dict, float]:
    """The bench scene's catalogue item; ingest it first if missing. Returns (item, s)."""
    sim = scene_for(size)
    item = await get_item(settings, "spot-6-7-ortho", sim.scene_id)
    if item:
        return item, 0.0
    t0 = time.monotonic()
    ingest = start_service("ingest", 18401, logs)
    catalog = start_service(
        "catalog", 18403, logs, env={"DINAMIS_CATALOG_PUBLIC_URL": "http://127.0.0.1:18403"}
    )
    try:
        s3 = clients.s3_client(settings)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "pkg"
            checksums = write_package(sim, root)
            prefix = f"airbus/bench-delivery/{sim.scene_id}/"
            event = announce(sim, prefix, checksums, stage_package(s3, root, "staging", prefix))
        async with EventWatcher(settings.kafka_bootstrap_servers, [SceneIngestedV1.topic()]) as w:
            await publish(settings, [event])
            await w.wait(lambda: w.events(SceneIngestedV1, sim.scene_id), 900)
        for _ in range(200):
            if item := await get_item(settings, "spot-6-7-ortho", sim.scene_id):
                return item, time.monotonic() - t0
            await asyncio.sleep(0.3)
        raise RuntimeError("bench scene not catalogued")
    finally:
        stop_service(ingest)
        stop_service(catalog)


def field(item: dict, area_km2: float, rng: random.Random, margin_km: float = 2.0) -> dict:
    """A square field of `area_km2` at a random place inside the scene (WGS84 GeoJSON)."""
    epsg = int(item["properties"]["proj:code"].split(":")[1])
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    to_ll = Transformer.from_crs(epsg, 4326, always_xy=True)
    left, bottom, right, top = shapely_transform(to_utm.transform, shape(item["geometry"])).bounds
    side = math.sqrt(area_km2) * 1000
    m = margin_km * 1000
    x = rng.uniform(left + m, right - m - side)
    y = rng.uniform(bottom + m, top - m - side)
    square = shapely_transform(to_ll.transform, shapely_box(x, y, x + side, y + side))
    return {"type": "Polygon", "coordinates": [[list(p) for p in square.exterior.coords]]}


def tiles_minimum(settings, item: dict, aoi: dict) -> tuple[int, int]:
    """(bytes, count) of the PAN COG's full-resolution tiles that intersect the field."""
    s3_gdal_env(settings)
    key = item["assets"]["pan"]["href"].split("/archive/", 1)[1]
    with (
        rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"),
        rasterio.open(f"/vsis3/archive/{key}") as src,
    ):
        to_src = Transformer.from_crs(4326, src.crs, always_xy=True)
        inv = ~src.transform
        poly = shapely_transform(lambda x, y: inv * to_src.transform(x, y), shape(aoi))
        bh, bw = src.block_shapes[0]
        c0, r0, c1, r1 = poly.bounds
        total = count = 0
        for row in range(max(0, int(r0 // bh)), min(math.ceil(src.height / bh), int(r1 // bh) + 1)):
            for col in range(max(0, int(c0 // bw)), min(math.ceil(src.width / bw), int(c1 // bw) + 1)):
                if poly.intersects(shapely_box(col * bw, row * bh, (col + 1) * bw, (row + 1) * bh)):
                    size = src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=1)
                    total += int(size)
                    count += 1
    return total, count


def s3_gdal_env(settings) -> None:
    os.environ.update(
        {
            "AWS_S3_ENDPOINT": settings.s3_endpoint,
            "AWS_HTTPS": "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "AWS_ACCESS_KEY_ID": settings.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": settings.s3_secret_key.get_secret_value(),
        }
    )


def cog_header_bytes(settings, item: dict) -> int:
    """Bytes of the PAN COG before its first tile (any level): TIFF header, GDAL's
    structural metadata, the IFDs and the tile index. Each tile is preceded by its
    4-byte size (GDAL's COG block leader), not counted here nor in the tiles."""
    s3_gdal_env(settings)
    key = item["assets"]["pan"]["href"].split("/archive/", 1)[1]
    first = None
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        with rasterio.open(f"/vsis3/archive/{key}") as src:
            levels = len(src.overviews(1))
        for level in [None, *range(levels)]:
            extra = {} if level is None else {"overview_level": level}
            with rasterio.open(f"/vsis3/archive/{key}", **extra) as src:
                bh, bw = src.block_shapes[0]
                for row in range(math.ceil(src.height / bh)):
                    for col in range(math.ceil(src.width / bw)):
                        offset = int(src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1) or 0)
                        if offset and (first is None or offset < first):
                            first = offset
    return (first or 4) - 4


def square(item: dict, x: float, y: float, side_m: float) -> dict:
    """A square field, lower-left corner (x, y) in the scene's CRS, as WGS84 GeoJSON."""
    epsg = int(item["properties"]["proj:code"].split(":")[1])
    to_ll = Transformer.from_crs(epsg, 4326, always_xy=True)
    sq = shapely_transform(to_ll.transform, shapely_box(x, y, x + side_m, y + side_m))
    return {"type": "Polygon", "coordinates": [[list(p) for p in sq.exterior.coords]]}


def clip_fields(item: dict, sizes: list[float], random_per_size: int, rng: random.Random) -> list[dict]:
    """Fields of each size at chosen places of the PAN tile grid (512 px tiles): inside
    one tile, across a vertical edge, across a horizontal edge, on a corner; then
    `random_per_size` at random. A place that does not fit a size is skipped (a 100 km²
    field spans several tiles whatever its place)."""
    pan = item["assets"]["pan"]
    a, _, c, _, e, f = pan["proj:transform"][:6]
    gsd, tile_m = a, 512 * a
    ncols = math.ceil(pan["proj:shape"][1] / 512)
    nrows = math.ceil(pan["proj:shape"][0] / 512)
    out = []
    for km2 in sizes:
        side = math.sqrt(km2) * 1000
        # A tile near the middle of the scene (whole tiles all around).
        tc, tr = ncols // 2 - 1, nrows // 2 - 1
        x_edge, y_edge = c + (tc + 1) * tile_m, f + e * (tr + 1) * 512  # right / bottom edge
        x_tile, y_top = c + tc * tile_m, f + e * tr * 512
        places = []
        if side < tile_m - 4 * gsd:
            margin = (tile_m - side) / 2
            places.append(("inside one tile", x_tile + margin, y_top - tile_m + margin))
        # Straddling: a third of the field one side of the edge, two thirds the other.
        places.append(("across a vertical tile edge", x_edge - side / 3, y_top - tile_m / 2 - side / 2))
        places.append(("across a horizontal tile edge", x_tile + tile_m / 2 - side / 2, y_edge - side / 3))
        places.append(("on a tile corner", x_edge - side / 3, y_edge - side / 3))
        for name, x, y in places:
            out.append({"km2": km2, "place": name, "aoi": square(item, x, y, side)})
        for _ in range(random_per_size):
            out.append({"km2": km2, "place": "random", "aoi": field(item, km2, rng)})
    return out


async def clip_efficiency(settings, item: dict, logs: Path, fields: list[dict]) -> dict:
    """Build each field (PAN band, Lambert-93) on one fresh replica, one at a time, and
    compare the bytes its worker read with the bytes of the tiles it intersects."""
    procs = start_replicas(1, logs)
    try:
        async with EventWatcher(
            settings.kafka_bootstrap_servers, [ProductReadyV1.topic(), ProductFailedV1.topic()]
        ) as w:
            done = await one_by_one(settings, w, [request(item, f["aoi"], ["P"]) for f in fields])
    finally:
        for p in procs:
            stop_service(p)
    docs = {d["order_id"]: d for d in await records_of(settings, [e.order_id for _, e in done])}
    header = cog_header_bytes(settings, item)
    rows = []
    for f, (_, event) in zip(fields, done, strict=True):
        row: dict = {"km2": f["km2"], "place": f["place"]}
        if not isinstance(event, ProductReadyV1):
            rows.append({**row, "failed": getattr(event, "reason", "?")})
            continue
        minimum, tiles = tiles_minimum(settings, item, f["aoi"])
        doc = docs[event.order_id]
        read = doc["bytes_read"]
        by_action = doc.get("bytes_read_by_action") or {}
        tile_reads = by_action.get("ReadMultiRange")
        rows.append(
            {
                **row,
                "intersecting_tiles": tiles,
                "tiles_bytes": minimum,
                "bytes_read": read,
                # How the worker read (absent from records written before this was kept).
                "read_at_open": by_action.get("GetFileSize"),
                "read_plain": by_action.get("Read", 0) if by_action else None,
                "read_multi_range": tile_reads,
                "requests": doc.get("read_requests"),
                "extra_bytes": read - minimum,
                "ratio": round(read / minimum, 4),
                "ratio_with_header": round(read / (minimum + header), 4),
            }
        )
    ratios = [r["ratio"] for r in rows if "ratio" in r]
    with_header = [r["ratio_with_header"] for r in rows if "ratio" in r]
    by_size: dict[str, list[float]] = {}
    for r in rows:
        if "ratio" in r:
            by_size.setdefault(str(r["km2"]), []).append(r["ratio"])
    return {
        "band": "PAN (1 band), output Lambert-93",
        "cog_header_bytes": header,
        "fields": rows,
        "count": len(rows),
        "failed": len(rows) - len(ratios),
        "ratio_mean": round(statistics.mean(ratios), 4) if ratios else None,
        "ratio_median": round(statistics.median(ratios), 4) if ratios else None,
        "ratio_max": max(ratios) if ratios else None,
        "ratio_mean_by_km2": {k: round(statistics.mean(v), 4) for k, v in by_size.items()},
        "ratio_with_header_mean": round(statistics.mean(with_header), 4) if with_header else None,
        "ratio_with_header_max": max(with_header) if with_header else None,
        "bytes_read_total": sum(r["bytes_read"] for r in rows if "ratio" in r),
        "tiles_bytes_total": sum(r["tiles_bytes"] for r in rows if "ratio" in r),
        "target_mean_max": 1.05,
    }


def request(item: dict, aoi: dict, bands: list[str] | None) -> DeliveryRequestedV1:
    return DeliveryRequestedV1(
        order_id=f"bench-{uuid.uuid4().hex[:12]}",
        organisation_id="org-bench",
        user_id="u-bench",
        products=[
            ProductSpec(
                product_id=f"p-{uuid.uuid4().hex[:12]}",
                collection=item["collection"],
                item_id=item["id"],
                aoi=aoi,
                bands=bands,
            )
        ],
        requested_at=datetime.now(UTC),
    )


def outcome(w: EventWatcher, order_id: str):
    for model in (ProductReadyV1, ProductFailedV1):
        if found := w.events(model, order_id):
            return found[0]
    return None


async def one_by_one(settings, w: EventWatcher, requests) -> list[tuple[float, object]]:
    """Publish requests one at a time; (seconds to its outcome, outcome) each."""
    broker = make_broker(settings)
    await broker.connect()
    out = []
    try:
        publisher = EventPublisher(broker, "/bench/orders")
        for r in requests:
            t0 = time.monotonic()
            await publisher.publish(r)
            event = await w.wait(lambda r=r: outcome(w, r.order_id), 300)
            out.append((time.monotonic() - t0, event))
    finally:
        await broker.stop()
    return out


def cpu_busy() -> tuple[float, float]:
    with open("/proc/stat") as f:
        values = [float(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def process_cpu_s(pid: int) -> float:
    """CPU seconds of a process (user + system), not counting its children."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


STACK = {
    "s3 (SeaweedFS)": "weed",
    "mongodb (FerretDB)": "ferretdb",
    "kafka": "kafka.Kafka",
    "postgresql": "postgres",
}


def stack_pids() -> dict[str, list[int]]:
    """The stack's server processes, by what they serve (read from /proc, never touched)."""
    found: dict[str, list[int]] = {name: [] for name in STACK}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        for name, needle in STACK.items():
            if needle in cmd.split(" ")[0] or (needle == "kafka.Kafka" and needle in cmd):
                found[name].append(int(entry))
    return found


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += process_cpu_s(pid)
        except (OSError, IndexError):
            pass
    return total


def all_cpu() -> dict[int, tuple[str, float]]:
    """Every process's (name, CPU seconds), and of those that ended: nothing (they are
    counted by the difference with the machine's total)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
                name = " ".join(a.decode(errors="replace").rsplit("/", 1)[-1] for a in argv[:2] if a)[:60]
                out[int(entry)] = (name, process_cpu_s(int(entry)))
            except (OSError, IndexError, ValueError):
                continue
    return out


def cpu_by_command(before: dict, after: dict, top: int = 8) -> dict[str, float]:
    used: dict[str, float] = {}
    for pid, (name, cpu) in after.items():
        delta = cpu - before.get(pid, (name, 0.0))[1]
        if delta > 0.05:
            used[name] = used.get(name, 0.0) + delta
    return {k: round(v, 2) for k, v in sorted(used.items(), key=lambda kv: -kv[1])[:top]}


def metric(port: int, name: str) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=3).text
    except httpx.HTTPError:
        return -1.0
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def start_replicas(n: int, logs: Path) -> list[subprocess.Popen]:
    procs = []
    for k in range(n):
        env = {
            "DINAMIS_DELIVERY_REPLICA_ID": f"bench-{n}-{k}",
            "DINAMIS_DELIVERY_SESSION_TIMEOUT_MS": "6000",
            # The bench publishes the requests itself: delivery does not ask orders about them.
            "DINAMIS_DELIVERY_VERIFY_EVENT_ISSUER": "false",
        }
        procs.append(start_service("delivery", PORTS[k], logs, env=env))
    deadline = time.monotonic() + 60
    while True:  # every replica owns partitions, all 6 are owned
        owned = [metric(PORTS[k], "dinamis_delivery_assigned_partitions") for k in range(n)]
        if all(o > 0 for o in owned) and sum(owned) == 6:
            return procs
        if time.monotonic() > deadline:
            raise RuntimeError(f"replicas did not share the partitions: {owned}")
        time.sleep(0.3)


async def records_of(settings, order_ids: list[str]) -> list[dict]:
    mongo = clients.mongo_client(settings)
    try:
        coll = mongo[settings.mongo_database]["delivery_products"]
        return [d async for d in coll.find({"order_id": {"$in": order_ids}})]
    finally:
        await mongo.close()


async def burst(settings, item: dict, n_replicas: int, count: int, rng: random.Random, logs: Path) -> dict:
    procs = start_replicas(n_replicas, logs)
    try:
        requests = [request(item, field(item, 10.0, rng), ["P"]) for _ in range(count)]
        mains = [process_cpu_s(p.pid) for p in procs]
        servers = stack_pids()
        servers_cpu0 = {name: cpu_of(pids) for name, pids in servers.items()}
        me0 = process_cpu_s(os.getpid())
        async with EventWatcher(
            settings.kafka_bootstrap_servers, [ProductReadyV1.topic(), ProductFailedV1.topic()]
        ) as w:
            busy0, total0 = cpu_busy()
            every0 = all_cpu()
            t0 = time.monotonic()
            await publish(settings, requests)
            published_s = time.monotonic() - t0
            await w.wait(lambda: all(outcome(w, r.order_id) for r in requests), 900)
            wall = time.monotonic() - t0
            busy1, total1 = cpu_busy()
            every1 = all_cpu()
        failed = [r.order_id for r in requests if isinstance(outcome(w, r.order_id), ProductFailedV1)]
        main_cpu = sum(process_cpu_s(p.pid) - m for p, m in zip(procs, mains, strict=True))
        servers_cpu = {name: round(cpu_of(pids) - servers_cpu0[name], 2) for name, pids in servers.items()}
        bench_cpu = process_cpu_s(os.getpid()) - me0
    finally:
        for p in procs:
            stop_service(p)
    docs = await records_of(settings, [r.order_id for r in requests])
    worker_cpu = sum(d.get("cpu_seconds", 0.0) for d in docs)
    build_wall = sum(d.get("build_seconds", 0.0) for d in docs)
    per_replica: dict[str, int] = {}
    for d in docs:
        per_replica[d.get("built_by", "?")] = per_replica.get(d.get("built_by", "?"), 0) + 1
    return {
        "replicas": n_replicas,
        "workers_per_replica": os.cpu_count(),
        "requests": count,
        "failed": len(failed),
        "wall_s": round(wall, 2),
        "publish_s": round(published_s, 2),
        "products_per_min": round(count / wall * 60, 1),
        "machine_cpu_busy_share": round((busy1 - busy0) / max(1.0, total1 - total0), 3),
        "cpu_s_in_workers": round(worker_cpu, 2),
        "cpu_s_in_replica_main_processes": round(main_cpu, 2),
        "mean_build_wall_s": round(build_wall / max(1, len(docs)), 3),
        "mean_worker_cpu_s_per_product": round(worker_cpu / max(1, len(docs)), 3),
        "products_per_replica": per_replica,
        # Where the machine's CPU went during the burst (core-seconds): the replicas'
        # workers and main processes, the stack's servers, this benchmark (publishing,
        # decoding every event), and the rest (other processes on the machine).
        "cpu_core_s_available": round(wall * (os.cpu_count() or 1), 2),
        "cpu_core_s_busy": round((busy1 - busy0) / os.sysconf("SC_CLK_TCK"), 2),
        "cpu_s_stack_servers": servers_cpu,
        "cpu_s_bench_client": round(bench_cpu, 2),
        # Every process on the machine (worker processes included), by command.
        "cpu_s_by_command": cpu_by_command(every0, every1),
        "bytes_read": sum(d.get("bytes_read", 0) for d in docs),
        "bytes_written": sum(d.get("size_bytes", 0) for d in docs),
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=6000, help="PAN pixels across the 60 km scene")
    parser.add_argument("--fields", type=int, default=5, help="10 km² fields for the clip efficiency")
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--latency-runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clip-only", action="store_true", help="only the clip efficiency, many fields")
    parser.add_argument("--clip-sizes", default="0.25,1,10,100", help="field areas in km² (--clip-only)")
    parser.add_argument("--clip-random", type=int, default=2, help="random fields per size (--clip-only)")
    parser.add_argument("--port-base", type=int, default=18410, help="the replicas' HTTP ports")
    parser.add_argument("--out", help="also write the JSON there")
    args = parser.parse_args()
    PORTS[:] = [args.port_base, args.port_base + 1]
    settings = ServiceSettings()
    rng = random.Random(args.seed)
    logs = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    item, ingest_s = await ensure_scene(settings, args.size, logs)
    pan = item["assets"]["pan"]
    gsd = pan["proj:transform"][0]
    out: dict = {
        "scene": {
            "id": item["id"],
            "area_km2": SCENE_KM**2,
            "pan_px": pan["proj:shape"],
            "pan_gsd_m": gsd,
            "pan_cog_bytes": pan.get("file:size"),
            "tile_px": 512,
            "ingested_now_s": round(ingest_s, 1),
        },
        "machine_cores": os.cpu_count(),
    }
    if args.clip_only:
        sizes = [float(s) for s in args.clip_sizes.split(",")]
        fields = clip_fields(item, sizes, args.clip_random, rng)
        out["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        out["clip_efficiency"] = await clip_efficiency(settings, item, logs, fields)
        out["logs"] = str(logs)
        emit(out, args.out)
        return

    # 1 and 3: one fresh replica, sequential requests.
    procs = start_replicas(1, logs)
    try:
        async with EventWatcher(
            settings.kafka_bootstrap_servers, [ProductReadyV1.topic(), ProductFailedV1.topic()]
        ) as w:
            fields = [field(item, 10.0, rng) for _ in range(args.fields)]
            done = await one_by_one(settings, w, [request(item, f, ["P"]) for f in fields])
            big = [request(item, field(item, 100.0, rng), None) for _ in range(args.latency_runs)]
            timed = await one_by_one(settings, w, big)
    finally:
        for p in procs:
            stop_service(p)
    docs = {d["order_id"]: d for d in await records_of(settings, [e.order_id for _, e in done])}
    clips = []
    for f, (_, event) in zip(fields, done, strict=True):
        if not isinstance(event, ProductReadyV1):
            clips.append({"failed": event.reason})
            continue
        minimum, tiles = tiles_minimum(settings, item, f)
        read = docs[event.order_id]["bytes_read"]
        clips.append(
            {
                "bytes_read": read,
                "intersecting_tiles": tiles,
                "tiles_bytes": minimum,
                "ratio": round(read / minimum, 3),
            }
        )
    ratios = [c["ratio"] for c in clips if "ratio" in c]
    out["clip_efficiency"] = {
        "field_km2": 10.0,
        "fields": clips,
        "ratio_mean": round(statistics.mean(ratios), 3) if ratios else None,
        "ratio_max": max(ratios) if ratios else None,
        "target_max": 1.2,
    }
    latencies = [s for s, e in timed if isinstance(e, ProductReadyV1)]
    out["latency_100km2"] = {
        "runs": len(timed),
        "failed": len(timed) - len(latencies),
        "output_px": round(10_000 / gsd / 4) if gsd else None,
        "bands": "all MS (4), Lambert-93",
        "p50_s": round(pct(latencies, 0.5), 3) if latencies else None,
        "p95_s": round(pct(latencies, 0.95), 3) if latencies else None,
        "min_s": round(min(latencies), 3) if latencies else None,
    }

    # 2: the burst, 1 then 2 replicas.
    one = await burst(settings, item, 1, args.burst, rng, logs)
    two = await burst(settings, item, 2, args.burst, rng, logs)
    out["burst"] = {
        "field_km2": 10.0,
        "one_replica": one,
        "two_replicas": two,
        "speedup": round(two["products_per_min"] / one["products_per_min"], 2),
        "target_speedup": 1.7,
    }
    out["logs"] = str(logs)
    emit(out, args.out)


def emit(out: dict, path: str | None) -> None:
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if path:
        Path(path).write_text(text + "\n")


if __name__ == "__main__":
    asyncio.run(main())
