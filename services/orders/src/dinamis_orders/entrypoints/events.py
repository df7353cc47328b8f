"""Kafka handlers of the orders service (consumer group `orders`).

A handler is thin: the bus has already decoded and validated the event; the handler
calls a use case. Events the orders service emits go through the outbox, never from here.
"""

from __future__ import annotations

from dinamis_orders.service import product_orders, progress
from dinamis_orders.service.context import Orders
from dinamis_shared.bus import EventHandler, log_received
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.events import (
    Event,
    ProductFailedV1,
    ProductReadyV1,
    RequestApprovedV1,
    SceneIngestedV1,
    SceneRejectedV1,
)


def subscriptions(orders: Orders) -> list[tuple[type[Event], EventHandler]]:
    async def on_scene_ingested(envelope: Envelope) -> None:
        """Consumes `scene-ingested`: a scene acquired for a request updates its progress and
        quota consumption, and is licensed to the requesting organisation. Emits (via the
        outbox) `request-updated`."""
        event = envelope.event
        assert isinstance(event, SceneIngestedV1)
        await progress.record_scene(orders, event)

    async def on_product(envelope: Envelope) -> None:
        """Consumes `product-ready` / `product-failed`: the product order lists the outcome."""
        event = envelope.event
        assert isinstance(event, ProductReadyV1 | ProductFailedV1)
        await product_orders.record_product(orders, event)

    async def on_request_approved(envelope: Envelope) -> None:
        """Consumes `request-approved`: places the order with the supplier (idempotent by
        request id) and moves the request to in_progress. Emits `request-updated`."""
        event = envelope.event
        assert isinstance(event, RequestApprovedV1)
        await progress.place_with_supplier(orders, event.request_id)

    return [
        (RequestApprovedV1, on_request_approved),
        (SceneIngestedV1, on_scene_ingested),
        (SceneRejectedV1, log_received),
        (ProductReadyV1, on_product),
        (ProductFailedV1, on_product),
    ]
