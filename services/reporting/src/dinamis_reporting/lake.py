"""The lake: the archive's Parquet files loaded into a local DuckDB database, the
embedded engine the indicators run on.

`Lake.refresh()` lists the bucket and loads what changed since the last refresh: the
rows of a file that is gone (compacted, deleted) are dropped, a new file's rows are
loaded with its `topic` and `day` from its key. The database is a cache: delete it and
the next refresh rebuilds it from the bucket. Events are read once per id and topic
(view `events`): a duplicate left by a crash between two writes never counts twice.

The same files are the lake for any other engine: see docs/reporting.md."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from dinamis_reporting.archive.layout import EVENT_SCHEMA, parse_key
from dinamis_reporting.archive.store import ObjectStore

log = logging.getLogger(__name__)

_TABLES = """
CREATE TABLE IF NOT EXISTS archive_files (key VARCHAR PRIMARY KEY, etag VARCHAR, n BIGINT);
CREATE TABLE IF NOT EXISTS raw_events (
    id VARCHAR NOT NULL, source VARCHAR NOT NULL, type VARCHAR NOT NULL, subject VARCHAR,
    time TIMESTAMPTZ, key VARCHAR, headers VARCHAR NOT NULL, data VARCHAR NOT NULL,
    kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL, kafka_timestamp TIMESTAMPTZ,
    archived_at TIMESTAMPTZ NOT NULL, topic VARCHAR NOT NULL, day DATE NOT NULL, file VARCHAR NOT NULL
);
CREATE OR REPLACE VIEW events AS
    SELECT * EXCLUDE (file) FROM raw_events
    QUALIFY row_number() OVER (PARTITION BY topic, id ORDER BY archived_at, kafka_offset) = 1;
"""


def connect(
    path: Path | str = ":memory:", *, threads: int = 2, memory_limit: str = "2GB"
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never downloads anything (no extension autoload or
    install: json and parquet are built in) and reads no file the lake did not name."""
    con = duckdb.connect(
        str(path),
        config={
            "threads": threads,
            "memory_limit": memory_limit,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    con.execute("SET TimeZone = 'UTC'")
    return con


def _with_place(key: str, table: pa.Table) -> pa.Table:
    """A file's rows with the `topic` and `day` of its key, and the key itself."""
    part = parse_key(key)
    assert part is not None
    n = table.num_rows
    table = table.append_column("topic", pa.array([part.topic] * n, pa.string()))
    table = table.append_column("day", pa.array([part.day] * n, pa.date32()))
    return table.append_column("file", pa.array([key] * n, pa.string()))


@dataclass
class RefreshResult:
    loaded: int = 0  # files loaded
    dropped: int = 0  # files whose rows were dropped
    events: int = 0  # rows in the lake afterwards
    seconds: float = 0.0


class Lake:
    def __init__(
        self, store: ObjectStore, path: Path | str, *, threads: int = 2, memory_limit: str = "2GB"
    ) -> None:
        self.store = store
        self.path = Path(path) if str(path) != ":memory:" else path
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = connect(self.path, threads=threads, memory_limit=memory_limit)
        self.con.execute(_TABLES)
        self._lock = threading.Lock()  # one writer; readers take a cursor of their own
        self._refresh = asyncio.Lock()
        self.refreshed_at: float | None = None
        self.concurrency = 16  # object reads in flight while refreshing
        self.version = 0  # +1 whenever a refresh changes the lake (results are cached by it)
        self._events = 0  # the events view's count, as of the last refresh
        self._events = self._count_now()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.con.cursor()

    async def refresh(self, *, max_age_s: float = 0.0, wait: bool = True) -> RefreshResult:
        """Load what changed in the bucket (not more often than every `max_age_s`). With
        `wait=False` (a request), a refresh already under way is not waited for once the
        lake has been loaded once: the request is served from what is loaded — unless
        `max_age_s` is 0 (every answer as fresh as the bucket: the tests' setting)."""
        if not wait and max_age_s > 0 and self._refresh.locked() and self.refreshed_at is not None:
            return RefreshResult(events=self.count())
        async with self._refresh:
            if self.refreshed_at is not None and time.monotonic() - self.refreshed_at < max_age_s:
                return RefreshResult(events=self.count())
            t0 = time.perf_counter()
            listed = {o.key: o.etag for o in await self.store.list("topic=") if parse_key(o.key)}
            known = dict(await asyncio.to_thread(self._known))
            gone = [k for k, etag in known.items() if listed.get(k) != etag]
            new = [k for k, etag in listed.items() if known.get(k) != etag]
            slots = asyncio.Semaphore(self.concurrency)

            async def fetch(key: str) -> tuple[str, str, pa.Table]:
                async with slots:
                    data = await self.store.get(key)
                return (
                    key,
                    listed[key],
                    _with_place(key, pq.read_table(io.BytesIO(data), schema=EVENT_SCHEMA)),
                )

            tables = list(await asyncio.gather(*(fetch(k) for k in new)))
            await asyncio.to_thread(self._apply, gone, tables)
            self.refreshed_at = time.monotonic()
            return RefreshResult(len(new), len(gone), self.count(), time.perf_counter() - t0)

    def _known(self) -> list[tuple[str, str]]:
        with self._lock:
            return self.con.execute("SELECT key, etag FROM archive_files").fetchall()

    def _apply(self, gone: list[str], tables: list[tuple[str, str, pa.Table]]) -> None:
        with self._lock:
            cur = self.con.cursor()
            cur.execute("BEGIN")
            try:
                if gone:
                    cur.execute("DELETE FROM raw_events WHERE file IN (SELECT unnest(?))", [gone])
                    cur.execute("DELETE FROM archive_files WHERE key IN (SELECT unnest(?))", [gone])
                if tables:  # one insert of every new file's rows, one of the files' list
                    cur.register("incoming", pa.concat_tables([t for _, _, t in tables]))
                    cur.execute("INSERT INTO raw_events SELECT * FROM incoming")
                    cur.unregister("incoming")
                    files = pa.table(
                        {
                            "key": [k for k, _, _ in tables],
                            "etag": [e for _, e, _ in tables],
                            "n": pa.array([t.num_rows for _, _, t in tables], pa.int64()),
                        }
                    )
                    cur.register("incoming_files", files)
                    cur.execute("INSERT INTO archive_files SELECT * FROM incoming_files")
                    cur.unregister("incoming_files")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            if gone or tables:
                row = cur.execute("SELECT count(*) FROM events").fetchone()
                self._events = int(row[0]) if row else 0
                self.version += 1

    def count(self) -> int:
        """The events in the lake, as of the last refresh (no query: callable on the event
        loop while a refresh holds the database)."""
        return self._events

    def _count_now(self) -> int:
        with self._lock:
            row = self.con.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0
