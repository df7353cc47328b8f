"""Live indexing: `scene-ingested` -> pgSTAC.

Idempotent: an item is upserted by (collection, id); a newer scene version replaces
the older one in search, and a replayed older version never overwrites a newer one.
The collection's extent is updated from its items after each upsert.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from prometheus_client import Gauge, Histogram
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from dinamis_catalog.domain.collections import (
    QUERYABLES,
    coverage_collection,
    dinamis_collections,
    partner_collections,
)
from dinamis_catalog.entrypoints.previews import ARCHIVE_HREF, PUBLIC_ROLES, preview_href
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


def _utc(value: str) -> str:
    """One spelling of instants ('...Z'), so that extents compare as times, not text."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class UnknownCollection(DinamisError):
    code = "unknown-collection"


class Indexer:
    def __init__(self, pool: AsyncConnectionPool, public_url: str) -> None:
        self.pool = pool
        self.public_url = public_url

    async def ensure_collections(self, coverage_years: list[int]) -> int:
        """Create or update the configured collections (never their extents, which
        come from the items)."""
        collections = dinamis_collections(coverage_years) + partner_collections()
        async with self.pool.connection() as conn:
            for collection in collections:
                cur = await conn.execute(
                    "SELECT content->'extent' FROM pgstac.collections WHERE id = %s", [collection["id"]]
                )
                row = await cur.fetchone()
                if row and row[0] and not collection.get("dinamis:partner"):
                    collection = {**collection, "extent": row[0]}
                await conn.execute("SELECT pgstac.upsert_collection(%s)", [Jsonb(collection)])
            for name, (definition, wrapper, index) in QUERYABLES.items():
                await conn.execute(
                    "SELECT pgstac.upsert_queryable(%s, %s, %s, %s)",
                    [name, Jsonb(definition), wrapper, index],
                )
        return len(collections)

    @staticmethod
    async def _grow_extent(conn, collection_id: str, item: dict) -> None:
        """Keep the collection's extent current, incrementally (O(1) per item, not a scan
        of millions of items): the configured extent is replaced by the first item's,
        then grown to cover each new one. The row lock serialises concurrent indexers."""
        cur = await conn.execute(
            "SELECT content FROM pgstac.collections WHERE id = %s FOR UPDATE", [collection_id]
        )
        (content,) = await cur.fetchone()
        props = item.get("properties", {})
        start = props.get("start_datetime") or props.get("datetime")
        end = props.get("end_datetime") or props.get("datetime")
        bbox = (
            list(item["bbox"][:2]) + list(item["bbox"][-2:]) if len(item["bbox"]) == 6 else list(item["bbox"])
        )
        start, end = _utc(start), _utc(end)
        if content.get("dinamis:extent_from_items"):
            (w, s, e, n) = content["extent"]["spatial"]["bbox"][0]
            (t0, t1) = content["extent"]["temporal"]["interval"][0]
            bbox = [min(w, bbox[0]), min(s, bbox[1]), max(e, bbox[2]), max(n, bbox[3])]
            start, end = min(_utc(t0), start), max(_utc(t1), end)
        extent = {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[start, end]]}}
        if extent != content.get("extent"):
            content = {**content, "extent": extent, "dinamis:extent_from_items": True}
            await conn.execute("SELECT pgstac.update_collection(%s)", [Jsonb(content)])

    def _public_previews(self, item: dict) -> dict:
        """Point thumbnails and quicklooks at the catalog's public preview route (the
        archive stays private); the archive href is kept beside it."""
        assets = {}
        for key, asset in item.get("assets", {}).items():
            if PUBLIC_ROLES & set(asset.get("roles", [])) and ARCHIVE_HREF not in asset:
                asset = {
                    **asset,
                    ARCHIVE_HREF: asset["href"],
                    "href": preview_href(self.public_url, item["collection"], item["id"], key),
                }
            assets[key] = asset
        return {**item, "assets": assets}

    async def index(self, envelope: Envelope) -> None:
        """Consumes `scene-ingested`; emits nothing. Upserts the item into pgSTAC."""
        event: SceneIngestedV1 = envelope.event
        item = self._public_previews({**event.item, "collection": event.collection})
        version = int(item.get("properties", {}).get("dinamis:version", event.version))
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT 1 FROM pgstac.collections WHERE id = %s", [event.collection])
            if await cur.fetchone() is None:
                definition = coverage_collection(event.collection)
                if definition is None:
                    raise UnknownCollection(f"collection {event.collection!r} is not configured")
                await conn.execute("SELECT pgstac.upsert_collection(%s)", [Jsonb(definition)])
            cur = await conn.execute(
                "SELECT pgstac.get_item(%s, %s)->'properties'->>'dinamis:version'",
                [item["id"], event.collection],
            )
            row = await cur.fetchone()
            current = int(row[0]) if row and row[0] else 0
            if current > version:
                log.info(
                    "older version ignored",
                    extra={"item": item["id"], "version": version, "current": current},
                )
                return
            async with conn.transaction():
                await conn.execute("SELECT pgstac.upsert_item(%s)", [Jsonb(item)])
                await self._grow_extent(conn, event.collection, item)
        if envelope.time is not None:
            lag = (datetime.now(UTC) - envelope.time).total_seconds()
            INDEXING_LAG.observe(max(lag, 0))
            LAST_LAG.set(lag)
        log.info(
            "item indexed", extra={"item": item["id"], "collection": event.collection, "version": version}
        )
