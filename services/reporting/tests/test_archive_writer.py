"""The archive's writer, layout and lake on an in-memory object store (a fake of our own
port): idempotence by CloudEvents id, the rejected table, compaction, the lake's refresh."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, date, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from dinamis_reporting.archive.layout import EVENT_SCHEMA, Partition, parse_key
from dinamis_reporting.archive.store import StoredObject
from dinamis_reporting.archive.writer import ArchiveWriter, Record
from dinamis_reporting.lake import Lake
from dinamis_shared import cloudevents
from dinamis_shared.events import OrganisationChangedV1, RequestRejectedV1

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


class MemoryObjects:
    """The ObjectStore port in a dict; etags are the content's MD5, as S3's."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0

    async def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data
        self.puts += 1

    async def get(self, key: str) -> bytes:
        return self.objects[key]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def list(self, prefix: str = "") -> list[StoredObject]:
        return [
            StoredObject(k, hashlib.md5(v).hexdigest(), len(v))
            for k, v in sorted(self.objects.items())
            if k.startswith(prefix)
        ]


def org_event(n: int, when: datetime = T0, category: str = "french-research") -> OrganisationChangedV1:
    return OrganisationChangedV1(
        organisation_id=f"org-{n}",
        revision=1,
        name=f"Organisation {n}",
        category=category,
        status="active",
        department="69",
        changed_by="op",
        changed_at=when,
    )


def record(event, offset: int, *, when: datetime = T0, event_id: str | None = None, partition: int = 0):
    r = cloudevents.encode(event, source="/dinamis/orders", time=when, event_id=event_id)
    headers = [(k, v.encode()) for k, v in r.headers.items()]
    return Record(r.topic, partition, offset, r.key, r.value, headers, int(when.timestamp() * 1000))


def rows_of(store: MemoryObjects, key: str) -> list[dict]:
    return pq.read_table(io.BytesIO(store.objects[key])).to_pylist()


async def test_events_are_archived_unchanged_in_their_topic_and_day():
    store = MemoryObjects()
    records = [record(org_event(i), i) for i in range(3)]
    result = await ArchiveWriter(store).write(records)
    assert (result.written, result.duplicates, result.rejected) == (3, 0, 0)
    [key] = store.objects
    assert key.startswith("topic=dinamis.organisation-changed.v1/day=2025-03-01/part-")
    assert parse_key(key) == Partition("dinamis.organisation-changed.v1", date(2025, 3, 1))
    rows = rows_of(store, key)
    assert [r["data"].encode() for r in rows] == [r.value for r in records]  # the value, byte for byte
    assert {r["id"] for r in rows} == {dict(r.headers)["ce_id"].decode() for r in records}
    assert rows[0]["type"] == "fr.dinamis.organisation-changed.v1"
    assert rows[0]["time"] == T0 and rows[0]["key"] == "org-0"
    assert json.loads(rows[0]["headers"])["ce_source"] == "/dinamis/orders"
    # no topic/day columns in the file: the path holds them (Hive partitioning)
    assert "topic" not in pq.read_schema(io.BytesIO(store.objects[key])).names


async def test_the_day_is_the_events_own_time_not_the_archiving_time():
    store = MemoryObjects()
    late = T0 + timedelta(days=400)
    await ArchiveWriter(store).write([record(org_event(1), 0), record(org_event(2, late), 1, when=late)])
    days = sorted(parse_key(k).day for k in store.objects)  # type: ignore[union-attr]
    assert days == [date(2025, 3, 1), late.date()]


async def test_writing_the_same_events_again_writes_nothing():
    store = MemoryObjects()
    writer = ArchiveWriter(store)
    records = [record(org_event(i), i) for i in range(5)]
    await writer.write(records)
    before = dict(store.objects)
    again = await writer.write(records)
    assert (again.written, again.duplicates) == (0, 5)
    # a new writer (another replica, a restart) reads the ids back from the files
    fresh = ArchiveWriter(store)
    replay = await fresh.write(records)
    assert (replay.written, replay.duplicates) == (0, 5)
    assert store.objects == before
    # a batch mixing old and new writes only the new one
    mixed = await fresh.write([*records, record(org_event(9), 9)])
    assert (mixed.written, mixed.duplicates) == (1, 5)


async def test_the_same_id_twice_in_one_batch_is_written_once():
    store = MemoryObjects()
    records = [record(org_event(1), 0, event_id="same-id"), record(org_event(1), 1, event_id="same-id")]
    result = await ArchiveWriter(store).write(records)
    assert result.written == 1
    assert len(rows_of(store, next(iter(store.objects)))) == 1


async def test_records_that_are_not_events_of_their_topic_go_to_the_rejected_table():
    store = MemoryObjects()
    good = record(org_event(1), 0)
    wrong_topic = record(
        RequestRejectedV1(
            request_id="r1", organisation_id="org-1", rejected_by="op", reason="non", rejected_at=T0
        ),
        1,
    )
    hostile = [
        Record(good.topic, 0, 2, b"org-1", b"{not json", list(good.headers), 0),
        Record(good.topic, 0, 3, b"org-1", good.value, [], 0),  # no CloudEvents headers
        Record(good.topic, 0, 4, b"another-key", good.value, list(good.headers), 0),  # key mismatch
        Record(good.topic, 0, 5, b"org-1", b"\xff\xfe", [("ce_id", b"\xff")], 0),
        Record(good.topic, 0, 6, None, None, [], 0),
        Record(good.topic, 0, 7, wrong_topic.key, wrong_topic.value, list(wrong_topic.headers), 0),
    ]
    result = await ArchiveWriter(store).write([good, *hostile])
    assert (result.written, result.rejected) == (1, 6)
    rejected_keys = [k for k in store.objects if k.startswith("rejected/")]
    assert len(rejected_keys) == 1 and parse_key(rejected_keys[0]).rejected  # type: ignore[union-attr]
    rows = rows_of(store, rejected_keys[0])
    assert sorted(r["kafka_offset"] for r in rows) == [2, 3, 4, 5, 6, 7]
    by_offset = {r["kafka_offset"]: r for r in rows}
    assert by_offset[2]["value"] == b"{not json" and "json" in by_offset[2]["reason"].lower()
    assert "header" in by_offset[3]["reason"]
    assert by_offset[5]["value"] == b"\xff\xfe"  # kept byte for byte
    assert "ce_id" in json.loads(by_offset[5]["headers"])["archive_base64_headers"]
    assert "does not belong" in by_offset[7]["reason"]
    # the lake never reads the rejected table
    lake = Lake(store, ":memory:")
    await lake.refresh()
    assert lake.count() == 1


async def test_compaction_merges_a_days_files_into_one_without_duplicates():
    store = MemoryObjects()
    writer = ArchiveWriter(store)
    part = Partition("dinamis.organisation-changed.v1", date(2025, 3, 1))
    for i in range(4):
        await writer.write([record(org_event(i), i)])
    # a duplicate written by a replica that did not know the day's ids
    await ArchiveWriter(store).write([record(org_event(9), 9)])
    dup = record(org_event(0), 0)
    object.__setattr__(dup, "offset", 100)
    assert len(store.objects) == 5
    # forge a second file holding an id already archived (a crash between write and delete)
    first = sorted(store.objects)[0]
    store.objects[part.prefix + "part-" + "0" * 20 + ".parquet"] = store.objects[first]
    merged = await writer.compact(part)
    assert merged is not None and list(store.objects) == [merged]
    rows = rows_of(store, merged)
    assert len(rows) == len({r["id"] for r in rows}) == 5
    assert await writer.compact(part) is None  # one file: nothing to do


async def test_the_lake_follows_the_bucket_and_never_counts_an_event_twice():
    store = MemoryObjects()
    writer = ArchiveWriter(store)
    lake = Lake(store, ":memory:")
    await writer.write([record(org_event(i), i) for i in range(3)])
    first = await lake.refresh()
    assert (first.loaded, first.events) == (1, 3)
    # a copy of the same file under another name (a crash before a compaction's delete)
    key = next(iter(store.objects))
    store.objects[key.replace(key[-28:-8], "f" * 20)] = store.objects[key]
    second = await lake.refresh()
    assert (second.loaded, second.events) == (1, 3)
    # compaction: one file holding those ids, named by them (the original's name)
    assert await writer.compact(parse_key(key)) == key  # type: ignore[arg-type]
    third = await lake.refresh()
    assert list(store.objects) == [key]
    assert third.dropped == 1 and third.events == 3
    assert (await lake.refresh()).loaded == 0  # nothing changed
    cur = lake.cursor()
    assert cur.execute("SELECT topic, day::VARCHAR FROM events LIMIT 1").fetchone() == (
        "dinamis.organisation-changed.v1",
        "2025-03-01",
    )


async def test_the_lake_is_a_cache_rebuilt_from_the_bucket(tmp_path):
    store = MemoryObjects()
    await ArchiveWriter(store).write([record(org_event(i), i) for i in range(4)])
    lake = Lake(store, tmp_path / "lake.duckdb")
    await lake.refresh()
    lake.con.close()
    (tmp_path / "lake.duckdb").unlink()
    rebuilt = Lake(store, tmp_path / "lake.duckdb")
    assert (await rebuilt.refresh()).events == 4


def test_layout_refuses_foreign_keys_and_names():
    assert parse_key("topic=x/day=2025-13-01/part-" + "0" * 20 + ".parquet") is None
    assert parse_key("topic=../x/day=2025-01-01/part-" + "0" * 20 + ".parquet") is None
    assert parse_key("elsewhere/file.parquet") is None
    with pytest.raises(ValueError):
        Partition("../etc", date(2025, 1, 1))
    assert EVENT_SCHEMA.field("data").nullable is False
