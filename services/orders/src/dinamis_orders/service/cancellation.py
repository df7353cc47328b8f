"""Use case: cancelling an approved request. The supplier order may have been placed
(the placement runs apart from the review), so the quota is given back only once the
supplier confirms that nothing is, or will be, acquired; if it is already acquiring,
the request goes on (`in_progress`) and the cancellation is refused."""

from __future__ import annotations

import logging
from dataclasses import replace

from dinamis_orders.adapters.aggregates import ConcurrentUpdate
from dinamis_orders.domain.acquisition import AcquisitionRequest
from dinamis_orders.domain.requests import Actor, RequestState
from dinamis_orders.service.context import Orders
from dinamis_orders.service.quota_ops import release_rest
from dinamis_shared.errors import DinamisError

log = logging.getLogger(__name__)
SUPPLIER_CONFIRMED = "le fournisseur a confirmé l'annulation / the supplier confirmed the cancellation"
SUPPLIER_ACQUIRING = (
    "le fournisseur acquiert déjà : annulation refusée / the supplier is already acquiring: "
    "cancellation refused"
)


class CancellationRefused(DinamisError):
    """The supplier is already acquiring for this request: it will deliver, the quota is spent."""

    code = "supplier-acquiring"
    http_status = 409


def refused(request_id: str) -> CancellationRefused:
    return CancellationRefused(
        f"request {request_id} can no longer be cancelled: the supplier is already acquiring it",
        message_fr=(
            f"la demande {request_id} ne peut plus être annulée : le fournisseur a déjà "
            "commencé l'acquisition (les images seront livrées et décomptées du quota)"
        ),
    )


async def settle(orders: Orders, request: AcquisitionRequest) -> AcquisitionRequest:
    """Ask the supplier about a `cancelling` request: cancelled (quota refunded),
    `in_progress` (already acquiring), or still `cancelling` (no adapter: an operator
    confirms; the supplier unreachable: the periodic pass asks again)."""
    if request.status is not RequestState.CANCELLING or orders.supplier is None:
        return request
    try:
        answer = await orders.supplier.cancel_order(request.request_id)
    except Exception as exc:
        log.warning("cancellation of %s not confirmed by the supplier yet: %s", request.request_id, exc)
        return request
    now = orders.now()
    if answer.cancelled:
        change = request.confirm_cancellation(Actor.SYSTEM, "orders", now, SUPPLIER_CONFIRMED)
        saved = await orders.requests.save(change)
        await release_rest(orders, saved, "orders")
        return saved
    change = request.start_acquisition(answer.order_id or "acquiring", now)
    return await orders.requests.save(replace(change, why=SUPPLIER_ACQUIRING))


async def confirm_by_hand(
    orders: Orders, request: AcquisitionRequest, by: str, why: str
) -> AcquisitionRequest:
    """An operator confirms the supplier cancelled an order placed by hand."""
    saved = await orders.requests.save(request.confirm_cancellation(Actor.OPERATOR, by, orders.now(), why))
    await release_rest(orders, saved, by)
    return saved


async def settle_pending(orders: Orders) -> int:
    """Ask the supplier again about every request still `cancelling`."""
    settled = 0
    for request in await orders.requests.with_status([RequestState.CANCELLING.value]):
        try:
            after = await settle(orders, request)
        except ConcurrentUpdate:
            continue
        settled += after.status is not RequestState.CANCELLING
    return settled
