"""The orders service: memberships, quotas, the call for requests, product orders.

Wiring only: settings, dependencies, subscriptions and routers go into the shared
service factory. Started by the `dinamis-orders` console script.
"""

from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from dinamis_orders.entrypoints.events import SUBSCRIPTIONS
from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, create_service_app, run
from dinamis_shared.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    """Env prefix `DINAMIS_ORDERS_`, falling back to the platform-wide `DINAMIS_`."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_ORDERS_", extra="ignore")

    SERVICE: ClassVar[str] = "orders"

    http_port: int = 8103


DEPENDENCIES = (
    Dependency.KAFKA,
    Dependency.MONGODB,
)


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            settings=settings or OrdersSettings(),
            dependencies=DEPENDENCIES,
            subscriptions=SUBSCRIPTIONS,
            title="DINAMIS orders",
        )
    )


def main() -> None:
    settings = OrdersSettings()
    run(lambda: create_app(settings), settings)
