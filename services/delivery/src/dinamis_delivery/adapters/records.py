"""Product records in MongoDB (collection `delivery_products`), owned by delivery.

One document per product key (`_id`): what was built, for which order and
organisation, where it is, until when. The unique `_id` is the concurrency guard
(FerretDB does not make conditional updates atomic): the first insert wins, a
second one gets a duplicate-key error and reads the winner's record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from dinamis_delivery.domain.products import ProductStatus

COLLECTION = "delivery_products"


class ProductRecords:
    def __init__(self, mongo: Any, database: str) -> None:
        self.collection = mongo[database][COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("order_id")
        await self.collection.create_index("product_ids")
        await self.collection.create_index("expires_at")

    async def get(self, key: str) -> dict | None:
        return await self.collection.find_one({"_id": key})

    async def insert(self, record: dict) -> dict:
        """Insert a new record; if one with this key exists, return that one instead."""
        try:
            await self.collection.insert_one(record)
            return record
        except DuplicateKeyError:
            existing = await self.get(record["_id"])
            assert existing is not None
            return existing

    async def add_product_id(self, key: str, product_id: str) -> None:
        await self.collection.update_one({"_id": key}, {"$addToSet": {"product_ids": product_id}})

    async def mark_published(self, key: str, product_id: str) -> None:
        await self.collection.update_one({"_id": key}, {"$addToSet": {"published": product_id}})

    async def by_product_id(self, product_id: str) -> dict | None:
        return await self.collection.find_one({"product_ids": product_id})

    async def of_order(self, order_id: str) -> list[dict]:
        cursor = self.collection.find({"order_id": order_id}).sort("_id", 1)
        return [doc async for doc in cursor]

    async def expired(self, now: datetime, limit: int = 500) -> list[dict]:
        cursor = self.collection.find({"status": ProductStatus.READY.value, "expires_at": {"$lte": now}})
        return [doc async for doc in cursor.limit(limit)]

    async def mark_expired(self, key: str, when: datetime) -> None:
        await self.collection.update_one(
            {"_id": key}, {"$set": {"status": ProductStatus.EXPIRED.value, "expired_at": when}}
        )
