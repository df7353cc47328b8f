"""The orders service's stores, opened once per process (`Orders.open`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from dinamis_orders.adapters.aggregates import AggregateStore
from dinamis_orders.adapters.quota_store import QuotaLedger
from dinamis_orders.domain.organisations import Organisation, User
from dinamis_shared.auth import Principal


@dataclass
class Orders:
    db: AsyncDatabase
    settings: object
    organisations: AggregateStore = field(init=False)
    users: AggregateStore = field(init=False)
    api_keys: AggregateStore = field(init=False)
    requests: AggregateStore = field(init=False)
    product_orders: AggregateStore = field(init=False)
    ledger: QuotaLedger = field(init=False)

    def __post_init__(self) -> None:
        self.organisations = AggregateStore(self.db, "organisations")
        self.users = AggregateStore(self.db, "users")
        self.api_keys = AggregateStore(self.db, "api_keys")
        self.requests = AggregateStore(self.db, "requests", json_fields=("aoi", "scene_footprints"))
        self.product_orders = AggregateStore(self.db, "product_orders", json_fields=("options",))
        self.ledger = QuotaLedger(self.db["quota_ledger"])
        self.item_licences = self.db["item_licences"]
        self.daily_slots = self.db["product_order_slots"]
        self.supplier = None  # a SupplierAdapter when configured

    @property
    def stores(self) -> list[AggregateStore]:
        return [self.organisations, self.users, self.api_keys, self.requests, self.product_orders]

    async def create_indexes(self) -> None:
        """Every index the service relies on, declared here (created at start-up)."""
        await self.organisations.create_indexes([[("status", ASCENDING)]])
        await self.users.create_indexes([[("organisation_id", ASCENDING)]])
        await self.api_keys.create_indexes([[("user_id", ASCENDING)]])
        await self.requests.create_indexes(
            [[("organisation_id", ASCENDING), ("status", ASCENDING)], [("status", ASCENDING)]]
        )
        await self.product_orders.create_indexes([[("organisation_id", ASCENDING), ("user_id", ASCENDING)]])
        await self.ledger.create_indexes()

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    async def organisation(self, organisation_id: str) -> Organisation | None:
        state = await self.organisations.get(organisation_id)
        return Organisation.model_validate(_strip(state)) if state else None

    async def user(self, user_id: str) -> User | None:
        state = await self.users.get(user_id)
        return User.model_validate(_strip(state)) if state else None

    async def standing_of(self, principal: Principal) -> tuple[Organisation | None, User | None]:
        org = await self.organisation(principal.organisation_id)
        user = await self.user(principal.user_id)
        if user is not None and user.organisation_id != principal.organisation_id:
            user = None  # a token for another organisation than the one the user belongs to
        return org, user


def _strip(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "rev"}
