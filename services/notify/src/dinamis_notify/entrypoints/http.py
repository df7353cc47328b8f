"""Notify's HTTP API: preferences, notification history, webhooks, live stream.

Every route needs an authenticated caller (bearer JWT or API key); each one says
who may call it. A caller only ever sees their own preferences, history and
webhooks, and only the live stream of their own organisation (plus the
operations stream for operators and admins).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from dinamis_notify.bootstrap import Notify
from dinamis_notify.domain.preferences import Preferences, PreferencesUpdate
from dinamis_notify.domain.routing import OPERATIONS_FEED, org_feed
from dinamis_notify.service.live import sse_events
from dinamis_notify.service.webhooks import public_endpoint
from dinamis_shared.auth import CurrentPrincipal, Forbidden, Principal, Role, authenticator_of, require_roles
from dinamis_shared.errors import DinamisError

router = APIRouter(tags=["notify"])
RECHECK_S = 2.0  # how often an open live stream re-checks its caller's entitlements

EventName = Literal[
    "scene-ingested",
    "scene-rejected",
    "request-submitted",
    "request-approved",
    "request-rejected",
    "request-updated",
    "product-ready",
    "product-failed",
    "organisation-changed",
]


class BadRequest(DinamisError):
    code = "bad-request"
    http_status = 400


class Overloaded(DinamisError):
    code = "overloaded"
    http_status = 503
    permanent = False
    message_fr = "Trop de connexions au flux en direct, réessayez plus tard."


def _feeds(principal: Principal) -> frozenset[str]:
    feeds = {org_feed(principal.member_organisation)}
    if principal.is_staff:
        feeds.add(OPERATIONS_FEED)
    return frozenset(feeds)


# --- preferences ----------------------------------------------------------------


@router.get("/v1/preferences")
async def get_preferences(notify: Notify, principal: CurrentPrincipal) -> dict:
    """The caller's effective notification preferences. Any authenticated user."""
    doc = await notify.store.preferences(principal.user_id)
    return Preferences.model_validate(doc or {}).effective(principal.is_staff)


@router.put("/v1/preferences")
async def put_preferences(notify: Notify, principal: CurrentPrincipal, update: PreferencesUpdate) -> dict:
    """Change the caller's preferences (absent fields unchanged). Any authenticated user."""
    current = Preferences.model_validate(await notify.store.preferences(principal.user_id) or {})
    merged = current.merged(update)
    await notify.store.save_preferences(principal.user_id, merged.model_dump(mode="json"))
    return merged.effective(principal.is_staff)


# --- history ---------------------------------------------------------------------


@router.get("/v1/notifications")
async def list_notifications(
    notify: Notify, principal: CurrentPrincipal, limit: int = Query(50, ge=1, le=500)
) -> dict:
    """The caller's latest notifications with each channel's outcome. Any authenticated user."""
    docs = await notify.store.notifications_of(principal.user_id, limit)
    return {"notifications": [{"id": d.pop("_id"), **d} for d in docs]}


# --- webhooks ---------------------------------------------------------------------


class WebhookRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="https:// URL (http and localhost: development only).")
    feed: Literal["organisation", "operations"] = Field(
        default="organisation", description="Your organisation's events, or (operators) operations events."
    )
    event_types: list[EventName] = Field(default_factory=list, max_length=20, description="Empty = all.")
    description: str = Field(default="", max_length=200)


@router.post("/v1/webhooks", status_code=201)
async def register_webhook(
    notify: Notify, principal: CurrentPrincipal, registration: WebhookRegistration
) -> JSONResponse:
    """Register an endpoint; the answer shows its signing secret, once. Any authenticated
    user for their organisation's feed; operators and admins for the operations feed."""
    if registration.feed == "operations" and not principal.has(Role.OPERATOR, Role.ADMIN):
        raise Forbidden("the operations feed is for operators", message_fr="Flux réservé aux opérateurs.")
    feed = OPERATIONS_FEED if registration.feed == "operations" else org_feed(principal.member_organisation)
    endpoint, secret = await notify.webhooks.register(
        owner=principal.user_id,
        organisation_id=principal.member_organisation,
        feed=feed,
        url=registration.url,
        event_types=list(registration.event_types),
        description=registration.description,
    )
    return JSONResponse(
        jsonable_encoder({**endpoint, "secret": secret}),
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/v1/webhooks")
async def list_webhooks(notify: Notify, principal: CurrentPrincipal) -> dict:
    """The caller's endpoints (secrets are never shown again). Any authenticated user."""
    return {"webhooks": await notify.webhooks.endpoints_of(principal.user_id)}


@router.get("/v1/staff/webhooks/failing")
async def failing_webhooks(
    notify: Notify,
    principal: Annotated[Principal, Depends(require_roles(Role.OPERATOR, Role.ADMIN))],
    limit: int = Query(100, ge=1, le=500),
) -> dict:
    """DINAMIS staff (operators, admins, as orders' records say now): every organisation's
    failing endpoints, the most recently failing first, with their last error."""
    return {"webhooks": await notify.webhooks.failing(limit)}


@router.get("/v1/webhooks/{endpoint_id}")
async def get_webhook(notify: Notify, principal: CurrentPrincipal, endpoint_id: str) -> dict:
    """One of the caller's endpoints. Its owner only."""
    return public_endpoint(await notify.webhooks.owned(principal.user_id, endpoint_id))


@router.delete("/v1/webhooks/{endpoint_id}", status_code=204)
async def delete_webhook(notify: Notify, principal: CurrentPrincipal, endpoint_id: str) -> None:
    """Remove an endpoint; its pending deliveries are cancelled. Its owner only."""
    await notify.webhooks.remove(principal.user_id, endpoint_id)


@router.post("/v1/webhooks/{endpoint_id}/reactivate")
async def reactivate_webhook(notify: Notify, principal: CurrentPrincipal, endpoint_id: str) -> dict:
    """Mark a failing endpoint active again; its held deliveries are retried. Its owner only."""
    return await notify.webhooks.reactivate(principal.user_id, endpoint_id)


@router.post("/v1/webhooks/{endpoint_id}/test", status_code=202)
async def test_webhook(notify: Notify, principal: CurrentPrincipal, endpoint_id: str) -> dict:
    """Send a test event to the endpoint: a signed delivery like any other, shown in its
    delivery log (`test: true`); one at a time. Its owner only, while entitled to the feed."""
    return await notify.webhooks.send_test(principal.user_id, endpoint_id)


@router.get("/v1/webhooks/{endpoint_id}/deliveries")
async def list_deliveries(
    notify: Notify,
    principal: CurrentPrincipal,
    endpoint_id: str,
    limit: int = Query(50, ge=1, le=200),
    status: Literal["pending", "held", "delivered", "dead-lettered", "cancelled"] | None = None,
) -> dict:
    """The endpoint's latest deliveries, each with its attempts. Its owner only."""
    return {"deliveries": await notify.webhooks.deliveries(principal.user_id, endpoint_id, status, limit)}


# --- live stream --------------------------------------------------------------------


async def _while_entitled(
    request: Request, principal: Principal, chunks: AsyncIterator[str]
) -> AsyncIterator[str]:
    """Pass the stream on while the caller still stands as they did when it opened: at
    most every `RECHECK_S` seconds (on the next entry or heartbeat) their entitlements are
    asked again (the orders service's answer, cached 5 s at most); a suspended
    organisation, a deactivated or demoted user gets `event: revoked` and the end."""
    authenticator = authenticator_of(request.app)
    next_check = time.monotonic() + RECHECK_S
    try:
        async for chunk in chunks:
            yield chunk
            if authenticator is None or time.monotonic() < next_check:
                continue
            next_check = time.monotonic() + RECHECK_S
            try:
                now: Principal | None = await authenticator.authenticate(request.headers)
            except DinamisError:
                now = None
            if (
                now is None
                or not now.in_good_standing
                or now.organisation_id != principal.organisation_id
                or now.is_staff != principal.is_staff
            ):
                yield "event: revoked\ndata: {}\n\n"
                return
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


@router.get("/events/stream")
async def event_stream(
    request: Request,
    notify: Notify,
    principal: CurrentPrincipal,
    last_event_id: str | None = Header(default=None, alias="Last-Event-ID"),
    resume_after: str | None = Query(default=None, alias="last_event_id"),
) -> StreamingResponse:
    """Server-Sent Events: the caller's organisation's events (operators and admins
    also the operations events), live. `Last-Event-ID` (header, or `last_event_id`
    query parameter) resumes after that event from the stored history. Any
    authenticated user."""
    raw = last_event_id if last_event_id is not None else resume_after
    after: int | None = None
    if raw is not None and raw.strip():
        if not re.fullmatch(r"[0-9]{1,18}", raw.strip()):
            raise BadRequest(
                "Last-Event-ID must be an event id of this stream (a non-negative integer)",
                code="bad-last-event-id",
                message_fr="Last-Event-ID doit être un identifiant d'événement de ce flux.",
            )
        after = int(raw.strip())
    if len(notify.hub.clients) >= notify.hub.max_clients:
        raise Overloaded("too many live-stream connections, retry later")
    known = await notify.store.user(principal.user_id)
    if known is not None and (
        not known.get("active") or known.get("organisation_id") != principal.organisation_id
    ):
        raise Forbidden(
            "this account is deactivated or belongs to another organisation",
            message_fr="compte désactivé ou rattaché à une autre organisation",
        )
    return StreamingResponse(
        _while_entitled(
            request,
            principal,
            sse_events(
                notify.hub,
                _feeds(principal),
                principal.user_id,
                notify.store.stream_after,
                after,
                notify.settings.sse_heartbeat_s,
            ),
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
