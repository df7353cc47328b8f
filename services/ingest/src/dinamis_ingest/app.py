"""The ingest service: supplier deliveries in, verified COG archive and STAC items out.

Wiring only: settings, dependencies, subscriptions and routers go into the shared
service factory. Started by the `dinamis-ingest` console script.
"""

from __future__ import annotations

from typing import ClassVar

from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, create_service_app, run
from dinamis_shared.settings import ServiceSettings
from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from dinamis_ingest.entrypoints.events import SUBSCRIPTIONS


class IngestSettings(ServiceSettings):
    """Env prefix `DINAMIS_INGEST_`, falling back to the platform-wide `DINAMIS_`."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_INGEST_", extra="ignore")

    SERVICE: ClassVar[str] = "ingest"

    http_port: int = 8101


DEPENDENCIES = (
    Dependency.KAFKA,
    Dependency.S3,
)


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            settings=settings or IngestSettings(),
            dependencies=DEPENDENCIES,
            subscriptions=SUBSCRIPTIONS,
            title="DINAMIS ingest",
        )
    )


def main() -> None:
    settings = IngestSettings()
    run(lambda: create_app(settings), settings)
