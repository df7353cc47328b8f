"""The catalogue's items, read from pgSTAC.

Delivery reads the item straight from the catalogue's database (pgSTAC's
`get_item(id, collection)`), not through the STAC API and not from the archive's
`item.json`: pgSTAC holds the *latest* version of each item (the archive keeps every
version under a dated path that an order does not carry), one indexed lookup answers,
and no HTTP hop or public-URL rewriting is involved. Data asset hrefs there are the
archive's (`http://<s3>/archive/<key>`); `dinamis:archive_href` is preferred when the
catalogue rewrote an href.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dinamis_shared import clients
from dinamis_shared.settings import ServiceSettings


class CatalogItems:
    """At most `MAX_CONNECTIONS` lookups at once per replica: an order of 100 items must
    not open 100 connections to the catalogue's database (and starve the catalog)."""

    MAX_CONNECTIONS = 4

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._slots = asyncio.Semaphore(self.MAX_CONNECTIONS)

    async def get(self, collection: str, item_id: str) -> dict[str, Any] | None:
        async with self._slots:
            conn = await clients.pg_connect(self.settings, timeout_s=self.settings.readiness_timeout_s * 3)
            async with conn:
                cursor = await conn.execute("SELECT pgstac.get_item(%s, %s)", (item_id, collection))
                row = await cursor.fetchone()
        return row[0] if row and row[0] else None
