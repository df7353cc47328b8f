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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import rasterio
import rasterio.shutil

from dinamis_ingest.service.raster import COG_OPTIONS
from dinamis_shared import clients
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import Mission, SceneIngestedV1, SceneRejectedV1
from dinamis_shared.settings import ServiceSettings
from dinamis_sim.coverage import CELL_M, coverage_cells
from dinamis_sim.simulator import SimulatedScene, announce, coverage_scene, stage_package, write_package
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher

# The benchmarks run the platform on the local stack, in development (the services'
# default, production, refuses the local stack's credentials).
os.environ["DINAMIS_ENVIRONMENT"] = "development"

MB = 1024 * 1024


def start_replicas(n: int, logs: Path) -> list[subprocess.Popen]:
    procs = [start_service("ingest", 18300 + k, logs) for k in range(n)]
    time.sleep(3)  # let the group settle (partitions assigned to every replica)
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        stop_service(p)


async def run_pipeline(settings, events, wait_s: float) -> float:
    """Announce `events`; seconds until every one has its scene-ingested."""
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
        return elapsed


def baseline(s3, source: Path, work: Path) -> float:
    """`gdal_translate -of COG` with ingest's options, then a raw upload of the output."""
    out = work / "baseline-cog.tif"
    t0 = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=512):
        rasterio.shutil.copy(str(source), out, driver="COG", **COG_OPTIONS, NBITS="16")
    s3.fput_object("delivery", f"bench/{uuid.uuid4().hex}.tif", str(out), part_size=64 * MB)
    return time.perf_counter() - t0


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--cells", type=int, default=240)
    parser.add_argument("--cell-size", type=int, default=256)
    args = parser.parse_args()
    settings = ServiceSettings()
    s3 = clients.s3_client(settings, timeout_s=300)
    result: dict = {"machine": {"cpus": os.cpu_count()}}
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
