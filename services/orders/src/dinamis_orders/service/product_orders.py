"""Use cases of product orders: a member picks catalogue items and processing options;
no review; the delivery service builds them (`delivery-requested`), and the order
follows `product-ready` / `product-failed`."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from shapely.geometry import shape

from dinamis_orders.adapters.aggregates import AlreadyExists, ConcurrentUpdate
from dinamis_orders.domain.aoi import MIN_CLIP_AREA_KM2, Aoi, AoiWarning, clip_warnings, parse_aoi
from dinamis_orders.domain.product_options import BAND_NAME_MAX, UnsupportedOption, check_options
from dinamis_orders.service import membership
from dinamis_orders.service.context import Orders
from dinamis_shared.auth import Forbidden, Principal
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import (
    DeliveryRequestedV1,
    GeoJSONGeometry,
    Identifier,
    OutputFormat,
    ProductFailedV1,
    ProductReadyV1,
    ProductSpec,
)
from dinamis_shared.retry import Backoff, retry

BandName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=BAND_NAME_MAX)]


class ItemRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collection: Identifier
    item_id: Identifier


class ProductOrderDraft(BaseModel):
    """`POST /v1/product-orders`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    items: list[ItemRef] = Field(min_length=1, max_length=100)
    aoi: dict | None = Field(
        default=None, description="Clip to this GeoJSON (Multi)Polygon; none = whole scenes."
    )
    crs: str = Field(default="EPSG:2154", pattern=r"^(EPSG:\d{4,6}|native)$")
    format: OutputFormat = OutputFormat.COG
    bands: list[BandName] | None = Field(default=None, min_length=1, max_length=8)
    pansharpen: bool = False


class LimitReached(DinamisError):
    code = "daily-limit"
    http_status = 429


class IdempotencyKeyReused(DinamisError):
    code = "idempotency-key-reused"
    http_status = 422


class ItemNotFound(DinamisError):
    code = "item-not-found"
    http_status = 422


async def _take_daily_slot(orders: Orders, principal: Principal, order_id: str) -> None:
    """At most N orders per user per day, exact under concurrency (`DailySlots`)."""
    limit = orders.settings.product_orders_per_day
    day = orders.now().date().isoformat()
    if not await orders.daily_slots.take(principal.user_id, day, order_id, limit):
        raise LimitReached(
            f"daily limit of {limit} product orders reached",
            message_fr=f"limite de {limit} commandes de produits par jour atteinte",
        )


async def _check_items(orders: Orders, draft: ProductOrderDraft, aoi: Aoi | None) -> list[AoiWarning]:
    """Each item exists, the clip AOI falls on it, and every option holds for it (before
    any slot is taken). The warnings: a clip AOI partly off a scene."""
    warnings: list[AoiWarning] = []
    seen: set[tuple[str, str]] = set()
    for ref in draft.items:
        if (ref.collection, ref.item_id) in seen:
            continue
        seen.add((ref.collection, ref.item_id))
        item = await orders.catalogue.item(ref.collection, ref.item_id)
        if item is None:
            raise ItemNotFound(
                f"item {ref.collection}/{ref.item_id} is not in the catalogue",
                message_fr=f"l'image {ref.collection}/{ref.item_id} n'est pas au catalogue",
            )
        if aoi is not None and item.get("geometry"):
            try:
                footprint = shape(item["geometry"])
            except (ValueError, TypeError, AttributeError, IndexError):
                footprint = None  # a catalogue item without a usable footprint: not checked
            if footprint is not None:
                warnings.extend(clip_warnings(aoi, footprint, ref.item_id))
        try:
            check_options(
                item,
                crs=draft.crs,
                bands=draft.bands,
                pansharpen=draft.pansharpen,
                aoi=aoi.geojson() if aoi else None,
            )
        except UnsupportedOption as exc:
            raise UnsupportedOption(
                f"{ref.item_id}: {exc.message}", message_fr=f"{ref.item_id} : {exc.message_fr}"
            ) from None
    return warnings


async def checked(
    orders: Orders, principal: Principal, draft: ProductOrderDraft
) -> tuple[Aoi | None, list[AoiWarning]]:
    """A draft checked as placing checks it (standing, the clip area, access to each item,
    every option against its item): its area and warnings. The quote asks the same."""
    await membership.require_member(orders, principal)
    aoi = (
        parse_aoi(draft.aoi, max_km2=orders.settings.max_request_km2, min_km2=MIN_CLIP_AREA_KM2)
        if draft.aoi is not None
        else None
    )
    decisions = await membership.item_decisions(orders, principal, [i.item_id for i in draft.items])
    refused = {k: v.reason for k, v in decisions.items() if not v.allowed}
    if refused:
        raise Forbidden(
            f"items you may not order: {refused}",
            code="item-access",
            message_fr=f"images non autorisées : {', '.join(refused)}",
        )
    return aoi, [*(aoi.warnings if aoi else []), *await _check_items(orders, draft, aoi)]


def _draft_digest(draft: ProductOrderDraft) -> str:
    """The same order whatever the order of its JSON keys (a client re-serialising it)."""
    canonical = json.dumps(draft.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def keyed_order_id(user_id: str, idempotency_key: str) -> str:
    """The order an `Idempotency-Key` names: the same (user, key) always names the same
    order, so a retried POST (the answer lost to a crash or a timeout) finds it instead of
    placing a second one."""
    return "ord-k" + hashlib.sha256(f"{user_id}\n{idempotency_key}".encode()).hexdigest()[:24]


def _replayed(existing: dict, draft: ProductOrderDraft, principal: Principal) -> dict:
    if existing.get("user_id") != principal.user_id or existing.get("draft_sha256") != _draft_digest(draft):
        raise IdempotencyKeyReused(
            "this Idempotency-Key already placed a different order",
            message_fr="cette clé d'idempotence (Idempotency-Key) a déjà servi à une autre commande",
        )
    return {**existing, "replayed": True}


async def place(
    orders: Orders, principal: Principal, draft: ProductOrderDraft, idempotency_key: str | None = None
) -> dict:
    """Place an order. With an `idempotency_key`, placing it again (same user, same key,
    same draft) answers the order already placed (`replayed: true`), never a second one;
    the same key with another draft is refused."""
    if idempotency_key is not None:
        order_id = keyed_order_id(principal.user_id, idempotency_key)
        existing = await orders.product_orders.get(order_id)
        if existing is not None:
            return _replayed(existing, draft, principal)
    aoi, warnings = await checked(orders, principal, draft)
    now = orders.now()
    if idempotency_key is None:
        order_id = f"ord-{now:%Y%m%d}-{secrets.token_hex(5)}"
    aoi_model = GeoJSONGeometry.model_validate(aoi.geojson()) if aoi else None
    specs = [
        ProductSpec(
            product_id=f"{order_id}-{n}",
            collection=ref.collection,
            item_id=ref.item_id,
            aoi=aoi_model,
            crs=draft.crs,
            format=draft.format,
            bands=draft.bands,
            pansharpen=draft.pansharpen,
        )
        for n, ref in enumerate(draft.items, start=1)
    ]
    state = {
        "order_id": order_id,
        "organisation_id": principal.organisation_id,
        "user_id": principal.user_id,
        "created_at": now.isoformat(),
        "status": "processing",
        "draft_sha256": _draft_digest(draft),
        "options": draft.model_dump(mode="json", exclude={"items"}),
        "warnings": [w.as_dict() for w in warnings],
        "products": [
            {
                **s.model_dump(mode="json", include={"product_id", "collection", "item_id"}),
                "status": "pending",
            }
            for s in specs
        ],
    }
    requested = DeliveryRequestedV1(
        order_id=order_id,
        organisation_id=principal.member_organisation,
        user_id=principal.user_id,
        products=specs,
        requested_at=now,
    )
    # Last, once everything above is valid: a refused order never spends a slot.
    await _take_daily_slot(orders, principal, order_id)
    try:
        return await orders.product_orders.write(
            order_id, state, expected_rev=0, by=principal.user_id, change="placed", events=[requested]
        )
    except (AlreadyExists, ConcurrentUpdate):
        if idempotency_key is None:
            raise
        existing = await orders.product_orders.get(order_id)  # the same key, placed concurrently
        if existing is None:
            raise
        return _replayed(existing, draft, principal)


def _status(products: list[dict]) -> str:
    states = {p["status"] for p in products}
    if "pending" in states:
        return "processing"
    return "ready" if states == {"ready"} else ("failed" if states == {"failed"} else "partially_ready")


async def record_product(orders: Orders, event: ProductReadyV1 | ProductFailedV1) -> None:
    """`product-ready` / `product-failed`: the order lists the product's outcome (idempotent)."""
    await retry(
        lambda: _record_product(orders, event),
        attempts=20,
        retry_if=lambda exc: isinstance(exc, ConcurrentUpdate),
        expected=(ConcurrentUpdate,),
        backoff=Backoff(base=0.01, cap=0.5),
        what=f"recording product {event.product_id}",
    )


def _outcome(product: dict, event: ProductReadyV1 | ProductFailedV1, delivery_url: str) -> dict:
    if isinstance(event, ProductReadyV1):
        return {
            **product,
            "status": "ready",
            "size_bytes": event.size_bytes,
            "sha256": event.sha256,
            "crs": event.crs,
            "expires_at": event.expires_at.isoformat(),
            "download": f"{delivery_url.rstrip('/')}/downloads/{event.product_id}",
        }
    return {**product, "status": "failed", "reason_code": event.reason_code.value, "reason": event.reason}


async def _record_product(orders: Orders, event: ProductReadyV1 | ProductFailedV1) -> None:
    state = await orders.product_orders.get(event.order_id)
    if state is None:
        return  # not an order of ours (e.g. built by an operator's tool): nothing to follow
    products = []
    changed = False
    for p in state["products"]:
        if p["product_id"] == event.product_id and p["status"] == "pending":
            changed = True
            p = _outcome(p, event, orders.settings.delivery_url)
        products.append(p)
    if not changed:
        return
    new = {**state, "products": products, "status": _status(products)}
    await orders.product_orders.write(
        event.order_id,
        new,
        expected_rev=state["rev"],
        by="delivery",
        change=f"product {event.product_id}",
    )
