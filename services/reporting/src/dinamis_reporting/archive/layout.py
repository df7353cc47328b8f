"""The event archive's layout in the object store (bucket `events`): one table of
CloudEvents, Hive-partitioned by topic and day, in Parquet.

    events/topic=<topic>/day=<YYYY-MM-DD>/part-<hash>.parquet
    events/rejected/topic=<topic>/day=<YYYY-MM-DD>/part-<hash>.parquet

`day` is the UTC day of the event's `ce_time` (the time its producer gives it, so a
replay of the same event lands in the same day), or of the Kafka record's timestamp when
the event has no `ce_time`. A file's name is a hash of the ids it holds: writing the same
events again writes the same object. The files hold no `topic` or `day` column: lake
engines (DuckDB, Trino, Spark) read them from the path, as Hive partition columns.

The `rejected/` table keeps, unchanged, every record of an event topic that is not a
valid CloudEvent of that topic (with the reason), so nothing read is lost; indicators
never read it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import pyarrow as pa

PARQUET_COMPRESSION = "zstd"
REJECTED_PREFIX = "rejected/"

# One row per CloudEvent (the Kafka record's value and headers, unchanged).
EVENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # ce_id
        pa.field("source", pa.string(), nullable=False),  # ce_source
        pa.field("type", pa.string(), nullable=False),  # ce_type
        pa.field("subject", pa.string()),  # ce_subject (the aggregate id)
        pa.field("time", pa.timestamp("us", tz="UTC")),  # ce_time
        pa.field("key", pa.string()),  # the Kafka key (the aggregate id)
        pa.field("headers", pa.string(), nullable=False),  # every Kafka header, a JSON object
        pa.field("data", pa.string(), nullable=False),  # the value: the event's JSON, as received
        pa.field("kafka_partition", pa.int32(), nullable=False),
        pa.field("kafka_offset", pa.int64(), nullable=False),
        pa.field("kafka_timestamp", pa.timestamp("ms", tz="UTC")),
        pa.field("archived_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

# One row per record that is not a valid CloudEvent of its topic.
REJECTED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # "<partition>:<offset>"
        pa.field("reason", pa.string(), nullable=False),
        pa.field("key", pa.binary()),
        pa.field("headers", pa.string(), nullable=False),  # JSON object, values base64 when not UTF-8
        pa.field("value", pa.binary()),
        pa.field("kafka_partition", pa.int32(), nullable=False),
        pa.field("kafka_offset", pa.int64(), nullable=False),
        pa.field("kafka_timestamp", pa.timestamp("ms", tz="UTC")),
        pa.field("archived_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

_TOPIC = re.compile(r"^[a-z0-9][a-z0-9.-]{0,199}$")
_KEY = re.compile(
    r"^(?P<rejected>rejected/)?topic=(?P<topic>[a-z0-9][a-z0-9.-]{0,199})/day=(?P<day>\d{4}-\d{2}-\d{2})/"
    r"(?P<name>part-[0-9a-f]{20}\.parquet)$"
)


@dataclass(frozen=True, order=True)
class Partition:
    topic: str
    day: date
    rejected: bool = False

    def __post_init__(self) -> None:
        if not _TOPIC.match(self.topic):
            raise ValueError(f"not a topic name: {self.topic!r}")

    @property
    def topic_prefix(self) -> str:
        return f"{REJECTED_PREFIX if self.rejected else ''}topic={self.topic}/"

    @property
    def prefix(self) -> str:
        return f"{self.topic_prefix}day={self.day.isoformat()}/"

    def key_for(self, ids: Iterable[str]) -> str:
        """The object key of a file holding exactly `ids` (order does not matter)."""
        digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:20]
        return f"{self.prefix}part-{digest}.parquet"


def parse_key(key: str) -> Partition | None:
    """The partition of an archive object key; None for anything else in the bucket."""
    m = _KEY.match(key)
    if m is None:
        return None
    try:
        day = date.fromisoformat(m["day"])
    except ValueError:
        return None
    return Partition(m["topic"], day, rejected=bool(m["rejected"]))
