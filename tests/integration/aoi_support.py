"""Files a user may upload as an AOI, built in memory: zipped shapefiles (with or without
a .prj, in Lambert-93 or WGS 84), KMZ, and hostile archives and documents."""

from __future__ import annotations

import io
import zipfile

import shapefile
from pyproj import CRS, Transformer
from pyproj.enums import WktVersion

LYON_LONLAT = [(4.80, 45.72), (4.90, 45.72), (4.90, 45.80), (4.80, 45.80), (4.80, 45.72)]


def to_lambert93(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    t = Transformer.from_crs(4326, 2154, always_xy=True)
    return [t.transform(x, y) for x, y in ring]


def shapefile_zip(
    rings: list[list[tuple[float, float]]],
    prj: str | None,
    stem: str = "zone",
    shape_type: int = shapefile.POLYGON,
) -> bytes:
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    with shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shape_type) as writer:
        writer.field("nom", "C")
        for ring in rings:
            if shape_type == shapefile.POLYGON:
                # Shapefile outer rings go clockwise.
                writer.poly([list(reversed(ring))])
            else:
                writer.line([ring])
            writer.record("zone")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{stem}.shp", shp.getvalue())
        z.writestr(f"{stem}.shx", shx.getvalue())
        z.writestr(f"{stem}.dbf", dbf.getvalue())
        if prj is not None:
            z.writestr(f"{stem}.prj", prj)
    return out.getvalue()


def lambert93_prj() -> str:
    return CRS.from_epsg(2154).to_wkt(WktVersion.WKT1_ESRI)


def lyon_lambert93_zip() -> bytes:
    return shapefile_zip([to_lambert93(LYON_LONLAT)], lambert93_prj())


def kml(rings: list[list[tuple[float, float]]]) -> str:
    placemarks = "".join(
        "<Placemark><Polygon><outerBoundaryIs><LinearRing><coordinates>"
        + " ".join(f"{x},{y},0" for x, y in ring)
        + "</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>"
        for ring in rings
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
        f"<Document>{placemarks}</Document></kml>"
    )


def kmz(rings: list[list[tuple[float, float]]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("doc.kml", kml(rings))
    return out.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def lambert93_box_zip(west: float, south: float, east: float, north: float) -> bytes:
    """A zipped shapefile holding one rectangle given in Lambert-93 metres, with its .prj."""
    ring = [(west, south), (east, south), (east, north), (west, north), (west, south)]
    return shapefile_zip([ring], lambert93_prj())


def covered_by_hand(aoi_lambert93: list[tuple[float, float]], footprint_lonlat: dict) -> float:
    """The share of an AOI (Lambert-93 ring) a footprint (GeoJSON, WGS 84) covers, computed
    independently of the portal: both projected to the European equal-area projection
    (ETRS89-LAEA, EPSG:3035), intersection area / AOI area."""
    import shapely
    from shapely.geometry import Polygon, shape

    to_laea = Transformer.from_crs(2154, 3035, always_xy=True)
    lonlat_to_laea = Transformer.from_crs(4326, 3035, always_xy=True)
    aoi = Polygon([to_laea.transform(x, y) for x, y in aoi_lambert93])
    foot = shapely.transform(
        shapely.segmentize(shape(footprint_lonlat), 0.001),
        lambda c: __import__("numpy").column_stack(lonlat_to_laea.transform(c[:, 0], c[:, 1])),
    )
    return float(aoi.intersection(foot).area / aoi.area)
