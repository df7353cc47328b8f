"""Inputs built to exhaust the portal (from the security review): each is refused quickly
with its French-first problem, and a normal request is served meanwhile. Each case runs in a
thread the test waits for at most 20 s: without the guards they took minutes or crashed the
process (GEOS' recursive WKT reader)."""

from __future__ import annotations

import concurrent.futures
import io
import json
import math
import zipfile

import pytest
import shapefile
from shapely.geometry import Polygon, mapping

from dinamis_portal.aoi import codec
from dinamis_portal.aoi.parsers import AoiProblem, parse_text, parse_upload
from dinamis_portal.aoi.review import review, simplify
from dinamis_shared.aoi import InvalidAoi, parse_aoi


def star(points: int, cx: float = 4.8, cy: float = 45.7, r: float = 0.05) -> Polygon:
    """A star whose every edge crosses about half the others (points² / 2 crossings)."""
    k = points // 2 - 1
    return Polygon(
        [
            (cx + r * math.cos(i * k * 2 * math.pi / points), cy + r * math.sin(i * k * 2 * math.pi / points))
            for i in range(points)
        ]
    )


def within(seconds: float, work):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result(timeout=seconds)


def refusal(work) -> str:
    def run() -> str:
        try:
            work()
        except (AoiProblem, InvalidAoi) as problem:
            return str(getattr(problem, "code", ""))
        return "accepted"

    return within(20, run)


@pytest.mark.parametrize("points", [100, 1_000, 9_000])
def test_a_tangled_star_is_refused_not_repaired(points):
    geojson = json.loads(json.dumps(mapping(star(points))))
    assert refusal(lambda: parse_aoi(geojson)) == "aoi-self-intersections"
    wkt = star(points).wkt
    reviewed = within(20, lambda: review(parse_text(wkt)))
    assert reviewed.geometry is None and not reviewed.usable
    assert "aoi-self-intersections" in [f.code for p in reviewed.polygons for f in p.findings]
    assert refusal(lambda: simplify(star(points))) == "aoi-self-intersections"


def test_a_star_in_the_url_code_is_refused_quickly():
    code = codec.encode(star(250))
    geometry = codec.decode(code)
    assert refusal(lambda: parse_aoi(json.loads(json.dumps(mapping(geometry))))) == "aoi-self-intersections"


def test_a_simple_bow_tie_is_still_repaired():
    bow = {
        "type": "Polygon",
        "coordinates": [[[4.8, 45.7], [4.9, 45.8], [4.9, 45.7], [4.8, 45.8], [4.8, 45.7]]],
    }
    aoi = within(20, lambda: parse_aoi(bow))
    assert [w.code for w in aoi.warnings] == ["aoi-repaired"] and aoi.area_km2 > 40


@pytest.mark.parametrize("depth", [4, 1_000, 30_000])
def test_nested_wkt_never_reaches_geos(depth):
    text = "GEOMETRYCOLLECTION(" * depth + "POLYGON((0 0,1 0,1 1,0 0))" + ")" * depth
    assert refusal(lambda: parse_text(text)) == "aoi-wkt-depth"
    deep = "MULTIPOLYGON(" + "(" * depth + "0 0,1 0,1 1,0 0" + ")" * depth + ")"
    assert refusal(lambda: parse_text(deep)) in ("aoi-wkt-depth", "aoi-wkt")


def test_deeply_nested_kml_is_read_in_linear_time():
    n = 40_000
    kml = (
        "<kml>"
        + "<Polygon><outerBoundaryIs>" * n
        + "<coordinates>0,0 1,0 1,1 0,0</coordinates>"
        + "</outerBoundaryIs></Polygon>" * n
        + "</kml>"
    )
    # Only the ring's own coordinates are read (the nested ones are not a ring of it).
    assert refusal(lambda: parse_text(kml)) == "aoi-ring"


def test_a_shapefile_record_with_thousands_of_rings_is_refused_before_pyshp_sorts_them():
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    writer = shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POLYGON)
    writer.field("id", "N")
    rings = []
    for i in range(8_000):
        x, y = 2 + (i % 200) * 0.001, 46 + (i // 200) * 0.001
        rings.append([(x, y), (x, y + 0.0009), (x + 0.0009, y + 0.0009), (x + 0.0009, y), (x, y)])
        hx = 10 + i * 1e-6
        rings.append([(hx, 40), (hx + 1e-7, 40), (hx + 1e-7, 40 + 1e-7), (hx, 40 + 1e-7), (hx, 40)])
    writer.poly(rings)
    writer.record(1)
    writer.close()
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as z:
        for name, part in (("a.shp", shp), ("a.shx", shx), ("a.dbf", dbf)):
            z.writestr(name, part.getvalue())
    assert refusal(lambda: parse_upload("a.zip", packed.getvalue())) == "aoi-shp-parts"
