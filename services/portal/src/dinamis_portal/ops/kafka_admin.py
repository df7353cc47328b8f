"""The pipeline page's Kafka port and its adapter: consumer lag of the services' groups,
the dead-letter topics read page by page (newest first), one dead letter read back, and
a dead letter replayed to its original topic.

The adapter authenticates as the portal's own principal (`portal`), whose ACLs
(`dinamis_shared.acls.ops_console_acls`) let it DESCRIBE every registry topic and
service group, READ every `.dlq` topic and WRITE every event topic. It never joins a
service's consumer group: offsets are read with the admin API (OffsetFetch), records
with a consumer that has no group at all (manual assignment), so a service's committed
offsets and its group's membership are never touched. Clients are opened per call and
closed after (the console is used by a handful of operators)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dinamis_shared.acls import ARCHIVE_GROUP
from dinamis_shared.settings import ServiceSettings
from dinamis_shared.topics import CONSUMES, TOPICS, topic_for

log = logging.getLogger(__name__)

# The `.dlq` topics the console may read, and the event topics a replay may write to.
DLQ_TOPICS: tuple[str, ...] = tuple(sorted(spec.dlq for spec in TOPICS.values()))
EVENT_TOPICS: frozenset[str] = frozenset(TOPICS)
# (group, topic) pairs whose lag is shown: who consumes what in the registry, and the
# reporting's event archive (every registry topic).
GROUP_TOPICS: tuple[tuple[str, str], ...] = tuple(
    (group, topic_for(model).name) for group, models in sorted(CONSUMES.items()) for model in models
) + tuple((ARCHIVE_GROUP, name) for name in sorted(TOPICS))


@dataclass(frozen=True)
class Lag:
    group: str
    topic: str
    end: int  # sum of the partitions' end offsets
    committed: int | None  # sum of the group's committed offsets (None: nothing committed)
    lag: int  # records written and not yet committed by the group
    partitions: int


@dataclass(frozen=True)
class Record:
    """One Kafka record as read: its place, key, value and raw headers."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def at(self) -> datetime | None:
        if self.timestamp_ms is None or self.timestamp_ms < 0:
            return None
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


@dataclass(frozen=True)
class Page:
    """Records of one topic, newest first, and where the next (older) page starts: for
    each partition, the offset below which it goes on (`cursor`), None when none is left."""

    topic: str
    records: list[Record]
    total: int  # records still held by the topic (end - start, every partition)
    cursor: dict[int, int] | None = None
    bounds: dict[int, tuple[int, int]] = field(default_factory=dict)


class PipelineBus(Protocol):
    async def lags(self) -> list[Lag]:
        """Every service group's lag on each topic it consumes (GROUP_TOPICS)."""
        ...

    async def dlq_sizes(self) -> dict[str, int]:
        """How many records each `.dlq` topic holds now (DLQ_TOPICS)."""
        ...

    async def page(self, topic: str, before: dict[int, int] | None, limit: int) -> Page:
        """Records of `topic`, newest first: for each partition, those below `before`
        (its end when absent), at most `limit` in all."""
        ...

    async def read(self, topic: str, partition: int, offset: int) -> Record | None:
        """The record at (`topic`, `partition`, `offset`), None when there is none."""
        ...

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> tuple[int, int]:
        """Write one record (acks=all); its (partition, offset)."""
        ...


def merge_newest(per_partition: dict[int, list[Record]], before: dict[int, int], limit: int) -> list[Record]:
    """The `limit` newest records of several partitions (by timestamp, then offset)."""
    candidates = [
        r for p, records in per_partition.items() for r in records if r.offset < before.get(p, r.offset + 1)
    ]
    candidates.sort(key=lambda r: (r.timestamp_ms or 0, r.offset, r.partition), reverse=True)
    return candidates[:limit]


def page_ranges(
    bounds: dict[int, tuple[int, int]], before: dict[int, int] | None, limit: int
) -> tuple[dict[int, int], dict[int, tuple[int, int]]]:
    """Where this page starts in each partition (below `before`, else its end) and the
    offsets to read there: the `limit` last ones (the page takes the newest of all)."""
    start_at = {p: max(low, min((before or {}).get(p, high), high)) for p, (low, high) in bounds.items()}
    ranges = {
        p: (max(low, start_at[p] - limit), start_at[p]) for p, (low, _) in bounds.items() if start_at[p] > low
    }
    return start_at, ranges


def next_cursor(
    bounds: dict[int, tuple[int, int]], before: dict[int, int], taken: list[Record]
) -> dict[int, int] | None:
    """Where the next page starts: per partition, the lowest offset shown (or where this
    page started); None when every partition is exhausted."""
    cursor = {p: min(before.get(p, high), high) for p, (_, high) in bounds.items()}
    for record in taken:
        cursor[record.partition] = min(cursor[record.partition], record.offset)
    left = any(cursor[p] > low for p, (low, _) in bounds.items())
    return cursor if left else None


class KafkaPipelineBus:
    def __init__(self, settings: ServiceSettings, *, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s

    def _common(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.settings.kafka_bootstrap_servers,
            "client_id": f"{self.settings.client_id}-ops",
            "request_timeout_ms": int(self.timeout_s * 1000),
            **self.settings.kafka_auth(),
        }

    def _consumer(self) -> AIOKafkaConsumer:
        # group_id=None: no group joined, no offset ever committed.
        return AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_uncommitted",
            **self._common(),
        )

    async def _partitions(self, consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic)
        return [TopicPartition(topic, p) for p in sorted(parts or ())]

    async def _bounds(
        self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]
    ) -> dict[int, tuple[int, int]]:
        if not tps:
            return {}
        low = await consumer.beginning_offsets(tps)
        high = await consumer.end_offsets(tps)
        return {tp.partition: (low[tp], high[tp]) for tp in tps}

    async def lags(self) -> list[Lag]:
        admin = AIOKafkaAdminClient(**self._common())
        consumer = self._consumer()
        try:
            await admin.start()
            await consumer.start()
            topics = sorted({t for _, t in GROUP_TOPICS})
            tps = {t: await self._partitions(consumer, t) for t in topics}
            ends = await consumer.end_offsets([tp for parts in tps.values() for tp in parts])
            starts = await consumer.beginning_offsets([tp for parts in tps.values() for tp in parts])
            out = []
            groups = sorted({g for g, _ in GROUP_TOPICS})
            committed_by_group = await asyncio.gather(
                *(admin.list_consumer_group_offsets(g) for g in groups), return_exceptions=True
            )
            for group, committed in zip(groups, committed_by_group, strict=True):
                if isinstance(committed, BaseException):
                    log.warning("group offsets unreadable", extra={"group": group, "error": str(committed)})
                    committed = {}
                committed = {tp: c for tp, c in committed.items() if c.offset >= 0}
                for g, topic in GROUP_TOPICS:
                    if g != group:
                        continue
                    end = sum(ends[tp] for tp in tps[topic])
                    done = [committed[tp].offset for tp in tps[topic] if tp in committed]
                    lag = sum(
                        ends[tp] - (committed[tp].offset if tp in committed else starts[tp])
                        for tp in tps[topic]
                    )
                    out.append(
                        Lag(group, topic, end, sum(done) if done else None, max(0, lag), len(tps[topic]))
                    )
            return out
        finally:  # closed even when one of them failed to start
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await admin.close()

    async def dlq_sizes(self) -> dict[str, int]:
        consumer = self._consumer()
        await consumer.start()
        try:
            sizes = {}
            for topic in DLQ_TOPICS:
                bounds = await self._bounds(consumer, await self._partitions(consumer, topic))
                sizes[topic] = sum(high - low for low, high in bounds.values())
            return sizes
        finally:
            await consumer.stop()

    async def page(self, topic: str, before: dict[int, int] | None, limit: int) -> Page:
        consumer = self._consumer()
        await consumer.start()
        try:
            tps = await self._partitions(consumer, topic)
            bounds = await self._bounds(consumer, tps)
            total = sum(high - low for low, high in bounds.values())
            start_at, ranges = page_ranges(bounds, before, limit)
            wanted = {TopicPartition(topic, p): r for p, r in ranges.items()}
            per_partition = await self._read_ranges(consumer, wanted)
            taken = merge_newest(per_partition, start_at, limit)
            return Page(topic, taken, total, next_cursor(bounds, start_at, taken), bounds)
        finally:
            await consumer.stop()

    async def read(self, topic: str, partition: int, offset: int) -> Record | None:
        consumer = self._consumer()
        await consumer.start()
        try:
            tps = await self._partitions(consumer, topic)
            tp = TopicPartition(topic, partition)
            if tp not in tps:
                return None
            low, high = (await self._bounds(consumer, [tp]))[partition]
            if not low <= offset < high:
                return None
            found = await self._read_ranges(consumer, {tp: (offset, offset + 1)})
            return next((r for r in found.get(partition, []) if r.offset == offset), None)
        finally:
            await consumer.stop()

    async def _read_ranges(
        self, consumer: AIOKafkaConsumer, wanted: dict[TopicPartition, tuple[int, int]]
    ) -> dict[int, list[Record]]:
        """The records of each partition in [start, stop)."""
        out: dict[int, list[Record]] = {tp.partition: [] for tp in wanted}
        if not wanted:
            return out
        consumer.assign(list(wanted))
        for tp, (start, _) in wanted.items():
            consumer.seek(tp, start)
        pending = {tp for tp, (start, stop) in wanted.items() if start < stop}
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while pending and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(*pending, timeout_ms=500, max_records=500)
            for tp, messages in batch.items():
                stop = wanted[tp][1]
                for m in messages:
                    if m.offset < stop:
                        out[tp.partition].append(
                            Record(
                                m.topic,
                                m.partition,
                                m.offset,
                                m.timestamp,
                                m.key,
                                m.value or b"",
                                tuple((k, v or b"") for k, v in m.headers),
                            )
                        )
            for tp in list(pending):
                # transaction markers and compacted records leave gaps: the position says
                if await consumer.position(tp) >= wanted[tp][1]:
                    pending.discard(tp)
        return out

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> tuple[int, int]:
        producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **self._common())
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, value=value, key=key, headers=headers)
            return sent.partition, sent.offset
        finally:
            await producer.stop()
