"""What the pipeline section's integration and browser tests share: a real dead letter
(a delivery announced on the bus whose staged package misses a file: ingest rejects it
and dead-letters the `scene-acquired` event), the fix (the missing file staged), and
the portal's own Kafka adapter, authenticated as the portal's principal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dinamis_portal.ops.kafka_admin import KafkaPipelineBus, Record
from dinamis_portal.settings import PortalSettings
from dinamis_shared.events import SceneAcquiredV1
from dinamis_sim.simulator import SimulatedScene, announce, stage_package, write_package

DLQ = SceneAcquiredV1.topic() + ".dlq"


@dataclass(frozen=True)
class BrokenDelivery:
    event: SceneAcquiredV1
    missing_key: str  # the staged object removed
    missing_file: Path  # its local copy, to stage it again (the fix)

    @property
    def scene_id(self) -> str:
        return self.event.scene_id


def portal_bus() -> KafkaPipelineBus:
    """The console's Kafka adapter as the portal runs it (principal `portal`)."""
    return KafkaPipelineBus(PortalSettings(environment="development"))


def broken_delivery(s3, tmp: Path, day: int = 9) -> BrokenDelivery:
    """A complete package written and staged, then one of its rasters removed from the
    staging bucket (the supplier's checksums still list it)."""
    scene = SimulatedScene(
        mission="SPOT6",
        lon=4.85,
        lat=45.75,
        acquired_at=datetime(2026, 7, day, 10, 31, 4, tzinfo=UTC),
        size=600,
        job_id=str(uuid.uuid4().int)[:10],
        seed=day,
        cloud_cover=7.5,
    )
    root = tmp / f"pkg-{uuid.uuid4().hex[:6]}"
    checksums = write_package(scene, root)
    prefix = f"airbus/{scene.job_id}-{uuid.uuid4().hex[:6]}/"
    size = stage_package(s3, root, "staging", prefix)
    victim = next(root.rglob("*_R1C1.TIF"))
    key = prefix + victim.relative_to(root).as_posix()
    s3.remove_object("staging", key)
    return BrokenDelivery(announce(scene, prefix, checksums, size), key, victim)


def fix(s3, broken: BrokenDelivery) -> None:
    s3.fput_object("staging", broken.missing_key, str(broken.missing_file))


async def find_letter(bus: KafkaPipelineBus, scene_id: str, pages: int = 20) -> Record | None:
    """The newest dead letter of `scene_id` in the scene-acquired DLQ, browsed page by page."""
    before = None
    for _ in range(pages):
        page = await bus.page(DLQ, before, 50)
        for r in page.records:
            if r.key == scene_id.encode():
                return r
        if page.cursor is None:
            return None
        before = page.cursor
    return None
