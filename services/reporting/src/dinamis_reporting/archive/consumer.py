"""The archive's consumer: every registry topic (never a dead-letter topic), group
`reporting-archive`, as the `reporting` principal (`dinamis_shared.acls.archive_acls`).

Records are gathered into batches (up to `archive_batch_records`, or
`archive_batch_s` seconds), written to the object store, and only then are their
offsets committed: at-least-once, made exactly-once in the archive by the writer's
ids. A store or Kafka failure restarts the loop after the shared backoff; the
uncommitted batch is read again."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from prometheus_client import Counter, Gauge

from dinamis_reporting.archive.layout import parse_key
from dinamis_reporting.archive.writer import ArchiveWriter, Record
from dinamis_reporting.settings import ReportingSettings
from dinamis_shared.retry import Backoff, retry
from dinamis_shared.topics import TOPICS

log = logging.getLogger(__name__)

ARCHIVED = Counter("dinamis_archive_records_total", "Records read by the event archive", ["topic", "outcome"])
LAST_BATCH = Gauge("dinamis_archive_last_batch_unixtime", "When the archive last committed a batch")


class _Forget(ConsumerRebalanceListener):
    def __init__(self, writer: ArchiveWriter) -> None:
        self.writer = writer

    async def on_partitions_revoked(self, revoked: object) -> None:
        self.writer.forget()

    async def on_partitions_assigned(self, assigned: object) -> None:
        self.writer.forget()


class ArchiveConsumer:
    def __init__(self, writer: ArchiveWriter, settings: ReportingSettings) -> None:
        self.writer = writer
        self.settings = settings
        self.consumer: AIOKafkaConsumer | None = None
        self._stopping = False
        self.batches = 0

    async def run(self) -> None:
        await retry(
            self._consume,
            retry_if=lambda exc: not self._stopping,
            backoff=Backoff(base=0.5, cap=30.0),
            what="event archive consumer",
        )

    def stop(self) -> None:
        self._stopping = True

    async def _consume(self) -> None:
        s = self.settings
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            group_id=s.archive_group,
            client_id=f"{s.client_id}-archive",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            **s.kafka_auth(),
        )
        self.consumer.subscribe(sorted(TOPICS), listener=_Forget(self.writer))
        await self.consumer.start()
        try:
            while not self._stopping:
                batch: list[Record] = []
                deadline = time.monotonic() + s.archive_batch_s
                while len(batch) < s.archive_batch_records and not self._stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    fetched = await self.consumer.getmany(
                        timeout_ms=int(min(left, 0.5) * 1000),
                        max_records=s.archive_batch_records - len(batch),
                    )
                    for records in fetched.values():
                        batch.extend(
                            Record(
                                r.topic, r.partition, r.offset, r.key, r.value, list(r.headers), r.timestamp
                            )
                            for r in records
                        )
                    if batch and not fetched:
                        break  # the topics are drained for now: write what we have
                if not batch:
                    continue
                result = await self.writer.write(batch)
                await self.consumer.commit()
                self.batches += 1
                LAST_BATCH.set(time.time())
                counts: dict[tuple[str, str], int] = defaultdict(int)
                for record in batch:
                    counts[(record.topic, "read")] += 1
                for (topic, outcome), n in counts.items():
                    ARCHIVED.labels(topic, outcome).inc(n)
                ARCHIVED.labels("*", "written").inc(result.written)
                ARCHIVED.labels("*", "duplicate").inc(result.duplicates)
                ARCHIVED.labels("*", "rejected").inc(result.rejected)
        finally:
            with contextlib.suppress(Exception):
                await self.consumer.stop()


async def compaction_pass(writer: ArchiveWriter) -> int:
    """Compact every (topic, day) of a past UTC day that has more than one file."""
    today = datetime.now(UTC).date()
    counts: dict = defaultdict(int)
    for obj in await writer.store.list(""):
        part = parse_key(obj.key)
        if part is not None and part.day < today:
            counts[part] += 1
    done = 0
    for part, n in sorted(counts.items()):
        if n > 1 and await writer.compact(part):
            done += 1
    return done
