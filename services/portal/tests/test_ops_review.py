"""The ops console's review queue with fakes of the portal's ports (orders' review API,
the acquisitions adapter, the catalogue search): the queue and its filters, one request
with its automatic checks, the decisions and "proposer ces scènes" — each journaled,
refused ones too —, bad and hostile input answered in French, never a 500; and the
member's page showing the scenes proposed instead. The real stack: tests/integration/
test_orders_propose_scenes.py and tests/browser/test_ops_review.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dinamis_portal.acquisitions_api import Refusal
from dinamis_portal.entrypoints.ops_review import catalogue_body
from dinamis_portal.errors import PortalError
from dinamis_portal.ops.review_api import HttpReviewApi, ReviewSettings
from dinamis_portal.upstream import SAFE_SEGMENT, catalogue_unavailable, not_found

NOW = datetime.now(UTC)
LYON = {
    "type": "Polygon",
    "coordinates": [[[4.80, 45.70], [4.86, 45.70], [4.86, 45.76], [4.80, 45.76], [4.80, 45.70]]],
}


def a_request(rid: str, **extra: Any) -> dict[str, Any]:
    found = {
        "request_id": rid,
        "organisation_id": "org-labo",
        "submitted_by": "usr-author",
        "kind": "archive",
        "sensor_family": "pleiades-neo",
        "aoi": LYON,
        "bbox": [4.80, 45.70, 4.86, 45.76],
        "area_km2": 31.2,
        "window": {"start": "2026-05-01T00:00:00+00:00", "end": "2026-07-01T00:00:00+00:00"},
        "status": "submitted",
        "title": "Haies du bocage lyonnais",
        "justification": "Cartographie des haies pour le projet ANR BOCAGE.",
        "max_cloud_cover": 20.0,
        "max_incidence_deg": 30.0,
        "priority": "standard",
        "submitted_at": (NOW - timedelta(days=1)).isoformat(),
        "quota_period": "2026-Q4",
        "aoi_warnings": [
            {"code": "aoi-repaired", "message_fr": "géométrie réparée", "message_en": "repaired"}
        ],
        "allowed_actions": ["start_review", "cancel"],
    }
    found.update(extra)
    return found


class FakeReview:
    """Orders' staff review routes (ops/review_api.ReviewApi)."""

    def __init__(self) -> None:
        self.requests: dict[str, dict[str, Any]] = {}
        self.acted: list[tuple[str, str, str | None, str, list | None]] = []
        self.refuse: Refusal | None = None
        self.overlaps: list[dict[str, Any]] = []
        self.down = False

    async def queue(self, token: str) -> list[dict[str, Any]]:
        return list(self.requests.values())

    async def organisation(self, org_id: str, token: str) -> dict[str, Any] | None:
        return {"organisation_id": org_id, "name": "Labo <i>Lyon</i>", "category": "french-research"}

    async def users(self, org_id: str, token: str) -> list[dict[str, Any]]:
        return [{"user_id": "usr-author", "email": "jeanne@labo.example.fr", "display_name": "Jeanne Martin"}]

    async def checks(self, request_id: str, token: str) -> dict[str, Any]:
        if request_id not in self.requests:
            raise not_found("demande", "request")
        return {
            "request_id": request_id,
            "quota": {"period": "2026-Q4", "available_km2": 10.0, "after_km2": 0.0, "shortfall_km2": 21.2},
            "cofinancing": {"km2": 21.2, "price_per_km2_eur": 6.0, "amount_eur": 127.2},
            "overlaps": self.overlaps,
        }

    async def act(self, request_id, action, reason, token, items=None):
        self.acted.append((request_id, action, reason, token, items))
        if self.down:
            raise PortalError("down", code="orders-unavailable", message_fr="hors service", status=503)
        if self.refuse is not None:
            return self.refuse
        if request_id not in self.requests:
            return Refusal(404, "not-found", "demande introuvable")
        found = self.requests[request_id]
        status = {
            "start_review": "under_review",
            "approve": "approved",
            "reject": "rejected",
            "propose_scenes": "rejected",
        }.get(action, found["status"])
        found.update(status=status, last_reason=reason)
        if action == "propose_scenes":
            found.update(proposed_items=items, rejection_code="covered-by-catalogue")
        return dict(found)


class FakeAcquisitions:
    """The acquisitions adapter as the review pages and the member's page read it."""

    def __init__(self, review: FakeReview) -> None:
        self.review = review

    async def get(self, request_id: str, token: str) -> dict[str, Any]:
        if not SAFE_SEGMENT.match(request_id) or request_id not in self.review.requests:
            raise not_found("demande", "request")
        return dict(self.review.requests[request_id])

    async def history(self, request_id: str, token: str) -> list[dict[str, Any]]:
        await self.get(request_id, token)
        return [{"change": "submitted", "at": NOW.isoformat(), "by": "usr-author", "why": None}]

    async def coverage(self, request_id: str, token: str) -> dict[str, Any]:
        found = await self.get(request_id, token)
        return {
            "aoi": found["aoi"],
            "covered_share": 0.0,
            "acquired_percent": 0.0,
            "delivered": {"features": []},
        }


class FakeCatalogueSearch:
    """The catalogue's POST /search (aoi_api.AoiCatalogue)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.down = False
        self.features = [
            {
                "id": "PNEO4-LYON-1",
                "collection": "pleiades-neo-ortho",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[4.79, 45.69], [4.87, 45.69], [4.87, 45.77], [4.79, 45.77], [4.79, 45.69]]
                    ],
                },
                "properties": {"datetime": "2026-06-03T10:30:00Z", "eo:cloud_cover": 3.5},
            },
            {
                "id": "PNEO4-LYON-HALF",
                "collection": "pleiades-neo-ortho",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[4.83, 45.69], [4.9, 45.69], [4.9, 45.77], [4.83, 45.77], [4.83, 45.69]]
                    ],
                },
                "properties": {"datetime": "2026-06-04T10:30:00Z", "eo:cloud_cover": 8},
            },
        ]

    async def search_body(self, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        if self.down:
            raise catalogue_unavailable()
        return {"type": "FeatureCollection", "features": self.features}


@pytest.fixture
async def ops(portal):
    container = portal.app.state.container
    portal.review = container.ops_review = FakeReview()
    portal.acquisitions = container.acquisitions = FakeAcquisitions(portal.review)
    portal.search = container.aoi_catalogue = FakeCatalogueSearch()
    container.ops_review_settings = ReviewSettings(review_target_days=5)
    portal.orders.standing = "staff"
    await portal.login()
    return portal


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def seed(ops, *requests: dict[str, Any]) -> None:
    for r in requests:
        ops.review.requests[r["request_id"]] = r


def shown_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-request="([^"]+)"', html)


# ------------------------------------------------------------------------------ the queue


async def test_the_queue_lists_requests_with_their_wait_against_the_target(ops):
    seed(
        ops,
        a_request("req-new", submitted_at=(NOW - timedelta(days=1)).isoformat(), area_km2=30),
        a_request(
            "req-old",
            submitted_at=(NOW - timedelta(days=9)).isoformat(),
            status="needs_cofinancing",
            kind="tasking",
            organisation_id="org-ville",
            cofinancing={"km2": 12.5, "price_per_km2_eur": 6.0, "amount_eur": 75.0},
            area_km2=80,
        ),
    )
    page = await ops.client.get("/ops/demandes")
    assert page.status_code == 200, page.text[:300]
    html = page.text
    assert shown_ids(html) == ["req-old", "req-new"]  # oldest first
    assert "Délai cible : 5 jours" in html and "2 demande(s) sur 2 en attente" in html
    old = html[html.index('data-request="req-old"') : html.index('data-request="req-new"')]
    assert "9 j" in old and "En retard" in old and "fr-badge--error" in old
    assert "75,00\u00a0€" in old.replace("\u202f", "\u00a0") or "75,00 €" in old
    assert "à confirmer" in old
    new = html[html.index('data-request="req-new"') :]
    assert "Dans les délais" in new and "fr-badge--success" in new
    assert 'href="/ops/demandes/req-new"' in html and 'aria-current="page"' in html


async def test_the_queue_filters_and_sorts(ops):
    seed(
        ops,
        a_request("req-a", kind="tasking", organisation_id="org-ville", area_km2=50),
        a_request("req-b", sensor_family="spot-6-7", submitted_at=(NOW - timedelta(days=7)).isoformat()),
        a_request(
            "req-c", status="under_review", area_km2=200, submitted_at=(NOW - timedelta(days=3)).isoformat()
        ),
    )
    get = ops.client.get
    assert shown_ids((await get("/ops/demandes?type=tasking")).text) == ["req-a"]
    assert shown_ids((await get("/ops/demandes?famille=spot-6-7")).text) == ["req-b"]
    assert shown_ids((await get("/ops/demandes?etat=under_review")).text) == ["req-c"]
    assert shown_ids((await get("/ops/demandes?organisme=VILLE")).text) == ["req-a"]
    assert shown_ids((await get("/ops/demandes?age=3")).text) == ["req-b", "req-c"]
    assert shown_ids((await get("/ops/demandes?retard=1")).text) == ["req-b"]
    assert shown_ids((await get("/ops/demandes?tri=surface")).text) == ["req-c", "req-a", "req-b"]
    assert shown_ids((await get("/ops/demandes?tri=recentes")).text) == ["req-a", "req-c", "req-b"]
    empty = await get("/ops/demandes?organisme=personne")
    assert "Aucune demande ne correspond." in empty.text and "0 demande(s) sur 3" in empty.text


@pytest.mark.parametrize(
    "query",
    [
        "type=commande",
        "famille=landsat",
        "etat=approved",
        "organisme=%3Cscript%3E",
        "organisme=" + "a" * 300,
        "age=-1",
        "age=deux",
        "age=99999999999999999999",
        "tri=prix",
    ],
)
async def test_bad_filter_values_are_french_problems(ops, query):
    seed(ops, a_request("req-a"))
    problem = await ops.client.get(f"/ops/demandes?{query}", headers={"Accept": "application/json"})
    assert problem.status_code == 400, problem.text
    assert problem.json()["code"] == "bad-filter"
    page = await ops.client.get(f"/ops/demandes?{query}", headers={"Accept": "text/html"})
    assert page.status_code == 400 and "<script>" not in page.text
    assert "fr-" in page.text  # the DSFR error page


# ---------------------------------------------------------------------------- one request


async def test_a_request_shows_its_checks_map_data_and_history(ops):
    seed(ops, a_request("req-lyon", title="Haies <b>lyonnaises</b>"))
    ops.review.overlaps = [
        {
            "request_id": "req-voisine",
            "organisation_id": "org-voisin",
            "status": "under_review",
            "share": 0.42,
            "aoi": LYON,
            "title": "Voisins",
        }
    ]
    page = await ops.client.get("/ops/demandes/req-lyon")
    assert page.status_code == 200, page.text[:300]
    html = page.text
    assert "Haies &lt;b&gt;lyonnaises&lt;/b&gt;" in html and "<b>lyonnaises" not in html
    assert "Jeanne Martin — jeanne@labo.example.fr — usr-author" in html
    assert "Labo &lt;i&gt;Lyon&lt;/i&gt; — french-research — org-labo" in html
    # The catalogue searched with the AOI, the window, the cloud limit and the family.
    body = ops.search.bodies[-1]
    assert body["intersects"] == LYON and body["datetime"] == "2026-05-01T00:00:00Z/2026-07-01T00:00:00Z"
    assert {"op": "=", "args": [{"property": "constellation"}, "pleiades-neo"]} in body["filter"]["args"]
    assert {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 20.0]} in body["filter"]["args"]
    # The scenes, best cover first, with the share of the AOI each covers.
    scenes = html[html.index('id="scenes"') :]
    assert scenes.index("PNEO4-LYON-1") < scenes.index("PNEO4-LYON-HALF")
    assert "100\u00a0%" in scenes and 'value="pleiades-neo-ortho/PNEO4-LYON-1" checked' in scenes
    assert 'href="/scenes/pleiades-neo-ortho/PNEO4-LYON-1"' in scenes
    assert "Proposer ces scènes à la place" in html
    # Overlaps, AOI warnings, quota, history, the decisions orders allows now.
    assert "req-voisine (org-voisin, En cours d&#39;examen) : 42\u00a0% de la zone — Voisins" in html
    assert "géométrie réparée" in html and "aoi-repaired" in html
    assert "127,20" in html and "2026-Q4" in html
    assert "Demande déposée" in html
    assert '<option value="start_review">' in html and '<option value="approve">' not in html
    # Map data in data blocks, no inline code.
    for block in ("revue-zone", "revue-scenes", "revue-demandes", "revue-motifs"):
        data = re.search(
            rf'<script type="application/(?:geo\+)?json" id="{block}">(.*?)</script>', html, re.S
        )
        assert data, block
        json.loads(data.group(1))
    assert "style=" not in html and "/static/app/ops-review.js" in html
    assert re.search(r"<script>(?!\s*</script>)", html) is None


async def test_a_tasking_is_checked_against_the_last_year_of_imagery(ops):
    start = NOW + timedelta(days=10)
    found = a_request(
        "req-t",
        kind="tasking",
        window={"start": start.isoformat(), "end": (start + timedelta(days=30)).isoformat()},
    )
    body = catalogue_body(found)
    begin = datetime.fromisoformat(body["datetime"].split("/")[0].replace("Z", "+00:00"))
    assert timedelta(days=364) < NOW - begin < timedelta(days=366)


async def test_a_catalogue_down_is_said_on_the_page(ops):
    seed(ops, a_request("req-lyon"))
    ops.search.down = True
    page = await ops.client.get("/ops/demandes/req-lyon")
    assert page.status_code == 200
    assert "Le catalogue ne répond pas" in page.text and 'id="proposer"' not in page.text


@pytest.mark.parametrize(
    "rid",
    [
        "req-unknown",
        "..%2F..%2Fetc%2Fpasswd",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "a" * 300,
        "-x",
        "req%00x",
    ],
)
async def test_unknown_and_hostile_ids_are_404_naming_nothing(ops, rid):
    seed(ops, a_request("req-lyon"))
    page = await ops.client.get(f"/ops/demandes/{rid}", headers={"Accept": "application/json"})
    # NUL is refused by the platform's edge (400) before any route.
    expected = ("invalid-character", 400) if "%00" in rid else ("not-found", 404)
    assert (page.json()["code"], page.status_code) == expected, (rid, page.text[:200])
    assert "<script>" not in page.text
    token = csrf((await ops.client.get("/ops/demandes")).text)
    posted = await ops.client.post(
        f"/ops/demandes/{rid}/decision",
        data={"csrf_token": token, "action": "approve"},
        headers={"Accept": "application/json"},
    )
    assert posted.status_code == expected[1], (rid, posted.text[:200])
    assert [a[0] for a in ops.review.acted] in ([], ["req-unknown"])  # orders said 404


# ----------------------------------------------------------------------------- decisions


async def test_a_decision_with_a_reason_template_goes_to_orders_and_the_journal(ops):
    seed(ops, a_request("req-lyon", status="under_review", allowed_actions=["approve", "reject", "cancel"]))
    token = csrf((await ops.client.get("/ops/demandes/req-lyon")).text)
    done = await ops.client.post(
        "/ops/demandes/req-lyon/decision",
        data={"csrf_token": token, "action": "approve", "template": "conforme", "reason": ""},
    )
    assert (
        done.status_code == 303 and done.headers["location"] == "/ops/demandes/req-lyon?fait=review-approve"
    )
    rid, action, reason, sent_with, items = ops.review.acted[-1]
    assert (rid, action, items) == ("req-lyon", "approve", None)
    assert reason == "Demande conforme : zone, fenêtre et justification recevables."
    assert sent_with == "ACCESS-TOKEN-SECRET"  # the operator's own token
    entry = ops.audit.recorded[-1]
    assert (entry.action, entry.target, entry.outcome) == ("request.approve", "request:req-lyon", "done")
    assert entry.reason == reason and entry.details["status_after"] == "approved"
    shown = await ops.client.get(done.headers["location"])
    assert "Décision enregistrée" in shown.text
    # A typed reason wins over the template.
    await ops.client.post(
        "/ops/demandes/req-lyon/decision",
        data={"csrf_token": token, "action": "reject", "template": "doublon", "reason": "Mon motif à moi"},
    )
    assert ops.review.acted[-1][2] == "Mon motif à moi"


async def test_a_refused_decision_shows_orders_reason_and_is_journaled(ops):
    seed(ops, a_request("req-lyon"))
    ops.review.refuse = Refusal(400, "reason-required", "un motif est requis")
    token = csrf((await ops.client.get("/ops/demandes/req-lyon")).text)
    page = await ops.client.post(
        "/ops/demandes/req-lyon/decision", data={"csrf_token": token, "action": "reject", "reason": ""}
    )
    assert page.status_code == 400
    assert "un motif est requis" in page.text and "reason-required" in page.text and 'id="refus"' in page.text
    entry = ops.audit.recorded[-1]
    assert entry.outcome == "refused" and entry.details["code"] == "reason-required"
    assert ops.review.acted[-1][2] is None
    ops.review.refuse = Refusal(409, "invalid-transition", "« approve » impossible depuis « submitted »")
    page = await ops.client.post(
        "/ops/demandes/req-lyon/decision", data={"csrf_token": token, "action": "approve"}
    )
    assert page.status_code == 409 and "impossible depuis" in page.text
    assert ops.audit.recorded[-1].details["code"] == "invalid-transition"


async def test_orders_unreachable_during_a_decision_is_journaled_as_failed(ops):
    seed(ops, a_request("req-lyon", status="under_review", allowed_actions=["approve"]))
    token = csrf((await ops.client.get("/ops/demandes/req-lyon")).text)
    ops.review.down = True
    r = await ops.client.post(
        "/ops/demandes/req-lyon/decision",
        data={"csrf_token": token, "action": "approve", "reason": "ok"},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 503 and r.json()["code"] == "orders-unavailable"
    entry = ops.audit.recorded[-1]
    assert (entry.action, entry.outcome, entry.reason) == ("request.approve", "failed", "ok")
    assert entry.details["code"] == "orders-unavailable"


@pytest.mark.parametrize("action", ["", "cancel", "propose_scenes", "<script>", "confirm_cancellation"])
async def test_an_unknown_decision_is_refused_and_journaled(ops, action):
    seed(ops, a_request("req-lyon"))
    token = csrf((await ops.client.get("/ops/demandes/req-lyon")).text)
    r = await ops.client.post(
        "/ops/demandes/req-lyon/decision",
        data={"csrf_token": token, "action": action},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 400 and r.json()["code"] == "bad-action"
    assert ops.review.acted == []
    assert (
        ops.audit.recorded[-1].outcome == "refused" and ops.audit.recorded[-1].details["code"] == "bad-action"
    )


async def test_posts_need_the_csrf_token(ops):
    seed(ops, a_request("req-lyon"))
    for path in ("/ops/demandes/req-lyon/decision", "/ops/demandes/req-lyon/proposer"):
        r = await ops.client.post(path, data={"action": "approve", "scene": "c/i"})
        assert r.status_code == 403, path
    assert ops.review.acted == [] and ops.audit.recorded == []


# --------------------------------------------------------------------- proposer ces scènes


async def test_proposing_scenes_takes_up_a_submitted_request_then_proposes(ops):
    seed(ops, a_request("req-lyon"))
    token = csrf((await ops.client.get("/ops/demandes/req-lyon")).text)
    done = await ops.client.post(
        "/ops/demandes/req-lyon/proposer",
        data={
            "csrf_token": token,
            "status": "submitted",
            "scene": ["pleiades-neo-ortho/PNEO4-LYON-1", "pleiades-neo-ortho/PNEO4-LYON-1"],
            "template": "couverte",
        },
    )
    assert done.status_code == 303 and done.headers["location"].endswith("fait=review-propose_scenes")
    assert [a[1] for a in ops.review.acted] == ["start_review", "propose_scenes"]
    _, _, reason, _, items = ops.review.acted[-1]
    assert items == [{"collection": "pleiades-neo-ortho", "item_id": "PNEO4-LYON-1"}]
    assert reason.startswith("La zone est déjà couverte par des scènes du catalogue")
    actions = [(e.action, e.outcome) for e in ops.audit.recorded]
    assert actions == [("request.start_review", "done"), ("request.propose_scenes", "done")]
    assert ops.audit.recorded[-1].details["items"] == ["pleiades-neo-ortho/PNEO4-LYON-1"]


@pytest.mark.parametrize("scene", ["PNEO4-LYON-1", "../x/y", "c/<script>", "c/i/j", "/i"])
async def test_an_unreadable_scene_reference_is_refused_and_journaled(ops, scene):
    seed(ops, a_request("req-lyon", status="under_review"))
    token = csrf((await ops.client.get("/ops/demandes/req-lyon")).text)
    r = await ops.client.post(
        "/ops/demandes/req-lyon/proposer",
        data={"csrf_token": token, "scene": scene},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 400 and r.json()["code"] == "bad-scene"
    assert ops.review.acted == []
    assert ops.audit.recorded[-1].action == "request.propose_scenes"
    assert ops.audit.recorded[-1].outcome == "refused"


async def test_orders_refusing_a_proposal_is_shown_and_journaled(ops):
    seed(ops, a_request("req-lyon", status="under_review", allowed_actions=["approve", "reject"]))
    ops.review.refuse = Refusal(422, "invalid-proposal", "la scène c/x n'est pas au catalogue")
    token = csrf((await ops.client.get("/ops/demandes/req-lyon")).text)
    page = await ops.client.post(
        "/ops/demandes/req-lyon/proposer",
        data={"csrf_token": token, "scene": "c/x", "status": "under_review"},
    )
    assert page.status_code == 422 and "n&#39;est pas au catalogue" in page.text
    assert ops.audit.recorded[-1].outcome == "refused"
    assert ops.audit.recorded[-1].details["code"] == "invalid-proposal"


async def test_the_member_sees_the_scenes_proposed_instead(ops):
    seed(
        ops,
        a_request(
            "req-lyon",
            status="rejected",
            rejection_code="covered-by-catalogue",
            last_reason="Déjà au catalogue",
            proposed_items=[{"collection": "pleiades-neo-ortho", "item_id": "PNEO4-LYON-1"}],
            allowed_actions=[],
        ),
        a_request("req-other"),
    )
    ops.orders.standing = "member"
    page = await ops.client.get("/demandes/req-lyon")
    assert page.status_code == 200, page.text[:300]
    block = page.text[page.text.index('id="scenes-proposees"') :]
    assert "Scènes proposées à la place" in block
    assert 'href="/scenes/pleiades-neo-ortho/PNEO4-LYON-1"' in block
    other = await ops.client.get("/demandes/req-other")
    assert other.status_code == 200 and 'id="scenes-proposees"' not in other.text


# ------------------------------------------------------------------------- the adapter


async def test_the_http_adapter_calls_orders_with_the_operators_token():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/review-queue":
            return httpx.Response(200, json={"requests": [{"request_id": "req-1"}]})
        if request.url.path == "/v1/requests/req-1/review":
            return httpx.Response(200, json={"quota": {}})
        if request.url.path == "/v1/requests/req-2/review":
            return httpx.Response(404, json={"code": "not-found", "detail": "introuvable"})
        if request.url.path == "/v1/organisations/org-1":
            return httpx.Response(200, json={"name": "Labo"})
        if request.url.path == "/v1/organisations/org-1/users":
            return httpx.Response(403, json={"code": "forbidden", "detail": "non"})
        if request.url.path == "/v1/requests/req-1/actions":
            return httpx.Response(409, json={"code": "invalid-transition", "detail": "impossible"})
        return httpx.Response(503)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        api = HttpReviewApi("http://orders.test", http)
        assert await api.organisation("org-1", "TOK") == {"name": "Labo"}
        assert await api.users("org-1", "TOK") == []  # unreadable: the page names the id only
        assert await api.organisation("../x", "TOK") is None and await api.users("../x", "TOK") == []
        seen.clear()
        assert await api.queue("TOK") == [{"request_id": "req-1"}]
        assert await api.checks("req-1", "TOK") == {"quota": {}}
        with pytest.raises(PortalError) as err:
            await api.checks("req-2", "TOK")
        assert err.value.http_status == 404
        with pytest.raises(PortalError):
            await api.checks("../etc", "TOK")  # never sent
        refused = await api.act(
            "req-1", "propose_scenes", None, "TOK", items=[{"collection": "c", "item_id": "i"}]
        )
        assert refused == Refusal(409, "invalid-transition", "impossible")
        with pytest.raises(PortalError) as err:
            await api.act("req-3", "approve", "ok", "TOK")
        assert err.value.code == "orders-unavailable"
    assert all(r.headers["authorization"] == "Bearer TOK" for r in seen)
    assert all("../" not in str(r.url) for r in seen)
    body = json.loads(seen[3].content)
    assert body == {
        "action": "propose_scenes",
        "reason": None,
        "items": [{"collection": "c", "item_id": "i"}],
    }


async def test_the_pages_speak_english_on_request(ops):
    seed(ops, a_request("req-lyon", status="under_review", allowed_actions=["approve", "reject"]))
    queue = await ops.client.get("/ops/demandes?lang=en")
    assert "Requests to review" in queue.text and "On time" in queue.text and 'lang="en"' in queue.text
    page = await ops.client.get("/ops/demandes/req-lyon?lang=en")
    html = page.text
    assert page.status_code == 200
    assert "Automatic checks" in html and "Propose these scenes instead" in html
    assert "Request in order: area, window and justification acceptable." in html  # the templates too
    templates = json.loads(re.search(r'id="revue-motifs">(.*?)</script>', html, re.S).group(1))
    assert templates["reject"]["doublon"] == "Duplicate of a pending request over the same area."
