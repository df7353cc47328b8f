"""Kafka handler of the ingest service."""

from __future__ import annotations

import logging
import uuid

from dinamis_ingest.adapters.objectstore import ObjectStore
from dinamis_ingest.domain.rejections import DeliveryRejected
from dinamis_ingest.service.pipeline import IngestPipeline, PipelineConfig
from dinamis_shared import clients
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.events import SceneAcquiredV1, SceneRejectedV1
from dinamis_shared.service import Resources, Subscriptions

log = logging.getLogger(__name__)


def _event_id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "dinamis:ingest:" + ":".join(parts)))


def subscriptions(resources: Resources) -> Subscriptions:
    settings = resources.settings
    pipeline = IngestPipeline(
        ObjectStore(clients.s3_client(settings, timeout_s=120, retries=3)),
        PipelineConfig(
            public_s3_url=settings.public_s3_url,
            catalog_url=settings.catalog_url,
            max_package_bytes=settings.max_package_bytes,
            oversize_tolerance=settings.oversize_tolerance,
            work_dir=settings.work_dir,
        ),
    )

    async def on_scene_acquired(envelope: Envelope) -> None:
        """Consumes `scene-acquired`; emits `scene-ingested`, or `scene-rejected` (and the
        message is dead-lettered with the same reason). Outages propagate: retried."""
        event: SceneAcquiredV1 = envelope.event
        # Event ids derive from what they announce, so a retried or replayed delivery
        # re-announces with the same id and consumers can deduplicate.
        try:
            ingested = await pipeline.ingest(event)
        except DeliveryRejected as exc:
            log.warning("delivery rejected", extra={"scene_id": event.scene_id, "reason": exc.message})
            await resources.publisher.publish(
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
        await resources.publisher.publish(
            ingested, event_id=_event_id("ingested", event.scene_id, ingested.manifest_sha256)
        )

    return [(SceneAcquiredV1, on_scene_acquired)]
