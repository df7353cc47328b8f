"""A real scene through the platform: a simulated supplier package staged in S3,
announced on Kafka, archived by `dinamis-ingest`, indexed by `dinamis-catalog`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path

import httpx

from dinamis_shared import clients
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import SceneIngestedV1
from dinamis_sim.simulator import SimulatedScene, announce, stage_package, write_package
from dinamis_testkit.watch import EventWatcher


async def publish(settings, event, source: str = "/test/supplier") -> None:
    """One event on the bus, as a supplier (or `source`) would send it."""
    broker = make_broker(settings)
    await broker.connect()
    try:
        await EventPublisher(broker, source).publish(event)
    finally:
        await broker.stop()


async def ingest_scene(
    settings,
    catalog_api: str,
    tmp: Path,
    lon: float,
    lat: float,
    acquired_at: datetime,
    size: int = 256,
    extent_m: float = 8000,
    level: str = "ORTHO",
) -> dict:
    """The scene's STAC item as the catalog serves it, once searchable (`size` PAN pixels
    over `extent_m` metres: a small raster covering a few map tiles)."""
    s3 = clients.s3_client(settings)
    scene = SimulatedScene(
        mission="PNEO4",
        lon=lon,
        lat=lat,
        acquired_at=acquired_at,
        size=size,
        extent_m=extent_m,
        job_id=str(uuid.uuid4().int)[:10],
        level=level,
    )
    checksums = write_package(scene, tmp / "pkg")
    prefix = f"airbus/{scene.scene_id}/"
    event = announce(scene, prefix, checksums, stage_package(s3, tmp / "pkg", "staging", prefix))
    broker = make_broker(settings)
    await broker.connect()
    try:
        async with EventWatcher(settings.kafka_bootstrap_servers, [SceneIngestedV1.topic()]) as watcher:
            await EventPublisher(broker, "/tests").publish(event)
            found = await watcher.wait(lambda: watcher.events(SceneIngestedV1, scene.scene_id), 120)
    finally:
        await broker.stop()
    url = f"{catalog_api}/collections/{found[0].collection}/items/{scene.scene_id}"
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(150):
            response = await http.get(url)
            if response.status_code == 200:
                return response.json()
            await asyncio.sleep(0.2)
    raise AssertionError(f"{scene.scene_id} not indexed by the catalog in 30 s")


async def index_item(settings, catalog_api: str, doc: dict, *, source: str = "/tests") -> dict:
    """Announce a STAC item as ingested (`scene-ingested` on Kafka, no archive object) and
    return it as the catalog serves it, once indexed."""
    broker = make_broker(settings)
    await broker.start()
    try:
        await EventPublisher(broker, source).publish(
            SceneIngestedV1(
                scene_id=doc["id"],
                version=1,
                collection="pleiades-neo-ortho",
                item=doc,
                archive_prefix=f"pleiades-neo-ortho/x/{doc['id']}/v1/",
                manifest_sha256="ab" * 32,
            )
        )
    finally:
        await broker.stop()
    url = f"{catalog_api}/collections/pleiades-neo-ortho/items/{doc['id']}"
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(150):
            r = await client.get(url)
            if r.status_code == 200:
                return r.json()
            await asyncio.sleep(0.2)
    raise AssertionError(f"{doc['id']} never indexed")
