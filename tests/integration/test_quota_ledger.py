"""The quota ledger on FerretDB (PyMongo async): concurrent approvals never overdraw."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from dinamis_orders.adapters.quota_store import QuotaLedger
from dinamis_orders.domain.quota import EntryKind, InsufficientQuota, QuotaError, quota_id
from dinamis_shared import clients
from dinamis_shared.events import SensorFamily


@pytest.fixture
async def ledger(settings):
    client = clients.mongo_client(settings)
    db = client[f"test_quota_{uuid.uuid4().hex[:8]}"]
    ledger = QuotaLedger(db.quota_entries)
    await ledger.create_indexes()
    yield ledger
    await client.drop_database(db.name)
    await client.close()


async def test_100_concurrent_approvals_never_overdraw_the_quota(ledger):
    qid = quota_id("org-inrae", SensorFamily.PLEIADES, "2026-Q3")
    await ledger.allocate(qid, 100.0, by="operator-paul", reason="dotation 2026-Q3")

    async def approve(k: int) -> bool:
        try:
            await ledger.reserve(qid, f"req.2026.{k:03d}", 3.0, by="operator-paul")
            return True
        except InsufficientQuota:
            return False

    results = await asyncio.gather(*(approve(k) for k in range(100)))
    assert sum(results) == 33  # 33 x 3 km² = 99 km² <= 100 km²
    balance = await ledger.balance(qid)
    assert (balance.reserved, balance.available) == (99.0, 1.0)
    assert len(balance.reservations) == 33
    replayed = await ledger.replay(qid)  # the ledger's entries tell the same story
    assert (replayed.allocated, replayed.reserved, replayed.available) == (100.0, 99.0, 1.0)


async def test_the_same_approval_racing_with_itself_reserves_once(ledger):
    qid = quota_id("org-ird", SensorFamily.SPOT, "2026")
    await ledger.allocate(qid, 50.0, by="operator", reason="dotation")
    await asyncio.gather(*(ledger.reserve(qid, "req-42", 20.0, by="operator") for _ in range(20)))
    balance = await ledger.balance(qid)
    assert (balance.reserved, balance.available, balance.reservations) == (20.0, 30.0, {"req-42": 20.0})


async def test_consume_and_release_settle_a_reservation(ledger):
    qid = quota_id("org-cnes", SensorFamily.PLEIADES_NEO, "2026-Q2")
    await ledger.allocate(qid, 10.0, by="operator", reason="dotation")
    await ledger.reserve(qid, "req-1", 8.0, by="operator")
    await ledger.settle(qid, "req-1", 5.0, EntryKind.CONSUME, by="supplier")
    await ledger.settle(qid, "req-1", 3.0, EntryKind.RELEASE, by="operator")
    balance = await ledger.balance(qid)
    assert (balance.reserved, balance.consumed, balance.available, balance.reservations) == (
        0.0,
        5.0,
        5.0,
        {},
    )
    with pytest.raises(QuotaError):
        await ledger.settle(qid, "req-1", 1.0, EntryKind.RELEASE, by="operator")
    with pytest.raises(InsufficientQuota) as err:
        await ledger.reserve(qid, "req-2", 6.0, by="operator")
    assert err.value.shortfall == 1.0
