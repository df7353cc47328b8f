"""The activity simulator: deterministic, every event a valid contract event keyed by its
aggregate, real volumes, categories and departments spread, the yearly coverage, and no
personal data."""

from __future__ import annotations

import io
import itertools
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
from shapely.geometry import shape

from dinamis_shared import cloudevents
from dinamis_shared.departments import DEPARTMENTS
from dinamis_shared.events import (
    OrganisationChangedV1,
    QuotaChangedV1,
    RequestStatus,
    RequestUpdatedV1,
    SceneAcquiredV1,
    SceneIngestedV1,
    UserChangedV1,
)
from dinamis_shared.topics import TOPICS
from dinamis_sim.activity import (
    ActivitySimulator,
    _departments,
    parse_years,
    read_jsonl,
    simulate,
    write_jsonl,
)
from dinamis_sim.coverage import coverage_cells


@pytest.fixture(scope="module")
def small():
    return simulate(years=[2025, 2026], organisations=120, seed=7)


@pytest.fixture(scope="module")
def decoded(small):
    return [
        (r, cloudevents.decode(r.headers, r.value, expected=TOPICS[r.topic].model, key=r.key.encode()))
        for r in small
    ]


def events_of(decoded, model):
    return [env.event for _, env in decoded if isinstance(env.event, model)]


def test_same_seed_same_events_other_seed_other_ids(small):
    again = simulate(years=[2025, 2026], organisations=120, seed=7)
    assert [(r.topic, r.key, r.headers, r.value) for r in again] == [
        (r.topic, r.key, r.headers, r.value) for r in small
    ]
    other = simulate(years=[2025, 2026], organisations=120, seed=8)
    assert {r.headers["ce_id"] for r in other}.isdisjoint({r.headers["ce_id"] for r in small})


def test_every_event_valid_keyed_by_aggregate_timed_and_unique(decoded):
    ids = [env.id for _, env in decoded]
    assert len(ids) == len(set(ids))
    for record, env in decoded:
        assert record.key == env.event.key()  # decode checked it too (key=...)
        assert env.time == record.time
        assert datetime(2025, 1, 1, tzinfo=UTC) <= env.time < datetime(2027, 1, 1, tzinfo=UTC)
        assert env.source == f"/dinamis/sim/{env.event.PRODUCER}"
    times = [r.time for r, _ in decoded]
    assert times == sorted(times)
    # every topic of the registry but none of the dead-letter ones
    assert {r.topic for r, _ in decoded} == set(TOPICS)


def test_organisations_categories_and_departments(decoded):
    latest: dict[str, OrganisationChangedV1] = {}
    for e in events_of(decoded, OrganisationChangedV1):
        assert e.revision == latest[e.organisation_id].revision + 1 if e.organisation_id in latest else 1
        latest[e.organisation_id] = e
    assert len(latest) == 120
    categories = Counter(e.category.value for e in latest.values())
    assert set(categories) == {
        "french-public",
        "french-research",
        "contractor",
        "international-research",
        "french-private-rd",
    }
    # public bodies and research the most, a few private R&D and international research
    assert categories["french-public"] > categories["contractor"] > categories["international-research"]
    assert categories["french-research"] > categories["french-private-rd"]
    for e in latest.values():
        if e.category.value == "international-research":
            assert e.department is None
        else:
            assert e.department in DEPARTMENTS
    assert len({e.department for e in latest.values()}) >= 30
    public = {o for o, e in latest.items() if e.category.value == "french-public"}
    delegations = [
        e.delegation for e in events_of(decoded, OrganisationChangedV1) if e.delegation is not None
    ]
    assert delegations
    assert all(d.commissioning_organisation_id in public for d in delegations)
    statuses = {e.status.value for e in events_of(decoded, OrganisationChangedV1)}
    assert {"pending", "active"} <= statuses


def test_users_are_counted_never_named(small, decoded):
    users = events_of(decoded, UserChangedV1)
    assert 120 <= len({u.user_id for u in users}) <= 120 * 12
    for u in users:
        assert re.fullmatch(r"user-\d+@" + re.escape(u.organisation_id) + r"\.example", u.email)
        assert re.fullmatch(r"Utilisateur \d+", u.display_name)
    # No e-mail address anywhere but the synthetic ones.
    for r in small:
        for m in re.finditer(r"[\w.+-]+@[\w.-]+", r.value.decode()):
            assert re.fullmatch(r"user-\d+@sim7-org-\d{4}\.example", m.group())


def test_requests_transitions_and_covered_share(decoded):
    chains: dict[str, list[RequestUpdatedV1]] = defaultdict(list)
    for e in events_of(decoded, RequestUpdatedV1):
        chains[e.request_id].append(e)
    assert chains
    finals = Counter()
    for updates in chains.values():
        assert updates[0].status is RequestStatus.SUBMITTED and updates[0].previous_status is None
        for before, after in itertools.pairwise(updates):
            assert after.previous_status is before.status
        shares = [u.covered_share for u in updates if u.covered_share is not None]
        assert shares == sorted(shares) and all(0 < s <= 1 for s in shares)
        finals[updates[-1].status.value] += 1
    # decided both ways, and most acquisitions done
    assert finals["rejected"] > 0 and finals["fulfilled"] > 0 and finals["partially_fulfilled"] > 0


def test_aois_inside_real_departments(decoded):
    from dinamis_shared.events import RequestSubmittedV1

    outlines = [geom for geom, _ in _departments().values()]
    for e in events_of(decoded, RequestSubmittedV1):
        aoi = shape(e.aoi.model_dump())
        assert any(d.contains(aoi) for d in outlines), e.request_id
        assert e.area_km2 == pytest.approx(aoi.area * 111.32**2 * 0.7, rel=0.35)  # cos(lat) ~ 0.6-0.75


def test_quota_ledgers_are_consistent(decoded):
    ledgers: dict[tuple, list[QuotaChangedV1]] = defaultdict(list)
    for e in events_of(decoded, QuotaChangedV1):
        ledgers[(e.organisation_id, e.sensor_family, e.period)].append(e)
    movements = Counter(e.movement.value for v in ledgers.values() for e in v)
    assert {"allocate", "reserve", "consume", "release"} <= set(movements)
    for entries in ledgers.values():
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        allocated = reserved = consumed = 0.0
        for e in entries:
            if e.movement.value == "allocate":
                allocated += e.km2
            elif e.movement.value == "reserve":
                reserved += e.km2
            elif e.movement.value == "consume":
                reserved, consumed = max(0.0, reserved - e.km2), consumed + e.km2
            elif e.movement.value == "release":
                reserved = max(0.0, reserved - e.km2)
            assert e.allocated_km2 == pytest.approx(allocated, abs=0.01)
            assert e.reserved_km2 == pytest.approx(reserved, abs=0.01)
            assert e.consumed_km2 == pytest.approx(consumed, abs=0.01)


def test_yearly_coverage_about_240_cells(decoded):
    for year in (2025, 2026):
        cells = len(coverage_cells(year))
        assert 220 <= cells <= 260
        campaign = f"france-{year}"
        acquired = [e for e in events_of(decoded, SceneAcquiredV1) if e.campaign == campaign]
        ingested = [
            e for e in events_of(decoded, SceneIngestedV1) if e.collection == f"spot-6-7-france-{year}"
        ]
        good = [e for e in ingested if e.item["properties"]["eo:cloud_cover"] < 10]
        # each cell ends with one clear scene; a few were rejected or re-tasked (cloudy)
        assert len(good) == cells
        assert len(ingested) > cells
        assert len(acquired) > len(ingested)
        for e in ingested:
            props = e.item["properties"]
            assert props["platform"] in ("spot-6", "spot-7")
            assert e.item["id"] == e.scene_id and e.item["collection"] == e.collection
            when = datetime.fromisoformat(props["datetime"].replace("Z", "+00:00"))
            assert when.year == year


def test_products_refer_to_ingested_scenes(decoded):
    from dinamis_shared.events import DeliveryRequestedV1, ProductDownloadedV1, ProductReadyV1

    ingested = {e.scene_id: e.collection for e in events_of(decoded, SceneIngestedV1)}
    for order in events_of(decoded, DeliveryRequestedV1):
        for p in order.products:
            assert ingested[p.item_id] == p.collection
    ready = {e.product_id for e in events_of(decoded, ProductReadyV1)}
    downloads = events_of(decoded, ProductDownloadedV1)
    assert downloads and all(d.product_id in ready for d in downloads)


def test_five_years_at_real_volumes():
    sim = ActivitySimulator()  # the defaults: 2022-2026, 450 organisations
    records = sim.run()
    topics = Counter(r.topic for r in records)
    assert sim.years == (2022, 2023, 2024, 2025, 2026)
    assert len(sim.orgs) == 450
    assert topics["dinamis.scene-ingested.v1"] >= 3000  # thousands of scenes
    assert 5 * 220 <= sum(len(v) for v in sim.coverage.values()) <= 5 * 260
    assert topics["dinamis.request-submitted.v1"] >= 1000
    assert topics["dinamis.product-downloaded.v1"] >= 5000
    years = Counter(r.time.year for r in records)
    assert set(years) == {2022, 2023, 2024, 2025, 2026}


def test_jsonl_round_trip(small):
    buf = io.StringIO()
    assert write_jsonl(small[:50], buf) == 50
    back = list(read_jsonl(buf.getvalue().splitlines()))
    assert [(b["topic"], b["key"], b["headers"], b["value"].encode()) for b in back] == [
        (r.topic, r.key, r.headers, r.value) for r in small[:50]
    ]
    assert json.loads(back[0]["value"])  # the event's JSON, as on the wire


def test_parse_years():
    assert parse_years("2022-2026") == (2022, 2023, 2024, 2025, 2026)
    assert parse_years("2025,2026") == (2025, 2026)
    assert parse_years("2026") == (2026,)
    for bad in ("2026-2022", "2022,2024", "abc", "1900"):
        with pytest.raises(ValueError):
            parse_years(bad)
