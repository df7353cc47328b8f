"""Writes Kafka records to the archive: each valid CloudEvent of its topic, unchanged,
in the Parquet file of its (topic, day); anything else in the `rejected/` table with
the reason. Idempotent by CloudEvents id: the ids each (topic, day) already holds are
read from its files (the `id` column only) the first time it is written to, so an
event read again (a replay from offset 0, a redelivery after a crash, an outbox
re-publish) is not written again. `forget()` drops those ids (on a partition
rebalance, another replica may have written meanwhile); readers deduplicate too.

`compact()` merges the files of one (topic, day) into one, deduplicated."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dinamis_reporting.archive.layout import (
    EVENT_SCHEMA,
    PARQUET_COMPRESSION,
    REJECTED_SCHEMA,
    Partition,
    parse_key,
)
from dinamis_reporting.archive.store import ObjectStore
from dinamis_shared import cloudevents
from dinamis_shared.errors import MalformedEvent
from dinamis_shared.topics import TOPICS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """What the archive needs of a Kafka record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    timestamp_ms: int | None = None


@dataclass
class WriteResult:
    written: int = 0  # new events archived
    duplicates: int = 0  # events the archive already held
    rejected: int = 0  # records archived in `rejected/`
    files: list[str] = field(default_factory=list)


def _headers_json(headers: Sequence[tuple[str, bytes]]) -> str:
    out: dict[str, str] = {}
    b64: list[str] = []
    for name, value in headers:
        raw = bytes(value or b"")
        try:
            out[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            out[name] = base64.b64encode(raw).decode()
            b64.append(name)
    if b64:
        out["archive_base64_headers"] = ",".join(b64)
    return json.dumps(out, ensure_ascii=False, sort_keys=True)


def _kafka_time(record: Record) -> datetime | None:
    if record.timestamp_ms is None or record.timestamp_ms < 0:
        return None
    return datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)


def _day(when: datetime | None) -> date:
    return (when or datetime.now(UTC)).astimezone(UTC).date()


def to_parquet(rows: list[dict[str, Any]], schema: pa.Schema) -> bytes:
    table = pa.Table.from_pylist(rows, schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION)
    return sink.getvalue()


class ArchiveWriter:
    def __init__(self, store: ObjectStore, *, max_known_ids: int = 2_000_000, concurrency: int = 16) -> None:
        self.store = store
        self.max_known_ids = max_known_ids
        # (topic, day) -> the event ids its files hold (least recently used first).
        self._known: OrderedDict[Partition, set[str]] = OrderedDict()
        self._known_total = 0
        # topic -> the keys of its files, by day (one listing per topic, kept up to date
        # by this writer): a day without files needs no request to know it holds nothing.
        self._files: dict[str, dict[date, list[str]]] = {}
        self._listing: dict[str, asyncio.Lock] = {}
        self._slots = asyncio.Semaphore(concurrency)

    def forget(self) -> None:
        """Drop what this writer knows of the store (another replica may write now)."""
        self._known.clear()
        self._known_total = 0
        self._files.clear()

    async def _files_of(self, topic: str) -> dict[date, list[str]]:
        files = self._files.get(topic)
        if files is not None:
            return files
        async with self._listing.setdefault(topic, asyncio.Lock()):
            if topic in self._files:  # listed meanwhile by a concurrent caller
                return self._files[topic]
            files = {}
            for obj in await self.store.list(Partition(topic, date(2000, 1, 1)).topic_prefix):
                part = parse_key(obj.key)
                if part is not None and part.topic == topic and not part.rejected:
                    files.setdefault(part.day, []).append(obj.key)
            self._files[topic] = files
            return files

    async def _ids_of(self, partition: Partition) -> set[str]:
        known = self._known.get(partition)
        if known is not None:
            self._known.move_to_end(partition)
            return known
        ids: set[str] = set()
        for key in list((await self._files_of(partition.topic)).get(partition.day, ())):
            async with self._slots:
                data = await self.store.get(key)
            ids.update(pq.read_table(io.BytesIO(data), columns=["id"]).column("id").to_pylist())
        if partition in self._known:  # filled meanwhile by a concurrent caller
            return self._known[partition]
        self._known[partition] = ids
        self._known_total += len(ids)
        while self._known_total > self.max_known_ids and len(self._known) > 1:
            _, dropped = self._known.popitem(last=False)
            self._known_total -= len(dropped)
        return ids

    async def _write_events(
        self, part: Partition, rows: dict[str, dict[str, Any]], result: WriteResult
    ) -> None:
        known = await self._ids_of(part)
        new = [r for i, r in rows.items() if i not in known]
        result.duplicates += len(rows) - len(new)
        if not new:
            return
        key = part.key_for(r["id"] for r in new)
        data = await asyncio.to_thread(to_parquet, new, EVENT_SCHEMA)
        async with self._slots:
            await self.store.put(key, data)
        known.update(r["id"] for r in new)
        self._known_total += len(new)
        self._files.setdefault(part.topic, {}).setdefault(part.day, []).append(key)
        result.written += len(new)
        result.files.append(key)

    async def _write_rejected(
        self, part: Partition, letters: list[dict[str, Any]], result: WriteResult
    ) -> None:
        key = part.key_for(r["id"] for r in letters)
        data = await asyncio.to_thread(to_parquet, letters, REJECTED_SCHEMA)
        async with self._slots:
            await self.store.put(key, data)
        result.rejected += len(letters)
        result.files.append(key)

    async def write(self, records: Iterable[Record]) -> WriteResult:
        """Archive a batch; returns once every file is in the store (then the offsets
        may be committed). Raises when the store fails: nothing is committed."""
        now = datetime.now(UTC)
        events: dict[Partition, dict[str, dict[str, Any]]] = {}
        rejected: dict[Partition, list[dict[str, Any]]] = {}
        result = WriteResult()
        for record in records:
            row, reason = self._event_row(record, now)
            if row is None:
                when = _kafka_time(record)
                part = Partition(record.topic, _day(when), rejected=True)
                rejected.setdefault(part, []).append(
                    {
                        "id": f"{record.partition}:{record.offset}",
                        "reason": reason,
                        "key": record.key,
                        "headers": _headers_json(record.headers),
                        "value": record.value,
                        "kafka_partition": record.partition,
                        "kafka_offset": record.offset,
                        "kafka_timestamp": when,
                        "archived_at": now,
                    }
                )
                continue
            part = Partition(record.topic, _day(row["time"] or row["kafka_timestamp"]))
            events.setdefault(part, {}).setdefault(row["id"], row)
        # every (topic, day) at once, a bounded number of requests in flight; any failure
        # fails the batch (its offsets are not committed: it is read again)
        await asyncio.gather(
            *(self._write_events(part, rows, result) for part, rows in sorted(events.items())),
            *(self._write_rejected(part, letters, result) for part, letters in sorted(rejected.items())),
        )
        result.files.sort()
        return result

    @staticmethod
    def _event_row(record: Record, now: datetime) -> tuple[dict[str, Any] | None, str]:
        spec = TOPICS.get(record.topic)
        if spec is None:
            return None, f"topic {record.topic!r} is not in the registry"
        try:
            envelope = cloudevents.decode(record.headers, record.value, expected=spec.model, key=record.key)
        except MalformedEvent as exc:
            return None, f"{exc.code}: {exc}"[:2000]
        assert record.value is not None  # decode refuses an empty value
        return {
            "id": envelope.id,
            "source": envelope.source,
            "type": envelope.type,
            "subject": envelope.subject,
            "time": envelope.time,
            "key": record.key.decode("utf-8", "replace") if record.key is not None else None,
            "headers": _headers_json(record.headers),
            "data": record.value.decode("utf-8"),
            "kafka_partition": record.partition,
            "kafka_offset": record.offset,
            "kafka_timestamp": _kafka_time(record),
            "archived_at": now,
        }, ""

    async def compact(self, partition: Partition) -> str | None:
        """Merge the files of one (topic, day) into one, each event once (the earliest
        archived copy); returns the new file's key, None when there was nothing to merge.
        The merged file is written before the others are deleted: a crash in between
        leaves duplicates that readers drop and the next compaction removes."""
        keys = [o.key for o in await self.store.list(partition.prefix) if parse_key(o.key) == partition]
        if len(keys) < 2:
            return None
        schema = REJECTED_SCHEMA if partition.rejected else EVENT_SCHEMA
        tables = [pq.read_table(io.BytesIO(await self.store.get(k)), schema=schema) for k in keys]
        rows: dict[str, dict[str, Any]] = {}
        for row in sorted(
            pa.concat_tables(tables).to_pylist(), key=lambda r: (r["archived_at"], r["kafka_offset"])
        ):
            rows.setdefault(row["id"], row)
        merged = partition.key_for(rows)
        ordered = sorted(rows.values(), key=lambda r: (r["kafka_partition"], r["kafka_offset"]))
        await self.store.put(merged, to_parquet(ordered, schema))
        for key in keys:
            if key != merged:
                await self.store.delete(key)
        if not partition.rejected:
            if partition in self._known:
                self._known_total -= len(self._known.pop(partition))
            self._known[partition] = set(rows)
            self._known_total += len(rows)
            if partition.topic in self._files:
                self._files[partition.topic][partition.day] = [merged]
        log.info("archive: compacted", extra={"partition": partition.prefix, "files": len(keys)})
        return merged
