"""The notify service: e-mail, signed webhooks, live event stream.

Wiring only: settings, dependencies, subscriptions and routers go into the shared
service factory. Started by the `dinamis-notify` console script.
"""

from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from dinamis_notify.entrypoints.events import SUBSCRIPTIONS
from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, create_service_app, run
from dinamis_shared.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    """Env prefix `DINAMIS_NOTIFY_`, falling back to the platform-wide `DINAMIS_`."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_NOTIFY_", extra="ignore")

    SERVICE: ClassVar[str] = "notify"

    http_port: int = 8105


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
            subscriptions=SUBSCRIPTIONS,
            title="DINAMIS notify",
        )
    )


def main() -> None:
    settings = NotifySettings()
    run(lambda: create_app(settings), settings)
