"""The coverage grid's code, shared by the portal's coverage board and the reporting."""

import json
from pathlib import Path

import pytest

from dinamis_shared.coverage_grid import footprint_centre, read_grid

GRID = (
    Path(__file__).resolve().parents[3]
    / "services/portal/src/dinamis_portal/static/app/basemap/grille-couverture.geojson"
)


def square(lon: float, lat: float, half: float = 0.1) -> dict:
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def test_a_footprint_maps_to_the_cell_of_its_centre() -> None:
    grid = read_grid(GRID)  # no regions file: every cell's region is ""
    features = json.loads(GRID.read_text())["features"]
    assert len(grid.cells) == len(features) == 243
    for number in (1, 100, 243):
        ring = next(f for f in features if f["properties"]["maille"] == number)["geometry"]["coordinates"][0][
            :-1
        ]
        lon, lat = sum(p[0] for p in ring) / 4, sum(p[1] for p in ring) / 4
        found = grid.cell_of_footprint(square(lon, lat))
        assert found is not None and found.number == number and found.region == ""
    assert grid.cell_of_footprint(square(-20.0, 45.0)) is None  # the Atlantic
    assert grid.cell_of_footprint({"type": "Point", "coordinates": [2, 48]}) is None
    assert footprint_centre(square(2.0, 48.0)) == (2.0, 48.0)


def test_lambert93_in_closed_form_matches_proj() -> None:
    from pyproj import Transformer

    from dinamis_shared.coverage_grid import to_l93

    proj = Transformer.from_crs(4326, 2154, always_xy=True)
    for lon, lat in ((3.0, 46.5), (2.35, 48.85), (-4.5, 48.4), (7.7, 48.6), (9.4, 42.0), (-1.5, 43.4)):
        x, y = to_l93(lon, lat)
        px, py = proj.transform(lon, lat)
        assert abs(x - px) < 1e-6 and abs(y - py) < 1e-6
    assert to_l93(3.0, 46.5) == pytest.approx((700_000.0, 6_600_000.0), abs=1e-6)  # the origin
