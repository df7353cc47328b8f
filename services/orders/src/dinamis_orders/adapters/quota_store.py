"""The quota ledger in MongoDB (FerretDB 1.24 or MongoDB 7), append-only.

Each entry is a document `<quota id>#<seq>` carrying the balance after it. To write,
read the last entry, apply the rule (domain/quota.py), insert entry seq+1: the
unique `_id` makes exactly one of several concurrent writers win; the others read
the new head and try again. This relies only on single-document inserts being
atomic, which both servers guarantee. (A conditional `findAndModify` is not enough:
measured on FerretDB 1.24 (SQLite and PostgreSQL backends), 100 concurrent conditional updates all
succeeded and overdrew the quota.)

Each entry also carries its `quota-changed` event (issue 16: the reporting's quotas), in
an outbox inside the entry, exactly as the aggregates do (`adapters/aggregates.py`): the
entry and its event are one insert, so neither exists without the other. Its CloudEvents
id is derived from the entry's id (`event_id(<quota id>, seq, 0)`), `seq` is the entry's
rank: a crash between publishing and marking it sent re-publishes the same id.
`LedgerOutbox` lets the `OutboxRelay` publish them, and answers the provenance question
(`emitted`) for them. Entries written before this change get theirs from
`backfill_events` (run once at start-up): the same event, built from what the entry
recorded, with the same derived id — several replicas backfilling write the same thing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from dinamis_orders.adapters.aggregates import event_id
from dinamis_orders.domain.quota import Balance, EntryKind, QuotaError
from dinamis_shared.events import QuotaChangedV1, QuotaMovement, SensorFamily

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2000


def _state(balance: Balance) -> dict:
    return {
        "allocated": balance.allocated,
        "reserved": balance.reserved,
        "consumed": balance.consumed,
        "available": balance.available,
        "reservations": [{"request_id": r, "km2": k} for r, k in sorted(balance.reservations.items())],
        "refs": sorted(balance.refs),
    }


def _balance(state: dict) -> Balance:
    return Balance(
        allocated=state["allocated"],
        reserved=state["reserved"],
        consumed=state["consumed"],
        reservations={r["request_id"]: r["km2"] for r in state["reservations"]},
        refs=set(state.get("refs", [])),
    )


def _now_ms() -> datetime:
    """Now, to the millisecond (what MongoDB keeps): the entry and its event say the same."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def quota_changed(
    qid: str,
    seq: int,
    kind: EntryKind,
    km2: float,
    balance: Balance,
    *,
    by: str,
    at: datetime,
    request_id: str | None = None,
    reason: str | None = None,
) -> QuotaChangedV1:
    """The event of ledger entry `seq` of quota `qid` (`<organisation>|<family>|<period>`),
    with the balance after it."""
    organisation_id, family, period = qid.rsplit("|", 2)
    return QuotaChangedV1(
        organisation_id=organisation_id,
        sensor_family=SensorFamily(family),
        period=period,
        seq=seq,
        movement=QuotaMovement(kind.value),
        km2=km2,
        allocated_km2=balance.allocated,
        reserved_km2=balance.reserved,
        consumed_km2=balance.consumed,
        request_id=request_id,
        reason=reason[:4000] if reason else None,
        changed_by=by,
        changed_at=at,
    )


def outbox_of(entry: dict) -> list[dict]:
    """The outbox an entry written before events existed would have had: its event, from
    what it recorded (the balance after it, who, when, why). Pure; raises ValueError
    (pydantic's ValidationError) for an entry that cannot make a valid event."""
    state = entry["state"]
    at = entry["at"] if entry["at"].tzinfo else entry["at"].replace(tzinfo=UTC)
    balance = Balance(allocated=state["allocated"], reserved=state["reserved"], consumed=state["consumed"])
    event = quota_changed(
        entry["quota_id"],
        int(entry["seq"]),
        EntryKind(entry["kind"]),
        entry["km2"],
        balance,
        by=entry.get("by") or "orders",
        at=at,
        request_id=entry.get("request_id"),
        reason=entry.get("reason"),
    )
    eid = event_id(entry["quota_id"], int(entry["seq"]), 0)
    return [{"id": eid, "type": event.ce_type(), "payload": event.model_dump_json()}]


def new_entry(
    qid: str,
    seq: int,
    kind: EntryKind,
    km2: float,
    balance: Balance,
    *,
    by: str,
    at: datetime,
    request_id: str | None = None,
    reason: str | None = None,
    ref: str | None = None,
) -> dict:
    """Ledger entry `seq` (the balance after it), with its event in its outbox. Pure."""
    event = quota_changed(qid, seq, kind, km2, balance, by=by, at=at, request_id=request_id, reason=reason)
    return {
        "_id": QuotaLedger.entry_id(qid, seq),
        "quota_id": qid,
        "seq": seq,
        "kind": kind.value,
        "km2": km2,
        "request_id": request_id,
        "ref": ref,
        "by": by,
        "reason": reason,
        "at": at,
        "state": _state(balance),
        # the outbox, as in an aggregate's revision (`aggregate_id`, `rev`: for the relay)
        "aggregate_id": qid,
        "rev": seq,
        "outbox": [
            {"id": event_id(qid, seq, 0), "type": event.ce_type(), "payload": event.model_dump_json()}
        ],
        "outbox_pending": True,
    }


class QuotaLedger:
    def __init__(self, collection: AsyncCollection) -> None:
        self.entries = collection
        self.heads = collection.database[f"{collection.name}_heads"]  # a hint: the last seq per quota
        # Writers of one quota queue up inside a process (no wasted retries under a burst);
        # the unique `_id` still decides between processes (replicas).
        self._locks: dict[str, asyncio.Lock] = {}
        self.event_outbox = LedgerOutbox(collection)

    async def create_indexes(self) -> None:
        await self.entries.create_index([("quota_id", ASCENDING), ("seq", DESCENDING)], name="quota_seq")
        await self.entries.create_index([("outbox_pending", ASCENDING), ("at", ASCENDING)], name="pending")

    @staticmethod
    def entry_id(qid: str, seq: int) -> str:
        return f"{qid}#{seq:010d}"

    async def _head(self, qid: str) -> tuple[int, Balance]:
        """The last entry, by `_id` lookups only (FerretDB on SQLite scans for anything else):
        start from the head hint, then probe seq+1, seq+2... (entries are contiguous)."""
        hint = await self.heads.find_one({"_id": qid})
        seq = hint["seq"] if hint else 0
        doc = await self.entries.find_one({"_id": self.entry_id(qid, seq)}) if seq else None
        while (later := await self.entries.find_one({"_id": self.entry_id(qid, seq + 1)})) is not None:
            doc, seq = later, seq + 1
        if doc is not None and (hint is None or hint["seq"] < seq):
            await self.heads.update_one({"_id": qid}, {"$max": {"seq": seq}}, upsert=True)
        return (seq, _balance(doc["state"])) if doc else (0, Balance())

    async def _append(
        self,
        qid: str,
        kind: EntryKind,
        km2: float,
        by: str,
        request_id: str | None = None,
        reason: str | None = None,
        ref: str | None = None,
    ) -> Balance:
        lock = self._locks.setdefault(qid, asyncio.Lock())
        async with lock:
            return await self._append_unlocked(qid, kind, km2, by, request_id, reason, ref)

    async def _append_unlocked(
        self,
        qid: str,
        kind: EntryKind,
        km2: float,
        by: str,
        request_id: str | None,
        reason: str | None,
        ref: str | None = None,
    ) -> Balance:
        for attempt in range(MAX_ATTEMPTS):
            seq, balance = await self._head(qid)
            before = _state(balance)
            balance.apply(kind, km2, request_id, ref)  # raises QuotaError: nothing written
            if _state(balance) == before:
                return balance  # nothing to record (the same approval again)
            entry = new_entry(
                qid,
                seq + 1,
                kind,
                km2,
                balance,
                by=by,
                at=_now_ms(),
                request_id=request_id,
                reason=reason,
                ref=ref,
            )
            try:
                await self.entries.insert_one(entry)
                await self.heads.update_one({"_id": qid}, {"$max": {"seq": seq + 1}}, upsert=True)
                await self.event_outbox.written(entry["_id"], entry["at"])
                return balance
            except DuplicateKeyError:  # another writer appended first: re-read and re-check
                await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * (attempt + 1))))
        raise QuotaError("quota trop sollicité, réessayez / quota too contended, retry", code="contended")

    async def allocate(self, qid: str, km2: float, by: str, reason: str) -> Balance:
        return await self._append(qid, EntryKind.ALLOCATE, km2, by, reason=reason)

    async def adjust(self, qid: str, km2: float, by: str, reason: str) -> Balance:
        if not reason:
            raise QuotaError(
                "un ajustement doit être motivé / an adjustment needs a reason", code="reason-required"
            )
        return await self._append(qid, EntryKind.ADJUST, km2, by, reason=reason)

    async def reserve(self, qid: str, request_id: str, km2: float, by: str) -> Balance:
        """On approval. Idempotent per request; InsufficientQuota beyond the quota."""
        return await self._append(qid, EntryKind.RESERVE, km2, by, request_id=request_id)

    async def settle(
        self, qid: str, request_id: str, km2: float, kind: EntryKind, by: str, ref: str | None = None
    ) -> Balance:
        """CONSUME (acquired) or RELEASE (never acquired) part of a request's reservation;
        with `ref`, applied once whatever the retries."""
        if kind not in (EntryKind.CONSUME, EntryKind.RELEASE):
            raise ValueError(kind)
        return await self._append(qid, kind, km2, by, request_id=request_id, ref=ref)

    async def release_all(self, qid: str, request_id: str, by: str) -> float:
        """Release whatever is still reserved for a request (cancelled, fulfilled, expired):
        what the ledger holds, not what the caller believes. Returns the km² released."""
        for _ in range(5):
            held = (await self.balance(qid)).reservations.get(request_id, 0.0)
            if held <= 0:
                return 0.0
            try:
                await self.settle(qid, request_id, held, EntryKind.RELEASE, by)
                return held
            except QuotaError:  # consumed or released meanwhile: read again
                continue
        raise QuotaError("quota trop sollicité, réessayez / quota too contended, retry", code="contended")

    async def balance(self, qid: str) -> Balance:
        return (await self._head(qid))[1]

    async def backfill_events(self, batch: int = 500) -> int:
        """Give the entries written before events existed their `quota-changed` (pending,
        hinted for the relay); returns how many. Entries that cannot make a valid event
        are logged and left alone."""
        done = 0
        while True:
            found = [e async for e in self.entries.find({"outbox": {"$exists": False}}, limit=batch)]
            progressed = 0
            for entry in found:
                try:
                    outbox = outbox_of(entry)
                except (KeyError, ValueError) as exc:
                    log.error("ledger entry %s has no valid event: %s", entry["_id"], exc)
                    continue
                await self.entries.update_one(
                    {"_id": entry["_id"]},
                    {
                        "$set": {
                            "aggregate_id": entry["quota_id"],
                            "rev": entry["seq"],
                            "outbox": outbox,
                            "outbox_pending": True,
                        }
                    },
                )
                await self.event_outbox.written(entry["_id"], entry["at"])
                progressed += 1
            done += progressed
            if len(found) < batch or not progressed:
                return done

    async def ledger_entries(self, qid: str, limit: int) -> list[dict]:
        """The quota's entries, oldest first: every movement, who made it, when and why, and
        the balance after it (the reservations and consumption refs left out)."""
        out = []
        async for e in self.entries.find({"quota_id": qid}, sort=[("seq", ASCENDING)], limit=limit):
            state = e["state"]
            at = e["at"] if e["at"].tzinfo else e["at"].replace(tzinfo=UTC)
            out.append(
                {
                    "seq": e["seq"],
                    "kind": e["kind"],
                    "km2": e["km2"],
                    "request_id": e.get("request_id"),
                    "by": e.get("by"),
                    "reason": e.get("reason"),
                    "at": at,
                    "balance_after": {
                        k: state[k] for k in ("allocated", "reserved", "consumed", "available")
                    },
                }
            )
        return out

    async def quota_ids_of(self, organisation_id: str) -> list[str]:
        """From the head hints (one per quota with an entry), by `_id` prefix."""
        pattern = "^" + re.escape(organisation_id + "|")
        return sorted([d["_id"] async for d in self.heads.find({"_id": {"$regex": pattern}}, limit=500)])

    async def replay(self, qid: str) -> Balance:
        """The balance derived from the entries alone, in order (for audits and tests)."""
        balance = Balance()
        async for e in self.entries.find({"quota_id": qid}, sort=[("seq", ASCENDING)]):
            balance.apply(EntryKind(e["kind"]), e["km2"], e.get("request_id"), e.get("ref"))
        return balance


class LedgerOutbox:
    """The ledger entries' events, as the `OutboxRelay` sees an aggregate store: entries
    are the revisions (`aggregate_id` = the quota id, `rev` = seq), `quota_ledger_outbox`
    holds the hints of entries whose event awaits the relay, `quota_ledger_events` where
    each published event id lives (for `emitted`)."""

    def __init__(self, entries: AsyncCollection) -> None:
        db: AsyncDatabase = entries.database
        self.name = entries.name
        self.revisions = entries
        self.outbox = db[f"{entries.name}_outbox"]
        self.events = db[f"{entries.name}_events"]
        self.wakeup: asyncio.Event | None = None  # set by the relay

    @staticmethod
    def revision_id(aggregate_id: str, rev: int) -> str:
        return QuotaLedger.entry_id(aggregate_id, rev)

    async def project(self, aggregate_id: str, rev: int, state: dict) -> None:
        """No view to refresh: the ledger's head hint is written with the entry."""

    async def written(self, entry_id: str, at: datetime) -> None:
        """An entry with an event was inserted: hint the relay (its sweep finds the entry
        if this hint is lost) and wake it."""
        await self.outbox.update_one({"_id": entry_id}, {"$set": {"at": at}}, upsert=True)
        if self.wakeup is not None:
            self.wakeup.set()

    async def emitted(self, organisation_id: str, event_id: str) -> dict | None:
        """The outbox entry of event `event_id` if a quota of `organisation_id` emitted it
        (the event's aggregate is the organisation; the entry's is the quota)."""
        where = await self.events.find_one({"_id": event_id})
        qid = where.get("aggregate_id") if where else None
        if not isinstance(qid, str) or qid.rsplit("|", 2)[0] != organisation_id:
            return None
        doc = await self.revisions.find_one({"_id": self.revision_id(qid, int(where["rev"]))})  # type: ignore[index]
        for entry in (doc or {}).get("outbox", []):
            if entry.get("id") == event_id:
                return dict(entry)
        return None
