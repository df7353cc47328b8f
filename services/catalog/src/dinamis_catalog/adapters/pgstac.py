"""pgSTAC, the catalogue's PostgreSQL store: every SQL statement of the catalog's own
code (indexing, previews, signed URLs) is here. The STAC API itself reads through
stac-fastapi-pgstac's pools, and tiles through titiler-pgstac's.

Connections run with `search_path=pgstac,public` and autocommit; an item's upsert
and its collection's extent update share one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from dinamis_catalog.domain.extent import grown_collection


class PgStac:
    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 2) -> None:
        # Not opened here (no I/O at bootstrap): `open()` in the app's startup hook.
        self.pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"options": "-c search_path=pgstac,public", "autocommit": True},
        )

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    # --- items -------------------------------------------------------------------

    async def item(self, item_id: str, collection: str) -> dict | None:
        (found,) = await self.items([(item_id, collection)])
        return found

    async def items(self, keys: Sequence[tuple[str, str]]) -> list[dict | None]:
        """The items of (item id, collection) pairs, in order (None: no such item)."""
        found: list[dict | None] = []
        async with self.pool.connection() as conn:
            for item_id, collection in keys:
                cur = await conn.execute("SELECT pgstac.get_item(%s, %s)", [item_id, collection])
                row = await cur.fetchone()
                found.append(row[0] if row else None)
        return found

    async def item_version(self, item_id: str, collection: str) -> int:
        """The stored item's `dinamis:version` (0: no such item, or no version)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT pgstac.get_item(%s, %s)->'properties'->>'dinamis:version'", [item_id, collection]
            )
            row = await cur.fetchone()
        return int(row[0]) if row and row[0] else 0

    async def upsert_item(self, item: dict) -> None:
        """Upsert the item and grow its collection's extent to cover it, in one
        transaction; the collection's row lock serialises concurrent indexers."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pgstac.upsert_item(%s)", [Jsonb(item)])
            cur = await conn.execute(
                "SELECT content FROM pgstac.collections WHERE id = %s FOR UPDATE", [item["collection"]]
            )
            row = await cur.fetchone()
            if row is None:
                raise LookupError(f"collection {item['collection']!r} vanished while indexing")
            grown = grown_collection(row[0], item)
            if grown is not None:
                await conn.execute("SELECT pgstac.update_collection(%s)", [Jsonb(grown)])

    # --- collections ---------------------------------------------------------------

    async def collection_exists(self, collection_id: str) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT 1 FROM pgstac.collections WHERE id = %s", [collection_id])
            return await cur.fetchone() is not None

    async def collection_extent(self, collection_id: str) -> dict | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT content->'extent' FROM pgstac.collections WHERE id = %s", [collection_id]
            )
            row = await cur.fetchone()
        return row[0] if row and row[0] else None

    async def upsert_collection(self, collection: dict) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("SELECT pgstac.upsert_collection(%s)", [Jsonb(collection)])

    async def partition_by_year(self, collection_id: str) -> None:
        """pgSTAC's yearly partitions for a collection (moving its items, once)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE pgstac.collections SET partition_trunc = 'year'"
                " WHERE id = %s AND partition_trunc IS DISTINCT FROM 'year'",
                [collection_id],
            )

    async def upsert_queryable(
        self, name: str, definition: dict, wrapper: str | None, index: str | None
    ) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "SELECT pgstac.upsert_queryable(%s, %s, %s, %s)", [name, Jsonb(definition), wrapper, index]
            )
