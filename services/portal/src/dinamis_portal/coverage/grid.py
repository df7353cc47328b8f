"""The coverage grid as the portal knows it: the cells of the layer the portal ships
(`static/app/basemap/grille-couverture.geojson`, written from the platform's grid by
scripts/coverage_grid.py), each with its region (the 13 metropolitan regions of
`basemap/regions-version-simplifiee.geojson`, by the cell's centre; a coastal cell whose
centre is at sea goes to the nearest region).

The grid's code is shared (`dinamis_shared.coverage_grid`, the reporting maps scenes to
the same cells): a scene maps to its cell by its footprint's centre in Lambert-93
(EPSG:2154), where the cells are the 52 km squares of the grid."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import shapely

from dinamis_shared.coverage_grid import Cell, Grid, centre_of, footprint_centre, read_grid

BASEMAP = Path(__file__).resolve().parents[1] / "static" / "app" / "basemap"
GRID_FILE = BASEMAP / "grille-couverture.geojson"
REGIONS_FILE = BASEMAP / "regions-version-simplifiee.geojson"


@lru_cache(maxsize=1)
def load_grid() -> Grid:
    return read_grid(GRID_FILE, REGIONS_FILE)


__all__ = ["Cell", "Grid", "centre_of", "footprint_centre", "load_grid", "shapely"]
