"""Live indexing: `scene-ingested` -> pgSTAC.

Idempotent: an item is upserted by (collection, id); a newer scene version replaces
the older one in search, and a replayed older version never overwrites a newer one.
The collection's extent is updated from its items after each upsert.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import Gauge, Histogram

from dinamis_catalog.domain.assets import with_public_previews
from dinamis_catalog.domain.collections import (
    QUERYABLES,
    coverage_collection,
    dinamis_collections,
    partner_collections,
)
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import SceneIngestedV1

log = logging.getLogger(__name__)

INDEXING_LAG = Histogram(
    "dinamis_catalog_indexing_lag_seconds",
    "Time from scene-ingested (ce_time) to the item being searchable",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
LAST_LAG = Gauge("dinamis_catalog_last_indexing_lag_seconds", "Indexing lag of the last item")


class UnknownCollection(DinamisError):
    code = "unknown-collection"


class CatalogIndex(Protocol):
    """What indexing needs from pgSTAC (`adapters.pgstac.PgStac`)."""

    async def collection_exists(self, collection_id: str) -> bool: ...
    async def collection_extent(self, collection_id: str) -> dict | None: ...
    async def upsert_collection(self, collection: dict) -> None: ...
    async def partition_by_year(self, collection_id: str) -> None: ...
    async def upsert_queryable(
        self, name: str, definition: dict, wrapper: str | None, index: str | None
    ) -> None: ...
    async def item_version(self, item_id: str, collection: str) -> int: ...
    async def upsert_item(self, item: dict) -> None: ...


class Indexer:
    def __init__(self, index: CatalogIndex, public_url: str) -> None:
        self.store = index
        self.public_url = public_url

    async def ensure_collections(self, coverage_years: list[int]) -> int:
        """Create or update the configured collections (never their extents, which
        come from the items)."""
        collections = dinamis_collections(coverage_years) + partner_collections()
        for collection in collections:
            extent = await self.store.collection_extent(collection["id"])
            if extent and not collection.get("dinamis:partner"):
                collection = {**collection, "extent": extent}
            await self.upsert_collection(collection)
        for name, (definition, wrapper, index) in QUERYABLES.items():
            await self.store.upsert_queryable(name, definition, wrapper, index)
        return len(collections)

    async def upsert_collection(self, collection: dict) -> None:
        """Upsert; DINAMIS' own collections (instants, years of acquisitions) are partitioned
        by year, so a search over a year reads one partition's indexes. Partner collections
        are not: their items may span years, which a yearly partition refuses."""
        await self.store.upsert_collection(collection)
        if not collection.get("dinamis:partner"):
            await self.store.partition_by_year(collection["id"])

    async def index(self, envelope: Envelope) -> None:
        """Consumes `scene-ingested`; emits nothing. Upserts the item into pgSTAC."""
        event = envelope.event
        if not isinstance(event, SceneIngestedV1):
            raise TypeError(f"the indexer consumes scene-ingested, not {envelope.type}")
        item = with_public_previews({**event.item, "collection": event.collection}, self.public_url)
        version = int(item.get("properties", {}).get("dinamis:version", event.version))
        store = self.store
        if not await store.collection_exists(event.collection):
            definition = coverage_collection(event.collection)
            if definition is None:
                raise UnknownCollection(f"collection {event.collection!r} is not configured")
            await self.upsert_collection(definition)
        current = await store.item_version(item["id"], event.collection)
        if current > version:
            log.info(
                "older version ignored",
                extra={"item": item["id"], "version": version, "current": current},
            )
            return
        await store.upsert_item(item)
        if envelope.time is not None:
            lag = (datetime.now(UTC) - envelope.time).total_seconds()
            INDEXING_LAG.observe(max(lag, 0))
            LAST_LAG.set(lag)
        log.info(
            "item indexed", extra={"item": item["id"], "collection": event.collection, "version": version}
        )
