"""A member's journey through the portal in real headless Chromium: open Rechercher, log
in on Keycloak's own login page, search over Lyon, see the results in the list and their
footprints drawn on the map (read back from the map's canvas), go back and forward
through the search history, open the scene page and find signed download links; then
every other page, in French and in English. On every page of the portal: axe-core
(RGAA and WCAG 2.1 A/AA rules, French messages) finds no serious or critical violation,
the Content-Security-Policy blocks nothing (no inline script or style anywhere), and a
screenshot is saved."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright

from tests.browser.portal_stack import (
    CHROMIUM,
    FLAGS,
    LYON_TEXT,
    PageChecker,
    lyon_scene,
    member,
    portal_stack,
)


# As the machine notes say: headless, and none of Chromium's own background traffic
# (this machine's network is closed to it).
@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with portal_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


@pytest.fixture(scope="module")
async def scene(settings, stack, tmp_path_factory):
    return await lyon_scene(settings, stack, tmp_path_factory.mktemp("scene"), day=4)


async def until(page: Page, condition: str, timeout_s: float = 15) -> None:
    """Wait for a condition across a page reload (a reload destroys the context a
    `wait_for_function` runs in)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await page.wait_for_load_state("load")
            if await page.evaluate(f"() => Boolean(document.getElementById('bbox')) && ({condition})"):
                return
        except PlaywrightError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true after {timeout_s} s: {condition} (at {page.url})")
        await asyncio.sleep(0.1)


async def footprint_drawn(page: Page, item_id: str, timeout_s: float = 10) -> bool:
    """Is the footprint's fill (DSFR blue, 25 %) on the map's canvas at the footprint's
    centre? Asked until it is, or `timeout_s` (the map draws on an animation frame, later
    on a busy machine)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await _footprint_drawn(page, item_id):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def _footprint_drawn(page: Page, item_id: str) -> bool:
    return await page.evaluate(
        """(id) => {
            const px = window.dinamisPortal.footprintPixel(id);
            if (!px) return false;
            const ratio = window.devicePixelRatio || 1;
            return [...document.querySelectorAll('#carte canvas')].some(canvas => {
                const [r, g, b, a] = canvas.getContext('2d')
                    .getImageData(Math.round(px[0] * ratio), Math.round(px[1] * ratio), 1, 1).data;
                return a > 0 && b - r > 20 && b - g > 20;
            });
        }""",
        item_id,
    )


async def test_a_member_searches_over_lyon_and_opens_a_scene(stack, scene, screenshots):
    _, email, password = member()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            checker = PageChecker(page, screenshots, "portail")

            await page.goto(f"{stack.portal}/rechercher")
            assert await page.title() == "Rechercher des images - DINAMIS"
            await checker.check("rechercher")

            # Log in on Keycloak's own page; back where we were.
            await page.click("#se-connecter")
            await page.wait_for_selector("#kc-form-login")
            await page.screenshot(path=str(screenshots / "00-keycloak-connexion.png"), full_page=True)
            await page.fill("#username", email)
            await page.fill("#password", password)
            await page.click("#kc-login")
            await page.wait_for_url(f"{stack.portal}/rechercher")
            assert (await page.inner_text("#utilisateur")).startswith("Membre (Labo org-")
            checker.errors.clear()  # Keycloak's page is not ours

            # Search over Lyon: htmx swaps the results, the URL carries the search.
            await page.fill("#bbox", LYON_TEXT)
            # A mark on this document: still there after the search if htmx swapped the
            # results in place (a plain form submission would load a new document).
            await page.evaluate("window.sameDocument = true")
            await page.click("#lancer-recherche")
            await page.wait_for_url(
                lambda url: "/rechercher?" in url and "bbox=4.75%2C45.70%2C4.95%2C45.82" in url
            )
            row = page.locator(f'[data-item-id="{scene["id"]}"]')
            await row.wait_for()
            assert await page.evaluate("window.sameDocument === true"), "the search reloaded the page"
            listed = await page.locator("#liste-resultats > li").count()
            status = await page.inner_text("#nombre-resultats")
            # The stack may hold more scenes over Lyon than a page shows (other tests' scenes).
            counted = status.startswith(f"{listed} scène") or status.startswith(f"Plus de {listed} scènes")
            assert counted and listed >= 1, status
            assert await page.evaluate("window.dinamisPortal.footprintCount()") == listed
            assert await footprint_drawn(page, scene["id"])
            assert await page.locator(f'[data-item-id="{scene["id"]}"] img').get_attribute("src") == (
                f"/apercus/{scene['collection']}/{scene['id']}/thumbnail"
            )
            await checker.check("rechercher-lyon")

            # The yearly coverage grid: not fetched with the page, drawn when asked for (a
            # keyboard user reaches the toggle like any checkbox).
            assert await page.evaluate("window.dinamisPortal.grid === undefined")
            await page.focus("#grille-couverture")
            await page.keyboard.press("Space")
            grid = "window.dinamisPortal.grid"
            count = f"{grid} ? {grid}.getSource().getFeatures().length : 0"
            for _ in range(100):  # wait_for_function would evaluate a string: the CSP refuses it
                if (cells := await page.evaluate(count)) > 0:
                    break
                await asyncio.sleep(0.1)
            assert cells == 243 and await page.evaluate("window.dinamisPortal.grid.getVisible()")
            await checker.check("rechercher-grille")
            await page.keyboard.press("Space")
            assert not await page.evaluate("window.dinamisPortal.grid.getVisible()")

            # The back button returns to the search before; forward to Lyon again.
            # (htmx keeps no history cache here: a history step reloads the page from its URL.)
            await page.go_back()
            await until(page, "document.getElementById('bbox').value === ''")
            assert page.url == f"{stack.portal}/rechercher"
            await page.go_forward()
            await until(page, "document.getElementById('bbox').value === '4.75,45.7,4.95,45.82'")
            assert "bbox=4.75%2C45.70%2C4.95%2C45.82" in page.url
            await row.wait_for()

            # The scene page: metadata, quicklook, footprint, signed links for this member.
            await row.locator("a").click()
            await page.wait_for_url(f"**/scenes/{scene['collection']}/{scene['id']}")
            assert await page.inner_text("#titre-scene") == scene["id"]
            signed = await page.locator("a.portal-signed").first.get_attribute("href")
            assert signed and "X-Amz-Signature=" in signed
            assert await page.evaluate("window.dinamisPortal.footprintCount()") == 1
            assert await footprint_drawn(page, scene["id"])
            quicklook = page.locator("img.portal-quicklook")
            assert await quicklook.evaluate("img => img.complete && img.naturalWidth > 0")
            await checker.check("fiche-scene")

            for path, name in (
                ("/", "accueil"),
                ("/accessibilite", "accessibilite"),
                ("/mentions-legales", "mentions-legales"),
                ("/donnees-personnelles", "donnees-personnelles"),
                ("/cookies", "cookies"),
                ("/rechercher?lang=en", "search-en"),
                (f"/scenes/{scene['collection']}/{scene['id']}", "scene-en"),
            ):
                await page.goto(stack.portal + path)
                await checker.check(name)
            assert await page.get_attribute("html", "lang") == "en"
            await page.goto(f"{stack.portal}/?lang=fr")
            await page.wait_for_load_state("networkidle")

            # Log out: the portal's session and Keycloak's end; back on the home page.
            await page.click("text=Se déconnecter")
            await page.wait_for_url(f"{stack.portal}/")
            await page.wait_for_selector("#se-connecter")
            await checker.check("accueil-deconnecte")
            assert len(checker.pages) == 12
        finally:
            await browser.close()


async def test_errors_are_pages_too(stack, screenshots):
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = await (await browser.new_context(locale="fr-FR")).new_page()
            checker = PageChecker(page, screenshots, "portail")
            response = await page.goto(f"{stack.portal}/rechercher?nuages=150")
            assert response is not None and response.status == 400
            assert "n'est pas un pourcentage entre 0 et 100" in await page.inner_text("#erreur")
            await checker.check("erreur-filtre")
        finally:
            await browser.close()
