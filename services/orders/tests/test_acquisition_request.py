"""The acquisition request model (pure): stored shape, approval plans, scene progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dinamis_orders.domain.acquisition import AcquisitionRequest, ApprovalPlan, Cofinancing, cofinancing_price
from dinamis_orders.domain.aoi import parse_aoi
from dinamis_orders.domain.requests import Actor, InvalidTransition, TransitionForbidden
from dinamis_shared.auth import Principal, Role
from dinamis_shared.events import OrganisationCategory, SensorFamily

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
AUTHOR = Principal(user_id="usr-a", organisation_id="org-a", roles=frozenset({Role.MEMBER}))


@pytest.fixture
def request_(make_draft) -> AcquisitionRequest:
    draft = make_draft(start=NOW + timedelta(days=30))
    aoi = parse_aoi(draft.aoi, draft.sensor_family)
    return AcquisitionRequest.submit("req-2026-abc", AUTHOR, draft, aoi, NOW).request


def test_the_stored_state_keeps_its_shape(request_):
    state = request_.state()
    assert "rev" not in state and "approved_by" not in state and "scene_footprints" not in state
    assert state["cofinancing"] is None and state["supplier_order_id"] is None
    assert state["quota_period"] == "2026-Q4" and state["title"] == "Suivi des haies"
    again = AcquisitionRequest.from_state({**state, "rev": 4})
    assert again.state() == state and again.rev == 4


def test_approval_plans(request_):
    area = request_.area_km2
    assert request_.plan_approval(0) == ApprovalPlan(reserve_km2=area)
    offer = cofinancing_price(OrganisationCategory.FRENCH_RESEARCH, SensorFamily.PLEIADES_NEO, area - 20)
    confirmed = request_.model_copy(update={"cofinancing": offer.confirm("usr-a", NOW)})
    plan = confirmed.plan_approval(20)
    assert plan.reserve_km2 == pytest.approx(20) and plan.cofinanced_km2 == pytest.approx(area - 20)
    assert confirmed.plan_approval(15).reoffer_km2 == pytest.approx(area - 15)


def test_who_acts(request_):
    operator = Principal(user_id="op", organisation_id="dinamis", roles=frozenset({Role.OPERATOR}))
    colleague = AUTHOR.model_copy(update={"user_id": "usr-b"})
    assert request_.actor(AUTHOR) is Actor.AUTHOR and request_.actor(operator) is Actor.OPERATOR
    with pytest.raises(Exception, match="not your request"):
        request_.actor(colleague)
    with pytest.raises(TransitionForbidden):
        request_.start_review(Actor.AUTHOR, "usr-a", NOW)


def test_scene_progress_and_expiry(request_):
    in_progress = AcquisitionRequest.from_state(
        {**request_.state(), "status": "in_progress", "reserved_km2": request_.area_km2}
    )
    assert request_.record_scene("s1", request_.aoi, 0.95, NOW) is None  # not in progress
    step = in_progress.record_scene("s1", request_.aoi, 0.95, NOW)
    assert step is not None and step.change.request.status == "fulfilled"
    assert step.consume_km2 == pytest.approx(request_.area_km2)
    assert step.change.request.record_scene("s1", request_.aoi, 0.95, NOW) is None  # once
    with pytest.raises(InvalidTransition):
        step.change.request.expire(NOW)
    expired = in_progress.expire(NOW)
    assert expired.request.status == "expired" and expired.change == "expire"
    assert not in_progress.window_over(NOW, 15)
    assert in_progress.window_over(in_progress.window.end + timedelta(days=15, seconds=1), 15)


def test_cofinancing_confirmation_is_recorded():
    offer = Cofinancing(km2=10, price_per_km2_eur=6.0, amount_eur=60.0)
    assert not offer.confirmed and offer.confirm("usr-a", NOW).confirmed_at == NOW
