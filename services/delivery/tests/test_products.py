"""Pure rules of products: keys, option checks, clipping, access."""

from __future__ import annotations

import copy

import pytest

from dinamis_delivery.domain.products import (
    ProductRefused,
    clip_to_aoi,
    may_access,
    object_key,
    plan_product,
    product_key,
)
from dinamis_shared.auth import Principal, Role
from dinamis_shared.events import ProductFailureReason, ProductSpec

FOOT = {
    "type": "Polygon",
    "coordinates": [[[4.84, 45.74], [4.86, 45.74], [4.86, 45.76], [4.84, 45.76], [4.84, 45.74]]],
}


def band(name, common, wl):
    return {"name": name, "eo:common_name": common, "eo:center_wavelength": wl}


ITEM = {
    "id": "PNEO4-1",
    "collection": "pleiades-neo-ortho",
    "geometry": FOOT,
    "properties": {"proj:code": "EPSG:32631"},
    "assets": {
        "pan": {
            "href": "http://127.0.0.1:8333/archive/c/x/pan.tif",
            "roles": ["data"],
            "bands": [band("P", "pan", 0.65)],
        },
        "ms": {
            "href": "http://127.0.0.1:8333/archive/c/x/ms.tif",
            "roles": ["data"],
            "bands": [
                band("R", "red", 0.655),
                band("G", "green", 0.55),
                band("B", "blue", 0.485),
                band("NIR", "nir", 0.825),
                band("DB", "coastal", 0.425),
            ],
        },
        "thumbnail": {"href": "http://127.0.0.1:8102/x.png", "roles": ["thumbnail"]},
    },
}


def spec(**kw) -> ProductSpec:
    return ProductSpec(
        product_id=kw.pop("product_id", "p1"), collection="pleiades-neo-ortho", item_id="PNEO4-1", **kw
    )


def box(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def refused(s: ProductSpec, item=ITEM) -> ProductRefused:
    with pytest.raises(ProductRefused) as info:
        plan_product("o1", s, item)
    assert " / " in info.value.text
    return info.value


def test_product_key_is_order_item_and_options_not_the_line_id():
    a, b = spec(product_id="p1", bands=["R"]), spec(product_id="p2", bands=["R"])
    assert product_key("o1", a) == product_key("o1", b)
    assert product_key("o1", a) != product_key("o2", a)
    assert product_key("o1", a) != product_key("o1", spec(bands=["G"]))
    assert product_key("o1", a) != product_key("o1", spec(bands=["R"], format="JP2"))
    key = product_key("o1", a)
    assert object_key("o1", a, key) == f"o1/PNEO4-1-{key[:20]}.tif"
    assert object_key("o1", spec(format="JP2"), key).endswith(".jp2")


def test_defaults_ms_in_lambert93_and_pansharpen_uses_both_images():
    plan = plan_product("o1", spec(aoi=box(4.845, 45.745, 4.85, 45.75)), ITEM)
    assert (
        plan.source.role == "ms"
        and plan.band_names == ("R", "G", "B", "NIR", "DB")
        and plan.dst_crs == "EPSG:2154"
    )
    assert plan.source.key == "c/x/ms.tif" and plan.pan is None
    sharp = plan_product("o1", spec(pansharpen=True, bands=["nir", "red"]), ITEM)
    assert sharp.pan is not None and sharp.band_indexes == (4, 1) and sharp.band_names == ("NIR", "R")
    assert sharp.clip is None and sharp.footprint == FOOT
    # The pseudo-PAN uses the MS bands inside the PAN range (not the deep blue).
    assert sharp.pan_weights == (0.25, 0.25, 0.25, 0.25, 0.0)
    assert plan_product("o1", spec(bands=["P"], crs="native"), ITEM).dst_crs is None


@pytest.mark.parametrize(
    "kw, code, words",
    [
        ({"bands": ["SWIR"]}, ProductFailureReason.UNSUPPORTED_OPTION, ["SWIR", "NIR"]),
        ({"bands": ["P", "R"]}, ProductFailureReason.UNSUPPORTED_OPTION, ["pansharpening"]),
        ({"bands": ["P"], "pansharpen": True}, ProductFailureReason.UNSUPPORTED_OPTION, ["MS"]),
        ({"bands": ["R", "r"]}, ProductFailureReason.UNSUPPORTED_OPTION, ["twice"]),
        ({"bands": []}, ProductFailureReason.UNSUPPORTED_OPTION, ["empty"]),
        ({"crs": "EPSG:99999"}, ProductFailureReason.UNSUPPORTED_OPTION, ["unknown CRS"]),
        ({"crs": "EPSG:4978"}, ProductFailureReason.UNSUPPORTED_OPTION, ["2D map"]),
        ({"crs": "EPSG:3855"}, ProductFailureReason.UNSUPPORTED_OPTION, ["2D map"]),
        ({"crs": "EPSG:2975"}, ProductFailureReason.UNSUPPORTED_OPTION, ["meant for"]),
        ({"aoi": box(10, 10, 10.1, 10.1)}, ProductFailureReason.AOI_OUTSIDE_SCENE, ["does not intersect"]),
        (
            {
                "aoi": {
                    "type": "Polygon",
                    "coordinates": [
                        [[4.84, 45.74], [4.86, 45.76], [4.86, 45.74], [4.84, 45.76], [4.84, 45.74]]
                    ],
                }
            },
            ProductFailureReason.UNSUPPORTED_OPTION,
            ["invalid", "Self-intersection"],
        ),
        ({"aoi": box(4.85, 45.75, 4.85, 45.76)}, ProductFailureReason.UNSUPPORTED_OPTION, ["invalid"]),
    ],
)
def test_bad_options_are_refused_with_an_actionable_reason(kw, code, words):
    error = refused(spec(**kw))
    assert error.reason == code
    for word in words:
        assert word in error.text


def test_native_needs_a_map_projection_and_pansharpen_needs_pan():
    sensor = copy.deepcopy(ITEM)
    sensor["properties"]["proj:code"] = None
    assert "map projection" in refused(spec(crs="native"), sensor).text
    ms_only = copy.deepcopy(ITEM)
    del ms_only["assets"]["pan"]
    assert "PAN" in refused(spec(pansharpen=True), ms_only).en


def test_assets_outside_the_archive_are_not_read():
    hostile = copy.deepcopy(ITEM)
    hostile["assets"]["ms"]["href"] = "http://127.0.0.1:8333/delivery/someone-else.tif"
    assert refused(spec(), hostile).reason == ProductFailureReason.SOURCE_UNREADABLE


def test_clip_is_the_part_of_the_aoi_inside_the_scene():
    clip = clip_to_aoi(box(4.85, 45.75, 4.90, 45.80), FOOT)
    from shapely.geometry import shape

    assert shape(clip).equals(shape(box(4.85, 45.75, 4.86, 45.76)))
    assert clip_to_aoi(None, FOOT) is None


def test_only_the_organisation_and_staff_may_access():
    member = Principal(user_id="u", organisation_id="org-a", roles=frozenset({Role.MEMBER}))
    stranger = Principal(user_id="v", organisation_id="org-b", roles=frozenset({Role.MEMBER, Role.REFERENT}))
    operator = Principal(user_id="w", organisation_id="dinamis", roles=frozenset({Role.OPERATOR}))
    assert may_access(member, "org-a") and not may_access(stranger, "org-a") and may_access(operator, "org-a")
