"""The yearly coverage board with fakes of the portal's own ports (its store in memory):
the cell state machine (every transition, idempotence, out-of-order, hostile events),
the scene→cell mapping, the progress and target-line arithmetic, the pages, the actions
(journaled) and the live stream's bounds."""

from __future__ import annotations

import asyncio
import copy
import re
import uuid
from datetime import UTC, date, datetime

import pytest

from dinamis_portal.coverage.board import CoverageBoard, CoverageSettings, tasking_ref
from dinamis_portal.coverage.consumer import check_published, handle_record
from dinamis_portal.coverage.grid import footprint_centre, load_grid
from dinamis_portal.coverage.state import (
    actual_series,
    chart_svg_data,
    derive,
    progress,
    progress_by_region,
    target_share,
)
from dinamis_portal.coverage.store import cell_key
from dinamis_portal.entrypoints import ops_coverage
from dinamis_portal.entrypoints.ops_coverage import stream_changes
from dinamis_shared import cloudevents
from dinamis_shared.events import SceneAcquiredV1, SceneIngestedV1, SceneRejectedV1, StagingLocation

CAMPAIGN = "france-2026"
STAFF = {"user_id": "op-1", "email": "op@dinamis.example"}


class MemoryCoverageStore:
    """coverage.store.CoverageStore in memory."""

    def __init__(self) -> None:
        self.cells_d: dict[str, dict] = {}
        self.scenes_d: dict[str, dict] = {}

    async def plan(self, cells):
        created = 0
        for doc in cells:
            if doc["_id"] not in self.cells_d:
                self.cells_d[doc["_id"]] = copy.deepcopy(doc)
                created += 1
        return created

    async def campaign_planned(self, campaign):
        return any(c["campaign"] == campaign for c in self.cells_d.values())

    async def cells(self, campaign):
        found = [copy.deepcopy(c) for c in self.cells_d.values() if c["campaign"] == campaign]
        return sorted(found, key=lambda c: c["cell"])

    async def changed_since(self, campaign, rev, limit=500):
        found = [c for c in await self.cells(campaign) if c["rev"] > rev]
        return sorted(found, key=lambda c: c["rev"])[:limit]

    async def cell(self, campaign, number):
        found = self.cells_d.get(cell_key(campaign, number))
        return copy.deepcopy(found) if found else None

    async def save_cell(self, doc, expected_rev):
        current = self.cells_d.get(doc["_id"])
        if current is None or current["rev"] != expected_rev:
            return False
        self.cells_d[doc["_id"]] = copy.deepcopy(doc)
        return True

    async def scene(self, scene_id):
        found = self.scenes_d.get(scene_id)
        return copy.deepcopy(found) if found else None

    async def save_scene(self, doc):
        self.scenes_d[doc["_id"]] = copy.deepcopy(doc)

    async def scenes_of(self, campaign, number):
        return [
            copy.deepcopy(s)
            for s in self.scenes_d.values()
            if s["campaign"] == campaign and s["cell"] == number
        ]

    async def cells_in_state(self, state, limit):
        return [copy.deepcopy(c) for c in self.cells_d.values() if c["state"] == state][:limit]


def new_board() -> CoverageBoard:
    return CoverageBoard(MemoryCoverageStore(), CoverageSettings(coverage_cloud_max=20.0), grid=load_grid())


def ring_of(number: int) -> list:
    return load_grid().cells[number].ring


def acquired(number: int, scene_id: str | None = None, campaign: str | None = CAMPAIGN) -> SceneAcquiredV1:
    return SceneAcquiredV1(
        scene_id=scene_id or f"SPOT6-20260601103000-{tasking_ref(2026, number)}",
        supplier="airbus",
        mission="SPOT6",
        supplier_product_id=tasking_ref(2026, number),
        staging=StagingLocation(prefix=f"airbus/{number}/"),
        campaign=campaign,
        delivered_at=datetime(2026, 6, 1, 12, tzinfo=UTC),
    )


def ingested(number: int, scene_id: str | None = None, cloud: float = 5.0, geometry=None, version: int = 1):
    sid = scene_id or f"SPOT6-20260601103000-{tasking_ref(2026, number)}"
    return SceneIngestedV1(
        scene_id=sid,
        version=version,
        collection=f"spot-6-7-{CAMPAIGN}",
        item={
            "type": "Feature",
            "id": sid,
            "collection": f"spot-6-7-{CAMPAIGN}",
            "geometry": geometry or {"type": "Polygon", "coordinates": [ring_of(number)]},
            "properties": {"eo:cloud_cover": cloud},
        },
        archive_prefix=f"spot/{sid}/",
        manifest_sha256="0" * 64,
    )


def rejected(number: int, scene_id: str | None = None) -> SceneRejectedV1:
    return SceneRejectedV1(
        scene_id=scene_id or f"SPOT6-20260601103000-{tasking_ref(2026, number)}",
        supplier="airbus",
        supplier_product_id=tasking_ref(2026, number),
        staging=StagingLocation(prefix=f"airbus/{number}/"),
        reason_code="checksum-mismatch",
        reason="IMG_PAN.TIF: sha256 differs from the announced checksum",
    )


async def planned_board() -> CoverageBoard:
    board = new_board()
    await board.plan(CAMPAIGN, 2026, STAFF)
    return board


async def state_of(board: CoverageBoard, number: int) -> dict:
    return await board.store.cell(CAMPAIGN, number)


def eid() -> str:
    return str(uuid.uuid4())


# --- the grid: scene → cell -------------------------------------------------------------


def test_every_simulated_cell_maps_to_its_own_number():
    from dinamis_sim.coverage import CELL_M, coverage_cells

    grid = load_grid()
    cells = coverage_cells(2026)
    assert len(cells) == len(grid.cells) == 243
    assert len(grid.regions) == 13
    for cell in cells:
        d = 0.3  # a footprint around the cell's centre, as the simulator's scene
        footprint = {
            "type": "Polygon",
            "coordinates": [
                [
                    [cell.lon - d, cell.lat - d],
                    [cell.lon + d, cell.lat - d],
                    [cell.lon + d, cell.lat + d],
                    [cell.lon - d, cell.lat + d],
                    [cell.lon - d, cell.lat - d],
                ]
            ],
        }
        found = grid.cell_of_footprint(footprint)
        assert found is not None and found.number == cell.index, cell
    x0, y0, x1, y1 = grid.cells[1].box_l93
    assert (x1 - x0, y1 - y0) == (CELL_M, CELL_M)


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Polygon", "coordinates": [[[-40, 10], [-39, 10], [-39, 11], [-40, 10]]]},  # Atlantic
        {
            "type": "Polygon",
            "coordinates": [[[13.3, 52.4], [13.5, 52.4], [13.5, 52.6], [13.3, 52.4]]],
        },  # Berlin
        {"type": "Point", "coordinates": [2.3, 48.8]},
        {"type": "Polygon", "coordinates": "nonsense"},
        None,
        {"type": "Polygon", "coordinates": [[[500, 10], [501, 10], [501, 11], [500, 10]]]},
    ],
)
def test_a_footprint_outside_the_grid_or_unusable_has_no_cell(geometry):
    assert load_grid().cell_of_footprint(geometry) is None


def test_the_centre_is_the_footprint_bounding_box_centre():
    assert footprint_centre({"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 4], [0, 0]]]}) == (
        1.0,
        2.0,
    )


def test_every_cell_has_a_region():
    grid = load_grid()
    assert {c.region for c in grid.cells.values()} == set(grid.regions)
    paris = grid.cell_of_footprint(
        {"type": "Polygon", "coordinates": [[[2.3, 48.8], [2.4, 48.8], [2.4, 48.9], [2.3, 48.8]]]}
    )
    assert paris is not None and paris.region == "11"


# --- the state machine ------------------------------------------------------------------


async def test_planning_creates_every_cell_as_planned_and_again_changes_nothing():
    board = await planned_board()
    cells = await board.store.cells(CAMPAIGN)
    assert len(cells) == 243 and {c["state"] for c in cells} == {"planned"}
    assert cells[0]["window"] == {"start": "2026-04-01", "end": "2026-09-30"}
    await board.apply(eid(), acquired(7))
    assert await board.plan(CAMPAIGN, 2026, STAFF) == 0
    assert (await state_of(board, 7))["state"] == "acquired"


async def test_acquired_then_ingested_then_published():
    board = await planned_board()
    assert await board.apply(eid(), acquired(5)) == "applied"
    cell = await state_of(board, 5)
    assert cell["state"] == "acquired" and cell["acquired_at"].startswith("2026-06-01T12:00")
    assert await board.apply(eid(), ingested(5, cloud=12.5)) == "applied"
    cell = await state_of(board, 5)
    assert (cell["state"], cell["cloud"]) == ("ingested", 12.5) and cell["ingested_at"]

    class Catalogue:
        async def item(self, collection, item_id):
            assert collection == "spot-6-7-france-2026"
            return {"id": item_id}

    assert await check_published(board, Catalogue()) == 1
    cell = await state_of(board, 5)
    assert cell["state"] == "published" and cell["published_at"]
    assert [h["state"] for h in cell["history"]] == ["planned", "acquired", "ingested", "published"]
    assert await check_published(board, Catalogue()) == 0  # nothing left to check


async def test_an_item_the_catalogue_does_not_have_yet_leaves_the_cell_ingested():
    from dinamis_portal.upstream import not_found

    board = await planned_board()
    await board.apply(eid(), ingested(9))

    class Catalogue:
        async def item(self, collection, item_id):
            raise not_found("scène", "scene")

    assert await check_published(board, Catalogue()) == 0
    assert (await state_of(board, 9))["state"] == "ingested"


async def test_a_rejected_delivery_shows_its_reason_and_can_be_retasked():
    board = await planned_board()
    await board.apply(eid(), acquired(3))
    await board.apply(eid(), rejected(3))
    cell = await state_of(board, 3)
    assert (cell["state"], cell["reason_code"]) == ("rejected", "checksum-mismatch")
    assert "sha256" in cell["reason"]
    changed = await board.retask(CAMPAIGN, 3, STAFF, "nouvelle programmation demandée")
    assert changed is not None
    cell = await state_of(board, 3)
    assert cell["state"] == "re-tasked" and cell["reason_code"] is None
    assert cell["retasks"][0]["closed"] == [acquired(3).scene_id]
    assert cell["history"][-1]["detail"] == "nouvelle programmation demandée"
    # the new attempt
    await board.apply(eid(), acquired(3, scene_id="SPOT7-20260720103000-second"))
    assert (await state_of(board, 3))["state"] == "acquired"
    await board.apply(eid(), ingested(3, scene_id="SPOT7-20260720103000-second", cloud=2))
    cell = await state_of(board, 3)
    assert (cell["state"], cell["scene_id"]) == ("ingested", "SPOT7-20260720103000-second")
    # a late repeat of the old rejection, under a new event id, changes nothing
    await board.apply(eid(), rejected(3))
    assert (await state_of(board, 3))["state"] == "ingested"


async def test_too_cloudy_above_the_threshold_and_retaskable():
    board = await planned_board()
    await board.apply(eid(), acquired(4))
    await board.apply(eid(), ingested(4, cloud=20.0))
    assert (await state_of(board, 4))["state"] == "ingested"  # at the threshold: kept
    board2 = await planned_board()
    await board2.apply(eid(), ingested(4, cloud=21.0))
    assert (await state_of(board2, 4))["state"] == "too-cloudy"
    assert await board2.retask(CAMPAIGN, 4, STAFF, "trop de nuages") is not None
    assert (await state_of(board2, 4))["state"] == "re-tasked"


@pytest.mark.parametrize("state_events", ["planned", "acquired", "ingested"])
async def test_only_rejected_or_too_cloudy_cells_can_be_retasked(state_events):
    board = await planned_board()
    if state_events in ("acquired", "ingested"):
        await board.apply(eid(), acquired(8))
    if state_events == "ingested":
        await board.apply(eid(), ingested(8))
    assert await board.retask(CAMPAIGN, 8, STAFF, "x") is None
    assert (await state_of(board, 8))["state"] == state_events
    assert await board.retask(CAMPAIGN, 9999, STAFF, "x") is None


async def test_a_redelivered_event_changes_nothing():
    board = await planned_board()
    first, second = eid(), eid()
    await board.apply(first, acquired(11))
    await board.apply(second, ingested(11))
    before = await state_of(board, 11)
    assert await board.apply(first, acquired(11)) == "duplicate"
    assert await board.apply(second, ingested(11)) == "duplicate"
    assert await state_of(board, 11) == before


async def test_out_of_order_a_late_acquired_never_undoes_ingested():
    board = await planned_board()
    await board.apply(eid(), ingested(12))
    await board.apply(eid(), acquired(12))
    cell = await state_of(board, 12)
    assert cell["state"] == "ingested" and cell["acquired_at"]


async def test_out_of_order_a_rejection_before_its_delivery_is_kept_then_applied():
    board = await planned_board()
    assert await board.apply(eid(), rejected(13)) == "skipped:scene-not-in-a-campaign"
    assert (await state_of(board, 13))["state"] == "planned"
    await board.apply(eid(), acquired(13))
    assert (await state_of(board, 13))["state"] == "rejected"


async def test_an_older_version_never_replaces_a_newer_one():
    board = await planned_board()
    await board.apply(eid(), ingested(14, cloud=3, version=2))
    await board.apply(eid(), ingested(14, cloud=90, version=1))
    assert (await state_of(board, 14))["cloud"] == 3


async def test_hostile_or_foreign_events_are_skipped():
    board = await planned_board()
    assert await board.apply(eid(), acquired(1, campaign="pirate-2026")) == "skipped:unknown-campaign"
    assert await board.apply(eid(), acquired(1, campaign=None)) == "skipped:no-campaign"
    far = {"type": "Polygon", "coordinates": [[[-40, 10], [-39, 10], [-39, 11], [-40, 10]]]}
    assert await board.apply(eid(), ingested(1, geometry=far)) == "skipped:outside-the-grid"
    other = ingested(1).model_copy(
        update={"collection": "pleiades-neo-ortho", "item": {**ingested(1).item, "collection": None}}
    )
    assert await board.apply(eid(), other) == "skipped:unknown-campaign"
    assert await board.apply(eid(), object()) == "skipped:not-a-scene-event"
    unplanned = new_board()  # a campaign nobody planned
    assert await unplanned.apply(eid(), acquired(1)) == "skipped:unknown-campaign"
    assert {c["state"] for c in await board.store.cells(CAMPAIGN)} == {"planned"}


async def test_malformed_records_are_skipped_never_raised():
    board = await planned_board()
    good = cloudevents.encode(acquired(2), source="/test")
    headers = list(good.headers.items())
    topic = SceneAcquiredV1.topic()
    cases = [
        (topic, good.key, [], good.value),  # no CloudEvents headers
        (topic, good.key, headers, b"{not json"),
        (topic, good.key, headers, b'{"scene_id": "x"}'),  # missing fields
        (topic, b"another-key", headers, good.value),  # key is not the aggregate
        (SceneIngestedV1.topic(), good.key, headers, good.value),  # type not of this topic
        ("dinamis.something-else.v1", good.key, headers, good.value),
        (topic, good.key, headers, None),
    ]
    for t, key, h, value in cases:
        outcome = await handle_record(board, t, key, [(k, v.encode()) for k, v in h], value)
        assert outcome.startswith("skipped"), (t, key, value)
    assert (await state_of(board, 2))["state"] == "planned"
    outcome = await handle_record(board, topic, good.key, [(k, v.encode()) for k, v in headers], good.value)
    assert outcome == "applied" and (await state_of(board, 2))["state"] == "acquired"


async def test_a_hostile_number_never_freezes_the_board():
    # A cloud cover of 400 digits is valid JSON: it must not raise (the batch would be read
    # again forever, the board frozen); an event the board cannot apply is skipped.
    board = await planned_board()
    huge = ingested(3)
    huge = huge.model_copy(
        update={"item": {**huge.item, "properties": {**huge.item["properties"], "eo:cloud_cover": 10**400}}}
    )
    assert await board.apply(eid(), huge) == "applied"
    assert (await state_of(board, 3))["cloud"] is None

    class Broken:
        store = board.store

        async def apply(self, event_id, event):
            raise ValueError("a bug, or an event nobody foresaw")

    good = cloudevents.encode(acquired(4), source="/test")
    headers = [(k, v.encode()) for k, v in good.headers.items()]
    outcome = await handle_record(Broken(), SceneAcquiredV1.topic(), good.key, headers, good.value)  # type: ignore[arg-type]
    assert outcome == "skipped:unapplicable"


def test_derive_precedence():
    def scene(sid, **facts):
        return {"_id": sid, "facts": facts}

    ok = {"at": "2026-06-01T00:00:00", "cloud": 1}
    cloudy = {"at": "2026-06-02T00:00:00", "cloud": 80}
    assert derive([], set(), False, 20).state == "planned"
    assert derive([], set(), True, 20).state == "re-tasked"
    assert derive([scene("a", acquired={"at": "1"})], {"a"}, True, 20).state == "re-tasked"
    both = [scene("a", ingested=cloudy), scene("b", ingested=ok, published={"at": "x"})]
    assert derive(both, set(), False, 20).state == "published"
    assert (
        derive([scene("a", ingested=cloudy), scene("b", acquired={"at": "3"})], set(), False, 20).state
        == "acquired"
    )
    assert (
        derive(
            [scene("a", rejected={"code": "oversized"}), scene("b", ingested=cloudy)], set(), False, 20
        ).state
        == "too-cloudy"
    )
    assert derive([scene("a", rejected={"code": "x"}, ingested=ok)], set(), False, 20).state == "ingested"
    assert (
        derive([scene("a", ingested=cloudy, published={"at": "x"})], set(), False, 20).state == "too-cloudy"
    )


# --- progress and the target line ------------------------------------------------------


def test_target_share_is_linear_over_the_season():
    assert target_share(2026, date(2026, 3, 31)) == 0.0
    assert target_share(2026, date(2026, 4, 1)) == pytest.approx(1 / 183)
    assert target_share(2026, date(2026, 6, 30)) == pytest.approx(91 / 183)
    assert target_share(2026, date(2026, 9, 30)) == 1.0
    assert target_share(2026, date(2026, 11, 28)) == 1.0


def test_progress_overall_by_region_and_actual_series():
    cells = [
        {"state": "published", "region": "11", "ingested_at": "2026-05-02T10:00:00+00:00"},
        {"state": "ingested", "region": "11", "ingested_at": "2026-05-02T11:00:00+00:00"},
        {"state": "ingested", "region": "53", "ingested_at": "2026-06-10T09:00:00+00:00"},
        {"state": "too-cloudy", "region": "53", "ingested_at": "2026-06-11T09:00:00+00:00"},
        {"state": "rejected", "region": "53"},
        {"state": "planned", "region": "94"},
    ]
    p = progress(cells)
    assert (p.done, p.total, round(p.percent, 1)) == (3, 6, 50.0)
    regions = {
        r[0]: r[2]
        for r in progress_by_region(cells, {"11": "IdF", "53": "Bretagne", "94": "Corse", "24": "Centre"})
    }
    assert (regions["11"].done, regions["11"].total) == (2, 2)
    assert (regions["53"].done, regions["53"].total) == (1, 3)
    assert (regions["24"].total, regions["24"].percent) == (0, 0.0)
    assert actual_series(cells, 2026) == [(date(2026, 5, 2), 2), (date(2026, 6, 10), 3)]
    chart = chart_svg_data(cells, 2026, date(2026, 6, 30))
    assert chart["target"] == [(chart["left"], chart["bottom"]), (chart["right"], chart["top"])]
    assert chart["expected_today"] == round(6 * 91 / 183)
    assert chart["actual"][0] == (chart["left"], chart["bottom"])
    ys = [y for _, y in chart["actual"]]
    assert ys == sorted(ys, reverse=True)  # never goes down
    assert chart["actual"][-1][0] == chart["today_x"]


# --- the pages ----------------------------------------------------------------------------


@pytest.fixture
async def staff_portal(portal):
    portal.app.state.container.coverage = new_board()
    portal.orders.standing = "staff"
    await portal.login()
    return portal


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def test_the_board_offers_to_plan_then_plans_journaled(staff_portal):
    p = staff_portal
    r = await p.client.get("/ops/couverture")
    assert r.status_code == 303 and re.fullmatch(r"/ops/couverture/20[0-9]{2}", r.headers["location"])
    page = await p.client.get("/ops/couverture/2026")
    assert page.status_code == 200 and "pas planifiée" in page.text and "cov-data" not in page.text
    r = await p.client.post("/ops/couverture/2026/planifier", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/ops/couverture/2026?fait=coverage-planned"
    entry = p.audit.recorded[-1]
    assert (entry.action, entry.target, entry.details["cells_created"]) == (
        "coverage.plan",
        "campaign:france-2026",
        243,
    )
    page = await p.client.get("/ops/couverture/2026?fait=coverage-planned")
    assert "La campagne est planifiée." in page.text
    assert page.text.count('<tr id="maille-') == 243
    assert "0 mailles couvertes sur 243" in page.text
    assert "<svg" in page.text and "style=" not in page.text
    assert 'id="cov-data"' in page.text and "/static/app/ops-coverage.js" in page.text


async def test_a_post_without_csrf_is_refused(staff_portal):
    r = await staff_portal.client.post("/ops/couverture/2026/planifier")
    assert r.status_code == 403
    assert staff_portal.audit.recorded == []


async def test_filters_by_state_and_region(staff_portal):
    p = staff_portal
    board = p.app.state.container.coverage
    await board.plan(CAMPAIGN, 2026, STAFF)
    await board.apply(eid(), acquired(1))
    await board.apply(eid(), rejected(1))
    page = await p.client.get("/ops/couverture/2026", params={"etat": "rejected"})
    assert page.text.count('<tr id="maille-') == 1 and "checksum-mismatch" in page.text
    region = load_grid().cells[1].region
    page = await p.client.get("/ops/couverture/2026", params={"region": region})
    expected = sum(1 for c in load_grid().cells.values() if c.region == region)
    assert page.text.count('<tr id="maille-') == expected
    page = await p.client.get("/ops/couverture/2026", params={"etat": "<script>", "region": "' or 1"})
    assert page.status_code == 200 and page.text.count('<tr id="maille-') == 243
    assert '<script>"' not in page.text


async def test_retask_needs_a_reason_a_retaskable_cell_and_is_journaled(staff_portal):
    p = staff_portal
    board = p.app.state.container.coverage
    await board.plan(CAMPAIGN, 2026, STAFF)
    await board.apply(eid(), acquired(1))
    await board.apply(eid(), rejected(1))
    token = csrf((await p.client.get("/ops/couverture/2026")).text)
    url = "/ops/couverture/2026/mailles/1/reprogrammer"
    r = await p.client.post(url, data={"csrf_token": token, "reason": "  "})
    assert r.status_code == 400 and r.json()["code"] == "reason-required"
    assert p.audit.recorded[-1].outcome == "refused"
    r = await p.client.post(
        "/ops/couverture/2026/mailles/2/reprogrammer", data={"csrf_token": token, "reason": "x"}
    )
    assert r.status_code == 409 and r.json()["code"] == "not-retaskable"
    assert "reprogrammée" in r.json()["detail"]
    assert (p.audit.recorded[-1].outcome, p.audit.recorded[-1].details["state"]) == ("refused", "planned")
    reason = "<script>alert(1)</script> nuages"
    r = await p.client.post(url, data={"csrf_token": token, "reason": reason})
    assert r.status_code == 303 and "fait=coverage-retasked" in r.headers["location"]
    entry = p.audit.recorded[-1]
    assert (entry.action, entry.target, entry.reason, entry.outcome) == (
        "coverage.retask",
        "cell:france-2026:1",
        reason,
        "done",
    )
    assert entry.details["from"] == "rejected"
    row = await p.client.get("/ops/couverture/2026/mailles/1")
    assert row.status_code == 200 and "reprogrammée" in row.text
    assert "<script>alert" not in row.text and "&lt;script&gt;alert(1)" in row.text
    # twice: the cell is no longer re-taskable
    r = await p.client.post(url, data={"csrf_token": token, "reason": "again"})
    assert r.status_code == 409


@pytest.mark.parametrize(
    "path",
    [
        "/ops/couverture/1999",
        "/ops/couverture/abcd",
        "/ops/couverture/2026/mailles/0",
        "/ops/couverture/2026/mailles/244",
        "/ops/couverture/2026/mailles/1%20or%201",
        "/ops/couverture/2026/mailles/5",  # a cell of a campaign not planned
    ],
)
async def test_bad_years_and_cells_are_404_not_500(staff_portal, path):
    r = await staff_portal.client.get(path, headers={"Accept": "application/json"})
    assert r.status_code == 404, r.text[:200]


async def test_english(staff_portal):
    await staff_portal.app.state.container.coverage.plan(CAMPAIGN, 2026, STAFF)
    page = await staff_portal.client.get("/ops/couverture/2026?lang=en")
    assert "Yearly coverage 2026" in page.text and "0 of 243 cells covered" in page.text


async def test_the_summary_fragment(staff_portal):
    board = staff_portal.app.state.container.coverage
    await board.plan(CAMPAIGN, 2026, STAFF)
    await board.apply(eid(), ingested(1))
    r = await staff_portal.client.get("/ops/couverture/2026/synthese")
    assert (
        r.status_code == 200
        and 'id="couverture-synthese"' in r.text
        and "1 mailles couvertes sur 243" in r.text
    )
    assert "<html" not in r.text


# --- the live stream -------------------------------------------------------------------


async def test_the_stream_sends_changes_after_the_pages_revision_then_ends():
    board = await planned_board()
    cells = await board.store.cells(CAMPAIGN)
    rev = max(c["rev"] for c in cells)
    await board.apply(eid(), acquired(6))
    parts = []
    async for part in stream_changes(
        board, CAMPAIGN, rev, poll_s=0.01, heartbeat_s=0.02, max_s=0.5, alive=_alive_true
    ):
        parts.append(part)
    assert parts[0] == "retry: 3000\n\n"
    events = [p for p in parts if p.startswith("id:")]
    assert len(events) == 1 and '"state": "acquired"' in events[0] and '"cell": 6' in events[0]
    assert "event: cell" in events[0]
    assert ": heartbeat\n\n" in parts  # quiet afterwards: heartbeats, then the end (max_s)
    assert "tasking_ref" not in events[0] and "history" not in events[0]  # only what the page shows


async def _alive_true() -> bool:
    return True


async def test_the_stream_ends_when_the_session_is_over():
    board = await planned_board()

    async def gone() -> bool:
        return False

    parts = [
        p
        async for p in stream_changes(
            board, CAMPAIGN, None, poll_s=0.01, heartbeat_s=0.01, max_s=5, alive=gone
        )
    ]
    assert parts[-1].startswith("event: session-ended")


async def test_streams_per_session_are_limited(staff_portal, monkeypatch):
    await staff_portal.app.state.container.coverage.plan(CAMPAIGN, 2026, STAFF)
    limit = staff_portal.app.state.container.coverage.settings.coverage_streams_per_session
    session_keys = [k for k in staff_portal.store.records if not k.startswith("claim:")]
    monkeypatch.setattr(ops_coverage, "OPEN_STREAMS", {k: limit for k in session_keys})
    r = await staff_portal.client.get("/ops/couverture/2026/flux", headers={"Accept": "application/json"})
    assert r.status_code == 429 and r.json()["code"] == "too-many-streams"


async def test_the_stream_route_streams_for_staff(staff_portal, monkeypatch):
    board = staff_portal.app.state.container.coverage
    board.settings = CoverageSettings(coverage_stream_max_s=0.05, coverage_stream_poll_s=0.01)
    await board.plan(CAMPAIGN, 2026, STAFF)
    r = await staff_portal.client.get("/ops/couverture/2026/flux", params={"depuis": "0"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.text.startswith("retry: 3000") and r.text.count("event: cell") == 243
    for _ in range(100):  # the slot is given back (by the stream's end, or its background task)
        if not any(ops_coverage.OPEN_STREAMS.values()):
            break
        await asyncio.sleep(0.01)
    assert not any(ops_coverage.OPEN_STREAMS.values())


def test_a_cell_document_without_its_null_keys_is_completed():
    from dinamis_portal.coverage.store import complete

    doc = complete({"_id": "france-2026:1", "campaign": CAMPAIGN, "cell": 1, "state": "planned", "rev": 5})
    assert doc["reason_code"] is None and doc["history"] == [] and doc["rev"] == 5
    assert doc["window"] == {"start": "", "end": ""}


async def test_the_consumer_starts_with_the_portal_unless_turned_off(portal, monkeypatch):
    from dinamis_portal import bootstrap

    container = portal.app.state.container
    container.coverage = new_board()
    started: list[str] = []
    monkeypatch.setattr(
        container.tasks, "start", lambda coro, name=None: (coro.close(), started.append(name))
    )
    container.coverage.settings = CoverageSettings(coverage_consumer=False)
    bootstrap.start_coverage(container)
    assert started == []
    container.coverage.settings = CoverageSettings(coverage_consumer=True)
    bootstrap.start_coverage(container)
    assert started == ["coverage-consumer", "coverage-published"]
