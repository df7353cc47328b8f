"""Use cases of submission and review, on in-memory fakes (no server)."""

from __future__ import annotations

import pytest

from dinamis_orders.adapters.aggregates import ConcurrentUpdate
from dinamis_orders.domain.quota import InsufficientQuota
from dinamis_orders.domain.requests import Action, InvalidTransition, TransitionForbidden
from dinamis_orders.service import review
from dinamis_shared.auth import Forbidden, Principal, Role
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import RequestApprovedV1, RequestRejectedV1, RequestSubmittedV1, RequestUpdatedV1


async def submitted(orders, make_draft, **extra) -> tuple[Principal, dict]:
    author = await orders.member_org()
    return author, await review.submit(orders, author, make_draft(**extra))


async def allocate(orders, request: dict, km2: float) -> None:
    qid = f"{request['organisation_id']}|{request['sensor_family']}|{request['quota_period']}"
    await orders.ledger.allocate(qid, km2, "op-paul", "dotation")


async def act(orders, who, request: dict, action: str, reason: str | None = None) -> dict:
    return await review.act(orders, who, request["request_id"], Action(action), reason)


async def test_submit_stores_the_request_with_its_events(orders, make_draft):
    author, req = await submitted(orders, make_draft)
    assert req["status"] == "submitted" and req["rev"] == 1 and 35 < req["area_km2"] < 40
    assert req["request_id"].startswith(f"req-{orders.now():%Y}-")
    assert req["submitted_at"] == orders.now().isoformat() and req["submitted_by"] == author.user_id
    assert req["bbox"] == [3.05, 45.75, 3.14, 45.8] and req["title"] == "Suivi des haies"
    events = orders.requests.events
    assert [type(e) for e in events] == [RequestSubmittedV1, RequestUpdatedV1]
    assert events[1].previous_status is None and events[1].status == "submitted"
    assert [h["change"] for h in await orders.requests.history(req["request_id"])] == ["submitted"]


async def test_only_active_members_submit(orders, make_draft, operator):
    stranger = Principal(user_id="u1", organisation_id="nobody", roles=frozenset({Role.MEMBER}))
    with pytest.raises(Forbidden) as err:
        await review.submit(orders, stranger, make_draft())
    assert err.value.code == "not-a-member"
    with pytest.raises(Forbidden):  # staff ask for imagery through a member body only
        await review.submit(orders, operator, make_draft())


async def test_review_transitions_and_who_may_make_them(orders, make_draft, operator):
    author, req = await submitted(orders, make_draft)
    with pytest.raises(InvalidTransition):  # no review yet
        await act(orders, operator, req, "approve")
    with pytest.raises(TransitionForbidden):
        await act(orders, author, req, "start_review")
    other_org = Principal(user_id="u2", organisation_id="org-other", roles=frozenset({Role.MEMBER}))
    with pytest.raises(Forbidden):
        await act(orders, other_org, req, "cancel")
    assert (await act(orders, operator, req, "start_review"))["status"] == "under_review"
    with pytest.raises(DinamisError) as err:
        await act(orders, operator, req, "reject")
    assert err.value.code == "reason-required"
    with pytest.raises(InvalidTransition):
        await act(orders, operator, req, "fulfil")  # done by the platform only
    rejected = await act(orders, operator, req, "reject", "hors périmètre")
    assert rejected["status"] == "rejected" and rejected["last_reason"] == "hors périmètre"
    rejection = [e for e in orders.requests.events if isinstance(e, RequestRejectedV1)]
    assert rejection and rejection[0].reason == "hors périmètre" and rejection[0].rejected_by == "op-paul"
    history = await orders.requests.history(req["request_id"])
    assert [(h["change"], h["by"], h["why"]) for h in history][1:] == [
        ("start_review", "op-paul", None),
        ("reject", "op-paul", "hors périmètre"),
    ]
    assert history[2]["events"] == [RequestRejectedV1.ce_type(), RequestUpdatedV1.ce_type()]


async def test_approval_within_the_quota_reserves_it(orders, make_draft, operator):
    _author, req = await submitted(orders, make_draft)
    await allocate(orders, req, 100)
    await act(orders, operator, req, "start_review")
    approved = await act(orders, operator, req, "approve")
    assert approved["status"] == "approved" and approved["reserved_km2"] == req["area_km2"]
    assert approved["approved_by"] == "op-paul" and approved["cofinanced_km2"] == 0
    event = next(e for e in orders.requests.events if isinstance(e, RequestApprovedV1))
    assert event.reserved_km2 == req["area_km2"] and event.quota_period == req["quota_period"]
    balance = await orders.ledger.balance(f"org-labo|pleiades-neo|{req['quota_period']}")
    assert balance.reservations == {req["request_id"]: req["area_km2"]}


async def test_beyond_the_quota_cofinancing_is_offered_confirmed_then_approved(orders, make_draft, operator):
    author, req = await submitted(orders, make_draft)
    area = req["area_km2"]
    await allocate(orders, req, 20)
    await act(orders, operator, req, "start_review")
    asked = await act(orders, operator, req, "approve")
    assert asked["status"] == "needs_cofinancing"
    offer = asked["cofinancing"]
    assert offer == {
        "km2": pytest.approx(area - 20),
        "price_per_km2_eur": 6.0,
        "amount_eur": pytest.approx((area - 20) * 6.0, abs=0.01),
    }
    with pytest.raises(InsufficientQuota):  # not confirmed yet
        await act(orders, operator, req, "approve")
    referent_of_other = Principal(user_id="u9", organisation_id="org-labo", roles=frozenset({Role.MEMBER}))
    with pytest.raises(Forbidden):
        await review.confirm_cofinancing(orders, referent_of_other, req["request_id"])
    confirmed = await review.confirm_cofinancing(orders, author, req["request_id"])
    assert confirmed["cofinancing"]["confirmed_by"] == author.user_id
    approved = await act(orders, operator, req, "approve")
    assert approved["status"] == "approved" and approved["reserved_km2"] == 20
    assert approved["cofinanced_km2"] == pytest.approx(area - 20)
    qid = f"org-labo|pleiades-neo|{req['quota_period']}"
    assert (await orders.ledger.balance(qid)).available == 0
    history = await orders.requests.history(req["request_id"])
    assert [h["change"] for h in history] == [
        "submitted",
        "start_review",
        "require_cofinancing",
        "cofinancing confirmed",
        "approve",
    ]
    # Cancelled by its author: approved, the supplier order may exist (placed by hand
    # here, no adapter): the quota comes back once an operator confirms the supplier's
    # cancellation.
    assert (await act(orders, author, req, "cancel"))["status"] == "cancelling"
    assert (await orders.ledger.balance(qid)).available == 0
    confirmed = await act(orders, operator, req, "confirm_cancellation", "annulée chez Airbus (courriel)")
    assert confirmed["status"] == "cancelled"
    assert (await orders.ledger.balance(qid)).available == 20


async def test_a_quota_fallen_since_the_confirmation_is_offered_again(orders, make_draft, operator):
    author, req = await submitted(orders, make_draft)
    await allocate(orders, req, 20)
    await act(orders, operator, req, "start_review")
    first = (await act(orders, operator, req, "approve"))["cofinancing"]
    await review.confirm_cofinancing(orders, author, req["request_id"])
    qid = f"org-labo|pleiades-neo|{req['quota_period']}"
    await orders.ledger.adjust(qid, -10, "op-paul", "correction")
    again = await act(orders, operator, req, "approve")
    assert again["status"] == "needs_cofinancing"
    assert again["cofinancing"]["km2"] == pytest.approx(first["km2"] + 10)
    assert "confirmed_at" not in again["cofinancing"]
    assert (await orders.ledger.balance(qid)).reserved == 0
    assert (await orders.requests.history(req["request_id"]))[-1]["change"] == "cofinancing re-offered"


async def test_confirming_without_an_offer_is_refused(orders, make_draft):
    author, req = await submitted(orders, make_draft)
    with pytest.raises(InvalidTransition):
        await review.confirm_cofinancing(orders, author, req["request_id"])


async def test_operator_requires_cofinancing_with_a_reason(orders, make_draft, operator):
    _author, req = await submitted(orders, make_draft)
    await allocate(orders, req, 30)
    await act(orders, operator, req, "start_review")
    asked = await act(orders, operator, req, "require_cofinancing", "zone prioritaire")
    assert asked["status"] == "needs_cofinancing" and asked["last_reason"] == "zone prioritaire"
    assert asked["cofinancing"]["km2"] == pytest.approx(req["area_km2"] - 30)


async def test_cancellation_rules(orders, make_draft, operator):
    author, req = await submitted(orders, make_draft)
    with pytest.raises(DinamisError) as err:
        await act(orders, operator, req, "cancel")
    assert err.value.code == "reason-required"
    with pytest.raises(TransitionForbidden):  # only the author cancels
        await act(orders, operator, req, "cancel", "doublon")
    await allocate(orders, req, 100)
    await act(orders, operator, req, "start_review")
    await act(orders, operator, req, "approve")
    started = await act(orders, operator, req, "start_acquisition", "AIRBUS-123")
    assert started["status"] == "in_progress" and started["supplier_order_id"] == "AIRBUS-123"
    with pytest.raises(InvalidTransition):  # imagery is coming: no cancellation
        await act(orders, author, req, "cancel")


async def test_a_concurrent_change_during_approval_gives_the_reservation_back(orders, make_draft, operator):
    _author, req = await submitted(orders, make_draft)
    await allocate(orders, req, 100)
    await act(orders, operator, req, "start_review")
    orders.requests.store.conflicts = 1
    with pytest.raises(ConcurrentUpdate):
        await act(orders, operator, req, "approve")
    balance = await orders.ledger.balance(f"org-labo|pleiades-neo|{req['quota_period']}")
    assert balance.reserved == 0 and balance.available == 100
