"""Acquisition requests through the portal, on the real stack (orders, catalog, ingest and
the portal from this checkout; Keycloak, FerretDB, Kafka, PostgreSQL, S3): a member
logged in through Keycloak's own form fills the request form (with its CSRF token), sees
the live quote equal to the orders service's own quote, saves a draft (in FerretDB,
`portal_drafts`, under their subject), resumes it, reviews and submits; an operator asks
for co-financing through the orders API and the member confirms it through the portal;
the request's page shows the % acquired that the orders service computes from the scenes
it records; another organisation's member gets a 404 that says nothing, and cannot
confirm; another user cannot open the draft."""

from __future__ import annotations

import json
import re
from html import unescape

import httpx
import pytest
from pymongo import MongoClient
from shapely.geometry import shape

from dinamis_portal.aoi import parse_aoi_field
from dinamis_shared.settings import ServiceSettings
from tests.browser.acquisitions_support import (
    COOKIE,
    as_member,
    bbox_text,
    deliver_scene,
    form_fields,
    hidden_fields,
    log_in,
    new_member,
    operator,
)
from tests.browser.portal_stack import csrf_of, portal_stack
from tests.integration.identity import text_of
from tests.integration.orders_api import square


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with portal_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


def drafts_of(owner: str) -> list[dict]:
    settings = ServiceSettings()
    with MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000) as client:
        return list(client[settings.mongo_database]["portal_drafts"].find({"owner": owner}))


def quote_data(fragment: httpx.Response) -> dict:
    found = re.search(r'<div id="devis-donnees" hidden data-devis="([^"]*)"></div>', fragment.text, re.S)
    assert found, text_of(fragment)[:600]
    return json.loads(unescape(found.group(1)))


def test_a_member_asks_for_an_acquisition_through_the_portal(stack, keyfile):
    member = new_member()
    staff = operator(keyfile, stack)
    api = as_member(keyfile, stack, member)
    fields = form_fields(bbox_text(4.62, 45.62, 0.06))

    browser, page = log_in(stack, member, retour="/demandes/nouvelle")
    assert page.status_code == 200 and str(page.url) == f"{stack.portal}/demandes/nouvelle", text_of(page)[
        :300
    ]
    assert 'class="fr-stepper"' in page.text and 'name="aoi"' in page.text
    token = csrf_of(page)

    # The live quote, as htmx asks for it: exactly the orders service's own quote.
    answer = browser.go("POST", f"{stack.portal}/demandes/devis", data={**fields, "csrf_token": token})
    assert answer.status_code == 200 and "<html" not in answer.text
    shown = quote_data(answer)
    draft = {
        "kind": "tasking",
        "sensor_family": "pleiades-neo",
        "priority": "standard",
        # The area as the portal's AOI reader gives it (the same square, maybe from another corner).
        "aoi": parse_aoi_field(fields["aoi"]),
        "window": {"start": f"{fields['debut']}T00:00:00Z", "end": shown_end(fields["fin"])},
        "max_cloud_cover": 15.0,
        "max_incidence_deg": 25.0,
        "title": fields["titre"],
        "justification": fields["justification"],
    }
    assert shape(draft["aoi"]).equals(shape(square(4.62, 45.62, 0.06)))
    direct = api.call("POST", "/requests/quote", json=draft)
    assert direct.status_code == 200, direct.text
    assert shown == direct.json()
    assert 25 < shown["area_km2"] < 45
    area = re.search(r'id="devis-surface">([^<]+)<', answer.text).group(1)
    assert area == f"{shown['area_km2']:.1f} km²".replace(".", ",")
    # No quota yet: everything beyond it is co-financed, and the page says how much.
    assert shown["cofinancing"]["km2"] == pytest.approx(shown["area_km2"])
    assert f"{shown['cofinancing']['amount_eur']:.2f}".replace(".", ",") in answer.text

    # Editing the area: a new quote for the new area.
    bigger = browser.go(
        "POST",
        f"{stack.portal}/demandes/devis",
        data={**fields, "aoi": bbox_text(4.62, 45.62, 0.09), "csrf_token": token},
    )
    assert quote_data(bigger)["area_km2"] > shown["area_km2"] * 2

    # A draft: saved in FerretDB under the user's subject, resumed with its values.
    saved = browser.go("POST", f"{stack.portal}/demandes/brouillons", data={**fields, "csrf_token": token})
    assert saved.status_code == 200 and "Brouillon enregistré." in saved.text
    draft_id = re.search(r"brouillon=([A-Za-z0-9-]+)", str(saved.url)).group(1)
    (record,) = drafts_of(member.sub)
    assert record["_id"] == draft_id and record["fields"]["titre"] == fields["titre"]
    resumed = browser.go("GET", f"{stack.portal}/demandes/nouvelle?brouillon={draft_id}")
    assert f">{fields['aoi']}</textarea>" in resumed.text and f'value="{fields["debut"]}"' in resumed.text
    listing = browser.go("GET", f"{stack.portal}/demandes")
    assert f"/demandes/nouvelle?brouillon={draft_id}" in listing.text

    # Another user: the draft id is a 404 that shows nothing of it.
    other = new_member("autre")
    other_browser, _ = log_in(stack, other)
    stolen = other_browser.go("GET", f"{stack.portal}/demandes/nouvelle?brouillon={draft_id}")
    assert stolen.status_code == 404 and fields["titre"] not in stolen.text
    other_token = csrf_of(other_browser.go("GET", f"{stack.portal}/demandes"))
    gone = other_browser.go(
        "POST", f"{stack.portal}/demandes/brouillons/{draft_id}/supprimer", data={"csrf_token": other_token}
    )
    assert gone.status_code == 404 and len(drafts_of(member.sub)) == 1

    # The recap, then the one confirmation.
    recap = browser.go(
        "POST",
        f"{stack.portal}/demandes/recapitulatif",
        data={**fields, "brouillon": draft_id, "csrf_token": token},
    )
    assert recap.status_code == 200 and "Vérifier la demande" in recap.text
    assert api.call("GET", "/requests").json()["requests"] == []  # nothing sent yet
    done = browser.go("POST", f"{stack.portal}/demandes/envoyer", data=hidden_fields(recap))
    assert done.status_code == 200 and "Demande envoyée" in done.text, text_of(done)[:500]
    request_id = re.search(r"/demandes/(req-[0-9]{4}-[0-9a-f]+)", str(done.url)).group(1)
    stored = api.call("GET", f"/requests/{request_id}").json()
    assert stored["status"] == "submitted" and stored["title"] == fields["titre"]
    assert stored["area_km2"] == shown["area_km2"] and stored["window"]["start"].startswith(fields["debut"])
    assert drafts_of(member.sub) == []  # sent: the draft is gone
    assert "Déposée, en attente d&#39;examen" in done.text and "Demande déposée" in done.text

    # An operator reviews and asks for co-financing (the orders API), with a reason.
    for action in (
        {"action": "start_review"},
        {"action": "require_cofinancing", "reason": "au-delà du quota"},
    ):
        acted = staff.call("POST", f"/requests/{request_id}/actions", json=action)
        assert acted.status_code == 200, acted.text
    detail = browser.go("GET", f"{stack.portal}/demandes/{request_id}")
    assert "Co-financement à confirmer" in detail.text and "au-delà du quota" in detail.text
    timeline = unescape(detail.text.split('id="historique"', 1)[1])
    assert timeline.index("Demande déposée") < timeline.index("Examen commencé")
    assert timeline.index("Examen commencé") < timeline.index("Co-financement demandé")
    assert "par vous" in timeline and "par l'équipe DINAMIS" in timeline and staff.user not in timeline

    # Another organisation's member: 404, nothing of the request, and no confirmation.
    for path in (f"/demandes/{request_id}", "/demandes/req-2026-0000000000"):
        hidden = other_browser.go("GET", f"{stack.portal}{path}")
        assert hidden.status_code == 404, hidden.text[:300]
        assert fields["titre"] not in hidden.text and "autre organisation" not in hidden.text
    refused = other_browser.go(
        "POST", f"{stack.portal}/demandes/{request_id}/cofinancement", data={"csrf_token": other_token}
    )
    assert refused.status_code == 404 and fields["titre"] not in refused.text
    assert api.call("GET", f"/requests/{request_id}").json()["cofinancing"].get("confirmed_at") is None
    assert request_id not in other_browser.go("GET", f"{stack.portal}/demandes").text

    # Without the CSRF token: refused. With it: the orders service records the confirmation.
    forged = httpx.post(
        f"{stack.portal}/demandes/{request_id}/cofinancement",
        headers={"Cookie": f"{COOKIE}={browser.cookies[COOKIE]}", "Accept": "application/json"},
        timeout=30,
    )
    assert forged.status_code == 403 and forged.json()["code"] == "csrf-refused"
    confirmed = browser.go(
        "POST", f"{stack.portal}/demandes/{request_id}/cofinancement", data={"csrf_token": csrf_of(detail)}
    )
    assert confirmed.status_code == 200 and "Co-financement confirmé" in confirmed.text
    assert api.call("GET", f"/requests/{request_id}").json()["cofinancing"]["confirmed_by"] == member.sub

    # Approved, acquired: the % acquired is the orders service's, from the scene it records.
    for action in ({"action": "approve"}, {"action": "start_acquisition", "reason": "SIM-PORTAIL-1"}):
        acted = staff.call("POST", f"/requests/{request_id}/actions", json=action)
        assert acted.status_code == 200, acted.text
    west = {
        "type": "Polygon",
        "coordinates": [[[4.62, 45.62], [4.65, 45.62], [4.65, 45.68], [4.62, 45.68], [4.62, 45.62]]],
    }
    deliver_scene(request_id, west, f"scene-{request_id}-w")
    coverage = api.call("GET", f"/requests/{request_id}/coverage").json()
    assert 45 < coverage["acquired_percent"] < 55
    acquired = browser.go("GET", f"{stack.portal}/demandes/{request_id}")
    assert "Acquisition en cours" in acquired.text
    assert f'data-percent="{coverage["acquired_percent"]}"' in acquired.text
    assert f"scene-{request_id}-w" in acquired.text and "Image livrée" in acquired.text
    listed = browser.go("GET", f"{stack.portal}/demandes")
    assert request_id in listed.text and "Acquisition en cours" in listed.text
    # The coverage is the organisation's only.
    assert as_member(keyfile, stack, other).call("GET", f"/requests/{request_id}/coverage").status_code == 403


def shown_end(last_day: str) -> str:
    """The window's end as the form sends it: the day after the last day, at midnight UTC."""
    from datetime import date, timedelta

    return f"{(date.fromisoformat(last_day) + timedelta(days=1)).isoformat()}T00:00:00Z"


def test_a_refused_submission_shows_the_orders_services_reason(stack):
    member = new_member("refus")
    browser, page = log_in(stack, member, retour="/demandes/nouvelle")
    token = csrf_of(page)
    # A tasking in the past: the orders service refuses it, the form stays filled in.
    past = {**form_fields(bbox_text(4.70, 45.60, 0.06)), "debut": "2020-01-01", "fin": "2020-02-01"}
    refused = browser.go("POST", f"{stack.portal}/demandes/envoyer", data={**past, "csrf_token": token})
    assert refused.status_code == 422, text_of(refused)[:500]
    assert "Refusé par le service des demandes" in refused.text and "fenêtre future" in unescape(refused.text)
    assert f'value="{past["titre"]}"' in refused.text
    # An area the orders service cannot take: its reason in the quote panel.
    outside = browser.go(
        "POST", f"{stack.portal}/demandes/devis", data={**past, "aoi": "-80,10,-79,11", "csrf_token": token}
    )
    assert outside.status_code == 200 and "Devis impossible" in outside.text
