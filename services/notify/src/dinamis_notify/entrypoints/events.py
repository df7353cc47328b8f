"""Kafka handlers of the notify service (consumer group `notify`).

Thin: the bus has decoded and validated the event; `Notifier.handle` decides who
is told what and tells them. Nothing is published on Kafka.
"""

from __future__ import annotations

from dinamis_shared.cloudevents import Envelope
from dinamis_shared.events import (
    Event,
    OrganisationChangedV1,
    ProductFailedV1,
    ProductReadyV1,
    RequestApprovedV1,
    RequestRejectedV1,
    RequestSubmittedV1,
    RequestUpdatedV1,
    SceneIngestedV1,
    SceneRejectedV1,
    UserChangedV1,
)
from dinamis_shared.service import Resources

CONSUMED: tuple[type[Event], ...] = (
    SceneIngestedV1,
    SceneRejectedV1,
    RequestSubmittedV1,
    RequestApprovedV1,
    RequestRejectedV1,
    RequestUpdatedV1,
    ProductReadyV1,
    ProductFailedV1,
    OrganisationChangedV1,
    UserChangedV1,
)


def subscriptions(resources: Resources) -> list:
    from dinamis_notify.app import components  # the service objects, built once per app

    notifier = components(resources).notifier

    async def notify(envelope: Envelope) -> None:
        """Consumes every event of CONSUMED; tells people (e-mail, stream, webhooks)."""
        await notifier.handle(envelope)

    return [(model, notify) for model in CONSUMED]
