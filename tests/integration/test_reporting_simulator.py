"""The activity simulator on the real bus, archived by the real reporting archive.

A reduced run (one year, 30 organisations) is published on the real Kafka; the real
`ArchiveConsumer` + `ArchiveWriter` (in-process, as the `reporting` principal, in its own
group `reporting-archive`, with its S3 key on the real bucket `events`) archives it:
every event lands exactly once, unchanged, in the file of its (topic, day). The same run
published again archives nothing new. Then the benchmark's quick run (`bench/reporting
--quick`) on the same stack: the shape of its JSON and figures that add up (not timing).

The seed is new at each test run, so the first publish's events are new to the archive
(a kept stack's archive holds the earlier runs')."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from aiokafka import TopicPartition

from dinamis_reporting.archive.consumer import ArchiveConsumer
from dinamis_reporting.archive.layout import Partition, parse_key
from dinamis_reporting.archive.store import S3ObjectStore
from dinamis_reporting.archive.writer import ArchiveWriter, WriteResult
from dinamis_reporting.indicators.engine import Indicators
from dinamis_reporting.settings import ReportingSettings
from dinamis_shared import clients
from dinamis_shared.settings import ServiceSettings
from dinamis_shared.topics import TOPICS
from dinamis_sim.activity import SimRecord, publish, simulate

ROOT = Path(__file__).resolve().parents[2]
SEED = 100_000 + int(time.time()) % 1_000_000


class CountingWriter(ArchiveWriter):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.total = WriteResult()

    async def write(self, records):
        result = await super().write(records)
        self.total.written += result.written
        self.total.duplicates += result.duplicates
        self.total.rejected += result.rejected
        return result


@pytest.fixture(scope="module")
def records() -> list[SimRecord]:
    return simulate(years=[2026], organisations=30, seed=SEED)


async def end_offsets(consumer) -> dict[TopicPartition, int]:
    parts = [TopicPartition(t, p) for t in sorted(TOPICS) for p in consumer.partitions_for_topic(t) or ()]
    return await consumer.end_offsets(parts)


async def drained(archive: ArchiveConsumer, ends: dict[TopicPartition, int], timeout_s: float) -> None:
    """Until the archive's group has committed every record up to `ends`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        kc = archive.consumer
        if kc is not None and kc.assignment():
            committed = {tp: (await kc.committed(tp)) or 0 for tp in ends}
            if all(committed[tp] >= end for tp, end in ends.items()):
                return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the archive did not commit up to the end offsets in {timeout_s} s")


async def archived_rows(
    store: S3ObjectStore, partitions: set[Partition]
) -> tuple[list[dict], dict[str, str]]:
    rows, files = [], {}
    for part in sorted(partitions):
        for obj in await store.list(part.prefix):
            if parse_key(obj.key) == part:
                files[obj.key] = obj.etag
                table = pq.read_table(
                    io.BytesIO(await store.get(obj.key)), columns=["id", "data", "time", "type"]
                )
                rows += table.to_pylist()
    return rows, files


@pytest.mark.timeout(900)
async def test_simulated_run_is_archived_exactly_once_and_a_replay_adds_nothing(records):
    settings = ReportingSettings(archive_batch_s=0.5)  # the `reporting` principal and S3 key
    assert settings.kafka_sasl_username in ("", "reporting") and settings.archive_group == "reporting-archive"
    store = S3ObjectStore(clients.s3_client(settings), settings.events_bucket)
    writer = CountingWriter(store)
    archive = ArchiveConsumer(writer, settings)
    task = asyncio.create_task(archive.run())
    admin = ServiceSettings()
    by_id = {r.headers["ce_id"]: r for r in records}
    assert len(by_id) == len(records)
    partitions = {Partition(r.topic, r.time.astimezone(UTC).date()) for r in records}
    try:
        published = await publish(records, admin)
        assert published["published"] == len(records)
        while archive.consumer is None or not archive.consumer.assignment():
            assert not task.done(), task.exception()
            await asyncio.sleep(0.2)
        ends = await end_offsets(archive.consumer)
        await drained(archive, ends, 840)
        rows, files = await archived_rows(store, partitions)
        ours = [r for r in rows if r["id"] in by_id]
        # every event exactly once, unchanged, at its simulated time, in its (topic, day)
        counts = Counter(r["id"] for r in ours)
        assert set(counts) == set(by_id)
        assert set(counts.values()) == {1}
        for row in ours:
            record = by_id[row["id"]]
            assert row["data"] == record.value.decode()
            assert row["time"] == record.time
            assert row["type"] == record.headers["ce_type"]
        assert writer.total.written >= len(records)
        assert writer.total.rejected == 0

        # The same run again: read, recognised, nothing new in the bucket.
        duplicates_before = writer.total.duplicates
        await publish(records, admin)
        ends = await end_offsets(archive.consumer)
        await drained(archive, ends, 300)
        rows_again, files_again = await archived_rows(store, partitions)
        assert files_again == files
        assert len(rows_again) == len(rows)
        assert writer.total.duplicates - duplicates_before >= len(records)
    finally:
        archive.stop()
        await asyncio.wait_for(task, 30)


@pytest.mark.timeout(600)
def test_bench_quick_run(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [str(ROOT / "bench" / "reporting"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=580,
        env=os.environ,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert json.loads(done.stdout) == result
    # What the quick run simulates, computed here from the simulator itself.
    expected = simulate(years=[2026], organisations=30, seed=1)
    sim = result["simulation"]
    assert sim["years"] == [2026] and sim["organisations"] == 30
    assert sim["events"] == len(expected)
    assert sim["by_topic"] == dict(sorted(Counter(r.topic for r in expected).items()))
    bus, archived = result["bus"], result["archive"]
    assert bus["published"] == len(expected)
    # the fresh group read exactly this run's records, and the fresh bucket got them all
    assert archived["records_read"] == len(expected)
    assert archived["events_written"] == len(expected)
    assert archived["duplicates"] == 0 and archived["rejected"] == 0
    days = {(r.topic, r.time.date()) for r in expected}
    assert archived["files_written"] >= len(days)  # one file per (topic, day) at least
    assert archived["records_per_s"] == pytest.approx(len(expected) / archived["seconds"], rel=0.01)
    assert result["ratio_archive_to_bus"] == pytest.approx(
        archived["records_per_s"] / bus["events_per_s"], abs=1e-4
    )
    compute = result["compute"]
    assert compute["lake"]["events"] == len(expected)
    assert compute["lake"]["files"] == archived["files_written"]
    names = sorted(Indicators().catalogue)
    assert sorted(compute["per_indicator"]) == names and compute["indicators"] == len(names)
    for entry in compute["per_indicator"].values():
        assert entry["full_s"] >= 0 and entry["none_s"] >= 0
        assert entry["none_rows"] == 1  # no breakdown: one row
    assert compute["total_s"] >= sum(e["full_s"] + e["none_s"] for e in compute["per_indicator"].values())
    assert datetime.fromisoformat(result["date"]).tzinfo is not None
