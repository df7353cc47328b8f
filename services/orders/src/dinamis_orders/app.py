"""The orders service: memberships, quotas, the call for requests, product orders.

Wiring only: settings, dependencies, the container (`bootstrap.py`), subscriptions and
routers go into the shared service factory. Started by the `dinamis-orders` console script.
"""

from __future__ import annotations

from fastapi import FastAPI

from dinamis_orders import bootstrap
from dinamis_orders.entrypoints import events, http_internal, http_membership, http_requests, http_staff
from dinamis_orders.settings import DEV_SUPPLIER_KEY, OrdersSettings
from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, create_service_app, run

__all__ = ["DEV_SUPPLIER_KEY", "OrdersSettings", "create_app", "main"]

DEPENDENCIES = (
    Dependency.KAFKA,
    Dependency.MONGODB,
)


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            settings=settings or OrdersSettings(),
            dependencies=DEPENDENCIES,
            bootstrap=bootstrap.bootstrap,
            subscriptions=lambda container: events.subscriptions(container.orders),
            routers=[http_membership.router, http_requests.router, http_staff.router, http_internal.router],
            on_startup=[bootstrap.start],
            on_shutdown=[bootstrap.stop],
            title="DINAMIS orders",
        )
    )


def main() -> None:
    settings = OrdersSettings()
    run(lambda: create_app(settings), settings)
