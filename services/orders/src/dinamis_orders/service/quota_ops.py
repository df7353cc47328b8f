"""Quota steps shared by the request use cases."""

from __future__ import annotations

from dinamis_orders.adapters.aggregates import NotFound
from dinamis_orders.domain.acquisition import AcquisitionRequest, Cofinancing, cofinancing_price
from dinamis_orders.service.context import Orders


async def release_rest(orders: Orders, request: AcquisitionRequest, by: str) -> None:
    """Give back to the quota whatever the ledger still holds for this request."""
    await orders.ledger.release_all(request.quota_id, request.request_id, by)


async def cofinancing_offer(
    orders: Orders, request: AcquisitionRequest, shortfall: float | None = None
) -> Cofinancing:
    """The price of the area beyond the quota (today's shortfall unless given)."""
    org = await orders.organisation(request.organisation_id)
    if org is None:
        raise NotFound(f"organisation {request.organisation_id!r} not found")
    if shortfall is None:
        shortfall = request.shortfall((await orders.ledger.balance(request.quota_id)).available)
    return cofinancing_price(org.category, request.sensor_family, shortfall)


def view(request: AcquisitionRequest) -> dict:
    """A request as the API returns it: the stored state and its revision."""
    return {**request.state(), "rev": request.rev}
