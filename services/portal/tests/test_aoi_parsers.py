"""The AOI parsers, the review step and the URL code: every format, real files from the
shared test data, and hostile input (each a French-first problem, never a crash)."""

from __future__ import annotations

import io
import json
import math
import time
import zipfile
from pathlib import Path

import pytest
import shapefile
import shapely
from pyproj import Geod

from dinamis_portal.aoi import AoiProblem, codec, parse_aoi_field, parse_text, parse_upload, review
from dinamis_portal.aoi.parsers import MAX_JSON_DEPTH, MAX_READ_VERTICES, MAX_ZIP_MEMBERS, Parsed
from dinamis_portal.aoi.review import simplify
from dinamis_shared.aoi import MAX_VERTICES
from tests.integration.aoi_support import (
    LYON_LONLAT,
    kml,
    kmz,
    lambert93_prj,
    lyon_lambert93_zip,
    shapefile_zip,
    to_lambert93,
    zip_of,
)

DATA = Path("/work/shared/data/aoi/france-geojson")
GEOD = Geod(ellps="WGS84")
LYON_KM2 = abs(GEOD.geometry_area_perimeter(shapely.Polygon(LYON_LONLAT))[0]) / 1e6


def problem(call, *args) -> AoiProblem:
    with pytest.raises(AoiProblem) as caught:
        call(*args)
    assert (
        caught.value.message_fr and caught.value.message and caught.value.message_fr != caught.value.message
    )
    return caught.value


# ---------------------------------------------------------------------------- formats


def test_a_bbox_is_a_rectangle_with_its_geodesic_area():
    parsed = parse_text("4.80,45.72,4.90,45.80")
    assert parsed.source == "bbox" and len(parsed.polygons) == 1
    result = review(parsed)
    assert result.area_km2 == pytest.approx(LYON_KM2, rel=1e-6) and 60 < result.area_km2 < 80
    assert result.code and result.polygons[0].findings == []
    assert problem(parse_text, "4.9,45.7,4.8,45.8").code == "aoi-bbox"
    assert problem(parse_text, "200,45,201,46").code == "aoi-crs"


def test_wkt_polygons_and_srid_reprojection():
    parsed = parse_text("POLYGON((4.8 45.72, 4.9 45.72, 4.9 45.8, 4.8 45.8, 4.8 45.72))")
    assert parsed.source == "wkt" and review(parsed).area_km2 == pytest.approx(LYON_KM2, rel=1e-6)
    ring = ", ".join(f"{x} {y}" for x, y in to_lambert93(LYON_LONLAT))
    moved = parse_text(f"SRID=2154;POLYGON(({ring}))")
    assert moved.notes[0].code == "aoi-reprojected" and "Lambert-93" in moved.notes[0].message_fr
    assert review(moved).area_km2 == pytest.approx(LYON_KM2, rel=1e-3)
    assert problem(parse_text, "POLYGON((0 0, 1 1").code == "aoi-wkt"
    assert problem(parse_text, "POLYGON((0 0, nan 1, 1 0, 0 0))").code == "aoi-coordinates"


def test_geojson_geometry_feature_and_collection_with_real_files():
    # The shared data: a bare Feature (MultiPolygon) and a FeatureCollection of 13 regions.
    france = parse_upload(
        "metropole-version-simplifiee.geojson", (DATA / "metropole-version-simplifiee.geojson").read_bytes()
    )
    assert france.source == "geojson" and len(france.polygons) >= 10
    result = review(france)
    assert 540_000 < result.area_km2 < 560_000  # metropolitan France, about 550,000 km²
    regions = parse_upload("regions.geojson", (DATA / "regions-version-simplifiee.geojson").read_bytes())
    assert len(regions.polygons) >= 13
    geometry = {"type": "Polygon", "coordinates": [[list(p) for p in LYON_LONLAT]]}
    for doc in (geometry, {"type": "Feature", "geometry": geometry, "properties": {}}):
        assert review(parse_text(json.dumps(doc))).area_km2 == pytest.approx(LYON_KM2, rel=1e-6)
    mixed = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": geometry, "properties": {}},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [4.8, 45.7]}, "properties": {}},
        ],
    }
    parsed = parse_text(json.dumps(mixed))
    assert len(parsed.polygons) == 1 and parsed.notes[0].code == "aoi-skipped-non-surface"
    assert problem(parse_text, '{"type": "Point", "coordinates": [4.8, 45.7]}').code == "aoi-no-polygon"


def test_geojson_with_an_old_crs_member_is_reprojected():
    ring = [list(p) for p in to_lambert93(LYON_LONLAT)]
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}},
        "features": [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {}}
        ],
    }
    parsed = parse_text(json.dumps(doc))
    assert review(parsed).area_km2 == pytest.approx(LYON_KM2, rel=1e-3)


def test_kml_and_kmz():
    parsed = parse_text(kml([LYON_LONLAT]))
    assert parsed.source == "kml" and review(parsed).area_km2 == pytest.approx(LYON_KM2, rel=1e-6)
    parsed = parse_upload("zone.kmz", kmz([LYON_LONLAT, [(x + 1, y) for x, y in LYON_LONLAT]]))
    assert parsed.source == "kmz" and len(parsed.polygons) == 2
    assert problem(parse_upload, "zone.kmz", zip_of({"readme.txt": b"no kml"})).code == "aoi-kmz"


def gpx(points, kind="trk") -> str:
    body = "".join(f'<{kind}pt lat="{y}" lon="{x}"/>' for x, y in points)
    inner = f"<trk><trkseg>{body}</trkseg></trk>" if kind == "trk" else f"<rte>{body}</rte>"
    return f'<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">{inner}</gpx>'


def test_gpx_closed_tracks_and_routes_are_polygons_open_ones_a_clear_error():
    for kind in ("trk", "rte"):
        parsed = parse_upload("tour.gpx", gpx(LYON_LONLAT, kind).encode())
        assert parsed.source == "gpx" and review(parsed).area_km2 == pytest.approx(LYON_KM2, rel=1e-6)
    # Ends 20 m apart: closed; 5 km apart: an open line, refused with the reason.
    nearly = [*LYON_LONLAT[:-1], (4.80, 45.7202)]
    assert len(parse_upload("t.gpx", gpx(nearly).encode()).polygons) == 1
    refused = problem(parse_upload, "t.gpx", gpx(LYON_LONLAT[:-1]).encode())
    assert refused.code == "aoi-gpx-open" and "fermé" in refused.message_fr


def test_zipped_shapefile_in_lambert93_is_reprojected_from_its_prj():
    parsed = parse_upload("lyon.zip", lyon_lambert93_zip())
    assert parsed.source == "shapefile" and len(parsed.polygons) == 1
    assert parsed.notes[0].code == "aoi-reprojected" and "EPSG:2154" in parsed.notes[0].message_fr
    xs, ys = shapely.get_coordinates(parsed.polygons[0]).T
    assert 4.79 < xs.min() < 4.81 and 45.79 < ys.max() < 45.81
    assert review(parsed).area_km2 == pytest.approx(LYON_KM2, rel=1e-3)


def test_shapefile_without_prj_is_assumed_wgs84_only_when_degrees_are_plausible_and_says_so():
    parsed = parse_upload("z.zip", shapefile_zip([LYON_LONLAT], prj=None))
    assert parsed.notes[0].code == "aoi-crs-assumed" and "supposées en WGS 84" in parsed.notes[0].message_fr
    refused = problem(parse_upload, "z.zip", shapefile_zip([to_lambert93(LYON_LONLAT)], prj=None))
    assert refused.code == "aoi-crs-missing" and ".prj" in refused.message_fr


def test_shapefile_refusals():
    assert problem(parse_upload, "z.zip", zip_of({"a.txt": b"x"})).code == "aoi-shapefile"
    only_shp = zip_of({"z.shp": b"\x00" * 100})
    assert problem(parse_upload, "z.zip", only_shp).code == "aoi-shapefile"
    lines = shapefile_zip([LYON_LONLAT], prj=lambert93_prj(), shape_type=shapefile.POLYLINE)
    assert problem(parse_upload, "z.zip", lines).code == "aoi-shapefile-type"
    assert problem(parse_upload, "z.shp", b"\x00\x00\x27\x0a").code == "aoi-shapefile"
    garbage = zip_of({"z.shp": b"garbage" * 10, "z.shx": b"garbage", "z.dbf": b"garbage"})
    assert problem(parse_upload, "z.zip", garbage).code == "aoi-shapefile"
    assert problem(parse_upload, "z.zip", b"PK\x03\x04 not a zip").code == "aoi-zip"


# ---------------------------------------------------------------------------- hostile input


def test_zip_bombs_are_refused_without_inflating_them():
    bomb = zip_of({"z.shp": b"\x00" * (60 * 1024 * 1024), "z.shx": b"", "z.dbf": b""})
    assert len(bomb) < 200_000
    started = time.monotonic()
    assert problem(parse_upload, "z.zip", bomb).code == "aoi-zip-bomb"
    assert time.monotonic() - started < 2
    ratio = zip_of({"doc.kml": b" " * (5 * 1024 * 1024)})  # 5 MB at a ratio above 100
    assert problem(parse_upload, "z.kmz", ratio).code == "aoi-zip-bomb"
    many = zip_of({f"f{i}.txt": b"x" for i in range(MAX_ZIP_MEMBERS + 1)})
    assert problem(parse_upload, "z.zip", many).code == "aoi-zip-members"


def test_a_zip_whose_header_lies_about_a_members_size_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("doc.kml", kml([LYON_LONLAT]))
    data = bytearray(out.getvalue())
    # Shrink the declared size in the central directory: reading must not trust it.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    assert problem(parse_upload, "z.kmz", bytes(data)).code in ("aoi-zip", "aoi-zip-bomb")


def test_xml_entities_and_dtds_are_refused():
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        "<kml><Document><name>&b;</name></Document></kml>"
    )
    assert problem(parse_text, laughs).code == "aoi-xml-forbidden"
    external = '<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY x SYSTEM "file:///etc/passwd">]><gpx>&x;</gpx>'
    assert problem(parse_upload, "x.gpx", external.encode()).code == "aoi-xml-forbidden"
    assert problem(parse_text, "<kml><unclosed></kml>").code == "aoi-xml"
    assert problem(parse_text, "<svg></svg>").code == "aoi-format"


def test_deeply_nested_json_and_non_finite_numbers_are_refused():
    deep = "[" * 100_000 + "]" * 100_000
    assert problem(parse_text, deep).code == "aoi-json-depth"
    nested = (
        '{"type": "Polygon", "coordinates": ' + "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1) + "}"
    )
    assert problem(parse_text, nested).code == "aoi-json-depth"
    for bad in ("NaN", "Infinity", "-Infinity"):
        doc = '{"type": "Polygon", "coordinates": [[[0, 0], [1, ' + bad + "], [1, 0], [0, 0]]]}"
        assert problem(parse_text, doc).code == "aoi-coordinates"
    huge = '{"type": "Polygon", "coordinates": [[[0, 0], [1, 1e400], [1, 0], [0, 0]]]}'
    assert problem(parse_text, huge).code == "aoi-coordinates"
    assert (
        problem(parse_text, '{"type": "Polygon", "coordinates": [[[0, 0], ["a", 1]]]}').code
        == "aoi-coordinates"
    )
    assert problem(parse_text, '{"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}').code == "aoi-geojson"
    assert problem(parse_text, "{not json").code == "aoi-json"


def test_too_many_vertices_refused_at_read_and_simplify_offered_under_the_rules():
    n = MAX_READ_VERTICES + 10
    ring = [
        [
            round(4.8 + 0.1 * math.cos(2 * math.pi * i / n), 5),
            round(45.7 + 0.1 * math.sin(2 * math.pi * i / n), 5),
        ]
        for i in range(n)
    ]
    ring.append(ring[0])
    doc = json.dumps({"type": "Polygon", "coordinates": [ring]})
    assert problem(parse_text, doc).code == "aoi-too-many-vertices"
    # Above the rules' limit (dinamis_shared.aoi.MAX_VERTICES) but readable: the review says
    # so, the polygon is not used, and "simplifier" is offered; its result is usable.
    n = MAX_VERTICES + 500
    ring = [
        [4.8 + 0.1 * math.cos(2 * math.pi * i / n), 45.7 + 0.1 * math.sin(2 * math.pi * i / n)]
        for i in range(n)
    ]
    ring.append(ring[0])
    result = review(parse_text(json.dumps({"type": "Polygon", "coordinates": [ring]})))
    assert not result.usable and result.can_simplify and result.full_code
    assert result.polygons[0].findings[0].code == "aoi-too-many-vertices"
    polygons, note = simplify(codec.decode(result.full_code, max_len=10**7, max_decoded=10**8))
    again = review(Parsed(polygons, "simplified", [note]))
    assert again.usable and again.area_km2 == pytest.approx(
        math.pi * 0.1 * 0.1 * 111.32**2 * math.cos(math.radians(45.7)), rel=0.02
    )
    assert "sommets" in note.message_fr


def test_oversized_text_and_files_are_refused():
    assert problem(parse_text, " " * (6 * 1024 * 1024)).code == "aoi-too-big"
    assert problem(parse_upload, "a.geojson", b"{" * (11 * 1024 * 1024)).code == "aoi-too-big"
    assert problem(parse_upload, "a.geojson", b"").code == "aoi-empty"
    assert problem(parse_upload, "a.bin", b"\xff\xfe\x00binary").code == "aoi-format"


# ---------------------------------------------------------------------------- review findings


def test_review_findings_self_intersection_sliver_outside_france():
    bowtie = review(parse_text("POLYGON((4.8 45.7, 4.9 45.8, 4.9 45.7, 4.8 45.8, 4.8 45.7))"))
    codes = [f.code for f in bowtie.polygons[0].findings]
    assert "aoi-self-intersection" in codes and "aoi-repaired" in codes and bowtie.usable
    assert "Self-intersection" in bowtie.polygons[0].findings[0].message_fr
    sliver = review(parse_text("4.8,45.7,4.9,45.7005"))
    assert [f.code for f in sliver.polygons[0].findings] == ["aoi-sliver"]
    far = review(parse_text("45.7,4.8,45.8,4.9"))  # latitude and longitude swapped
    assert [f.code for f in far.polygons[0].findings] == ["aoi-outside-france"]
    assert "inversées" in far.polygons[0].findings[0].message_fr


def test_url_code_round_trip_and_refusals():
    parsed = parse_upload("regions.geojson", (DATA / "regions-version-simplifiee.geojson").read_bytes())
    result = review(parsed)
    assert result.can_simplify and result.code is None  # 13 regions: too detailed for a URL
    polygons, _ = simplify(codec.decode(result.full_code, max_len=10**7, max_decoded=10**8))
    code = review(Parsed(polygons, "simplified")).code
    assert code and len(code) <= codec.MAX_URL_CODE
    back = codec.decode(code)
    assert abs(back.area - shapely.union_all(polygons).area) / back.area < 1e-3
    for bad in ("", "p2.abc", "p1.!!!", "p1." + "A" * 50, "p1." + "A" * (codec.MAX_URL_CODE + 1)):
        with pytest.raises(AoiProblem):
            codec.decode(bad)


def test_parse_aoi_field_gives_one_geometry_or_a_problem():
    geometry = parse_aoi_field("4.8,45.72,4.9,45.8")
    assert isinstance(geometry, dict) and geometry["type"] == "Polygon"
    assert geometry["coordinates"][0][0] == geometry["coordinates"][0][-1]
    two = parse_aoi_field(kml([LYON_LONLAT, [(x + 1, y) for x, y in LYON_LONLAT]]))
    assert isinstance(two, dict) and two["type"] == "MultiPolygon"
    refused = parse_aoi_field("nonsense")
    assert isinstance(refused, AoiProblem) and refused.code == "aoi-format"
