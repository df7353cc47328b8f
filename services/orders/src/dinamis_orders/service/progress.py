"""Use cases: the supplier's side of a request. Placing the order (and retrying it),
starting the acquisition, and recording the scenes it delivers."""

from __future__ import annotations

import logging

from dinamis_orders.adapters.aggregates import ConcurrentUpdate
from dinamis_orders.domain.quota import EntryKind
from dinamis_orders.domain.requests import Actor, RequestState
from dinamis_orders.service.context import Orders
from dinamis_orders.service.quota_ops import release_rest, view
from dinamis_shared.events import SceneIngestedV1
from dinamis_shared.retry import Backoff, retry

log = logging.getLogger(__name__)
LICENSED = (RequestState.IN_PROGRESS, RequestState.FULFILLED, RequestState.PARTIALLY_FULFILLED)
# Concurrent writers of one request (scenes arriving together) re-read and try again.
SCENE_ATTEMPTS = 20


async def start_acquisition(
    orders: Orders, request_id: str, supplier_order_id: str, by: str = "orders", actor: Actor = Actor.SYSTEM
) -> dict:
    request = await orders.requests.require(request_id)
    if request.status is not RequestState.APPROVED and actor is Actor.SYSTEM:
        # Already started (a redelivered approval), or cancelled / being cancelled meanwhile
        # (the cancellation asks the supplier, which then knows of this order).
        return view(request)
    change = request.start_acquisition(supplier_order_id, orders.now(), actor, by)
    return view(await orders.requests.save(change))


async def place_with_supplier(orders: Orders, request_id: str) -> bool:
    """Order from the supplier, then `approved -> in_progress`. True once placed.

    A supplier outage must not stall the orders consumer (one loop serves every topic):
    failures are logged and `place_pending` retries approved requests periodically."""
    if orders.supplier is None:
        log.info("no supplier adapter configured: %s waits for an operator", request_id)
        return False
    request = await orders.requests.require(request_id)
    if request.status is not RequestState.APPROVED:
        return True  # already in progress (a redelivered event), or cancelled meanwhile
    try:
        supplier_order_id = await orders.supplier.place_order(request.state())
    except Exception as exc:
        log.warning("supplier order for %s not placed yet: %s", request_id, exc)
        return False
    await start_acquisition(orders, request_id, supplier_order_id)
    return True


async def place_pending(orders: Orders) -> int:
    """Retry placing every approved request not yet with the supplier."""
    placed = 0
    for request in await orders.requests.with_status([RequestState.APPROVED.value]):
        placed += await place_with_supplier(orders, request.request_id)
    return placed


async def record_scene(orders: Orders, event: SceneIngestedV1, backoff: Backoff | None = None) -> None:
    """A scene acquired for a request arrived: license it to the organisation, update the
    covered share, consume quota for the newly covered ground, close when fulfilled."""
    request_id = event.acquisition_request_id
    if request_id is None:
        return
    await retry(
        lambda: _record_scene(orders, event, request_id),
        attempts=SCENE_ATTEMPTS,
        retry_if=lambda exc: isinstance(exc, ConcurrentUpdate),
        expected=(ConcurrentUpdate,),
        backoff=backoff or Backoff(base=0.01, cap=0.5),
        what=f"recording scene {event.scene_id} for {request_id}",
    )


async def _record_scene(orders: Orders, event: SceneIngestedV1, request_id: str) -> None:
    request = await orders.requests.get(request_id)
    if request is None:
        log.warning("scene %s names unknown request %s", event.scene_id, request_id)
        return
    if request.status in (RequestState.APPROVED, RequestState.CANCELLING):
        # The supplier delivered before the in_progress write (or it failed), or while
        # the author's cancellation awaited it: it is acquiring, start it now.
        change = request.start_acquisition(request.supplier_order_id or "delivered", orders.now())
        request = await orders.requests.save(change)
    if request.status in LICENSED:
        await orders.licences.record(event.item["id"], request.organisation_id)
    progress = request.record_scene(
        event.scene_id, event.item["geometry"], orders.settings.fulfilled_share, orders.now()
    )
    if progress is None:
        return
    if progress.consume_km2 > 0:
        # The ledger first, once per scene (its reference makes a retry a no-op): a crash
        # before the request's revision below leaves nothing uncounted.
        await orders.ledger.settle(
            request.quota_id,
            request_id,
            progress.consume_km2,
            EntryKind.CONSUME,
            "orders",
            ref=f"{request_id}|{event.scene_id}",
        )
    saved = await orders.requests.save(progress.change)
    if saved.status is RequestState.FULFILLED:
        await release_rest(orders, saved, "orders")
