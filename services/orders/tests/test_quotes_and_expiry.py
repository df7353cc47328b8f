"""Use cases: the quote (catalogue and pending overlaps), the expiry passes, on fakes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dinamis_orders.domain.requests import Action
from dinamis_orders.service import expiry, membership, periodic, progress, quotes, review
from dinamis_shared.events import OrganisationStatus
from dinamis_shared.periodic import run_steps


async def test_quote_reports_area_quota_cofinancing_and_catalogue_coverage(orders, make_draft, make_square):
    author = await orders.member_org()
    aoi = make_square(-60.0, 10.0, 0.1)
    west = make_square(-60.05, 9.95, 0.08, 0.2)  # covers the western 30 %
    orders.catalogue.features = [{"id": "ITEM-west", "geometry": west}, {"id": "ITEM-none"}]
    quote = await quotes.quote(orders, author, make_draft(aoi, max_cloud_cover=20))
    assert 110 < quote["area_km2"] < 125
    assert quote["quota"]["available_km2"] == 0 and quote["quota"]["after_km2"] == 0
    assert quote["cofinancing"]["km2"] == quote["area_km2"]  # nothing allocated: all co-financed
    assert quote["cofinancing"]["amount_eur"] == pytest.approx(quote["area_km2"] * 6.0, abs=0.01)
    catalogue = quote["overlaps"]["catalogue"]
    assert catalogue["share"] == pytest.approx(0.3, abs=0.01)
    assert catalogue["items"] == ["ITEM-west", "ITEM-none"]
    assert any(w["code"] == "catalogue-overlap" and "30%" in w["message"] for w in quote["warnings"])
    # Tasking: compared with the last year's imagery, up to the window's end.
    search = orders.catalogue.searches[0]
    assert search["start"] == orders.now() - timedelta(days=365) and search["constellation"] == "pleiades-neo"


async def test_quote_says_when_the_catalogue_is_unreachable(orders, make_draft):
    author = await orders.member_org()
    orders.catalogue.unavailable = True
    catalogue = (await quotes.quote(orders, author, make_draft()))["overlaps"]["catalogue"]
    assert catalogue["share"] is None and "unreachable" in catalogue["unavailable"]


async def test_quote_warns_of_pending_requests_over_the_same_ground(orders, make_draft, make_square):
    mine = await orders.member_org()
    theirs = await orders.member_org("org-other", "usr-other")
    aoi = make_square(4.85, 45.70, 0.08, 0.05)
    shifted = make_square(4.89, 45.70, 0.08, 0.05)
    own = await review.submit(orders, mine, make_draft(aoi))
    await review.submit(orders, theirs, make_draft(aoi))
    await review.submit(orders, theirs, make_draft(make_square(6.0, 44.0, 0.08, 0.05)))  # elsewhere
    overlaps = (await quotes.quote(orders, mine, make_draft(shifted)))["overlaps"]["requests"]
    assert len(overlaps) == 2 and all(o["share"] == pytest.approx(0.5, abs=0.02) for o in overlaps)
    shown = {o["request_id"]: o for o in overlaps}
    assert shown[own["request_id"]]["organisation_id"] == "org-labo"
    assert shown[None] == {
        "request_id": None,
        "organisation_id": None,
        "status": "submitted",
        "share": shown[None]["share"],
        "other_organisation": True,
    }
    # Closed requests are not warned about.
    await review.act(orders, mine, own["request_id"], Action.CANCEL, None)
    overlaps = (await quotes.quote(orders, mine, make_draft(shifted)))["overlaps"]["requests"]
    assert [o["request_id"] for o in overlaps] == [None]


async def _in_progress(orders, make_draft, operator, **draft_extra) -> dict:
    author = await orders.member_org()
    req = await review.submit(orders, author, make_draft(**draft_extra))
    qid = f"org-labo|pleiades-neo|{req['quota_period']}"
    await orders.ledger.allocate(qid, 100, "op", "dotation")
    await review.act(orders, operator, req["request_id"], Action.START_REVIEW, None)
    await review.act(orders, operator, req["request_id"], Action.APPROVE, None)
    return req


async def test_requests_expire_after_their_window_and_grace_and_give_back_the_quota(
    orders, make_draft, operator
):
    req = await _in_progress(orders, make_draft, operator, days=30)
    rid, qid = req["request_id"], f"org-labo|pleiades-neo|{req['quota_period']}"
    await progress.start_acquisition(orders, rid, "SIM-1")
    end = datetime.fromisoformat(req["window"]["end"])
    orders.fake_clock.current = end + timedelta(days=orders.settings.expiry_grace_days)
    assert await expiry.expire_due(orders) == 0  # still within the grace period
    orders.fake_clock.advance(timedelta(minutes=1))
    assert await expiry.expire_due(orders) == 1
    state = await orders.requests.require(rid)
    assert state.status == "expired"
    assert (await orders.ledger.balance(qid)).available == 100
    assert (await orders.requests.history(rid))[-1]["why"].endswith("acquisition window over")
    assert await expiry.expire_due(orders) == 0  # closed once


async def test_a_request_that_acquired_something_is_partially_fulfilled(orders, make_draft, operator):
    req = await _in_progress(orders, make_draft, operator, days=30)
    rid = req["request_id"]
    await progress.start_acquisition(orders, rid, "SIM-1")
    lon, lat = 3.05, 45.75
    quarter = {
        "type": "Polygon",
        "coordinates": [
            [[lon, lat], [lon + 0.03, lat], [lon + 0.03, lat + 0.05], [lon, lat + 0.05], [lon, lat]]
        ],
    }
    from dinamis_shared.events import SceneIngestedV1
    from dinamis_testkit.examples import lyon_item

    item = {**lyon_item(), "id": "scene-q", "geometry": quarter}
    await progress.record_scene(
        orders,
        SceneIngestedV1(
            scene_id="scene-q",
            version=1,
            collection="pleiades-neo-ortho",
            item=item,
            archive_prefix="x/scene-q/v1/",
            manifest_sha256="ab" * 32,
            acquisition_request_id=rid,
        ),
    )
    orders.fake_clock.advance(timedelta(days=120))
    assert await expiry.expire_due(orders) == 1
    state = await orders.requests.require(rid)
    assert state.status == "partially_fulfilled" and state.covered_share == pytest.approx(1 / 3, abs=0.02)
    balance = await orders.ledger.balance(f"org-labo|pleiades-neo|{req['quota_period']}")
    assert balance.reserved == 0 and balance.consumed == pytest.approx(state.consumed_km2)


async def test_the_periodic_pass_expires_memberships_places_orders_and_closes_requests(
    supplied, make_draft, operator
):
    req = await _in_progress(supplied, make_draft, operator, days=30)
    late = await review.submit(supplied, await supplied.member_org("org-late", "usr-late"), make_draft())
    rid = req["request_id"]
    await membership.change_status(
        supplied, operator, "org-labo", OrganisationStatus.SUSPENDED, "audit", None
    )
    until = supplied.now() + timedelta(minutes=1)
    await membership.change_status(
        supplied, operator, "org-labo", OrganisationStatus.ACTIVE, "reprise", until
    )
    supplied.supplier.down = True  # the approval's own placement failed
    steps = periodic.passes(supplied)
    assert list(steps) == [
        "membership expiry",
        "supplier orders",
        "supplier cancellations",
        "request expiry",
    ]
    assert await run_steps(steps) == {}
    assert (await supplied.organisation("org-labo")).status == "active"
    assert (await supplied.requests.require(rid)).status == "approved"
    supplied.supplier.down = False
    supplied.fake_clock.advance(timedelta(minutes=2))  # the membership has ended
    assert await run_steps(steps) == {}
    assert (await supplied.organisation("org-labo")).status == "expired"
    assert (await supplied.organisation("org-late")).status == "active"
    assert (await supplied.requests.require(rid)).status == "in_progress"
    supplied.fake_clock.advance(timedelta(days=120))  # the window is over
    assert await run_steps(steps) == {}
    assert (await supplied.requests.require(rid)).status == "expired"
    assert (await supplied.requests.require(late["request_id"])).status == "submitted"


async def test_one_failing_periodic_step_does_not_stop_the_others(orders):
    calls = []

    async def broken() -> None:
        raise RuntimeError("boom")

    async def fine() -> None:
        calls.append("fine")

    failed = await run_steps({"broken": broken, "fine": fine})
    assert list(failed) == ["broken"] and calls == ["fine"]
