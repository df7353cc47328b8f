"""The ops console's frame in real headless Chromium: an operator logs in through
Keycloak's own form, lands on the console, publishes an announcement that the home page
shows, starts and ends the maintenance mode, and reads the journal of what they did. A
member who opens `/ops` sees the refusal page. axe-core (RGAA, WCAG 2.1 A/AA): no serious
or critical violation; screenshots `ops-frame-*.png`."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.browser.ops_support import browser_login, operator
from tests.browser.portal_stack import CHROMIUM, FLAGS, PageChecker, member
from tests.integration.organisation_stack import organisation_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with organisation_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


async def test_an_operator_announces_holds_the_maintenance_and_reads_the_journal(stack, screenshots):
    _, email, _ = operator("operator", "admin")
    _, member_email, _ = member()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            checker = PageChecker(page, screenshots, "ops-frame")
            await browser_login(page, stack.portal, email)
            checker.errors.clear()  # Keycloak's pages are not ours
            assert await page.locator("h1").inner_text() == "Console des opérateurs"
            assert await page.locator("a.fr-nav__link[href='/ops'][aria-current=page]").count() == 1
            await checker.check("accueil")

            await page.click("a.fr-sidemenu__link[href='/ops/annonces']")
            await page.fill("#text_fr", "Intervention sur le catalogue jeudi de 12 h à 14 h")
            await page.select_option("#severity", "warning")
            await checker.check("annonces")
            await page.click("form[action='/ops/annonces'] button[type=submit]:has-text('Publier')")
            await page.wait_for_url(f"{stack.portal}/ops/annonces?fait=announcement")
            assert "Intervention sur le catalogue" in await page.locator("#annonce").inner_text()

            await page.fill("#message_fr", "Mise à jour de la base : demandes et commandes suspendues")
            await page.click("button:has-text('Passer en maintenance')")
            await page.wait_for_url(f"{stack.portal}/ops/annonces?fait=maintenance-on")
            assert await page.locator("#maintenance").count() == 1
            await checker.check("maintenance")
            await page.click("button:has-text('Terminer la maintenance')")
            await page.wait_for_url(f"{stack.portal}/ops/annonces?fait=maintenance-off")
            await page.click("button:has-text('Retirer')")
            await page.wait_for_url(f"{stack.portal}/ops/annonces?fait=announcement-withdrawn")

            await page.click("a.fr-sidemenu__link[href='/ops/journal']")
            actions = await page.locator("tr.ops-journal-entry").evaluate_all(
                "rows => rows.map(r => r.dataset.action)"
            )
            assert actions[:4] == [
                "announcement.withdraw",
                "maintenance.end",
                "maintenance.start",
                "announcement.set",
            ]
            await checker.check("journal")

            # A member: no console in the navigation, the refusal page on /ops.
            other = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            member_page = await other.new_page()
            member_checker = PageChecker(member_page, screenshots, "ops-frame-membre")
            await browser_login(member_page, stack.portal, member_email, retour="/")
            assert await member_page.locator("a.fr-nav__link[href='/ops']").count() == 0
            response = await member_page.goto(f"{stack.portal}/ops")
            assert response is not None and response.status == 403
            assert "réservée au personnel DINAMIS" in await member_page.inner_text("main")
            member_checker.errors.clear()  # the 403 itself is logged by the browser
            await member_checker.check("refus")
        finally:
            await browser.close()
