"""Band identity comes from the metadata's stored order (the order the DIMAP lists the
bands in), not from an assumed B0, B1, B2, B3: SPOT 6/7 store red, green, blue, NIR
(B2 B1 B0 B3). Checked on the real Airbus metadata in ../shared/data (read there, never
copied), on GDAL's PNEO fixture (copied, MIT) and on packages of the project's simulator."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
import rasterio

from dinamis_ingest.domain.catalog import eo_bands
from dinamis_ingest.domain.dimap import parse_dim
from dinamis_ingest.domain.rejections import DeliveryRejected
from dinamis_ingest.service import raster
from dinamis_ingest.service.pipeline import _rgb_bands
from dinamis_shared.events import RejectionReason
from dinamis_sim.simulator import SimulatedScene, write_package

FIXTURES = Path(__file__).with_name("fixtures") / "gdal-dimap2"
REAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "dimap" / "terradue-stars"
real_data = pytest.mark.skipif(
    not REAL.is_dir(), reason="needs ../shared/data (the CEO's sample folder, not in a user's clone)"
)
SPOT6_PMS = "SPOT/data/*/PROD_SPOT6_001/VOL_SPOT6_001_A/IMG_SPOT6_PMS_001_A/DIM_*.XML"
PHR_PMS = "PLEIADES/ORT/data/5881313101/IMG_PHR1A_PMS_001/DIM_*.XML"
PHR_MS = "PLEIADES/ORT/data/5897098101/IMG_PHR1A_MS_002/DIM_*.XML"
PHR_P = "PLEIADES/ORT/data/5897098101/IMG_PHR1A_P_001/DIM_*.XML"


def _listed(path: Path, element: str) -> list[str]:
    """The BAND_IDs of every `element` of a DIMAP file, in document order (read with
    the standard library, independently of the parser under test)."""
    root = ET.fromstring(path.read_bytes())
    return [el.findtext("BAND_ID") for el in root.iter(element)]


@real_data
@pytest.mark.parametrize(
    "dim, stored, common, rgb",
    [
        (SPOT6_PMS, ["B2", "B1", "B0", "B3"], ["red", "green", "blue", "nir"], (1, 2, 3)),
        (PHR_PMS, ["B0", "B1", "B2", "B3"], ["blue", "green", "red", "nir"], (3, 2, 1)),
        (PHR_MS, ["B0", "B1", "B2", "B3"], ["blue", "green", "red", "nir"], (3, 2, 1)),
        (PHR_P, ["P"], ["pan"], (1,)),
    ],
    ids=["spot6-pms", "phr-pms", "phr-ms", "phr-pan"],
)
def test_real_airbus_bands_follow_the_listed_order(dim, stored, common, rgb):
    (path,) = REAL.glob(dim)
    image = parse_dim(path.read_bytes(), "IMG/" + path.name)
    ids = [b.id for b in image.bands]
    assert ids == stored
    # The order is the metadata's own: its spectral-range and histogram lists agree.
    assert ids == _listed(path, "Band_Spectral_Range") == _listed(path, "Histogram_Band")
    bands = eo_bands(image.bands)
    assert [b["name"] for b in bands] == stored and [b["common_name"] for b in bands] == common
    assert _rgb_bands(image) == rgb


@real_data
def test_real_spot6_band_values_stay_with_their_band():
    """The spectral range and calibration of each band are the ones listed under its own
    BAND_ID, wherever it sits in the list (B2 first: red, 0.621-0.698 µm on SPOT 6)."""
    (path,) = REAL.glob(SPOT6_PMS)
    image = parse_dim(path.read_bytes(), "IMG/" + path.name)
    root = ET.fromstring(path.read_bytes())
    for band in image.bands:
        rng = next(r for r in root.iter("Band_Spectral_Range") if r.findtext("BAND_ID") == band.id)
        rad = next(r for r in root.iter("Band_Radiance") if r.findtext("BAND_ID") == band.id)
        scale = 1000 if rng.findtext("MEASURE_UNIT", "").startswith("nano") else 1  # SPOT: nanometres
        listed = (float(rng.findtext("MIN")) / scale, float(rng.findtext("MAX")) / scale)
        assert (band.min_um, band.max_um) == pytest.approx(listed)
        assert band.radiance_gain == float(rad.findtext("GAIN"))
    red = eo_bands(image.bands)[0]
    assert red["name"] == "B2" and 0.62 < red["center_wavelength"] < 0.70


def test_pleiades_neo_split_files_follow_their_raster_index_lists():
    """MS-FS: RGB file then NED file; the spectral list puts DB before RE, the files do not."""
    path = FIXTURES / "vhr2020_ms_fs/MS-FS/DIM_MS-FS.XML"
    image = parse_dim(path.read_bytes(), "MS-FS/DIM_MS-FS.XML")
    assert [b.id for b in image.bands] == ["R", "G", "B", "NIR", "RE", "DB"]
    assert _listed(path, "Band_Spectral_Range") == ["R", "G", "B", "NIR", "DB", "RE"]
    assert _rgb_bands(image) == (1, 2, 3)
    with rasterio.open(path) as src:  # GDAL reads the files in the same order
        assert src.descriptions == ("Red", "Green", "Blue", "NIR", "Red Edge", "Deep Blue")


def _simulated(tmp_path: Path, order: tuple[str, ...] | None, values: dict[str, int]) -> Path:
    scene = SimulatedScene(
        mission="SPOT6",
        lon=4.85,
        lat=45.75,
        acquired_at=datetime(2026, 6, 1, 10, 0, tzinfo=UTC),
        size=32,
        job_id="4242",
        components=("MS",),
        band_order=order,
        band_pixels=lambda band, rows, cols, r0, c0: np.full((rows, cols), values[band], "uint16"),
    )
    write_package(scene, tmp_path / "pkg")
    (dim,) = (tmp_path / "pkg").glob("IMG_*_MS_*/DIM_*.XML")
    return dim


VALUES = {"B2": 1000, "B1": 2000, "B0": 3000, "B3": 4000}  # red, green, blue, nir


def test_simulated_spot_is_stored_like_a_real_delivery(tmp_path):
    dim = _simulated(tmp_path, None, VALUES)
    assert _listed(dim, "Band_Spectral_Range") == _listed(dim, "Histogram_Band") == ["B2", "B1", "B0", "B3"]


@pytest.mark.parametrize(
    "order", [("B2", "B1", "B0", "B3"), ("B0", "B1", "B2", "B3"), ("B3", "B0", "B2", "B1")]
)
def test_archived_cog_names_each_band_by_its_stored_position(tmp_path, order):
    """Whatever the order, band n of the COG holds the pixels of the n-th listed band,
    carries its id and its own spectral range (GDAL's DIMAP driver alone would attach B0's
    range to band 1), and the previews take red, green, blue from the right bands."""
    dim = _simulated(tmp_path, order, VALUES)
    image = parse_dim(dim.read_bytes(), "IMG/" + dim.name)
    assert [b.id for b in image.bands] == list(order)
    cog = tmp_path / "ms.tif"
    raster.to_cog(str(dim), cog, image.bands)
    with rasterio.open(cog) as out:
        assert out.descriptions == order
        for n, band_id in enumerate(order, start=1):
            assert (out.read(n) == VALUES[band_id]).all()
            tags = out.tags(n)
            assert tags["BAND_ID"] == band_id
            listed = re.search(
                rf"<Band_Spectral_Range><BAND_ID>{band_id}</BAND_ID>.*?<MIN>([\d.]+)</MIN>", dim.read_text()
            )
            assert listed and float(tags["SPECTRAL_RANGE_MIN"]) == float(listed.group(1))
    rgb = _rgb_bands(image)
    assert [order[i - 1] for i in rgb] == ["B2", "B1", "B0"]


def _rewrite(dim: Path, pattern: str, repl) -> bytes:
    text, n = re.subn(pattern, repl, dim.read_text(), flags=re.S)
    assert n, pattern
    return text.encode()


def test_lists_that_disagree_on_the_order_are_rejected(tmp_path):
    dim = _simulated(tmp_path, None, VALUES)
    swapped = _rewrite(
        dim,
        r"<Histogram_Band_List>.*?</Histogram_Band_List>",
        lambda m: m.group(0).replace(">B2<", ">TMP<").replace(">B0<", ">B2<").replace(">TMP<", ">B0<"),
    )
    with pytest.raises(DeliveryRejected) as err:
        parse_dim(swapped, "IMG/" + dim.name)
    assert err.value.reason is RejectionReason.INVALID_METADATA and "ambiguous" in str(err.value)


def test_a_band_listed_twice_or_a_wrong_band_count_is_rejected(tmp_path):
    dim = _simulated(tmp_path, None, VALUES)
    twice = _rewrite(dim, r"<BAND_ID>B0</BAND_ID>", "<BAND_ID>B1</BAND_ID>")
    count = _rewrite(dim, r"<NBANDS>4</NBANDS>", "<NBANDS>3</NBANDS>")
    for data in (twice, count):
        with pytest.raises(DeliveryRejected) as err:
            parse_dim(data, "IMG/" + dim.name)
        assert err.value.reason is RejectionReason.INVALID_METADATA


def test_a_cog_cannot_be_labelled_with_more_bands_than_it_has(tmp_path):
    dim = _simulated(tmp_path, None, VALUES)
    image = parse_dim(dim.read_bytes(), "IMG/" + dim.name)
    with pytest.raises(DeliveryRejected) as err:
        raster.to_cog(str(dim), tmp_path / "ms.tif", image.bands[:3])
    assert err.value.reason is RejectionReason.INVALID_METADATA
