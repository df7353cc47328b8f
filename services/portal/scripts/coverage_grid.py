"""Writes the portal's layer of the yearly coverage grid,
`src/dinamis_portal/static/app/basemap/grille-couverture.geojson`: the cells of the yearly
1.5 m SPOT 6/7 coverage of metropolitan France (52 km Lambert-93 squares over the IGN
outline, about 240), as the platform's simulator and campaign define them
(`dinamis_sim.coverage.coverage_grid_l93`), in WGS 84 with their number.

    .venv/bin/python services/portal/scripts/coverage_grid.py

A unit test (services/portal/tests/test_basemap.py) checks the committed file is what this
writes, so the layer cannot drift from the grid."""

from __future__ import annotations

import json
from pathlib import Path

from pyproj import Transformer

from dinamis_sim.coverage import CELL_M, coverage_grid_l93

OUT = Path(__file__).resolve().parents[1] / "src/dinamis_portal/static/app/basemap/grille-couverture.geojson"


def grid_geojson() -> str:
    to_wgs84 = Transformer.from_crs(2154, 4326, always_xy=True)
    features = []
    for number, cell in enumerate(coverage_grid_l93(), start=1):
        ring = [[round(v, 5) for v in to_wgs84.transform(x, y)] for x, y in cell.exterior.coords]
        features.append(
            {
                "type": "Feature",
                "properties": {"maille": number},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    doc = {"type": "FeatureCollection", "name": f"grille-couverture-{CELL_M // 1000}km", "features": features}
    return json.dumps(doc, separators=(",", ":")) + "\n"


if __name__ == "__main__":
    OUT.write_text(grid_geojson())
    print(f"{OUT}: {OUT.stat().st_size} bytes")
