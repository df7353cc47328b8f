"""The notify service: e-mail, signed webhooks, live event stream.

Wiring only: settings, dependencies, the composition root (`bootstrap`), the
subscriptions, routers and the hooks that run the background work go into the shared
service factory. Started by the `dinamis-notify` console script.
"""

from __future__ import annotations

from fastapi import FastAPI

from dinamis_notify import bootstrap
from dinamis_notify.entrypoints import http
from dinamis_notify.entrypoints.events import subscriptions
from dinamis_notify.settings import NotifySettings
from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, create_service_app, run

__all__ = ["NotifySettings", "create_app", "main"]

DEPENDENCIES = (
    Dependency.KAFKA,
    Dependency.MONGODB,
    Dependency.SMTP,
)


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            settings=settings or NotifySettings(),
            dependencies=DEPENDENCIES,
            bootstrap=bootstrap.bootstrap,
            subscriptions=subscriptions,
            routers=[http.router],
            title="DINAMIS notify",
            on_startup=[bootstrap.start],
            on_shutdown=[bootstrap.stop],
        )
    )


def main() -> None:
    settings = NotifySettings()
    run(lambda: create_app(settings), settings)
