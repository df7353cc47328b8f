"""The delivery service: ready-to-use products, built fast, downloaded safely.

Wiring only: settings, the process pool, the request consumer, the expiry sweep and
the download routes go into the shared service factory. Started by the
`dinamis-delivery` console script.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dinamis_delivery.adapters.catalog import CatalogItems
from dinamis_delivery.adapters.records import ProductRecords
from dinamis_delivery.entrypoints.events import RequestConsumer
from dinamis_delivery.entrypoints.http import router
from dinamis_delivery.service.builder import BuildSettings, sweep_work_dir
from dinamis_delivery.service.delivering import BuildPool, Deliverer
from dinamis_shared import clients
from dinamis_shared.auth import OrdersApiKeyResolver, authenticator_from_settings, install_authenticator
from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, create_service_app, run
from dinamis_shared.settings import ServiceSettings

log = logging.getLogger(__name__)


class DeliverySettings(ServiceSettings):
    """Env prefix `DINAMIS_DELIVERY_`, falling back to the platform-wide `DINAMIS_`."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_DELIVERY_", extra="ignore")

    SERVICE: ClassVar[str] = "delivery"

    http_port: int = 8104
    # Worker processes for raster work; 0 = one per core.
    workers: int = Field(default=0, ge=0, le=256)
    # Products handed to the pool at once (running + queued); 0 = 2 x workers. The
    # consumer pauses while it is reached.
    max_in_flight: int = Field(default=0, ge=0, le=10_000)
    delivery_bucket: str = "delivery"
    # How long a product stays downloadable, then is deleted (its record stays: 410).
    retention_s: int = Field(default=14 * 24 * 3600, ge=1)
    expiry_sweep_s: float = Field(default=300.0, gt=0)
    # Life of a presigned download URL.
    download_url_ttl_s: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    # The S3 endpoint users download from (presigned URLs are signed for this host).
    download_endpoint: str | None = None
    work_dir: str = Field(default_factory=lambda: os.path.join(tempfile.gettempdir(), "dinamis-delivery"))
    max_output_pixels: int = Field(default=2_000_000_000, ge=1)
    # Identifies this replica in records and logs; defaults to host-pid.
    replica_id: str | None = None
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    # On a rebalance, how long to wait for requests of revoked partitions to finish.
    revoke_wait_s: float = Field(default=60.0, ge=0)
    shutdown_wait_s: float = Field(default=20.0, ge=0)

    @property
    def replica(self) -> str:
        return self.replica_id or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    def build_settings(self) -> BuildSettings:
        return BuildSettings(
            s3_endpoint=self.s3_endpoint,
            s3_secure=self.s3_secure,
            s3_region=self.s3_region,
            s3_access_key=self.s3_access_key,
            s3_secret_key=self.s3_secret_key.get_secret_value(),
            delivery_bucket=self.delivery_bucket,
            work_dir=self.work_dir,
            max_output_pixels=self.max_output_pixels,
            replica_id=self.replica,
        )


DEPENDENCIES = (
    Dependency.KAFKA,
    Dependency.S3,
    Dependency.MONGODB,
    Dependency.POSTGRES,
)


@dataclass
class Delivery:
    """What the routes and background tasks share (`app.state.delivery`)."""

    settings: DeliverySettings
    records: ProductRecords
    deliverer: Deliverer
    presigner: Any
    tasks: list[asyncio.Task]
    consumer: RequestConsumer


async def _sweep(delivery: Delivery) -> None:
    while True:
        try:
            await delivery.deliverer.expire()
        except Exception as exc:
            log.warning("expiry sweep failed", extra={"error": str(exc)})
        await asyncio.sleep(delivery.settings.expiry_sweep_s)


def _startup(settings: DeliverySettings):
    async def start(app: FastAPI, resources: Any) -> None:
        install_authenticator(
            app, authenticator_from_settings(settings, OrdersApiKeyResolver(settings.orders_url))
        )
        sweep_work_dir(settings.work_dir)
        records = ProductRecords(resources.mongo, settings.mongo_database)
        with contextlib.suppress(Exception):  # not ready yet: the consumer retries its writes
            await records.ensure_indexes()
        workers = settings.worker_count
        pool = BuildPool(workers, settings.max_in_flight or 2 * workers)
        pool.warm_up()
        deliverer = Deliverer(
            records=records,
            catalog=CatalogItems(settings),
            s3=clients.s3_client(settings, timeout_s=30),
            publisher=resources.publisher,
            pool=pool,
            build_settings=settings.build_settings(),
            retention=timedelta(seconds=settings.retention_s),
        )
        public = settings.model_copy(
            update={"s3_endpoint": settings.download_endpoint or settings.s3_endpoint}
        )
        consumer = RequestConsumer(settings, resources, deliverer)
        delivery = Delivery(
            settings=settings,
            records=records,
            deliverer=deliverer,
            presigner=clients.s3_client(public),
            tasks=[],
            consumer=consumer,
        )
        delivery.tasks = [asyncio.create_task(consumer.run()), asyncio.create_task(_sweep(delivery))]
        app.state.delivery = delivery
        log.info("delivery started", extra={"workers": workers, "replica": settings.replica})

    return start


async def _shutdown(app: FastAPI, resources: Any) -> None:
    delivery: Delivery | None = getattr(app.state, "delivery", None)
    if delivery is None:
        return
    delivery.consumer.stop()
    consumer_task, sweep = delivery.tasks
    sweep.cancel()
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(consumer_task, delivery.settings.shutdown_wait_s + 10)
    delivery.deliverer.pool.shutdown()


def create_app(settings: DeliverySettings | None = None) -> FastAPI:
    settings = settings or DeliverySettings()
    return create_service_app(
        ServiceDefinition(
            settings=settings,
            dependencies=DEPENDENCIES,
            routers=[router],
            title="DINAMIS delivery",
            on_startup=[_startup(settings)],
            on_shutdown=[_shutdown],
        )
    )


def main() -> None:
    settings = DeliverySettings()
    run(lambda: create_app(settings), settings)
