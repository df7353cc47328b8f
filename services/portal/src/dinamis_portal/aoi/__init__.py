"""Areas of interest in the portal: reading what users paste or upload (`parsers`), the
review step (`review`, with the platform's rules from `dinamis_shared.aoi`), the compact
code that carries an AOI in the page's URL (`codec`), and `parse_aoi_field` for the
other pages' forms (`<textarea name="aoi">`)."""

from __future__ import annotations

from typing import Any

from dinamis_portal.aoi.parsers import AoiProblem, Parsed, parse_text, parse_upload
from dinamis_portal.aoi.review import Review, as_geojson, combined, review

__all__ = ["AoiProblem", "Parsed", "Review", "parse_aoi_field", "parse_text", "parse_upload", "review"]


def parse_aoi_field(text: str) -> dict[str, Any] | AoiProblem:
    """The AOI of a form's `aoi` field (GeoJSON geometry, Feature or FeatureCollection —
    or anything the paste box reads: bbox, WKT, KML, GPX) as ONE GeoJSON geometry
    (Polygon or MultiPolygon, WGS84, closed rings, self-intersections repaired), or the
    problem (French first) to show beside the field. Never raises for bad input. The
    service the form goes to applies its own limits (area, sensor minimum) and says so."""
    try:
        geometry = combined(parse_text(text))
    except AoiProblem as problem:
        return problem
    return as_geojson(geometry)
