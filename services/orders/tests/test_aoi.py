"""AOI rules (pure): validation, repair, limits, and no pathological slowness."""

import time

import pytest

from dinamis_orders.domain.aoi import MAX_PARTS, InvalidAoi, covered_share, parse_aoi
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
            {"type": "Polygon", "coordinates": [[[179, 10], [-179, 10], [-179, 11], [179, 11], [179, 10]]]},
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
