"""Asking for an acquisition in real headless Chromium, on the real stack: a member logs in
on Keycloak's page, walks the DSFR stepper (one step at a time), types an area and
dates and watches the live quote (htmx, from the orders service) follow each change —
equal to the orders service's own quote —, reviews the recap, confirms once, and finds
the request in "Mes demandes" with its timeline; an operator asks for co-financing (the
orders API), the member confirms it on the page; a scene arrives and the page shows the
% acquired with the delivered footprint on the map. On every page: axe-core (RGAA, WCAG
2.1 A/AA, French) finds no serious or critical violation, the CSP blocks nothing, and a
screenshot `requests-*.png` is saved in .artifacts/screenshots/portal/."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Page, async_playwright

from dinamis_portal.aoi import parse_aoi_field
from tests.browser.acquisitions_support import (
    as_member,
    bbox_text,
    deliver_scene,
    form_fields,
    new_member,
    operator,
)
from tests.browser.portal_stack import CHROMIUM, FLAGS, PageChecker, portal_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with portal_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


async def quote_of(page: Page) -> dict:
    return json.loads(await page.get_attribute("#devis-donnees", "data-devis") or "null")


async def area_shown(page: Page) -> str:
    return await page.inner_text("#devis-surface")


async def test_a_member_asks_for_an_acquisition_with_the_live_quote(stack, keyfile, screenshots):
    member = new_member("navigateur")
    staff = operator(keyfile, stack)
    api = as_member(keyfile, stack, member)
    fields = form_fields(bbox_text(4.55, 45.55, 0.06))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            checker = PageChecker(page, screenshots, "requests")

            # Not logged in: Keycloak's page first, then back to the form.
            await page.goto(f"{stack.portal}/demandes/nouvelle")
            await page.wait_for_selector("#kc-form-login")
            await page.fill("#username", member.email)
            await page.fill("#password", member.password)
            await page.click("#kc-login")
            await page.wait_for_url(f"{stack.portal}/demandes/nouvelle")
            checker.errors.clear()  # Keycloak's page is not ours

            # Step 1 of 4: only the first step shows.
            assert "Étape 1 sur 4" in await page.inner_text("#etape-titre")
            assert await page.is_visible("#etape-1") and not await page.is_visible("#etape-2")
            assert not await page.is_visible("#verifier")
            await page.check("#kind-tasking", force=True)
            await checker.check("etape-1")

            # Step 2: the area, drawn on the small map as it is typed.
            await page.click("#etape-continuer")
            assert "Étape 2 sur 4" in await page.inner_text("#etape-titre")
            await page.fill("#aoi", fields["aoi"])
            await page.wait_for_function("() => window.dinamisRequests.drawn().area === 1")
            assert await page.is_visible("#devis-attente")  # no window yet: no quote asked

            # Step 3: the window; the quote appears (htmx, debounced), the orders service's own.
            await page.click("#etape-continuer")
            await page.fill("#debut", fields["debut"])
            await page.fill("#fin", fields["fin"])
            await page.wait_for_selector("#devis-surface")
            first = await quote_of(page)
            direct = api.call(
                "POST",
                "/requests/quote",
                json={
                    "kind": "tasking",
                    "sensor_family": "pleiades-neo",
                    "priority": "standard",
                    # the area as the portal's AOI reader gives it (the same square)
                    "aoi": parse_aoi_field(fields["aoi"]),
                    "window": {
                        "start": f"{fields['debut']}T00:00:00Z",
                        "end": await page.evaluate(
                            "(d) => new Date(Date.parse(d + 'T00:00:00Z') + 86400000).toISOString()"
                            ".replace('.000Z', 'Z')",
                            fields["fin"],
                        ),
                    },
                    "max_cloud_cover": 20,
                    "max_incidence_deg": 30,
                },
            )
            assert direct.status_code == 200, direct.text
            assert first == direct.json()
            shown = await area_shown(page)
            assert shown == f"{first['area_km2']:.1f} km²".replace(".", ",")

            # A window in the past: the quote says the orders service's reason, at once.
            await page.fill("#debut", "2020-01-01")
            await page.fill("#fin", "2020-02-01")
            await page.wait_for_selector("#devis-refus")
            assert "fenêtre future" in await page.inner_text("#devis-refus")
            await page.fill("#debut", fields["debut"])
            await page.fill("#fin", fields["fin"])
            await page.wait_for_selector("#devis-surface")
            await page.fill("#nuages", fields["nuages"])
            await page.fill("#incidence", fields["incidence"])

            # Back to the area: a bigger one, a bigger quote.
            await page.click("#etape-precedente")
            assert await page.is_visible("#etape-2")
            await page.fill("#aoi", bbox_text(4.55, 45.55, 0.09))
            await page.wait_for_function(
                "(before) => { const a = document.getElementById('devis-surface');"
                " return a && a.textContent !== before; }",
                arg=shown,
            )
            bigger = await quote_of(page)
            assert bigger["area_km2"] > first["area_km2"] * 2
            await page.wait_for_function(
                "() => { const d = window.dinamisRequests.drawn(); return d && d.extent"
                " && Math.abs(d.extent[2] - 4.64) < 0.001; }"
            )
            await checker.check("etape-2-devis")

            # Step 4, the recap, one confirmation.
            await page.click("#etape-continuer")
            await page.click("#etape-continuer")
            assert "Étape 4 sur 4" in await page.inner_text("#etape-titre")
            await page.fill("#titre", fields["titre"])
            await page.fill("#justification", fields["justification"])
            assert await page.is_visible("#verifier")
            await checker.check("etape-4")

            # A draft: saved, listed in Mes demandes, resumed with its values and its quote.
            await page.click("#enregistrer")
            await page.wait_for_url("**/demandes/nouvelle?brouillon=*")
            assert "Brouillon enregistré." in await page.inner_text("#avis")
            await page.goto(f"{stack.portal}/demandes")
            assert fields["titre"] in await page.inner_text("#brouillons")
            await checker.check("mes-brouillons")
            await page.click("#brouillons a")
            await page.wait_for_url("**/demandes/nouvelle?brouillon=*")
            await page.wait_for_selector("#devis-surface")
            assert await area_shown(page) == f"{bigger['area_km2']:.1f} km²".replace(".", ",")
            for _ in range(3):
                await page.click("#etape-continuer")
            assert await page.input_value("#titre") == fields["titre"]
            await page.click("#verifier")
            await page.wait_for_url(f"{stack.portal}/demandes/recapitulatif")
            assert fields["titre"] in await page.inner_text("#recapitulatif")
            assert await page.inner_text("#devis-surface") == await area_shown(page)
            await checker.check("recapitulatif")
            await page.click("#confirmer")
            await page.wait_for_url("**/demandes/req-*?envoyee=1")
            request_id = page.url.rsplit("/", 1)[1].split("?")[0]
            assert "Demande envoyée" in await page.inner_text("#avis")
            assert await page.locator("#historique li").count() == 1
            await checker.check("demande-deposee")

            # The operator asks for co-financing; the member confirms it on the page.
            for action in (
                {"action": "start_review"},
                {"action": "require_cofinancing", "reason": "au-delà du quota du trimestre"},
            ):
                assert staff.call("POST", f"/requests/{request_id}/actions", json=action).status_code == 200
            await page.goto(f"{stack.portal}/demandes/{request_id}")
            assert "au-delà du quota du trimestre" in await page.inner_text("#motif")
            assert await page.locator("#historique li").count() == 3
            await checker.check("cofinancement")
            await page.click("#confirmer-cofinancement")
            await page.wait_for_url("**?cofinancement=1")
            assert "Co-financement confirmé" in await page.inner_text("#avis")

            # Approved, acquiring; a scene over the west half arrives: the % acquired and
            # the delivered footprint on the map.
            for action in ({"action": "approve"}, {"action": "start_acquisition", "reason": "SIM-NAV-1"}):
                assert staff.call("POST", f"/requests/{request_id}/actions", json=action).status_code == 200
            west = {
                "type": "Polygon",
                "coordinates": [
                    [[4.55, 45.55], [4.595, 45.55], [4.595, 45.64], [4.55, 45.64], [4.55, 45.55]]
                ],
            }
            deliver_scene(request_id, west, f"scene-{request_id}-nav")
            coverage = api.call("GET", f"/requests/{request_id}/coverage").json()
            await page.goto(f"{stack.portal}/demandes/{request_id}")
            assert await page.get_attribute("#part-acquise", "data-percent") == str(
                coverage["acquired_percent"]
            )
            assert "Acquisition en cours" in await page.text_content("#etat")
            await page.wait_for_function("() => window.dinamisRequests.drawn().delivered === 1")
            await checker.check("demande-acquise")

            await page.click("text=Retour à mes demandes")
            await page.wait_for_url(f"{stack.portal}/demandes")
            assert request_id in await page.inner_text("#demandes")
            await checker.check("mes-demandes")
            await page.goto(f"{stack.portal}/demandes/{request_id}?lang=en")
            assert "Being acquired" in await page.text_content("#etat")
            await checker.check("request-en")
        finally:
            await browser.close()
