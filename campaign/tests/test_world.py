"""The campaign's world: cells spread over France, organisations of every category seated
in departments the cells touch, fields inside both their department and a cell."""

from __future__ import annotations

import random

import shapely
from shapely.geometry import shape

from dinamis_campaign.drive import percentiles
from dinamis_campaign.world import _l93, departments_l93, field_in, organisations, pick_cells, touching
from dinamis_shared.events import OrganisationCategory


def test_cells_are_spread_over_the_whole_grid_not_the_first_ones():
    cells = pick_cells(2026, 24)
    assert len(cells) == 24 and len({c.number for c in cells}) == 24
    xs = [c.square.centroid.x for c in cells]
    # The grid spans about 1,000 km west to east; 24 cells taken in order would all be west.
    assert max(xs) - min(xs) > 600_000


def test_organisations_of_every_category_in_departments_the_cells_touch():
    cells = pick_cells(2026, 24)
    orgs = organisations("t-2026", 50, cells, random.Random(3))
    assert len(orgs) == 50 and len({o.organisation_id for o in orgs}) == 50
    assert {o.category for o in orgs} == set(OrganisationCategory)
    union = shapely.union_all([c.square for c in cells])
    depts = departments_l93()
    assert all(depts[o.department][1].intersects(union) for o in orgs)
    publics = {o.organisation_id for o in orgs if o.category is OrganisationCategory.FRENCH_PUBLIC}
    contractors = [o for o in orgs if o.category is OrganisationCategory.CONTRACTOR]
    assert contractors and all(o.commissioning in publics for o in contractors)
    assert all(o.commissioning is None for o in orgs if o.category is not OrganisationCategory.CONTRACTOR)


def test_a_field_lies_inside_its_department_and_its_cell():
    cells = pick_cells(2026, 60)
    rng = random.Random(7)
    dept = "63"  # Puy-de-Dôme
    near = touching(dept, cells)
    assert near, "some of 60 cells spread over France touch the Puy-de-Dôme"
    for _ in range(20):
        cell = rng.choice(near)
        found = field_in(dept, cell, rng, km2=5)
        if found is None:
            continue  # the department barely touches that cell
        field = _l93(shape(found))
        assert abs(field.area / 1e6 - 5) < 0.05
        assert departments_l93()[dept][1].contains(field) and cell.square.contains(field)


def test_percentiles_are_nearest_rank():
    assert percentiles([]) == {"n": 0, "p50": None, "p95": None, "max": None}
    values = [float(v) for v in range(1, 101)]  # 1..100
    got = percentiles(values)
    assert got["n"] == 100 and got["p50"] == 50.5 and got["p95"] == 95.0 and got["max"] == 100.0
