"""A request's coverage (its AOI against the scenes delivered for it, `% acquired`), and
the quote of a draft still without title or justification, on fakes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dinamis_orders.domain.acquisition import QuoteDraft, RequestDraft
from dinamis_orders.domain.requests import Action
from dinamis_orders.service import progress, quotes, review
from dinamis_shared.auth import Forbidden
from dinamis_shared.events import SceneIngestedV1
from dinamis_testkit.examples import lyon_item

AOI = {
    "type": "Polygon",
    "coordinates": [[[4.90, 45.75], [4.98, 45.75], [4.98, 45.80], [4.90, 45.80], [4.90, 45.75]]],
}
WEST = {
    "type": "Polygon",
    "coordinates": [[[4.90, 45.75], [4.94, 45.75], [4.94, 45.80], [4.90, 45.80], [4.90, 45.75]]],
}
EAST = {
    "type": "Polygon",
    "coordinates": [[[4.94, 45.75], [4.98, 45.75], [4.98, 45.80], [4.94, 45.80], [4.94, 45.75]]],
}


async def approved(orders, make_draft, operator) -> dict:
    author = await orders.member_org()
    req = await review.submit(orders, author, make_draft(AOI))
    qid = f"{req['organisation_id']}|pleiades-neo|{req['quota_period']}"
    await orders.ledger.allocate(qid, 100, "op", "dotation")
    await review.act(orders, operator, req["request_id"], Action.START_REVIEW, None)
    return await review.act(orders, operator, req["request_id"], Action.APPROVE, None)


def scene(request_id: str, geometry: dict, n: int) -> SceneIngestedV1:
    item = {**lyon_item(), "id": f"scene-{n}", "geometry": geometry}
    return SceneIngestedV1(
        scene_id=item["id"],
        version=1,
        collection="pleiades-neo-ortho",
        item=item,
        archive_prefix=f"pleiades-neo-ortho/x/{item['id']}/v1/",
        manifest_sha256="ab" * 32,
        acquisition_request_id=request_id,
    )


async def test_coverage_grows_with_the_delivered_scenes(orders, make_draft, operator):
    req = await approved(orders, make_draft, operator)
    rid = req["request_id"]
    before = review.coverage(await orders.requests.require(rid))
    assert before["acquired_percent"] == 0 and before["delivered"]["features"] == []
    assert before["aoi"] == req["aoi"] and before["area_km2"] == req["area_km2"]
    await progress.start_acquisition(orders, rid, "SIM-1")
    await progress.record_scene(orders, scene(rid, WEST, 1))
    half = review.coverage(await orders.requests.require(rid))
    assert half["acquired_percent"] == pytest.approx(50, abs=1)
    assert half["covered_km2"] == pytest.approx(req["area_km2"] / 2, rel=0.02)
    assert [f["id"] for f in half["delivered"]["features"]] == ["scene-1"]
    assert half["delivered"]["features"][0]["geometry"] == WEST
    await progress.record_scene(orders, scene(rid, EAST, 2))
    done = review.coverage(await orders.requests.require(rid))
    assert done["status"] == "fulfilled" and done["acquired_percent"] == pytest.approx(100, abs=1)
    assert [f["id"] for f in done["delivered"]["features"]] == ["scene-1", "scene-2"]


async def test_another_organisation_cannot_see_the_coverage(orders, make_draft, operator):
    req = await approved(orders, make_draft, operator)
    other = await orders.member_org(org="org-autre", user="usr-autre")
    with pytest.raises(Forbidden):
        await review.visible_request(orders, other, req["request_id"])


async def test_a_quote_needs_no_title_nor_justification_but_a_submission_does(orders, make_draft):
    author = await orders.member_org()
    full = make_draft(AOI)
    partial = full.model_dump(mode="json", exclude={"title", "justification"})
    quote = await quotes.quote(orders, author, QuoteDraft.model_validate(partial))
    assert quote == await quotes.quote(orders, author, full)
    with pytest.raises(ValidationError):
        RequestDraft.model_validate(partial)


async def test_overlap_warnings_name_the_other_requests_state_in_words(orders, make_draft):
    author = await orders.member_org()
    await review.submit(orders, author, make_draft(AOI))
    other = await orders.member_org(org="org-autre", user="usr-autre")
    quote = await quotes.quote(orders, other, make_draft(AOI))
    (warning,) = [w for w in quote["warnings"] if w["code"] == "request-overlap"]
    assert warning["message"] == "100% de la zone déjà demandée (autre organisme, déposée)"
    assert warning["message_en"] == "100% of the AOI already requested (another organisation, submitted)"
