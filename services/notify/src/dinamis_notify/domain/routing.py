"""Who is told what about an event (pure: no I/O).

`route` turns one event into a `Plan`:
- `feeds`: the live streams it appears in — `org:<id>` (the members of that
  organisation) and `operations` (DINAMIS staff); webhooks registered on a feed
  receive the same events;
- `messages`: personal notifications (e-mail), each a kind and an audience (one
  user, the operators, or an organisation's referents). Whether an e-mail goes out
  is then the recipient's preference for that kind (`preferences.py`).

Every message has a dedupe key; the service sends at most one message per
(key, recipient, channel). The key is the CloudEvent id, except for request
decisions: `request-approved`/`request-rejected` and the matching
`request-updated` both announce one decision, so their key is the request and its
new status, and the person hears it once whichever arrives first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dinamis_shared.events import (
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

OPERATIONS_FEED = "operations"


def org_feed(organisation_id: str) -> str:
    return f"org:{organisation_id}"


class Kind(StrEnum):
    """Kinds of personal notification; preferences are kept per kind."""

    REQUEST_RECEIVED = "request-received"
    REQUEST_APPROVED = "request-approved"
    REQUEST_REJECTED = "request-rejected"
    REQUEST_NEEDS_COFINANCING = "request-needs-cofinancing"
    REQUEST_FULFILLED = "request-fulfilled"
    REQUEST_PARTIALLY_FULFILLED = "request-partially-fulfilled"
    REQUEST_EXPIRED = "request-expired"
    PRODUCT_READY = "product-ready"
    PRODUCT_FAILED = "product-failed"
    MEMBERSHIP_CHANGED = "membership-changed"
    # Operations (operators only)
    REVIEW_QUEUE = "review-queue"
    MEMBERSHIP_REVIEW = "membership-review"
    INGEST_REJECTION = "ingest-rejection"
    DELIVERY_FAILURE = "delivery-failure"


OPERATIONS_KINDS = frozenset(
    {Kind.REVIEW_QUEUE, Kind.MEMBERSHIP_REVIEW, Kind.INGEST_REJECTION, Kind.DELIVERY_FAILURE}
)

# The request states a submitter hears about, and as which kind.
DECISION_KINDS: dict[RequestStatus, Kind] = {
    RequestStatus.APPROVED: Kind.REQUEST_APPROVED,
    RequestStatus.REJECTED: Kind.REQUEST_REJECTED,
    RequestStatus.NEEDS_COFINANCING: Kind.REQUEST_NEEDS_COFINANCING,
    RequestStatus.FULFILLED: Kind.REQUEST_FULFILLED,
    RequestStatus.PARTIALLY_FULFILLED: Kind.REQUEST_PARTIALLY_FULFILLED,
    RequestStatus.EXPIRED: Kind.REQUEST_EXPIRED,
}

# Membership states the organisation's referents hear about.
MEMBERSHIP_NOTIFIED = frozenset(
    {
        OrganisationStatus.ACTIVE,
        OrganisationStatus.REFUSED,
        OrganisationStatus.SUSPENDED,
        OrganisationStatus.EXPIRED,
    }
)


@dataclass(frozen=True)
class ToUser:
    user_id: str


@dataclass(frozen=True)
class ToOperators:
    pass


@dataclass(frozen=True)
class ToReferents:
    organisation_id: str


Audience = ToUser | ToOperators | ToReferents


@dataclass(frozen=True)
class Message:
    kind: Kind
    audience: Audience
    key: str


@dataclass(frozen=True)
class RequestMemo:
    """What notify remembers of a request (from request-submitted / request-updated):
    the approval and rejection events do not say who submitted it."""

    request_id: str
    organisation_id: str
    submitted_by: str


@dataclass(frozen=True)
class Plan:
    name: str  # the event name, e.g. "product-ready"
    summary: dict  # what streams and messages show (no geometry, no STAC item)
    feeds: tuple[str, ...] = ()
    messages: tuple[Message, ...] = field(default_factory=tuple)


# Large or personal fields kept out of streams and e-mails.
_SUMMARY_EXCLUDE = {"aoi", "item", "footprint", "staging", "checksums", "delegation", "window"}


def summarise(event: Event) -> dict:
    summary = event.model_dump(mode="json", exclude=_SUMMARY_EXCLUDE & set(type(event).model_fields))
    if isinstance(event, SceneIngestedV1):
        summary["item_id"] = event.item.get("id")
        summary["datetime"] = (event.item.get("properties") or {}).get("datetime")
    if hasattr(event, "window"):
        summary["window_start"] = event.window.start.isoformat()
        summary["window_end"] = event.window.end.isoformat()
    return summary


def decision_key(request_id: str, status: RequestStatus | str) -> str:
    return f"request:{request_id}:{RequestStatus(status).value}"


def route(
    event: Event,
    event_id: str,
    *,
    request: RequestMemo | None = None,
    previous_org_status: OrganisationStatus | None = None,
) -> Plan:
    """The plan for one event. `request` is the memo of the request the event is
    about (approval, rejection, or the request a scene was acquired for);
    `previous_org_status` the last membership status notify saw for that organisation."""
    name = event.EVENT
    summary = summarise(event)
    ops = (OPERATIONS_FEED,)
    match event:
        case RequestSubmittedV1():
            return Plan(
                name,
                summary,
                (org_feed(event.organisation_id), *ops),
                (
                    Message(Kind.REQUEST_RECEIVED, ToUser(event.submitted_by), event_id),
                    Message(Kind.REVIEW_QUEUE, ToOperators(), event_id),
                ),
            )
        case RequestApprovedV1() | RequestRejectedV1():
            status = (
                RequestStatus.APPROVED if isinstance(event, RequestApprovedV1) else RequestStatus.REJECTED
            )
            messages: tuple[Message, ...] = ()
            if request is not None:
                messages = (
                    Message(
                        DECISION_KINDS[status],
                        ToUser(request.submitted_by),
                        decision_key(event.request_id, status),
                    ),
                )
            return Plan(name, summary, (org_feed(event.organisation_id), *ops), messages)
        case RequestUpdatedV1():
            kind = DECISION_KINDS.get(event.status)
            messages = ()
            if kind is not None and event.status != event.previous_status:
                key = decision_key(event.request_id, event.status)
                messages = (Message(kind, ToUser(event.submitted_by), key),)
            return Plan(name, summary, (org_feed(event.organisation_id), *ops), messages)
        case ProductReadyV1():
            messages = ()
            if event.user_id:
                messages = (Message(Kind.PRODUCT_READY, ToUser(event.user_id), event_id),)
            return Plan(name, summary, (org_feed(event.organisation_id), *ops), messages)
        case ProductFailedV1():
            messages = (Message(Kind.DELIVERY_FAILURE, ToOperators(), event_id),)
            if event.user_id:
                messages = (Message(Kind.PRODUCT_FAILED, ToUser(event.user_id), event_id), *messages)
            return Plan(name, summary, (org_feed(event.organisation_id), *ops), messages)
        case SceneRejectedV1():
            return Plan(name, summary, ops, (Message(Kind.INGEST_REJECTION, ToOperators(), event_id),))
        case SceneIngestedV1():
            # Live stream only: a coverage campaign ingests hundreds of scenes a day.
            feeds = ops if request is None else (org_feed(request.organisation_id), *ops)
            return Plan(name, summary, feeds)
        case OrganisationChangedV1():
            messages = ()
            if event.status != previous_org_status:
                if event.status in MEMBERSHIP_NOTIFIED:
                    messages = (
                        Message(Kind.MEMBERSHIP_CHANGED, ToReferents(event.organisation_id), event_id),
                    )
                elif event.status == OrganisationStatus.PENDING:
                    messages = (Message(Kind.MEMBERSHIP_REVIEW, ToOperators(), event_id),)
            return Plan(name, summary, (org_feed(event.organisation_id), *ops), messages)
    return Plan(name, summary)
