"""The delivery service: ready-to-use products, built fast, downloaded safely.

Wiring only: settings, dependencies, subscriptions and routers go into the shared
service factory. Started by the `dinamis-delivery` console script.
"""

from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from dinamis_delivery.entrypoints.events import SUBSCRIPTIONS
from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, create_service_app, run
from dinamis_shared.settings import ServiceSettings


class DeliverySettings(ServiceSettings):
    """Env prefix `DINAMIS_DELIVERY_`, falling back to the platform-wide `DINAMIS_`."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_DELIVERY_", extra="ignore")

    SERVICE: ClassVar[str] = "delivery"

    http_port: int = 8104


DEPENDENCIES = (
    Dependency.KAFKA,
    Dependency.S3,
    Dependency.MONGODB,
)


def create_app(settings: DeliverySettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            settings=settings or DeliverySettings(),
            dependencies=DEPENDENCIES,
            subscriptions=SUBSCRIPTIONS,
            title="DINAMIS delivery",
        )
    )


def main() -> None:
    settings = DeliverySettings()
    run(lambda: create_app(settings), settings)
