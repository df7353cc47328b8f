"""The platform's coverage grid, in one place (the portal's coverage board and the
reporting's indicators both map scenes to it): 52 km squares in Lambert-93 (EPSG:2154),
numbered (`maille`), read from the GeoJSON layer the portal ships
(`dinamis_portal/static/app/basemap/grille-couverture.geojson`, written from the grid of
`dinamis_sim.coverage` by scripts/coverage_grid.py).

A scene maps to its cell by its footprint's centre (the centre of its bounding box in
WGS 84) projected to Lambert-93; a centre outside every cell is outside France."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry import Point, shape


@dataclass(frozen=True)
class Cell:
    number: int
    region: str  # INSEE code
    box_l93: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax (Lambert-93)
    ring: list[list[float]]  # WGS 84, for the map


@dataclass(frozen=True)
class Grid:
    cells: dict[int, Cell]
    regions: dict[str, str]  # code -> name, in the file's order

    def cell_at_l93(self, x: float, y: float) -> Cell | None:
        for cell in self.cells.values():
            x0, y0, x1, y1 = cell.box_l93
            if x0 <= x < x1 and y0 <= y < y1:
                return cell
        return None

    def cell_of_footprint(self, geometry: Any) -> Cell | None:
        """The cell holding the centre of a GeoJSON footprint (WGS 84); None when the
        geometry is unusable or its centre falls outside the grid."""
        centre = footprint_centre(geometry)
        if centre is None:
            return None
        x, y = to_l93(*centre)
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        return self.cell_at_l93(x, y)


# Lambert-93 (EPSG:2154): Lambert conformal conic with two standard parallels (49° and
# 44° N), origin 46.5° N 3° E, false easting 700 km, false northing 6,600 km, on GRS80 —
# in closed form (IGN, NTG_71): RGF93 and WGS 84 coincide at this scale, as PROJ's
# transformation does (checked against pyproj on 20,000 points over France: < 1e-8 m).
# No pyproj here: its transformers crash when called from threads Python did not
# create (DuckDB's workers, where the reporting's SQL functions run).
_A = 6378137.0
_F = 1 / 298.257222101
_E = math.sqrt(2 * _F - _F * _F)


def _m(phi: float) -> float:
    return math.cos(phi) / math.sqrt(1 - (_E * math.sin(phi)) ** 2)


def _t(phi: float) -> float:
    s = _E * math.sin(phi)
    return math.tan(math.pi / 4 - phi / 2) / ((1 - s) / (1 + s)) ** (_E / 2)


_P1, _P2, _P0, _L0 = (math.radians(v) for v in (49.0, 44.0, 46.5, 3.0))
_N = (math.log(_m(_P1)) - math.log(_m(_P2))) / (math.log(_t(_P1)) - math.log(_t(_P2)))
_AF = _A * _m(_P1) / (_N * _t(_P1) ** _N)
_RHO0 = _AF * _t(_P0) ** _N


def to_l93(lon: float, lat: float) -> tuple[float, float]:
    """WGS 84 (lon, lat in degrees) to Lambert-93 (x, y in metres); NaN near the poles."""
    if not (-90 < lat < 90):
        return math.nan, math.nan
    rho = _AF * _t(math.radians(lat)) ** _N
    theta = _N * (math.radians(lon) - _L0)
    return 700_000 + rho * math.sin(theta), 6_600_000 + _RHO0 - rho * math.cos(theta)


def footprint_centre(geometry: Any) -> tuple[float, float] | None:
    """The centre (lon, lat) of a GeoJSON polygon's bounding box, or None."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return None
    try:
        geom = shape(geometry)
    except Exception:
        return None
    if geom.is_empty:
        return None
    x0, y0, x1, y1 = geom.bounds
    lon, lat = (x0 + x1) / 2, (y0 + y1) / 2
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None
    return lon, lat


def read_grid(grid_file: Path, regions_file: Path | None = None) -> Grid:
    """The grid of `grid_file` (GeoJSON, a `maille` number per square), each cell with
    its region from `regions_file` (none: every cell's region is "")."""
    grid_doc = json.loads(grid_file.read_text(encoding="utf-8"))
    regions_doc = json.loads(regions_file.read_text(encoding="utf-8")) if regions_file else None
    regions = [
        (str(f["properties"]["code"]), str(f["properties"]["nom"]), shape(f["geometry"]))
        for f in (regions_doc or {}).get("features", [])
    ]
    cells: dict[int, Cell] = {}
    for feature in grid_doc["features"]:
        number = int(feature["properties"]["maille"])
        ring = feature["geometry"]["coordinates"][0]
        corners = [to_l93(p[0], p[1]) for p in ring]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        # The cells are squares in Lambert-93: their corners, back from WGS 84 (rounded to
        # 1e-5°, about a metre), snap to the 52 km grid.
        box = (round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys)))
        lons = [p[0] for p in ring[:-1]]
        lats = [p[1] for p in ring[:-1]]
        centre = Point(sum(lons) / len(lons), sum(lats) / len(lats))
        region = (
            min(regions, key=lambda r: 0.0 if r[2].contains(centre) else r[2].distance(centre))[0]
            if regions
            else ""
        )
        cells[number] = Cell(number, region, box, ring)
    return Grid(cells, {code: name for code, name, _ in regions})


def centre_of(cell: Cell) -> tuple[float, float]:
    x0, y0, x1, y1 = cell.box_l93
    return (x0 + x1) / 2, (y0 + y1) / 2
