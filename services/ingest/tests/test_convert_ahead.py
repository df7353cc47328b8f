"""Converting an image while the rest of its package downloads (issue 17, P1): the
archive it writes is byte for byte the one written without it, every check still
refuses what it refused, and the conversion really overlaps the download. The object
store is a fake of our own port (`ObjectStore`) serving a simulator package from disk."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dinamis_ingest.adapters.objectstore import StoredObject
from dinamis_ingest.domain.rejections import DeliveryRejected
from dinamis_ingest.service import raster
from dinamis_ingest.service.pipeline import ARCHIVE, STAGING, IngestPipeline, PipelineConfig
from dinamis_shared.events import Mission, RejectionReason
from dinamis_sim.simulator import SimulatedScene, announce, write_package

PREFIX = "deliveries/1/"
OVERLAP_S = 30


class FakeStore:
    """Staged files on disk, archived ones in memory; records what is downloaded, in order."""

    def __init__(self, staged: Path) -> None:
        self.staged = staged
        self.archive: dict[str, bytes] = {}
        self.downloads: list[str] = []
        self.before_download = lambda rel: None

    async def list(self, bucket: str, prefix: str) -> list[StoredObject]:
        if bucket == STAGING:
            files = sorted(p for p in self.staged.rglob("*") if p.is_file())
            return [
                StoredObject(PREFIX + p.relative_to(self.staged).as_posix(), p.stat().st_size) for p in files
            ]
        return [StoredObject(k, len(v)) for k, v in sorted(self.archive.items()) if k.startswith(prefix)]

    async def download(self, bucket, key, dest, max_bytes, cancelled=None):
        rel = key[len(PREFIX) :]
        await asyncio.to_thread(self.before_download, rel)
        self.downloads.append(rel)
        data = (self.staged / rel).read_bytes()
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        return len(data), hashlib.sha256(data).hexdigest()

    async def upload(self, bucket, key, path, content_type) -> None:
        assert bucket == ARCHIVE
        self.archive[key] = await asyncio.to_thread(Path(path).read_bytes)

    async def put_bytes(self, bucket, key, data, content_type) -> None:
        self.archive[key] = data

    async def get_json(self, bucket, key):
        return json.loads(self.archive[key]) if key in self.archive else None


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> tuple[SimulatedScene, Path, dict[str, str]]:
    scene = SimulatedScene(
        mission=Mission.SPOT6,
        lon=2.35,
        lat=48.85,
        acquired_at=datetime(2026, 5, 4, 10, 40, tzinfo=UTC),
        size=2048,  # MS 512 px: its tile smaller than the PAN's (below, blocks are padded)
        job_id="4242424242",
    )
    root = tmp_path_factory.mktemp("pkg") / "pkg"
    return scene, root, write_package(scene, root)


def _event(scene, root, checksums):
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return announce(scene, PREFIX, checksums, size)


def _pipeline(store: FakeStore, ahead: bool, tmp_path: Path) -> IngestPipeline:
    work = tmp_path / f"work-{ahead}"
    work.mkdir(exist_ok=True)
    return IngestPipeline(store, PipelineConfig(work_dir=str(work), convert_ahead=ahead))  # type: ignore[arg-type]


def _tiles(root: Path, kind: str) -> list[str]:
    return [p.relative_to(root).as_posix() for p in sorted(root.glob(f"IMG_*_{kind}_*/IMG_*.TIF"))]


async def test_the_archive_is_the_same_with_or_without_converting_ahead(package, tmp_path):
    scene, root, checksums = package
    event = _event(scene, root, checksums)
    stores = {ahead: FakeStore(root) for ahead in (False, True)}
    results = {ahead: await _pipeline(s, ahead, tmp_path).ingest(event) for ahead, s in stores.items()}
    assert results[True].manifest_sha256 == results[False].manifest_sha256
    assert stores[True].archive == stores[False].archive  # every object, byte for byte
    # Metadata first, then the smaller image (MS) before the larger one (PAN).
    order = stores[True].downloads
    last_xml = max(i for i, rel in enumerate(order) if rel.upper().endswith(".XML"))
    first_tile = min(order.index(t) for t in _tiles(root, "MS") + _tiles(root, "P"))
    assert last_xml < first_tile
    assert max(order.index(t) for t in _tiles(root, "MS")) < min(order.index(t) for t in _tiles(root, "P"))


async def test_the_ms_image_is_converted_while_the_pan_image_downloads(package, tmp_path, monkeypatch):
    """The PAN tile's download waits until the MS conversion has started: without the
    overlap, it would wait forever (bounded here, then the test fails)."""
    scene, root, checksums = package
    store = FakeStore(root)
    converting = threading.Event()
    convert = raster.convert_cog

    def spy(src, dst, bands=()):
        if "_MS_" in Path(src).name:
            converting.set()
        convert(src, dst, bands)

    monkeypatch.setattr(raster, "convert_cog", spy)
    (pan_tile,) = _tiles(root, "P")
    waited: list[bool] = []
    store.before_download = lambda rel: rel == pan_tile and waited.append(converting.wait(OVERLAP_S))
    await _pipeline(store, True, tmp_path).ingest(_event(scene, root, checksums))
    assert waited == [True], "the PAN tile's download was not overlapped by the MS conversion"


async def test_a_bad_pan_checksum_is_still_refused_and_nothing_archived(package, tmp_path):
    scene, root, checksums = package
    (pan_tile,) = _tiles(root, "P")
    store = FakeStore(root)
    with pytest.raises(DeliveryRejected) as refused:
        await _pipeline(store, True, tmp_path).ingest(_event(scene, root, {**checksums, pan_tile: "0" * 64}))
    assert refused.value.reason == RejectionReason.CHECKSUM_MISMATCH
    assert pan_tile in str(refused.value)
    assert store.archive == {}


async def test_a_corrupt_ms_tile_is_refused_for_the_same_reason_either_way(package, tmp_path):
    scene, root, checksums = package
    broken = tmp_path / "broken"
    shutil.copytree(root, broken)
    (ms_tile,) = _tiles(broken, "MS")
    data = (broken / ms_tile).read_bytes()
    (broken / ms_tile).write_bytes(data[: len(data) // 3])  # a truncated TIFF, its checksum given
    sums = {**checksums, ms_tile: hashlib.sha256((broken / ms_tile).read_bytes()).hexdigest()}
    reasons = {}
    for ahead in (False, True):
        store = FakeStore(broken)
        with pytest.raises(DeliveryRejected) as refused:
            await _pipeline(store, ahead, tmp_path).ingest(_event(scene, broken, sums))
        reasons[ahead] = refused.value.reason
        assert store.archive == {}
    assert reasons[True] == reasons[False] == RejectionReason.CORRUPT_RASTER


async def test_a_replayed_delivery_is_not_converted_again(package, tmp_path, monkeypatch):
    scene, root, checksums = package
    store = FakeStore(root)
    event = _event(scene, root, checksums)
    first = await _pipeline(store, True, tmp_path).ingest(event)
    calls = []
    monkeypatch.setattr(raster, "convert_cog", lambda *a, **k: calls.append(a))
    again = await _pipeline(store, True, tmp_path).ingest(event)
    assert (again.version, again.manifest_sha256) == (first.version, first.manifest_sha256)
    assert calls == []
