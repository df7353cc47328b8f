"""Use cases of acquisition requests: quote, submit, review, co-financing, progress, expiry."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta

import httpx
from shapely.geometry import box, shape

from dinamis_orders.adapters.aggregates import ConcurrentUpdate
from dinamis_orders.adapters.quota_store import quota_id
from dinamis_orders.domain import acquisition
from dinamis_orders.domain.aoi import Aoi, covered_share, geodesic_km2, parse_aoi
from dinamis_orders.domain.quota import EntryKind, InsufficientQuota, period_of
from dinamis_orders.domain.requests import Action, Actor, InvalidTransition, RequestState, transition
from dinamis_orders.service import membership
from dinamis_orders.service.context import Orders
from dinamis_shared.auth import Forbidden, Principal
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import (
    AcquisitionWindow,
    GeoJSONGeometry,
    RequestApprovedV1,
    RequestKind,
    RequestRejectedV1,
    RequestSubmittedV1,
    RequestUpdatedV1,
    SceneIngestedV1,
    SensorFamily,
)

log = logging.getLogger(__name__)

PENDING = [
    RequestState.SUBMITTED,
    RequestState.UNDER_REVIEW,
    RequestState.NEEDS_COFINANCING,
    RequestState.APPROVED,
    RequestState.IN_PROGRESS,
]
MIN_ACQUIRED_SHARE = 0.01  # below this, an expired request acquired nothing worth keeping


def quota_period(draft: acquisition.RequestDraft) -> str:
    """Tasking spends the quota of the period it acquires in; an archive order, today's."""
    when = draft.window.start if draft.kind is RequestKind.TASKING else datetime.now(UTC)
    return period_of(draft.sensor_family, max(when, datetime.now(UTC)))


def _bbox(geometry) -> list[float]:
    return [round(v, 9) for v in geometry.bounds]


async def _catalogue_overlap(orders: Orders, aoi: Aoi, draft: acquisition.RequestDraft) -> dict:
    """Share of the AOI already covered by catalogue imagery matching the constraints."""
    start, end = draft.window.start, draft.window.end
    if draft.kind is RequestKind.TASKING:  # future imagery: compare with the last year's
        start = min(start, datetime.now(UTC)) - timedelta(days=365)
    body = {
        "intersects": aoi.geojson(),
        "datetime": f"{start.isoformat()}/{end.isoformat()}".replace("+00:00", "Z"),
        "filter-lang": "cql2-json",
        "filter": {
            "op": "and",
            "args": [
                {"op": "=", "args": [{"property": "constellation"}, _constellation(draft.sensor_family)]},
                {"op": "<=", "args": [{"property": "eo:cloud_cover"}, draft.max_cloud_cover]},
            ],
        },
        "limit": 200,
        "fields": {"include": ["id", "geometry", "properties.datetime"], "exclude": ["assets", "links"]},
    }
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(orders.settings.catalog_url.rstrip("/") + "/search", json=body)
            response.raise_for_status()
            features = response.json().get("features", [])
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("catalogue unavailable for overlap check: %s", exc)
        return {
            "share": None,
            "items": [],
            "unavailable": f"catalogue injoignable / catalogue unreachable: {exc}",
        }
    footprints = [shape(f["geometry"]) for f in features if f.get("geometry")]
    return {"share": covered_share(aoi.geometry, footprints), "items": [f["id"] for f in features[:20]]}


def _constellation(family: SensorFamily) -> str:
    return {
        SensorFamily.PLEIADES: "pleiades",
        SensorFamily.PLEIADES_NEO: "pleiades-neo",
        SensorFamily.SPOT: "spot",
    }[family]


async def _pending_overlap(
    orders: Orders, aoi: Aoi, family: SensorFamily, exclude: str | None = None
) -> list[dict]:
    """Other pending or in-progress requests for the same sensor over the same ground."""
    minx, miny, maxx, maxy = aoi.geometry.bounds
    query = {
        "status": {"$in": [s.value for s in PENDING]},
        "sensor_family": family.value,
        "bbox.0": {"$lte": maxx},
        "bbox.2": {"$gte": minx},
        "bbox.1": {"$lte": maxy},
        "bbox.3": {"$gte": miny},
    }
    found = []
    for other in await orders.requests.find(query, limit=500):
        if other["request_id"] == exclude:
            continue
        if not box(*other["bbox"]).intersects(aoi.geometry):
            continue
        share = covered_share(aoi.geometry, [shape(other["aoi"])])
        if share > 0:
            found.append(
                {
                    "request_id": other["request_id"],
                    "status": other["status"],
                    "share": share,
                    "organisation_id": other["organisation_id"],
                }
            )
    return sorted(found, key=lambda o: -o["share"])


def _shown_to(principal: Principal, overlap: dict) -> dict:
    """Other organisations' requests are shown as such, without their ids."""
    if principal.is_staff or overlap["organisation_id"] == principal.organisation_id:
        return overlap
    return {
        "request_id": None,
        "organisation_id": None,
        "status": overlap["status"],
        "share": overlap["share"],
        "other_organisation": True,
    }


async def quote(orders: Orders, principal: Principal, draft: acquisition.RequestDraft) -> dict:
    """Area, quota impact, co-financing needed and overlap warnings, before submitting."""
    await membership.require_member(orders, principal, staff_ok=False)
    aoi = parse_aoi(draft.aoi, draft.sensor_family, orders.settings.max_request_km2)
    org = await orders.organisation(principal.organisation_id)
    period = quota_period(draft)
    balance = await orders.ledger.balance(quota_id(principal.organisation_id, draft.sensor_family, period))
    shortfall = max(0.0, round(aoi.area_km2 - balance.available, 6))
    catalogue = await _catalogue_overlap(orders, aoi, draft)
    pending = [_shown_to(principal, o) for o in await _pending_overlap(orders, aoi, draft.sensor_family)]
    warnings = list(aoi.warnings)
    if catalogue["share"]:
        warnings.append(
            f"{catalogue['share']:.0%} de la zone déjà couverte par le catalogue"
            " / of the AOI already in the catalogue"
        )
    for other in pending:
        warnings.append(
            f"{other['share']:.0%} de la zone déjà demandée"
            f" ({other['request_id'] or 'autre organisme'}, {other['status']})"
            " / of the AOI already requested"
        )
    category = org.category if org else None
    return {
        "area_km2": aoi.area_km2,
        "aoi": aoi.geojson(),
        "quota": {
            "period": period,
            "available_km2": balance.available,
            "after_km2": round(max(0.0, balance.available - aoi.area_km2), 6),
        },
        "cofinancing": acquisition.cofinancing_price(category, draft.sensor_family, shortfall)
        if shortfall and category
        else None,
        "overlaps": {"catalogue": catalogue, "requests": pending},
        "warnings": warnings,
    }


def _updated(
    state: dict, previous: str | None, by: str, at: datetime, reason: str | None = None
) -> RequestUpdatedV1:
    return RequestUpdatedV1(
        request_id=state["request_id"],
        organisation_id=state["organisation_id"],
        submitted_by=state["submitted_by"],
        status=state["status"],
        previous_status=previous,
        changed_by=by,
        changed_at=at,
        reason=reason,
        covered_share=state.get("covered_share"),
    )


async def submit(orders: Orders, principal: Principal, draft: acquisition.RequestDraft) -> dict:
    await membership.require_member(orders, principal, staff_ok=False)
    aoi = parse_aoi(draft.aoi, draft.sensor_family, orders.settings.max_request_km2)
    now = orders.now()
    request_id = f"req-{now:%Y}-{secrets.token_hex(5)}"
    state = {
        "request_id": request_id,
        "organisation_id": principal.organisation_id,
        "submitted_by": principal.user_id,
        **draft.model_dump(mode="json", exclude={"aoi"}),
        "aoi": aoi.geojson(),
        "bbox": _bbox(aoi.geometry),
        "area_km2": aoi.area_km2,
        "aoi_warnings": aoi.warnings,
        "status": RequestState.SUBMITTED.value,
        "quota_period": quota_period(draft),
        "reserved_km2": 0.0,
        "cofinancing": None,
        "covered_share": 0.0,
        "consumed_km2": 0.0,
        "scenes": [],
        "supplier_order_id": None,
        "submitted_at": now.isoformat(),
    }
    submitted = RequestSubmittedV1(
        request_id=request_id,
        organisation_id=principal.organisation_id,
        submitted_by=principal.user_id,
        kind=draft.kind,
        sensor_family=draft.sensor_family,
        aoi=GeoJSONGeometry.model_validate(aoi.geojson()),
        area_km2=aoi.area_km2,
        window=draft.window,
        submitted_at=now,
    )
    return await orders.requests.write(
        request_id,
        state,
        expected_rev=0,
        by=principal.user_id,
        change="submitted",
        events=[submitted, _updated(state, None, principal.user_id, now)],
    )


def _actor(principal: Principal, state: dict) -> Actor:
    if principal.is_staff:
        return Actor.OPERATOR
    if principal.user_id == state["submitted_by"] and principal.organisation_id == state["organisation_id"]:
        return Actor.AUTHOR
    raise Forbidden("not your request", message_fr="cette demande ne vous appartient pas")


def visible(principal: Principal, state: dict) -> None:
    if not principal.is_staff and principal.organisation_id != state["organisation_id"]:
        raise Forbidden("another organisation's request", message_fr="demande d'une autre organisation")


async def act(
    orders: Orders, principal: Principal, request_id: str, action: Action, reason: str | None
) -> dict:
    """Apply a reviewer's or author's action. Approval reserves quota (or asks for co-financing)."""
    state = await orders.requests.require(request_id, "demande")
    visible(principal, state)
    actor = _actor(principal, state)
    if (
        action in (Action.REJECT, Action.CANCEL, Action.REQUIRE_COFINANCING)
        and not reason
        and actor is Actor.OPERATOR
    ):
        raise DinamisError("a reason is required", code="reason-required", message_fr="un motif est requis")
    if action is Action.APPROVE:
        return await _approve(orders, principal, state, actor)
    if action is Action.START_ACQUISITION:  # an operator ordered from the supplier by hand
        if not reason:
            raise DinamisError(
                "give the supplier's order reference as the reason",
                code="reason-required",
                message_fr="indiquez la référence de commande fournisseur comme motif",
            )
        return await start_acquisition(orders, request_id, reason, by=principal.user_id, actor=actor)
    if action not in (Action.START_REVIEW, Action.REJECT, Action.CANCEL, Action.REQUIRE_COFINANCING):
        raise InvalidTransition(
            f"{action} is done by the platform, not through the API",
            message_fr=f"« {action} » est fait par la plateforme, pas par l'API",
        )
    target = transition(RequestState(state["status"]), action, actor)
    now = orders.now()
    new = {**state, "status": target.value, "last_reason": reason}
    events = [_updated(new, state["status"], principal.user_id, now, reason)]
    if target is RequestState.REJECTED:
        events.insert(
            0,
            RequestRejectedV1(
                request_id=request_id,
                organisation_id=state["organisation_id"],
                rejected_by=principal.user_id,
                reason=reason or "",
                rejected_at=now,
            ),
        )
    if target is RequestState.NEEDS_COFINANCING:
        new["cofinancing"] = await _cofinancing_offer(orders, state)
    saved = await orders.requests.write(
        request_id,
        new,
        expected_rev=state["rev"],
        by=principal.user_id,
        change=action.value,
        why=reason,
        events=events,
    )
    if target is RequestState.CANCELLED and state["reserved_km2"]:
        await _release_rest(orders, saved, principal.user_id)
    return saved


async def _cofinancing_offer(orders: Orders, state: dict, shortfall: float | None = None) -> dict:
    org = await orders.organisation(state["organisation_id"])
    family = SensorFamily(state["sensor_family"])
    if shortfall is None:
        balance = await orders.ledger.balance(
            quota_id(state["organisation_id"], family, state["quota_period"])
        )
        shortfall = max(0.0, round(state["area_km2"] - balance.available, 6))
    return acquisition.cofinancing_price(org.category, family, shortfall)  # type: ignore[union-attr]


async def _approve(orders: Orders, principal: Principal, state: dict, actor: Actor) -> dict:
    target = transition(RequestState(state["status"]), Action.APPROVE, actor)
    family = SensorFamily(state["sensor_family"])
    qid = quota_id(state["organisation_id"], family, state["quota_period"])
    area = state["area_km2"]
    confirmed = (state.get("cofinancing") or {}).get("confirmed_at") is not None
    cofinanced = 0.0
    to_reserve = area
    if confirmed:
        balance = await orders.ledger.balance(qid)
        cofinanced = max(0.0, round(area - balance.available, 6))
        if cofinanced > state["cofinancing"]["km2"] + 1e-6:
            # The quota shrank since the confirmation: offer the new excess, to confirm again.
            offer = await _cofinancing_offer(orders, state, cofinanced)
            why = (
                "quota disponible en baisse : nouveau co-financement à confirmer / quota fell: confirm again"
            )
            new = {**state, "cofinancing": offer, "last_reason": why}
            return await orders.requests.write(
                state["request_id"],
                new,
                expected_rev=state["rev"],
                by=principal.user_id,
                change="cofinancing re-offered",
                why=why,
                events=[_updated(new, state["status"], principal.user_id, orders.now(), why)],
            )
        to_reserve = round(area - cofinanced, 6)
    now = orders.now()
    try:
        if to_reserve > 0:
            await orders.ledger.reserve(qid, state["request_id"], to_reserve, principal.user_id)
    except InsufficientQuota as exc:
        # Beyond the quota: the organisation must confirm co-financing of the excess first.
        offer = await _cofinancing_offer(orders, state, exc.shortfall)
        if state["status"] == RequestState.NEEDS_COFINANCING.value:
            raise
        new = {
            **state,
            "status": RequestState.NEEDS_COFINANCING.value,
            "cofinancing": offer,
            "last_reason": exc.message,
        }
        return await orders.requests.write(
            state["request_id"],
            new,
            expected_rev=state["rev"],
            by=principal.user_id,
            change="require_cofinancing",
            why=exc.message,
            events=[_updated(new, state["status"], principal.user_id, now, exc.message)],
        )
    new = {
        **state,
        "status": target.value,
        "reserved_km2": to_reserve,
        "cofinanced_km2": cofinanced,
        "approved_by": principal.user_id,
        "approved_at": now.isoformat(),
    }
    approved = RequestApprovedV1(
        request_id=state["request_id"],
        organisation_id=state["organisation_id"],
        approved_by=principal.user_id,
        kind=state["kind"],
        sensor_family=family,
        aoi=GeoJSONGeometry.model_validate(state["aoi"]),
        area_km2=area,
        quota_period=state["quota_period"],
        reserved_km2=to_reserve,
        cofinanced_km2=cofinanced,
        window=AcquisitionWindow.model_validate(state["window"]),
        approved_at=now,
    )
    try:
        return await orders.requests.write(
            state["request_id"],
            new,
            expected_rev=state["rev"],
            by=principal.user_id,
            change="approve",
            events=[approved, _updated(new, state["status"], principal.user_id, now)],
        )
    except ConcurrentUpdate:
        # Someone changed the request meanwhile. Keep the reservation only if it ended approved.
        latest = await orders.requests.require(state["request_id"])
        if latest["status"] not in (RequestState.APPROVED, RequestState.IN_PROGRESS) and to_reserve > 0:
            await orders.ledger.settle(qid, state["request_id"], to_reserve, EntryKind.RELEASE, "orders")
        raise


async def confirm_cofinancing(orders: Orders, principal: Principal, request_id: str) -> dict:
    """The organisation (author or referent) confirms it co-finances the excess."""
    state = await orders.requests.require(request_id, "demande")
    visible(principal, state)
    from dinamis_shared.auth import Role

    if principal.user_id != state["submitted_by"] and Role.REFERENT not in principal.roles:
        raise Forbidden(
            "only the author or a referent of the organisation confirms co-financing",
            message_fr="seul l'auteur ou un référent confirme le co-financement",
        )
    if state["status"] != RequestState.NEEDS_COFINANCING.value or not state.get("cofinancing"):
        raise InvalidTransition(
            "no co-financing awaits confirmation",
            message_fr="aucun co-financement en attente de confirmation",
        )
    now = orders.now()
    cofinancing = {**state["cofinancing"], "confirmed_by": principal.user_id, "confirmed_at": now.isoformat()}
    return await orders.requests.write(
        request_id,
        {**state, "cofinancing": cofinancing},
        expected_rev=state["rev"],
        by=principal.user_id,
        change="cofinancing confirmed",
        why=f"{cofinancing['amount_eur']} EUR",
    )


async def _release_rest(orders: Orders, state: dict, by: str) -> None:
    """Give back to the quota whatever the ledger still holds for this request."""
    qid = quota_id(state["organisation_id"], SensorFamily(state["sensor_family"]), state["quota_period"])
    await orders.ledger.release_all(qid, state["request_id"], by)


async def start_acquisition(
    orders: Orders, request_id: str, supplier_order_id: str, by: str = "orders", actor: Actor = Actor.SYSTEM
) -> dict:
    state = await orders.requests.require(request_id, "demande")
    if state["status"] != RequestState.APPROVED.value and actor is Actor.SYSTEM:
        return state  # already started (a redelivered approval), or cancelled meanwhile
    target = transition(RequestState(state["status"]), Action.START_ACQUISITION, actor)
    now = orders.now()
    new = {**state, "status": target.value, "supplier_order_id": supplier_order_id}
    return await orders.requests.write(
        request_id,
        new,
        expected_rev=state["rev"],
        by=by,
        change="start_acquisition",
        events=[_updated(new, state["status"], by, now)],
    )


async def place_with_supplier(orders: Orders, request_id: str) -> bool:
    """Order from the supplier, then `approved -> in_progress`. True once placed.

    A supplier outage must not stall the orders consumer (one loop serves every topic):
    failures are logged and `place_pending` retries approved requests periodically."""
    if orders.supplier is None:
        log.info("no supplier adapter configured: %s waits for an operator", request_id)
        return False
    state = await orders.requests.require(request_id, "demande")
    if state["status"] != RequestState.APPROVED.value:
        return True  # already in progress (a redelivered event), or cancelled meanwhile
    try:
        supplier_order_id = await orders.supplier.place_order(state)
    except Exception as exc:
        log.warning("supplier order for %s not placed yet: %s", request_id, exc)
        return False
    await start_acquisition(orders, request_id, supplier_order_id)
    return True


async def place_pending(orders: Orders) -> int:
    """Retry placing every approved request not yet with the supplier."""
    placed = 0
    for state in await orders.requests.find({"status": RequestState.APPROVED.value}, limit=500):
        placed += await place_with_supplier(orders, state["request_id"])
    return placed


async def record_scene(orders: Orders, event: SceneIngestedV1) -> None:
    """A scene acquired for a request arrived: license it to the organisation, update the
    covered share, consume quota for the newly covered ground, close when fulfilled."""
    request_id = event.acquisition_request_id
    if request_id is None:
        return
    for _attempt in range(20):
        state = await orders.requests.get(request_id)
        if state is None:
            log.warning("scene %s names unknown request %s", event.scene_id, request_id)
            return
        if state["status"] == RequestState.APPROVED.value:
            # The supplier delivered before the in_progress write (or it failed): start it now.
            await start_acquisition(orders, request_id, state.get("supplier_order_id") or "delivered")
            continue
        if state["status"] in (
            RequestState.IN_PROGRESS,
            RequestState.FULFILLED,
            RequestState.PARTIALLY_FULFILLED,
        ):
            await membership.record_item_obtained(orders, event.item["id"], state["organisation_id"])
        if event.scene_id in state["scenes"] or state["status"] != RequestState.IN_PROGRESS.value:
            return
        footprints = [shape(event.item["geometry"])]
        footprints += [shape(g) for g in state.get("scene_footprints", [])]
        share = covered_share(shape(state["aoi"]), footprints)
        covered_km2 = min(state["reserved_km2"], round(share * state["area_km2"], 6))
        consume = round(covered_km2 - state["consumed_km2"], 6)
        new = {
            **state,
            "scenes": [*state["scenes"], event.scene_id],
            "covered_share": share,
            "scene_footprints": [*state.get("scene_footprints", []), event.item["geometry"]],
            "consumed_km2": round(state["consumed_km2"] + max(consume, 0.0), 6),
        }
        now = orders.now()
        events = [_updated({**new}, state["status"], "orders", now)]
        if share >= orders.settings.fulfilled_share:
            new["status"] = transition(RequestState.IN_PROGRESS, Action.FULFIL, Actor.SYSTEM).value
            events = [_updated(new, state["status"], "orders", now)]
        if consume > 0:
            # The ledger first, once per scene (its reference makes a retry a no-op): a crash
            # before the request's revision below leaves nothing uncounted.
            qid = quota_id(
                state["organisation_id"], SensorFamily(state["sensor_family"]), state["quota_period"]
            )
            await orders.ledger.settle(
                qid, request_id, consume, EntryKind.CONSUME, "orders", ref=f"{request_id}|{event.scene_id}"
            )
        try:
            saved = await orders.requests.write(
                request_id,
                new,
                expected_rev=state["rev"],
                by="orders",
                change=f"scene {event.scene_id}",
                events=events,
            )
        except ConcurrentUpdate:
            continue
        if saved["status"] == RequestState.FULFILLED.value:
            await _release_rest(orders, saved, "orders")
        return
    raise ConcurrentUpdate(f"request {request_id} too contended")


async def expire_due(orders: Orders) -> int:
    """Close in-progress requests whose window (plus grace) is over; release unused quota."""
    now = orders.now()
    closed = 0
    live = [RequestState.IN_PROGRESS.value, RequestState.APPROVED.value]
    for state in await orders.requests.find({"status": {"$in": live}}, limit=1000):
        end = datetime.fromisoformat(state["window"]["end"])
        if not acquisition.expired(end, orders.settings.expiry_grace_days, now):
            continue
        latest = await orders.requests.require(state["request_id"])
        if latest["status"] not in live:
            continue
        acquired = latest["covered_share"] >= MIN_ACQUIRED_SHARE
        action = Action.FULFIL_PARTIALLY if acquired and latest["status"] == "in_progress" else Action.EXPIRE
        target = transition(RequestState(latest["status"]), action, Actor.SYSTEM)
        new = {**latest, "status": target.value}
        try:
            saved = await orders.requests.write(
                latest["request_id"],
                new,
                expected_rev=latest["rev"],
                by="orders",
                change=action.value,
                why="fenêtre d'acquisition terminée / acquisition window over",
                events=[_updated(new, latest["status"], "orders", now, "acquisition window over")],
            )
        except ConcurrentUpdate:
            continue
        await _release_rest(orders, saved, "orders")
        closed += 1
    return closed


def area_of(geojson: dict) -> float:
    return geodesic_km2(shape(geojson))
