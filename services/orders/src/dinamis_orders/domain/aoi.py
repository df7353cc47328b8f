"""Areas of interest (pure): validation, repair, geodesic area, overlap shares.

An AOI is a GeoJSON Polygon or MultiPolygon in WGS84 (lon, lat). Invalid rings
(self-intersections, wrong orientation) are repaired when the repair keeps a polygonal
area, and the caller is told; anything else is refused with the reason. An AOI that
crosses the antimeridian is refused (split it at 180°): GeoJSON gives no way to tell
a 359°-wide polygon from a 1°-wide one that wraps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from dinamis_shared.errors import DinamisError
from dinamis_shared.events import SensorFamily

GEOD = Geod(ellps="WGS84")
MAX_VERTICES = 10_000
MAX_PARTS = 100  # polygons in a MultiPolygon
# Smallest orderable area per sensor family (km²), as the supplier sells them.
MIN_AREA_KM2 = {SensorFamily.PLEIADES: 25.0, SensorFamily.PLEIADES_NEO: 25.0, SensorFamily.SPOT: 100.0}


class InvalidAoi(DinamisError):
    code = "invalid-aoi"
    http_status = 422


def _refuse(fr: str, en: str, code: str = "invalid-aoi") -> InvalidAoi:
    return InvalidAoi(en, code=code, message_fr=fr)


@dataclass
class Aoi:
    geometry: BaseGeometry
    area_km2: float
    warnings: list[str] = field(default_factory=list)

    def geojson(self) -> dict:
        rounded = _rounded(mapping(self.geometry))
        assert isinstance(rounded, dict)
        return rounded


def _rounded(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_rounded(v) for v in obj]
    if isinstance(obj, float):
        return round(obj, 9)
    return obj


def geodesic_km2(geometry: BaseGeometry) -> float:
    if geometry.is_empty:
        return 0.0
    area, _ = GEOD.geometry_area_perimeter(geometry)
    return abs(area) / 1e6


def _count_vertices(coords: object, depth: int = 0) -> int:
    if depth > 4 or not isinstance(coords, list):
        raise _refuse("coordonnées mal formées", "malformed coordinates")
    if coords and all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords):
        return 1
    return sum(_count_vertices(c, depth + 1) for c in coords)


def parse_aoi(geojson: object, family: SensorFamily | None = None, max_km2: float = 20_000.0) -> Aoi:
    if not isinstance(geojson, dict) or geojson.get("type") not in ("Polygon", "MultiPolygon"):
        raise _refuse(
            "la zone doit être un Polygon ou MultiPolygon GeoJSON",
            "the AOI must be a GeoJSON Polygon or MultiPolygon",
            "aoi-type",
        )
    coords = geojson.get("coordinates")
    if _count_vertices(coords) > MAX_VERTICES:
        raise _refuse(
            f"plus de {MAX_VERTICES} sommets : simplifiez la zone",
            f"more than {MAX_VERTICES} vertices: simplify the AOI",
            "aoi-too-complex",
        )
    if geojson["type"] == "MultiPolygon" and isinstance(coords, list) and len(coords) > MAX_PARTS:
        raise _refuse(
            f"plus de {MAX_PARTS} polygones : regroupez la zone",
            f"more than {MAX_PARTS} polygons: merge the AOI",
            "aoi-too-complex",
        )
    try:
        geometry = shape({"type": geojson["type"], "coordinates": coords})
    except (
        ValueError,
        TypeError,
        IndexError,
        AttributeError,
        OverflowError,
        shapely.errors.GEOSException,
    ) as exc:
        raise _refuse(f"géométrie illisible : {exc}", f"unreadable geometry: {exc}") from exc
    if geometry.is_empty:
        raise _refuse("zone vide", "empty AOI")
    if geometry.has_z:
        geometry = shapely.force_2d(geometry)
    xs, ys = shapely.get_coordinates(geometry).T
    if not (all(map(math.isfinite, xs)) and all(map(math.isfinite, ys))):
        raise _refuse("coordonnées non finies", "non-finite coordinates")
    if xs.min() < -180 or xs.max() > 180 or ys.min() < -90 or ys.max() > 90:
        raise _refuse(
            "coordonnées hors de WGS84 (lon ±180, lat ±90) : la zone doit être en EPSG:4326",
            "coordinates outside WGS84 (lon ±180, lat ±90): the AOI must be in EPSG:4326",
            "aoi-crs",
        )
    if xs.max() - xs.min() > 180:
        raise _refuse(
            "la zone traverse l'antiméridien : découpez-la en deux polygones à 180°",
            "the AOI crosses the antimeridian: split it into two polygons at 180°",
            "aoi-antimeridian",
        )
    warnings = []
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        # Overlapping parts make `make_valid` explode in time (minutes for 2,000 squares):
        # dissolve the parts first, which is fast, then repair what remains.
        parts = list(getattr(geometry, "geoms", [geometry]))
        repaired = shapely.make_valid(shapely.union_all([shapely.make_valid(p) for p in parts]))
        polygons = [
            g for g in getattr(repaired, "geoms", [repaired]) if isinstance(g, Polygon | MultiPolygon)
        ]
        repaired = shapely.union_all(polygons) if polygons else None
        if repaired is None or repaired.is_empty or not repaired.is_valid:
            raise _refuse(
                f"géométrie invalide et irréparable : {reason}", f"invalid, unrepairable geometry: {reason}"
            )
        warnings.append(f"géométrie réparée ({reason}) / geometry repaired ({reason})")
        geometry = repaired
    area = geodesic_km2(geometry)
    if area <= 0:
        raise _refuse("surface nulle", "zero area")
    if family is not None and area < MIN_AREA_KM2[family]:
        raise _refuse(
            f"{area:.2f} km² : en dessous du minimum de {MIN_AREA_KM2[family]:g} km² pour {family}",
            f"{area:.2f} km²: below the {MIN_AREA_KM2[family]:g} km² minimum for {family}",
            "aoi-too-small",
        )
    if area > max_km2:
        raise _refuse(
            f"{area:.0f} km² : au-delà du maximum de {max_km2:g} km² par demande",
            f"{area:.0f} km²: above the {max_km2:g} km² maximum per request",
            "aoi-too-large",
        )
    return Aoi(geometry=geometry, area_km2=round(area, 6), warnings=warnings)


def covered_share(aoi: BaseGeometry, footprints: list[BaseGeometry]) -> float:
    """Share (0..1) of the AOI's geodesic area covered by the union of the footprints."""
    valid = [f if f.is_valid else shapely.make_valid(f) for f in footprints if not f.is_empty]
    if not valid:
        return 0.0
    covered = shapely.intersection(aoi, shapely.union_all(valid))
    total = geodesic_km2(aoi)
    return min(1.0, round(geodesic_km2(covered) / total, 6)) if total else 0.0
