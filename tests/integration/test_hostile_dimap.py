"""Hostile DIMAP packages staged in S3 and announced to the running ingest service with
`scene-acquired` (the simulator writes a realistic Airbus package; each case breaks it
one way): metadata missing or truncated, XML bombs and external entities, wrong
checksums and sizes, traversal in metadata hrefs and in staged file names, images that
are empty, not images, or do not match their metadata... Each is answered within a
bound by a `scene-rejected` with the expected reason code and a dead letter with the
same code, leaves nothing in the archive, and never crashes the consumer: a valid
package announced afterwards is ingested. (test_ingest.py holds the first cases of
this kind: a missing tile or mask, a garbled tile checksum, a truncated TIFF, an
unreferenced image, `../` and absolute hrefs, a declared-size bomb, a small entity
expansion, an unknown mission, an announced size far too small.)"""

from __future__ import annotations

import hashlib
import io
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dinamis_shared import clients
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import SceneAcquiredV1, SceneIngestedV1, SceneRejectedV1, StagingLocation
from dinamis_sim.simulator import SimulatedScene, announce, stage_package, write_package
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher
from tests.ports import free_port

pytestmark = pytest.mark.integration

PORT = free_port()
TOPICS = [SceneIngestedV1.topic(), SceneRejectedV1.topic(), SceneAcquiredV1.topic() + ".dlq"]
REJECTED_S = 60.0  # a small package, rejected: well within this on two shared cores
Mutate = Callable[[Path, dict[str, str]], None]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(root.glob(pattern))


def edit_dims(edit: Callable[[str], str], pattern: str = "IMG_*/DIM_*.XML") -> Mutate:
    """Edit the text of the DIM files matching `pattern`; their checksums follow (the
    supplier says what it sent)."""

    def mutate(root: Path, checksums: dict[str, str]) -> None:
        for dim in _files(root, pattern):
            dim.write_text(edit(dim.read_text(encoding="utf-8")), encoding="utf-8")
            checksums[dim.relative_to(root).as_posix()] = _sha(dim)

    return mutate


def write_bytes(pattern: str, data: Callable[[bytes], bytes]) -> Mutate:
    """Replace the first file matching `pattern` with `data(its bytes)`; its checksum follows."""

    def mutate(root: Path, checksums: dict[str, str]) -> None:
        target = _files(root, pattern)[0]
        target.write_bytes(data(target.read_bytes()))
        checksums[target.relative_to(root).as_posix()] = _sha(target)

    return mutate


def remove(*patterns: str) -> Mutate:
    def mutate(root: Path, checksums: dict[str, str]) -> None:
        for pattern in patterns:
            for victim in _files(root, pattern):
                victim.unlink()
                checksums.pop(victim.relative_to(root).as_posix(), None)

    return mutate


def garble_checksum(pattern: str) -> Mutate:
    def mutate(root: Path, checksums: dict[str, str]) -> None:
        checksums[_files(root, pattern)[0].relative_to(root).as_posix()] = "0" * 64

    return mutate


def claim(name: str) -> Mutate:
    """The supplier lists a checksum for a file it never staged."""

    def mutate(root: Path, checksums: dict[str, str]) -> None:
        checksums[name] = "ab" * 32

    return mutate


LAUGHS = (
    '<!DOCTYPE Dimap_Document [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i else "&lol;" * 10}">' for i in range(10))
    + "]>"
)
XXE = '<!DOCTYPE Dimap_Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
VRT = (
    b'<VRTDataset rasterXSize="10" rasterYSize="10"><VRTRasterBand dataType="Byte" band="1">'
    b"<SimpleSource><SourceFilename>/etc/passwd</SourceFilename></SimpleSource></VRTRasterBand></VRTDataset>"
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def doctype(prefix: str) -> Callable[[str], str]:
    return lambda xml: xml.replace("<Dimap_Document", prefix + "<Dimap_Document", 1)


def sub(pattern: str, replacement: str) -> Callable[[str], str]:
    return lambda xml: re.sub(pattern, replacement, xml, count=1, flags=re.S)


@dataclass(frozen=True)
class Package:
    name: str
    code: str  # the reason code of the scene-rejected event and of the dead letter
    mutate: Mutate | None = None
    scene: dict[str, Any] = field(default_factory=dict)  # SimulatedScene changes
    event: dict[str, Any] = field(default_factory=dict)  # scene-acquired changes
    objects: dict[str, bytes] = field(default_factory=dict)  # staged as they are, under the prefix

    def __str__(self) -> str:
        return self.name


MS_DIM = "IMG_*_MS_*/DIM_*.XML"
PAN_TILE = "IMG_*_P_*/IMG_*_R1C1.TIF"

PACKAGES = [
    # metadata missing, unreadable or hostile
    Package("no metadata at all", "invalid-metadata", remove("VOL_*.XML", "IMG_*/DIM_*.XML")),
    Package("volume lists an absent DIM", "missing-file", remove(MS_DIM)),
    Package(
        "volume lists no DIMAP component",
        "invalid-metadata",
        write_bytes(
            "VOL_*.XML",
            lambda x: re.sub(
                rb"<COMPONENT_TYPE>DIMAP</COMPONENT_TYPE>", b"<COMPONENT_TYPE>OTHER</COMPONENT_TYPE>", x
            ),
        ),
    ),
    Package(
        "volume component traversal",
        "unsafe-path",
        write_bytes("VOL_*.XML", lambda x: x.replace(b'href="IMG_', b'href="../../archive/IMG_', 1)),
    ),
    Package("DIM truncated", "invalid-metadata", write_bytes(MS_DIM, lambda x: x[: len(x) // 2])),
    Package("DIM empty", "invalid-metadata", write_bytes(MS_DIM, lambda x: b"")),
    Package("DIM billion laughs", "invalid-metadata", edit_dims(doctype(LAUGHS))),
    Package(
        "DIM external entity",
        "invalid-metadata",
        edit_dims(lambda x: doctype(XXE)(x).replace("<JOB_ID>", "<JOB_ID>&x;", 1)),
    ),
    Package(
        "DIM declared UTF-16",
        "invalid-metadata",
        edit_dims(lambda x: x.replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)),
    ),
    Package(
        "DIM with a NUL byte",
        "invalid-metadata",
        write_bytes(MS_DIM, lambda x: x.replace(b"<JOB_ID>", b"<JOB_ID>\x00", 1)),
    ),
    Package(
        "DIM over 20 MiB",
        "invalid-metadata",
        write_bytes(
            MS_DIM,
            lambda x: x.replace(
                b"</Dimap_Document>", b"<!--" + b"x" * (21 * 1024 * 1024) + b"--></Dimap_Document>"
            ),
        ),
    ),
    Package(
        "DIM root not a DIMAP document",
        "invalid-metadata",
        edit_dims(
            lambda x: x.replace("<Dimap_Document", "<Other_Document", 1).replace(
                "</Dimap_Document>", "</Other_Document>"
            )
        ),
    ),
    Package(
        "DIMAP version 1",
        "invalid-metadata",
        edit_dims(lambda x: x.replace('version="2.15"', 'version="1.1"', 1)),
    ),
    Package(
        "DIM without data file",
        "invalid-metadata",
        edit_dims(sub(r"<Data_Files>.*?</Data_Files>", "<Data_Files/>")),
    ),
    Package(
        "DIM dimensions not numbers",
        "invalid-metadata",
        edit_dims(sub(r"<NROWS>\d+</NROWS>", "<NROWS>beaucoup</NROWS>")),
    ),
    Package(
        "DIM processing level unknown",
        "invalid-metadata",
        edit_dims(
            sub(
                r"<PROCESSING_LEVEL>\w+</PROCESSING_LEVEL>",
                "<PROCESSING_LEVEL>'; DROP TABLE items; --</PROCESSING_LEVEL>",
            )
        ),
    ),
    Package(
        "DIM acquisition time garbage",
        "invalid-metadata",
        edit_dims(sub(r"<TIME>[^<]+</TIME>", "<TIME>hier</TIME>")),
    ),
    Package(
        "DIM footprint latitude 95", "invalid-metadata", edit_dims(sub(r"<LAT>[^<]+</LAT>", "<LAT>95</LAT>"))
    ),
    Package("DIM cloud cover 150 %", "invalid-metadata", scene={"cloud_cover": 150.0}),
    Package(
        "DIM mission unknown",
        "unknown-mission",
        edit_dims(sub(r"<MISSION>\w+</MISSION>", "<MISSION>LANDSAT</MISSION>")),
    ),
    Package("DIM mission not the announced one", "invalid-metadata", event={"mission": "SPOT7"}),
    Package(
        "DIM names more bands than NBANDS",
        "invalid-metadata",
        edit_dims(sub(r"<NBANDS>4</NBANDS>", "<NBANDS>3</NBANDS>"), MS_DIM),
    ),
    Package(
        "DIM data file href with a drive",
        "unsafe-path",
        edit_dims(lambda x: x.replace('DATA_FILE_PATH href="', 'DATA_FILE_PATH href="C:', 1)),
    ),
    Package(
        "DIM data file href a GDAL URL",
        "unsafe-path",
        edit_dims(
            lambda x: x.replace(
                'DATA_FILE_PATH href="', 'DATA_FILE_PATH href="/vsicurl/http://127.0.0.1:9/', 1
            )
        ),
    ),
    Package(
        "DIM mask href a backslash path",
        "unsafe-path",
        edit_dims(lambda x: x.replace('href="MASKS/', 'href="..\\\\..\\\\', 1)),
    ),
    # checksums and sizes
    Package("DIM checksum wrong", "checksum-mismatch", garble_checksum(MS_DIM)),
    Package("volume checksum wrong", "checksum-mismatch", garble_checksum("VOL_*.XML")),
    Package("checksum of a file never staged", "missing-file", claim("IMG_GHOST/IMG_R1C1.TIF")),
    Package("announced size of one byte", "oversized", event={"announced_size_bytes": 1}),
    # staged file names
    Package("staged name with a colon", "unsafe-path", objects={"C:x.TIF": b"II*\x00"}),
    Package("staged file is also a folder", "unsafe-path", objects={"EXTRA": b"x", "EXTRA/y": b"y"}),
    Package(
        "staged outside the staging bucket",
        "unsafe-path",
        event={"staging": StagingLocation(bucket="uploads", prefix="airbus/x/")},
    ),
    Package(
        "nothing staged",
        "missing-file",
        event={"staging": StagingLocation(bucket="staging", prefix=f"airbus/empty-{uuid.uuid4().hex[:8]}/")},
    ),
    # images
    Package("image of zero bytes", "corrupt-raster", write_bytes(PAN_TILE, lambda x: b"")),
    Package("image is a VRT reading /etc/passwd", "corrupt-raster", write_bytes(PAN_TILE, lambda x: VRT)),
    Package("image is a PNG", "corrupt-raster", write_bytes(PAN_TILE, lambda x: PNG)),
    Package(
        "image a TIFF header and garbage",
        "corrupt-raster",
        write_bytes(PAN_TILE, lambda x: b"II*\x00" + b"\xff" * 4096),
    ),
    Package(
        "image a JPEG 2000 signature and garbage",
        "corrupt-raster",
        write_bytes(PAN_TILE, lambda x: b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00" * 4096),
    ),
    Package(
        "image of other bands than the metadata",
        "corrupt-raster",
        write_bytes(PAN_TILE, lambda x: _tiff(bands=3)),
    ),
]


def _tiff(bands: int) -> bytes:
    """A small georeferenced GeoTIFF of `bands` bands."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    buffer = io.BytesIO()
    with rasterio.MemoryFile() as memory:
        with memory.open(
            driver="GTiff",
            width=64,
            height=64,
            count=bands,
            dtype="uint16",
            crs="EPSG:32631",
            transform=from_origin(600_000, 5_070_000, 1.5, 1.5),
        ) as dst:
            dst.write(np.ones((bands, 64, 64), dtype="uint16"))
        buffer.write(memory.read())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def ingest_service(tmp_path_factory):
    proc = start_service("ingest", PORT, tmp_path_factory.mktemp("hostile-dimap"))
    yield proc
    stop_service(proc)


@pytest.fixture(scope="module")
def s3(settings):
    return clients.s3_client(settings)


@pytest.fixture
async def watcher(settings, ingest_service):
    async with EventWatcher(settings.kafka_bootstrap_servers, TOPICS) as w:
        yield w


def new_scene(**changes: Any) -> SimulatedScene:
    base = dict(
        mission="SPOT6",
        lon=4.85,
        lat=45.75,
        acquired_at=datetime(2026, 6, 12, 10, 31, 4, tzinfo=UTC),
        size=128,
        job_id=str(uuid.uuid4().int)[:10],
        seed=3,
    )
    return SimulatedScene(**{**base, **changes})


def stage(s3, package: Package, tmp_path: Path) -> tuple[SimulatedScene, SceneAcquiredV1]:
    scene = new_scene(**package.scene)
    root = tmp_path / "pkg"
    checksums = write_package(scene, root)
    if package.mutate:
        package.mutate(root, checksums)
    prefix = f"airbus/{scene.job_id}-{uuid.uuid4().hex[:6]}/"
    size = stage_package(s3, root, "staging", prefix)
    for name, data in package.objects.items():
        s3.put_object("staging", prefix + name, io.BytesIO(data), len(data))
        size += len(data)
    event = announce(scene, prefix, checksums, size)
    return scene, event.model_copy(update=package.event)


async def publish(settings, event: SceneAcquiredV1) -> None:
    broker = make_broker(settings)
    await broker.connect()
    try:
        await EventPublisher(broker, "/tests/hostile-dimap").publish(event)
    finally:
        await broker.stop()


def archived(s3, scene_id: str) -> list[str]:
    return [
        o.object_name for o in s3.list_objects("archive", recursive=True) if f"/{scene_id}/" in o.object_name
    ]


def test_there_are_enough_packages_and_each_is_named_once():
    assert len(PACKAGES) >= 30
    assert len({p.name for p in PACKAGES}) == len(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES, ids=str)
async def test_hostile_package_is_rejected_with_its_reason(settings, s3, watcher, tmp_path, package):
    scene, event = stage(s3, package, tmp_path)
    started = time.monotonic()
    await publish(settings, event)
    (rejected,) = await watcher.wait(lambda: watcher.events(SceneRejectedV1, scene.scene_id), REJECTED_S)
    elapsed = time.monotonic() - started
    assert rejected.reason_code == package.code, rejected.reason
    assert rejected.reason and rejected.staging == event.staging
    (letter,) = await watcher.wait(lambda: watcher.dead_letters(SceneAcquiredV1.topic(), scene.scene_id), 30)
    assert (letter["dlq_error_code"], letter["dlq_consumer_group"]) == (package.code, "ingest"), letter
    assert watcher.events(SceneIngestedV1, scene.scene_id) == []
    assert archived(s3, scene.scene_id) == [], "a rejected delivery must leave nothing in the archive"
    assert elapsed < REJECTED_S


async def test_a_valid_package_is_still_ingested(settings, s3, watcher, tmp_path):
    """After every hostile package, the consumer is alive: a good one is archived."""
    scene, event = stage(s3, Package("valid", ""), tmp_path)
    await publish(settings, event)
    (ingested,) = await watcher.wait(lambda: watcher.events(SceneIngestedV1, scene.scene_id), 120)
    assert ingested.version == 1 and archived(s3, scene.scene_id)
    assert watcher.events(SceneRejectedV1, scene.scene_id) == []
