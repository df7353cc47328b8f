"""The offline basemap's layers: the yearly coverage grid is the platform's own (the file
the portal serves is what scripts/coverage_grid.py writes from `dinamis_sim.coverage`)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import shapely
from shapely.geometry import shape

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "coverage_grid.py"


def generator():
    spec = importlib.util.spec_from_file_location("coverage_grid", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_served_grid_is_the_platforms_grid():
    module = generator()
    assert module.OUT.read_text() == module.grid_geojson(), "run services/portal/scripts/coverage_grid.py"


def test_the_grid_covers_metropolitan_france_with_about_240_cells():
    doc = json.loads(generator().OUT.read_text())
    cells = [shape(f["geometry"]) for f in doc["features"]]
    assert 200 <= len(cells) <= 260
    assert [f["properties"]["maille"] for f in doc["features"]] == list(range(1, len(cells) + 1))
    grid = shapely.union_all(cells)
    west, south, east, north = grid.bounds
    assert -5.5 < west < -4.5 and 41 < south < 42.5 and 8.5 < east < 10 and 50.5 < north < 51.5
    # Lyon, Paris and Brest are in a cell; London is not.
    for lon, lat in ((4.85, 45.76), (2.35, 48.86), (-4.49, 48.39)):
        assert grid.contains(shapely.Point(lon, lat)), (lon, lat)
    assert not grid.contains(shapely.Point(-0.12, 51.5))


async def test_the_grid_is_served_compressed(portal):
    response = await portal.client.get(
        "/static/app/basemap/grille-couverture.geojson", headers={"Accept-Encoding": "gzip"}
    )
    assert response.status_code == 200 and response.headers["content-encoding"] == "gzip"
    assert len(response.json()["features"]) > 200
