"""Where imagery for French public institutions is plausibly wanted: metropolitan
France (the IGN outline in `data/`) and the overseas departments, collectivities and
territories (boxes around their islands), each with a margin.

It is a plausibility check, not a rule: an area of interest elsewhere is allowed (a
research partnership abroad), but one far from all of these is most often a mistake —
latitude and longitude swapped, a projected CRS read as degrees — and its author should
be told before anything is ordered.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

# How far (degrees, about 40-55 km) from the outline or an overseas box still counts as near.
FRANCE_MARGIN_DEG = 0.5

# (west, south, east, north), WGS84 degrees.
OVERSEAS: dict[str, tuple[float, float, float, float]] = {
    "Guadeloupe": (-61.85, 15.83, -60.99, 16.52),
    "Martinique": (-61.23, 14.39, -60.81, 14.88),
    "Saint-Martin, Saint-Barthélemy": (-63.15, 17.87, -62.79, 18.13),
    "Guyane": (-54.61, 2.11, -51.61, 5.78),
    "La Réunion": (55.21, -21.39, 55.84, -20.87),
    "Mayotte": (44.95, -13.01, 45.31, -12.63),
    "Saint-Pierre-et-Miquelon": (-56.42, 46.74, -56.12, 47.15),
    "Wallis-et-Futuna": (-178.21, -14.36, -176.12, -13.18),
    "Polynésie française": (-154.75, -27.66, -134.93, -7.83),
    "Nouvelle-Calédonie": (163.56, -22.7, 168.14, -19.54),
    "Clipperton": (-109.24, 10.28, -109.2, 10.32),
    "Kerguelen": (68.7, -50.02, 70.57, -48.58),
    "Crozet": (50.16, -46.51, 52.32, -45.95),
    "Saint-Paul et Amsterdam": (77.5, -38.73, 77.6, -37.82),
    "Îles Éparses": (39.7, -22.4, 54.55, -11.5),
    "Terre Adélie": (136.0, -90.0, 142.0, -66.0),
}


@functools.cache
def _metropole() -> BaseGeometry:
    doc = json.loads(
        resources.files("dinamis_shared.data").joinpath("metropole-version-simplifiee.geojson").read_text()
    )
    return shape(doc["geometry"])


@functools.cache
def french_territory(margin_deg: float = FRANCE_MARGIN_DEG) -> BaseGeometry:
    """Metropolitan France and the overseas boxes, grown by `margin_deg` (prepared)."""
    near = _metropole().simplify(0.01).buffer(margin_deg, quad_segs=4)
    boxes = [box(w, s, e, n).buffer(margin_deg, quad_segs=2) for w, s, e, n in OVERSEAS.values()]
    territory = shapely.union_all([near, *boxes])
    shapely.prepare(territory)
    return territory


def near_france(geometry: BaseGeometry) -> bool:
    """Does `geometry` (WGS84 lon/lat) meet France or an overseas territory, margin included?"""
    return bool(french_territory().intersects(geometry))
