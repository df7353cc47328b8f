"""Kafka handlers of the notify service (consumer group `notify`).

Thin: the bus has decoded and validated the event; `Notifier.handle` decides who
is told what and tells them. Nothing is published on Kafka.
"""

from __future__ import annotations

from dinamis_notify.bootstrap import NotifyContainer
from dinamis_shared.bus import EventHandler
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.events import Event, OrganisationChangedV1, UserChangedV1
from dinamis_shared.topics import CONSUMES

# What notify consumes is declared once, in the registry the Kafka ACLs are built from.
CONSUMED: tuple[type[Event], ...] = CONSUMES["notify"]


def subscriptions(notify: NotifyContainer) -> list[tuple[type[Event], EventHandler]]:
    notifier = notify.notifier

    async def handle(envelope: Envelope) -> None:
        """Consumes every event of CONSUMED; tells people (e-mail, stream, webhooks).
        A user or organisation change also drops the cached entitlements it concerns."""
        event = envelope.event
        if notify.authenticator is not None:
            if isinstance(event, UserChangedV1):
                notify.authenticator.invalidate(user_id=event.user_id)
            elif isinstance(event, OrganisationChangedV1):
                notify.authenticator.invalidate(organisation_id=event.organisation_id)
        await notifier.handle(envelope)

    return [(model, handle) for model in CONSUMED]
