"""DIMAP v2 parsing, on GDAL's test products (copied, MIT) and on real Airbus
deliveries read from ../shared/data (not copied: AGPL and Airbus rights)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dinamis_ingest.domain.dimap import parse_dim, volume_components
from dinamis_ingest.domain.rejections import DeliveryRejected, safe_join
from dinamis_shared.events import Mission, RejectionReason

FIXTURES = Path(__file__).with_name("fixtures") / "gdal-dimap2"
REAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "dimap" / "terradue-stars"
real_data = pytest.mark.skipif(
    not REAL.is_dir(), reason="needs ../shared/data (the CEO's sample folder, not in a user's clone)"
)


def test_pleiades_neo_ms_fs_over_lyon():
    img = parse_dim((FIXTURES / "vhr2020_ms_fs/MS-FS/DIM_MS-FS.XML").read_bytes(), "MS-FS/DIM_MS-FS.XML")
    assert img.mission is Mission.PNEO4 and img.processing_level == "ORTHO"
    assert img.spectral_processing == "MS-FS"
    assert img.acquired_at == datetime(2017, 4, 12, 11, 6, 2, 94000, tzinfo=UTC)
    # Stored order: the RGB file's bands, then the NED file's (its Raster_Index_List), not
    # the order of Band_Spectral_Range (which puts DB before RE).
    assert [b.id for b in img.bands] == ["R", "G", "B", "NIR", "RE", "DB"]
    assert img.data_files == ["MS-FS/IMG_RGB_R1C1.TIF", "MS-FS/IMG_NED_R1C1.TIF"]
    assert 4.9 < img.footprint[0][0] < 5.0 and 45.7 < img.footprint[0][1] < 45.8
    assert img.gsd and img.gsd > 1  # the nominal spacing is in degrees: GSD comes from metres


def test_volume_lists_its_components():
    vol = (FIXTURES / "bundle/VOL_PHR.XML").read_bytes()
    assert volume_components(vol, "VOL_PHR.XML") == ["DIM_foo.XML", "DIM_foo2.XML"]


@real_data
@pytest.mark.parametrize(
    "dim, mission, level, spectral, epsg, cloud, n_refs",
    [
        (
            "SPOT/data/*/PROD_SPOT6_001/VOL_SPOT6_001_A/IMG_SPOT6_PMS_001_A/DIM_*.XML",
            "SPOT6",
            "ORTHO",
            "PMS",
            32719,
            0.0,
            20,
        ),
        (
            "PLEIADES/ORT/data/5881313101/IMG_PHR1A_PMS_001/DIM_*.XML",
            "PHR1A",
            "ORTHO",
            "PMS",
            32618,
            1.84,
            13,
        ),
        ("PLEIADES/ORT/data/5897098101/IMG_PHR1A_P_001/DIM_*.XML", "PHR1A", "SENSOR", "P", 4326, 61.87, 13),
    ],
)
def test_real_airbus_deliveries(dim, mission, level, spectral, epsg, cloud, n_refs):
    (path,) = REAL.glob(dim)
    img = parse_dim(path.read_bytes(), "IMG/" + path.name)
    assert (img.mission.value, img.processing_level, img.spectral_processing) == (mission, level, spectral)
    assert img.epsg == epsg and img.cloud_cover == cloud
    assert len(img.footprint) == 4 and img.incidence_angle is not None and img.sun_elevation is not None
    assert len(img.referenced_files) == n_refs  # masks, lineage, previews, RPC...
    assert all(f.startswith("IMG/") for f in img.referenced_files + img.data_files)


def _dim(**replace: str) -> bytes:
    xml = (FIXTURES / "vhr2020_ms_fs/MS-FS/DIM_MS-FS.XML").read_text()
    for old, new in replace.items():
        assert old in xml
        xml = xml.replace(old, new)
    return xml.encode()


@pytest.mark.parametrize(
    "data, reason",
    [
        (_dim(**{"<MISSION>PNEO</MISSION>": "<MISSION>LANDSAT</MISSION>"}), RejectionReason.UNKNOWN_MISSION),
        (_dim(**{'href="IMG_RGB_R1C1.TIF"': 'href="../../IMG_RGB_R1C1.TIF"'}), RejectionReason.UNSAFE_PATH),
        (_dim(**{'href="IMG_RGB_R1C1.TIF"': 'href="/etc/passwd"'}), RejectionReason.UNSAFE_PATH),
        (b"<Dimap_Document><unclosed></Dimap_Document>", RejectionReason.INVALID_METADATA),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Dimap_Document>&e;'
            b"</Dimap_Document>",
            RejectionReason.INVALID_METADATA,
        ),
        (b"<Something/>", RejectionReason.INVALID_METADATA),
    ],
    ids=["unknown-mission", "traversal", "absolute", "malformed", "external-entity", "not-dimap"],
)
def test_hostile_or_wrong_metadata_is_rejected(data, reason):
    with pytest.raises(DeliveryRejected) as err:
        parse_dim(data, "MS-FS/DIM_MS-FS.XML")
    assert err.value.reason is reason


@pytest.mark.parametrize("href", ["../x", "a/../../x", "/x", "C:\\x", "a\\..\\x", "s3://bucket/x"])
def test_safe_join_refuses_escapes(href):
    with pytest.raises(DeliveryRejected):
        safe_join("IMG_1", href)


def test_safe_join_keeps_inner_paths():
    assert safe_join("IMG_1", "MASKS/./CLD.GML") == "IMG_1/MASKS/CLD.GML"
