"""The campaign's world: its cells, its organisations (category, department) and the
areas they order — drawn from real French outlines (IGN Admin Express departments and
the coverage grid of `dinamis_sim.coverage`), deterministic for a seed."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources

import shapely
from pyproj import Transformer
from shapely.geometry import box, mapping, shape

from dinamis_shared.events import OrganisationCategory
from dinamis_sim.coverage import CELL_M, CoverageCell, coverage_cells, coverage_grid_l93

TO_L93 = Transformer.from_crs(4326, 2154, always_xy=True)
TO_WGS84 = Transformer.from_crs(2154, 4326, always_xy=True)

# The shares of the platform's members (about what the activity simulator uses): research
# and public bodies most, contractors working for a public body, a few private R&D and
# international research labs.
CATEGORY_SHARES: tuple[tuple[OrganisationCategory, float], ...] = (
    (OrganisationCategory.FRENCH_RESEARCH, 0.36),
    (OrganisationCategory.FRENCH_PUBLIC, 0.36),
    (OrganisationCategory.CONTRACTOR, 0.14),
    (OrganisationCategory.FRENCH_PRIVATE_RD, 0.08),
    (OrganisationCategory.INTERNATIONAL_RESEARCH, 0.06),
)


def _l93(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: list(zip(*TO_L93.transform(*xy.T), strict=True)))


def _wgs84(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: list(zip(*TO_WGS84.transform(*xy.T), strict=True)))


@cache
def departments_l93() -> dict[str, tuple[str, shapely.Geometry]]:
    """INSEE code -> (name, outline in Lambert-93), the 96 metropolitan departments."""
    doc = json.loads(
        resources.files("dinamis_sim.data").joinpath("departements-version-simplifiee.geojson").read_text()
    )
    return {
        f["properties"]["code"]: (f["properties"]["nom"], _l93(shape(f["geometry"]))) for f in doc["features"]
    }


@dataclass(frozen=True)
class Cell:
    cell: CoverageCell
    square: shapely.Polygon  # Lambert-93

    @property
    def number(self) -> int:
        return self.cell.index


def pick_cells(year: int, n: int) -> list[Cell]:
    """`n` cells of the year's grid spread over France (every k-th cell, not the first n,
    which would all lie in the west)."""
    grid = coverage_grid_l93(CELL_M)
    cells = coverage_cells(year, CELL_M)
    if n >= len(cells):
        chosen = list(range(len(cells)))
    else:
        step = len(cells) / n
        chosen = sorted({int(k * step) for k in range(n)})
    return [Cell(cells[i], grid[i]) for i in chosen]


@dataclass(frozen=True)
class Organisation:
    organisation_id: str
    category: OrganisationCategory
    department: str
    commissioning: str | None = None  # contractors: the public body they work for


def organisations(prefix: str, n: int, cells: list[Cell], rng: random.Random) -> list[Organisation]:
    """`n` organisations of every category, each seated in a department the run's cells
    touch (weighted by the area they share), so its orders fall on the campaign's scenes."""
    depts = departments_l93()
    union = shapely.union_all([c.square for c in cells])
    weights = {code: geom.intersection(union).area for code, (_, geom) in depts.items()}
    codes = [c for c, w in weights.items() if w > 0]
    counts = [max(1, round(share * n)) for _, share in CATEGORY_SHARES]
    while sum(counts) > n:
        counts[counts.index(max(counts))] -= 1
    while sum(counts) < n:
        counts[0] += 1
    out: list[Organisation] = []
    publics: list[str] = []
    k = 0
    for (category, _), count in zip(CATEGORY_SHARES, counts, strict=True):
        for _ in range(count):
            org_id = f"{prefix}-{k:02d}"
            k += 1
            dept = rng.choices(codes, weights=[weights[c] for c in codes])[0]
            commissioning = None
            if category is OrganisationCategory.CONTRACTOR:
                commissioning = rng.choice(publics)
            out.append(Organisation(org_id, category, dept, commissioning))
            if category is OrganisationCategory.FRENCH_PUBLIC:
                publics.append(org_id)
    return out


def field_in(dept_code: str, cell: Cell, rng: random.Random, km2: float) -> dict | None:
    """A square field of about `km2` inside both the department and the cell (a 1 km margin
    inside the cell), as GeoJSON in WGS84; None when they do not meet enough."""
    dept = departments_l93()[dept_code][1] if dept_code else None
    area = cell.square.buffer(-1000)
    if dept is not None:
        area = area.intersection(dept)
    side = (km2**0.5) * 1000
    area = area.buffer(-side * 0.75)  # a centre this far in keeps the square's corners in (√2/2)
    if area.is_empty:
        return None
    x0, y0, x1, y1 = area.bounds
    for _ in range(50):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if area.contains(shapely.Point(x, y)):
            square = box(x - side / 2, y - side / 2, x + side / 2, y + side / 2)
            geom = mapping(_wgs84(square))
            return {"type": "Polygon", "coordinates": [[list(p) for p in geom["coordinates"][0]]]}
    return None


def touching(dept_code: str, cells: list[Cell]) -> list[Cell]:
    dept = departments_l93()[dept_code][1]
    return [c for c in cells if c.square.buffer(-3000).intersects(dept)]
