"""Placing acquisition orders with the supplier (`service.ports.Supplier`) over HTTP.

The supplier simulator (`dinamis-supplier-sim`, services/ingest) implements the supplier
side of this API; a real supplier's API gets its own adapter class with the same method.
"""

from __future__ import annotations

import httpx

from dinamis_orders.service.ports import SupplierCancellation
from dinamis_shared.errors import DinamisError


class SupplierRefused(DinamisError):
    """The supplier refused the order (bad AOI, unknown sensor): an operator must look."""

    code = "supplier-refused"


class HttpSupplier:
    def __init__(self, base_url: str, api_key: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s

    async def place_order(self, request: dict) -> str:
        body = {
            "reference": request["request_id"],
            "sensor_family": request["sensor_family"],
            "aoi": request["aoi"],
            "window": request["window"],
            "max_cloud_cover": request["max_cloud_cover"],
        }
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            response = await client.post(
                f"{self.base_url}/orders", json=body, headers={"X-Api-Key": self.api_key}
            )
        if 400 <= response.status_code < 500:
            raise SupplierRefused(f"supplier refused the order: {response.status_code} {response.text[:500]}")
        response.raise_for_status()  # 5xx: an outage, retried
        placed = response.json()
        if placed.get("status") == "cancelled" or not placed.get("order_id"):
            raise SupplierRefused(f"the supplier's order for {request['request_id']} was cancelled")
        return placed["order_id"]

    async def cancel_order(self, request_id: str) -> SupplierCancellation:
        """`DELETE /orders/{reference}`: 200 cancelled (or never placed, now refused),
        409 already acquiring (the body says the order and its status)."""
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            response = await client.delete(
                f"{self.base_url}/orders/{request_id}", headers={"X-Api-Key": self.api_key}
            )
        if response.status_code == 409:
            body = response.json()
            return SupplierCancellation(False, body.get("order_id"), body.get("order_status"))
        if 400 <= response.status_code < 500:
            raise SupplierRefused(
                f"supplier refused the cancellation: {response.status_code} {response.text[:500]}"
            )
        response.raise_for_status()
        body = response.json()
        return SupplierCancellation(True, body.get("order_id"), body.get("status"))
