"""STAC items built from parsed DIMAP metadata (pure)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

from dinamis_ingest.domain.catalog import ArchivedAsset, build_item, collection_id
from dinamis_ingest.domain.dimap import parse_dim
from dinamis_shared.events import Mission
from dinamis_shared.stac import validate_item

DIM = Path(__file__).with_name("fixtures") / "gdal-dimap2" / "vhr2020_ms_fs" / "MS-FS" / "DIM_MS-FS.XML"


def _item(epsg: int | None = 4326, footprint=None):
    image = parse_dim(DIM.read_bytes(), "MS-FS/DIM_MS-FS.XML")
    asset = ArchivedAsset(
        "ms",
        "http://s3/archive/x/ms.tif",
        "image/tiff",
        ["data"],
        10,
        "ab" * 32,
        "MS",
        image=image,
        shape=(1366, 1663),
        transform=(1.0, 0, 0, 0, -1.0, 0),
    )
    return build_item(
        scene_id="PNEO4-x",
        collection="pleiades-neo-ortho",
        version=1,
        primary=image,
        primary_epsg=epsg,
        footprint=footprint or image.footprint,
        assets=[asset],
        created=datetime(2026, 1, 1, tzinfo=UTC),
        supplier_product_id="1",
        predecessor_href=None,
        collection_href="http://catalog/collections/x",
    )


def test_item_is_valid_and_bands_follow_the_image_order():
    item = _item()
    assert validate_item(item) == []
    bands = item["assets"]["ms"]["eo:bands"]
    # The metadata lists R, G, B, NIR, DB, RE; GDAL puts RE 5th and DB 6th.
    assert [b["name"] for b in bands] == ["R", "G", "B", "NIR", "RE", "DB"]
    assert [b["common_name"] for b in bands] == ["red", "green", "blue", "nir", "rededge", "coastal"]
    assert item["assets"]["ms"]["file:checksum"] == "1220" + "ab" * 32


def test_footprint_ring_is_counter_clockwise_and_closed():
    clockwise = [(0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0)]
    ring = _item(footprint=clockwise)["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))
    assert area2 > 0


def test_sensor_image_without_crs_has_a_null_proj_code():
    item = _item(epsg=None)
    assert item["properties"]["proj:code"] is None and validate_item(item) == []


def test_collections():
    assert collection_id(Mission.SPOT7, "ORTHO", None) == "spot-6-7-ortho"
    assert collection_id(Mission.PHR1B, "SENSOR", None) == "pleiades-sensor"
    assert collection_id(Mission.SPOT6, "ORTHO", "france-2026") == "spot-6-7-france-2026"
