"""What the indicators' SQL cannot say alone, registered on the lake's connection:

- `dinamis_area_km2(geojson)`: the area of a GeoJSON (multi)polygon in WGS 84, in km²,
  **geodesic** (on the WGS 84 ellipsoid, `pyproj.Geod.geometry_area_perimeter`): exact
  for metropolitan France and the overseas alike (a Lambert-93 area would be wrong
  overseas). NULL for anything that is not a valid polygon.
- `dinamis_cell(geojson)`: the number of the platform's coverage-grid cell (52 km
  Lambert-93 squares, `dinamis_shared.coverage_grid`) holding the footprint's centre;
  NULL outside the grid.
- `dinamis_sensor_family(mission, platform, collection)`: a scene's quota family
  (`dinamis_shared.missions`): by its mission code, else its STAC platform, else the
  collection's name prefix;
- `dinamis_region(department)`: the INSEE region code of a department
  (`dinamis_shared.departments`); NULL for a collectivity or an unknown code.
- table `ref_grid(cell)`: the grid's cells (the cells a yearly coverage plans);
- table `ref_prices(sensor_family, kind, eur_per_km2)`: the reference list prices
  (`prices.toml`, or the file the settings name).

Every function is pure and cached by its argument (a footprint repeats across the
events of one scene)."""

from __future__ import annotations

import importlib.util
import json
import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from duckdb.func import SPECIAL
from pyproj import Geod
from shapely.geometry import shape

from dinamis_shared.coverage_grid import Grid, read_grid
from dinamis_shared.departments import region_of
from dinamis_shared.missions import MISSIONS

PRICES_FILE = Path(__file__).resolve().parent / "prices.toml"
_GEOD = Geod(ellps="WGS84")


def default_grid_file() -> Path | None:
    """The grid layer the portal ships (the platform's one grid file), when installed."""
    spec = importlib.util.find_spec("dinamis_portal")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(next(iter(spec.submodule_search_locations))) / "static/app/basemap/grille-couverture.geojson"
    return found if found.is_file() else None


def _geometry(text: str | None) -> Any:
    if not text:
        return None
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("type") not in ("Polygon", "MultiPolygon"):
            return None
        geom = shape(doc)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    return None if geom.is_empty else geom


@lru_cache(maxsize=100_000)
def area_km2(text: str | None) -> float | None:
    geom = _geometry(text)
    if geom is None:
        return None
    try:
        area, _ = _GEOD.geometry_area_perimeter(geom)
    except Exception:  # a geometry pyproj refuses: no area rather than a failed indicator
        return None
    area = abs(area) / 1e6
    return round(area, 6) if math.isfinite(area) else None


_BY_MISSION = {str(code): str(m.family) for code, m in MISSIONS.items()}
_BY_PLATFORM = {m.platform.lower(): str(m.family) for m in MISSIONS.values()}
_FAMILIES = sorted({str(m.family) for m in MISSIONS.values()}, key=len, reverse=True)


def sensor_family(mission: str | None, platform: str | None, collection: str | None) -> str | None:
    if mission and mission in _BY_MISSION:
        return _BY_MISSION[mission]
    if platform and platform.lower() in _BY_PLATFORM:
        return _BY_PLATFORM[platform.lower()]
    for family in _FAMILIES:  # longest first: "pleiades-neo" before "pleiades"
        if collection and collection.startswith(family):
            return family
    return None


@dataclass(frozen=True)
class Prices:
    source: str
    rows: list[tuple[str, str, float]]  # sensor_family, kind, € per km²


def load_prices(path: Path = PRICES_FILE) -> Prices:
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    rows = []
    for family, kinds in doc["eur_per_km2"].items():
        for kind, price in kinds.items():
            if kind not in ("archive", "tasking") or not isinstance(price, int | float) or price < 0:
                raise ValueError(f"{path}: bad price {family}.{kind} = {price!r}")
            rows.append((family, kind, float(price)))
    return Prices(str(doc.get("source", "")), rows)


def register(
    con: duckdb.DuckDBPyConnection, *, grid_file: Path | None = None, prices_file: Path = PRICES_FILE
) -> None:
    """Register the functions and reference tables (idempotent)."""
    grid: Grid | None = read_grid(grid_file) if grid_file else None

    @lru_cache(maxsize=100_000)
    def cell(text: str | None) -> int | None:
        if grid is None:
            return None
        geom = _geometry(text)
        if geom is None:
            return None
        found = grid.cell_of_footprint(json.loads(text or "null"))
        return found.number if found else None

    con.execute("SELECT 1").fetchall()  # no pending result (DuckDB refuses to register then)
    for name in ("dinamis_area_km2", "dinamis_cell", "dinamis_region", "dinamis_sensor_family"):
        try:
            con.remove_function(name)
        except Exception:  # not registered yet
            pass
    con.create_function("dinamis_area_km2", area_km2, ["VARCHAR"], "DOUBLE", null_handling=SPECIAL)
    con.create_function("dinamis_cell", cell, ["VARCHAR"], "INTEGER", null_handling=SPECIAL)
    con.create_function("dinamis_region", region_of, ["VARCHAR"], "VARCHAR", null_handling=SPECIAL)
    con.create_function(
        "dinamis_sensor_family",
        sensor_family,
        ["VARCHAR", "VARCHAR", "VARCHAR"],
        "VARCHAR",
        null_handling=SPECIAL,
    )
    cells = pa.table({"cell": pa.array(sorted(grid.cells) if grid else [], pa.int32())})
    prices = load_prices(prices_file)
    price_table = pa.table(
        {
            "sensor_family": [r[0] for r in prices.rows],
            "kind": [r[1] for r in prices.rows],
            "eur_per_km2": pa.array([r[2] for r in prices.rows], pa.float64()),
        }
    )
    con.register("_ref_grid", cells)
    con.execute("CREATE OR REPLACE TABLE ref_grid AS SELECT * FROM _ref_grid")
    con.unregister("_ref_grid")
    con.register("_ref_prices", price_table)
    con.execute("CREATE OR REPLACE TABLE ref_prices AS SELECT * FROM _ref_prices")
    con.unregister("_ref_prices")
