"""Orders' state in MongoDB: append-only revisions with the outbox inside, plus a view.

Every change of an aggregate (organisation, user, request, product order, API key) is a
new revision document `<id>#<rev>` holding the whole new state *and* the events that the
change implies (`outbox`). One insert writes both, so the state and its events can never
diverge (single-document writes are atomic on MongoDB and FerretDB alike). The unique
`_id` is the optimistic-concurrency guard: two writers that read revision n both try to
insert n+1 and exactly one wins; the other gets `ConcurrentUpdate` (HTTP 409) and
re-reads. A conditional update (`{version: n}`) would be the usual guard, but FerretDB
1.24 does not apply it atomically (see docs/architecture.md).

The view collection (`<name>`) holds the latest state per aggregate for listings and
queries; it is written after the revision (checked by `rev`, read back) and re-written
by the outbox relay for revisions that carry events. Under a rare race (two writers of
successive revisions, the older one slower) a listing can show the previous state of an
aggregate until its next change; reads of one aggregate (`get`) are always exact (they
probe the revisions).

`OutboxRelay` publishes pending outbox events with their stored ids, then marks the
revision sent. A crash between publish and mark re-publishes the same event with the
same CloudEvents id: consumers deduplicate by id, so nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import Counter, Gauge
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from dinamis_shared.bus import EventPublisher
from dinamis_shared.errors import DinamisError, is_outage
from dinamis_shared.events import Event
from dinamis_shared.topics import BY_CE_TYPE

log = logging.getLogger(__name__)

RELAYED = Counter("dinamis_outbox_relayed_total", "Outbox events published", ["collection"])
PENDING = Gauge("dinamis_outbox_pending", "Revisions whose events are not yet published", ["collection"])
EVENT_NAMESPACE = uuid.UUID("6f1d3c2a-5b7e-4c1d-9a8e-2f4b6c8d0e1f")


class NotFound(DinamisError):
    code = "not-found"
    http_status = 404
    message_fr = "Introuvable."


class AlreadyExists(DinamisError):
    code = "already-exists"
    http_status = 409
    message_fr = "Existe déjà."


class ConcurrentUpdate(DinamisError):
    code = "concurrent-update"
    http_status = 409
    message_fr = "Modifié entre-temps par quelqu'un d'autre : relisez puis réessayez."


def event_id(aggregate_id: str, rev: int, index: int) -> str:
    """The CloudEvents id of the index-th event of a revision: stable across re-publishing."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{aggregate_id}#{rev}#{index}"))


class AggregateStore:
    """One aggregate type: `<name>_revisions` (truth) and `<name>` (view)."""

    def __init__(self, db: AsyncDatabase, name: str, json_fields: Sequence[str] = ()) -> None:
        self.name = name
        # Fields kept as JSON text: FerretDB 1.24 refuses nested arrays (GeoJSON coordinates).
        self.json_fields = frozenset(json_fields)
        self.revisions = db[f"{name}_revisions"]
        self.view = db[name]
        # Revision ids whose events await the relay: a small collection read by `_id` only.
        self.outbox = db[f"{name}_outbox"]
        # Event id -> (aggregate, revision) of every published event, written by the relay
        # before it publishes one (read by `_id` only: `emitted`).
        self.events = db[f"{name}_events"]
        self.wakeup: asyncio.Event | None = None  # set by the relay to be woken after writes

    async def create_indexes(self, view_indexes: Sequence[Sequence[tuple[str, int]]] = ()) -> None:
        await self.revisions.create_index([("aggregate_id", ASCENDING), ("rev", DESCENDING)], name="agg_rev")
        await self.revisions.create_index([("outbox_pending", ASCENDING), ("at", ASCENDING)], name="pending")
        for keys in view_indexes:
            await self.view.create_index(list(keys))

    @staticmethod
    def revision_id(aggregate_id: str, rev: int) -> str:
        return f"{aggregate_id}#{rev:08d}"

    async def get(self, aggregate_id: str) -> dict | None:
        """The latest state with its `rev`, or None.

        Only `_id` lookups: FerretDB 1.24 on SQLite pushes nothing else down (a filter on
        `aggregate_id` scans the collection). The view gives a recent revision number;
        revisions are contiguous, so probing n+1, n+2... until one is missing finds the
        latest even when the view lags."""
        view = await self.view.find_one({"_id": aggregate_id})
        rev = view["rev"] if view else 0
        state = {k: v for k, v in view.items() if k not in ("_id", "rev")} if view else None
        while (
            later := await self.revisions.find_one({"_id": self.revision_id(aggregate_id, rev + 1)})
        ) is not None:
            state, rev = later["state"], rev + 1
        if state is None:
            return None
        return {**self._decode(state), "rev": rev}

    def _encode(self, state: dict) -> dict:
        return {k: json.dumps(v) if k in self.json_fields and v is not None else v for k, v in state.items()}

    def _decode(self, stored: dict) -> dict:
        return {
            k: json.loads(v) if k in self.json_fields and isinstance(v, str) else v for k, v in stored.items()
        }

    async def emitted(self, aggregate_id: str, event_id: str) -> dict | None:
        """The outbox entry (`id`, `type`, `payload`) of event `event_id` of this
        aggregate, or None if it did not emit that event. Two `_id` lookups: the relay
        records where each event id lives before publishing it, so an event that was
        never published here (forged) costs one miss, whatever the aggregate's history."""
        where = await self.events.find_one({"_id": event_id})
        if where is None or where.get("aggregate_id") != aggregate_id:
            return None
        doc = await self.revisions.find_one(
            {"_id": self.revision_id(aggregate_id, int(where["rev"]))}, projection={"outbox": 1}
        )
        for entry in (doc or {}).get("outbox", []):
            if entry.get("id") == event_id:
                return dict(entry)
        return None

    async def require(self, aggregate_id: str, what: str = "objet") -> dict:
        state = await self.get(aggregate_id)
        if state is None:
            raise NotFound(f"{aggregate_id!r} not found", message_fr=f"{what} {aggregate_id!r} introuvable")
        return state

    async def history(self, aggregate_id: str) -> list[dict]:
        """Every revision: who changed what, when and why (audit)."""
        cursor = self.revisions.find({"aggregate_id": aggregate_id}, sort=[("rev", ASCENDING)])
        return [
            {
                "rev": d["rev"],
                "at": d["at"],
                "by": d["by"],
                "why": d.get("why"),
                "change": d.get("change"),
                "events": [e["type"] for e in d.get("outbox", [])],
            }
            async for d in cursor
        ]

    async def write(
        self,
        aggregate_id: str,
        state: dict,
        *,
        expected_rev: int,
        by: str,
        change: str,
        why: str | None = None,
        events: Sequence[Event] = (),
    ) -> dict:
        """Insert revision `expected_rev + 1` (0 = create). Raises AlreadyExists /
        ConcurrentUpdate if another writer got there first."""
        rev = expected_rev + 1
        now = datetime.now(UTC)
        clean = {k: v for k, v in state.items() if k != "rev"}
        outbox = [
            {"id": event_id(aggregate_id, rev, i), "type": e.ce_type(), "payload": e.model_dump_json()}
            for i, e in enumerate(events)
        ]
        doc = {
            "_id": self.revision_id(aggregate_id, rev),
            "aggregate_id": aggregate_id,
            "rev": rev,
            "at": now,
            "by": by,
            "change": change,
            "why": why,
            "state": self._encode(clean),
            "outbox": outbox,
            "outbox_pending": bool(outbox),
        }
        try:
            await self.revisions.insert_one(doc)
        except DuplicateKeyError as exc:
            if expected_rev == 0:
                raise AlreadyExists(
                    f"{aggregate_id!r} already exists", message_fr=f"{aggregate_id!r} existe déjà"
                ) from exc
            raise ConcurrentUpdate(f"{aggregate_id!r} changed meanwhile (revision {rev} taken)") from exc
        if outbox:  # a hint for the relay; its periodic sweep finds revisions whose hint was lost
            await self.outbox.update_one({"_id": doc["_id"]}, {"$set": {"at": now}}, upsert=True)
        await self.project(aggregate_id, rev, self._encode(clean))
        if outbox and self.wakeup is not None:
            self.wakeup.set()
        return {**clean, "rev": rev}

    async def project(self, aggregate_id: str, rev: int, state: dict) -> None:
        """Write the view (`state` as stored) unless it already holds this revision or a later one.

        Filters on `_id` alone (FerretDB/SQLite scans the collection for any other filter),
        so the check-then-write is not atomic: a slower writer of an older revision could
        overwrite a newer view. Reading it back and rewriting bounds that to a moment, and
        `get` never trusts the view beyond probing for later revisions."""
        doc = {**state, "_id": aggregate_id, "rev": rev}
        for _ in range(3):
            current = await self.view.find_one({"_id": aggregate_id}, projection={"rev": 1})
            if current is not None and current["rev"] >= rev:
                return
            try:
                if current is None:
                    await self.view.insert_one(doc)
                else:
                    await self.view.replace_one({"_id": aggregate_id}, doc)
            except DuplicateKeyError:
                continue  # created meanwhile: check again

    async def find(
        self, query: dict, *, sort: list | None = None, limit: int = 100, skip: int = 0
    ) -> list[dict]:
        cursor = self.view.find(query, sort=sort or [("_id", ASCENDING)], skip=skip, limit=limit)
        return [self._decode({k: v for k, v in d.items() if k != "_id"}) async for d in cursor]

    async def count(self, query: dict) -> int:
        return await self.view.count_documents(query)


class OutboxSource(Protocol):
    """What the relay needs of a store: an `AggregateStore`, or the quota ledger's entries
    (`quota_store.LedgerOutbox`)."""

    name: str
    revisions: Any
    outbox: Any
    events: Any
    wakeup: asyncio.Event | None

    def revision_id(self, aggregate_id: str, rev: int) -> str: ...

    async def project(self, aggregate_id: str, rev: int, state: dict) -> None: ...


class OutboxRelay:
    """Publishes the outbox of every pending revision, in revision order, then marks it sent.

    Pending revisions are found through their hint in `<name>_outbox` (read by `_id`), and
    by a full sweep of the revisions every `sweep_s` seconds and at start, which catches a
    writer that crashed between inserting a revision and writing its hint."""

    def __init__(
        self,
        stores: Sequence[OutboxSource],
        publisher: EventPublisher,
        poll_s: float = 1.0,
        sweep_s: float = 300.0,
    ) -> None:
        self.stores = stores
        self.publisher = publisher
        self.poll_s = poll_s
        self.sweep_s = sweep_s
        self.wakeup = asyncio.Event()
        for store in stores:
            store.wakeup = self.wakeup

    @staticmethod
    async def _earlier_pending(store: OutboxSource, docs: list[dict]) -> list[dict]:
        """Pending revisions before those found by hint (a writer that died before writing
        its hint): an aggregate's events go out in revision order, never n+1 before n."""
        seen = {d["_id"] for d in docs}
        earlier = []
        for doc in docs:
            rev = doc["rev"] - 1
            while rev >= 1 and (rid := store.revision_id(doc["aggregate_id"], rev)) not in seen:
                previous = await store.revisions.find_one({"_id": rid})
                if previous is None or not previous.get("outbox_pending"):
                    break
                earlier.append(previous)
                seen.add(rid)
                rev -= 1
        return earlier

    async def relay_once(self, batch: int = 500, sweep: bool = False) -> int:
        published = 0
        for store in self.stores:
            if sweep:
                docs = [d async for d in store.revisions.find({"outbox_pending": True}, limit=batch)]
            else:
                hints = [h["_id"] async for h in store.outbox.find({}, limit=batch)]
                found = [await store.revisions.find_one({"_id": h}) for h in hints]  # `_id` lookups only
                docs = [d for d in found if d is not None]
                stale = set(hints) - {d["_id"] for d in docs if d.get("outbox_pending")}
                for hint in sorted(stale):
                    await store.outbox.delete_one({"_id": hint})
                docs = [d for d in docs if d.get("outbox_pending")]
                docs += await self._earlier_pending(store, docs)
            PENDING.labels(store.name).set(len(docs))
            for doc in sorted(docs, key=lambda d: (d["aggregate_id"], d["rev"])):
                for entry in doc["outbox"]:
                    model = BY_CE_TYPE[entry["type"]]
                    event = model.model_validate_json(entry["payload"])
                    # Where this event id lives, before anyone can see the event: consumers
                    # that ask whether orders issued it are answered with one lookup.
                    await store.events.update_one(
                        {"_id": entry["id"]},
                        {"$set": {"aggregate_id": doc["aggregate_id"], "rev": doc["rev"]}},
                        upsert=True,
                    )
                    await self.publisher.publish(event, event_id=entry["id"])
                    RELAYED.labels(store.name).inc()
                    published += 1
                await store.revisions.update_one(
                    {"_id": doc["_id"]}, {"$set": {"outbox_pending": False, "sent_at": datetime.now(UTC)}}
                )
                await store.outbox.delete_one({"_id": doc["_id"]})
                await store.project(doc["aggregate_id"], doc["rev"], doc["state"])
        return published

    async def run(self) -> None:
        last_sweep = -math.inf
        while True:
            self.wakeup.clear()
            sweep = time.monotonic() - last_sweep >= self.sweep_s
            try:
                await self.relay_once(sweep=sweep)
                if sweep:
                    last_sweep = time.monotonic()
            except Exception as exc:  # an outage: keep trying; anything else is logged loudly
                (log.warning if is_outage(exc) else log.exception)("outbox relay pass failed: %s", exc)
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout=self.poll_s)
            except TimeoutError:
                pass


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: Any) -> datetime | None:
    """Mongo returns naive UTC datetimes: make them aware."""
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
