"""Writes Kafka records to the archive: each valid CloudEvent of its topic, unchanged,
in the Parquet file of its (topic, day); anything else in the `rejected/` table with
the reason. Idempotent by CloudEvents id: the ids each (topic, day) already holds are
read from its files (the `id` column only) the first time it is written to, so an
event read again (a replay from offset 0, a redelivery after a crash, an outbox
re-publish) is not written again. `forget()` drops those ids (on a partition
rebalance, another replica may have written meanwhile); readers deduplicate too.

`compact()` merges the files of one (topic, day) into one, deduplicated."""

from __future__ import annotations

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
    def __init__(self, store: ObjectStore, *, max_known_ids: int = 2_000_000) -> None:
        self.store = store
        self.max_known_ids = max_known_ids
        # (topic, day) -> the event ids its files hold (least recently used first).
        self._known: OrderedDict[Partition, set[str]] = OrderedDict()

    def forget(self) -> None:
        self._known.clear()

    async def _ids_of(self, partition: Partition) -> set[str]:
        known = self._known.get(partition)
        if known is not None:
            self._known.move_to_end(partition)
            return known
        ids: set[str] = set()
        for obj in await self.store.list(partition.prefix):
            if parse_key(obj.key) == partition:
                data = await self.store.get(obj.key)
                ids.update(pq.read_table(io.BytesIO(data), columns=["id"]).column("id").to_pylist())
        self._known[partition] = ids
        while sum(len(v) for v in self._known.values()) > self.max_known_ids and len(self._known) > 1:
            self._known.popitem(last=False)
        return ids

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
        for part, rows in sorted(events.items()):
            known = await self._ids_of(part)
            new = [r for i, r in rows.items() if i not in known]
            result.duplicates += len(rows) - len(new)
            if not new:
                continue
            key = part.key_for(r["id"] for r in new)
            await self.store.put(key, to_parquet(new, EVENT_SCHEMA))
            known.update(r["id"] for r in new)
            result.written += len(new)
            result.files.append(key)
        for part, letters in sorted(rejected.items()):
            key = part.key_for(r["id"] for r in letters)
            await self.store.put(key, to_parquet(letters, REJECTED_SCHEMA))
            result.rejected += len(letters)
            result.files.append(key)
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
            self._known[partition] = set(rows)
        log.info("archive: compacted", extra={"partition": partition.prefix, "files": len(keys)})
        return merged
