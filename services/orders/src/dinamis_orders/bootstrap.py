"""The orders service's composition root: one typed container, built once per process
from the shared `Resources` (`ServiceDefinition.bootstrap`), and the hooks that start
and stop its background work. Routes reach it through `entrypoints.deps`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from fastapi import FastAPI

from dinamis_orders.adapters.aggregates import OutboxRelay
from dinamis_orders.adapters.catalogue import HttpCatalogue
from dinamis_orders.adapters.mongo import MongoStores
from dinamis_orders.adapters.supplier import HttpSupplier
from dinamis_orders.service import entitlements, membership, periodic
from dinamis_orders.service.context import Orders, utc_now
from dinamis_orders.service.ports import Catalogue, Clock, Supplier
from dinamis_orders.settings import OrdersSettings
from dinamis_shared.auth import Principal, authenticator_from_settings, install_authenticator
from dinamis_shared.bus import EventPublisher
from dinamis_shared.periodic import BackgroundTasks, every
from dinamis_shared.retry import Backoff, retry
from dinamis_shared.service import Resources

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: OrdersSettings
    stores: MongoStores
    orders: Orders
    publisher: EventPublisher
    catalogue: Catalogue
    supplier: Supplier | None
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)


def bootstrap(resources: Resources, clock: Clock = utc_now) -> Container:
    settings = resources.settings
    if not isinstance(settings, OrdersSettings):
        raise TypeError(f"the orders service needs OrdersSettings, not {type(settings).__name__}")
    if resources.mongo is None:
        raise RuntimeError("the orders service depends on MongoDB: no client was opened")
    stores = MongoStores(resources.mongo[settings.mongo_database])
    catalogue = HttpCatalogue(settings.catalog_url)
    supplier = (
        HttpSupplier(settings.supplier_url, settings.supplier_api_key.get_secret_value())
        if settings.supplier_url
        else None
    )
    orders = stores.orders(settings, clock=clock, catalogue=catalogue, supplier=supplier)
    return Container(settings, stores, orders, resources.publisher, catalogue, supplier)


async def start(app: FastAPI, container: Container) -> None:
    """Authentication (local API keys), indexes, the periodic passes, the outbox relay."""
    orders, settings = container.orders, container.settings

    async def local_api_keys(access_key: str, secret_key: str) -> Principal:
        return await membership.verify_api_key(orders, access_key, secret_key)

    install_authenticator(
        app, authenticator_from_settings(settings, local_api_keys, entitlements.local_entitlements(orders))
    )
    tasks = container.tasks
    tasks.start(
        retry(container.stores.create_indexes, backoff=Backoff(base=0.25), what="creating indexes"),
        name="orders indexes",
    )
    # Ledger entries older than their events get them (once; a no-op afterwards).
    tasks.start(
        retry(
            container.stores.ledger.backfill_events, backoff=Backoff(base=1.0), what="ledger events backfill"
        ),
        name="ledger events backfill",
    )
    tasks.start(
        every(settings.periodic_interval_s, periodic.passes(orders), logger=log), name="orders periodic"
    )
    if settings.outbox_relay:
        tasks.start(OutboxRelay(container.stores.outboxes, container.publisher).run(), name="outbox relay")


async def stop(app: FastAPI, container: Container) -> None:
    await container.tasks.stop()
