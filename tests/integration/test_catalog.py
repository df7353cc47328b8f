"""The catalog against the real stack: `scene-ingested` events indexed into pgSTAC by
the `dinamis-catalog` process, searched through its STAC API with pystac-client."""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pystac_client import Client

from dinamis_shared import clients
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import SceneAcquiredV1, SceneIngestedV1
from dinamis_shared.settings import ServiceSettings
from dinamis_sim.simulator import SimulatedScene, announce, stage_package, write_package
from dinamis_testkit.examples import lyon_item
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher
from tests.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
PORT, INGEST_PORT = free_ports(2)
API = f"http://127.0.0.1:{PORT}"
# Where users reach the object store (archive hrefs, signed URLs).
STORE = ServiceSettings().s3_public_url


def start(name: str, port: int, log_dir: Path) -> subprocess.Popen:
    # Preview hrefs are built on the catalog's public URL: this test's port.
    return start_service(name, port, log_dir, env={"DINAMIS_CATALOG_PUBLIC_URL": f"http://127.0.0.1:{port}"})


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    proc = start("catalog", PORT, tmp_path_factory.mktemp("catalog"))
    yield Client.open(API)
    stop_service(proc)


def region() -> tuple[float, float]:
    """An empty patch of ocean of our own, so searches see only this test's items."""
    return random.uniform(-170, -130), random.uniform(-50, -10)


def item(
    lon: float, lat: float, when: datetime, cloud: float, version: int = 1, item_id: str | None = None
) -> dict:
    doc = lyon_item()
    d = 0.05
    doc["id"] = item_id or f"TEST-{uuid.uuid4().hex[:10]}"
    doc["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]],
    }
    doc["bbox"] = [lon, lat, lon + d, lat + d]
    doc["properties"].update(
        {
            "datetime": when.isoformat().replace("+00:00", "Z"),
            "eo:cloud_cover": cloud,
            "dinamis:version": version,
        }
    )
    return doc


def ingested(doc: dict, version: int = 1, collection: str = "pleiades-neo-ortho") -> SceneIngestedV1:
    doc = {**doc, "collection": collection}
    return SceneIngestedV1(
        scene_id=doc["id"],
        version=version,
        collection=collection,
        item=doc,
        archive_prefix=f"{collection}/x/{doc['id']}/v{version}/",
        manifest_sha256="ab" * 32,
    )


async def publish(settings, *events) -> None:
    broker = make_broker(settings)
    await broker.connect()
    try:
        publisher = EventPublisher(broker, "/test/ingest")
        for e in events:
            await publisher.publish(e)
    finally:
        await broker.stop()


async def wait_search(catalog: Client, expected: int, timeout: float = 30, **params) -> list:
    deadline = time.monotonic() + timeout
    while True:
        found = await asyncio.to_thread(lambda: list(catalog.search(**params).items()))
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.3)


async def test_indexed_items_are_found_by_every_search_feature(settings, catalog):
    lon, lat = region()
    t0 = datetime(2026, 1, 10, 10, 30, tzinfo=UTC)
    clouds = [2.0, 8.0, 15.0, 30.0, 50.0]
    docs = [item(lon + i * 0.1, lat, t0 + timedelta(days=30 * i), c) for i, c in enumerate(clouds)]
    await publish(settings, *(ingested(d) for d in docs))
    box = [lon - 0.01, lat - 0.01, lon + 0.6, lat + 0.1]
    found = await wait_search(catalog, 5, bbox=box)
    assert sorted(i.id for i in found) == sorted(d["id"] for d in docs)

    def ids(**params) -> list[str]:
        return [i.id for i in catalog.search(bbox=box, **params).items()]

    assert set(ids(datetime="2026-02-01/2026-04-30")) == {docs[1]["id"], docs[2]["id"], docs[3]["id"]}
    field = {
        "type": "Polygon",
        "coordinates": [
            [
                [lon + 0.12, lat + 0.01],
                [lon + 0.13, lat + 0.01],
                [lon + 0.13, lat + 0.02],
                [lon + 0.12, lat + 0.02],
                [lon + 0.12, lat + 0.01],
            ]
        ],
    }
    assert [i.id for i in catalog.search(intersects=field).items()] == [docs[1]["id"]]
    assert ids(ids=[docs[4]["id"]]) == [docs[4]["id"]]
    assert len(ids(collections=["pleiades-neo-ortho"])) == 5 and ids(collections=["spot-6-7-ortho"]) == []
    low = {docs[0]["id"], docs[1]["id"]}
    # CQL2 text travels in GET requests (POST bodies carry CQL2 JSON).
    assert set(ids(filter="eo:cloud_cover < 10", filter_lang="cql2-text", method="GET")) == low
    cql_json = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]}
    assert set(ids(filter=cql_json, filter_lang="cql2-json")) == low
    assert ids(sortby="-properties.datetime") == [d["id"] for d in reversed(docs)]
    assert ids(sortby="+eo:cloud_cover") == [d["id"] for d in docs]
    slim = next(
        catalog.search(
            bbox=box,
            fields={"include": ["id"], "exclude": ["assets", "properties.eo:cloud_cover"]},
            max_items=1,
        ).items_as_dicts()
    )
    assert "assets" not in slim and "eo:cloud_cover" not in slim.get("properties", {})
    pages = list(catalog.search(bbox=box, limit=2).pages())
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert sorted(i.id for p in pages for i in p.items) == sorted(d["id"] for d in docs)
    queryables = httpx.get(f"{API}/queryables", timeout=10).json()
    assert "eo:cloud_cover" in queryables["properties"]


async def test_newer_version_replaces_older_and_a_replayed_older_one_does_not(settings, catalog):
    lon, lat = region()
    when = datetime(2026, 3, 3, tzinfo=UTC)
    v1 = item(lon, lat, when, 40.0, version=1)
    v2 = item(lon, lat, when, 4.0, version=2, item_id=v1["id"])
    await publish(settings, ingested(v1, 1))
    await wait_search(catalog, 1, ids=[v1["id"]])
    # The replay of v1 comes last, then a sentinel: another item under the same Kafka key
    # (scene id), so on the same partition, consumed after the replay.
    sentinel = item(lon + 0.2, lat, when, 1.0, item_id=f"SENTINEL-{uuid.uuid4().hex[:10]}")
    after = ingested(sentinel).model_copy(update={"scene_id": v1["id"]})
    await publish(settings, ingested(v2, 2), ingested(v1, 1), after)
    assert await wait_search(catalog, 1, ids=[sentinel["id"]]), "the sentinel was not indexed"
    (found,) = await wait_search(catalog, 1, ids=[v1["id"]])
    assert found.properties["dinamis:version"] == 2 and found.properties["eo:cloud_cover"] == 4.0


async def test_collections_partners_and_extents(settings, catalog):
    collections = {c.id: c for c in catalog.get_collections()}
    for cid in (
        "spot-6-7-ortho",
        "pleiades-ortho",
        "pleiades-neo-sensor",
        f"spot-6-7-france-{datetime.now(UTC).year}",
        "partner-theia-sentinel2-l2a",
    ):
        assert cid in collections, cid
    partner = collections["partner-theia-sentinel2-l2a"]
    assert any(link.rel == "via" and "theia" in link.href for link in partner.links)
    assert list(catalog.search(collections=[partner.id], max_items=1).items()) == []
    lon, lat = region()
    doc = item(lon, lat, datetime(2026, 5, 5, tzinfo=UTC), 1.0)
    # A coverage year met first in an event: its collection is created on the fly.
    await publish(settings, ingested(doc, collection="spot-6-7-france-2031"))
    found = await wait_search(catalog, 1, collections=["spot-6-7-france-2031"], ids=[doc["id"]])
    assert len(found) == 1
    extent = httpx.get(f"{API}/collections/spot-6-7-france-2031", timeout=10).json()["extent"]
    w, s, e, n = extent["spatial"]["bbox"][0]
    assert w <= lon <= e and s <= lat <= n


@pytest.mark.parametrize("content_type", ["text/plain", None])
async def test_post_search_without_json_content_type_is_a_client_error(catalog, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    r = httpx.post(f"{API}/search", content=b'{"limit": 1}', headers=headers, timeout=10)
    assert r.status_code == 415, r.text
    ok = httpx.post(f"{API}/search", json={"limit": 1}, timeout=10)
    assert ok.status_code == 200


async def test_scene_from_a_supplier_is_searchable_through_ingest_and_catalog(settings, catalog, tmp_path):
    """The whole chain: simulator delivery -> ingest -> scene-ingested -> catalog search."""
    ingest = start("ingest", INGEST_PORT, tmp_path)
    try:
        s3 = clients.s3_client(settings)
        lon, lat = random.uniform(-4, 7), random.uniform(43.5, 49.5)
        scene = SimulatedScene(
            mission="SPOT7",
            lon=lon,
            lat=lat,
            acquired_at=datetime(2026, 7, 1, 10, 30, tzinfo=UTC),
            size=400,
            job_id=str(uuid.uuid4().int)[:10],
        )
        checksums = write_package(scene, tmp_path / "pkg")
        prefix = f"airbus/{scene.scene_id}/"
        event = announce(scene, prefix, checksums, stage_package(s3, tmp_path / "pkg", "staging", prefix))
        async with EventWatcher(settings.kafka_bootstrap_servers, [SceneIngestedV1.topic()]) as watcher:
            await publish(settings, event)
            await watcher.wait(lambda: watcher.events(SceneIngestedV1, scene.scene_id), 120)
        found = await wait_search(catalog, 1, ids=[scene.scene_id], collections=["spot-6-7-ortho"])
        assert [i.id for i in found] == [scene.scene_id]
        assert found[0].assets["pan"].href.startswith(f"{STORE}/archive/spot-6-7-ortho/2026/07/01/")
        assert isinstance(event, SceneAcquiredV1)
    finally:
        stop_service(ingest)


async def test_collection_search_and_indexing_metrics(settings, catalog):
    found = httpx.get(f"{API}/collections", params={"q": "coverage"}, timeout=10).json()["collections"]
    ids = {c["id"] for c in found}
    assert ids and all(i.startswith("spot-6-7-france-") for i in ids)
    metrics = httpx.get(f"{API}/metrics", timeout=10).text
    count = [
        line for line in metrics.splitlines() if line.startswith("dinamis_catalog_indexing_lag_seconds_count")
    ]
    assert count and float(count[0].split()[-1]) >= 1, "indexing lag is measured"


async def test_event_for_an_unknown_collection_is_dead_lettered(settings, catalog):
    lon, lat = region()
    doc = item(lon, lat, datetime(2026, 2, 2, tzinfo=UTC), 3.0)
    async with EventWatcher(settings.kafka_bootstrap_servers, [SceneIngestedV1.topic() + ".dlq"]) as watcher:
        await publish(settings, ingested(doc, collection="landsat-9-l2"))
        letters = await watcher.wait(lambda: watcher.dead_letters(SceneIngestedV1.topic(), doc["id"]), 60)
    assert (
        letters[0]["dlq_error_code"] == "unknown-collection" and letters[0]["dlq_consumer_group"] == "catalog"
    )
