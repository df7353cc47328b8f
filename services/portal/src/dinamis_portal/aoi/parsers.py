"""What a user pastes or uploads, read into polygons in WGS84 (lon, lat): a bbox
(west,south,east,north), WKT, GeoJSON (geometry, Feature, FeatureCollection), KML, KMZ,
GPX (closed tracks and routes) and zipped shapefiles (reprojected from their `.prj`).

Nothing here trusts its input: sizes, zip members, nesting, vertices and coordinates are
capped or checked, XML is read with defusedxml (no DTD, no entity, no external
reference), zip members are read in memory (never extracted) with their real size
counted. Every refusal is an `AoiProblem` (French first, with the English), never a
crash."""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import shapefile
import shapely
from defusedxml import DefusedXmlException
from pyproj import CRS, Geod, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

MAX_TEXT_BYTES = 5 * 1024 * 1024  # a pasted or uploaded text (GeoJSON, WKT, KML, GPX)
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # a file as uploaded (the route's body limit is a bit more)
MAX_ZIP_MEMBERS = 64
MAX_ZIP_TOTAL = 50 * 1024 * 1024  # uncompressed, all members read
MAX_ZIP_RATIO = 100  # uncompressed / compressed, per member
MAX_JSON_DEPTH = 32
MAX_POLYGONS = 1_000
# Read up to this many vertices (the review then says what the AOI rules allow, and offers
# to simplify): beyond, the file is refused outright.
MAX_READ_VERTICES = 200_000
MAX_SHAPE_PARTS = 500  # rings of one shapefile record
GPX_CLOSED_M = 50.0  # a track or route whose ends are this close is a closed outline
GEOD = Geod(ellps="WGS84")
WGS84 = CRS.from_epsg(4326)


class AoiProblem(Exception):
    """A refusal of what was given, with a stable code, French and English texts."""

    def __init__(self, code: str, message_fr: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message_fr = message_fr
        self.message = message


@dataclass(frozen=True)
class Note:
    """Something the user must know about how their input was read (e.g. the CRS
    assumed): shown on the review step."""

    code: str
    message_fr: str
    message: str


@dataclass
class Parsed:
    polygons: list[Polygon]
    source: str  # the format read: bbox, wkt, geojson, kml, kmz, gpx, shapefile
    notes: list[Note] = field(default_factory=list)


# ---------------------------------------------------------------------------- helpers


def _problem(code: str, fr: str, en: str) -> AoiProblem:
    return AoiProblem(code, fr, en)


def _finite(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _problem("aoi-coordinates", "coordonnée non numérique", "a coordinate is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise _problem(
            "aoi-coordinates",
            "coordonnée non finie (NaN ou infini)",
            "a coordinate is not finite (NaN or infinity)",
        )
    return number


def _check_degrees(polygons: list[Polygon]) -> None:
    for polygon in polygons:
        xs, ys = shapely.get_coordinates(polygon).T if not polygon.is_empty else ([], [])
        if len(xs) and (min(xs) < -180 or max(xs) > 180 or min(ys) < -90 or max(ys) > 90):
            raise _problem(
                "aoi-crs",
                "coordonnées hors des degrés WGS 84 (longitude ±180, latitude ±90) : "
                "indiquez le système de coordonnées (fichier .prj, membre crs) ou convertissez en EPSG:4326",
                "coordinates outside WGS 84 degrees (longitude ±180, latitude ±90): give the coordinate "
                "system (.prj file, crs member) or convert to EPSG:4326",
            )


def _count(polygons: Iterable[Polygon]) -> int:
    return sum(int(shapely.get_num_coordinates(p)) for p in polygons)


def _finish(polygons: list[Polygon], source: str, notes: list[Note] | None = None) -> Parsed:
    if not polygons:
        raise _problem(
            "aoi-no-polygon",
            "aucun polygone trouvé (une zone est une surface : polygone, multipolygone, trace fermée)",
            "no polygon found (an area is a surface: polygon, multipolygon, closed track)",
        )
    if len(polygons) > MAX_POLYGONS:
        raise _problem(
            "aoi-too-many-polygons",
            f"plus de {MAX_POLYGONS} polygones : regroupez-les avant l'import",
            f"more than {MAX_POLYGONS} polygons: merge them before importing",
        )
    if _count(polygons) > MAX_READ_VERTICES:
        raise _too_many_vertices()
    for polygon in polygons:
        coords = shapely.get_coordinates(polygon)
        if not all(math.isfinite(v) for v in coords.ravel()):
            raise _problem(
                "aoi-coordinates",
                "coordonnée non finie (NaN ou infini)",
                "a coordinate is not finite (NaN or infinity)",
            )
    _check_degrees(polygons)
    return Parsed([shapely.force_2d(p) for p in polygons], source, notes or [])


def _too_many_vertices() -> AoiProblem:
    return _problem(
        "aoi-too-many-vertices",
        f"plus de {MAX_READ_VERTICES} sommets : simplifiez la zone avant l'import",
        f"more than {MAX_READ_VERTICES} vertices: simplify the area before importing",
    )


def _polygons_of(geometry: BaseGeometry) -> tuple[list[Polygon], int]:
    """The polygons of a geometry, and how many non-surface parts were left out."""
    if isinstance(geometry, Polygon):
        return ([geometry] if not geometry.is_empty else []), 0
    if isinstance(geometry, MultiPolygon):
        return [p for p in geometry.geoms if not p.is_empty], 0
    parts = getattr(geometry, "geoms", None)
    if parts is None:
        return [], 1
    found: list[Polygon] = []
    skipped = 0
    for part in parts:
        polys, skip = _polygons_of(part)
        found.extend(polys)
        skipped += skip
    return found, skipped


def _skipped_note(skipped: int) -> list[Note]:
    if not skipped:
        return []
    return [
        Note(
            "aoi-skipped-non-surface",
            f"{skipped} géométrie(s) non surfacique(s) (points, lignes) ignorée(s)",
            f"{skipped} non-surface geometr{'y' if skipped == 1 else 'ies'} (points, lines) left out",
        )
    ]


def _reproject(polygons: list[Polygon], crs: CRS) -> list[Polygon]:
    transformer = Transformer.from_crs(crs, WGS84, always_xy=True)
    out = []
    for polygon in polygons:
        moved = shapely.transform(polygon, lambda c: _stack(transformer.transform(c[:, 0], c[:, 1])))
        out.append(moved)
    return out


def _stack(xy: Any) -> Any:
    import numpy as np

    return np.column_stack(xy)


def _crs_name(crs: CRS) -> str:
    code = crs.to_epsg()
    return f"{crs.name} (EPSG:{code})" if code else crs.name


# ---------------------------------------------------------------------------- text


BBOX = re.compile(r"^\s*(-?[\d.]+)\s*[,; ]\s*(-?[\d.]+)\s*[,; ]\s*(-?[\d.]+)\s*[,; ]\s*(-?[\d.]+)\s*\Z")
WKT_START = re.compile(
    r"^\s*(SRID=\d{1,6};\s*)?(MULTI)?POLYGON|^\s*(SRID=\d{1,6};\s*)?GEOMETRYCOLLECTION", re.I
)


def parse_text(raw: str) -> Parsed:
    """A pasted text: bbox, WKT, GeoJSON, or KML/GPX as text."""
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise _problem(
            "aoi-too-big",
            f"texte trop long (plus de {MAX_TEXT_BYTES // (1024 * 1024)} Mo)",
            f"text too long (more than {MAX_TEXT_BYTES // (1024 * 1024)} MB)",
        )
    text = raw.strip().lstrip("\ufeff")
    if not text:
        raise _problem("aoi-empty", "rien à lire : collez une zone", "nothing to read: paste an area")
    if BBOX.match(text):
        return parse_bbox(text)
    if text.startswith(("{", "[")):
        return parse_geojson(text)
    if WKT_START.match(text):
        return parse_wkt(text)
    if text.startswith("<"):
        return parse_xml(text.encode("utf-8"))
    raise _problem(
        "aoi-format",
        "format non reconnu : attendu une emprise (ouest,sud,est,nord), du WKT, du GeoJSON, du KML ou du GPX",
        "unknown format: expected a bbox (west,south,east,north), WKT, GeoJSON, KML or GPX",
    )


def parse_bbox(text: str) -> Parsed:
    match = BBOX.match(text)
    if not match:
        raise _problem(
            "aoi-bbox",
            "emprise : quatre nombres attendus (ouest,sud,est,nord)",
            "bbox: four numbers expected",
        )
    try:
        west, south, east, north = (float(v) for v in match.groups())
    except ValueError:
        raise _problem(
            "aoi-bbox",
            "emprise : quatre nombres attendus (ouest,sud,est,nord)",
            "bbox: four numbers expected",
        ) from None
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise _problem(
            "aoi-crs",
            "emprise : longitudes entre -180 et 180, latitudes entre -90 et 90 (degrés WGS 84)",
            "bbox: longitudes between -180 and 180, latitudes between -90 and 90 (WGS 84 degrees)",
        )
    if west >= east or south >= north:
        raise _problem(
            "aoi-bbox",
            "emprise : l'ouest doit être inférieur à l'est et le sud au nord",
            "bbox: west must be less than east, and south less than north",
        )
    return _finish([shapely.box(west, south, east, north)], "bbox")


MAX_WKT_DEPTH = 3


def _paren_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    return deepest


def parse_wkt(text: str) -> Parsed:
    srid = None
    match = re.match(r"^\s*SRID=(\d{1,6});", text, re.I)
    if match:
        srid = int(match.group(1))
        text = text[match.end() :]
    if re.search(r"\b(nan|inf|infinity)\b", text, re.I):
        raise _problem(
            "aoi-coordinates",
            "coordonnée non finie (NaN ou infini)",
            "a coordinate is not finite (NaN or infinity)",
        )
    if text.count(",") + 1 > MAX_READ_VERTICES:
        raise _too_many_vertices()
    # GEOS reads WKT recursively: deep nesting (GEOMETRYCOLLECTION in GEOMETRYCOLLECTION...)
    # overflows its stack and kills the process. A multipolygon is 3 levels deep.
    if _paren_depth(text) > MAX_WKT_DEPTH or re.search(r"GEOMETRYCOLLECTION", text, re.I):
        raise _problem(
            "aoi-wkt-depth",
            "WKT trop imbriqué : donnez des POLYGON ou un MULTIPOLYGON (pas de GEOMETRYCOLLECTION)",
            "WKT nested too deep: give POLYGONs or a MULTIPOLYGON (no GEOMETRYCOLLECTION)",
        )
    try:
        geometry = shapely.from_wkt(text)
    except (shapely.errors.GEOSException, ValueError) as exc:
        raise _problem(
            "aoi-wkt", f"WKT illisible : {str(exc)[:160]}", f"unreadable WKT: {str(exc)[:160]}"
        ) from None
    polygons, skipped = _polygons_of(geometry)
    notes = _skipped_note(skipped)
    if srid is not None and srid != 4326:
        crs = _crs_from_epsg(srid)
        polygons = _reproject(polygons, crs)
        notes.append(_reprojected_note(crs))
    return _finish(polygons, "wkt", notes)


def _crs_from_epsg(code: int) -> CRS:
    try:
        return CRS.from_epsg(code)
    except CRSError:
        raise _problem(
            "aoi-crs", f"système de coordonnées EPSG:{code} inconnu", f"unknown coordinate system EPSG:{code}"
        ) from None


def _reprojected_note(crs: CRS) -> Note:
    name = _crs_name(crs)
    return Note(
        "aoi-reprojected",
        f"coordonnées converties de {name} en WGS 84",
        f"coordinates converted from {name} to WGS 84",
    )


# ---------------------------------------------------------------------------- GeoJSON


def _json_depth(text: str) -> int:
    """Deepest nesting of arrays/objects, strings skipped (before `json.loads`, which
    would recurse that deep)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> float:
    raise _problem(
        "aoi-coordinates",
        f"valeur {name} refusée : les coordonnées doivent être des nombres finis",
        f"{name} refused: coordinates must be finite numbers",
    )


def parse_geojson(text: str | bytes) -> Parsed:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _problem("aoi-encoding", "fichier non UTF-8", "file is not UTF-8") from None
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise _problem(
            "aoi-json-depth",
            f"JSON trop imbriqué (plus de {MAX_JSON_DEPTH} niveaux)",
            f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)",
        )
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, AoiProblem):
            raise
        raise _problem(
            "aoi-json", f"JSON illisible : {str(exc)[:120]}", f"unreadable JSON: {str(exc)[:120]}"
        ) from None
    geometries = list(_geojson_geometries(doc))
    notes: list[Note] = []
    crs = _geojson_crs(doc)
    polygons: list[Polygon] = []
    skipped = 0
    for geometry in geometries:
        _check_coordinates(geometry.get("coordinates"))
        try:
            read = shape(geometry)
        except (
            ValueError,
            TypeError,
            IndexError,
            AttributeError,
            KeyError,
            shapely.errors.GEOSException,
        ) as exc:
            raise _problem(
                "aoi-geojson",
                f"géométrie GeoJSON illisible : {str(exc)[:120]}",
                f"unreadable GeoJSON geometry: {str(exc)[:120]}",
            ) from None
        found, skip = _polygons_of(read)
        polygons.extend(found)
        skipped += skip
        if len(polygons) > MAX_POLYGONS:
            break
    notes.extend(_skipped_note(skipped))
    if crs is not None:
        polygons = _reproject(polygons, crs)
        notes.append(_reprojected_note(crs))
    return _finish(polygons, "geojson", notes)


def _check_coordinates(coords: object, depth: int = 0) -> None:
    if depth > 6:
        raise _problem("aoi-geojson", "coordonnées trop imbriquées", "coordinates nested too deeply")
    if isinstance(coords, list):
        for c in coords:
            if isinstance(c, list):
                _check_coordinates(c, depth + 1)
            else:
                _finite(c)


def _geojson_geometries(doc: object, depth: int = 0) -> Iterator[dict[str, Any]]:
    if not isinstance(doc, dict) or depth > 3:
        raise _problem(
            "aoi-geojson",
            "GeoJSON attendu : une géométrie, une Feature ou une FeatureCollection",
            "expected GeoJSON: a geometry, a Feature or a FeatureCollection",
        )
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise _problem(
                "aoi-geojson", "FeatureCollection sans liste features", "FeatureCollection without features"
            )
        for feature in features:
            yield from _geojson_geometries(feature, depth + 1)
    elif kind == "Feature":
        geometry = doc.get("geometry")
        if geometry is not None:
            yield from _geojson_geometries(geometry, depth + 1)
    elif kind == "GeometryCollection":
        for geometry in doc.get("geometries") or []:
            yield from _geojson_geometries(geometry, depth + 1)
    elif kind in ("Polygon", "MultiPolygon", "Point", "MultiPoint", "LineString", "MultiLineString"):
        yield doc
    else:
        raise _problem(
            "aoi-geojson",
            f"type GeoJSON inconnu : {str(kind)[:40]}",
            f"unknown GeoJSON type: {str(kind)[:40]}",
        )


def _geojson_crs(doc: object) -> CRS | None:
    """The pre-RFC 7946 `crs` member (QGIS still writes it): honoured when it names
    another system than WGS 84."""
    if not isinstance(doc, dict):
        return None
    name = (
        ((doc.get("crs") or {}).get("properties") or {}).get("name")
        if isinstance(doc.get("crs"), dict)
        else None
    )
    if not isinstance(name, str):
        return None
    if "CRS84" in name.upper() or name.endswith(("EPSG::4326", "EPSG:4326")):
        return None
    match = re.search(r"EPSG:+(\d{1,6})$", name)
    if not match:
        raise _problem(
            "aoi-crs", f"système de coordonnées inconnu : {name[:60]}", f"unknown CRS: {name[:60]}"
        )
    return _crs_from_epsg(int(match.group(1)))


# ---------------------------------------------------------------------------- XML: KML, GPX


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _xml(data: bytes) -> Element:
    if len(data) > MAX_TEXT_BYTES:
        raise _problem(
            "aoi-too-big",
            f"fichier XML trop gros (plus de {MAX_TEXT_BYTES // (1024 * 1024)} Mo)",
            f"XML file too big (more than {MAX_TEXT_BYTES // (1024 * 1024)} MB)",
        )
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise _problem(
            "aoi-xml-forbidden",
            "XML refusé : déclarations de type de document (DTD) et entités interdites",
            "XML refused: document type declarations (DTD) and entities are forbidden",
        ) from None
    except SafeET.ParseError as exc:
        raise _problem(
            "aoi-xml", f"XML illisible : {str(exc)[:120]}", f"unreadable XML: {str(exc)[:120]}"
        ) from None


def parse_xml(data: bytes) -> Parsed:
    root = _xml(data)
    kind = _local(root.tag).lower()
    if kind == "gpx":
        return _gpx(root)
    if kind in ("kml", "document", "placemark", "folder"):
        return _kml(root, "kml")
    raise _problem(
        "aoi-format",
        f"XML non reconnu (élément racine {kind[:30]}) : attendu KML ou GPX",
        f"unknown XML (root element {kind[:30]}): expected KML or GPX",
    )


def _kml_ring(element: Element | None) -> list[tuple[float, float]]:
    if element is None:
        return []
    # The ring's own LinearRing/coordinates (or coordinates) children only: walking the whole
    # subtree of a crafted document (rings nested 40,000 deep) is quadratic.
    text = ""
    for child in element:
        if _local(child.tag) == "coordinates":
            text = child.text or ""
            break
        if _local(child.tag) == "LinearRing":
            text = next((c.text or "" for c in child if _local(c.tag) == "coordinates"), "")
            break
    points = []
    for token in text.split():
        parts = token.split(",")
        if len(parts) < 2:
            raise _problem("aoi-kml", "coordonnées KML mal formées", "malformed KML coordinates")
        try:
            points.append((_finite(float(parts[0])), _finite(float(parts[1]))))
        except ValueError:
            raise _problem("aoi-kml", "coordonnées KML mal formées", "malformed KML coordinates") from None
        if len(points) > MAX_READ_VERTICES:
            raise _too_many_vertices()
    return points


def _kml(root: Element, source: str) -> Parsed:
    polygons: list[Polygon] = []
    skipped = 0
    total = 0
    for element in root.iter():
        name = _local(element.tag)
        if name in ("Point", "LineString"):
            skipped += 1
        if name != "Polygon":
            continue
        outer = next((c for c in element if _local(c.tag) == "outerBoundaryIs"), None)
        shell = _kml_ring(outer)
        holes = [_kml_ring(c) for c in element if _local(c.tag) == "innerBoundaryIs"]
        total += len(shell) + sum(len(h) for h in holes)
        if total > MAX_READ_VERTICES:
            raise _too_many_vertices()
        polygons.append(_polygon(shell, holes, "KML"))
        if len(polygons) > MAX_POLYGONS:
            break
    return _finish(polygons, source, _skipped_note(skipped))


def _polygon(shell: list[tuple[float, float]], holes: list[list[tuple[float, float]]], what: str) -> Polygon:
    if len(shell) < 4 or any(0 < len(h) < 4 for h in holes):
        raise _problem(
            "aoi-ring",
            f"{what} : un anneau de polygone a moins de 4 positions",
            f"{what}: a polygon ring has fewer than 4 positions",
        )
    try:
        return Polygon(shell, [h for h in holes if h])
    except (ValueError, shapely.errors.GEOSException) as exc:
        raise _problem(
            "aoi-ring", f"{what} : polygone illisible ({exc})", f"{what}: unreadable polygon ({exc})"
        ) from None


def _gpx(root: Element) -> Parsed:
    lines: list[tuple[str, list[tuple[float, float]]]] = []
    for element in root.iter():
        name = _local(element.tag)
        if name in ("trkseg", "rte"):
            point_tag = "trkpt" if name == "trkseg" else "rtept"
            points = []
            for point in element:
                if _local(point.tag) != point_tag:
                    continue
                try:
                    lon, lat = float(point.get("lon", "")), float(point.get("lat", ""))
                except ValueError:
                    raise _problem(
                        "aoi-gpx", "point GPX sans lon/lat lisibles", "GPX point without readable lon/lat"
                    ) from None
                points.append((_finite(lon), _finite(lat)))
                if len(points) > MAX_READ_VERTICES:
                    raise _too_many_vertices()
            lines.append(("trace" if name == "trkseg" else "itinéraire", points))
    polygons = []
    open_ones = []
    for kind, points in lines:
        if len(points) < 3:
            open_ones.append(kind)
            continue
        _, _, gap = GEOD.inv(points[0][0], points[0][1], points[-1][0], points[-1][1])
        if gap > GPX_CLOSED_M:
            open_ones.append(kind)
            continue
        if points[0] != points[-1]:
            points = [*points, points[0]]
        polygons.append(_polygon(points, [], "GPX"))
    if not polygons:
        raise _problem(
            "aoi-gpx-open",
            "GPX : aucune trace ni itinéraire fermé (le dernier point doit revenir à moins de "
            f"{GPX_CLOSED_M:g} m du premier) — une ligne ouverte n'est pas une zone",
            "GPX: no closed track or route (the last point must come back within "
            f"{GPX_CLOSED_M:g} m of the first) — an open line is not an area",
        )
    notes = []
    if open_ones:
        notes.append(
            Note(
                "aoi-gpx-open-skipped",
                f"{len(open_ones)} trace(s) ou itinéraire(s) ouvert(s) ignoré(s)",
                f"{len(open_ones)} open track(s) or route(s) left out",
            )
        )
    return _finish(polygons, "gpx", notes)


# ---------------------------------------------------------------------------- zips: KMZ, shapefile


class SafeZip:
    """A zip read in memory with its members capped: how many, each one's real size (read
    in chunks, the header's claim not trusted), the total, and the compression ratio."""

    def __init__(self, data: bytes) -> None:
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, ValueError, OSError, EOFError):
            raise _problem("aoi-zip", "archive zip illisible", "unreadable zip archive") from None
        if len(infos) > MAX_ZIP_MEMBERS:
            raise _problem(
                "aoi-zip-members",
                f"archive refusée : plus de {MAX_ZIP_MEMBERS} fichiers",
                f"archive refused: more than {MAX_ZIP_MEMBERS} files",
            )
        self.infos = [i for i in infos if not i.is_dir()]
        self.read_total = 0

    def names(self) -> list[str]:
        return [i.filename for i in self.infos]

    def read(self, name: str) -> bytes:
        info = next(i for i in self.infos if i.filename == name)
        if info.file_size > MAX_ZIP_TOTAL or (
            info.file_size > 1024 * 1024 and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1)
        ):
            raise _bomb()
        chunks = []
        size = 0
        try:
            with self.zip.open(info) as member:
                while True:
                    chunk = member.read(65536)
                    if not chunk:
                        break
                    size += len(chunk)
                    self.read_total += len(chunk)
                    if (
                        size > info.file_size
                        or self.read_total > MAX_ZIP_TOTAL
                        or (size > 1024 * 1024 and size > MAX_ZIP_RATIO * max(info.compress_size, 1))
                    ):
                        raise _bomb()
                    chunks.append(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
            if isinstance(exc, AoiProblem):
                raise
            raise _problem(
                "aoi-zip",
                f"archive zip illisible ({str(exc)[:80]})",
                f"unreadable zip archive ({str(exc)[:80]})",
            ) from None
        return b"".join(chunks)


def _bomb() -> AoiProblem:
    return _problem(
        "aoi-zip-bomb",
        f"archive refusée : contenu décompressé trop gros (plus de {MAX_ZIP_TOTAL // (1024 * 1024)} Mo "
        f"ou taux de compression supérieur à {MAX_ZIP_RATIO})",
        f"archive refused: uncompressed content too big (more than {MAX_ZIP_TOTAL // (1024 * 1024)} MB "
        f"or compression ratio above {MAX_ZIP_RATIO})",
    )


def parse_kmz(data: bytes) -> Parsed:
    archive = SafeZip(data)
    kmls = [n for n in archive.names() if n.lower().endswith(".kml")]
    if not kmls:
        raise _problem("aoi-kmz", "KMZ sans fichier .kml", "KMZ without a .kml file")
    chosen = next((n for n in kmls if n.lower().rsplit("/", 1)[-1] == "doc.kml"), kmls[0])
    root = _xml(archive.read(chosen))
    if _local(root.tag).lower() not in ("kml", "document", "placemark", "folder"):
        raise _problem("aoi-kmz", "le .kml du KMZ n'est pas du KML", "the KMZ's .kml is not KML")
    return _kml(root, "kmz")


def _plausible_degrees(polygons: list[Polygon]) -> bool:
    for polygon in polygons:
        xs, ys = shapely.get_coordinates(polygon).T
        if len(xs) and (min(xs) < -180 or max(xs) > 180 or min(ys) < -90 or max(ys) > 90):
            return False
    return True


def parse_shapefile_zip(data: bytes) -> Parsed:
    archive = SafeZip(data)
    names = archive.names()
    shps = [n for n in names if n.lower().endswith(".shp") and not n.rsplit("/", 1)[-1].startswith(".")]
    if not shps:
        raise _problem(
            "aoi-shapefile",
            "aucun fichier .shp dans l'archive (un shapefile zippé contient au moins .shp, .shx et .dbf)",
            "no .shp file in the archive (a zipped shapefile holds at least .shp, .shx and .dbf)",
        )
    polygons: list[Polygon] = []
    notes: list[Note] = []
    for shp_name in shps:
        stem = shp_name[:-4]
        by_ext = {
            n[len(stem) :].lower(): n for n in names if n[: len(stem)] == stem and len(n) == len(stem) + 4
        }
        if ".shx" not in by_ext or ".dbf" not in by_ext:
            raise _problem(
                "aoi-shapefile",
                f"{shp_name[-60:]} : fichiers .shx et .dbf requis à côté du .shp",
                f"{shp_name[-60:]}: .shx and .dbf files are needed beside the .shp",
            )
        layer = _read_shapefile(archive, by_ext, shp_name)
        prj = by_ext.get(".prj")
        if prj:
            try:
                crs = CRS.from_wkt(archive.read(prj).decode("utf-8", "replace"))
            except CRSError:
                raise _problem(
                    "aoi-crs",
                    f"{prj[-60:]} : système de coordonnées illisible",
                    f"{prj[-60:]}: unreadable coordinate system",
                ) from None
            if not crs.equals(WGS84, ignore_axis_order=True):
                layer = _reproject(layer, crs)
                notes.append(_reprojected_note(crs))
            else:
                notes.append(
                    Note(
                        "aoi-crs-read",
                        "système de coordonnées lu dans le .prj : WGS 84",
                        "coordinate system read from the .prj: WGS 84",
                    )
                )
        elif _plausible_degrees(layer):
            notes.append(
                Note(
                    "aoi-crs-assumed",
                    f"{shp_name[-60:]} sans fichier .prj : coordonnées supposées en WGS 84 (degrés), "
                    "car elles sont toutes des longitudes et latitudes plausibles — "
                    "vérifiez la zone sur la carte",
                    f"{shp_name[-60:]} has no .prj file: coordinates assumed to be WGS 84 (degrees), "
                    "as they are all plausible longitudes and latitudes — check the area on the map",
                )
            )
        else:
            raise _problem(
                "aoi-crs-missing",
                f"{shp_name[-60:]} sans fichier .prj et ses coordonnées ne sont pas des degrés : "
                "ajoutez le .prj à l'archive",
                f"{shp_name[-60:]} has no .prj file and its coordinates are not degrees: "
                "add the .prj to the archive",
            )
        polygons.extend(layer)
    return _finish(polygons, "shapefile", notes)


def _read_shapefile(archive: SafeZip, by_ext: dict[str, str], name: str) -> list[Polygon]:
    try:
        reader = shapefile.Reader(
            shp=io.BytesIO(archive.read(by_ext[".shp"])),
            shx=io.BytesIO(archive.read(by_ext[".shx"])),
            dbf=io.BytesIO(archive.read(by_ext[".dbf"])),
        )
    except (shapefile.ShapefileException, struct.error, ValueError, IndexError, TypeError, OSError) as exc:
        raise _problem(
            "aoi-shapefile",
            f"shapefile illisible : {str(exc)[:120]}",
            f"unreadable shapefile: {str(exc)[:120]}",
        ) from None
    if reader.shapeType not in (shapefile.POLYGON, shapefile.POLYGONZ, shapefile.POLYGONM, shapefile.NULL):
        raise _problem(
            "aoi-shapefile-type",
            f"{name[-60:]} : couche de type {reader.shapeTypeName} — "
            "une zone doit être une couche de polygones",
            f"{name[-60:]}: a {reader.shapeTypeName} layer — an area must be a polygon layer",
        )
    if len(reader) > MAX_POLYGONS:
        raise _problem(
            "aoi-too-many-polygons",
            f"plus de {MAX_POLYGONS} polygones : regroupez-les avant l'import",
            f"more than {MAX_POLYGONS} polygons: merge them before importing",
        )
    polygons: list[Polygon] = []
    total = 0
    try:
        for record in reader.iterShapes():
            if record.shapeType == shapefile.NULL:
                continue
            total += len(record.points)
            if total > MAX_READ_VERTICES:
                raise _too_many_vertices()
            for value in record.points:
                _finite(value[0])
                _finite(value[1])
            # pyshp sorts a record's rings into polygons pairwise (quadratic): bound the parts first.
            if len(record.parts) > MAX_SHAPE_PARTS:
                raise _problem(
                    "aoi-shp-parts",
                    f"une forme du shapefile a plus de {MAX_SHAPE_PARTS} anneaux : simplifiez-la",
                    f"a shape of the shapefile has more than {MAX_SHAPE_PARTS} rings: simplify it",
                )
            geometry = shape(record.__geo_interface__)
            found, _ = _polygons_of(geometry)
            polygons.extend(found)
    except (shapefile.ShapefileException, ValueError, IndexError, struct.error, TypeError) as exc:
        if isinstance(exc, AoiProblem):
            raise
        raise _problem(
            "aoi-shapefile",
            f"shapefile illisible : {str(exc)[:120]}",
            f"unreadable shapefile: {str(exc)[:120]}",
        ) from None
    return polygons


# ---------------------------------------------------------------------------- uploads


def parse_upload(filename: str, data: bytes) -> Parsed:
    """An uploaded file, its format told by its name and checked by its content."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise _problem(
            "aoi-too-big",
            f"fichier trop gros (plus de {MAX_UPLOAD_BYTES // (1024 * 1024)} Mo)",
            f"file too big (more than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB)",
        )
    if not data:
        raise _problem("aoi-empty", "fichier vide", "empty file")
    name = filename.lower()
    if data[:4] == b"PK\x03\x04" or name.endswith((".zip", ".kmz")):
        if name.endswith(".kmz"):
            return parse_kmz(data)
        archive_names = [n.lower() for n in SafeZip(data).names()]
        if any(n.endswith(".kml") for n in archive_names) and not any(
            n.endswith(".shp") for n in archive_names
        ):
            return parse_kmz(data)
        return parse_shapefile_zip(data)
    if name.endswith(".shp"):
        raise _problem(
            "aoi-shapefile",
            "un .shp seul ne suffit pas : envoyez une archive .zip avec .shp, .shx, .dbf et .prj",
            "a .shp alone is not enough: send a .zip holding .shp, .shx, .dbf and .prj",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _problem(
            "aoi-format",
            "fichier non reconnu : GeoJSON, KML, KMZ, GPX, WKT ou shapefile zippé attendu",
            "unknown file: GeoJSON, KML, KMZ, GPX, WKT or zipped shapefile expected",
        ) from None
    return parse_text(text)
