"""The reporting service: the event archive, the working group's indicators, their API,
exports and yearly note.

Wiring only (see `bootstrap`). The archive's consumer is its own (batches written to the
object store before their offsets are committed), not a shared-bus subscription: the
service subscribes to nothing through the shared factory. Started by the
`dinamis-reporting` console script."""

from __future__ import annotations

from fastapi import FastAPI

from dinamis_reporting import bootstrap
from dinamis_reporting.entrypoints import http, notes
from dinamis_reporting.settings import ReportingSettings
from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, create_service_app, run

__all__ = ["ReportingSettings", "create_app", "main"]

DEPENDENCIES = (Dependency.S3,)


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            settings=settings or ReportingSettings(),
            dependencies=DEPENDENCIES,
            bootstrap=bootstrap.bootstrap,
            routers=[http.router, notes.router],
            title="DINAMIS reporting",
            on_startup=[bootstrap.start],
            on_shutdown=[bootstrap.stop],
        )
    )


def main() -> None:
    settings = ReportingSettings()
    run(lambda: create_app(settings), settings)
