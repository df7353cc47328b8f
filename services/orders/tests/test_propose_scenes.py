"""An operator answers a request with scenes the catalogue already holds (`propose_scenes`),
and the review checks an operator weighs (`review_checks`), on in-memory fakes."""

from __future__ import annotations

import pytest

from dinamis_orders.domain.acquisition import COVERED_BY_CATALOGUE, InvalidProposal, ProposedScene
from dinamis_orders.domain.requests import Action, InvalidTransition, TransitionForbidden
from dinamis_orders.service import review
from dinamis_shared.auth import Forbidden, Principal, Role
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import RequestRejectedV1, RequestUpdatedV1

SCENE = ProposedScene(collection="pleiades-neo-ortho", item_id="PNEO4-lyon-1")
OTHER = ProposedScene(collection="pleiades-neo-ortho", item_id="PNEO4-lyon-2")


async def under_review(orders, make_draft, operator, **extra) -> tuple[Principal, dict]:
    author = await orders.member_org()
    req = await review.submit(orders, author, make_draft(**extra))
    await review.act(orders, operator, req["request_id"], Action.START_REVIEW, None)
    return author, req


async def test_proposing_scenes_closes_the_request_as_rejected_with_the_items(orders, make_draft, operator):
    orders.catalogue.items |= {(SCENE.collection, SCENE.item_id), (OTHER.collection, OTHER.item_id)}
    author, req = await under_review(orders, make_draft, operator)
    before = len(orders.requests.events)
    done = await review.propose_scenes(
        orders, operator, req["request_id"], [SCENE, OTHER, SCENE], "Déjà au catalogue : juin 2026"
    )
    assert done["status"] == "rejected" and done["rejection_code"] == COVERED_BY_CATALOGUE
    assert done["proposed_items"] == [SCENE.model_dump(), OTHER.model_dump()]  # duplicates dropped
    assert done["last_reason"] == "Déjà au catalogue : juin 2026"
    events = orders.requests.events[before:]
    assert [type(e) for e in events] == [RequestRejectedV1, RequestUpdatedV1]
    assert events[0].reason == "Déjà au catalogue : juin 2026" and events[0].rejected_by == operator.user_id
    assert events[1].status == "rejected" and events[1].previous_status == "under_review"
    history = await orders.requests.history(req["request_id"])
    assert history[-1]["change"] == "propose_scenes"
    assert "PNEO4-lyon-1" in history[-1]["why"] and "PNEO4-lyon-2" in history[-1]["why"]
    # The member reads the proposal on their request.
    seen = await review.visible_request(orders, author, req["request_id"])
    assert [i.item_id for i in seen.proposed_items] == ["PNEO4-lyon-1", "PNEO4-lyon-2"]


async def test_a_default_reason_when_the_operator_gives_none(orders, make_draft, operator):
    orders.catalogue.items.add((SCENE.collection, SCENE.item_id))
    _, req = await under_review(orders, make_draft, operator)
    done = await review.propose_scenes(orders, operator, req["request_id"], [SCENE], None)
    assert done["last_reason"].startswith("la zone est déjà couverte par des scènes du catalogue")


async def test_only_operators_propose_and_only_while_under_review(orders, make_draft, operator):
    orders.catalogue.items.add((SCENE.collection, SCENE.item_id))
    author = await orders.member_org()
    req = await review.submit(orders, author, make_draft())
    with pytest.raises(InvalidTransition):  # not under review yet
        await review.propose_scenes(orders, operator, req["request_id"], [SCENE], None)
    await review.act(orders, operator, req["request_id"], Action.START_REVIEW, None)
    with pytest.raises(TransitionForbidden):  # the author does not reject their own request
        await review.propose_scenes(orders, author, req["request_id"], [SCENE], None)
    stranger = Principal(user_id="u2", organisation_id="org-other", roles=frozenset({Role.MEMBER}))
    with pytest.raises(Forbidden):
        await review.propose_scenes(orders, stranger, req["request_id"], [SCENE], None)
    await review.propose_scenes(orders, operator, req["request_id"], [SCENE], None)
    with pytest.raises(InvalidTransition):  # closed: no second proposal
        await review.propose_scenes(orders, operator, req["request_id"], [SCENE], None)


async def test_scenes_not_in_the_catalogue_or_none_are_refused(orders, make_draft, operator):
    _, req = await under_review(orders, make_draft, operator)
    with pytest.raises(InvalidProposal) as err:
        await review.propose_scenes(orders, operator, req["request_id"], [SCENE], None)
    assert err.value.code == "invalid-proposal" and "n'est pas au catalogue" in (err.value.message_fr or "")
    with pytest.raises(InvalidProposal):
        await review.propose_scenes(orders, operator, req["request_id"], [], None)
    many = [ProposedScene(collection="c", item_id=f"i{n}") for n in range(51)]
    orders.catalogue.items |= {(i.collection, i.item_id) for i in many}
    with pytest.raises(InvalidProposal):
        await review.propose_scenes(orders, operator, req["request_id"], many, None)
    still = await orders.requests.require(req["request_id"])
    assert still.status == "under_review" and still.proposed_items == []


async def test_a_catalogue_that_does_not_answer_proposes_nothing(orders, make_draft, operator):
    _, req = await under_review(orders, make_draft, operator)

    async def down(collection, item_id):
        raise ConnectionError("refused")

    orders.catalogue.item = down
    with pytest.raises(DinamisError) as err:
        await review.propose_scenes(orders, operator, req["request_id"], [SCENE], None)
    assert err.value.code == "catalogue-unavailable"
    assert (await orders.requests.require(req["request_id"])).status == "under_review"


async def test_review_checks_give_the_quota_cofinancing_and_other_requests(orders, make_draft, operator):
    _, req = await under_review(orders, make_draft, operator)
    # Another organisation's request over 70 % of the same ground, and one elsewhere.
    other_org = await orders.member_org(org="org-voisin", user="usr-voisin")
    west, south = 3.05, 45.75
    half = {
        "type": "Polygon",
        "coordinates": [[[west, south], [west + 0.063, south], [west + 0.063, south + 0.05],
                         [west, south + 0.05], [west, south]]],
    }  # fmt: skip
    near = await review.submit(orders, other_org, make_draft(aoi=half))
    far_aoi = {"type": "Polygon", "coordinates": [[[5, 47], [5.1, 47], [5.1, 47.1], [5, 47.1], [5, 47]]]}
    await review.submit(orders, other_org, make_draft(aoi=far_aoi))
    request = await orders.requests.require(req["request_id"])
    checks = await review.review_checks(orders, request)
    quota = checks["quota"]
    assert quota["available_km2"] == 0 and quota["shortfall_km2"] == request.area_km2
    assert checks["cofinancing"]["km2"] == round(request.area_km2, 6)
    assert checks["cofinancing"]["price_per_km2_eur"] == 6.0  # french research, Pléiades Neo
    assert [o["request_id"] for o in checks["overlaps"]] == [near["request_id"]]
    overlap = checks["overlaps"][0]
    assert overlap["organisation_id"] == "org-voisin" and 0.65 < overlap["share"] < 0.75
    assert overlap["aoi"]["type"] == "Polygon" and overlap["title"] == "Suivi des haies"
    # With quota enough, nothing to co-finance.
    qid = request.quota_id
    await orders.ledger.allocate(qid, 1000, "op-paul", "dotation")
    checks = await review.review_checks(orders, request)
    assert checks["cofinancing"] is None and checks["quota"]["shortfall_km2"] == 0
    assert checks["quota"]["after_km2"] == round(1000 - request.area_km2, 6)


async def test_an_approval_keeps_the_operators_reason(orders, make_draft, operator):
    _, req = await under_review(orders, make_draft, operator)
    request = await orders.requests.require(req["request_id"])
    await orders.ledger.allocate(request.quota_id, 1000, "op-paul", "dotation")
    before = len(orders.requests.events)
    done = await review.act(orders, operator, req["request_id"], Action.APPROVE, "Demande conforme")
    assert done["status"] == "approved"
    updated = [e for e in orders.requests.events[before:] if isinstance(e, RequestUpdatedV1)]
    assert updated[-1].reason == "Demande conforme"
    history = await orders.requests.history(req["request_id"])
    assert history[-1]["change"] == "approve" and history[-1]["why"] == "Demande conforme"
