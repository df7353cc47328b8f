"""Issue 12, hole 1: cancelling between approval and `in_progress` refunds the quota
only once the supplier confirms nothing is acquired (unit, on the fakes)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dinamis_orders.domain.requests import (
    Action,
    Actor,
    InvalidTransition,
    RequestState,
    TransitionForbidden,
    allowed_actions,
    public_status,
    transition,
)
from dinamis_orders.service import cancellation, periodic, progress, review
from dinamis_shared.events import RequestUpdatedV1

S = RequestState


def test_the_state_machine_holds_approved_cancellations_until_the_supplier_answers():
    assert transition(S.UNDER_REVIEW, Action.CANCEL, Actor.AUTHOR) is S.CANCELLED
    assert transition(S.APPROVED, Action.CANCEL, Actor.AUTHOR) is S.CANCELLING
    assert transition(S.CANCELLING, Action.CONFIRM_CANCELLATION, Actor.SYSTEM) is S.CANCELLED
    assert transition(S.CANCELLING, Action.START_ACQUISITION, Actor.SYSTEM) is S.IN_PROGRESS
    assert transition(S.CANCELLING, Action.EXPIRE, Actor.SYSTEM) is S.EXPIRED
    with pytest.raises(TransitionForbidden):  # the author cannot confirm their own cancellation
        transition(S.CANCELLING, Action.CONFIRM_CANCELLATION, Actor.AUTHOR)
    with pytest.raises(InvalidTransition):
        transition(S.CANCELLING, Action.CANCEL, Actor.AUTHOR)
    with pytest.raises(InvalidTransition):
        transition(S.APPROVED, Action.CONFIRM_CANCELLATION, Actor.OPERATOR)
    assert "cancel" not in allowed_actions(S.CANCELLING)
    assert public_status(S.CANCELLING) == "approved"


async def _approved(orders, make_draft, operator):
    author = await orders.member_org()
    req = await review.submit(orders, author, make_draft())
    qid = f"org-labo|pleiades-neo|{req['quota_period']}"
    await orders.ledger.allocate(qid, 100, "op-paul", "dotation")
    rid = req["request_id"]
    await review.act(orders, operator, rid, Action.START_REVIEW, None)
    approved = await review.act(orders, operator, rid, Action.APPROVE, None)
    assert approved["status"] == "approved"
    return author, rid, qid


async def test_cancel_before_acquisition_is_confirmed_by_the_supplier_then_refunded(
    supplied, make_draft, operator
):
    author, rid, qid = await _approved(supplied, make_draft, operator)
    done = await review.act(supplied, author, rid, Action.CANCEL, None)
    assert done["status"] == "cancelled" and rid in supplied.supplier.cancelled
    assert (await supplied.ledger.balance(qid)).available == 100
    history = [h["change"] for h in await supplied.requests.history(rid)]
    assert history[-2:] == ["cancellation requested", "confirm_cancellation"]
    last = supplied.requests.events[-1]
    assert isinstance(last, RequestUpdatedV1)
    assert (last.previous_status, last.status) == ("approved", "cancelled")
    # The placement that raced the cancellation finds it cancelled: nothing is started.
    assert await progress.place_with_supplier(supplied, rid) is True
    assert (await supplied.requests.require(rid)).status == "cancelled"


async def test_cancel_refused_while_the_supplier_acquires_keeps_the_quota(supplied, make_draft, operator):
    author, rid, qid = await _approved(supplied, make_draft, operator)
    supplied.supplier.acquiring.add(rid)  # placed and acquiring, the in_progress write not yet seen
    with pytest.raises(cancellation.CancellationRefused) as err:
        await review.act(supplied, author, rid, Action.CANCEL, None)
    assert err.value.http_status == 409 and err.value.code == "supplier-acquiring"
    assert err.value.message_fr and "fournisseur" in err.value.message_fr
    request = await supplied.requests.require(rid)
    assert request.status is S.IN_PROGRESS and request.supplier_order_id == f"SIM-{rid}"
    balance = await supplied.ledger.balance(qid)
    assert balance.reserved == pytest.approx(request.area_km2) and balance.available < 100


async def test_supplier_unreachable_keeps_cancelling_and_the_periodic_pass_settles(
    supplied, make_draft, operator
):
    author, rid, qid = await _approved(supplied, make_draft, operator)
    supplied.supplier.down = True
    asked = await review.act(supplied, author, rid, Action.CANCEL, None)
    assert asked["status"] == "cancelling"
    assert (await supplied.ledger.balance(qid)).available < 100  # not refunded yet
    with pytest.raises(InvalidTransition):
        await review.act(supplied, author, rid, Action.CANCEL, None)
    assert await progress.place_pending(supplied) == 0  # a cancelling request is never placed
    supplied.supplier.down = False
    steps = periodic.passes(supplied)
    assert await steps["supplier cancellations"]() == 1
    assert (await supplied.requests.require(rid)).status is S.CANCELLED
    assert (await supplied.ledger.balance(qid)).available == 100


async def test_without_an_adapter_an_operator_confirms(orders, make_draft, operator):
    author, rid, qid = await _approved(orders, make_draft, operator)
    assert (await review.act(orders, author, rid, Action.CANCEL, None))["status"] == "cancelling"
    with pytest.raises(TransitionForbidden):
        await review.act(orders, author, rid, Action.CONFIRM_CANCELLATION, "moi")
    with pytest.raises(Exception) as err:
        await review.act(orders, operator, rid, Action.CONFIRM_CANCELLATION, None)
    assert getattr(err.value, "code", None) == "reason-required"
    # Or the supplier had already started: the operator records it, nothing is refunded.
    started = await review.act(orders, operator, rid, Action.START_ACQUISITION, "AIRBUS-9")
    assert started["status"] == "in_progress"
    assert (await orders.ledger.balance(qid)).available < 100


async def test_a_cancelling_request_expires_with_its_window(supplied, make_draft, operator):
    author, rid, qid = await _approved(supplied, make_draft, operator)
    supplied.supplier.down = True
    await review.act(supplied, author, rid, Action.CANCEL, None)
    supplied.fake_clock.advance(timedelta(days=120))
    assert await periodic.passes(supplied)["request expiry"]() == 1
    assert (await supplied.requests.require(rid)).status is S.EXPIRED
    assert (await supplied.ledger.balance(qid)).available == 100
