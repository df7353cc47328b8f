"""The ops console's review queue in real headless Chromium, on the real stack (orders,
catalog with pgSTAC, Kafka, FerretDB, Keycloak): a real Pléiades Neo scene over Lyon is
ingested; a member asks for archive imagery over Lyon, which that scene already covers —
an operator logs in through Keycloak, finds the request in the queue, sees the scene in
the automatic checks with the share of the area it covers, and proposes it instead; the
member's request page shows the proposed scene. A second request, elsewhere, is taken up
and approved with a reason template. The journal lists both decisions. On every page:
axe-core (RGAA, WCAG 2.1 A/AA, French) finds no serious or critical violation, the CSP
blocks nothing, and a screenshot `ops-review-*.png` is saved."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.browser.acquisitions_support import as_member, new_member
from tests.browser.acquisitions_support import operator as operator_api
from tests.browser.ops_support import browser_login, operator
from tests.browser.portal_stack import CHROMIUM, FLAGS, PageChecker, lyon_scene, portal_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with portal_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


@pytest.fixture(scope="module")
async def scene(settings, stack, tmp_path_factory):
    return await lyon_scene(settings, stack, tmp_path_factory.mktemp("scene"), day=3)


def box(west: float, south: float, east: float, north: float) -> dict:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def archive(aoi: dict, title: str) -> dict:
    return {
        "kind": "archive",
        "sensor_family": "pleiades-neo",
        "aoi": aoi,
        "window": {"start": "2026-05-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"},
        "title": title,
        "justification": "Cartographie des haies pour le projet ANR BOCAGE 2026-2029.",
        "max_cloud_cover": 30,
    }


async def test_an_operator_proposes_catalogue_scenes_and_approves_with_a_template(
    stack, scene, keyfile, screenshots
):
    applicant = new_member("revue")
    api = as_member(keyfile, stack, applicant)
    # Inside the 8 km Lyon scene (centred on 4.85, 45.76): about 27 km².
    lyon = api.call("POST", "/requests", json=archive(box(4.815, 45.738, 4.885, 45.782), "Haies de Lyon"))
    assert lyon.status_code == 201, lyon.text
    lyon_id = lyon.json()["request_id"]
    brest = api.call("POST", "/requests", json=archive(box(-4.60, 48.35, -4.50, 48.42), "Bocage de Brest"))
    assert brest.status_code == 201, brest.text
    brest_id, period = brest.json()["request_id"], brest.json()["quota_period"]
    # Quota enough for Brest: approving reserves it (no co-financing).
    allocated = operator_api(keyfile, stack).call(
        "POST", f"/quotas/{applicant.org}/pleiades-neo/{period}", json={"km2": 500, "reason": "dotation"}
    )
    assert allocated.status_code == 200, allocated.text
    _sub, staff_email, staff_password = operator()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 900})
            page = await context.new_page()
            checker = PageChecker(page, screenshots, "ops-review")
            await browser_login(page, stack.portal, staff_email, staff_password, retour="/ops/demandes")
            checker.errors.clear()  # Keycloak's page is not ours

            # The queue: both requests, on time, filtered down to this organisation.
            await page.goto(f"{stack.portal}/ops/demandes?organisme={applicant.org}")
            rows = page.locator("#file tbody tr")
            assert await rows.count() == 2
            queue = await page.inner_text("#file")
            assert "Haies de Lyon" in queue and "Bocage de Brest" in queue
            assert "dans les délais" in queue.lower()
            await checker.check("file")

            # The Lyon request: the scene found in the catalogue covers the whole area.
            await page.click(f'a[href="/ops/demandes/{lyon_id}"]')
            await page.wait_for_url(f"{stack.portal}/ops/demandes/{lyon_id}")
            found = page.locator(f'#scenes tr[data-scene="{scene["id"]}"]')
            assert await found.count() == 1
            covered = await found.locator(".ops-review-covered").inner_text()
            assert covered.strip().replace("\xa0", " ") == "100 %"
            assert await page.is_checked(f'input[value="pleiades-neo-ortho/{scene["id"]}"]')
            await page.wait_for_function("() => window.dinamisReview && window.dinamisReview.scenes >= 1")
            assert await page.evaluate("window.dinamisReview.area") == 1
            assert "Bocage de Brest" not in await page.inner_text("#chevauchements")  # far away
            await checker.check("demande-lyon")

            # "Proposer ces scènes à la place", with a reason template (filled by the page).
            await page.select_option("#proposer-modele", "couverte")
            assert "déjà couverte" in await page.input_value("#proposer-motif")
            await page.click("#proposer-scenes")
            await page.wait_for_url(f"{stack.portal}/ops/demandes/{lyon_id}?fait=review-propose_scenes")
            assert "refusée" in (await page.inner_text("#etat")).lower()
            assert "Scènes du catalogue proposées" in await page.inner_text("#historique")
            await checker.check("lyon-proposee")

            # Brest: taken up, then approved with a reason template.
            await page.goto(f"{stack.portal}/ops/demandes/{brest_id}")
            assert await page.locator("#scenes-aucune").count() == 1  # nothing in the catalogue there
            await page.select_option("#decision", "start_review")
            await page.click("#enregistrer")
            await page.wait_for_url(f"{stack.portal}/ops/demandes/{brest_id}?fait=review-start_review")
            await page.select_option("#decision", "approve")
            await page.select_option("#modele", "conforme")
            assert (await page.input_value("#motif")).startswith("Demande conforme")
            await checker.check("demande-brest")
            await page.click("#enregistrer")
            await page.wait_for_url(f"{stack.portal}/ops/demandes/{brest_id}?fait=review-approve")
            assert "acceptée" in (await page.inner_text("#etat")).lower()
            assert "Demande conforme" in await page.inner_text("#historique")
            await checker.check("brest-acceptee")

            # The journal: both decisions, by this operator.
            await page.goto(f"{stack.portal}/ops/journal")
            journal = await page.inner_text("main")
            assert f"request:{lyon_id}" in journal and f"request:{brest_id}" in journal
            assert await page.locator('tr[data-action="request.propose_scenes"]').count() >= 1
            assert await page.locator('tr[data-action="request.approve"]').count() >= 1
            await checker.check("journal")

            # The member's request page shows the proposed scene, with its link.
            member_context = await browser.new_context(
                locale="fr-FR", viewport={"width": 1280, "height": 900}
            )
            mine = await member_context.new_page()
            member_checker = PageChecker(mine, screenshots, "ops-review-membre")
            await browser_login(
                mine, stack.portal, applicant.email, applicant.password, retour=f"/demandes/{lyon_id}"
            )
            member_checker.errors.clear()
            proposed = await mine.inner_text("#scenes-proposees")
            assert "Scènes proposées à la place" in proposed and scene["id"] in proposed
            link = mine.locator(f'#scenes-proposees a[href="/scenes/pleiades-neo-ortho/{scene["id"]}"]')
            assert await link.count() == 1
            await member_checker.check("demande-proposee")
            await link.click()
            await mine.wait_for_url(f"{stack.portal}/scenes/pleiades-neo-ortho/{scene['id']}")
            await member_context.close()
        finally:
            await browser.close()
