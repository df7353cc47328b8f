"""Kafka handlers of the notify service.

A handler is thin: the bus has already decoded and validated the event; the
handler calls a use case and returns what to publish. Until issue #7 builds
the notify use cases, every subscription only logs what it receives.
"""

from __future__ import annotations

from dinamis_shared.bus import log_received
from dinamis_shared.events import (
    ProductFailedV1,
    ProductReadyV1,
    RequestApprovedV1,
    RequestRejectedV1,
    RequestSubmittedV1,
    SceneIngestedV1,
    SceneRejectedV1,
)

SUBSCRIPTIONS = [
    (SceneIngestedV1, log_received),
    (SceneRejectedV1, log_received),
    (RequestSubmittedV1, log_received),
    (RequestApprovedV1, log_received),
    (RequestRejectedV1, log_received),
    (ProductReadyV1, log_received),
    (ProductFailedV1, log_received),
]
