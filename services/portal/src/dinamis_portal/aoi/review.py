"""The review step: each polygon read, its area (km², geodesic on the WGS84 ellipsoid,
computed here on the server), its vertices, and what is wrong or doubtful about it, in
French and English. The rules are the platform's (`dinamis_shared.aoi`, which the orders
service applies to the same geometry): repair of self-intersections, the vertex and
part limits, closed rings; the portal adds only warnings that refuse nothing: a sliver,
a very small polygon, a polygon far from France.

Then the whole AOI (the union of the usable polygons) with its code for the page's URL,
or the reason it cannot be used, and an offer to simplify when there are too many
vertices."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from dinamis_portal.aoi import codec
from dinamis_portal.aoi.parsers import AoiProblem, Note, Parsed
from dinamis_shared.aoi import (
    GEOD,
    MAX_PARTS,
    MAX_REPAIRED_CROSSINGS,
    MAX_VERTICES,
    MIN_CLIP_AREA_KM2,
    InvalidAoi,
    crossings_exceed,
    parse_aoi,
)
from dinamis_shared.territory import near_france

# The widest area a search takes (metropolitan France is about 550,000 km²); orders and
# acquisition requests have their own, smaller, limits, applied by the orders service.
SEARCH_MAX_KM2 = 2_000_000.0
# Polsby-Popper compactness (4πA/P²) below which a polygon is a sliver: a rectangle about
# 100 times longer than wide (a square is 0.785, a disc 1).
SLIVER_COMPACTNESS = 0.03
# Simplification aims at this many vertices at most (and a code that fits the URL).
SIMPLIFY_TARGET = 1_000


@dataclass(frozen=True)
class Finding:
    level: str  # "error" (the polygon is not used) or "warning"
    code: str
    message_fr: str
    message: str


@dataclass
class PolygonReview:
    number: int
    area_km2: float
    vertices: int
    findings: list[Finding] = field(default_factory=list)
    usable: bool = True


@dataclass
class Review:
    polygons: list[PolygonReview]
    notes: list[Note]
    source: str
    geometry: BaseGeometry | None  # the AOI to use (usable polygons, repaired), or None
    area_km2: float
    code: str | None  # for the URL, when it fits
    findings: list[Finding] = field(default_factory=list)  # about the whole AOI
    can_simplify: bool = False
    full_code: str | None = None  # the whole AOI, even when too long for the URL (for "simplifier")

    @property
    def usable(self) -> bool:
        return self.code is not None

    def geojson(self) -> dict | None:
        return as_geojson(self.geometry) if self.geometry is not None else None


def as_geojson(geometry: BaseGeometry) -> dict:
    """GeoJSON with lists (as a client sends it: the shared rules read lists)."""
    return json.loads(shapely.to_geojson(geometry))


def _from_invalid(exc: InvalidAoi) -> Finding:
    return Finding("error", exc.code, exc.message_fr or exc.message, exc.message)


def _compactness(polygon: Polygon) -> float:
    area, perimeter = GEOD.geometry_area_perimeter(polygon)
    return 4 * math.pi * abs(area) / perimeter**2 if perimeter else 0.0


def review_polygon(number: int, polygon: Polygon) -> tuple[PolygonReview, BaseGeometry | None]:
    vertices = int(shapely.get_num_coordinates(polygon))
    findings: list[Finding] = []
    if not polygon.is_valid:
        findings.append(
            Finding(
                "warning",
                "aoi-self-intersection",
                f"géométrie invalide : {shapely.is_valid_reason(polygon)}",
                f"invalid geometry: {shapely.is_valid_reason(polygon)}",
            )
        )
    try:
        aoi = parse_aoi(as_geojson(polygon), max_km2=SEARCH_MAX_KM2)
    except InvalidAoi as exc:
        finding = _from_invalid(exc)
        if exc.code == "aoi-too-complex":
            finding = Finding(
                "error",
                "aoi-too-many-vertices",
                f"{vertices} sommets, plus que les {MAX_VERTICES} admis : utilisez « Simplifier »",
                f"{vertices} vertices, more than the {MAX_VERTICES} allowed: use “Simplify”",
            )
        findings.append(finding)
        area = abs(GEOD.geometry_area_perimeter(polygon)[0]) / 1e6 if polygon.is_valid else 0.0
        return PolygonReview(number, round(area, 4), vertices, findings, usable=False), None
    findings.extend(Finding("warning", w.code, w.message_fr, w.message) for w in aoi.warnings)
    if _compactness(polygon if polygon.is_valid else aoi.geometry) < SLIVER_COMPACTNESS:
        findings.append(
            Finding(
                "warning",
                "aoi-sliver",
                "polygone très effilé (plus de 100 fois plus long que large) : un reste de découpage ?",
                "very thin polygon (over 100 times longer than wide): a leftover from cutting?",
            )
        )
    if aoi.area_km2 < MIN_CLIP_AREA_KM2:
        findings.append(
            Finding(
                "warning",
                "aoi-tiny",
                f"très petite surface ({aoi.area_km2 * 1e6:.0f} m²), sous le minimum d'une découpe "
                f"de produit ({MIN_CLIP_AREA_KM2 * 1e6:g} m²)",
                f"very small area ({aoi.area_km2 * 1e6:.0f} m²), below a product clip's minimum "
                f"({MIN_CLIP_AREA_KM2 * 1e6:g} m²)",
            )
        )
    if not near_france(aoi.geometry):
        c = aoi.geometry.centroid
        findings.append(
            Finding(
                "warning",
                "aoi-outside-france",
                f"loin de la France et des outre-mer (centre {c.x:.3f}, {c.y:.3f}) : "
                "longitude et latitude inversées ?",
                f"far from France and its overseas territories (centre {c.x:.3f}, {c.y:.3f}): "
                "longitude and latitude swapped?",
            )
        )
    return PolygonReview(number, round(aoi.area_km2, 4), vertices, findings), aoi.geometry


def review(parsed: Parsed) -> Review:
    reviews = []
    usable: list[BaseGeometry] = []
    for number, polygon in enumerate(parsed.polygons, start=1):
        item, kept = review_polygon(number, polygon)
        reviews.append(item)
        if kept is not None:
            usable.append(kept)
    total_vertices = sum(r.vertices for r in reviews)
    can_simplify = any(f.code == "aoi-too-many-vertices" for r in reviews for f in r.findings)
    findings: list[Finding] = []
    geometry: BaseGeometry | None = None
    area = 0.0
    code = full_code = None
    if usable:
        union = shapely.union_all(usable)
        try:
            whole = parse_aoi(as_geojson(_polygonal(union)), max_km2=SEARCH_MAX_KM2)
        except InvalidAoi as exc:
            findings.append(_from_invalid(exc))
            can_simplify = can_simplify or exc.code == "aoi-too-complex"
        else:
            geometry, area = whole.geometry, whole.area_km2
            full_code = codec.encode(geometry)
            if len(full_code) <= codec.MAX_URL_CODE:
                code = full_code
            else:
                can_simplify = True
                findings.append(
                    Finding(
                        "error",
                        "aoi-too-detailed-for-url",
                        f"zone trop détaillée pour l'adresse de la page ({total_vertices} sommets) : "
                        "utilisez « Simplifier »",
                        f"area too detailed for the page address ({total_vertices} vertices): use “Simplify”",
                    )
                )
    elif reviews:
        findings.append(
            Finding("error", "aoi-nothing-usable", "aucun polygone utilisable", "no usable polygon")
        )
    if can_simplify and full_code is None:
        # Too many vertices per the rules: keep the polygons read for "simplifier".
        full_code = codec.encode(MultiPolygon([p for p in parsed.polygons if p.is_valid] or parsed.polygons))
    return Review(
        reviews, parsed.notes, parsed.source, geometry, area, code, findings, can_simplify, full_code
    )


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    if isinstance(geometry, Polygon | MultiPolygon):
        return geometry
    parts = [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon)]
    return MultiPolygon(parts)


def simplify(geometry: BaseGeometry) -> tuple[list[Polygon], Note]:
    """The geometry simplified (Douglas-Peucker, topology kept) with the smallest
    tolerance that brings it to `SIMPLIFY_TARGET` vertices and a code that fits the URL."""
    before = int(shapely.get_num_coordinates(geometry))
    if not geometry.is_valid:
        if crossings_exceed(geometry, MAX_REPAIRED_CROSSINGS):  # repairing would take minutes
            raise AoiProblem(
                "aoi-self-intersections",
                "la zone se recoupe trop souvent pour être simplifiée : corrigez-la dans votre SIG",
                "the area crosses itself too often to be simplified: fix it in your GIS",
            )
        geometry = _polygonal(shapely.make_valid(geometry))
    parts = codec.polygons(geometry)
    dropped = 0
    if len(parts) > MAX_PARTS:
        # The rules take at most MAX_PARTS polygons: the largest are kept, and the user told.
        parts.sort(key=lambda p: p.area, reverse=True)
        dropped = len(parts) - MAX_PARTS
        geometry = MultiPolygon(parts[:MAX_PARTS])
    tolerance = 1e-5
    simplified = geometry
    for _ in range(24):
        simplified = shapely.simplify(geometry, tolerance, preserve_topology=True)
        if (
            int(shapely.get_num_coordinates(simplified)) <= SIMPLIFY_TARGET
            and len(codec.encode(_polygonal(simplified))) <= codec.MAX_URL_CODE
        ):
            break
        tolerance *= 2
    else:
        raise AoiProblem(
            "aoi-simplify-failed",
            "la zone ne se simplifie pas assez : découpez-la ou regroupez ses parties",
            "the area cannot be simplified enough: cut it or merge its parts",
        )
    after = int(shapely.get_num_coordinates(simplified))
    metres = tolerance * 111_000
    fr = f"zone simplifiée : {before} → {after} sommets (écart toléré d'environ {metres:,.0f} m)".replace(
        ",", " "
    )
    en = f"area simplified: {before} → {after} vertices (tolerance about {metres:,.0f} m)"
    if dropped:
        fr += f" ; les {dropped} plus petites parties retirées (au plus {MAX_PARTS} polygones)"
        en += f"; the {dropped} smallest parts removed (at most {MAX_PARTS} polygons)"
    note = Note("aoi-simplified", fr, en)
    polygons = [p for p in codec.polygons(_polygonal(simplified)) if not p.is_empty]
    return polygons, note


def combined(parsed: Parsed) -> BaseGeometry:
    """The AOI a form field stands for (see `parse_aoi_field`)."""
    result = review(parsed)
    if result.geometry is None:
        first = next((f for r in result.polygons for f in r.findings if f.level == "error"), None)
        first = first or next((f for f in result.findings if f.level == "error"), None)
        if first is None:
            raise AoiProblem("aoi-nothing-usable", "aucun polygone utilisable", "no usable polygon")
        raise AoiProblem(first.code, first.message_fr, first.message)
    return result.geometry
