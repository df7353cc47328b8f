"""The acquisition request's state machine (pure): which transitions exist, and who
may make them. Every change of a request's state goes through `transition`.

    submitted -> under_review -> approved | rejected | needs_cofinancing
    needs_cofinancing -> approved | rejected | cancelled
    approved -> in_progress -> fulfilled | partially_fulfilled | expired
    before the supplier has the order (submitted, under_review, needs_cofinancing,
    approved) -> cancelled, by the request's author; once `in_progress` the supplier is
    acquiring and imagery will arrive: no cancellation (it would refund quota for
    imagery still delivered)
    approved -> expired (system): never placed with the supplier before the window ended
"""

from __future__ import annotations

from enum import StrEnum

from dinamis_shared.errors import DinamisError
from dinamis_shared.events import RequestStatus

# The states are part of the event contract (`request-updated`).
RequestState = RequestStatus


FINAL = {
    RequestState.REJECTED,
    RequestState.FULFILLED,
    RequestState.PARTIALLY_FULFILLED,
    RequestState.EXPIRED,
    RequestState.CANCELLED,
}


class Action(StrEnum):
    START_REVIEW = "start_review"
    APPROVE = "approve"
    REJECT = "reject"
    REQUIRE_COFINANCING = "require_cofinancing"
    START_ACQUISITION = "start_acquisition"
    FULFIL = "fulfil"
    FULFIL_PARTIALLY = "fulfil_partially"
    EXPIRE = "expire"
    CANCEL = "cancel"


class Actor(StrEnum):
    AUTHOR = "author"  # the member who submitted the request
    OPERATOR = "operator"  # DINAMIS staff (operator or admin role)
    SYSTEM = "system"  # the platform, on supplier events and deadlines


S, A = RequestState, Action
EDGES: dict[tuple[RequestState, Action], tuple[RequestState, set[Actor]]] = {
    (S.SUBMITTED, A.START_REVIEW): (S.UNDER_REVIEW, {Actor.OPERATOR}),
    (S.UNDER_REVIEW, A.APPROVE): (S.APPROVED, {Actor.OPERATOR}),
    (S.UNDER_REVIEW, A.REJECT): (S.REJECTED, {Actor.OPERATOR}),
    (S.UNDER_REVIEW, A.REQUIRE_COFINANCING): (S.NEEDS_COFINANCING, {Actor.OPERATOR, Actor.SYSTEM}),
    (S.NEEDS_COFINANCING, A.APPROVE): (S.APPROVED, {Actor.OPERATOR}),
    (S.NEEDS_COFINANCING, A.REJECT): (S.REJECTED, {Actor.OPERATOR}),
    (S.APPROVED, A.START_ACQUISITION): (S.IN_PROGRESS, {Actor.SYSTEM, Actor.OPERATOR}),
    (S.IN_PROGRESS, A.FULFIL): (S.FULFILLED, {Actor.SYSTEM}),
    (S.IN_PROGRESS, A.FULFIL_PARTIALLY): (S.PARTIALLY_FULFILLED, {Actor.SYSTEM}),
    (S.IN_PROGRESS, A.EXPIRE): (S.EXPIRED, {Actor.SYSTEM}),
    (S.APPROVED, A.EXPIRE): (S.EXPIRED, {Actor.SYSTEM}),
}


class InvalidTransition(DinamisError):
    code = "invalid-transition"
    http_status = 409


class TransitionForbidden(DinamisError):
    code = "transition-forbidden"
    http_status = 403


def transition(state: RequestState, action: Action, actor: Actor) -> RequestState:
    """The state after `action` by `actor`, or InvalidTransition / TransitionForbidden."""
    if action is Action.CANCEL:
        if state in FINAL or state is RequestState.IN_PROGRESS:
            raise InvalidTransition(
                f"une demande « {state} » ne peut plus être annulée / a {state} request "
                "can no longer be cancelled"
            )
        if actor is not Actor.AUTHOR:
            raise TransitionForbidden("seul l'auteur peut annuler sa demande / only the author may cancel")
        return RequestState.CANCELLED
    edge = EDGES.get((state, action))
    if edge is None:
        allowed_now = allowed_actions(state)
        listed = ", ".join(allowed_now) or "aucune / none"
        raise InvalidTransition(
            f"« {action} » impossible depuis « {state} » ; actions possibles : {listed} / cannot "
            f"{action} a {state} request; allowed: {listed}"
        )
    target, allowed = edge
    if actor not in allowed:
        raise TransitionForbidden(
            f"« {action} » est réservé à / is reserved to: {', '.join(sorted(allowed))}"
        )
    return target


def allowed_actions(state: RequestState) -> list[str]:
    """The actions possible from `state` (whoever the actor), for error messages and UIs."""
    actions = [action.value for (source, action) in EDGES if source == state]
    if state not in FINAL and state is not RequestState.IN_PROGRESS:
        actions.append(Action.CANCEL.value)
    return actions
