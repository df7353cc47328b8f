"""AOI rules (pure): validation, repair, limits, and no pathological slowness."""

import time

import pytest
from shapely.geometry import shape

from dinamis_orders.domain.aoi import (
    MAX_PARTS,
    MIN_CLIP_AREA_KM2,
    AoiOutsideFootprint,
    InvalidAoi,
    clip_warnings,
    covered_share,
    parse_aoi,
    request_aoi,
)
from dinamis_shared.events import SensorFamily


def square(x: float, y: float, d: float) -> list:
    return [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]


def test_area_is_geodesic():
    # 0.1 x 0.1 degree at 45 N: about 11.1 km x 7.9 km
    aoi = parse_aoi({"type": "Polygon", "coordinates": square(3.0, 45.0, 0.1)})
    assert 86 < aoi.area_km2 < 89 and not aoi.warnings


def test_overlapping_parts_are_repaired_fast():
    """make_valid on many overlapping parts used to take minutes (a denial of service)."""
    parts = [square(3 + i * 0.001, 45 + i * 0.001, 0.05) for i in range(MAX_PARTS)]
    t0 = time.perf_counter()
    aoi = parse_aoi({"type": "MultiPolygon", "coordinates": parts})
    assert time.perf_counter() - t0 < 2.0
    assert aoi.warnings and aoi.geometry.is_valid


@pytest.mark.parametrize(
    ("geojson", "code"),
    [
        ({"type": "MultiPolygon", "coordinates": [square(3, 45, 0.01)] * (MAX_PARTS + 1)}, "aoi-too-complex"),
        ({"type": "Polygon", "coordinates": [[[10**400, 1], [2, 1], [2, 2], [10**400, 1]]]}, "invalid-aoi"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[179.5, 10], [-179.5, 10], [-179.5, 11], [179.5, 11], [179.5, 10]]],
            },
            "aoi-antimeridian",
        ),
        ({"type": "Polygon", "coordinates": square(200, 45, 1)}, "aoi-crs"),
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "aoi-type"),
    ],
)
def test_refused_with_a_reason(geojson, code):
    with pytest.raises(InvalidAoi) as err:
        parse_aoi(geojson)
    assert err.value.code == code and err.value.message_fr


def test_minimum_area_per_sensor():
    small = {"type": "Polygon", "coordinates": square(3, 45, 0.05)}  # ~21.8 km²
    with pytest.raises(InvalidAoi) as err:
        parse_aoi(small, SensorFamily.PLEIADES_NEO)
    assert err.value.code == "aoi-too-small"


def test_covered_share():
    aoi = parse_aoi({"type": "Polygon", "coordinates": square(3, 45, 0.1)}).geometry
    half = parse_aoi(
        {"type": "Polygon", "coordinates": [[[3, 45], [3.05, 45], [3.05, 45.1], [3, 45.1], [3, 45]]]}
    )
    assert covered_share(aoi, [half.geometry]) == pytest.approx(0.5, abs=0.01)
    assert covered_share(aoi, []) == 0.0


# --- refusals and warnings of plausibility -----------------------------------------

WORLD = [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]]
# ~ 7 x 5.5 km near Clermont-Ferrand, and the same with latitude and longitude swapped.
FIELD = [[[3.05, 45.75], [3.14, 45.75], [3.14, 45.80], [3.05, 45.80], [3.05, 45.75]]]
SWAPPED = [[[y, x] for x, y in FIELD[0]]]


@pytest.mark.parametrize(
    "geojson",
    [
        {"type": "Polygon", "coordinates": WORLD},
        {"type": "MultiPolygon", "coordinates": [WORLD]},
        {
            "type": "Polygon",
            "coordinates": [[[-179.9, -60], [179.9, -60], [179.9, 60], [-179.9, 60], [-179.9, -60]]],
        },
        # 2° wide across 180°: too large read either way (about 24,000 km² the short way).
        {"type": "Polygon", "coordinates": [[[179, 10], [-179, 10], [-179, 11], [179, 11], [179, 10]]]},
    ],
)
def test_the_whole_world_is_too_large_not_an_antimeridian_crossing(geojson):
    with pytest.raises(InvalidAoi) as err:
        parse_aoi(geojson, SensorFamily.SPOT, max_km2=20_000)
    assert err.value.code == "aoi-too-large", err.value.message
    assert "km²" in err.value.message_fr


@pytest.mark.parametrize(
    "geojson",
    [
        {"type": "Polygon", "coordinates": [FIELD[0][:-1]]},
        {
            "type": "Polygon",
            "coordinates": [square(3, 45, 0.2)[0], [[3.05, 45.05], [3.1, 45.05], [3.1, 45.1]]],
        },
        {"type": "MultiPolygon", "coordinates": [FIELD, [SWAPPED[0][:-1]]]},
    ],
)
def test_an_unclosed_ring_is_refused_not_closed(geojson):
    with pytest.raises(InvalidAoi) as err:
        parse_aoi(geojson)
    assert err.value.code == "aoi-ring-not-closed" and "RFC 7946" in err.value.message_fr


def test_an_aoi_far_from_france_is_allowed_with_a_warning():
    swapped = request_aoi({"type": "Polygon", "coordinates": SWAPPED}, SensorFamily.PLEIADES_NEO, 20_000)
    [warning] = swapped.warnings
    assert warning.code == "aoi-outside-france" and "inversées" in warning.message_fr
    assert warning.as_dict() == {
        "code": warning.code,
        "message": warning.message_fr,
        "message_en": warning.message,
    }
    assert not request_aoi(
        {"type": "Polygon", "coordinates": FIELD}, SensorFamily.PLEIADES_NEO, 20_000
    ).warnings


@pytest.mark.parametrize(
    ("name", "x", "y"),
    [
        ("Corse", 9.0, 42.0),
        ("Bretagne, côte", -4.7, 48.3),
        ("Guadeloupe", -61.6, 16.1),
        ("Guyane", -53.0, 4.0),
        ("La Réunion", 55.4, -21.2),
        ("Mayotte", 45.1, -12.85),
        ("Nouvelle-Calédonie", 166.4, -22.3),
        ("Polynésie (Tahiti)", -149.6, -17.7),
        ("Saint-Pierre", -56.25, 46.8),
        ("Kerguelen", 69.5, -49.4),
    ],
)
def test_france_and_its_overseas_territories_get_no_warning(name, x, y):
    aoi = request_aoi({"type": "Polygon", "coordinates": square(x, y, 0.1)}, SensorFamily.PLEIADES, 20_000)
    assert [w.code for w in aoi.warnings] == [], name


@pytest.mark.parametrize(("x", "y"), [(-74.0, 40.7), (116.4, 39.9), (13.4, 52.5), (-3.7, 40.4)])
def test_elsewhere_gets_the_warning(x, y):
    aoi = request_aoi({"type": "Polygon", "coordinates": square(x, y, 0.1)}, SensorFamily.PLEIADES, 20_000)
    assert [w.code for w in aoi.warnings] == ["aoi-outside-france"]


def test_a_sliver_is_too_small_to_clip():
    # About 1 m x 1 m at 45° N.
    sliver = {"type": "Polygon", "coordinates": square(3.0, 45.0, 0.00001)}
    with pytest.raises(InvalidAoi) as err:
        parse_aoi(sliver, min_km2=MIN_CLIP_AREA_KM2)
    assert err.value.code == "aoi-too-small" and "m²" in err.value.message_fr
    # 200 m x 200 m passes.
    assert parse_aoi({"type": "Polygon", "coordinates": square(3.0, 45.0, 0.0026)}, min_km2=MIN_CLIP_AREA_KM2)


def test_a_clip_aoi_must_fall_on_the_scene():
    scene = shape({"type": "Polygon", "coordinates": square(3.0, 45.0, 0.1)})
    inside = parse_aoi({"type": "Polygon", "coordinates": square(3.02, 45.02, 0.02)})
    assert clip_warnings(inside, scene, "IT") == []
    half = parse_aoi({"type": "Polygon", "coordinates": square(3.09, 45.02, 0.02)})
    [warning] = clip_warnings(half, scene, "IT")
    assert warning.code == "aoi-partly-outside-footprint" and "50%" in warning.message_fr
    away = parse_aoi({"type": "Polygon", "coordinates": square(4.0, 45.0, 0.02)})
    with pytest.raises(AoiOutsideFootprint) as err:
        clip_warnings(away, scene, "IT")
    assert err.value.code == "aoi-outside-footprint" and err.value.http_status == 422
    # Touching the scene's edge only (a 1 m strip in common) is missing it too.
    edge = parse_aoi({"type": "Polygon", "coordinates": square(3.09999, 45.02, 0.02)})
    with pytest.raises(AoiOutsideFootprint):
        clip_warnings(edge, scene, "IT")
