"""Use case: requests whose acquisition window (plus grace) is over close, and give
back the quota never consumed."""

from __future__ import annotations

from dinamis_orders.adapters.aggregates import ConcurrentUpdate
from dinamis_orders.domain.acquisition import LIVE
from dinamis_orders.service.context import Orders
from dinamis_orders.service.quota_ops import release_rest


async def expire_due(orders: Orders) -> int:
    """Close live requests whose window (plus grace) is over; release unused quota."""
    now = orders.now()
    grace = orders.settings.expiry_grace_days
    closed = 0
    for request in await orders.requests.with_status([s.value for s in LIVE], limit=1000):
        if not request.window_over(now, grace):
            continue
        latest = await orders.requests.require(request.request_id)
        if latest.status not in LIVE:
            continue
        try:
            saved = await orders.requests.save(latest.expire(now))
        except ConcurrentUpdate:
            continue
        await release_rest(orders, saved, "orders")
        closed += 1
    return closed
