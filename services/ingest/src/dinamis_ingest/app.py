"""The ingest service: supplier deliveries in, verified COG archive and STAC items out.

Wiring only: settings, dependencies, the container (`bootstrap.py`), subscriptions and
routers go into the shared service factory. Started by the `dinamis-ingest` console
script.
"""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from dinamis_ingest.bootstrap import bootstrap
from dinamis_ingest.entrypoints import http
from dinamis_ingest.entrypoints.events import subscriptions
from dinamis_ingest.settings import DEV_SUPPLIER_SECRET, IngestSettings
from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, create_service_app, run

__all__ = ["DEPENDENCIES", "DEV_SUPPLIER_SECRET", "IngestSettings", "create_app", "main"]

DEPENDENCIES = (Dependency.KAFKA, Dependency.S3)


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    return create_service_app(
        ServiceDefinition(
            settings=settings,
            dependencies=DEPENDENCIES,
            bootstrap=partial(bootstrap, settings),
            subscriptions=subscriptions,
            routers=[http.router],
            title="DINAMIS ingest",
            consumer_options={"max_poll_interval_ms": settings.max_poll_interval_ms},
        )
    )


def main() -> None:
    settings = IngestSettings()
    run(lambda: create_app(settings), settings)
