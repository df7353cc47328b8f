"""The delivery service: ready-to-use products, built fast, downloaded safely.

Wiring only: settings, the container (`bootstrap.py`: records, deliverer, request
consumer), the background tasks (the request consumer, the expiry sweep) and the
download routes go into the shared service factory. Started by the `dinamis-delivery`
console script.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from fastapi import FastAPI

from dinamis_delivery.bootstrap import Delivery, bootstrap
from dinamis_delivery.entrypoints.http import router
from dinamis_delivery.service.builder import sweep_work_dir
from dinamis_delivery.settings import DeliverySettings
from dinamis_shared.auth import OrdersApiKeyResolver, authenticator_from_settings, install_authenticator
from dinamis_shared.health import Dependency
from dinamis_shared.periodic import every
from dinamis_shared.service import ServiceDefinition, create_service_app, run

__all__ = ["DEPENDENCIES", "DeliverySettings", "create_app", "main"]

log = logging.getLogger(__name__)

DEPENDENCIES = (
    Dependency.KAFKA,
    Dependency.S3,
    Dependency.MONGODB,
    Dependency.POSTGRES,
)


async def _start(app: FastAPI, delivery: Delivery) -> None:
    settings = delivery.settings
    install_authenticator(
        app, authenticator_from_settings(settings, OrdersApiKeyResolver(settings.orders_url))
    )
    sweep_work_dir(settings.work_dir)
    with contextlib.suppress(Exception):  # not ready yet: the consumer retries its writes
        await delivery.records.ensure_indexes()
        await delivery.downloads.ensure_indexes()
    delivery.deliverer.pool.warm_up()
    delivery.tasks.start(delivery.consumer.run(), name="request consumer")
    delivery.tasks.start(
        every(settings.expiry_sweep_s, delivery.deliverer.expire, name="expiry sweep", logger=log),
        name="expiry sweep",
    )
    delivery.tasks.start(
        delivery.download_relay.run(delivery.resources.broker_started), name="download events relay"
    )
    log.info("delivery started", extra={"workers": settings.worker_count, "replica": settings.replica})


async def _stop(app: FastAPI, delivery: Delivery) -> None:
    delivery.consumer.stop()
    consumer_task, *others = delivery.tasks.tasks  # then the expiry sweep and the download events relay
    for task in others:
        task.cancel()
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(consumer_task, delivery.settings.shutdown_wait_s + 10)
    with contextlib.suppress(Exception):  # the last downloads' events now (else at the next start)
        await asyncio.wait_for(delivery.download_relay.relay_once(), 5)
    await delivery.tasks.stop()
    delivery.deliverer.pool.shutdown()


def create_app(settings: DeliverySettings | None = None) -> FastAPI:
    settings = settings or DeliverySettings()
    return create_service_app(
        ServiceDefinition(
            settings=settings,
            dependencies=DEPENDENCIES,
            bootstrap=partial(bootstrap, settings),
            routers=[router],
            title="DINAMIS delivery",
            on_startup=[_start],
            on_shutdown=[_stop],
        )
    )


def main() -> None:
    settings = DeliverySettings()
    run(lambda: create_app(settings), settings)
