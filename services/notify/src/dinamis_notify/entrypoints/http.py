"""Notify's HTTP API: preferences, notification history, webhooks, live stream.

Every route needs an authenticated caller (bearer JWT or API key); each one says
who may call it. A caller only ever sees their own preferences, history and
webhooks, and only the live stream of their own organisation (plus the
operations stream for operators and admins).
"""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from dinamis_notify.domain.preferences import Preferences, PreferencesUpdate
from dinamis_notify.domain.routing import OPERATIONS_FEED, org_feed
from dinamis_notify.service.live import sse_events
from dinamis_notify.service.webhooks import MAX_ENDPOINTS_PER_OWNER, entitled, public_endpoint
from dinamis_shared.auth import CurrentPrincipal, Forbidden, Principal, Role
from dinamis_shared.errors import DinamisError

router = APIRouter(tags=["notify"])

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


class NotFound(DinamisError):
    code = "not-found"
    http_status = 404
    message_fr = "Introuvable."


class BadRequest(DinamisError):
    code = "bad-request"
    http_status = 400


class TooMany(DinamisError):
    code = "too-many-webhooks"
    http_status = 409
    message_fr = f"Pas plus de {MAX_ENDPOINTS_PER_OWNER} webhooks par utilisateur."


class Overloaded(DinamisError):
    code = "overloaded"
    http_status = 503
    permanent = False
    message_fr = "Trop de connexions au flux en direct, réessayez plus tard."


def _notify(request: Request):  # the service objects (app.components)
    return request.app.state.notify


def _feeds(principal: Principal) -> frozenset[str]:
    feeds = {org_feed(principal.organisation_id)}
    if principal.is_staff:
        feeds.add(OPERATIONS_FEED)
    return frozenset(feeds)


# --- preferences ----------------------------------------------------------------


@router.get("/v1/preferences")
async def get_preferences(request: Request, principal: CurrentPrincipal) -> dict:
    """The caller's effective notification preferences. Any authenticated user."""
    doc = await _notify(request).store.preferences.find_one({"_id": principal.user_id})
    return Preferences.model_validate(doc or {}).effective(principal.is_staff)


@router.put("/v1/preferences")
async def put_preferences(request: Request, principal: CurrentPrincipal, update: PreferencesUpdate) -> dict:
    """Change the caller's preferences (absent fields unchanged). Any authenticated user."""
    store = _notify(request).store
    current = Preferences.model_validate(await store.preferences.find_one({"_id": principal.user_id}) or {})
    merged = current.merged(update)
    await store.preferences.replace_one(
        {"_id": principal.user_id}, {"_id": principal.user_id, **merged.model_dump(mode="json")}, upsert=True
    )
    return merged.effective(principal.is_staff)


# --- history ---------------------------------------------------------------------


@router.get("/v1/notifications")
async def list_notifications(
    request: Request, principal: CurrentPrincipal, limit: int = Query(50, ge=1, le=500)
) -> dict:
    """The caller's latest notifications with each channel's outcome. Any authenticated user."""
    docs = (
        await _notify(request)
        .store.history.find({"recipient": principal.user_id}, projection={"summary": 0, "address": 0})
        .sort("created_at", -1)
        .limit(limit)
        .to_list(length=limit)
    )
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


async def _owned(request: Request, principal: Principal, endpoint_id: str) -> dict:
    doc = await _notify(request).store.webhooks.find_one({"_id": endpoint_id[:100]})
    if doc is None or doc["owner_user_id"] != principal.user_id:
        raise NotFound(f"no webhook {endpoint_id[:100]!r} of yours", message_fr="Webhook introuvable.")
    return doc


@router.post("/v1/webhooks", status_code=201)
async def register_webhook(
    request: Request, principal: CurrentPrincipal, registration: WebhookRegistration
) -> JSONResponse:
    """Register an endpoint; the answer shows its signing secret, once. Any authenticated
    user for their organisation's feed; operators and admins for the operations feed."""
    notify = _notify(request)
    if registration.feed == "operations" and not principal.has(Role.OPERATOR, Role.ADMIN):
        raise Forbidden("the operations feed is for operators", message_fr="Flux réservé aux opérateurs.")
    if (
        await notify.store.webhooks.count_documents({"owner_user_id": principal.user_id})
        >= MAX_ENDPOINTS_PER_OWNER
    ):
        raise TooMany(f"at most {MAX_ENDPOINTS_PER_OWNER} webhooks per user")
    feed = OPERATIONS_FEED if registration.feed == "operations" else org_feed(principal.organisation_id)
    if not entitled(
        await notify.store.user(principal.user_id),
        {"organisation_id": principal.organisation_id, "feed": feed},
    ):
        raise Forbidden(
            "webhooks are for active users known to the platform (their account, from orders)",
            message_fr="Webhooks réservés aux utilisateurs actifs connus de la plateforme.",
        )
    endpoint, secret = await notify.webhooks.register(
        owner=principal.user_id,
        organisation_id=principal.organisation_id,
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
async def list_webhooks(request: Request, principal: CurrentPrincipal) -> dict:
    """The caller's endpoints (secrets are never shown again). Any authenticated user."""
    docs = (
        await _notify(request).store.webhooks.find({"owner_user_id": principal.user_id}).to_list(length=None)
    )
    return {"webhooks": [public_endpoint(d) for d in docs]}


@router.get("/v1/webhooks/{endpoint_id}")
async def get_webhook(request: Request, principal: CurrentPrincipal, endpoint_id: str) -> dict:
    """One of the caller's endpoints. Its owner only."""
    return public_endpoint(await _owned(request, principal, endpoint_id))


@router.delete("/v1/webhooks/{endpoint_id}", status_code=204)
async def delete_webhook(request: Request, principal: CurrentPrincipal, endpoint_id: str) -> None:
    """Remove an endpoint; its pending deliveries are cancelled. Its owner only."""
    doc = await _owned(request, principal, endpoint_id)
    store = _notify(request).store
    await store.webhooks.delete_one({"_id": doc["_id"]})
    await store.webhook_deliveries.update_many(
        {"endpoint_id": doc["_id"], "status": {"$in": ["pending", "held"]}}, {"$set": {"status": "cancelled"}}
    )


@router.post("/v1/webhooks/{endpoint_id}/reactivate")
async def reactivate_webhook(request: Request, principal: CurrentPrincipal, endpoint_id: str) -> dict:
    """Mark a failing endpoint active again; its held deliveries are retried. Its owner only."""
    doc = await _owned(request, principal, endpoint_id)
    await _notify(request).webhooks.reactivate(doc["_id"])
    return public_endpoint(await _owned(request, principal, endpoint_id))


@router.get("/v1/webhooks/{endpoint_id}/deliveries")
async def list_deliveries(
    request: Request,
    principal: CurrentPrincipal,
    endpoint_id: str,
    limit: int = Query(50, ge=1, le=200),
    status: Literal["pending", "held", "delivered", "dead-lettered", "cancelled"] | None = None,
) -> dict:
    """The endpoint's latest deliveries, each with its attempts. Its owner only."""
    doc = await _owned(request, principal, endpoint_id)
    store = _notify(request).store
    query: dict = {"endpoint_id": doc["_id"]}
    if status:
        query["status"] = status
    deliveries = (
        await store.webhook_deliveries.find(query, projection={"body": 0})
        .sort("created_at", -1)
        .limit(limit)
        .to_list(length=limit)
    )
    attempts = await store.webhook_attempts.find(
        {"delivery_id": {"$in": [d["_id"] for d in deliveries]}}
    ).to_list(length=None)
    by_delivery: dict[str, list] = {}
    for a in sorted(attempts, key=lambda a: a["attempt"]):
        by_delivery.setdefault(a["delivery_id"], []).append(
            {k: v for k, v in a.items() if k not in ("_id", "delivery_id", "endpoint_id")}
        )
    out = []
    for d in deliveries:
        delivery_id = d.pop("_id")
        out.append({"id": delivery_id, **d, "attempt_log": by_delivery.get(delivery_id, [])})
    return {"deliveries": out}


# --- live stream --------------------------------------------------------------------


@router.get("/events/stream")
async def event_stream(
    request: Request,
    principal: CurrentPrincipal,
    last_event_id: str | None = Header(default=None, alias="Last-Event-ID"),
    resume_after: str | None = Query(default=None, alias="last_event_id"),
) -> StreamingResponse:
    """Server-Sent Events: the caller's organisation's events (operators and admins
    also the operations events), live. `Last-Event-ID` (header, or `last_event_id`
    query parameter) resumes after that event from the stored history. Any
    authenticated user."""
    notify = _notify(request)
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
        sse_events(
            notify.hub,
            _feeds(principal),
            principal.user_id,
            notify.store.stream_after,
            after,
            notify.settings.sse_heartbeat_s,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
