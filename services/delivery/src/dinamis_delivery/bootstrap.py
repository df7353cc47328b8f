"""The delivery service's container: what its routes, consumer and background tasks
share, built once from the shared `Resources` (no I/O here: the worker processes, the
indexes and the tasks start in `app.start`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import Request
from minio import Minio

from dinamis_delivery.adapters.catalog import CatalogItems
from dinamis_delivery.adapters.downloads import MongoDownloadOutbox
from dinamis_delivery.adapters.records import ProductRecords
from dinamis_delivery.entrypoints.events import RequestConsumer
from dinamis_delivery.service.delivering import BuildPool, Deliverer
from dinamis_delivery.service.downloads import DownloadRelay
from dinamis_delivery.settings import DeliverySettings
from dinamis_shared import clients
from dinamis_shared.periodic import BackgroundTasks
from dinamis_shared.service import Resources


@dataclass
class Delivery:
    settings: DeliverySettings
    resources: Resources
    records: ProductRecords
    deliverer: Deliverer
    presigner: Minio  # signs download URLs for the public S3 endpoint
    consumer: RequestConsumer
    downloads: MongoDownloadOutbox  # the download events awaiting the relay
    download_relay: DownloadRelay
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)


def bootstrap(settings: DeliverySettings, resources: Resources) -> Delivery:
    records = ProductRecords(resources.mongo, settings.mongo_database)
    workers = settings.worker_count
    deliverer = Deliverer(
        records=records,
        catalog=CatalogItems(settings),
        s3=clients.s3_client(settings, timeout_s=30),
        publisher=resources.publisher,
        pool=BuildPool(workers, settings.max_in_flight or 2 * workers),
        build_settings=settings.build_settings(),
        retention=timedelta(seconds=settings.retention_s),
    )
    downloads = MongoDownloadOutbox(resources.mongo, settings.mongo_database)
    public = settings.model_copy(update={"s3_endpoint": settings.download_endpoint or settings.s3_endpoint})
    return Delivery(
        settings=settings,
        resources=resources,
        records=records,
        deliverer=deliverer,
        presigner=clients.s3_client(public),
        consumer=RequestConsumer(settings, resources, deliverer),
        downloads=downloads,
        download_relay=DownloadRelay(downloads, resources.publisher),
    )


def container(request: Request) -> Delivery:
    """The routes' access to the container (`app.state.container`)."""
    delivery: Delivery = request.app.state.container
    return delivery
