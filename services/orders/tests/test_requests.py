"""The request state machine: the documented paths, and properties over random sequences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dinamis_orders.domain.requests import (
    EDGES,
    FINAL,
    Action,
    Actor,
    InvalidTransition,
    RequestState,
    TransitionForbidden,
    transition,
)

S, A = RequestState, Action


def run(*steps: tuple[Action, Actor]) -> RequestState:
    state = S.SUBMITTED
    for action, actor in steps:
        state = transition(state, action, actor)
    return state


def test_the_paths_of_the_call_for_requests():
    op, sys_, author = Actor.OPERATOR, Actor.SYSTEM, Actor.AUTHOR
    assert (
        run((A.START_REVIEW, op), (A.APPROVE, op), (A.START_ACQUISITION, sys_), (A.FULFIL, sys_))
        == S.FULFILLED
    )
    assert run((A.START_REVIEW, op), (A.REQUIRE_COFINANCING, sys_), (A.APPROVE, op)) == S.APPROVED
    assert run((A.START_REVIEW, op), (A.REQUIRE_COFINANCING, op), (A.CANCEL, author)) == S.CANCELLED
    assert run((A.START_REVIEW, op), (A.REJECT, op)) == S.REJECTED
    assert (
        run((A.START_REVIEW, op), (A.APPROVE, op), (A.START_ACQUISITION, sys_), (A.EXPIRE, sys_)) == S.EXPIRED
    )


@pytest.mark.parametrize(
    "steps, error",
    [
        (((A.APPROVE, Actor.OPERATOR),), InvalidTransition),  # no review yet
        (((A.START_REVIEW, Actor.AUTHOR),), TransitionForbidden),  # a member cannot review
        (((A.START_REVIEW, Actor.OPERATOR), (A.APPROVE, Actor.AUTHOR)), TransitionForbidden),
        (((A.START_REVIEW, Actor.OPERATOR), (A.CANCEL, Actor.OPERATOR)), TransitionForbidden),
        (
            ((A.START_REVIEW, Actor.OPERATOR), (A.REJECT, Actor.OPERATOR), (A.CANCEL, Actor.AUTHOR)),
            InvalidTransition,
        ),
    ],
)
def test_refused_transitions(steps, error):
    with pytest.raises(error):
        run(*steps)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(Action)), st.sampled_from(list(Actor))), max_size=12))
def test_random_sequences_only_follow_documented_edges(steps):
    state = S.SUBMITTED
    for action, actor in steps:
        try:
            new = transition(state, action, actor)
        except (InvalidTransition, TransitionForbidden):
            continue
        assert state not in FINAL, "a final state changed"
        if action is A.CANCEL:
            # An approved request's supplier order may exist: the supplier confirms first.
            expected = S.CANCELLING if state is S.APPROVED else S.CANCELLED
            assert actor is Actor.AUTHOR and new is expected
            assert state not in (S.IN_PROGRESS, S.CANCELLING)
        else:
            target, allowed = EDGES[(state, action)]
            assert new is target and actor in allowed
        state = new
