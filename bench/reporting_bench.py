"""Reporting benchmark, in one run on the real stack; prints JSON (and writes it with --out).

The data: five years of simulated DINAMIS activity (`dinamis_sim.activity`, default
2022-2026, 450 organisations, seed 1).

1. Archive write rate vs the bus rate, same run:
   - bus: the simulated events published on Kafka as the stack tools' `admin`
     principal (batched sends, acks=all, idempotent producer): events/s acknowledged;
   - archive: the real `ArchiveConsumer` + `ArchiveWriter` (the reporting service's own
     settings: batches of `archive_batch_records`, `archive_batch_s`) in a fresh consumer
     group, writing to a fresh bucket on the real S3 (SeaweedFS), until its committed
     offsets reach the topics' end offsets after the publish: records/s read and
     archived (records published meanwhile by others are read and counted too). The
     group starts at this run's first record (`--start run`, the default: on a fresh
     stack, offset 0) or at offset 0 of every topic (`--start 0`: earlier runs' records
     too, deduplicated by id). Ratio archive/bus.
2. Indicators over those five years: the lake (`dinamis_reporting.lake.Lake`, a fresh
   DuckDB file) refreshed from the bucket (timed apart), then every indicator of the
   catalogue computed with its full breakdown (every dimension it declares) and with
   none: total seconds (target ≤ 10 s) and per indicator.

    bench/reporting                       # the full run; JSON also to docs/bench-reporting-<date>.json
    bench/reporting --quick --out x.json  # 1 year, 30 organisations (the test's run)

The fresh group is read as `admin` (the `reporting` principal may use its own group
only); the bucket `events-bench` is emptied first (admin S3 key), never the service's
`events`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("DINAMIS_ENVIRONMENT", "development")

from aiokafka import AIOKafkaConsumer, TopicPartition

from dinamis_reporting.archive.consumer import ArchiveConsumer
from dinamis_reporting.archive.store import S3ObjectStore
from dinamis_reporting.archive.writer import ArchiveWriter, WriteResult
from dinamis_reporting.indicators.engine import Indicators, Query
from dinamis_reporting.lake import Lake
from dinamis_reporting.settings import ReportingSettings
from dinamis_shared import clients
from dinamis_shared.settings import ADMIN_PRINCIPAL, ServiceSettings, dev_kafka_password
from dinamis_shared.topics import TOPICS
from dinamis_sim.activity import parse_years, publish, simulate, summary

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "events-bench"


class CountingWriter(ArchiveWriter):
    """The real writer, adding up what each batch did."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.total = WriteResult()
        self.batches = 0
        self.seen = 0  # records read (this run's, and any published meanwhile)

    async def write(self, records):  # type: ignore[no-untyped-def]
        records = list(records)
        self.seen += len(records)
        result = await super().write(records)
        self.total.written += result.written
        self.total.duplicates += result.duplicates
        self.total.rejected += result.rejected
        self.total.files += result.files
        self.batches += 1
        return result


def fresh_bucket(admin: ServiceSettings) -> None:
    s3 = clients.s3_client(admin)
    if s3.bucket_exists(BUCKET):
        names = [o.object_name for o in s3.list_objects(BUCKET, recursive=True) if o.object_name]
        from minio.deleteobjects import DeleteObject

        for error in s3.remove_objects(BUCKET, [DeleteObject(n) for n in names]):
            raise RuntimeError(f"could not empty {BUCKET}: {error}")
    else:
        s3.make_bucket(BUCKET)


async def offsets(admin: ServiceSettings) -> tuple[dict[TopicPartition, int], int]:
    """Every registry topic's end offsets, and how many records the topics hold."""
    probe = AIOKafkaConsumer(bootstrap_servers=admin.kafka_bootstrap_servers, **admin.kafka_auth())
    await probe.start()
    try:
        cluster = await probe._client.fetch_all_metadata()
        parts = [TopicPartition(t, p) for t in sorted(TOPICS) for p in cluster.partitions_for_topic(t) or ()]
        if len({tp.topic for tp in parts}) != len(TOPICS):
            raise RuntimeError("the bus does not hold every registry topic")
        ends = await probe.end_offsets(parts)
        begins = await probe.beginning_offsets(parts)
        return {tp: ends[tp] for tp in parts}, sum(ends[tp] - begins[tp] for tp in parts)
    finally:
        await probe.stop()


async def commit_offsets(admin: ServiceSettings, group: str, at: dict[TopicPartition, int]) -> None:
    """Give the fresh group its starting offsets (where this run's records begin)."""
    c = AIOKafkaConsumer(
        bootstrap_servers=admin.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        **admin.kafka_auth(),
    )
    await c.start()
    try:
        c.assign(list(at))
        await c.commit(dict(at))
    finally:
        await c.stop()


async def archive(group: str, ends: dict[TopicPartition, int], held: int, timeout_s: float) -> dict[str, Any]:
    settings = ReportingSettings(
        kafka_sasl_username=ADMIN_PRINCIPAL,
        kafka_sasl_password=dev_kafka_password(ADMIN_PRINCIPAL),
        archive_group=group,
    )
    writer = CountingWriter(S3ObjectStore(clients.s3_client(ServiceSettings()), BUCKET))  # admin key
    consumer = ArchiveConsumer(writer, settings)
    t0 = time.perf_counter()
    task = asyncio.create_task(consumer.run())
    try:
        while True:
            await asyncio.sleep(0.25)
            if task.done():
                task.result()
            if time.perf_counter() - t0 > timeout_s:
                raise TimeoutError(f"the archive did not catch up in {timeout_s} s")
            kc = consumer.consumer
            if kc is None or not kc.assignment():
                continue
            committed = {tp: (await kc.committed(tp)) or 0 for tp in ends}
            if all(committed[tp] >= end for tp, end in ends.items()):
                break
        seconds = time.perf_counter() - t0
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 30)
    read = writer.seen
    return {
        "group": settings.archive_group,
        "bucket": BUCKET,
        "batch_records": settings.archive_batch_records,
        "batch_s": settings.archive_batch_s,
        "records_of_this_run": held,
        "records_read": read,
        "events_written": writer.total.written,
        "duplicates": writer.total.duplicates,
        "rejected": writer.total.rejected,
        "files_written": len(writer.total.files),
        "batches": writer.batches,
        "seconds": round(seconds, 3),
        "records_per_s": round(read / seconds, 1),
    }


async def indicators(admin: ServiceSettings, threads: int) -> dict[str, Any]:
    store = S3ObjectStore(clients.s3_client(admin), BUCKET)
    with tempfile.TemporaryDirectory(prefix="bench-lake-") as tmp:
        lake = Lake(store, Path(tmp) / "lake.duckdb", threads=threads)
        refreshed = await lake.refresh()
        catalogue = Indicators()
        t0 = time.perf_counter()
        catalogue.prepare(lake.con)
        prepare_s = time.perf_counter() - t0
        per: dict[str, Any] = {}
        for name, ind in sorted(catalogue.catalogue.items()):
            entry: dict[str, Any] = {"dimensions": list(ind.dimensions)}
            for label, by in (("full", tuple(ind.dimensions)), ("none", ())):
                t = time.perf_counter()
                result = catalogue.compute(lake.cursor(), name, Query(by=by))
                entry[f"{label}_s"] = round(time.perf_counter() - t, 4)
                entry[f"{label}_rows"] = len(result.rows)
                entry[f"{label}_suppressed"] = result.suppressed
            per[name] = entry
        total = time.perf_counter() - t0
        lake.con.close()
    return {
        "lake": {
            "files": refreshed.loaded,
            "events": refreshed.events,
            "refresh_s": round(refreshed.seconds, 3),
        },
        "indicators": len(per),
        "prepare_s": round(prepare_s, 4),
        "total_s": round(total, 3),
        "target_s": 10.0,
        "per_indicator": per,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    admin = ServiceSettings()
    years = parse_years(args.years)
    t0 = time.perf_counter()
    records = simulate(years, args.organisations, args.seed)
    simulated_s = time.perf_counter() - t0
    fresh_bucket(admin)
    before, _ = await offsets(admin)
    bus = await publish(records, admin)
    ends, held = await offsets(admin)
    group = f"bench-reporting-{uuid.uuid4().hex[:8]}"
    if args.start == "run":  # the fresh group starts where this run's records begin
        await commit_offsets(admin, group, before)
        held = sum(ends[tp] - before.get(tp, 0) for tp in ends)
    archived = await archive(group, ends, held, args.timeout)
    computed = await indicators(admin, args.threads)
    return {
        "bench": "reporting",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "simulation": {
            "years": list(years),
            "organisations": args.organisations,
            "seed": args.seed,
            "seconds": round(simulated_s, 3),
        }
        | summary(records),
        "bus": bus,
        "archive": archived,
        "ratio_archive_to_bus": round(archived["records_per_s"] / bus["events_per_s"], 4),
        "compute": computed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--years", default="2022-2026")
    parser.add_argument("--organisations", type=int, default=450)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="1 year (2026), 30 organisations")
    parser.add_argument(
        "--start",
        choices=["run", "0"],
        default="run",
        help="where the archive's fresh group starts: this run's first record (default; on a fresh"
        " stack the same as offset 0) or offset 0 of every topic (every earlier run's records too)",
    )
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (the service's default)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds the archive may take")
    parser.add_argument(
        "--out", help="write the JSON here (default, full run: docs/bench-reporting-<date>.json)"
    )
    args = parser.parse_args()
    if args.quick:
        args.years, args.organisations = "2026", 30
    result = asyncio.run(run(args))
    default = ROOT / "docs" / f"bench-reporting-{datetime.now(UTC):%Y-%m-%d}.json"
    out = args.out or (None if args.quick else str(default))
    text = json.dumps(result, indent=1, ensure_ascii=False)
    if out:
        Path(out).write_text(text + "\n")
    print(text)
    sys.exit(0)


if __name__ == "__main__":
    main()
