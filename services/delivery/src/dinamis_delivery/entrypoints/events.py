"""Kafka handlers of the delivery service.

A handler is thin: the bus has already decoded and validated the event; the
handler calls a use case and returns what to publish. Until issue #6 builds
the delivery use cases, every subscription only logs what it receives.
"""

from __future__ import annotations

from dinamis_shared.bus import log_received
from dinamis_shared.events import DeliveryRequestedV1

SUBSCRIPTIONS = [
    (DeliveryRequestedV1, log_received),
]
