"""What the coverage board's integration and browser tests share: a yearly-coverage
cell delivered for real by the supplier simulator's own functions (staged on S3,
announced on Kafka), optionally with a wrong checksum so that ingest rejects it."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from dinamis_shared import clients
from dinamis_shared.events import SceneAcquiredV1
from dinamis_sim.coverage import coverage_cells
from dinamis_sim.simulator import announce, coverage_scene, stage_package, write_package
from tests.integration.scenes import publish


async def deliver_cell(
    settings, year: int, number: int, *, size: int = 128, tamper: bool = False
) -> SceneAcquiredV1:
    """Deliver coverage cell `number` of `year` (campaign `france-<year>`), as
    `dinamis supplier simulate --coverage france` does; `tamper`: one announced checksum
    is wrong (ingest rejects the delivery: `checksum-mismatch`)."""
    cell = coverage_cells(year)[number - 1]
    assert cell.index == number
    scene = coverage_scene(cell, size, str(year))
    with tempfile.TemporaryDirectory(prefix="coverage-") as tmp:
        checksums = write_package(scene, Path(tmp) / "pkg")
        prefix = f"airbus/{scene.scene_id}-{uuid.uuid4().hex[:6]}/"
        total = stage_package(clients.s3_client(settings), Path(tmp) / "pkg", "staging", prefix)
    if tamper:
        first = sorted(checksums)[0]
        checksums[first] = "0" * 64
    event = announce(scene, prefix, checksums, total, campaign=f"france-{year}")
    await publish(settings, event, "/tests/supplier-simulator")
    return event
