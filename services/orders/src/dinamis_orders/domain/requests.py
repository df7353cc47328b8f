"""The acquisition request's state machine (pure): which transitions exist, and who
may make them. Every change of a request's state goes through `transition`.

    submitted -> under_review -> approved | rejected | needs_cofinancing
    needs_cofinancing -> approved | rejected | cancelled
    approved -> in_progress -> fulfilled | partially_fulfilled | expired
    before any supplier order (submitted, under_review, needs_cofinancing) -> cancelled,
    by the request's author
    approved -> cancelling, by the author: the supplier order may have been placed, so
    the quota stays reserved until the supplier confirms the cancellation
    cancelling -> cancelled (the supplier, or an operator, confirmed: quota refunded)
               | in_progress (the supplier is already acquiring: the cancellation is
                 refused) | expired
    once `in_progress` the supplier is acquiring and imagery will arrive: no
    cancellation (it would refund quota for imagery still delivered)
    approved -> expired (system): never placed with the supplier before the window ended

`cancelling` is the orders service's own state: the event contract (`RequestStatus`,
`request-updated`) does not carry it. Events name it by the public state it stands for
(`approved`, see `public_status`); entering it writes the history only.
"""

from __future__ import annotations

from enum import StrEnum

from dinamis_shared.errors import DinamisError
from dinamis_shared.events import RequestStatus


class RequestState(StrEnum):
    """The contract's states (`RequestStatus`, carried by `request-updated`), plus
    `cancelling`, known to the orders service only."""

    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    NEEDS_COFINANCING = "needs_cofinancing"
    APPROVED = "approved"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    FULFILLED = "fulfilled"
    PARTIALLY_FULFILLED = "partially_fulfilled"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    CANCELLING = "cancelling"


def public_status(state: RequestState) -> RequestStatus:
    """The state as the event contract names it (`cancelling` is still `approved`)."""
    if state is RequestState.CANCELLING:
        return RequestStatus.APPROVED
    return RequestStatus(state.value)


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
    CONFIRM_CANCELLATION = "confirm_cancellation"


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
    (S.CANCELLING, A.CONFIRM_CANCELLATION): (S.CANCELLED, {Actor.SYSTEM, Actor.OPERATOR}),
    (S.CANCELLING, A.START_ACQUISITION): (S.IN_PROGRESS, {Actor.SYSTEM, Actor.OPERATOR}),
    (S.CANCELLING, A.EXPIRE): (S.EXPIRED, {Actor.SYSTEM}),
}
# No cancellation from these: final, being cancelled, or the supplier is acquiring.
NOT_CANCELLABLE = {*FINAL, RequestState.IN_PROGRESS, RequestState.CANCELLING}


class InvalidTransition(DinamisError):
    code = "invalid-transition"
    http_status = 409


class TransitionForbidden(DinamisError):
    code = "transition-forbidden"
    http_status = 403


def transition(state: RequestState, action: Action, actor: Actor) -> RequestState:
    """The state after `action` by `actor`, or InvalidTransition / TransitionForbidden."""
    if action is Action.CANCEL:
        if state is RequestState.CANCELLING:
            raise InvalidTransition(
                "l'annulation de cette demande attend déjà la confirmation du fournisseur / "
                "this request's cancellation already awaits the supplier's confirmation"
            )
        if state in NOT_CANCELLABLE:
            raise InvalidTransition(
                f"une demande « {state} » ne peut plus être annulée / a {state} request "
                "can no longer be cancelled"
            )
        if actor is not Actor.AUTHOR:
            raise TransitionForbidden("seul l'auteur peut annuler sa demande / only the author may cancel")
        # Approved: the supplier order may have been placed; the supplier decides.
        return RequestState.CANCELLING if state is RequestState.APPROVED else RequestState.CANCELLED
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
    if state not in NOT_CANCELLABLE:
        actions.append(Action.CANCEL.value)
    return actions
