"""The ingest service's container: the pipeline and the publisher its Kafka handler and
push route share, built once from the shared `Resources` (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from dinamis_ingest.adapters.objectstore import ObjectStore
from dinamis_ingest.service.pipeline import IngestPipeline, PipelineConfig
from dinamis_ingest.settings import IngestSettings
from dinamis_shared import clients
from dinamis_shared.bus import EventPublisher
from dinamis_shared.service import Resources


@dataclass
class Ingest:
    settings: IngestSettings
    publisher: EventPublisher
    pipeline: IngestPipeline


def bootstrap(settings: IngestSettings, resources: Resources) -> Ingest:
    pipeline = IngestPipeline(
        ObjectStore(clients.s3_client(settings, timeout_s=120, retries=3)),
        PipelineConfig(
            public_s3_url=settings.s3_public_url,
            catalog_url=settings.catalog_url,
            max_package_bytes=settings.max_package_bytes,
            oversize_tolerance=settings.oversize_tolerance,
            work_dir=settings.work_dir,
            convert_ahead=settings.convert_ahead,
        ),
    )
    return Ingest(settings=settings, publisher=resources.publisher, pipeline=pipeline)


def container(request: Request) -> Ingest:
    """The routes' access to the container (`app.state.container`)."""
    ingest: Ingest = request.app.state.container
    return ingest
