"""Kafka handler of the ingest service."""

from __future__ import annotations

import logging
import uuid

from dinamis_ingest.bootstrap import Ingest
from dinamis_ingest.domain.rejections import DeliveryRejected
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.events import SceneAcquiredV1, SceneRejectedV1
from dinamis_shared.service import Subscriptions

log = logging.getLogger(__name__)


def _event_id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "dinamis:ingest:" + ":".join(parts)))


def subscriptions(ingest: Ingest) -> Subscriptions:
    pipeline, publisher = ingest.pipeline, ingest.publisher

    async def on_scene_acquired(envelope: Envelope) -> None:
        """Consumes `scene-acquired`; emits `scene-ingested`, or `scene-rejected` (and the
        message is dead-lettered with the same reason). Outages propagate: retried."""
        event = envelope.event
        assert isinstance(event, SceneAcquiredV1)  # the consume policy decodes the topic's type
        # Event ids derive from what they announce, so a retried or replayed delivery
        # re-announces with the same id and consumers can deduplicate.
        try:
            ingested = await pipeline.ingest(event)
        except DeliveryRejected as exc:
            log.warning("delivery rejected", extra={"scene_id": event.scene_id, "reason": exc.message})
            await publisher.publish(
                SceneRejectedV1(
                    scene_id=event.scene_id,
                    supplier=event.supplier,
                    supplier_product_id=event.supplier_product_id,
                    staging=event.staging,
                    reason_code=exc.reason,
                    reason=exc.message[:4000],
                    acquisition_request_id=event.acquisition_request_id,
                ),
                event_id=_event_id("rejected", event.scene_id, envelope.id, exc.code),
            )
            raise
        await publisher.publish(
            ingested, event_id=_event_id("ingested", event.scene_id, ingested.manifest_sha256)
        )

    return [(SceneAcquiredV1, on_scene_acquired)]
