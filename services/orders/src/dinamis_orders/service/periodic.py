"""The service's periodic passes: memberships past their end expire, supplier orders
that failed earlier are placed again, requests whose window is over close."""

from __future__ import annotations

from dinamis_orders.service import expiry, membership, progress
from dinamis_orders.service.context import Orders
from dinamis_shared.periodic import Step


def passes(orders: Orders) -> dict[str, Step]:
    """The steps of one pass, by name (run by `dinamis_shared.periodic.every`)."""

    async def membership_expiry() -> int:
        return await membership.expire_memberships(orders)

    async def supplier_orders() -> int:
        return await progress.place_pending(orders)

    async def request_expiry() -> int:
        return await expiry.expire_due(orders)

    return {
        "membership expiry": membership_expiry,
        "supplier orders": supplier_orders,
        "request expiry": request_expiry,
    }
