"""The orders service's MongoDB collections, opened once per process, and the unit of
work (`Orders`) built on them."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from dinamis_orders.adapters.aggregates import AggregateStore, OutboxSource
from dinamis_orders.adapters.catalogue import HttpCatalogue
from dinamis_orders.adapters.quota_store import QuotaLedger
from dinamis_orders.adapters.request_store import MongoRequests
from dinamis_orders.service.context import Orders, utc_now
from dinamis_orders.service.ports import Catalogue, Clock, Supplier
from dinamis_orders.settings import OrdersSettings


class MongoLicences:
    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection

    async def record(self, item_id: str, organisation_id: str) -> None:
        await self.collection.update_one(
            {"_id": item_id}, {"$addToSet": {"obtained_by": organisation_id}}, upsert=True
        )

    async def obtained_by(self, item_ids: Sequence[str]) -> dict[str, set[str]]:
        obtained: dict[str, set[str]] = {i: set() for i in item_ids}
        async for doc in self.collection.find({"_id": {"$in": list(obtained)}}):
            obtained[doc["_id"]] = set(doc.get("obtained_by", []))
        return obtained


class MongoDailySlots:
    """Slot k of a user's day is a unique document: exact under concurrency."""

    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection

    async def take(self, user_id: str, day: str, order_id: str, limit: int) -> bool:
        # One claim per order first (a unique id): the same order placed again — a retry with
        # its Idempotency-Key, even concurrent — never takes a second slot. (A replica dying
        # between the claim and the slot leaves that one order without a slot.)
        claim = f"{user_id}|{day}|order|{order_id}"
        try:
            await self.collection.insert_one({"_id": claim, "claim": True})
        except DuplicateKeyError:
            return True
        used = await self.collection.count_documents({"user_id": user_id, "day": day})
        for k in range(used + 1, limit + 1):
            try:
                await self.collection.insert_one(
                    {"_id": f"{user_id}|{day}|{k}", "user_id": user_id, "day": day, "order_id": order_id}
                )
                return True
            except DuplicateKeyError:
                continue
        await self.collection.delete_one({"_id": claim})  # refused: a later retry is counted again
        return False


class MongoStores:
    """Every collection of the service (one database)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.organisations = AggregateStore(db, "organisations")
        self.users = AggregateStore(db, "users")
        self.api_keys = AggregateStore(db, "api_keys")
        self.invitations = AggregateStore(db, "invitations")
        self.requests = AggregateStore(db, "requests", json_fields=("aoi", "scene_footprints"))
        self.product_orders = AggregateStore(db, "product_orders", json_fields=("options",))
        self.ledger = QuotaLedger(db["quota_ledger"])
        self.item_licences = db["item_licences"]
        self.daily_slots = db["product_order_slots"]

    @property
    def aggregates(self) -> list[AggregateStore]:
        """The aggregate stores."""
        return [
            self.organisations,
            self.users,
            self.api_keys,
            self.invitations,
            self.requests,
            self.product_orders,
        ]

    @property
    def outboxes(self) -> list[OutboxSource]:
        """Whatever the relay publishes: the aggregates' outboxes and the quota ledger's."""
        return [*self.aggregates, self.ledger.event_outbox]

    async def create_indexes(self) -> None:
        """Every index the service relies on, declared here (created at start-up)."""
        await self.organisations.create_indexes([[("status", ASCENDING)]])
        await self.users.create_indexes([[("organisation_id", ASCENDING)]])
        await self.api_keys.create_indexes([[("user_id", ASCENDING)]])
        await self.invitations.create_indexes([[("organisation_id", ASCENDING)]])
        await self.requests.create_indexes(
            [[("organisation_id", ASCENDING), ("status", ASCENDING)], [("status", ASCENDING)]]
        )
        await self.product_orders.create_indexes([[("organisation_id", ASCENDING), ("user_id", ASCENDING)]])
        await self.ledger.create_indexes()

    def orders(
        self,
        settings: OrdersSettings,
        *,
        clock: Clock = utc_now,
        catalogue: Catalogue | None = None,
        supplier: Supplier | None = None,
    ) -> Orders:
        return Orders(
            settings=settings,
            organisations=self.organisations,
            users=self.users,
            api_keys=self.api_keys,
            invitations=self.invitations,
            requests=MongoRequests(self.requests),
            product_orders=self.product_orders,
            ledger=self.ledger,
            licences=MongoLicences(self.item_licences),
            daily_slots=MongoDailySlots(self.daily_slots),
            catalogue=catalogue or HttpCatalogue(settings.catalog_url),
            supplier=supplier,
            clock=clock,
        )


def mongo_orders(
    db: AsyncDatabase,
    settings: OrdersSettings,
    *,
    clock: Clock = utc_now,
    supplier: Supplier | None = None,
) -> Orders:
    """The unit of work on a database (the service's, or a test's driving use cases in-process)."""
    return MongoStores(db).orders(settings, clock=clock, supplier=supplier)
