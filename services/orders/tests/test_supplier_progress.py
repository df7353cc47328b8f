"""Use cases of the supplier's side: placing orders, scenes arriving, on fakes (no server)."""

from __future__ import annotations

import pytest

from dinamis_orders.adapters.aggregates import ConcurrentUpdate
from dinamis_orders.domain.requests import Action
from dinamis_orders.service import progress, review
from dinamis_shared.events import RequestUpdatedV1, SceneIngestedV1
from dinamis_shared.retry import Backoff
from dinamis_testkit.examples import lyon_item

NO_WAIT = Backoff(base=0.0, cap=0.0)
# The request's AOI, and its two halves (the scenes the supplier delivers).
AOI = {
    "type": "Polygon",
    "coordinates": [[[4.90, 45.75], [4.98, 45.75], [4.98, 45.80], [4.90, 45.80], [4.90, 45.75]]],
}
WEST = {
    "type": "Polygon",
    "coordinates": [[[4.90, 45.75], [4.94, 45.75], [4.94, 45.80], [4.90, 45.80], [4.90, 45.75]]],
}
EAST = {
    "type": "Polygon",
    "coordinates": [[[4.94, 45.75], [4.98, 45.75], [4.98, 45.80], [4.94, 45.80], [4.94, 45.75]]],
}


async def approved(orders, make_draft, operator, quota: float = 100) -> dict:
    author = await orders.member_org()
    req = await review.submit(orders, author, make_draft(AOI))
    qid = f"{req['organisation_id']}|pleiades-neo|{req['quota_period']}"
    await orders.ledger.allocate(qid, quota, "op", "dotation")
    await review.act(orders, operator, req["request_id"], Action.START_REVIEW, None)
    return await review.act(orders, operator, req["request_id"], Action.APPROVE, None)


def scene(request_id: str | None, geometry: dict, n: int) -> SceneIngestedV1:
    item = {**lyon_item(), "id": f"scene-{n}", "geometry": geometry}
    return SceneIngestedV1(
        scene_id=item["id"],
        version=1,
        collection="pleiades-neo-ortho",
        item=item,
        archive_prefix=f"pleiades-neo-ortho/x/{item['id']}/v1/",
        manifest_sha256="ab" * 32,
        acquisition_request_id=request_id,
    )


async def test_an_approved_request_is_placed_with_the_supplier(supplied, make_draft, operator):
    req = await approved(supplied, make_draft, operator)
    assert await progress.place_with_supplier(supplied, req["request_id"])
    state = await supplied.requests.require(req["request_id"])
    assert state.status == "in_progress" and state.supplier_order_id == f"SIM-{req['request_id']}"
    assert supplied.supplier.orders[req["request_id"]]["aoi"] == state.aoi
    # Redelivered approval: nothing more.
    assert await progress.place_with_supplier(supplied, req["request_id"])
    assert (await supplied.requests.require(req["request_id"])).rev == state.rev


async def test_a_supplier_outage_is_retried_by_the_periodic_pass(supplied, make_draft, operator):
    req = await approved(supplied, make_draft, operator)
    supplied.supplier.down = True
    assert not await progress.place_with_supplier(supplied, req["request_id"])
    assert (await supplied.requests.require(req["request_id"])).status == "approved"
    supplied.supplier.down = False
    assert await progress.place_pending(supplied) == 1
    assert (await supplied.requests.require(req["request_id"])).status == "in_progress"


async def test_without_a_supplier_an_operator_places_the_order(orders, make_draft, operator):
    req = await approved(orders, make_draft, operator)
    assert not await progress.place_with_supplier(orders, req["request_id"])
    assert (await orders.requests.require(req["request_id"])).status == "approved"


async def test_scenes_consume_the_quota_and_fulfil_the_request(orders, make_draft, operator):
    req = await approved(orders, make_draft, operator)
    rid, area = req["request_id"], req["area_km2"]
    await progress.start_acquisition(orders, rid, "SIM-1")
    qid = f"org-labo|pleiades-neo|{req['quota_period']}"
    west = scene(rid, WEST, 1)
    await progress.record_scene(orders, west)
    await progress.record_scene(orders, west)  # redelivered: counted once
    half = await orders.requests.require(rid)
    assert half.status == "in_progress" and half.scenes == ["scene-1"]
    assert half.covered_share == pytest.approx(0.5, abs=0.01)
    balance = await orders.ledger.balance(qid)
    assert balance.consumed == pytest.approx(area / 2, rel=0.02) == half.consumed_km2
    assert orders.licences.obtained["scene-1"] == {"org-labo"}
    await progress.record_scene(orders, scene(rid, EAST, 2))
    done = await orders.requests.require(rid)
    assert done.status == "fulfilled" and done.covered_share == pytest.approx(1.0, abs=0.01)
    balance = await orders.ledger.balance(qid)
    assert balance.consumed == pytest.approx(area, rel=0.01) and balance.reserved == 0
    updates = [e for e in orders.requests.events if isinstance(e, RequestUpdatedV1)]
    assert [u.status for u in updates][-2:] == ["in_progress", "fulfilled"]
    assert [h["change"] for h in await orders.requests.history(rid)][-2:] == [
        "scene scene-1",
        "scene scene-2",
    ]


async def test_a_scene_before_the_in_progress_write_starts_the_acquisition(orders, make_draft, operator):
    req = await approved(orders, make_draft, operator)
    await progress.record_scene(orders, scene(req["request_id"], WEST, 1))
    state = await orders.requests.require(req["request_id"])
    assert (
        state.status == "in_progress"
        and state.supplier_order_id == "delivered"
        and state.scenes == ["scene-1"]
    )


async def test_scenes_without_a_known_request_change_nothing(orders):
    await progress.record_scene(orders, scene(None, WEST, 1))
    await progress.record_scene(orders, scene("req-2026-unknown", WEST, 2))
    assert orders.requests.events == [] and not orders.licences.obtained


async def test_concurrent_writers_are_retried_then_give_up(orders, make_draft, operator):
    req = await approved(orders, make_draft, operator)
    rid = req["request_id"]
    await progress.start_acquisition(orders, rid, "SIM-1")
    orders.requests.store.conflicts = 3
    await progress.record_scene(orders, scene(rid, WEST, 1), backoff=NO_WAIT)
    assert (await orders.requests.require(rid)).scenes == ["scene-1"]
    orders.requests.store.conflicts = 100
    with pytest.raises(ConcurrentUpdate):
        await progress.record_scene(orders, scene(rid, EAST, 2), backoff=NO_WAIT)
    assert orders.requests.store.conflicts == 100 - progress.SCENE_ATTEMPTS
    # The quota consumed for the retried scene counted once (the ledger's reference).
    balance = await orders.ledger.balance(f"org-labo|pleiades-neo|{req['quota_period']}")
    assert balance.consumed == pytest.approx(req["area_km2"], rel=0.02)
