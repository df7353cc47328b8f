"""Issue 16: one `quota-changed` per quota ledger entry, in the entry's own outbox, with
the balance after it (`quota_store.new_entry`, the pure part of `QuotaLedger._append`),
and its provenance answered like the other events orders issues."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from dinamis_orders.adapters.aggregates import EVENT_NAMESPACE
from dinamis_orders.adapters.quota_store import new_entry
from dinamis_orders.domain.quota import Balance, EntryKind
from dinamis_orders.service.provenance import AnyOf, was_issued
from dinamis_shared.events import QuotaChangedV1

QID = "org-labo|pleiades|2026-Q3"
AT = datetime(2026, 8, 14, 9, 30, tzinfo=UTC)

# allocate 100, approve a request of 60 (reserve), acquire 45 (consume), release the 15
# never acquired, then an operator takes 20 back (adjust -20).
STEPS = [
    (EntryKind.ALLOCATE, 100.0, None, "dotation T3", "op-1"),
    (EntryKind.RESERVE, 60.0, "req-1", None, "op-2"),
    (EntryKind.CONSUME, 45.0, "req-1", None, "orders"),
    (EntryKind.RELEASE, 15.0, "req-1", None, "orders"),
    (EntryKind.ADJUST, -20.0, None, "reprise après audit", "op-1"),
]
# (allocated, reserved, consumed) after each step, by hand
EXPECTED = [(100, 0, 0), (100, 60, 0), (100, 15, 45), (100, 0, 45), (80, 0, 45)]


def entries() -> list[dict]:
    balance, out = Balance(), []
    for seq, (kind, km2, request_id, reason, by) in enumerate(STEPS, start=1):
        balance.apply(kind, km2, request_id)
        out.append(
            new_entry(QID, seq, kind, km2, balance, by=by, at=AT, request_id=request_id, reason=reason)
        )
    return out


def test_one_event_per_entry_with_the_balance_after_it():
    docs = entries()
    assert all(len(d["outbox"]) == 1 and d["outbox_pending"] for d in docs)
    events = [QuotaChangedV1.model_validate_json(d["outbox"][0]["payload"]) for d in docs]
    assert [(e.allocated_km2, e.reserved_km2, e.consumed_km2) for e in events] == EXPECTED
    assert [e.movement.value for e in events] == ["allocate", "reserve", "consume", "release", "adjust"]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.km2 for e in events] == [100, 60, 45, 15, -20]
    assert [e.request_id for e in events] == [None, "req-1", "req-1", "req-1", None]
    assert [e.reason for e in events] == ["dotation T3", None, None, None, "reprise après audit"]
    assert [e.changed_by for e in events] == ["op-1", "op-2", "orders", "orders", "op-1"]
    first = events[0]
    assert (first.organisation_id, first.sensor_family.value, first.period) == (
        "org-labo",
        "pleiades",
        "2026-Q3",
    )
    assert first.changed_at == AT and first.ce_type() == "fr.dinamis.quota-changed.v1"
    # the entry keeps its ledger fields and the balance after it (the ledger's truth)
    assert (docs[2]["_id"], docs[2]["seq"], docs[2]["kind"]) == (
        "org-labo|pleiades|2026-Q3#0000000003",
        3,
        "consume",
    )
    assert docs[2]["state"]["available"] == 40  # 100 - 15 reserved - 45 consumed


def test_the_event_id_is_derived_from_the_entry_so_a_rewrite_or_a_replay_keeps_it():
    first, again = entries(), entries()
    ids = [d["outbox"][0]["id"] for d in first]
    assert ids == [d["outbox"][0]["id"] for d in again]
    assert len(set(ids)) == 5
    assert ids[0] == str(uuid.uuid5(EVENT_NAMESPACE, "org-labo|pleiades|2026-Q3#1#0"))
    # for the relay: an aggregate-like revision (`aggregate_id`, `rev`)
    assert [(d["aggregate_id"], d["rev"]) for d in first] == [(QID, n) for n in range(1, 6)]


def test_a_long_reason_is_cut_for_the_event_not_for_the_ledger():
    balance = Balance()
    balance.apply(EntryKind.ALLOCATE, 10)
    doc = new_entry(QID, 1, EntryKind.ALLOCATE, 10, balance, by="op-1", at=AT, reason="x" * 5000)
    assert len(doc["reason"]) == 5000
    assert len(json.loads(doc["outbox"][0]["payload"])["reason"]) == 4000


class Outbox:
    def __init__(self, entries: dict[tuple[str, str], dict]) -> None:
        self.entries = entries

    async def emitted(self, aggregate_id: str, event_id: str) -> dict | None:
        return self.entries.get((aggregate_id, event_id))


async def test_consumers_can_verify_a_quota_changed_event_like_any_other():
    """`organisation_id` events come from the organisations' revisions or the ledger."""
    doc = entries()[1]
    outboxed = doc["outbox"][0]
    ledger = Outbox({("org-labo", outboxed["id"]): outboxed})
    stores = {"organisation_id": AnyOf(Outbox({}), ledger)}
    data = json.loads(outboxed["payload"])
    assert await was_issued(stores, outboxed["id"], "fr.dinamis.quota-changed.v1", data)
    assert not await was_issued(
        stores, outboxed["id"], "fr.dinamis.quota-changed.v1", {**data, "reserved_km2": 0}
    )
    assert not await was_issued({"organisation_id": Outbox({})}, outboxed["id"], outboxed["type"], data)


def test_an_entry_written_before_events_gets_the_same_event_as_a_new_one():
    """`backfill_events` gives old entries (no outbox; MongoDB returns naive UTC times)
    exactly the event a new entry carries: same id, same data."""
    from dinamis_orders.adapters.quota_store import outbox_of

    for doc in entries():
        old = {k: v for k, v in doc.items() if k not in ("outbox", "outbox_pending", "aggregate_id", "rev")}
        old["at"] = AT.replace(tzinfo=None)
        assert outbox_of(old) == doc["outbox"]
    broken = {**entries()[0], "state": {**entries()[0]["state"], "allocated": -1}}
    with pytest.raises(ValueError):
        outbox_of(broken)
