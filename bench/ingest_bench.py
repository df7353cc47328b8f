"""Ingest throughput, side by side with its physical baseline, in one run.

1. One 10k x 10k 4-band uint16 scene (an MS product, 800 MB of GeoTIFF):
   - baseline: a plain `gdal_translate -of COG` of the delivered image (GDAL's COG
     driver, ingest's options) plus a raw S3 upload of its output;
   - pipeline: the same delivery through the ingest service (announce on Kafka ->
     scene-ingested), which also downloads and checksums the package, parses and
     checks it, validates the COG, makes previews and writes the manifest.
   Reported: seconds, MB/s of delivered image, scenes/min, ratio pipeline/baseline
   throughput (target >= 0.8).
2. The yearly metropolitan coverage (240 cells, at a reduced size stated in the
   output), ingested by 1 and then 2 replicas: wall time from the first announce to
   the last scene-ingested (packages are staged beforehand, not timed).

`--full-size` (issue 17, P1 raised, target >= 0.95): instead of 1 and 2, one FULL-SIZE
coverage cell (52 km SPOT 6/7 at its real resolution: PAN 1.5 m = 34,667 px square,
MS 6 m = 8,667 px x 4 bands, 12-bit in uint16, tiled 8,192 px as Airbus delivers),
staged once, then `--rounds` rounds of baseline and pipeline back to back (the same
package announced under a fresh scene id each round, so each round is a real ingest,
not the idempotent replay). The baseline converts both images (`gdal_translate -of COG`
of each DIM, ingest's options) and uploads both raw. Reported: each round, the median
ratio, and the per-step seconds the ingest service logged. `--full-size-px N` takes a
smaller PAN side (MS = N / 4) when the machine cannot hold a full cell.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil

from dinamis_ingest.service.raster import COG_OPTIONS
from dinamis_shared import clients
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import Mission, SceneIngestedV1, SceneRejectedV1
from dinamis_shared.missions import mission_info
from dinamis_shared.settings import ServiceSettings
from dinamis_sim.coverage import CELL_M, coverage_cells
from dinamis_sim.simulator import SimulatedScene, announce, coverage_scene, stage_package, write_package
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher

# The benchmarks run the platform on the local stack, in development (the services'
# default, production, refuses the local stack's credentials).
os.environ["DINAMIS_ENVIRONMENT"] = "development"

MB = 1024 * 1024


PORT = int(os.environ.get("DINAMIS_BENCH_INGEST_PORT", "18300"))


def start_replicas(n: int, logs: Path, env: dict[str, str] | None = None) -> list[subprocess.Popen]:
    procs = [start_service("ingest", PORT + k, logs, env) for k in range(n)]
    time.sleep(3)  # let the group settle (partitions assigned to every replica)
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        stop_service(p)


async def run_pipeline(settings, events, wait_s: float, ingested: list | None = None) -> float:
    """Announce `events`; seconds until every one has its scene-ingested (appended to
    `ingested` when given)."""
    ids = {e.scene_id for e in events}
    async with EventWatcher(
        settings.kafka_bootstrap_servers, [SceneIngestedV1.topic(), SceneRejectedV1.topic()]
    ) as watcher:
        broker = make_broker(settings)
        await broker.connect()
        publisher = EventPublisher(broker, "/bench/supplier")
        t0 = time.perf_counter()
        for e in events:
            await publisher.publish(e)
        await broker.stop()
        await watcher.wait(lambda: ids <= {k.decode() for _, _, k, _ in watcher.records}, wait_s)
        elapsed = time.perf_counter() - t0
        rejected = [i for i in ids if watcher.events(SceneRejectedV1, i)]
        if rejected:
            raise RuntimeError(f"rejected: {watcher.events(SceneRejectedV1, rejected[0])}")
        if ingested is not None:
            ingested.extend(ev for i in ids for ev in watcher.events(SceneIngestedV1, i))
        return elapsed


def baseline(s3, source: Path, work: Path) -> float:
    """`gdal_translate -of COG` with ingest's options, then a raw upload of the output."""
    out = work / "baseline-cog.tif"
    t0 = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=512):
        rasterio.shutil.copy(str(source), out, driver="COG", **COG_OPTIONS, NBITS="16")
    s3.fput_object("delivery", f"bench/{uuid.uuid4().hex}.tif", str(out), part_size=64 * MB)
    return time.perf_counter() - t0


class FastTerrain:
    """The simulator's synthetic 12-bit terrain (`dinamis_sim.simulator._terrain`: the
    same waves, fields and Gaussian noise of sigma 25), computed from separable 1-D terms
    and a pool of pre-drawn noise, so that a full-size cell (1.5 G samples) is written in
    minutes on two shared cores rather than in an hour. Given to the simulator as its
    `band_pixels`; the compressibility (what the COG conversion sees) is the same kind."""

    POOL = 1 << 25

    def __init__(self, bands: list[str], seed: int, pan_gsd: float, ms_gsd: float) -> None:
        self.index = {b: k for k, b in enumerate(bands)} | {"P": 0}
        self.scale = {"P": 1.0} | {b: ms_gsd / pan_gsd for b in bands}
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.noise = rng.normal(0, 25, self.POOL).astype("float32")
        self.rng = rng

    def __call__(self, band: str, rows: int, cols: int, row0: int, col0: int) -> np.ndarray:
        b, scale, seed = self.index[band], self.scale[band], self.seed
        y = ((np.arange(rows, dtype="float32") + row0) * scale)[:, None]
        x = ((np.arange(cols, dtype="float32") + col0) * scale)[None, :]
        # 400 sin(x/173 + b) cos(y/211) + 250 sin((x + y)/57 + s), each a sum of products
        # of 1-D terms; fields: ((x // 120) + (y // 90)) % 3.
        out = 400 * np.sin(x / 173.0 + b) * np.cos(y / 211.0)
        out += 250 * (np.sin(x / 57.0 + seed) * np.cos(y / 57.0) + np.cos(x / 57.0 + seed) * np.sin(y / 57.0))
        out += 150 * (((x // 120) + (y // 90)) % 3)
        out += 900
        n = rows * cols
        start = int(self.rng.integers(0, self.POOL - n))
        out += self.noise[start : start + n].reshape(rows, cols)
        return np.clip(out, 0, 4095).astype("uint16")


def full_size_px() -> int:
    """A 52 km coverage cell's PAN side at SPOT 6/7's real 1.5 m: 34,667 px."""
    return round(CELL_M / mission_info(Mission.SPOT6).pan_gsd_m)


def remove_prefix(s3, bucket: str, prefix: str) -> None:
    for o in list(s3.list_objects(bucket, prefix=prefix, recursive=True)):
        s3.remove_object(bucket, o.object_name)


def baseline_package(s3, pkg: Path, work: Path) -> dict[str, float]:
    """The physical pipeline for a whole package: each image (DIM) converted by GDAL's COG
    driver with ingest's options, then each output uploaded raw. Seconds per step."""
    steps: dict[str, float] = {}
    outs = []
    t = time.perf_counter()
    for dim in sorted(pkg.glob("IMG_*/DIM_*.XML")):
        kind = "pan" if "_P_" in dim.parent.name else "ms"
        out = work / f"baseline-{kind}.tif"
        with rasterio.Env(GDAL_CACHEMAX=512):
            rasterio.shutil.copy(str(dim), out, driver="COG", **COG_OPTIONS, NBITS="16")
        outs.append(out)
        steps[f"cog-{kind}"] = time.perf_counter() - t
        t = time.perf_counter()
    key = f"bench/{uuid.uuid4().hex}/"
    for out in outs:
        s3.fput_object("delivery", key + out.name, str(out), part_size=64 * MB)
    steps["upload"] = time.perf_counter() - t
    steps["total"] = sum(steps.values())
    steps["output_mb"] = sum(o.stat().st_size for o in outs) / MB
    for out in outs:
        out.unlink()
    remove_prefix(s3, "delivery", key)
    return steps


def logged_steps(log: Path, scene_id: str) -> dict[str, float]:
    """The per-step seconds the ingest service logged for `scene_id`."""
    for line in log.read_text(errors="replace").splitlines():
        if '"scene archived"' in line:
            doc = json.loads(line)
            if doc.get("scene_id") == scene_id:
                return doc["seconds"]
    return {}


async def full_size(args, settings, s3, work: Path) -> dict:
    pan_px = args.full_size_px or full_size_px()
    cell = coverage_cells(2026)[0]
    run = uuid.uuid4().hex[:4]
    scene = coverage_scene(cell, pan_px, f"F{pan_px}-")
    info = mission_info(scene.mission)
    scene.band_pixels = FastTerrain(scene.ms_bands, scene.seed, info.pan_gsd_m, info.ms_gsd_m)
    # The package is kept in --package-dir (when given) and reused by the next runs.
    pkg = Path(args.package_dir) / f"cell-{pan_px}" if args.package_dir else work / "pkg"
    sums = pkg.parent / f"{pkg.name}.sha256.json"
    t0 = time.perf_counter()
    if args.package_dir and sums.exists() and pkg.is_dir():
        checksums = json.loads(sums.read_text())
    else:
        checksums = write_package(scene, pkg)
        if args.package_dir:
            sums.write_text(json.dumps(checksums))
    simulate_s = time.perf_counter() - t0
    tiles = sorted(pkg.glob("IMG_*/IMG_*.TIF"))
    image_mb = sum(t.stat().st_size for t in tiles) / MB
    prefix = f"bench-full/{run}/"
    t0 = time.perf_counter()
    size = stage_package(s3, pkg, "staging", prefix)
    stage_s = time.perf_counter() - t0
    shapes = {}
    for dim in sorted(pkg.glob("IMG_*/DIM_*.XML")):
        with rasterio.open(dim) as src:
            shapes["pan" if "_P_" in dim.parent.name else "ms"] = [src.width, src.height, src.count]
    out: dict = {
        "cell": {
            "cell_extent_m": CELL_M,
            "pan_gsd_m": round(CELL_M / pan_px, 3),
            "images": {k: f"{w}x{h}x{c} uint16 (12-bit)" for k, (w, h, c) in shapes.items()},
            "tiles": len(tiles),
            "image_mb": round(image_mb, 1),
            "package_mb": round(size / MB, 1),
            "simulate_s": round(simulate_s, 1),
            "stage_s": round(stage_s, 1),
            "full_size": pan_px == full_size_px(),
        },
        "rounds": [],
        "note": "baseline then pipeline back to back in each round, on a 2-core machine "
        "shared with other engineers' runs: compare the ratios, not the absolute times",
    }
    print(json.dumps(out["cell"]), file=sys.stderr)
    log = work / f"ingest-{PORT}.log"
    modes = args.modes.split(",")
    try:
        for r in range(args.rounds):
            base = baseline_package(s3, pkg, work)
            row: dict = {
                "baseline_s": round(base["total"], 2),
                "baseline_steps": {k: round(v, 2) for k, v in base.items()},
            }
            for mode in modes if r % 2 == 0 else modes[::-1]:  # alternate which runs right after
                procs = start_replicas(
                    1, work, {"DINAMIS_INGEST_CONVERT_AHEAD": str(mode == "after").lower()}
                )
                try:
                    event = announce(scene, prefix, checksums, size).model_copy(
                        update={"scene_id": f"{scene.scene_id}-{run}{r}{mode[0]}"}
                    )
                    ingested: list = []
                    pipe_s = await run_pipeline(settings, [event], 3600, ingested)
                    steps = logged_steps(log, event.scene_id)
                    # A transient failure (S3 overrun...) retries the whole scene: say so.
                    retries = log.read_text(errors="replace").count("transient failure")
                finally:
                    stop(procs)
                for ev in ingested:
                    remove_prefix(s3, "archive", ev.archive_prefix)
                row[mode] = {
                    "pipeline_s": round(pipe_s, 2),
                    "ratio": round(base["total"] / pipe_s, 3),
                    "pipeline_steps": steps,
                    "scene_retries": retries,
                }
            out["rounds"].append(row)
            print(json.dumps(row), file=sys.stderr)
    finally:
        remove_prefix(s3, "staging", prefix)
        if not args.package_dir:
            shutil.rmtree(pkg, ignore_errors=True)
    rounds = out["rounds"]
    base_med = statistics.median(r["baseline_s"] for r in rounds)
    out["summary"] = {
        "rounds": len(rounds),
        "baseline_median_s": base_med,
        "baseline_mb_per_s": round(image_mb / base_med, 1),
        "target_ratio": 0.95,
    }
    for mode in modes:
        pipe_med = statistics.median(r[mode]["pipeline_s"] for r in rounds)
        out["summary"][mode] = {
            "ratio_median": round(statistics.median(r[mode]["ratio"] for r in rounds), 3),
            "ratios": [r[mode]["ratio"] for r in rounds],
            "pipeline_median_s": pipe_med,
            "pipeline_mb_per_s": round(image_mb / pipe_med, 1),
        }
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--cells", type=int, default=240)
    parser.add_argument("--cell-size", type=int, default=256)
    parser.add_argument("--full-size", action="store_true", help="P1 raised: full-size cells only")
    parser.add_argument("--full-size-px", type=int, default=0, help="PAN side (default 34,667 px)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--modes",
        default="before,after",
        help="before: ingest without converting ahead (DINAMIS_INGEST_CONVERT_AHEAD=false); after: with",
    )
    parser.add_argument("--package-dir", default="", help="keep (and reuse) the full-size package here")
    args = parser.parse_args()
    settings = ServiceSettings()
    s3 = clients.s3_client(settings, timeout_s=300)
    result: dict = {"machine": {"cpus": os.cpu_count()}}
    if args.full_size:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-full-") as tmp:
            result["full_size"] = await full_size(args, settings, s3, Path(tmp))
        print(json.dumps(result, indent=1))
        return
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        # 1. One big scene, pipeline vs baseline.
        scene = SimulatedScene(
            mission=Mission.PHR1A,
            lon=2.35,
            lat=48.85,
            acquired_at=datetime(2026, 5, 4, 10, 40, tzinfo=UTC),
            size=args.size,
            job_id=str(uuid.uuid4().int)[:10],
            components=("MS",),
        )
        t0 = time.perf_counter()
        checksums = write_package(scene, work / "pkg")
        tiles = list((work / "pkg").glob("IMG_*_MS_*/IMG_*.TIF"))
        image_mb = sum(t.stat().st_size for t in tiles) / MB
        (dim,) = (work / "pkg").glob("IMG_*_MS_*/DIM_*.XML")  # the whole image (its tiles mosaicked)
        prefix = f"bench/{scene.scene_id}/"
        size = stage_package(s3, work / "pkg", "staging", prefix)
        prepare_s = time.perf_counter() - t0
        base_s = baseline(s3, dim, work)
        procs = start_replicas(1, work)
        try:
            pipe_s = await run_pipeline(settings, [announce(scene, prefix, checksums, size)], 3600)
        finally:
            stop(procs)
        result["scene"] = {
            "image": f"{args.size}x{args.size}x4 uint16",
            "image_mb": round(image_mb, 1),
            "package_mb": round(size / MB, 1),
            "simulate_and_stage_s": round(prepare_s, 1),
            "baseline_cog_plus_upload_s": round(base_s, 2),
            "pipeline_s": round(pipe_s, 2),
            "baseline_mb_per_s": round(image_mb / base_s, 1),
            "pipeline_mb_per_s": round(image_mb / pipe_s, 1),
            "pipeline_scenes_per_min": round(60 / pipe_s, 2),
            "ratio_pipeline_to_baseline": round(base_s / pipe_s, 3),
            "target_ratio": 0.8,
        }
        print(json.dumps(result["scene"]), file=sys.stderr)
        # 2. The yearly coverage, 1 then 2 replicas.
        if args.cells == 0:
            print(json.dumps(result, indent=1))
            return
        cells = coverage_cells(2026)[: args.cells]
        result["coverage"] = {
            "cells": len(cells),
            "cell_image_px": args.cell_size,
            "cell_extent_m": CELL_M,
            "note": "PAN + MS per cell, at a reduced size",
        }
        for replicas in (1, 2):
            run = uuid.uuid4().hex[:4]
            events = []
            for c in cells:
                sc = coverage_scene(c, args.cell_size, run)
                cs = write_package(sc, work / "cell")
                p = f"bench/{run}/{c.index}/"
                events.append(
                    announce(
                        sc, p, cs, stage_package(s3, work / "cell", "staging", p), campaign="france-2026"
                    )
                )
            procs = start_replicas(replicas, work)
            try:
                wall = await run_pipeline(settings, events, 3600)
            finally:
                stop(procs)
            result["coverage"][f"replicas_{replicas}_wall_s"] = round(wall, 1)
            result["coverage"][f"replicas_{replicas}_scenes_per_min"] = round(60 * len(cells) / wall, 1)
            print(json.dumps(result["coverage"]), file=sys.stderr)
        cov = result["coverage"]
        cov["speedup_2_vs_1"] = round(cov["replicas_1_wall_s"] / cov["replicas_2_wall_s"], 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
