"""The notify service's composition root: its objects, built once per app from the
clients the shared service factory opened (`ServiceDefinition.bootstrap`), and the
hooks that start and stop its background work (webhook deliveries, digests).

Routes get the container through the `Notify` dependency; the Kafka subscriptions
factory (`entrypoints.events.subscriptions`) receives it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from dinamis_notify.adapters.mailer import Mailer
from dinamis_notify.adapters.store import Store
from dinamis_notify.adapters.webhook_http import WebhookClient
from dinamis_notify.service.digest import Digests
from dinamis_notify.service.live import Hub
from dinamis_notify.service.notifier import Notifier
from dinamis_notify.service.webhooks import Webhooks
from dinamis_notify.settings import NotifySettings
from dinamis_shared.auth import (
    Authenticator,
    OrdersApiKeyResolver,
    authenticator_from_settings,
    install_authenticator,
)
from dinamis_shared.periodic import BackgroundTasks, every
from dinamis_shared.service import Resources


@dataclass
class NotifyContainer:
    settings: NotifySettings
    store: Store
    mailer: Mailer
    hub: Hub
    webhook_client: WebhookClient
    webhooks: Webhooks
    digests: Digests
    notifier: Notifier
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    # Set at start: `user-changed` / `organisation-changed` drop its cached entitlements.
    authenticator: Authenticator | None = None


def bootstrap(resources: Resources) -> NotifyContainer:
    """Build the service's objects (no I/O)."""
    settings = resources.settings
    if not isinstance(settings, NotifySettings):
        raise TypeError(f"notify needs NotifySettings, got {type(settings).__name__}")
    if resources.mongo is None:
        raise RuntimeError("notify depends on MongoDB: the service factory opened no client")
    store = Store(resources.mongo[settings.mongo_database])
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
    client = WebhookClient(allow_private=settings.allow_private_targets, timeout_s=settings.webhook_timeout_s)
    webhooks = Webhooks(store, client, settings)
    return NotifyContainer(
        settings=settings,
        store=store,
        mailer=mailer,
        hub=hub,
        webhook_client=client,
        webhooks=webhooks,
        digests=Digests(store, mailer, settings),
        notifier=Notifier(store, mailer, hub, webhooks, settings),
    )


async def start(app: FastAPI, notify: NotifyContainer) -> None:
    """Authentication, indexes, then the background work: webhook delivery passes back
    to back (each idles until woken when nothing is due) and a digest round every
    `digest_interval_s` (the first one after an interval)."""
    settings = notify.settings
    notify.authenticator = authenticator_from_settings(settings, OrdersApiKeyResolver(settings.orders_url))
    install_authenticator(app, notify.authenticator)
    await notify.store.ensure_indexes()
    notify.tasks.start(every(0, {"webhook deliveries": notify.webhooks.delivery_pass}), "webhooks")
    notify.tasks.start(
        every(
            settings.digest_interval_s,
            {"digest": notify.digests.send_due},
            first_delay_s=settings.digest_interval_s,
        ),
        "digests",
    )


async def stop(app: FastAPI, notify: NotifyContainer) -> None:
    await notify.tasks.stop()
    await notify.webhook_client.aclose()


def container(request: Request) -> NotifyContainer:
    """The app's container (`app.state.container`), as a FastAPI dependency."""
    built = request.app.state.container
    if not isinstance(built, NotifyContainer):
        raise TypeError("the app was not bootstrapped by dinamis_notify.bootstrap")
    return built


Notify = Annotated[NotifyContainer, Depends(container)]
