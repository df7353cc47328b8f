"""Areas of interest (pure): validation, repair, geodesic area, overlap shares, and
plausibility warnings — shared by the orders service (its rules) and the portal (which
shows the same checks on its review step before anything is sent).

An AOI is a GeoJSON Polygon or MultiPolygon in WGS84 (lon, lat). Its rings must be
closed (RFC 7946: the last position repeats the first; an open ring is refused, never
closed for the author). Invalid rings (self-intersections, wrong orientation) are
repaired when the repair keeps a polygonal area, and the caller is told; anything else
is refused with the reason. An AOI wider than 180° of longitude is refused as too large
when it is too large however it is read (the whole world), else as crossing the
antimeridian (split it at 180°): GeoJSON gives no way to tell a 359°-wide polygon from
a 1°-wide one that wraps.

Warnings (`AoiWarning`: a code, French and English text) say what is allowed but
implausible: a repaired geometry, an acquisition AOI far from France and its overseas
territories (latitude and longitude swapped?), a clip AOI partly off the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import LineString, MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from dinamis_shared.errors import DinamisError
from dinamis_shared.events import SensorFamily
from dinamis_shared.territory import near_france

GEOD = Geod(ellps="WGS84")
MAX_VERTICES = 10_000
MAX_PARTS = 100  # polygons in a MultiPolygon
# Smallest orderable area per sensor family (km²), as the supplier sells them.
MIN_AREA_KM2 = {SensorFamily.PLEIADES: 25.0, SensorFamily.PLEIADES_NEO: 25.0, SensorFamily.SPOT: 100.0}
# Smallest clip AOI of a product order (km², i.e. 10,000 m²: 100 m x 100 m), and the
# smallest part of it that must fall on the scene.
MIN_CLIP_AREA_KM2 = 0.01
# A clip AOI covering less than this share of itself with the scene gets a warning.
CLIP_COVERED_SHARE_WARN = 0.99
# Equal-area projection for the area of an AOI as drawn (RFC 7946: straight lines in lon/lat).
_EQUAL_AREA = Transformer.from_crs("EPSG:4326", "+proj=cea +datum=WGS84 +units=m", always_xy=True)


class InvalidAoi(DinamisError):
    code = "invalid-aoi"
    http_status = 422


def _refuse(fr: str, en: str, code: str = "invalid-aoi") -> InvalidAoi:
    return InvalidAoi(en, code=code, message_fr=fr)


@dataclass(frozen=True)
class AoiWarning:
    """Allowed, but the author should look again: a stable `code`, French and English text."""

    code: str
    message_fr: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """As answered and stored: `message` in French first, `message_en` in English."""
        return {"code": self.code, "message": self.message_fr, "message_en": self.message}


@dataclass
class Aoi:
    geometry: BaseGeometry
    area_km2: float
    warnings: list[AoiWarning] = field(default_factory=list)

    def warning_dicts(self) -> list[dict[str, str]]:
        return [w.as_dict() for w in self.warnings]

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


def drawn_km2(geometry: BaseGeometry) -> float:
    """Area (km²) of the geometry as drawn in lon/lat (edges straight in degrees, as
    RFC 7946 reads them: -180 to 180 is the whole way round, not a zero-length step)."""
    dense = shapely.segmentize(geometry, 0.5)
    projected = shapely.transform(dense, lambda c: np.column_stack(_EQUAL_AREA.transform(c[:, 0], c[:, 1])))
    return float(projected.area) / 1e6


def _open_ring(geojson: dict) -> bool:
    """Does a ring of the Polygon / MultiPolygon not end where it starts? (Malformed
    coordinates are left for `shape` to refuse.)"""
    coords = geojson.get("coordinates")
    if not isinstance(coords, list):
        return False
    polygons = coords if geojson.get("type") == "MultiPolygon" else [coords]
    for polygon in polygons:
        for ring in polygon if isinstance(polygon, list) else ():
            if isinstance(ring, list) and len(ring) >= 2 and ring[0] != ring[-1]:
                return True
    return False


def _count_vertices(coords: object, depth: int = 0) -> int:
    if depth > 4 or not isinstance(coords, list):
        raise _refuse("coordonnées mal formées", "malformed coordinates")
    if coords and all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords):
        return 1
    return sum(_count_vertices(c, depth + 1) for c in coords)


def parse_aoi(
    geojson: object,
    family: SensorFamily | None = None,
    max_km2: float = 20_000.0,
    *,
    min_km2: float | None = None,
) -> Aoi:
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
    if _open_ring(geojson):
        raise _refuse(
            "anneau non fermé : la dernière position d'un anneau doit répéter la première (RFC 7946)",
            "unclosed ring: a ring's last position must repeat its first (RFC 7946)",
            "aoi-ring-not-closed",
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
        # As drawn it spans more than half the globe; read with the short way across 180°
        # (pyproj's geodesic edges) it may be small. Too large both ways: say so.
        as_drawn, wrapped = drawn_km2(geometry), geodesic_km2(geometry)
        if as_drawn > max_km2 and (wrapped == 0 or wrapped > max_km2):
            raise _too_large(wrapped or as_drawn, max_km2)
        raise _refuse(
            "la zone traverse l'antiméridien : découpez-la en deux polygones à 180°",
            "the AOI crosses the antimeridian: split it into two polygons at 180°",
            "aoi-antimeridian",
        )
    warnings = []
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        if crossings_exceed(geometry, MAX_REPAIRED_CROSSINGS):
            # Repairing costs grow far faster than the crossings (a 100-point star: 5,000
            # crossings, minutes of CPU): a zone this tangled is refused, not repaired.
            raise _refuse(
                f"la zone se recoupe trop souvent pour être réparée ({reason}) : corrigez-la dans votre SIG",
                f"the AOI crosses itself too often to be repaired ({reason}): fix it in your GIS",
                "aoi-self-intersections",
            )
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
        warnings.append(
            AoiWarning("aoi-repaired", f"géométrie réparée ({reason})", f"geometry repaired ({reason})")
        )
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
    if min_km2 is not None and area < min_km2:
        raise _refuse(
            f"{area * 1e6:.0f} m² : en dessous du minimum de {min_km2 * 1e6:g} m² ({min_km2:g} km²)",
            f"{area * 1e6:.0f} m²: below the {min_km2 * 1e6:g} m² ({min_km2:g} km²) minimum",
            "aoi-too-small",
        )
    if area > max_km2:
        raise _too_large(area, max_km2)
    return Aoi(geometry=geometry, area_km2=round(area, 6), warnings=warnings)


MAX_REPAIRED_CROSSINGS = 64


def crossings_exceed(geometry: BaseGeometry, limit: int) -> bool:
    """Do the edges of each polygon cross each other more than `limit` times? Counted
    segment by segment with an R-tree, stopping as soon as the count passes the limit, so
    a star of 10,000 points costs one query, not 50 million intersections."""
    for polygon in getattr(geometry, "geoms", [geometry]):
        if not isinstance(polygon, Polygon):
            continue
        coords = [shapely.get_coordinates(r) for r in (polygon.exterior, *polygon.interiors)]
        segments = [LineString(ring[i : i + 2]) for ring in coords for i in range(len(ring) - 1)]
        tree = shapely.STRtree(segments)
        # Each segment meets itself and its two neighbours at their shared ends.
        crossings = 0
        for segment in segments:
            crossings += max(0, len(tree.query(segment, predicate="intersects")) - 3)
            if crossings > 2 * limit:  # every crossing is counted from both of its segments
                return True
    return False


def _too_large(area: float, max_km2: float) -> InvalidAoi:
    return _refuse(
        f"{area:.0f} km² : au-delà du maximum de {max_km2:g} km² par demande",
        f"{area:.0f} km²: above the {max_km2:g} km² maximum per request",
        "aoi-too-large",
    )


def request_aoi(geojson: object, family: SensorFamily, max_km2: float) -> Aoi:
    """The AOI of an acquisition request (and its quote): `parse_aoi`, and a warning when
    it lies far from France and its overseas territories."""
    aoi = parse_aoi(geojson, family, max_km2)
    if not near_france(aoi.geometry):
        lon, lat = aoi.geometry.centroid.x, aoi.geometry.centroid.y
        aoi.warnings.append(
            AoiWarning(
                "aoi-outside-france",
                f"zone loin de la France et des outre-mer (centre {lon:.3f}, {lat:.3f}) : "
                "longitude et latitude inversées ?",
                f"AOI far from France and its overseas territories (centre {lon:.3f}, {lat:.3f}): "
                "longitude and latitude swapped?",
            )
        )
    return aoi


class AoiOutsideFootprint(InvalidAoi):
    code = "aoi-outside-footprint"


def clip_warnings(aoi: Aoi, footprint: BaseGeometry, item_id: str) -> list[AoiWarning]:
    """A product order's clip AOI against the scene's footprint: refused when (almost)
    nothing of it falls on the scene — the product would be empty — a warning when part
    of it does not."""
    if footprint.is_empty:
        return []
    if not footprint.is_valid:
        footprint = shapely.make_valid(footprint)
    common = geodesic_km2(shapely.intersection(aoi.geometry, footprint))
    if common < MIN_CLIP_AREA_KM2:
        raise AoiOutsideFootprint(
            f"{item_id}: the AOI misses the scene's footprint "
            f"({common * 1e6:.0f} m² in common, at least {MIN_CLIP_AREA_KM2 * 1e6:g} m² needed)",
            message_fr=f"{item_id} : la zone ne recouvre pas l'emprise de la scène "
            f"({common * 1e6:.0f} m² en commun, au moins {MIN_CLIP_AREA_KM2 * 1e6:g} m² requis)",
        )
    share = common / aoi.area_km2 if aoi.area_km2 else 1.0
    if share < CLIP_COVERED_SHARE_WARN:
        return [
            AoiWarning(
                "aoi-partly-outside-footprint",
                f"{item_id} : {share:.0%} de la zone seulement est sur la scène",
                f"{item_id}: only {share:.0%} of the AOI is on the scene",
            )
        ]
    return []


def covered_share(aoi: BaseGeometry, footprints: list[BaseGeometry]) -> float:
    """Share (0..1) of the AOI's geodesic area covered by the union of the footprints."""
    valid = [f if f.is_valid else shapely.make_valid(f) for f in footprints if not f.is_empty]
    if not valid:
        return 0.0
    covered = shapely.intersection(aoi, shapely.union_all(valid))
    total = geodesic_km2(aoi)
    return min(1.0, round(geodesic_km2(covered) / total, 6)) if total else 0.0
