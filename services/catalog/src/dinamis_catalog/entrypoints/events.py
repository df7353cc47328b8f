"""Kafka handlers of the catalog service.

A handler is thin: the bus has already decoded and validated the event; the
handler calls a use case and returns what to publish. Until issue #4 builds
the catalog use cases, every subscription only logs what it receives.
"""

from __future__ import annotations

from dinamis_shared.bus import log_received
from dinamis_shared.events import SceneIngestedV1

SUBSCRIPTIONS = [
    (SceneIngestedV1, log_received),
]
