"""The catalog service: STAC API on pgSTAC, live indexing, access by signed URLs.

Wiring only: settings, dependencies, subscriptions and routers go into the shared
service factory. Started by the `dinamis-catalog` console script.
"""

from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from dinamis_catalog.entrypoints.events import SUBSCRIPTIONS
from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, create_service_app, run
from dinamis_shared.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    """Env prefix `DINAMIS_CATALOG_`, falling back to the platform-wide `DINAMIS_`."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_CATALOG_", extra="ignore")

    SERVICE: ClassVar[str] = "catalog"

    http_port: int = 8102


DEPENDENCIES = (
    Dependency.KAFKA,
    Dependency.POSTGRES,
    Dependency.S3,
)


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            settings=settings or CatalogSettings(),
            dependencies=DEPENDENCIES,
            subscriptions=SUBSCRIPTIONS,
            title="DINAMIS catalog",
        )
    )


def main() -> None:
    settings = CatalogSettings()
    run(lambda: create_app(settings), settings)
