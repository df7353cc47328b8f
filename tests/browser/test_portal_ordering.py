"""Ordering in real headless Chromium, on the real stack (tests/browser/portal_stack.py):
a member logs in on Keycloak's page, opens a scene, orders a Lambert-93 clip from the
scene page's "Commander un produit" (the orders service's estimate, one confirmation),
watches the order become "prêt" on its page without reloading it (the portal relays
notify's live stream), and downloads the product, which rasterio opens in EPSG:2154;
then Mes commandes, the basket and the notifications. On every page: axe-core finds no
serious or critical violation, the CSP blocks nothing; screenshots `orders-*.png`. The same order
with the keyboard only."""

from __future__ import annotations

import json

import pytest
import rasterio
from playwright.async_api import async_playwright

from tests.browser.ordering_stack import inner_aoi
from tests.browser.portal_stack import CHROMIUM, FLAGS, PageChecker, lyon_scene, member, portal_stack


async def status_of(page) -> str:
    """The order's state as written (the DSFR badge shows it in capitals)."""
    return ((await page.text_content("#statut-commande")) or "").strip()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with portal_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


@pytest.fixture(scope="module")
async def scene(settings, stack, tmp_path_factory):
    return await lyon_scene(settings, stack, tmp_path_factory.mktemp("scene"), day=9)


async def test_a_member_orders_a_clip_and_watches_it_become_ready_live(stack, scene, screenshots, tmp_path):
    _, email, password = member()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            checker = PageChecker(page, screenshots, "orders")
            scene_url = f"{stack.portal}/scenes/{scene['collection']}/{scene['id']}"

            await page.goto(scene_url)
            await page.click("#se-connecter")
            await page.wait_for_selector("#kc-form-login")
            await page.fill("#username", email)
            await page.fill("#password", password)
            await page.click("#kc-login")
            await page.wait_for_url(scene_url)
            checker.errors.clear()  # Keycloak's page is not ours

            # The scene page's button; the bell in the header.
            await page.wait_for_selector("#cloche")
            await checker.check("fiche-scene")
            await page.click("#commander-produit")
            await page.wait_for_url("**/commander?**")
            assert await page.input_value("#crs") == "EPSG:2154"
            await page.fill("#aoi", json.dumps(inner_aoi(scene)))
            await checker.check("formulaire")

            await page.click("#estimer")
            await page.wait_for_url("**/commander/estimation")
            area = await page.inner_text("#surface-totale")
            assert area.endswith("km²"), area
            assert await page.inner_text("#taille-totale")
            await checker.check("estimation")

            await page.click("#confirmer")
            await page.wait_for_url("**/commandes/ord-*")
            order_id = page.url.rsplit("/", 1)[-1]
            await page.evaluate("window.sameDocument = true")
            state = await status_of(page)
            if state != "prêt":
                await checker.check("commande-en-cours")
            # No reload, no refresh button: the relayed event updates the page in place.
            for _ in range(360):
                if await status_of(page) == "prêt":
                    break
                await page.wait_for_timeout(500)
            assert await status_of(page) == "prêt"
            assert await page.evaluate("window.sameDocument === true"), "the page was reloaded"
            assert "prêt" in await page.inner_text("#annonce-commande") or state == "prêt"
            href = await page.locator("a.portal-download").first.get_attribute("href")
            assert href and href.startswith(f"/commandes/{order_id}/produits/")
            await checker.check("commande-prete")

            # The download link: the portal asks delivery with the member's token and
            # redirects to the signed URL (the browser's cookies, as a click would).
            answer = await page.request.get(stack.portal + href)
            assert answer.ok and "X-Amz-Signature=" in answer.url
            target = tmp_path / "produit.tif"
            target.write_bytes(await answer.body())
            with rasterio.open(target) as dataset:
                assert dataset.crs.to_epsg() == 2154

            await page.goto(f"{stack.portal}/commandes")
            assert order_id in await page.inner_text("#liste-commandes")
            await checker.check("liste")

            await page.goto(scene_url)
            await page.click("#ajouter-panier-scene")
            await page.wait_for_url("**/panier")
            await checker.check("panier")

            await page.goto(f"{stack.portal}/commander?clone={order_id}")
            assert order_id in await page.inner_text("#clone-de")
            await checker.check("clone")

            await page.goto(f"{stack.portal}/notifications")
            await checker.check("notifications")

            await page.goto(f"{stack.portal}/commandes/{order_id}?lang=en")
            assert await status_of(page) == "ready"
            await checker.check("order-en")
        finally:
            await browser.close()


async def tab_to(page, selector: str, most: int = 120) -> None:
    """Press Tab until `selector` has the focus, as a keyboard user would."""
    for _ in range(most):
        if await page.evaluate(
            "(s) => document.activeElement && document.activeElement.matches(s)", selector
        ):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{selector} not reached with Tab in {most} presses (at {page.url})")


async def test_a_member_orders_a_clip_with_the_keyboard_only(stack, scene, screenshots):
    """The order journey without the mouse: log in on Keycloak's form, the scene page's
    "Commander un produit", the area typed, the estimate, the confirmation, the download
    link reached — Tab, typing and Enter only."""
    _, email, password = member()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            checker = PageChecker(page, screenshots, "orders-clavier")
            scene_url = f"{stack.portal}/scenes/{scene['collection']}/{scene['id']}"
            await page.goto(scene_url)
            await tab_to(page, "#se-connecter")
            await page.keyboard.press("Enter")
            await page.wait_for_selector("#kc-form-login")
            await tab_to(page, "#username")
            await page.keyboard.type(email)
            await tab_to(page, "#password")
            await page.keyboard.type(password)
            await page.keyboard.press("Enter")
            await page.wait_for_url(scene_url)
            checker.errors.clear()  # Keycloak's page is not ours

            await tab_to(page, "#commander-produit")
            await page.keyboard.press("Enter")
            await page.wait_for_url("**/commander?**")
            await tab_to(page, "#aoi")
            await page.keyboard.insert_text(json.dumps(inner_aoi(scene)))
            await tab_to(page, "#estimer")
            await page.keyboard.press("Enter")
            await page.wait_for_url("**/commander/estimation")
            await checker.check("estimation")
            await tab_to(page, "#confirmer")
            await page.keyboard.press("Enter")
            await page.wait_for_url("**/commandes/ord-*")
            for _ in range(360):
                if await status_of(page) == "prêt":
                    break
                await page.wait_for_timeout(500)
            assert await status_of(page) == "prêt"
            await tab_to(page, "a.portal-download")
            await checker.check("commande-prete", idle=False)
        finally:
            await browser.close()
