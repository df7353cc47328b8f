"""Band selection by name follows the item's `eo:bands` order, which is the archived
COG's stored order (SPOT 6/7: B2 B1 B0 B3 = red, green, blue, NIR), and a COG whose
bands disagree with its item is refused rather than delivered with the wrong bands."""

from __future__ import annotations

import pytest

from dinamis_delivery.domain.products import SourceImage, band_mismatch, plan_product, source_images
from dinamis_shared.events import ProductFailureReason, ProductSpec

FOOT = {
    "type": "Polygon",
    "coordinates": [[[4.84, 45.74], [4.86, 45.74], [4.86, 45.76], [4.84, 45.76], [4.84, 45.74]]],
}
SPOT_ITEM = {
    "id": "SPOT6-1",
    "collection": "spot-6-7-ortho",
    "geometry": FOOT,
    "properties": {"proj:code": "EPSG:32631"},
    "assets": {
        "ms": {
            "href": "http://127.0.0.1:8333/archive/c/x/ms.tif",
            "roles": ["data"],
            "eo:bands": [
                {"name": "B2", "common_name": "red", "center_wavelength": 0.66},
                {"name": "B1", "common_name": "green", "center_wavelength": 0.56},
                {"name": "B0", "common_name": "blue", "center_wavelength": 0.49},
                {"name": "B3", "common_name": "nir", "center_wavelength": 0.82},
            ],
        }
    },
}


def spec(bands: list[str]) -> ProductSpec:
    return ProductSpec(product_id="p1", collection="spot-6-7-ortho", item_id="SPOT6-1", bands=bands)


@pytest.mark.parametrize(
    "asked, indexes, names",
    [
        (["red", "nir"], (1, 4), ("B2", "B3")),
        (["blue", "green", "red"], (3, 2, 1), ("B0", "B1", "B2")),
        (["B0"], (3,), ("B0",)),
        (["b3", "B2"], (4, 1), ("B3", "B2")),
    ],
)
def test_bands_are_picked_at_their_stored_position(asked, indexes, names):
    plan = plan_product("o1", spec(asked), SPOT_ITEM)
    assert plan.band_indexes == indexes and plan.band_names == names


def test_matching_cog_is_accepted():
    ms = source_images(SPOT_ITEM)["ms"]
    assert band_mismatch(ms, 4, ("B2", "B1", "B0", "B3")) is None
    assert band_mismatch(ms, 4, (None, None, None, None)) is None  # a COG that names nothing


@pytest.mark.parametrize(
    "count, descriptions, words",
    [
        (4, ("B0", "B1", "B2", "B3"), ["B0, B1, B2, B3", "ingested again"]),
        (3, ("B2", "B1", "B0"), ["3 bands", "lists 4"]),
    ],
    ids=["other-order", "other-count"],
)
def test_cog_disagreeing_with_its_item_is_refused(count, descriptions, words):
    ms: SourceImage = source_images(SPOT_ITEM)["ms"]
    refused = band_mismatch(ms, count, descriptions)
    assert refused is not None and refused.reason is ProductFailureReason.SOURCE_UNREADABLE
    assert all(w in refused.en for w in words) and refused.fr != refused.en
