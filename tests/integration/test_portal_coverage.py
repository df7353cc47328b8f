"""The coverage board's consumer on the real stack: real Kafka events (deliveries by the
supplier simulator's functions, ingest's real answers, a redelivery, hostile events) →
the portal's consumer (as the `portal` principal, group `portal-coverage`) → the cells'
state in the real MongoDB (FerretDB); the catalogue's STAC API marks them published."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid

import httpx
import pytest

from dinamis_portal.coverage.board import CoverageBoard, CoverageSettings
from dinamis_portal.coverage.consumer import CoverageConsumer, check_published
from dinamis_portal.coverage.store import MongoCoverageStore
from dinamis_portal.settings import PortalSettings
from dinamis_portal.upstream import HttpCatalogue
from dinamis_shared import clients
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import SceneAcquiredV1, SceneRejectedV1, StagingLocation
from dinamis_testkit.testing import running_services
from tests.integration.ops_coverage_support import deliver_cell
from tests.ports import free_ports

CATALOG, INGEST = free_ports(2)
STAFF = {"user_id": "op-it", "email": "op-it@dinamis.example"}


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    with running_services((("catalog", CATALOG), ("ingest", INGEST)), tmp_path_factory.mktemp("logs")):
        yield f"http://127.0.0.1:{CATALOG}"


async def wait_for(check, seconds: float = 90):
    for _ in range(int(seconds / 0.5)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError("timed out")


async def test_real_events_drive_the_cells_state_in_mongo(services, settings):
    # A campaign of its own (a year no other test uses) in a database of its own: the
    # topics' older events never touch it.
    year = random.randint(2040, 2099)
    campaign = f"france-{year}"
    portal = PortalSettings(mongo_database=f"portal_cov_{uuid.uuid4().hex[:8]}")
    mongo = clients.mongo_client(portal)
    store = MongoCoverageStore(mongo[portal.mongo_database])
    await store.ensure_indexes()
    board = CoverageBoard(store, CoverageSettings(coverage_cloud_max=20.0))
    assert await board.plan(campaign, year, STAFF) == len(board.grid.cells)
    consumer = CoverageConsumer(board, portal)
    task = asyncio.create_task(consumer.run())
    http = httpx.AsyncClient(timeout=10)
    try:
        good = await deliver_cell(settings, year, 1)  # cloud 7 %
        cloudy = await deliver_cell(settings, year, 3)  # cloud 21 %
        bad = await deliver_cell(settings, year, 4, tamper=True)

        async def cell(n: int, state: str):
            doc = await store.cell(campaign, n)
            return doc if doc and doc["state"] == state else None

        one = await wait_for(lambda: cell(1, "ingested"))
        assert one["scene_id"] == good.scene_id and one["cloud"] == pytest.approx(7.0)
        assert [h["state"] for h in one["history"]][:2] == ["planned", "acquired"] or one["history"][-1][
            "state"
        ] == "ingested"
        three = await wait_for(lambda: cell(3, "too-cloudy"))
        assert (three["scene_id"], three["cloud"]) == (cloudy.scene_id, pytest.approx(21.0))
        four = await wait_for(lambda: cell(4, "rejected"))
        assert (four["scene_id"], four["reason_code"]) == (bad.scene_id, "checksum-mismatch")
        assert four["reason"]
        assert (await store.cell(campaign, 2))["state"] == "planned"

        # The catalogue has indexed cell 1's item: published.
        catalogue = HttpCatalogue(services, http, 1024 * 1024)

        async def published():
            await check_published(board, catalogue)
            return await cell(1, "published")

        assert (await wait_for(published, 60))["published_at"]

        # A redelivered event (same CloudEvents id) and hostile events change nothing.
        before = {n: await store.cell(campaign, n) for n in (1, 3, 4)}
        broker = make_broker(settings)
        await broker.connect()
        try:
            publisher = EventPublisher(broker, "/tests/hostile")
            rejection = SceneRejectedV1(
                scene_id=bad.scene_id,
                supplier="airbus",
                supplier_product_id=bad.supplier_product_id,
                staging=bad.staging,
                reason_code="oversized",
                reason="again",
            )
            fixed_id = str(uuid.uuid4())
            await publisher.publish(rejection, event_id=fixed_id)
            await publisher.publish(rejection, event_id=fixed_id)  # the redelivery
            await publisher.publish(
                good.model_copy(
                    update={"scene_id": f"PIRATE-{uuid.uuid4().hex[:8]}", "campaign": "pirate-2026"}
                )
            )
            await publisher.publish(
                SceneAcquiredV1(
                    scene_id=f"NOCAMPAIGN-{uuid.uuid4().hex[:8]}",
                    supplier="airbus",
                    mission="SPOT6",
                    supplier_product_id="x1",
                    staging=StagingLocation(prefix="airbus/nothing/"),
                    delivered_at=good.delivered_at,
                )
            )
            # A late acquired for cell 1 (its own delivery again, a new event id).
            await publisher.publish(good)
            await broker.publish(b"{not json", topic=SceneAcquiredV1.topic(), key=b"junk")
        finally:
            await broker.stop()
        await asyncio.sleep(4)  # the consumer has read them (it reads every 0.5 s)
        assert not task.done(), "the consumer must survive hostile records"
        after = {n: await store.cell(campaign, n) for n in (1, 3, 4)}
        assert after[1]["state"] == "published" and after[3]["state"] == "too-cloudy"
        assert after[4]["state"] == "rejected" and after[4]["reason_code"] == "checksum-mismatch"
        assert after[3] == before[3]
        scene = await store.scene(bad.scene_id)
        assert scene["events"].count(fixed_id) == 1
        assert await store.scenes_c.count_documents({"campaign": "pirate-2026"}) == 0
    finally:
        consumer.stop()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await http.aclose()
        await mongo.drop_database(portal.mongo_database)
        await mongo.close()
