"""Who is told what: every event kind, its feeds and its audiences (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dinamis_notify.domain.routing import (
    OPERATIONS_FEED,
    Kind,
    RequestMemo,
    ToOperators,
    ToReferents,
    ToUser,
    org_feed,
    route,
)
from dinamis_shared.events import (
    DeliveryRequestedV1,
    Event,
    OrganisationChangedV1,
    OrganisationStatus,
    ProductFailedV1,
    ProductReadyV1,
    RequestApprovedV1,
    RequestRejectedV1,
    RequestStatus,
    RequestSubmittedV1,
    RequestUpdatedV1,
    SceneIngestedV1,
    SceneRejectedV1,
)
from dinamis_testkit.examples import example_events

EXAMPLES = {type(e): e for e in example_events()}
NOW = datetime(2026, 7, 1, tzinfo=UTC)


def example(model: type[Event], **changes) -> Event:
    return model.model_validate({**EXAMPLES[model].model_dump(), **changes})


def audiences(plan) -> set:
    return {(m.kind, m.audience) for m in plan.messages}


def test_request_submitted_reaches_its_author_and_the_review_queue():
    event = example(RequestSubmittedV1)
    plan = route(event, "ce-1")
    assert audiences(plan) == {
        (Kind.REQUEST_RECEIVED, ToUser(event.submitted_by)),
        (Kind.REVIEW_QUEUE, ToOperators()),
    }
    assert plan.feeds == (org_feed(event.organisation_id), OPERATIONS_FEED)
    assert "aoi" not in plan.summary and plan.summary["window_start"]


@pytest.mark.parametrize("model, status", [(RequestApprovedV1, "approved"), (RequestRejectedV1, "rejected")])
def test_decision_events_reach_the_submitter_known_from_the_memo(model, status):
    event = example(model)
    memo = RequestMemo(event.request_id, event.organisation_id, "u-author")
    plan = route(event, "ce-2", request=memo)
    assert audiences(plan) == {(Kind(f"request-{status}"), ToUser("u-author"))}
    assert plan.messages[0].key == f"request:{event.request_id}:{status}"
    # Unknown submitter: the stream still shows it, request-updated will tell the person.
    assert route(event, "ce-2").messages == ()
    assert route(event, "ce-2").feeds == (org_feed(event.organisation_id), OPERATIONS_FEED)


@pytest.mark.parametrize(
    "status, kind",
    [
        ("approved", Kind.REQUEST_APPROVED),
        ("rejected", Kind.REQUEST_REJECTED),
        ("needs_cofinancing", Kind.REQUEST_NEEDS_COFINANCING),
        ("fulfilled", Kind.REQUEST_FULFILLED),
        ("partially_fulfilled", Kind.REQUEST_PARTIALLY_FULFILLED),
        ("expired", Kind.REQUEST_EXPIRED),
    ],
)
def test_request_updates_tell_the_submitter_once_per_decision(status, kind):
    event = example(RequestUpdatedV1, status=status, previous_status="under_review")
    plan = route(event, "ce-3")
    assert audiences(plan) == {(kind, ToUser(event.submitted_by))}
    approved = example(RequestApprovedV1, request_id=event.request_id)
    memo = RequestMemo(event.request_id, event.organisation_id, event.submitted_by)
    if status == "approved":  # the same decision from both events shares one dedupe key
        assert route(approved, "ce-4", request=memo).messages[0].key == plan.messages[0].key


@pytest.mark.parametrize("status", ["submitted", "under_review", "in_progress", "cancelled"])
def test_other_request_states_only_reach_the_stream(status):
    event = example(RequestUpdatedV1, status=status, previous_status=None)
    plan = route(event, "ce-5")
    assert plan.messages == () and OPERATIONS_FEED in plan.feeds


def test_progress_without_a_state_change_sends_nothing():
    event = example(RequestUpdatedV1, status="fulfilled", previous_status="fulfilled", covered_share=1.0)
    assert route(event, "ce-6").messages == ()


def test_product_ready_reaches_who_ordered_it_only():
    event = example(ProductReadyV1, user_id="u-buyer")
    assert audiences(route(event, "ce-7")) == {(Kind.PRODUCT_READY, ToUser("u-buyer"))}
    assert route(example(ProductReadyV1, user_id=None), "ce-7").messages == ()


def test_product_failed_reaches_the_buyer_and_the_operators():
    event = example(ProductFailedV1, user_id="u-buyer")
    assert audiences(route(event, "ce-8")) == {
        (Kind.PRODUCT_FAILED, ToUser("u-buyer")),
        (Kind.DELIVERY_FAILURE, ToOperators()),
    }


def test_scene_rejected_reaches_operators_only():
    plan = route(example(SceneRejectedV1), "ce-9")
    assert audiences(plan) == {(Kind.INGEST_REJECTION, ToOperators())}
    assert plan.feeds == (OPERATIONS_FEED,)


def test_scene_ingested_is_stream_only_and_reaches_the_requesting_organisation():
    event = example(SceneIngestedV1, acquisition_request_id="REQ-1")
    plan = route(event, "ce-10", request=RequestMemo("REQ-1", "org-x", "u"))
    assert plan.messages == ()
    assert plan.feeds == (org_feed("org-x"), OPERATIONS_FEED)
    assert "item" not in plan.summary and plan.summary["item_id"] == event.item["id"]
    assert route(example(SceneIngestedV1), "ce-10").feeds == (OPERATIONS_FEED,)


@pytest.mark.parametrize("status", ["active", "refused", "suspended", "expired"])
def test_membership_decisions_reach_the_referents_when_the_status_changes(status):
    event = example(OrganisationChangedV1, status=status)
    plan = route(event, "ce-11", previous_org_status=OrganisationStatus.PENDING)
    assert audiences(plan) == {(Kind.MEMBERSHIP_CHANGED, ToReferents(event.organisation_id))}
    # A delegation change keeps the status: nobody is told again.
    assert route(event, "ce-12", previous_org_status=OrganisationStatus(status)).messages == ()


def test_membership_application_reaches_the_operators():
    event = example(OrganisationChangedV1, status="pending")
    assert audiences(route(event, "ce-13")) == {(Kind.MEMBERSHIP_REVIEW, ToOperators())}


def test_events_notify_does_not_route_reach_nobody():
    plan = route(example(DeliveryRequestedV1), "ce-14")
    assert plan.messages == () and plan.feeds == ()


def test_every_decision_status_is_a_request_status():
    from dinamis_notify.domain.routing import DECISION_KINDS

    assert set(DECISION_KINDS) <= set(RequestStatus)
