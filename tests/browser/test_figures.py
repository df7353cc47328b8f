""" "DINAMIS en chiffres" and the working group's dashboard in real headless Chromium
against the real stack: scripted organisation events published on the real Kafka in a
far-future year, archived by the real reporting service, shown by the portal — the public
page without login (dsfr-chart bar charts drawn under the strict CSP, their tables with
the suppressed cells said as such, French and English), the dashboard for a governance
user (not staff: no ops console for them) and for an operator, refused to a member.
axe-core (RGAA, WCAG 2.1 A/AA, French): no serious or critical violation; screenshots
`.artifacts/screenshots/portal/figures-*.png`."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from playwright.async_api import async_playwright

from tests.browser.figures_support import (
    YEAR,
    figures_stack,
    governance_user,
    publish,
    scenario_events,
    wait_for_archive,
)
from tests.browser.ops_support import browser_login, operator
from tests.browser.portal_stack import CHROMIUM, FLAGS, PageChecker, member

SECRET = "secret statistique (moins de 3 organisations)"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile, settings):
    with figures_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        asyncio.run(publish(settings, scenario_events()))
        # four categories in the year: every one of them has a row (two suppressed)
        archived = wait_for_archive(urls.reporting, expected_rows=4)
        yield urls, archived


def test_the_reporting_archived_the_scenario_with_its_suppression(stack):
    _, archived = stack
    rows = {r["category"]: (r["organisations_active"], r["suppressed"]) for r in archived["rows"]}
    # by hand: 5 and 4 shown; 1 suppressed (< 3); 3 suppressed with it (the smallest other)
    assert rows == {
        "french-public": (5, False),
        "french-research": (4, False),
        "international-research": (None, True),
        "french-private-rd": (None, True),
    }


async def table_cells(page, table_id: str) -> list[list[str]]:
    return await page.locator(f"#{table_id} tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.children].map(c => c.innerText.trim()))"
    )


async def test_the_public_page_without_login(stack, screenshots):
    urls, _ = stack
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            checker = PageChecker(page, screenshots, "figures-public")
            await page.goto(f"{urls.portal}/")
            await page.click("a.fr-nav__link[href='/chiffres']")
            await page.wait_for_url(f"{urls.portal}/chiffres")
            assert await page.locator("h1").inner_text() == "DINAMIS en chiffres"
            assert await page.locator("a.fr-nav__link[href='/chiffres'][aria-current=page]").count() == 1
            await page.select_option("#annee", str(YEAR))
            await page.click("form.figures-year button[type=submit]")
            await page.wait_for_url(f"{urls.portal}/chiffres?annee={YEAR}")
            table = "table-organisations-members_organisations"
            assert await table_cells(page, table) == [
                # in the reporting's order (by category code)
                # active, new, suspended, expired: all approved in YEAR
                ["R&D privée française", *[SECRET] * 4],
                ["Acteurs publics français", "5", "5", "0", "0"],
                ["Recherche française", "4", "4", "0", "0"],
                ["Recherche internationale", *[SECRET] * 4],
            ]
            caption = await page.locator(f"#{table} caption").inner_text()
            assert caption == f"Organisations adhérentes par catégorie, année {YEAR}"
            # dsfr-chart draws the bars on a canvas, under the portal's CSP
            await page.wait_for_selector("#panel-organisations-members_organisations bar-chart canvas")
            drawn = await page.eval_on_selector(
                "#panel-organisations-members_organisations bar-chart canvas", "c => c.width * c.height"
            )
            assert drawn > 0
            # dsfr-chart draws in a shadow root: its legend styled all the same (figures.js)
            await page.wait_for_selector("html[data-graphiques=prets]", state="attached")
            dot = await page.eval_on_selector(
                "#panel-organisations-members_organisations bar-chart .legende_dot",
                "d => [parseFloat(getComputedStyle(d).width) || 0, getComputedStyle(d).backgroundColor]",
            )
            assert dot[0] > 5 and dot[1] not in ("", "rgba(0, 0, 0, 0)"), dot
            csv = await page.get_attribute("#panel-organisations-members_organisations a[download]", "href")
            assert csv == f"/chiffres/export/members_organisations.csv?by=category&year={YEAR}"
            await checker.check("fr")

            await page.goto(f"{urls.portal}/chiffres?annee={YEAR}&lang=en")
            assert await page.locator("h1").inner_text() == "DINAMIS in figures"
            assert await table_cells(page, table) == [
                ["French private R&D", *["statistical confidentiality (fewer than 3 organisations)"] * 4],
                ["French public bodies", "5", "5", "0", "0"],
                ["French research", "4", "4", "0", "0"],
                ["International research", *["statistical confidentiality (fewer than 3 organisations)"] * 4],
            ]
            await page.wait_for_selector("#panel-organisations-members_organisations bar-chart canvas")
            await checker.check("en")
        finally:
            await browser.close()
    # the CSV link, relayed: the reporting's export (French headers, a BOM for spreadsheets),
    # suppressed cells empty and flagged
    response = httpx.get(f"{urls.portal}{csv}")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text == (
        "\ufeffCatégorie d'organisation,Organisations actives,Nouvelles organisations,"
        "Organisations suspendues,Organisations expirées,Organisations,Secret statistique\r\n"
        "french-private-rd,,,,,,True\r\n"
        "french-public,5,5,0,0,5,False\r\n"
        "french-research,4,4,0,0,4,False\r\n"
        "international-research,,,,,,True\r\n"
    )


async def test_the_working_group_dashboard(stack, screenshots):
    urls, _ = stack
    _, governance, _ = governance_user()
    _, staff_email, _ = operator("operator")
    _, member_email, _ = member()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            checker = PageChecker(page, screenshots, "figures-wg")
            await browser_login(page, urls.portal, governance, retour="/groupe-de-travail")
            checker.errors.clear()  # Keycloak's pages are not ours
            assert await page.locator("h1").inner_text() == "Tableau de bord du groupe de travail"
            assert (
                await page.locator("a.fr-nav__link[href='/groupe-de-travail'][aria-current=page]").count()
                == 1
            )
            assert await page.locator("a.fr-nav__link[href='/ops']").count() == 0
            # the catalogue of the real reporting, generically: every indicator it lists
            catalogue = httpx.get(f"{urls.reporting}/v1/indicators").json()["indicators"]
            offered = await page.locator("#indicateur option").evaluate_all("os => os.map(o => o.value)")
            assert sorted(offered) == sorted(i["name"] for i in catalogue) and offered
            chosen = next(i for i in catalogue if i["name"] == "members_organisations")
            boxes = await page.locator("#repartition input[name=by]").evaluate_all(
                "bs => bs.map(b => b.value)"
            )
            assert boxes == chosen["dimensions"]
            await page.click("label[for=by-category]")  # the DSFR draws the box on the label
            await page.fill("#f-year", str(YEAR))
            await page.click("#choix button[type=submit]")
            await page.wait_for_url(re.compile(r".*/groupe-de-travail\?.*by=category.*"))
            assert (
                await page.locator("#by-year").is_checked()
                and await page.locator("#by-category").is_checked()
            )
            # the reporting's working-group answer (every dimension), suppression included
            table = "#table-wg-members_organisations"
            assert await table_cells(page, table[1:]) == [
                # active, new, suspended, expired, organisations: all approved in YEAR
                [str(YEAR), "R&D privée française", *[SECRET] * 5],
                [str(YEAR), "Acteurs publics français", "5", "5", "0", "0", "5"],
                [str(YEAR), "Recherche française", "4", "4", "0", "0", "4"],
                [str(YEAR), "Recherche internationale", *[SECRET] * 5],
            ]
            await page.wait_for_selector("section.figures-panel bar-chart canvas")
            csv = await page.locator("section.figures-panel a[download]").first.get_attribute("href")
            assert (
                csv == f"/groupe-de-travail/export/members_organisations.csv?by=year%2Ccategory&year={YEAR}"
            )
            # relayed with the user's token (the browser's session; the reporting asks orders)
            export = await page.request.get(f"{urls.portal}{csv}")
            assert export.status == 200, await export.text()
            assert export.headers["content-type"].startswith("text/csv")
            assert export.headers["content-disposition"] == 'attachment; filename="members_organisations.csv"'
            assert export.headers["cache-control"] == "private, no-store"
            assert await export.text() == (
                "\ufeffAnnée,Catégorie d'organisation,Organisations actives,Nouvelles organisations,"
                "Organisations suspendues,Organisations expirées,Organisations,Secret statistique\r\n"
                f"{YEAR},french-private-rd,,,,,,True\r\n"
                f"{YEAR},french-public,5,5,0,0,5,False\r\n"
                f"{YEAR},french-research,4,4,0,0,4,False\r\n"
                f"{YEAR},international-research,,,,,,True\r\n"
            )
            note = await page.get_attribute("#note + p a", "href")
            assert note == f"/groupe-de-travail/note/{YEAR}.pdf"
            await checker.check("gouvernance")

            # governance is not staff: no ops console
            response = await page.goto(f"{urls.portal}/ops")
            assert response is not None and response.status == 403
            assert "réservée au personnel DINAMIS" in await page.inner_text("main")
            checker.errors.clear()  # the 403 itself is logged by the browser
            await checker.check("gouvernance-sans-ops")

            # an operator gets the dashboard too
            staff = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            staff_page = await staff.new_page()
            await browser_login(staff_page, urls.portal, staff_email, retour="/groupe-de-travail")
            assert await staff_page.locator("h1").inner_text() == "Tableau de bord du groupe de travail"

            # a member does not
            other = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            member_page = await other.new_page()
            member_checker = PageChecker(member_page, screenshots, "figures-wg-membre")
            await browser_login(member_page, urls.portal, member_email, retour="/")
            assert await member_page.locator("a.fr-nav__link[href='/groupe-de-travail']").count() == 0
            response = await member_page.goto(f"{urls.portal}/groupe-de-travail")
            assert response is not None and response.status == 403
            assert "réservée au groupe de travail DINAMIS" in await member_page.inner_text("main")
            member_checker.errors.clear()
            await member_checker.check("refus")
        finally:
            await browser.close()

    # nobody logged in: the login
    anonymous = httpx.get(f"{urls.portal}/groupe-de-travail", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/connexion?retour=%2Fgroupe-de-travail"


def test_the_reporting_asks_orders_who_is_in_the_working_group(stack, keyfile):
    """The reporting's working-group route decides on
    its own, from orders' records, whatever the token claims."""
    from dinamis_shared.auth import ensure_local_signing_key, mint_token
    from tests.integration.orders_api import ensure_staff, seed_member, uid

    urls, _ = stack
    key = ensure_local_signing_key(keyfile)
    route = f"{urls.reporting}/v1/wg/indicators/members_organisations"
    params = {"by": "category", "year": str(YEAR)}
    assert httpx.get(route, params=params).status_code == 401

    member_sub, governance_sub = uid("membre"), uid("gouvernance")
    seed_member(uid("org"), member_sub)
    ensure_staff(governance_sub, ["governance"])
    # a member whose token claims governance: refused (roles come from orders' records)
    forged = mint_token(key, user_id=member_sub, organisation_id="dinamis", roles=["governance", "admin"])
    refused = httpx.get(route, params=params, headers={"Authorization": f"Bearer {forged}"})
    assert refused.status_code == 403 and refused.json()["code"] == "not-working-group"
    token = mint_token(key, user_id=governance_sub)
    answer = httpx.get(
        route, params={**params, "by": "department"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text[:300]
    # every organisation of the scenario is in department 69: 13 in one cell
    assert [(r["department"], r["organisations_active"]) for r in answer.json()["rows"]] == [("69", 13)]
    bad = httpx.get(route, params={"by": "organisation_id"}, headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 400
