"""The estimate of a product order (`POST /v1/product-orders/quote`) on fakes: the same
checks as placing, nothing reserved, the covered area and the size per item."""

from __future__ import annotations

import pytest
from shapely.geometry import shape

from dinamis_orders.domain.aoi import AoiOutsideFootprint, geodesic_km2
from dinamis_orders.service import product_orders, product_quotes
from dinamis_orders.service.product_orders import ItemNotFound, ProductOrderDraft
from dinamis_shared.auth import Forbidden

from .conftest import square

ITEM = {"collection": "pleiades-neo-ortho", "item_id": "ITEM-1"}


@pytest.fixture
async def member(orders):
    principal = await orders.member_org()
    orders.catalogue.items.add(("pleiades-neo-ortho", "ITEM-1"))
    raw = await orders.catalogue.item("pleiades-neo-ortho", "ITEM-1")
    assert raw is not None
    raw["assets"]["pan"]["gsd"] = 0.3
    raw["assets"]["ms"]["gsd"] = 1.2
    orders.catalogue.documents[("pleiades-neo-ortho", "ITEM-1")] = raw
    return principal


def draft(**options) -> ProductOrderDraft:
    return ProductOrderDraft.model_validate({"items": [ITEM], **options})


async def test_a_quote_reserves_nothing_and_sizes_the_clip(orders, member):
    orders.settings.product_orders_per_day = 1
    aoi = square(3.08, 45.77, 0.01)
    quoted = await product_quotes.quote(orders, member, draft(aoi=aoi))
    assert orders.daily_slots.taken == {} and orders.product_orders.events == []
    line = quoted["items"][0]
    expected_km2 = geodesic_km2(shape(aoi))
    assert line["area_km2"] == pytest.approx(expected_km2, rel=1e-4)
    assert quoted["aoi_km2"] == pytest.approx(expected_km2, rel=1e-4)
    # No band list: the 6-band MS image at 1.2 m, 2 bytes a sample.
    assert (line["image"], line["band_count"], line["pixel_m"]) == ("ms", 6, 1.2)
    assert line["estimated_bytes"] == pytest.approx(expected_km2 * 1e6 / 1.44 * 6 * 2, abs=4)
    assert quoted["estimated_bytes"] == line["estimated_bytes"]
    assert quoted["options"]["crs"] == "EPSG:2154" and quoted["daily_limit"] == 1
    await product_orders.place(orders, member, draft(aoi=aoi))  # the one slot is still free


async def test_pansharpening_and_bands_change_the_estimate(orders, member):
    aoi = square(3.08, 45.77, 0.01)
    sharp = (
        await product_quotes.quote(
            orders, member, draft(aoi=aoi, pansharpen=True, bands=["red", "green", "blue"])
        )
    )["items"][0]
    pan = (await product_quotes.quote(orders, member, draft(aoi=aoi, bands=["P"])))["items"][0]
    assert (sharp["image"], sharp["band_count"], sharp["pixel_m"]) == ("ms", 3, 0.3)
    assert (pan["image"], pan["band_count"], pan["pixel_m"]) == ("pan", 1, 0.3)
    assert sharp["estimated_bytes"] == 3 * pan["estimated_bytes"]


async def test_whole_scene_without_aoi(orders, member):
    quoted = await product_quotes.quote(orders, member, draft())
    footprint = (await orders.catalogue.item("pleiades-neo-ortho", "ITEM-1"))["geometry"]
    assert quoted["aoi_km2"] is None
    assert quoted["area_km2"] == pytest.approx(geodesic_km2(shape(footprint)), rel=1e-4)


async def test_a_quote_refuses_what_placing_refuses(orders, member):
    with pytest.raises(product_orders.UnsupportedOption):
        await product_quotes.quote(orders, member, draft(bands=["nope"]))
    with pytest.raises(AoiOutsideFootprint):
        await product_quotes.quote(orders, member, draft(aoi=square(-4.5, 48.4, 0.01)))
    with pytest.raises(ItemNotFound):
        await product_quotes.quote(
            orders,
            member,
            ProductOrderDraft.model_validate(
                {"items": [{"collection": "pleiades-neo-ortho", "item_id": "NOPE"}]}
            ),
        )
    stranger = member.model_copy(update={"organisation_id": "org-unknown"})
    with pytest.raises(Forbidden):
        await product_quotes.quote(orders, stranger, draft())
    assert orders.daily_slots.taken == {} and orders.product_orders.events == []
