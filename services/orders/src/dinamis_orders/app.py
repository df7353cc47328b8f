"""The orders service: memberships, quotas, the call for requests, product orders.

Wiring only: settings, dependencies, subscriptions and routers go into the shared
service factory. Started by the `dinamis-orders` console script.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import ClassVar

from fastapi import FastAPI
from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from dinamis_orders.adapters.aggregates import OutboxRelay
from dinamis_orders.adapters.supplier import HttpSupplier
from dinamis_orders.entrypoints import events, http_membership, http_requests
from dinamis_orders.service import membership
from dinamis_orders.service.context import Orders
from dinamis_shared.auth import Principal, authenticator_from_settings, install_authenticator
from dinamis_shared.errors import is_outage
from dinamis_shared.health import Dependency
from dinamis_shared.service import Resources, ServiceDefinition, create_service_app, run
from dinamis_shared.settings import ServiceSettings

log = logging.getLogger(__name__)
DEV_SUPPLIER_KEY = "dinamis-dev-supplier-key"


class OrdersSettings(ServiceSettings):
    """Env prefix `DINAMIS_ORDERS_`, falling back to the platform-wide `DINAMIS_`."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_ORDERS_", extra="ignore")

    SERVICE: ClassVar[str] = "orders"

    http_port: int = 8103
    # The catalogue searched for overlap warnings and product-order items.
    catalog_url: str = "http://127.0.0.1:8102"
    # Download links of product orders point at the delivery service.
    delivery_url: str = "http://127.0.0.1:8104"
    # Request limits (km²) and the share of an AOI that counts as fulfilled.
    max_request_km2: float = 20_000.0
    fulfilled_share: float = 0.95
    # Product orders per user per day.
    product_orders_per_day: int = 50
    # The supplier's ordering API (the simulator locally); unset: operators order by hand.
    supplier_url: str | None = "http://127.0.0.1:8109"
    supplier_api_key: SecretStr = SecretStr(DEV_SUPPLIER_KEY)
    # The platform's own organisation: its users are DINAMIS staff (operators, admins).
    staff_organisation_id: str = "dinamis"
    # Publish the outbox from this replica (off: another replica relays; tests of crashes).
    outbox_relay: bool = True

    @model_validator(mode="after")
    def _refuse_dev_supplier_key(self) -> OrdersSettings:
        if self.environment == "production" and self.supplier_api_key.get_secret_value() == DEV_SUPPLIER_KEY:
            raise ValueError("unsafe settings in production: supplier_api_key is the development key")
        return self

    # Days after the acquisition window's end before an unfinished request expires.
    expiry_grace_days: int = 15


DEPENDENCIES = (
    Dependency.KAFKA,
    Dependency.MONGODB,
)


def _orders(resources: Resources) -> Orders:
    if "orders" not in resources.extra:
        db = resources.mongo[resources.settings.mongo_database]  # type: ignore[index]
        resources.extra["orders"] = Orders(db, resources.settings)
        if resources.settings.supplier_url:
            resources.extra["orders"].supplier = HttpSupplier(
                resources.settings.supplier_url, resources.settings.supplier_api_key.get_secret_value()
            )
    return resources.extra["orders"]


async def _keep_trying(what: str, fn) -> None:
    delay = 0.5
    while True:
        try:
            await fn()
            return
        except Exception as exc:
            (log.warning if is_outage(exc) else log.exception)("%s failed, retrying: %s", what, exc)
            await asyncio.sleep(delay)
            delay = min(2 * delay, 10.0)


async def start(app: FastAPI, resources: Resources) -> None:
    orders = _orders(resources)
    app.state.orders = orders

    async def local_api_keys(access_key: str, secret_key: str) -> Principal:
        return await membership.verify_api_key(orders, access_key, secret_key)

    install_authenticator(app, authenticator_from_settings(resources.settings, local_api_keys))
    tasks = [
        asyncio.create_task(_keep_trying("creating indexes", orders.create_indexes)),
        asyncio.create_task(http_requests.expiry_loop(orders)),
    ]
    if resources.settings.outbox_relay:
        tasks.append(asyncio.create_task(OutboxRelay(orders.stores, resources.publisher).run()))
    resources.extra["tasks"] = tasks


async def stop(app: FastAPI, resources: Resources) -> None:
    for task in resources.extra.get("tasks", []):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            settings=settings or OrdersSettings(),
            dependencies=DEPENDENCIES,
            subscriptions=lambda resources: events.subscriptions(_orders(resources)),
            routers=[http_membership.router, http_requests.router],
            on_startup=[start],
            on_shutdown=[stop],
            title="DINAMIS orders",
        )
    )


def main() -> None:
    settings = OrdersSettings()
    run(lambda: create_app(settings), settings)
