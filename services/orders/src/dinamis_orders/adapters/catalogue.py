"""The catalogue's STAC API, as the orders service uses it: footprints of imagery over
an AOI (overlap warnings), and an item (product orders: it exists, its bands, its CRS)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from dinamis_orders.service.ports import CatalogueUnavailable


def _rfc3339(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


class HttpCatalogue:
    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    async def footprints(
        self,
        aoi: dict,
        start: datetime,
        end: datetime,
        *,
        constellation: str,
        max_cloud_cover: float,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        body = {
            "intersects": aoi,
            "datetime": f"{_rfc3339(start)}/{_rfc3339(end)}",
            "filter-lang": "cql2-json",
            "filter": {
                "op": "and",
                "args": [
                    {"op": "=", "args": [{"property": "constellation"}, constellation]},
                    {"op": "<=", "args": [{"property": "eo:cloud_cover"}, max_cloud_cover]},
                ],
            },
            "limit": limit,
            "fields": {"include": ["id", "geometry", "properties.datetime"], "exclude": ["assets", "links"]},
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(f"{self.base_url}/search", json=body)
                response.raise_for_status()
                return list(response.json().get("features", []))
        except (httpx.HTTPError, ValueError) as exc:
            raise CatalogueUnavailable(str(exc)) from exc

    async def item_exists(self, collection: str, item_id: str) -> bool:
        return await self.item(collection, item_id) is not None

    async def item(self, collection: str, item_id: str) -> dict[str, Any] | None:
        """The item, or None if the catalogue says it does not exist; CatalogueUnavailable
        when it cannot say (down, restarting, answering 5xx or garbage)."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.get(f"{self.base_url}/collections/{collection}/items/{item_id}")
            if response.status_code == 404:
                return None
            response.raise_for_status()
            found = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise CatalogueUnavailable(str(exc)) from exc
        return found if isinstance(found, dict) else None
