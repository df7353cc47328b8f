"""Ingest against the real stack: supplier deliveries written by the simulator, staged
in S3, announced on Kafka (or through the signed HTTP endpoint), processed by the
`dinamis-ingest` service running as its own process."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import rasterio
import rasterio.transform
from rio_cogeo.cogeo import cog_validate

from dinamis_shared import clients
from dinamis_shared.events import SceneAcquiredV1, SceneIngestedV1, SceneRejectedV1
from dinamis_shared.signing import signature
from dinamis_shared.stac import validate_item
from dinamis_sim.simulator import SimulatedScene, announce, stage_package, write_package
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher
from tests.conftest import stack
from tests.integration.scenes import publish
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PORT = free_port()
SECRET = "test-supplier-secret"
TOPICS = [SceneIngestedV1.topic(), SceneRejectedV1.topic(), SceneAcquiredV1.topic() + ".dlq"]


@pytest.fixture(scope="module")
def ingest_service(tmp_path_factory):
    proc = start_service(
        "ingest",
        PORT,
        tmp_path_factory.mktemp("ingest"),
        env={"DINAMIS_INGEST_SUPPLIER_SECRETS": json.dumps({"airbus": SECRET})},
    )
    yield proc
    stop_service(proc)


@pytest.fixture(scope="module")
def s3(settings):
    return clients.s3_client(settings)


@pytest.fixture
async def watcher(settings, ingest_service):
    async with EventWatcher(settings.kafka_bootstrap_servers, TOPICS) as w:
        yield w


def new_scene(**kw) -> SimulatedScene:
    defaults = dict(
        mission="SPOT6",
        lon=4.85,
        lat=45.75,
        acquired_at=datetime(2026, 6, 12, 10, 31, 4, tzinfo=UTC),
        size=600,
        job_id=str(uuid.uuid4().int)[:10],
        seed=1,
        cloud_cover=7.5,
    )
    return SimulatedScene(**{**defaults, **kw})


def stage(s3, scene: SimulatedScene, tmp_path: Path, mutate=None, prefix=None, **event_changes):
    root = tmp_path / f"pkg-{uuid.uuid4().hex[:6]}"
    checksums = write_package(scene, root)
    if mutate:
        mutate(root, checksums)
    prefix = prefix or f"airbus/{scene.job_id}-{uuid.uuid4().hex[:6]}/"
    size = stage_package(s3, root, "staging", prefix)
    event = announce(scene, prefix, checksums, size)
    return event.model_copy(update=event_changes), root


def archive_keys(s3, scene_id: str) -> list[str]:
    return [
        o.object_name for o in s3.list_objects("archive", recursive=True) if f"/{scene_id}/" in o.object_name
    ]


def read(s3, bucket: str, key: str) -> bytes:
    r = s3.get_object(bucket, key)
    try:
        return r.read()
    finally:
        r.close()
        r.release_conn()


async def test_delivery_is_archived_as_verified_cogs_with_a_valid_item(settings, s3, watcher, tmp_path):
    scene = new_scene()
    event, root = stage(s3, scene, tmp_path)
    await publish(settings, event)
    (ingested,) = await watcher.wait(lambda: watcher.events(SceneIngestedV1, scene.scene_id), 120)
    item = ingested.item
    assert validate_item(item) == []
    assert ingested.version == 1 and ingested.collection == "spot-6-7-ortho"
    assert item["properties"]["platform"] == "spot-6" and item["properties"]["eo:cloud_cover"] == 7.5
    assert item["properties"]["proj:code"] == "EPSG:32631"
    w, s, e, n = item["bbox"]
    assert w < 4.85 < e and s < 45.75 < n and e - w < 0.02
    assert set(item["assets"]) >= {"pan", "ms", "thumbnail", "overview", "metadata-pan", "metadata-ms"}

    # The manifest (written last) lists every archived file with its SHA-256.
    prefix = ingested.archive_prefix
    raw = read(s3, "archive", prefix + "manifest.json")
    assert hashlib.sha256(raw).hexdigest() == ingested.manifest_sha256
    manifest = json.loads(raw)
    assert {f["path"] for f in manifest["files"]} >= {
        "pan.tif",
        "ms.tif",
        "quicklook.jpg",
        "thumbnail.png",
        "item.json",
    }
    for f in manifest["files"]:
        data = read(s3, "archive", prefix + f["path"])
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size"], f["path"]
    for asset in item["assets"].values():
        key = asset["href"].split("/archive/", 1)[1]
        assert asset["file:checksum"] == "1220" + hashlib.sha256(read(s3, "archive", key)).hexdigest()

    # Each COG is valid, tiled, with overviews, georeferenced, and lossless.
    for name, source_dir in (("pan.tif", "IMG_SPOT6_P_001"), ("ms.tif", "IMG_SPOT6_MS_002")):
        local = tmp_path / name
        local.write_bytes(read(s3, "archive", prefix + name))
        valid, errors, _ = cog_validate(str(local), quiet=True)
        assert valid, errors
        (tif,) = (root / source_dir).glob("IMG_*_R1C1.TIF")
        with rasterio.open(local) as cog, rasterio.open(tif) as src:
            assert cog.crs.to_epsg() == 32631 and cog.transform == src.transform
            assert cog.profile["compress"].lower() == "deflate" and cog.profile["tiled"]
            assert cog.overviews(1) or max(cog.shape) <= 512  # overviews down to one tile
            assert (cog.read() == src.read()).all(), "COG pixels differ from the delivered image"


async def test_sensor_product_is_archived_with_its_rpcs_and_no_map_crs(settings, s3, watcher, tmp_path):
    scene = new_scene(mission="PHR1A", level="SENSOR")
    event, _ = stage(s3, scene, tmp_path)
    await publish(settings, event)
    (ingested,) = await watcher.wait(lambda: watcher.events(SceneIngestedV1, scene.scene_id), 120)
    item = ingested.item
    assert ingested.collection == "pleiades-sensor" and validate_item(item) == []
    assert item["properties"]["proj:code"] is None and item["properties"]["processing:level"] == "sensor"
    w, s, e, n = item["bbox"]
    assert w < 4.85 < e and s < 45.75 < n
    local = tmp_path / "pan.tif"
    local.write_bytes(read(s3, "archive", ingested.archive_prefix + "pan.tif"))
    assert cog_validate(str(local), quiet=True)[0]
    with rasterio.open(local) as cog:
        assert cog.crs is None and cog.rpcs is not None
        with rasterio.transform.RPCTransformer(cog.rpcs) as rpc:
            lon, lat = rpc.xy(cog.height / 2, cog.width / 2)
        assert abs(lon - 4.85) < 1e-3 and abs(lat - 45.75) < 1e-3


async def test_same_delivery_twice_is_one_archive_entry_and_a_redelivery_a_new_version(
    settings, s3, watcher, tmp_path
):
    scene = new_scene()
    event, _ = stage(s3, scene, tmp_path)
    await publish(settings, event)
    (first,) = await watcher.wait(lambda: watcher.events(SceneIngestedV1, scene.scene_id), 120)
    keys = archive_keys(s3, scene.scene_id)
    await publish(settings, event)
    again = await watcher.wait(
        lambda: (
            len(watcher.events(SceneIngestedV1, scene.scene_id)) == 2
            and watcher.events(SceneIngestedV1, scene.scene_id)
        ),
        120,
    )
    assert again[1].version == 1 and again[1].manifest_sha256 == first.manifest_sha256
    assert again[1].item == first.item
    assert archive_keys(s3, scene.scene_id) == keys, "the same delivery wrote new objects"

    # A corrected redelivery (other pixels, so other checksums) becomes version 2.
    corrected, _ = stage(s3, new_scene(job_id=scene.job_id, seed=2), tmp_path)
    await publish(settings, corrected)
    versions = await watcher.wait(
        lambda: (
            len(watcher.events(SceneIngestedV1, scene.scene_id)) == 3
            and watcher.events(SceneIngestedV1, scene.scene_id)
        ),
        120,
    )
    v2 = versions[2]
    assert v2.version == 2 and v2.supersedes_version == 1
    assert [link["href"] for link in v2.item["links"] if link["rel"] == "predecessor-version"] == [
        first.item["assets"]["pan"]["href"].rsplit("/", 1)[0] + "/item.json"
    ]
    keys_now = archive_keys(s3, scene.scene_id)
    assert set(keys) < set(keys_now), "version 1 must be kept"
    assert any(k.endswith("/v2/manifest.json") for k in keys_now)


def _drop_first(pattern: str):
    def mutate(root: Path, checksums: dict) -> None:
        victim = next(root.rglob(pattern))
        victim.unlink()
        checksums.pop(victim.relative_to(root).as_posix())

    return mutate


def _truncate_ms(root: Path, checksums: dict) -> None:
    tif = next(root.glob("IMG_*_MS_*/IMG_*.TIF"))
    data = tif.read_bytes()
    tif.write_bytes(data[: len(data) // 3])
    checksums[tif.relative_to(root).as_posix()] = hashlib.sha256(tif.read_bytes()).hexdigest()


def _garble_checksum(root: Path, checksums: dict) -> None:
    key = next(k for k in checksums if k.endswith(".TIF"))
    checksums[key] = "0" * 64


BAD_DELIVERIES = {
    "missing-file (staged file listed by the supplier is absent)": (
        {},
        lambda root, cs: next(root.rglob("*_R1C1.TIF")).unlink(),
        "missing-file",
    ),
    "missing-file (referenced by the metadata)": ({}, _drop_first("CLD_*_MSK.GML"), "missing-file"),
    "checksum-mismatch": ({}, _garble_checksum, "checksum-mismatch"),
    "truncated-tiff": ({}, _truncate_ms, "corrupt-raster"),
    "not-georeferenced": ({"georeferenced": False}, None, "not-georeferenced"),
    "path-traversal": (
        {"dim_transform": lambda x: x.replace('href="IMG_', 'href="../../../etc/IMG_', 1)},
        None,
        "unsafe-path",
    ),
    "absolute-path": (
        {"dim_transform": lambda x: x.replace('href="MASKS/', 'href="/etc/', 1)},
        None,
        "unsafe-path",
    ),
    "declared-size-bomb": (
        {
            "dim_transform": lambda x: x.replace(
                "<NROWS>600</NROWS><NCOLS>600</NCOLS>", "<NROWS>90000</NROWS><NCOLS>90000</NCOLS>"
            )
        },
        None,
        "invalid-metadata",
    ),
    "xml-bomb": (
        {
            "dim_transform": lambda x: x.replace(
                "<Dimap_Document",
                '<!DOCTYPE d [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><Dimap_Document',
                1,
            )
        },
        None,
        "invalid-metadata",
    ),
}


@pytest.mark.parametrize("case", [*BAD_DELIVERIES, "unknown-mission", "oversized"])
async def test_bad_delivery_is_rejected_with_its_reason_and_nothing_archived(
    settings, s3, watcher, tmp_path, case
):
    scene_kw, mutate, code = BAD_DELIVERIES.get(case, ({}, None, case))
    scene = new_scene(**scene_kw)
    changes = {}
    if case == "unknown-mission":
        changes = {"mission": "LANDSAT8"}
    event, _ = stage(s3, scene, tmp_path, mutate=mutate, **changes)
    if case == "oversized":
        event = event.model_copy(update={"announced_size_bytes": event.announced_size_bytes // 50})
    await publish(settings, event)
    (rejected,) = await watcher.wait(lambda: watcher.events(SceneRejectedV1, scene.scene_id), 120)
    assert rejected.reason_code == code, rejected.reason
    assert rejected.reason and rejected.staging == event.staging
    letters = await watcher.wait(lambda: watcher.dead_letters(SceneAcquiredV1.topic(), scene.scene_id), 30)
    assert letters[0]["dlq_error_code"] == code and letters[0]["dlq_consumer_group"] == "ingest"
    assert archive_keys(s3, scene.scene_id) == [], "a rejected delivery must leave nothing in the archive"
    staged = list(s3.list_objects("staging", prefix=event.staging.prefix, recursive=True))
    assert staged, "the staging copy is kept for diagnosis"


async def test_signed_http_push_is_ingested_and_bad_requests_refused(settings, s3, watcher, tmp_path):
    scene = new_scene()
    event, _ = stage(s3, scene, tmp_path)
    body = event.model_dump_json().encode()
    url = f"http://127.0.0.1:{PORT}/v1/suppliers/airbus/deliveries"

    def post(body: bytes, ts: str | None = None, sig: str | None = None, supplier_url: str = url):
        ts = ts or str(int(time.time()))
        headers = {
            "X-Dinamis-Timestamp": ts,
            "X-Dinamis-Signature": sig or signature(SECRET, ts, body),
            "Content-Type": "application/json",
        }
        return httpx.post(supplier_url, content=body, headers=headers, timeout=10)

    old = str(int(time.time()) - 301)
    assert post(body, ts=old).status_code == 401  # a replay older than 5 minutes
    assert post(body, sig="sha256=" + "0" * 64).status_code == 401
    assert post(body + b" ", sig=signature(SECRET, str(int(time.time())), body)).status_code == 401
    unknown = url.replace("/airbus/", "/acme/")
    assert post(body, supplier_url=unknown).status_code == 401
    invalid = post(b'{"scene_id": "x"}')
    assert invalid.status_code == 422 and invalid.json()["errors"]
    other = event.model_copy(update={"supplier": "maxar"}).model_dump_json().encode()
    assert post(other).status_code == 403
    assert watcher.events(SceneIngestedV1, scene.scene_id) == []

    accepted = post(body)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["scene_id"] == scene.scene_id
    (ingested,) = await watcher.wait(lambda: watcher.events(SceneIngestedV1, scene.scene_id), 120)
    assert ingested.version == 1


async def test_s3_outage_mid_scene_is_retried_not_rejected(settings, s3, watcher, tmp_path):
    scene = new_scene()
    event, _ = stage(s3, scene, tmp_path)
    stack("down", "s3")
    try:
        await publish(settings, event)
        await asyncio.sleep(8)  # the service tries and fails meanwhile
        assert watcher.events(SceneRejectedV1, scene.scene_id) == []
    finally:
        stack("up", "s3")
    (ingested,) = await watcher.wait(lambda: watcher.events(SceneIngestedV1, scene.scene_id), 180)
    assert ingested.version == 1
    assert watcher.events(SceneRejectedV1, scene.scene_id) == []


async def test_kafka_outage_mid_scene_is_retried_and_announced_once(settings, s3, watcher, tmp_path):
    scene = new_scene(size=3000)  # a few seconds of work, so Kafka stops while it runs
    event, _ = stage(s3, scene, tmp_path)
    await publish(settings, event)
    deadline = time.monotonic() + 60
    while not archive_keys(s3, scene.scene_id) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # the scene is being archived
    stack("down", "kafka")
    try:
        await asyncio.sleep(5)  # ingest cannot announce (nor commit) meanwhile
    finally:
        stack("up", "kafka")
    ingested = await watcher.wait(lambda: watcher.events(SceneIngestedV1, scene.scene_id), 240)
    assert {e.version for e in ingested} == {1}, "a retry after the outage must not make a new version"
    assert watcher.events(SceneRejectedV1, scene.scene_id) == []
    manifests = [k for k in archive_keys(s3, scene.scene_id) if k.endswith("manifest.json")]
    assert len(manifests) == 1
