"""HTTP routes: quotas, acquisition requests (Appel à Demandes), product orders.

Every route says who may call it. Errors are RFC 9457 problem details, French first."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from dinamis_orders.domain.acquisition import MAX_PROPOSED, ProposedScene, QuoteDraft, RequestDraft
from dinamis_orders.domain.quota import quota_id
from dinamis_orders.domain.requests import Action, RequestState, allowed_actions
from dinamis_orders.entrypoints.deps import OrdersDep, Staff, own_or_staff
from dinamis_orders.service import product_orders, product_quotes, quotes, review
from dinamis_orders.service.context import Orders
from dinamis_shared.auth import CurrentPrincipal
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import Identifier, RequestStatus, SensorFamily

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")

QuotaPeriod = Annotated[str, Path(pattern=r"^\d{4}(-Q[1-4])?$", description="'2026-Q3' or '2026'")]


@router.get("/quotas/{org_id}/{family}/{period}", tags=["quotas"])
async def get_quota(
    orders: OrdersDep,
    principal: CurrentPrincipal,
    org_id: Identifier,
    family: SensorFamily,
    period: QuotaPeriod,
) -> dict:
    """Members of that organisation, and staff: the balance (allocated, reserved, consumed, available)."""
    own_or_staff(principal, org_id)
    return await _balance(orders, org_id, family, period)


async def _balance(orders: Orders, org_id: str, family: SensorFamily, period: str) -> dict:
    qid = quota_id(org_id, family, period)
    b = await orders.ledger.balance(qid)
    return {
        "quota_id": qid,
        "allocated_km2": b.allocated,
        "reserved_km2": b.reserved,
        "consumed_km2": b.consumed,
        "available_km2": b.available,
    }


class Allocation(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    km2: float = Field(description="Positive to allocate; an adjustment may be negative.")
    reason: str = Field(min_length=3, max_length=4000)
    adjustment: bool = False


@router.post("/quotas/{org_id}/{family}/{period}", tags=["quotas"])
async def allocate(
    orders: OrdersDep,
    operator: Staff,
    org_id: Identifier,
    family: SensorFamily,
    period: QuotaPeriod,
    body: Allocation,
) -> dict:
    """Operators and admins: allocate quota, or adjust it (with a reason, kept in the ledger)."""
    await orders.organisations.require(org_id, "organisation")
    qid = quota_id(org_id, family, period)
    if body.adjustment:
        await orders.ledger.adjust(qid, body.km2, operator.user_id, body.reason)
    else:
        await orders.ledger.allocate(qid, body.km2, operator.user_id, body.reason)
    return await _balance(orders, org_id, family, period)


@router.post("/requests/quote", tags=["requests"])
async def quote(orders: OrdersDep, principal: CurrentPrincipal, draft: QuoteDraft) -> dict:
    """Active members: area, quota impact, co-financing and overlap warnings, before submitting."""
    return await quotes.quote(orders, principal, draft)


@router.post("/requests", status_code=201, tags=["requests"])
async def submit(orders: OrdersDep, principal: CurrentPrincipal, draft: RequestDraft) -> dict:
    """Active members: submit an acquisition request for their organisation."""
    return await review.submit(orders, principal, draft)


@router.get("/requests", tags=["requests"])
async def list_requests(
    orders: OrdersDep,
    principal: CurrentPrincipal,
    status: RequestState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict:
    """Members: their organisation's requests. Staff: all (the review queue is `status=submitted`)."""
    found = await orders.requests.listing(
        organisation_id=None if principal.is_staff else principal.organisation_id,
        statuses=None if status is None else [status.value],
        limit=limit,
        offset=offset,
    )
    return {"requests": [{k: v for k, v in r.items() if k != "scene_footprints"} for r in found]}


@router.get("/review-queue", tags=["requests"])
async def review_queue(orders: OrdersDep, operator: Staff) -> dict:
    """Operators and admins: requests waiting for a decision, oldest first."""
    waiting = [
        RequestStatus.SUBMITTED.value,
        RequestStatus.UNDER_REVIEW.value,
        RequestStatus.NEEDS_COFINANCING.value,
    ]
    found = await orders.requests.listing(organisation_id=None, statuses=waiting, limit=500, offset=0)
    return {"requests": [{k: v for k, v in r.items() if k != "scene_footprints"} for r in found]}


@router.get("/requests/{request_id}", tags=["requests"])
async def get_request(orders: OrdersDep, principal: CurrentPrincipal, request_id: Identifier) -> dict:
    """Members of the request's organisation, and staff. Lists the actions possible now."""
    request = await review.visible_request(orders, principal, request_id)
    return {
        **{k: v for k, v in review.view(request).items() if k != "scene_footprints"},
        "allowed_actions": allowed_actions(request.status),
    }


@router.get("/requests/{request_id}/history", tags=["requests"])
async def request_history(orders: OrdersDep, principal: CurrentPrincipal, request_id: Identifier) -> dict:
    """Members of the request's organisation, and staff: every transition, who and why."""
    await review.visible_request(orders, principal, request_id)
    return {"history": await orders.requests.history(request_id)}


PROPOSE_SCENES = "propose_scenes"


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action | Literal["propose_scenes"]
    reason: str | None = Field(default=None, max_length=4000)
    items: list[ProposedScene] | None = Field(
        default=None,
        max_length=MAX_PROPOSED,
        description="`propose_scenes` only: the catalogue items proposed instead of an acquisition.",
    )


@router.get("/requests/{request_id}/coverage", tags=["requests"])
async def request_coverage(orders: OrdersDep, principal: CurrentPrincipal, request_id: Identifier) -> dict:
    """Members of the request's organisation, and staff: the requested AOI against the
    footprints of the scenes delivered for it, and the share acquired (`acquired_percent`)."""
    return review.coverage(await review.visible_request(orders, principal, request_id))


@router.post("/requests/{request_id}/actions", tags=["requests"])
async def act(
    orders: OrdersDep, principal: CurrentPrincipal, request_id: Identifier, body: ActionBody
) -> dict:
    """Operators: start_review, approve, reject, require_cofinancing (reason required to reject),
    propose_scenes (`items`: catalogue scenes instead of an acquisition; the request is
    closed as rejected, code `covered-by-catalogue`). The author: cancel. Invalid
    transitions answer 409 with the allowed actions."""
    if body.action == PROPOSE_SCENES:
        return await review.propose_scenes(orders, principal, request_id, body.items or [], body.reason)
    if body.items is not None:
        raise DinamisError(
            "items go with propose_scenes only",
            code="invalid-proposal",
            message_fr="des scènes ne se proposent qu'avec l'action « propose_scenes »",
        )
    return await review.act(orders, principal, request_id, Action(body.action), body.reason)


@router.get("/requests/{request_id}/review", tags=["requests"])
async def review_checks(orders: OrdersDep, operator: Staff, request_id: Identifier) -> dict:
    """Operators and admins: what a decision weighs — the quota of the request's period
    now, the co-financing its excess would cost, the other pending requests over the same
    ground (with their AOIs) — the quote's answers for a stored request."""
    return await review.review_checks(orders, await orders.requests.require(request_id))


@router.post("/requests/{request_id}/cofinancing/confirm", tags=["requests"])
async def confirm_cofinancing(orders: OrdersDep, principal: CurrentPrincipal, request_id: Identifier) -> dict:
    """The request's author or a referent of its organisation: confirm co-financing of the excess."""
    return await review.confirm_cofinancing(orders, principal, request_id)


@router.post("/product-orders", status_code=201, tags=["product orders"])
async def place_product_order(
    orders: OrdersDep,
    principal: CurrentPrincipal,
    draft: product_orders.ProductOrderDraft,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Retry safely: the same key (per user) with the same order answers the order "
            "already placed (`replayed: true`); with another order, 422 idempotency-key-reused.",
        ),
    ] = None,
) -> dict:
    """Active members (contractors: items of their commissioning body, during the delegation):
    order ready-to-use products. No review; limited per user per day."""
    return await product_orders.place(orders, principal, draft, idempotency_key)


@router.post("/product-orders/quote", tags=["product orders"])
async def quote_product_order(
    orders: OrdersDep, principal: CurrentPrincipal, draft: product_orders.ProductOrderDraft
) -> dict:
    """Active members: the estimate of a product order (area covered and size per item),
    checked exactly as placing it would be; nothing is reserved (no order, no daily slot)."""
    return await product_quotes.quote(orders, principal, draft)


@router.get("/product-orders/{order_id}/history", tags=["product orders"])
async def product_order_history(orders: OrdersDep, principal: CurrentPrincipal, order_id: Identifier) -> dict:
    """Members of the order's organisation, and staff: every change of the order, oldest first."""
    state = await orders.product_orders.require(order_id, "commande")
    own_or_staff(principal, state["organisation_id"])
    return {"order_id": order_id, "history": await orders.product_orders.history(order_id)}


@router.get("/product-orders", tags=["product orders"])
async def list_product_orders(
    orders: OrdersDep, principal: CurrentPrincipal, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict:
    """Members: their organisation's product orders. Staff: all."""
    query: dict = {} if principal.is_staff else {"organisation_id": principal.organisation_id}
    return {"orders": await orders.product_orders.find(query, sort=[("created_at", -1)], limit=limit)}


@router.get("/product-orders/{order_id}", tags=["product orders"])
async def get_product_order(orders: OrdersDep, principal: CurrentPrincipal, order_id: Identifier) -> dict:
    """Members of the order's organisation, and staff: status and download links."""
    state = await orders.product_orders.require(order_id, "commande")
    own_or_staff(principal, state["organisation_id"])
    return state
