"""The yearly 1.5 m SPOT 6/7 coverage of metropolitan France: a regular grid in
Lambert-93 over the France outline (IGN Admin Express, data/), acquired April to
September. Cells of 52 km give about 240 cells, the yearly campaign's size."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources

import shapely
from pyproj import Transformer
from shapely.geometry import box, shape

CELL_M = 52_000


@dataclass(frozen=True)
class CoverageCell:
    index: int
    lon: float  # cell centre, WGS84
    lat: float
    acquired_at: datetime


def france_outline_l93() -> shapely.Geometry:
    doc = json.loads(
        resources.files("dinamis_sim.data").joinpath("metropole-version-simplifiee.geojson").read_text()
    )
    to_l93 = Transformer.from_crs(4326, 2154, always_xy=True)
    return shapely.transform(
        shape(doc["geometry"]), lambda xy: list(zip(*to_l93.transform(*xy.T), strict=True))
    )


def coverage_grid_l93(cell_m: int = CELL_M, min_share: float = 0.05) -> list[shapely.Polygon]:
    """The grid's cells (Lambert-93 squares) holding more than `min_share` of France."""
    france = france_outline_l93()
    x0, y0, x1, y1 = france.bounds
    cells = []
    for i in range(math.ceil((x1 - x0) / cell_m)):
        for j in range(math.ceil((y1 - y0) / cell_m)):
            cell = box(x0 + i * cell_m, y0 + j * cell_m, x0 + (i + 1) * cell_m, y0 + (j + 1) * cell_m)
            if cell.intersection(france).area > min_share * cell_m * cell_m:
                cells.append(cell)
    return cells


def coverage_cells(year: int, cell_m: int = CELL_M, min_share: float = 0.05) -> list[CoverageCell]:
    to_wgs84 = Transformer.from_crs(2154, 4326, always_xy=True)
    cells = coverage_grid_l93(cell_m, min_share)
    start = datetime(year, 4, 1, 10, 30, tzinfo=UTC)
    span = (datetime(year, 9, 30, tzinfo=UTC) - start).total_seconds()
    out = []
    for k, cell in enumerate(cells):
        lon, lat = to_wgs84.transform(cell.centroid.x, cell.centroid.y)
        when = start + timedelta(seconds=span * k / max(1, len(cells) - 1))
        out.append(CoverageCell(k + 1, lon, lat, when.replace(hour=10, minute=30 + k % 20)))
    return out
