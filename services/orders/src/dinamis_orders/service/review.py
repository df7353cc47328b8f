"""Use cases: submitting a request, and its review (start, approve with the quota or
co-financing, reject, cancel, confirm co-financing)."""

from __future__ import annotations

import secrets

from shapely.geometry import shape

from dinamis_orders.adapters.aggregates import ConcurrentUpdate
from dinamis_orders.domain.acquisition import (
    AcquisitionRequest,
    InvalidProposal,
    ProposedScene,
    RequestDraft,
    cofinancing_price,
)
from dinamis_orders.domain.aoi import request_aoi
from dinamis_orders.domain.quota import EntryKind, InsufficientQuota
from dinamis_orders.domain.requests import Action, Actor, InvalidTransition, RequestState
from dinamis_orders.service import cancellation, membership
from dinamis_orders.service.context import Orders
from dinamis_orders.service.progress import start_acquisition
from dinamis_orders.service.quota_ops import cofinancing_offer, release_rest, view

__all__ = [
    "act",
    "approve",
    "confirm_cofinancing",
    "propose_scenes",
    "review_checks",
    "submit",
    "view",
    "visible_request",
]
from dinamis_shared.auth import Forbidden, Principal, Role
from dinamis_shared.errors import DinamisError

REASON_REQUIRED = (Action.REJECT, Action.CANCEL, Action.REQUIRE_COFINANCING)
THROUGH_THE_API = (Action.START_REVIEW, Action.REJECT, Action.CANCEL, Action.REQUIRE_COFINANCING)


async def submit(orders: Orders, principal: Principal, draft: RequestDraft) -> dict:
    await membership.require_member(orders, principal, staff_ok=False)
    aoi = request_aoi(draft.aoi, draft.sensor_family, orders.settings.max_request_km2)
    now = orders.now()
    request_id = f"req-{now:%Y}-{secrets.token_hex(5)}"
    return view(await orders.requests.save(AcquisitionRequest.submit(request_id, principal, draft, aoi, now)))


async def visible_request(orders: Orders, principal: Principal, request_id: str) -> AcquisitionRequest:
    request = await orders.requests.require(request_id)
    request.check_visible(principal)
    return request


async def act(
    orders: Orders, principal: Principal, request_id: str, action: Action, reason: str | None
) -> dict:
    """Apply a reviewer's or author's action. Approval reserves quota (or asks for co-financing)."""
    request = await orders.requests.require(request_id)
    actor = request.actor(principal)
    by = principal.user_id
    if action in REASON_REQUIRED and not reason and actor is Actor.OPERATOR:
        raise DinamisError("a reason is required", code="reason-required", message_fr="un motif est requis")
    if action is Action.APPROVE:
        return await approve(orders, principal, request, actor, reason)
    if action is Action.CONFIRM_CANCELLATION:  # an operator: the supplier cancelled by hand
        request.check(action, actor)
        if not reason:
            raise DinamisError(
                "say how the supplier confirmed the cancellation",
                code="reason-required",
                message_fr="indiquez comment le fournisseur a confirmé l'annulation",
            )
        return view(await cancellation.confirm_by_hand(orders, request, by, reason))
    if action is Action.START_ACQUISITION:  # an operator ordered from the supplier by hand
        if not reason:
            raise DinamisError(
                "give the supplier's order reference as the reason",
                code="reason-required",
                message_fr="indiquez la référence de commande fournisseur comme motif",
            )
        return await start_acquisition(orders, request_id, reason, by=by, actor=actor)
    if action not in THROUGH_THE_API:
        raise InvalidTransition(
            f"{action} is done by the platform, not through the API",
            message_fr=f"« {action} » est fait par la plateforme, pas par l'API",
        )
    request.check(action, actor)
    now = orders.now()
    if action is Action.START_REVIEW:
        change = request.start_review(actor, by, now, reason)
    elif action is Action.REJECT:
        change = request.reject(actor, by, now, reason)
    elif action is Action.CANCEL:
        change = request.cancel(actor, by, now, reason)
    else:
        offer = await cofinancing_offer(orders, request)
        change = request.require_cofinancing(offer, actor, by, now, reason)
    saved = await orders.requests.save(change)
    if saved.status is RequestState.CANCELLING:
        saved = await cancellation.settle(orders, saved)
        if saved.status is RequestState.IN_PROGRESS:
            raise cancellation.refused(saved.request_id)
    elif saved.status is RequestState.CANCELLED and request.reserved_km2:
        await release_rest(orders, saved, by)
    return view(saved)


async def approve(
    orders: Orders, principal: Principal, request: AcquisitionRequest, actor: Actor, reason: str | None = None
) -> dict:
    """Reserve the quota and approve; beyond the quota, ask for co-financing first."""
    request.check(Action.APPROVE, actor)
    by = principal.user_id
    confirmed = request.cofinancing is not None and request.cofinancing.confirmed
    available = (await orders.ledger.balance(request.quota_id)).available if confirmed else 0.0
    plan = request.plan_approval(available)
    if plan.reoffer_km2 is not None:  # the quota fell since the confirmation
        offer = await cofinancing_offer(orders, request, plan.reoffer_km2)
        return view(await orders.requests.save(request.reoffer_cofinancing(offer, by, orders.now())))
    now = orders.now()
    try:
        if plan.reserve_km2 > 0:
            await orders.ledger.reserve(request.quota_id, request.request_id, plan.reserve_km2, by)
    except InsufficientQuota as exc:
        # Beyond the quota: the organisation must confirm co-financing of the excess first.
        offer = await cofinancing_offer(orders, request, exc.shortfall)
        if request.status is RequestState.NEEDS_COFINANCING:
            raise
        change = request.require_cofinancing(offer, Actor.SYSTEM, by, now, exc.message)
        return view(await orders.requests.save(change))
    try:
        return view(await orders.requests.save(request.approve(actor, by, now, plan, reason)))
    except ConcurrentUpdate:
        # Someone changed the request meanwhile. Keep the reservation only if it ended approved.
        latest = await orders.requests.require(request.request_id)
        holding = (RequestState.APPROVED, RequestState.CANCELLING, RequestState.IN_PROGRESS)
        if latest.status not in holding and plan.reserve_km2 > 0:
            await orders.ledger.settle(
                request.quota_id, request.request_id, plan.reserve_km2, EntryKind.RELEASE, "orders"
            )
        raise


async def confirm_cofinancing(orders: Orders, principal: Principal, request_id: str) -> dict:
    """The organisation (author or referent) confirms it co-finances the excess."""
    request = await visible_request(orders, principal, request_id)
    if principal.user_id != request.submitted_by and Role.REFERENT not in principal.roles:
        raise Forbidden(
            "only the author or a referent of the organisation confirms co-financing",
            message_fr="seul l'auteur ou un référent confirme le co-financement",
        )
    change = request.confirm_cofinancing(principal.user_id, orders.now())
    return view(await orders.requests.save(change))


def coverage(request: AcquisitionRequest) -> dict:
    """What a request asked for against what was delivered: its AOI, the footprints of the
    scenes recorded for it (`record_scene`), and the share of the AOI they cover (the
    `covered_share` computed from those scenes), as a percentage too."""
    delivered = [
        {"type": "Feature", "id": scene_id, "geometry": footprint, "properties": {"scene_id": scene_id}}
        for scene_id, footprint in zip(request.scenes, request.scene_footprints, strict=False)
    ]
    return {
        "request_id": request.request_id,
        "status": request.status.value,
        "area_km2": request.area_km2,
        "aoi": request.aoi,
        "covered_share": request.covered_share,
        "acquired_percent": round(request.covered_share * 100, 1),
        "covered_km2": round(request.covered_share * request.area_km2, 6),
        "delivered": {"type": "FeatureCollection", "features": delivered},
    }


async def propose_scenes(
    orders: Orders, principal: Principal, request_id: str, items: list[ProposedScene], reason: str | None
) -> dict:
    """An operator answers a request with scenes the catalogue already holds: the request
    is closed (rejected, code `covered-by-catalogue`) with the proposed items kept on it.
    Each item must be in the catalogue now."""
    request = await orders.requests.require(request_id)
    actor = request.actor(principal)
    request.check(Action.REJECT, actor)
    for item in dict.fromkeys(items):
        try:
            found = await orders.catalogue.item(item.collection, item.item_id)
        except Exception as exc:  # the catalogue did not answer: nothing is proposed
            raise DinamisError(
                "the catalogue did not answer",
                code="catalogue-unavailable",
                message_fr="le catalogue ne répond pas : rien n'a été proposé, réessayez",
            ) from exc
        if found is None:
            raise InvalidProposal(
                f"item {item.collection}/{item.item_id} is not in the catalogue",
                message_fr=f"la scène {item.collection}/{item.item_id} n'est pas au catalogue",
            )
    change = request.propose_scenes(items, actor, principal.user_id, orders.now(), reason)
    return view(await orders.requests.save(change))


async def review_checks(orders: Orders, request: AcquisitionRequest) -> dict:
    """What an operator weighs before deciding (the quote's answers, for a stored request):
    the quota of the request's period now, the co-financing the excess would cost, and the
    other pending requests over the same ground (all organisations: staff see them)."""
    balance = await orders.ledger.balance(request.quota_id)
    shortfall = request.shortfall(balance.available)
    org = await orders.organisation(request.organisation_id)
    category = org.category if org else None
    geometry = shape(request.aoi)
    overlaps = []  # as the quote's `pending_overlap`, with the other request's AOI for the map
    for other in await orders.requests.pending_over(geometry.bounds, request.sensor_family):
        overlap = other.overlap_with(geometry) if other.request_id != request.request_id else None
        if overlap is not None:
            overlaps.append({**overlap.__dict__, "aoi": other.aoi, "title": other_title(other)})
    overlaps.sort(key=lambda o: -o["share"])
    return {
        "request_id": request.request_id,
        "quota": {
            "quota_id": request.quota_id,
            "period": request.quota_period,
            "allocated_km2": balance.allocated,
            "reserved_km2": balance.reserved,
            "available_km2": balance.available,
            "after_km2": round(max(0.0, balance.available - request.area_km2), 6),
            "shortfall_km2": shortfall,
        },
        "cofinancing": cofinancing_price(category, request.sensor_family, shortfall).model_dump(
            exclude_unset=True
        )
        if shortfall and category
        else None,
        "overlaps": overlaps,
    }


def other_title(request: AcquisitionRequest) -> str:
    title = (request.model_extra or {}).get("title")
    return str(title) if title else ""
