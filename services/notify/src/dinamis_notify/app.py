"""The notify service: e-mail, signed webhooks, live event stream.

Wiring only: settings, dependencies, subscriptions, routers and the background
loops (webhook deliveries, operators' digests) go into the shared service
factory. Started by the `dinamis-notify` console script.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from fastapi import FastAPI

from dinamis_notify.adapters.mailer import Mailer
from dinamis_notify.adapters.store import Store
from dinamis_notify.adapters.webhook_http import WebhookClient
from dinamis_notify.entrypoints import http
from dinamis_notify.entrypoints.events import subscriptions
from dinamis_notify.service.digest import Digests
from dinamis_notify.service.live import Hub
from dinamis_notify.service.notifier import Notifier
from dinamis_notify.service.webhooks import Webhooks
from dinamis_notify.settings import NotifySettings
from dinamis_shared.auth import OrdersApiKeyResolver, authenticator_from_settings, install_authenticator
from dinamis_shared.health import Dependency
from dinamis_shared.service import Resources, ServiceDefinition, create_service_app, run

__all__ = ["NotifySettings", "create_app", "main"]

DEPENDENCIES = (
    Dependency.KAFKA,
    Dependency.MONGODB,
    Dependency.SMTP,
)


@dataclass
class Components:
    settings: NotifySettings
    store: Store
    hub: Hub
    webhooks: Webhooks
    digests: Digests
    notifier: Notifier


def components(resources: Resources) -> Components:
    """The service's objects, built once per app from its opened clients."""
    if "notify" not in resources.extra:
        settings: NotifySettings = resources.settings  # type: ignore[assignment]
        store = Store(resources.mongo[settings.mongo_database])  # type: ignore[index]
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        mailer = Mailer(
            settings.smtp_host, settings.smtp_port, settings.smtp_timeout_s, settings.smtp_username, password
        )
        hub = Hub(
            buffer=settings.sse_client_buffer,
            max_clients=settings.sse_max_clients,
            max_per_user=settings.sse_max_per_user,
            recent=deque(maxlen=settings.sse_recent_entries),
        )
        client = WebhookClient(
            allow_private=settings.allow_private_targets, timeout_s=settings.webhook_timeout_s
        )
        webhooks = Webhooks(store, client, settings)
        resources.extra["notify"] = Components(
            settings=settings,
            store=store,
            hub=hub,
            webhooks=webhooks,
            digests=Digests(store, mailer, settings),
            notifier=Notifier(store, mailer, hub, webhooks, settings),
        )
    return resources.extra["notify"]


async def start(app: FastAPI, resources: Resources) -> None:
    notify = components(resources)
    app.state.notify = notify
    settings = resources.settings
    install_authenticator(
        app, authenticator_from_settings(settings, OrdersApiKeyResolver(settings.orders_url))
    )
    await notify.store.ensure_indexes()
    notify.webhooks.start()
    notify.digests.start()


async def stop(app: FastAPI, resources: Resources) -> None:
    notify = components(resources)
    await notify.digests.stop()
    await notify.webhooks.stop()


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            settings=settings or NotifySettings(),
            dependencies=DEPENDENCIES,
            subscriptions=subscriptions,
            routers=[http.router],
            title="DINAMIS notify",
            on_startup=[start],
            on_shutdown=[stop],
        )
    )


def main() -> None:
    settings = NotifySettings()
    run(lambda: create_app(settings), settings)
