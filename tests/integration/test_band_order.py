"""Band order end to end, against the real stack: a SPOT 6 product whose image stores its
bands as B2 B1 B0 B3 (red, green, blue, NIR: how real SPOT 6/7 deliveries store them,
and how their DIMAP lists them) goes through `dinamis-ingest`, `dinamis-catalog` and
`dinamis-delivery`. Every band has its own value and its own marker stripe, so a band
taken for another shows: in the item's `eo:bands`, in the archived COG, in the public
quicklook and thumbnail, and in a product cut with a band selection."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from dinamis_shared import clients
from dinamis_shared.auth import ensure_local_signing_key
from dinamis_shared.events import ProductReadyV1, SceneIngestedV1
from dinamis_sim.simulator import SimulatedScene, announce, stage_package, write_package
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher
from tests.integration.test_delivery import fetch, outcomes, publish, request, source_path, spec
from tests.ports import free_ports

INGEST_PORT, CATALOG_PORT, ORDERS_PORT, DELIVERY_PORT = free_ports(4)
CATALOG = f"http://127.0.0.1:{CATALOG_PORT}"
STORED = ("B2", "B1", "B0", "B3")
COLOUR = {"B2": "red", "B1": "green", "B0": "blue", "B3": "nir"}
BASE = {"B2": 500, "B1": 1500, "B0": 2500, "B3": 3500}  # distinct per band (12-bit data)
MARK = 400  # added in the band's own quarter of the image (red: 1st, green: 2nd...)
QUARTER = {"B2": 0, "B1": 1, "B0": 2, "B3": 3}
SIZE = 160  # pixels; 1.5 m each


def pixels(band: str, rows: int, cols: int, row0: int, col0: int) -> np.ndarray:
    col = np.arange(col0, col0 + cols)[None, :].repeat(rows, axis=0)
    marked = (col * 4 // SIZE) == QUARTER[band]
    return np.where(marked, BASE[band] + MARK, BASE[band]).astype("uint16")


def expected(band: str) -> np.ndarray:
    """One row of `band`, as the supplier wrote it (every row is the same)."""
    return pixels(band, 1, SIZE, 0, 0)[0]


@pytest.fixture(scope="module")
def stack(settings, tmp_path_factory):
    logs = tmp_path_factory.mktemp("bands")
    key_file = logs / "signing-key.pem"
    ensure_local_signing_key(key_file)
    procs = [
        start_service("ingest", INGEST_PORT, logs),
        start_service("catalog", CATALOG_PORT, logs, env={"DINAMIS_CATALOG_PUBLIC_URL": CATALOG}),
    ]
    try:
        orders = f"http://127.0.0.1:{ORDERS_PORT}"
        auth = {"DINAMIS_AUTH_LOCAL_KEY_FILE": str(key_file)}
        procs.append(
            start_service("orders", ORDERS_PORT, logs, env={**auth, "DINAMIS_ORDERS_SUPPLIER_URL": ""})
        )
        procs.append(
            start_service(
                "delivery",
                DELIVERY_PORT,
                logs,
                env={
                    **auth,
                    "DINAMIS_ORDERS_URL": orders,
                    "DINAMIS_DELIVERY_REPLICA_ID": "bands",
                    "DINAMIS_DELIVERY_WORK_DIR": str(logs / "work"),
                    # The test plays the orders service (it publishes the request itself):
                    # delivery does not ask orders about it (test_provenance.py does).
                    "DINAMIS_DELIVERY_VERIFY_EVENT_ISSUER": "false",
                },
            )
        )
        yield logs
    finally:
        for proc in reversed(procs):
            stop_service(proc)


@pytest.fixture(scope="module")
def scene(settings, stack) -> dict:
    """The SPOT 6 MS product, ingested, as the catalog's STAC API serves it."""
    sim = SimulatedScene(
        mission="SPOT6",
        lon=4.85,
        lat=45.75,
        acquired_at=datetime(2026, 7, 3, 10, 40, tzinfo=UTC),
        size=SIZE,
        job_id=str(uuid.uuid4().int)[:10],
        components=("MS",),
        band_order=STORED,
        band_pixels=pixels,
    )
    root = stack / "pkg"
    checksums = write_package(sim, root)
    (tile,) = root.glob("IMG_*_MS_*/IMG_*_R1C1.TIF")
    with rasterio.open(tile) as src:  # the delivered file really stores red first
        assert [int(src.read(n)[0, 0]) for n in range(1, 5)] == [
            BASE[b] + MARK * (QUARTER[b] == 0) for b in STORED
        ]
    s3 = clients.s3_client(settings)
    prefix = f"airbus/{sim.scene_id}/"
    event = announce(sim, prefix, checksums, stage_package(s3, root, "staging", prefix))

    async def go() -> dict:
        async with EventWatcher(settings.kafka_bootstrap_servers, [SceneIngestedV1.topic()]) as w:
            await publish(settings, event)
            (ingested,) = await w.wait(lambda: w.events(SceneIngestedV1, sim.scene_id), 120)
        url = f"{CATALOG}/collections/{ingested.collection}/items/{sim.scene_id}"
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(150):
                response = await http.get(url)
                if response.status_code == 200:
                    return response.json()
                await asyncio.sleep(0.2)
        raise AssertionError(f"{sim.scene_id} not served by the catalog")

    return asyncio.run(go())


def test_item_lists_the_bands_in_stored_order(scene):
    bands = scene["assets"]["ms"].get("eo:bands") or scene["assets"]["ms"]["bands"]
    assert [b["name"] for b in bands] == list(STORED)
    assert [b.get("common_name", b.get("eo:common_name")) for b in bands] == ["red", "green", "blue", "nir"]
    centre = [b.get("center_wavelength", b.get("eo:center_wavelength")) for b in bands]
    assert 0.6 < centre[0] < 0.7 and 0.45 < centre[2] < 0.5 and centre[3] > 0.75  # B2 is red, B0 blue


def test_archived_cog_keeps_the_stored_order_and_names_it(settings, scene, tmp_path):
    with rasterio.open(source_path(settings, scene, "ms", tmp_path)) as cog:
        assert cog.descriptions == STORED and cog.width == SIZE
        for n, band in enumerate(STORED, start=1):
            data = cog.read(n)
            assert (data == expected(band)[None, :]).all(), band
            assert cog.tags(n)["BAND_ID"] == band


def _image(url: str) -> np.ndarray:
    response = httpx.get(url, follow_redirects=True, timeout=10)
    assert response.status_code == 200, response.text[:300]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a plain picture
        with MemoryFile(response.content) as mem, mem.open() as img:
            assert img.count == 3
            return img.read()


@pytest.mark.parametrize("asset, tolerance", [("thumbnail", 0), ("overview", 40)])
def test_public_previews_show_red_green_blue_from_the_right_bands(scene, asset, tolerance):
    """Each channel comes from its band: the red channel is bright in the red band's
    quarter only, and so on; NIR's quarter is dark (NIR is not shown)."""
    href = scene["assets"][asset]["href"]
    assert href.startswith(f"{CATALOG}/previews/")  # the catalog's public route
    rgb = _image(href)
    width = rgb.shape[2]
    for quarter, lit in enumerate(["red", "green", "blue", None]):
        # The middle of the quarter, away from its edges (averaging, JPEG).
        col = slice(quarter * width // 4 + width // 16, (quarter + 1) * width // 4 - width // 16)
        for channel, name in enumerate(["red", "green", "blue"]):
            level = rgb[channel, :, col]
            if name == lit:
                assert level.min() >= 255 - tolerance, (asset, quarter, name, level.min())
            else:
                assert level.max() <= tolerance, (asset, quarter, name, level.max())


async def test_delivered_band_selection_holds_the_named_bands(settings, scene, tmp_path):
    order = request(
        [
            spec(scene, crs="native", bands=["red", "nir"]),
            spec(scene, crs="native", format="JP2", bands=["B0", "green"]),
        ]
    )
    got = await outcomes(settings, order)
    for line, want in zip(order.products, [("B2", "B3"), ("B0", "B1")], strict=True):
        (ready,) = got[line.product_id]
        assert isinstance(ready, ProductReadyV1), ready
        path = fetch(settings, ready.object_key, tmp_path / Path(ready.object_key).name)
        with rasterio.open(path) as out:
            assert out.count == 2 and out.width == SIZE
            if out.driver == "GTiff":
                assert out.descriptions == want
            for n, band in enumerate(want, start=1):
                data = out.read(n)
                assert (data == expected(band)[None, :]).all(), (ready.object_key, band)
