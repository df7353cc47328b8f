"""The service's periodic passes: memberships past their end expire, supplier orders
that failed earlier are placed again, cancellations the supplier
has not confirmed yet are asked again, requests whose window is over close."""

from __future__ import annotations

from dinamis_orders.service import cancellation, expiry, membership, progress
from dinamis_orders.service.context import Orders
from dinamis_shared.periodic import Step


def passes(orders: Orders) -> dict[str, Step]:
    """The steps of one pass, by name (run by `dinamis_shared.periodic.every`)."""

    async def membership_expiry() -> int:
        return await membership.expire_memberships(orders)

    async def supplier_orders() -> int:
        return await progress.place_pending(orders)

    async def supplier_cancellations() -> int:
        return await cancellation.settle_pending(orders)

    async def request_expiry() -> int:
        return await expiry.expire_due(orders)

    return {
        "membership expiry": membership_expiry,
        "supplier orders": supplier_orders,
        "supplier cancellations": supplier_cancellations,
        "request expiry": request_expiry,
    }
