"""The orders service's unit of work: the ports every use case reaches, and the clock.

Built on MongoDB by `adapters.mongo.MongoStores.orders` (the service, and integration
tests driving use cases in-process); on in-memory fakes by the unit tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from dinamis_orders.domain.organisations import Organisation, User
from dinamis_orders.service.ports import (
    Aggregates,
    Catalogue,
    Clock,
    DailySlots,
    Licences,
    Quotas,
    RequestStore,
    Supplier,
)
from dinamis_orders.settings import OrdersSettings
from dinamis_shared.auth import Principal


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Orders:
    settings: OrdersSettings
    organisations: Aggregates
    users: Aggregates
    api_keys: Aggregates
    invitations: Aggregates
    requests: RequestStore
    product_orders: Aggregates
    ledger: Quotas
    licences: Licences
    daily_slots: DailySlots
    catalogue: Catalogue
    supplier: Supplier | None = None  # unset: operators place supplier orders by hand
    clock: Clock = utc_now

    def now(self) -> datetime:
        """The time every use case goes by (tests move it instead of sleeping)."""
        return self.clock()

    async def organisation(self, organisation_id: str) -> Organisation | None:
        state = await self.organisations.get(organisation_id)
        return Organisation.model_validate(_strip(state)) if state else None

    async def user(self, user_id: str) -> User | None:
        state = await self.users.get(user_id)
        return User.model_validate(_strip(state)) if state else None

    async def commissioning_of(self, org: Organisation | None) -> Organisation | None:
        """The commissioning body of a contractor organisation (None for others)."""
        if org is None or org.delegation is None:
            return None
        return await self.organisation(org.delegation.commissioning_organisation_id)

    async def standing_of(self, principal: Principal) -> tuple[Organisation | None, User | None]:
        """The caller's organisation and user records (as they are now)."""
        if principal.organisation_id is None:
            return None, await self.user(principal.user_id)
        org = await self.organisation(principal.organisation_id)
        user = await self.user(principal.user_id)
        if user is not None and user.organisation_id != principal.organisation_id:
            user = None  # moved to another organisation since the principal was resolved
        return org, user


def _strip(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "rev"}
