"""The indicators on a scripted scenario (dinamis_reporting.scenario), through the real
writer, an in-memory object store, the lake and the engine: every expected value below
is computed by hand from the scenario's events (the comments say how)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from dinamis_reporting.archive.store import StoredObject
from dinamis_reporting.archive.writer import ArchiveWriter, Record
from dinamis_reporting.indicators.engine import Indicator, IndicatorError, Indicators, Measure, Query
from dinamis_reporting.indicators.functions import area_km2, default_grid_file, load_prices, sensor_family
from dinamis_reporting.lake import Lake
from dinamis_reporting.scenario import (
    CELL_ACQUIRED_ONLY,
    CELL_PUBLISHED_1,
    CELL_PUBLISHED_2,
    PERSONAL,
    box,
    cell_centre,
    scenario,
)
from dinamis_shared import cloudevents

Y0, Y1 = 2025, 2026
PREFIX = "t-"


class MemoryStore:
    """The archive's ObjectStore port, in memory."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    async def get(self, key: str) -> bytes:
        return self.objects[key]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def list(self, prefix: str = "") -> list[StoredObject]:
        return [
            StoredObject(k, hashlib.md5(v).hexdigest(), len(v))  # an etag, not security
            for k, v in sorted(self.objects.items())
            if k.startswith(prefix)
        ]


def records(prefix: str = PREFIX, year: int = Y0) -> list[Record]:
    grid = default_grid_file()
    assert grid is not None
    out = []
    for i, s in enumerate(scenario(prefix, year, grid)):
        r = cloudevents.encode(s.event, source="/tests", event_id=s.event_id, time=s.time)
        out.append(Record(r.topic, 0, i, r.key, r.value, [(k, v.encode()) for k, v in r.headers.items()]))
    return out


class World:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.lake = Lake(self.store, ":memory:")
        self.indicators = Indicators()

    async def load(self, batch: list[Record]) -> None:
        await ArchiveWriter(self.store).write(batch)
        await self.lake.refresh()
        self.indicators.prepare(self.lake.con)

    def rows(
        self, name: str, by: tuple[str, ...] = (), public: bool = False, **filters: str
    ) -> list[dict[str, Any]]:
        query = Query(by=by, filters={k: tuple(v.split(",")) for k, v in filters.items()})
        return self.indicators.compute(self.lake.cursor(), name, query, public=public).rows

    def one(self, name: str, **filters: str) -> dict[str, Any]:
        (row,) = self.rows(name, **filters)
        return row


@pytest.fixture(scope="module")
def world() -> World:
    w = World()
    asyncio.run(w.load(records()))
    return w


# --- areas: the geodesic area against the closed form of the ellipsoid ----------------------


def zone_area_km2(lat1: float, lat2: float, dlon: float) -> float:
    """The area of a lon/lat box on the WGS 84 ellipsoid (closed form of the zone between
    two parallels, times the share of the longitudes)."""
    a, f = 6378137.0, 1 / 298.257223563
    b = a * (1 - f)
    e = math.sqrt(1 - (b / a) ** 2)

    def q(phi: float) -> float:
        s = math.sin(math.radians(phi))
        return s / (1 - e * e * s * s) + math.log((1 + e * s) / (1 - e * s)) / (2 * e)

    return math.pi * b * b * (q(lat2) - q(lat1)) * dlon / 360 / 1e6


def test_area_is_geodesic() -> None:
    # The polygon's edges are geodesics: a 1° × 1° box at the equator gains the bulge of its
    # northern edge (about 4 m over 111 km: 0.3 km², 2.6e-5 of the area).
    one_degree = json.dumps(box(0.5, 0.5, half=0.5))
    assert area_km2(one_degree) == pytest.approx(zone_area_km2(0, 1, 1), rel=5e-5)
    assert area_km2(one_degree) != pytest.approx(zone_area_km2(0, 1, 1), rel=1e-5)
    # A footprint-sized box (0.1°): edges bulging both ways, the difference vanishes.
    paris = json.dumps(box(2.35, 48.85))
    assert area_km2(paris) == pytest.approx(zone_area_km2(48.8, 48.9, 0.1), rel=1e-6)
    for bad in (None, "", "not json", '{"type": "Point", "coordinates": [0, 0]}', "[1, 2]"):
        assert area_km2(bad) is None


def test_sensor_family_from_the_missions() -> None:
    assert sensor_family("PNEO4", None, None) == "pleiades-neo"
    assert sensor_family(None, "Pleiades-1A", None) == "pleiades"
    assert sensor_family(None, None, "spot-6-7-france-2025") == "spot-6-7"
    assert sensor_family(None, None, "pleiades-neo-tasking") == "pleiades-neo"
    assert sensor_family(None, "unknown", "other") is None


def test_prices_are_a_versioned_table() -> None:
    prices = load_prices()
    assert prices.source.startswith("Prix catalogue indicatifs")
    assert {(f, k) for f, k, _ in prices.rows} == {
        (f, k) for f in ("pleiades", "pleiades-neo", "spot-6-7") for k in ("archive", "tasking")
    }


# --- the indicators ------------------------------------------------------------------------


def test_members_organisations(world: World) -> None:
    # 2025: A (active 1 Feb), B (1 Mar), C (1 Jun) active; E approved 1 Apr, expired 31 Dec.
    # 2026: A, B active, D new (15 Jan), C suspended (1 Mar), E still expired; F only pending.
    rows = world.rows("members_organisations", by=("year",), year=f"{Y0},{Y1}")
    assert rows == [
        {
            "year": str(Y0),
            "organisations_active": 3,
            "organisations_new": 4,
            "organisations_suspended": 0,
            "organisations_expired": None,  # 1: a count of organisations under 3, hidden
            "organisations": 4,
            "suppressed": False,
        },
        {
            "year": str(Y1),
            "organisations_active": 3,
            "organisations_new": None,  # 1 (D): hidden
            "organisations_suspended": None,  # 1 (C): hidden
            "organisations_expired": None,  # 1 (E): hidden
            "organisations": 5,
            "suppressed": False,
        },
    ]


def test_public_filters_cannot_undo_a_suppression(world: World) -> None:
    # The security review's differencing: a public answer by region suppresses the small
    # regions; asking for one region, or two at once, must not bring a hidden value back
    # nor sum two hidden cells. Public filters are breakdowns: one row per value asked.
    by_region = world.rows("members_organisations", by=("region",), public=True, year=str(Y1))
    hidden = {r["region"] for r in by_region if r["suppressed"]}
    assert hidden  # one organisation per region in Y1
    for region in hidden:
        (alone,) = world.rows("members_organisations", public=True, year=str(Y1), region=region)
        assert alone["suppressed"] and alone["organisations_active"] is None
    pair = world.rows("members_organisations", public=True, year=str(Y1), region=",".join(sorted(hidden)[:2]))
    assert len(pair) == 2 and all(r["suppressed"] for r in pair)
    assert {"year", "region"} <= set(pair[0])


def test_members_by_region(world: World) -> None:
    # 2026 by region: 11 (A, Paris), 84 (B, Rhône), 76 (C), 93 (D), 75 (E): one each.
    rows = world.rows("members_organisations", by=("region",), year=str(Y1))
    assert [r["region"] for r in rows] == ["11", "75", "76", "84", "93"]
    assert all(r["suppressed"] and r["organisations_active"] is None for r in rows)


def test_members_users(world: World) -> None:
    # 2025: u1 (A), u2 (A), u6 (B), u4 (C, active from 1 Jul): 4 new, 4 active.
    # 2026: u3 (B), u5 (D) new; u2 deactivated 1 Jun: u1, u3, u4, u5, u6 active.
    # The DINAMIS operator (organisation "dinamis", no organisation events) is not counted.
    rows = world.rows("members_users", by=("year",), year=f"{Y0},{Y1}")
    assert rows == [
        {"year": str(Y0), "users_active": 4, "users_new": 4, "organisations": 3, "suppressed": False},
        {"year": str(Y1), "users_active": 5, "users_new": 2, "organisations": 4, "suppressed": False},
    ]


def test_acquisitions_requests(world: World) -> None:
    # R1..R7: requested 100+50+40+200+10+30+25; approved R1 90, R2 50, R4 200;
    # acquired R1 90 × 0.8 (its latest covered share) + R4 200 × 1.0; on quota 90+20+0;
    # co-financed 0+30+200.
    assert world.one("acquisitions_requests") == {
        "requests": 7,
        "requests_approved": 3,
        "requested_km2": 455.0,
        "approved_km2": 340.0,
        "acquired_km2": 272.0,
        "quota_km2": 110.0,
        "cofinanced_km2": 230.0,
        "organisations": 5,
        "suppressed": False,
    }
    rows = world.rows("acquisitions_requests", by=("year",))
    assert rows == [
        # 2025: R1 (A), R2 (B), R3 (C), R7 (E)
        {
            "year": str(Y0),
            "requests": 4,
            "requests_approved": 2,
            "requested_km2": 215.0,
            "approved_km2": 140.0,
            "acquired_km2": 72.0,
            "quota_km2": 110.0,
            "cofinanced_km2": 30.0,
            "organisations": 4,
            "suppressed": False,
        },
        # 2026: R4 (D), R5 (A), R6 (B)
        {
            "year": str(Y1),
            "requests": 3,
            "requests_approved": 1,
            "requested_km2": 240.0,
            "approved_km2": 200.0,
            "acquired_km2": 200.0,
            "quota_km2": 0.0,
            "cofinanced_km2": 200.0,
            "organisations": 3,
            "suppressed": False,
        },
    ]


def test_acquisitions_funding_and_kind(world: World) -> None:
    # Funding: R1 quota (A), R2 mixed (B), R4 cofinancing (D): one organisation each,
    # suppressed (three of them together: 3 organisations, no complementary one needed); the
    # undecided or rejected R3 (C), R5 (A), R6 (B), R7 (E): 4 organisations, 105 km² asked.
    rows = world.rows("acquisitions_requests", by=("funding",))
    assert [(r["funding"], r["suppressed"]) for r in rows] == [
        ("cofinancing", True),
        ("mixed", True),
        ("quota", True),
        (None, False),
    ]
    assert (rows[3]["requests"], rows[3]["requested_km2"], rows[3]["organisations"]) == (4, 105.0, 4)
    # Kind: tasking R1 (A), R3 (C), R4 (D), R7 (E): 4 organisations; archive R2, R5, R6: A, B
    # (2, suppressed) -> tasking is suppressed too (else the total gives archive away).
    rows = world.rows("acquisitions_requests", by=("kind",))
    assert [(r["kind"], r["organisations"], r["suppressed"]) for r in rows] == [
        ("archive", None, True),
        ("tasking", None, True),
    ]


def test_acquisitions_turnaround(world: World) -> None:
    # Submission -> decision (days): R1 2, R2 4, R3 1.5, R4 10, R5 2, R7 3 (R6 undecided):
    # median of [1.5, 2, 2, 3, 4, 10] = 2.5; p90 (linear) = 4 + 0.5 × 6 = 7.
    # Decision -> first scene: R1 10 (3 -> 13 Mar), R4 10 (11 -> 21 Feb).
    # First scene -> fulfilled: R1 10 (13 -> 23 Mar), R4 8 (21 Feb -> 1 Mar): median 9, p90 9.8.
    # Submission -> fulfilled: R1 22, R4 28: median 25, p90 27.4.
    assert world.one("acquisitions_turnaround") == {
        "requests": 7,
        "decision_median_days": 2.5,
        "decision_p90_days": 7.0,
        "first_scene_median_days": 10.0,
        "first_scene_p90_days": 10.0,
        "fulfilment_median_days": 9.0,
        "fulfilment_p90_days": 9.8,
        "total_median_days": 25.0,
        "total_p90_days": 27.4,
        "organisations": 5,
        "suppressed": False,
    }


def test_acquisitions_rejections(world: World) -> None:
    # R3 (C, 40 km², "quota"), R5 (A, 10 km², covered by the catalogue), R7 (E, 25 km², out of scope).
    assert world.one("acquisitions_rejections") == {
        "requests_rejected": 3,
        "rejected_km2": 75.0,
        "organisations": 3,
        "suppressed": False,
    }
    rows = world.rows("acquisitions_rejections", by=("reason",))
    assert [(r["reason"], r["suppressed"]) for r in rows] == [
        ("covered-by-catalogue", True),
        ("out-of-scope", True),
        ("quota", True),
    ]


def test_coverage_cells(world: World) -> None:
    grid = default_grid_file()
    assert grid is not None
    planned = len(json.loads(grid.read_text())["features"])
    # Campaign france-2025: S2 delivered 10 May (cell 100), published 12 May, 3.5 % cloud;
    # S3 delivered 1 Jun (cell 101 by its tasking reference), never published; S4 delivered
    # 1 Jul (cell 150), published 3 Jul, 10 % cloud.
    assert world.rows("coverage_cells", by=("campaign",), public=True) == [
        {
            "campaign": f"france-{Y0}",
            "cells_planned": planned,
            "cells_acquired": 3,
            "cells_published": 2,
            "acquired_share": round(3 / planned, 4),
            "first_acquired_at": f"{Y0}-05-10",
            "last_published_at": f"{Y0}-07-03",
            "cloud_mean": 6.75,
        },
    ]
    assert (CELL_PUBLISHED_1, CELL_ACQUIRED_ONLY, CELL_PUBLISHED_2) == (100, 101, 150)


def test_use_products(world: World) -> None:
    # 8 products in 6 orders; ready all but P7; downloaded P1 (2), P2, P3, P6 (3), P8: 8 reads.
    assert world.one("use_products") == {
        "orders": 6,
        "products_ordered": 8,
        "products_ready": 7,
        "products_downloaded": 5,
        "downloads": 8,
        "organisations": 4,
        "suppressed": False,
    }
    assert world.rows("use_products", by=("year",), public=True) == [
        # O1 (A), O2 (B), O3 (C): P1..P5, downloads P1 ×2, P2, P3
        {
            "year": str(Y0),
            "orders": 3,
            "products_ordered": 5,
            "products_ready": 5,
            "products_downloaded": 3,
            "downloads": 4,
            "organisations": 3,
            "suppressed": False,
        },
        # O4 (D), O5 (A), O6 (B): P6..P8, downloads P6 ×3, P8
        {
            "year": str(Y1),
            "orders": 3,
            "products_ordered": 3,
            "products_ready": 2,
            "products_downloaded": 2,
            "downloads": 4,
            "organisations": 3,
            "suppressed": False,
        },
    ]


def l93_area_km2(geometry: dict[str, Any]) -> float:
    """An independent area: an equal-area projection (ETRS89-LAEA, EPSG:3035)."""
    to = Transformer.from_crs(4326, 3035, always_xy=True)
    return float(
        shapely.transform(shape(geometry), lambda xy: list(zip(*to.transform(*xy.T), strict=True))).area / 1e6
    )


def scene_areas() -> dict[str, float]:
    grid = default_grid_file()
    assert grid is not None
    return {
        "S1": l93_area_km2(box(2.35, 48.85)),
        "S2": l93_area_km2(box(*cell_centre(100, grid), half=0.2)),
        "S4": l93_area_km2(box(*cell_centre(150, grid), half=0.2)),
        "S5": l93_area_km2(box(5.0, 45.0, half=0.1)),
    }


def test_use_reuse(world: World) -> None:
    a = scene_areas()
    # Archived S1, S2, S4, S5, S6 (S3 never ingested); ordered by: S1 A, B; S2 A, B, C; S4 B;
    # S5 D, A; S6 nobody. Reuse = (2 + 3 + 1 + 2) / 4 scenes; per km²: weighted by area.
    used = a["S1"] + a["S2"] + a["S4"] + a["S5"]
    weighted = 2 * a["S1"] + 3 * a["S2"] + a["S4"] + 2 * a["S5"]
    row = world.one("use_reuse")
    assert {k: row[k] for k in ("scenes_archived", "scenes_used", "archive_used_share", "reuse_factor")} == {
        "scenes_archived": 5,
        "scenes_used": 4,
        "archive_used_share": 0.8,
        "reuse_factor": 2.0,
    }
    assert row["used_km2"] == pytest.approx(used, rel=1e-3)
    assert row["reuse_factor_km2"] == pytest.approx(weighted / used, abs=1e-3)
    assert row["organisations"] == 4


def test_use_coverage_by_department(world: World) -> None:
    # Coverage scenes ordered: S2 by A (P2, 1 download), B (P3, 1), C (P5, 0); S4 by B (P4, 0).
    assert world.one("use_coverage_by_department") == {
        "scenes": 2,
        "products_ordered": 4,
        "downloads": 2,
        "organisations": 3,
        "suppressed": False,
    }
    rows = world.rows("use_coverage_by_department", by=("department",))
    assert [(r["department"], r["suppressed"]) for r in rows] == [("31", True), ("69", True), ("75", True)]


def test_quotas(world: World) -> None:
    # Latest entry (highest seq) of each ledger: A pleiades-neo 2025-Q1 (200, 0, 72),
    # B pleiades 2025 (100, 20, 0), C pleiades-neo 2025-Q2 (50, 0, 0), D spot 2026 (250, 0, 0).
    assert world.one("quotas") == {
        "ledgers": 4,
        "allocated_km2": 600.0,
        "reserved_km2": 20.0,
        "consumed_km2": 72.0,
        "consumption_rate": 0.12,
        "organisations": 4,
        "suppressed": False,
    }
    assert world.one("quotas", year=str(Y0)) == {
        "ledgers": 3,
        "allocated_km2": 350.0,
        "reserved_km2": 20.0,
        "consumed_km2": 72.0,
        "consumption_rate": round(72 / 350, 4),
        "organisations": 3,
        "suppressed": False,
    }


def test_money(world: World) -> None:
    a = scene_areas()
    # Ready products: P1, P8 on S1 (pleiades-neo, from tasking request R1: 28 €/km²);
    # P2, P3, P5 on S2 and P4 on S4 (SPOT coverage, archive: 3.5 €/km²); P6 on S5 (SPOT,
    # tasking R4: 7 €/km²). Co-financing: R2 30 km² pleiades archive (11 €) + R4 200 km²
    # SPOT tasking (7 €) = 330 + 1400.
    delivered = 2 * a["S1"] + 3 * a["S2"] + a["S4"] + a["S5"]
    value = 28 * 2 * a["S1"] + 3.5 * (3 * a["S2"] + a["S4"]) + 7 * a["S5"]
    row = world.one("money")
    assert row["delivered_km2"] == pytest.approx(delivered, rel=1e-3)
    assert row["delivered_value_eur"] == pytest.approx(value, rel=1e-3)
    assert (row["cofinanced_km2"], row["cofinanced_eur"], row["organisations"]) == (230.0, 1730.0, 4)


# --- replay, privacy, refusals -----------------------------------------------------------------


def test_replaying_changes_nothing() -> None:
    async def run() -> tuple[list[str], list[str], list[Any], list[Any]]:
        w = World()
        await w.load(records())
        keys = sorted(w.store.objects)
        first = [w.rows(n) for n in sorted(w.indicators.catalogue)]
        await w.load(records())  # the same events again (same ids): a replay from offset 0
        await w.load(list(reversed(records())))
        return keys, sorted(w.store.objects), first, [w.rows(n) for n in sorted(w.indicators.catalogue)]

    before_keys, after_keys, before, after = asyncio.run(run())
    assert before_keys == after_keys
    assert before == after


def test_no_personal_data_in_any_output(world: World) -> None:
    secrets = [*PERSONAL, f"{PREFIX}user-", f"{PREFIX}A", "@example", "Organisation A de test", "insuffisant"]
    for name, ind in world.indicators.catalogue.items():
        outputs = [world.rows(name)] + [world.rows(name, by=(d,)) for d in ind.dimensions]
        outputs.append(world.rows(name, by=ind.dimensions))
        text = json.dumps(outputs, ensure_ascii=False)
        for secret in secrets:
            assert secret not in text, (name, secret)


def test_refusals(world: World) -> None:
    with pytest.raises(IndicatorError) as e:
        world.rows("nope")
    assert e.value.code == "unknown-indicator"
    with pytest.raises(IndicatorError) as e:
        world.rows("members_organisations", by=("department",), public=True)  # not public
    assert e.value.code == "unknown-dimension"
    with pytest.raises(IndicatorError) as e:
        world.rows("members_organisations", year="2025'; DROP TABLE raw_events; --")
    assert e.value.code == "bad-filter"
    with pytest.raises(IndicatorError) as e:
        world.rows("members_organisations", by=("year", "year"))
    assert e.value.code == "bad-dimension"


def test_catalogue_holds_the_contract(world: World) -> None:
    assert set(world.indicators.catalogue) >= {
        "members_organisations",
        "members_users",
        "acquisitions_requests",
        "acquisitions_turnaround",
        "acquisitions_rejections",
        "coverage_cells",
        "use_products",
        "use_reuse",
        "use_coverage_by_department",
        "quotas",
        "money",
    }


# --- suppression on hand-made rows -------------------------------------------------------------


def _indicator() -> Indicator:
    return Indicator(
        name="t",
        version=1,
        title_fr="t",
        title_en="t",
        definition_fr="",
        definition_en="",
        unit="",
        dimensions=("year", "category"),
        public_dimensions=(),
        measures=(Measure("n", "count(*)", "", "", ""),),
        privacy="organisations",
        facts="",
    )


def _cells(table: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    return [
        {
            "year": y,
            "category": c,
            "n": n * 10,
            "organisations": n,
            "_organisation_ids": [f"{y}-{c}-{i}" for i in range(n)],  # disjoint cells
        }
        for (y, c), n in table.items()
    ]


def suppressed(table: dict[tuple[str, str], int]) -> set[tuple[str, str]]:
    rows = _cells(table)
    Indicators().suppress(_indicator(), ["year", "category"], rows)
    for r in rows:
        assert (r["n"] is None) == r["suppressed"]
    return {(r["year"], r["category"]) for r in rows if r["suppressed"]}


def test_suppressed_cells_together_count_distinct_organisations() -> None:
    # Two hidden cells of one row: {o1, o2} and {o1} are 3 organisations by their counts but
    # 2 distinct ones (the row's total minus the rest would give their sum to o2, who then
    # learns o1's): the smallest shown cell of the row goes too.
    rows = [
        {"year": "2025", "category": "a", "n": 1, "organisations": 2, "_organisation_ids": ["o1", "o2"]},
        {"year": "2025", "category": "b", "n": 1, "organisations": 1, "_organisation_ids": ["o1"]},
        {
            "year": "2025",
            "category": "c",
            "n": 1,
            "organisations": 4,
            "_organisation_ids": ["p1", "p2", "p3", "p4"],
        },
        {"year": "2025", "category": "d", "n": 1, "organisations": 5, "_organisation_ids": list("qrstu")},
    ]
    Indicators().suppress(_indicator(), ["category"], rows)
    assert [r["category"] for r in rows if r["suppressed"]] == ["a", "b", "c"]


def test_suppression_primary_and_complementary() -> None:
    # One small cell in a row of the table: the smallest other cell of its row and of its
    # column go too; then the cell at their crossing (else its row and column would each
    # hold a lone suppressed cell).
    table = {
        ("2025", "a"): 2,
        ("2025", "b"): 5,
        ("2025", "c"): 9,
        ("2026", "a"): 6,
        ("2026", "b"): 4,
        ("2026", "c"): 8,
    }
    assert suppressed(table) == {("2025", "a"), ("2025", "b"), ("2026", "a"), ("2026", "b")}


def test_suppression_cascades_to_a_fixpoint() -> None:
    # (2025, a) is small; its row takes (2025, b) (5 < 7), its column (2027, a) (3 < 6 < 10);
    # (2025, b) then leaves column b with a lone hidden cell: (2027, b) (4 < 8) goes; column
    # and row now hold two each. Then every row and column holds 0 or ≥ 2 hidden cells.
    table = {
        ("2025", "a"): 1,
        ("2025", "b"): 5,
        ("2025", "c"): 7,
        ("2026", "a"): 10,
        ("2026", "b"): 8,
        ("2026", "c"): 9,
        ("2027", "a"): 3,
        ("2027", "b"): 4,
        ("2027", "c"): 12,
    }
    hidden = suppressed(table)
    assert hidden == {("2025", "a"), ("2025", "b"), ("2027", "a"), ("2027", "b")}
    for y in ("2025", "2026", "2027"):
        assert len({c for (yy, c) in hidden if yy == y}) != 1
    for c in ("a", "b", "c"):
        assert len({y for (y, cc) in hidden if cc == c}) != 1


def test_suppression_two_tiny_cells_together_are_not_enough() -> None:
    # Two cells of 1 organisation each in one row: together 2 < 3, their sum would tell a
    # group of fewer than 3 organisations: a third cell goes.
    rows = [
        {"category": c, "n": n, "organisations": n, "_organisation_ids": [f"{c}{i}" for i in range(n)]}
        for c, n in (("a", 1), ("b", 1), ("c", 4), ("d", 6))
    ]
    ind = _indicator()
    Indicators().suppress(ind, ["category"], rows)
    assert [r["suppressed"] for r in rows] == [True, True, True, False]


def test_suppression_threshold_is_never_below_three() -> None:
    with pytest.raises(ValueError):
        Indicators(min_organisations=2)


def test_grid_file_is_the_portals() -> None:
    grid = default_grid_file()
    assert grid is not None and grid.name == "grille-couverture.geojson"
    assert Path(grid).parent.name == "basemap"
