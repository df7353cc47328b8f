"""Acquisition requests in the portal, on fakes of its own ports (`AcquisitionRequests`,
`Drafts`): the stepper, the live quote (the orders service's answer, shown as it comes),
drafts per user, the recap and the one confirmation, "Mes demandes" (readable states,
reasons, timeline, % acquired, co-financing confirmation), and what an attacker tries
(another user's draft, another organisation's request, CSRF, HTML in the fields). The HTTP
adapter is checked against a mock transport here, and against the real orders service in
tests/integration/test_portal_acquisitions.py."""

from __future__ import annotations

import copy
import json
import math
import re
from datetime import UTC, datetime
from html import unescape
from typing import Any

import httpx
import pytest
import shapely
from shapely.geometry import shape

from dinamis_portal import acquisitions as form
from dinamis_portal.acquisitions_api import HttpAcquisitionRequests, Refusal
from dinamis_portal.errors import PortalError
from dinamis_portal.upstream import not_found

QUOTE = {
    "area_km2": 38.71,
    "aoi": {
        "type": "Polygon",
        "coordinates": [[[4.8, 45.72], [4.9, 45.72], [4.9, 45.78], [4.8, 45.78], [4.8, 45.72]]],
    },
    "quota": {"period": "2026-Q4", "available_km2": 25.0, "after_km2": 0.0},
    "cofinancing": {"km2": 13.71, "price_per_km2_eur": 6.0, "amount_eur": 82.26},
    "overlaps": {"catalogue": {"share": 0.3, "items": ["scene-1"]}, "requests": []},
    "warnings": [
        {
            "code": "catalogue-overlap",
            "message": "30% de la zone déjà couverte par le catalogue",
            "message_en": "x",
        }
    ],
}
FORM = {
    "kind": "tasking",
    "famille": "pleiades-neo",
    "aoi": "4.80,45.72,4.90,45.78",
    "debut": "2027-01-10",
    "fin": "2027-02-28",
    "nuages": "15",
    "incidence": "25",
    "priorite": "standard",
    "titre": "Haies du bocage",
    "justification": "Cartographie des haies pour le projet ANR BOCAGE 2026-2029.",
}


def request_record(request_id: str, status: str = "submitted", **extra: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "organisation_id": "labo-1",
        "submitted_by": "sub-1",
        "kind": "tasking",
        "sensor_family": "pleiades-neo",
        "aoi": QUOTE["aoi"],
        "area_km2": 38.71,
        "window": {"start": "2027-01-10T00:00:00Z", "end": "2027-03-01T00:00:00Z"},
        "title": "Haies du bocage",
        "justification": FORM["justification"],
        "max_cloud_cover": 15.0,
        "max_incidence_deg": 25.0,
        "priority": "standard",
        "status": status,
        "submitted_at": "2026-11-28T10:00:00+00:00",
        "covered_share": 0.0,
        "cofinancing": None,
        "last_reason": None,
        **extra,
    }


class FakeAcquisitions:
    """The orders service's request API as the portal's port sees it: the organisation's
    requests only (anything else is not found, as the HTTP adapter answers)."""

    def __init__(self) -> None:
        self.quotes: list[tuple[dict, str]] = []
        self.submitted: list[dict] = []
        self.confirmed: list[str] = []
        self.refuse_quote: Refusal | None = None
        self.refuse_submit: Refusal | None = None
        self.records: dict[str, dict] = {
            "req-2026-aaa": request_record(
                "req-2026-aaa",
                "needs_cofinancing",
                last_reason="dépasse le quota du trimestre",
                cofinancing={"km2": 13.71, "price_per_km2_eur": 6.0, "amount_eur": 82.26},
            ),
            "req-2026-bbb": request_record("req-2026-bbb", "in_progress", covered_share=0.5),
        }
        self.histories = {
            "req-2026-aaa": [
                {
                    "rev": 1,
                    "at": "2026-11-28T10:00:00+00:00",
                    "by": "sub-1",
                    "why": None,
                    "change": "submitted",
                },
                {
                    "rev": 2,
                    "at": "2026-11-28T11:00:00+00:00",
                    "by": "op-9",
                    "why": None,
                    "change": "start_review",
                },
                {
                    "rev": 3,
                    "at": "2026-11-28T12:00:00+00:00",
                    "by": "op-9",
                    "why": "dépasse le quota du trimestre",
                    "change": "require_cofinancing",
                },
            ]
        }

    async def quote(self, draft: dict[str, Any], token: str) -> dict[str, Any] | Refusal:
        self.quotes.append((draft, token))
        return self.refuse_quote or copy.deepcopy(QUOTE)

    async def submit(self, draft: dict[str, Any], token: str) -> dict[str, Any] | Refusal:
        if self.refuse_submit:
            return self.refuse_submit
        self.submitted.append(draft)
        record = request_record("req-2026-new")
        self.records["req-2026-new"] = record
        self.histories["req-2026-new"] = [
            {"rev": 1, "at": "2026-11-28T13:00:00+00:00", "by": "sub-1", "why": None, "change": "submitted"}
        ]
        return record

    async def listing(self, token: str) -> list[dict[str, Any]]:
        return list(self.records.values())

    async def get(self, request_id: str, token: str) -> dict[str, Any]:
        if request_id not in self.records:
            raise not_found("demande", "request")
        return self.records[request_id]

    async def history(self, request_id: str, token: str) -> list[dict[str, Any]]:
        await self.get(request_id, token)
        return self.histories.get(request_id, [])

    async def coverage(self, request_id: str, token: str) -> dict[str, Any]:
        record = await self.get(request_id, token)
        share = record["covered_share"]
        west = {
            "type": "Polygon",
            "coordinates": [[[4.8, 45.72], [4.85, 45.72], [4.85, 45.78], [4.8, 45.78], [4.8, 45.72]]],
        }
        delivered = (
            [{"type": "Feature", "id": "scene-w", "geometry": west, "properties": {}}] if share else []
        )
        return {
            "request_id": request_id,
            "aoi": record["aoi"],
            "area_km2": record["area_km2"],
            "covered_share": share,
            "acquired_percent": round(share * 100, 1),
            "covered_km2": share * record["area_km2"],
            "delivered": {"type": "FeatureCollection", "features": delivered},
        }

    async def confirm_cofinancing(self, request_id: str, token: str) -> dict[str, Any] | Refusal:
        record = await self.get(request_id, token)
        if record["status"] != "needs_cofinancing":
            return Refusal(409, "invalid-transition", "aucun co-financement en attente de confirmation")
        self.confirmed.append(request_id)
        record["cofinancing"] = {**record["cofinancing"], "confirmed_at": "2026-11-28T14:00:00+00:00"}
        return record


class FakeDrafts:
    def __init__(self) -> None:
        self.saved: dict[str, dict] = {}
        self.n = 0

    async def save(self, owner: str, fields: dict[str, str], draft_id: str | None) -> str:
        if draft_id and self.saved.get(draft_id, {}).get("owner") == owner:
            self.saved[draft_id].update(fields=fields)
            return draft_id
        self.n += 1
        draft_id = f"brouillon-{self.n}"
        self.saved[draft_id] = {
            "_id": draft_id,
            "owner": owner,
            "fields": fields,
            "saved_at": datetime.now(UTC),
        }
        return draft_id

    async def get(self, owner: str, draft_id: str) -> dict[str, Any] | None:
        found = self.saved.get(draft_id)
        return found if found and found["owner"] == owner else None

    async def listing(self, owner: str) -> list[dict[str, Any]]:
        return [d for d in self.saved.values() if d["owner"] == owner]

    async def delete(self, owner: str, draft_id: str) -> bool:
        if await self.get(owner, draft_id) is None:
            return False
        del self.saved[draft_id]
        return True


@pytest.fixture
async def member(portal):
    container = portal.app.state.container
    portal.acquisitions = container.acquisitions = FakeAcquisitions()
    portal.drafts = container.drafts = FakeDrafts()
    await portal.login()
    return portal


async def csrf_of(portal, path: str = "/demandes/nouvelle") -> str:
    page = await portal.client.get(path)
    assert page.status_code == 200, page.text[:400]
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def no_inline_code(html: str) -> None:
    assert "style=" not in html
    for script in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        attrs, body = script
        assert "src=" in attrs or 'type="application/' in attrs, attrs
        assert not body.strip() or 'type="application/' in attrs


async def test_anonymous_users_are_sent_to_log_in(portal):
    for path in ("/demandes/nouvelle", "/demandes", "/demandes/req-2026-aaa"):
        answer = await portal.client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/connexion?retour=%2Fdemandes")


async def test_the_stepper_page(member):
    page = await member.client.get("/demandes/nouvelle")
    html = page.text
    assert page.status_code == 200 and 'class="fr-stepper"' in html
    assert "Étape 1 sur 4" in html and 'data-fr-steps="4"' in html
    assert '<textarea class="fr-input portal-aoi" id="aoi" name="aoi"' in html
    for step in ("Type de demande", "Zone d&#39;intérêt", "Fenêtre et contraintes", "Justification"):
        assert step in html
    assert 'hx-post="/demandes/devis"' in html and "/static/app/acquisitions.js" in html
    assert 'aria-current="page"' in html and "Mes demandes" in html
    assert "Renseignez la zone d&#39;intérêt et la fenêtre" in html  # nothing asked yet
    assert member.acquisitions.quotes == []
    no_inline_code(html)
    english = await member.client.get("/demandes/nouvelle?lang=en")
    assert "Request an acquisition" in english.text and "Step 1 of 4" in english.text


async def test_the_live_quote_is_the_orders_services_answer(member):
    token = await csrf_of(member)
    answer = await member.client.post(
        "/demandes/devis", data={**FORM, "csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200
    draft, sent_with = member.acquisitions.quotes[-1]
    assert sent_with == "ACCESS-TOKEN-SECRET"
    # The AOI as the AOI tools read it (the same ring, maybe from another corner).
    assert shape(draft["aoi"]).equals(shapely.box(4.8, 45.72, 4.9, 45.78))
    assert {k: v for k, v in draft.items() if k != "aoi"} == {
        "kind": "tasking",
        "sensor_family": "pleiades-neo",
        "priority": "standard",
        "window": {"start": "2027-01-10T00:00:00Z", "end": "2027-03-01T00:00:00Z"},
        "max_cloud_cover": 15.0,
        "max_incidence_deg": 25.0,
        "title": "Haies du bocage",
        "justification": FORM["justification"],
    }
    html = answer.text
    assert "<html" not in html  # a fragment
    assert re.search(r'id="devis-surface">38,7\s?km²<', html)
    assert "82,26 €" in html and "13,7" in html and "30 %" in html
    assert "30% de la zone déjà couverte par le catalogue" in html
    data = re.search(r'<div id="devis-donnees" hidden data-devis="([^"]*)"></div>', html, re.S)
    assert json.loads(unescape(data.group(1))) == QUOTE
    # A GeoJSON geometry is sent as given; a Feature's geometry too.
    feature = json.dumps({"type": "Feature", "geometry": QUOTE["aoi"], "properties": {}})
    await member.client.post("/demandes/devis", data={**FORM, "aoi": feature, "csrf_token": token})
    assert member.acquisitions.quotes[-1][0]["aoi"] == QUOTE["aoi"]


async def test_the_quote_waits_for_what_it_needs_and_says_why_it_cannot(member):
    token = await csrf_of(member)
    waiting = await member.client.post("/demandes/devis", data={**FORM, "aoi": "", "csrf_token": token})
    assert "Renseignez la zone" in waiting.text and member.acquisitions.quotes == []
    unreadable = await member.client.post(
        "/demandes/devis", data={**FORM, "aoi": "Lyon", "csrf_token": token}
    )
    assert "zone illisible" in unreadable.text and member.acquisitions.quotes == []
    bad_date = await member.client.post("/demandes/devis", data={**FORM, "fin": "31/02", "csrf_token": token})
    assert "date illisible" in bad_date.text and member.acquisitions.quotes == []
    member.acquisitions.refuse_quote = Refusal(422, "aoi-outside-france", "zone hors du territoire couvert")
    refused = await member.client.post("/demandes/devis", data={**FORM, "csrf_token": token})
    assert refused.status_code == 200
    assert (
        "Devis impossible : zone hors du territoire couvert" in refused.text
        and "aoi-outside-france" in refused.text
    )


async def test_every_form_post_needs_the_sessions_csrf_token(member):
    paths = (
        "/demandes/devis",
        "/demandes/brouillons",
        "/demandes/recapitulatif",
        "/demandes/envoyer",
        "/demandes/req-2026-aaa/cofinancement",
        "/demandes/brouillons/brouillon-1/supprimer",
    )
    for path in paths:
        for data in (FORM, {**FORM, "csrf_token": "forged"}):
            refused = await member.client.post(path, data=data, headers={"Accept": "application/json"})
            assert refused.status_code == 403 and refused.json()["code"] == "csrf-refused", path
    assert member.acquisitions.quotes == [] and member.acquisitions.submitted == []
    assert member.acquisitions.confirmed == [] and member.drafts.saved == {}


async def test_drafts_are_saved_resumed_listed_and_deleted_per_user(member):
    token = await csrf_of(member)
    saved = await member.client.post("/demandes/brouillons", data={**FORM, "csrf_token": token})
    assert saved.status_code == 303
    location = saved.headers["location"]
    draft_id = re.search(r"brouillon=([^&]+)", location).group(1)
    assert member.drafts.saved[draft_id]["owner"] == "sub-1"
    resumed = await member.client.get(location)
    assert "Brouillon enregistré." in resumed.text
    assert 'value="Haies du bocage"' in resumed.text and "4.80,45.72,4.90,45.78</textarea>" in resumed.text
    assert f'name="brouillon" value="{draft_id}"' in resumed.text
    # Saved again from the resumed form: the same draft, updated.
    await member.client.post(
        "/demandes/brouillons",
        data={**FORM, "titre": "Haies, v2", "brouillon": draft_id, "csrf_token": token},
    )
    assert len(member.drafts.saved) == 1 and member.drafts.saved[draft_id]["fields"]["titre"] == "Haies, v2"
    listed = await member.client.get("/demandes")
    assert "Haies, v2" in listed.text and f"/demandes/nouvelle?brouillon={draft_id}" in listed.text
    gone = await member.client.post(f"/demandes/brouillons/{draft_id}/supprimer", data={"csrf_token": token})
    assert gone.status_code == 303 and member.drafts.saved == {}
    again = await member.client.get(f"/demandes/nouvelle?brouillon={draft_id}")
    assert again.status_code == 404


async def test_another_users_draft_is_not_found(member):
    member.drafts.saved["brouillon-x"] = {
        "_id": "brouillon-x",
        "owner": "sub-2",
        "fields": {**FORM, "titre": "Secret de sub-2"},
        "saved_at": datetime.now(UTC),
    }
    token = await csrf_of(member)
    for path in ("/demandes/nouvelle?brouillon=brouillon-x", "/demandes/nouvelle?brouillon=../../x"):
        answer = await member.client.get(path)
        assert answer.status_code == 404 and "Secret" not in answer.text
    deleted = await member.client.post(
        "/demandes/brouillons/brouillon-x/supprimer", data={"csrf_token": token}
    )
    assert deleted.status_code == 404 and "brouillon-x" in member.drafts.saved
    # Saving "over" it makes a new draft of one's own; the other stays as it was.
    await member.client.post(
        "/demandes/brouillons", data={**FORM, "brouillon": "brouillon-x", "csrf_token": token}
    )
    assert member.drafts.saved["brouillon-x"]["fields"]["titre"] == "Secret de sub-2"
    assert "Secret" not in (await member.client.get("/demandes")).text


async def test_recap_then_one_confirmation_submits(member):
    token = await csrf_of(member)
    incomplete = await member.client.post(
        "/demandes/recapitulatif", data={**FORM, "titre": "", "csrf_token": token}
    )
    assert incomplete.status_code == 400 and "Intitulé de la demande : à renseigner" in incomplete.text
    assert member.acquisitions.submitted == []
    recap = await member.client.post("/demandes/recapitulatif", data={**FORM, "csrf_token": token})
    assert recap.status_code == 200 and "Vérifier la demande" in recap.text
    assert "du 10 janvier 2027 au 28 février 2027" in recap.text
    assert 'action="/demandes/envoyer"' in recap.text and 'name="titre" value="Haies du bocage"' in recap.text
    assert member.acquisitions.submitted == []  # nothing sent before the confirmation
    no_inline_code(recap.text)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', recap.text))
    sent = await member.client.post("/demandes/envoyer", data=fields)
    assert sent.status_code == 303 and sent.headers["location"] == "/demandes/req-2026-new?envoyee=1"
    assert member.acquisitions.submitted[-1]["title"] == "Haies du bocage"
    page = await member.client.get(sent.headers["location"])
    assert "Demande envoyée" in page.text and "Déposée, en attente d&#39;examen" in page.text


async def test_submitting_removes_the_draft_and_a_refusal_keeps_the_form(member):
    token = await csrf_of(member)
    saved = await member.client.post("/demandes/brouillons", data={**FORM, "csrf_token": token})
    draft_id = re.search(r"brouillon=([^&]+)", saved.headers["location"]).group(1)
    member.acquisitions.refuse_submit = Refusal(
        422,
        "invalid-request",
        "La requête est invalide / the request is invalid.",
        [{"loc": ["body", "window"], "msg": "Value error, une programmation vise une fenêtre future"}],
    )
    refused = await member.client.post(
        "/demandes/envoyer", data={**FORM, "brouillon": draft_id, "csrf_token": token}
    )
    assert refused.status_code == 422
    assert "Refusé par le service des demandes : La requête est invalide" in refused.text
    assert "Début de la fenêtre : une programmation vise une fenêtre future" in refused.text
    assert 'value="Haies du bocage"' in refused.text and draft_id in member.drafts.saved
    member.acquisitions.refuse_submit = None
    sent = await member.client.post(
        "/demandes/envoyer", data={**FORM, "brouillon": draft_id, "csrf_token": token}
    )
    assert sent.status_code == 303 and draft_id not in member.drafts.saved


async def test_my_requests_in_readable_french(member):
    page = await member.client.get("/demandes")
    html = page.text
    assert page.status_code == 200 and "Mes demandes" in html
    assert "Co-financement à confirmer" in html and "Acquisition en cours" in html
    assert "50 %" in html and "38,7" in html and "Programmation (nouvelle acquisition)" in html
    no_inline_code(html)
    english = await member.client.get("/demandes?lang=en")
    assert "Being acquired" in english.text and "My requests" in english.text


async def test_a_request_page_with_reason_timeline_map_and_cofinancing(member):
    page = await member.client.get("/demandes/req-2026-aaa")
    html = page.text
    assert page.status_code == 200
    assert "Co-financement à confirmer" in html and "dépasse le quota du trimestre" in html
    assert 'id="motif"' in html
    timeline = html.split('id="historique"', 1)[1]
    assert (
        timeline.index("Demande déposée")
        < timeline.index("Examen commencé")
        < timeline.index("Co-financement demandé")
    )
    assert "par vous" in timeline and "par l&#39;équipe DINAMIS" in timeline and "op-9" not in timeline
    assert "13,7" in html and "82,26 €" in html
    assert 'action="/demandes/req-2026-aaa/cofinancement"' in html
    assert re.search(r'id="part-acquise" data-percent="0.0"', html)
    assert 'id="zone-demandee"' in html and 'id="images-livrees"' in html
    no_inline_code(html)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    done = await member.client.post("/demandes/req-2026-aaa/cofinancement", data={"csrf_token": token})
    assert done.status_code == 303 and member.acquisitions.confirmed == ["req-2026-aaa"]
    after = await member.client.get(done.headers["location"])
    assert (
        "Co-financement confirmé" in after.text
        and 'action="/demandes/req-2026-aaa/cofinancement"' not in after.text
    )
    # Confirming again: the orders service's refusal, with its reason and code.
    again = await member.client.post("/demandes/req-2026-bbb/cofinancement", data={"csrf_token": token})
    assert again.status_code == 409 and "aucun co-financement en attente" in again.text
    assert "invalid-transition" in again.text


async def test_the_share_acquired_and_the_delivered_footprints(member):
    html = (await member.client.get("/demandes/req-2026-bbb")).text
    assert "50 % de la zone acquise" in html and "1 image(s) livrée(s)" in html
    assert 'data-percent="50.0"' in html and "scene-w" in html
    assert "nuages ≤ 15 %, incidence ≤ 25°" in html
    blocks = dict(re.findall(r'<script type="application/geo\+json" id="([^"]+)">(.*?)</script>', html, re.S))
    assert json.loads(blocks["images-livrees"])["features"][0]["id"] == "scene-w"
    assert json.loads(blocks["zone-demandee"])["geometry"] == QUOTE["aoi"]


async def test_another_organisations_request_is_a_404_that_names_nothing(member):
    token = await csrf_of(member)
    for path in ("/demandes/req-2026-zzz", "/demandes/..%2F..%2Fv1%2Fme"):
        answer = await member.client.get(path)
        assert answer.status_code == 404 and "req-2026-zzz" not in answer.text
    confirm = await member.client.post("/demandes/req-2026-zzz/cofinancement", data={"csrf_token": token})
    assert confirm.status_code == 404 and member.acquisitions.confirmed == []


async def test_html_in_the_fields_is_text_and_data_blocks_cannot_be_closed(member):
    token = await csrf_of(member)
    hostile = {**FORM, "titre": '<script>alert(1)</script>"><img src=x>', "justification": "</script>" * 5}
    saved = await member.client.post("/demandes/brouillons", data={**hostile, "csrf_token": token})
    page = await member.client.get(saved.headers["location"])
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text
    recap = await member.client.post("/demandes/recapitulatif", data={**hostile, "csrf_token": token})
    assert "<script>alert(1)" not in recap.text and "<img src=x>" not in recap.text
    member.acquisitions.records["req-2026-bbb"]["title"] = "</script><script>alert(2)</script>"
    member.acquisitions.records["req-2026-bbb"]["aoi"] = {"type": "Polygon", "coordinates": "</script><b>"}
    detail = await member.client.get("/demandes/req-2026-bbb")
    assert "<script>alert(2)" not in detail.text and "</script><b>" not in detail.text
    no_inline_code(detail.text)


async def test_oversized_or_odd_input_never_gives_a_500(member):
    token = await csrf_of(member)
    odd = [
        {**FORM, "aoi": "{" * 5000},
        {**FORM, "aoi": "1e999,2,3,4"},
        {**FORM, "aoi": '{"type": "FeatureCollection", "features": []}'},
        {**FORM, "nuages": "nan", "incidence": "inf"},
        {**FORM, "debut": "2027-13-45"},
        {"csrf_token": token},
    ]
    for data in odd:
        data = {**data, "csrf_token": token}
        for path in ("/demandes/devis", "/demandes/recapitulatif", "/demandes/envoyer"):
            answer = await member.client.post(path, data=data)
            assert answer.status_code < 500, (path, data)
    big = await member.client.post(
        "/demandes/devis", data={**FORM, "aoi": "x" * 100_000, "csrf_token": token}
    )
    assert big.status_code == 200 and "zone illisible" in big.text
    # A detailed area (9,000 vertices, about 225 kB) is read and sent; beyond 512 kB, 413.
    ring = [
        [round(4.8 + 0.05 * math.cos(i / 1432.4), 6), round(45.75 + 0.05 * math.sin(i / 1432.4), 6)]
        for i in range(9_000)
    ]
    detailed = json.dumps({"type": "Polygon", "coordinates": [[*ring, ring[0]]]})
    assert 200_000 < len(detailed) < 400_000
    sent = await member.client.post("/demandes/devis", data={**FORM, "aoi": detailed, "csrf_token": token})
    assert (
        sent.status_code == 200 and len(member.acquisitions.quotes[-1][0]["aoi"]["coordinates"][0]) == 9_001
    )
    huge = await member.client.post(
        "/demandes/devis", data={**FORM, "aoi": "1" * 600_000, "csrf_token": token}
    )
    assert huge.status_code == 413


async def test_an_old_reason_is_left_to_the_timeline_once_the_request_moved_on(member):
    member.acquisitions.records["req-2026-bbb"]["last_reason"] = "au-delà du quota"
    html = (await member.client.get("/demandes/req-2026-bbb")).text
    assert 'id="motif"' not in html


def test_form_reading():
    assert shape(form.parse_aoi("4.8, 45.7, 4.9, 45.8")).equals(shapely.box(4.8, 45.7, 4.9, 45.8))
    assert form.parse_aoi('{"a":' * 5000) is None  # nested beyond reason: unreadable, not a 500
    assert form.parse_aoi("4.8;45.7;4.9;45.8") is not None
    assert form.parse_aoi("4.8,45.7,4.9") is None and form.parse_aoi("a,b,c,d") is None
    assert form.parse_aoi('{"type": "Point"}') is None
    one = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": QUOTE["aoi"]}]}
    assert form.parse_aoi(json.dumps(one)) == QUOTE["aoi"]
    assert form.percent(0.5, "fr") == "50 %" and form.percent(0.054, "en") == "5.4 %"
    assert form.km2(1234.56, "fr") == "1\u202f234,6 km²" and form.euros(82.26, "en") == "€82.26"
    assert form.state_text("needs_cofinancing", "fr") == "Co-financement à confirmer"
    assert form.state_text("unheard-of", "fr") == "unheard-of"
    assert form.history_label("scene s-1", "fr") == "Image livrée : s-1"
    assert form.history_label("something new", "fr") == "something new"
    errors = form.field_errors(
        [{"loc": ["body", "justification"], "msg": "String should have at least 20"}], "fr"
    )
    assert errors == {"justification": "String should have at least 20"}


async def test_the_http_adapter_hides_other_organisations_and_carries_refusals():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path == "/v1/requests/req-2026-other":
            return httpx.Response(
                403, json={"code": "forbidden", "detail": "demande d'une autre organisation"}
            )
        if path == "/v1/requests/quote":
            return httpx.Response(
                422,
                json={
                    "code": "invalid-request",
                    "detail": "La requête est invalide",
                    "errors": [{"loc": ["body", "aoi"], "msg": "m"}],
                },
            )
        if path == "/v1/requests/req-2026-down":
            return httpx.Response(502, text="bad gateway")
        return httpx.Response(200, json={"requests": []})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        adapter = HttpAcquisitionRequests("http://orders.test/", http)
        with pytest.raises(PortalError) as hidden:
            await adapter.get("req-2026-other", "T")
        assert hidden.value.http_status == 404 and "autre organisation" not in str(hidden.value.message_fr)
        with pytest.raises(PortalError) as down:
            await adapter.get("req-2026-down", "T")
        assert down.value.http_status == 503
        with pytest.raises(PortalError):
            await adapter.get("../me", "T")
        refused = await adapter.quote({"kind": "tasking"}, "T")
        assert (
            isinstance(refused, Refusal)
            and refused.status == 422
            and refused.errors[0]["loc"] == ["body", "aoi"]
        )
        assert await adapter.listing("T") == []
    assert all(r.headers["authorization"] == "Bearer T" for r in seen)
    assert {r.url.path for r in seen} == {
        "/v1/requests/req-2026-other",
        "/v1/requests/req-2026-down",
        "/v1/requests/quote",
        "/v1/requests",
    }


async def test_drafts_are_kept_for_members_only(portal):
    """Anyone can register an account: the portal stores drafts only for members in good
    standing as the orders service says, so accounts alone cannot fill its database."""
    container = portal.app.state.container
    portal.drafts = container.drafts = FakeDrafts()
    portal.orders.standing = "unresolved"
    await portal.login()
    token = await csrf_of(portal)
    refused = await portal.client.post(
        "/demandes/brouillons", data={**FORM, "csrf_token": token}, headers={"Accept": "application/json"}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "drafts-members-only"
    assert portal.drafts.saved == {}
