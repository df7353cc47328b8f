"""The AOI tools in real headless Chromium: draw a rectangle on the Rechercher map, see the
server's review, move a vertex (the review follows), upload a zipped shapefile in
Lambert-93, review it, search with it and see the % of the AOI covered in the list and
in the map's popup; then keyboard only: paste → review → search. axe-core (RGAA, French)
on each state: no serious or critical violation; no CSP violation; screenshots `aoi-*`."""

from __future__ import annotations

import json
import re

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright
from pyproj import Transformer
from shapely.geometry import shape

from tests.browser.portal_stack import CHROMIUM, FLAGS, PageChecker, lyon_scene, member, portal_stack
from tests.integration.aoi_support import covered_by_hand, lambert93_box_zip


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with portal_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


@pytest.fixture(scope="module")
async def scene(settings, stack, tmp_path_factory):
    return await lyon_scene(settings, stack, tmp_path_factory.mktemp("scene"), day=9)


def aoi_ring(scene: dict) -> list[tuple[float, float]]:
    centre = shape(scene["geometry"]).centroid
    x, y = Transformer.from_crs(4326, 2154, always_xy=True).transform(centre.x, centre.y)
    west, south, east, north = x - 6000, y - 2000, x + 2000, y + 2000
    return [(west, south), (east, south), (east, north), (west, north), (west, south)]


async def map_box(page: Page) -> dict:
    """The map's box in the viewport (mouse coordinates), the map scrolled into view."""
    await page.locator("#carte").scroll_into_view_if_needed()
    box = await page.locator("#carte").bounding_box()
    assert box
    return box


async def review_area(page: Page, errors: list[str] | None = None) -> float:
    try:
        await page.wait_for_selector("#revue .revue-polygone", timeout=15_000)
    except PlaywrightError:
        state = await page.evaluate(
            "[document.getElementById('revue-zone').innerHTML.slice(0, 800),"
            " JSON.stringify(window.dinamisPortal.aoiCount && window.dinamisPortal.aoiCount()),"
            " document.getElementById('zone-texte').value.slice(0, 300)]"
        )
        raise AssertionError(f"no review: {state} {errors}") from None
    return float(await page.get_attribute("#revue .revue-polygone", "data-area-km2"))


async def test_draw_upload_review_search_and_keyboard_only(stack, scene, screenshots):
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 1000})
            page = await context.new_page()
            checks = PageChecker(page, screenshots, "aoi")
            await page.goto(f"{stack.portal}/rechercher?bbox=4.70,45.70,5.00,45.82")
            await page.wait_for_selector("#outils-dessin:not([hidden])")
            await checks.check("rechercher")

            # Draw a rectangle: two clicks on the map; the server reviews it.
            await page.click("#dessiner-rectangle")
            assert await page.get_attribute("#dessiner-rectangle", "aria-pressed") == "true"
            box = await map_box(page)
            x0, y0 = box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.35
            await page.mouse.click(x0, y0)
            await page.mouse.move(x0 + 120, y0 + 90, steps=5)
            await page.mouse.click(x0 + 120, y0 + 90)
            drawn = await review_area(page, checks.errors)
            assert drawn > 0 and "Lu comme : GeoJSON." in await page.inner_text("#revue")
            assert await page.evaluate("window.dinamisPortal.aoiCount().drawn") == 1
            await checks.check("dessin-revue")

            # Edit a vertex: drag a corner outwards; the review follows with a larger area.
            await page.click("#modifier-sommets")
            box = await map_box(page)
            corners = [await page.evaluate(f"window.dinamisPortal.aoiVertexPixel({i})") for i in range(4)]
            mid_x, mid_y = sum(c[0] for c in corners) / 4, sum(c[1] for c in corners) / 4
            px = corners[2]
            # Away from the rectangle's centre: the area grows.
            dx, dy = (40 if px[0] > mid_x else -40), (40 if px[1] > mid_y else -40)
            cx, cy = box["x"] + px[0], box["y"] + px[1]
            await page.mouse.move(cx, cy)
            await page.mouse.down()
            await page.mouse.move(cx + dx, cy + dy, steps=8)
            await page.mouse.up()
            # (wait_for_function evaluates a string: the page's CSP refuses eval; poll instead.)
            for _ in range(100):
                area = await page.evaluate(
                    "(document.querySelector('#revue .revue-polygone') || {dataset: {}})"
                    ".dataset.areaKm2 || ''"
                )
                if area and float(area) != drawn:
                    break
                await page.wait_for_timeout(100)
            assert await review_area(page) > drawn
            await page.click("#modifier-sommets")  # off again
            await page.click("#effacer-dessin")

            # Draw a triangle: three clicks, then a click on the first vertex closes it.
            await page.click("#dessiner-polygone")
            assert await page.get_attribute("#dessiner-polygone", "aria-pressed") == "true"
            box = await map_box(page)
            points = [(0.3, 0.3), (0.6, 0.3), (0.45, 0.6), (0.3, 0.3)]
            for fx, fy in points:
                await page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
                await page.wait_for_timeout(150)
            triangle = await review_area(page, checks.errors)
            assert triangle > 0 and await page.inner_text("#revue .revue-polygone td:nth-child(3)") == "4"
            await page.click("#effacer-dessin")

            # Upload a zipped shapefile in Lambert-93 (a rectangle straddling the scene's west edge).
            ring = aoi_ring(scene)
            xs, ys = zip(*ring, strict=True)
            await page.set_input_files(
                "#zone-fichier",
                files=[
                    {
                        "name": "lyon-lambert93.zip",
                        "mimeType": "application/zip",
                        "buffer": lambert93_box_zip(min(xs), min(ys), max(xs), max(ys)),
                    }
                ],
            )
            await page.click("#verifier-fichier")
            await page.wait_for_selector("#revue [data-code='aoi-reprojected']")
            assert await review_area(page) == pytest.approx(32.0, rel=0.01)  # 8 km x 4 km
            # The reviewed polygon is drawn on the map (from the swapped fragment's data block).
            assert await page.evaluate("window.dinamisPortal.aoiCount().drawn") == 1
            await checks.check("import-shapefile-revue")

            # Use it: the search runs over the AOI, each scene with the share covered.
            await page.click("#utiliser-zone")
            await page.wait_for_url(re.compile(r".*/rechercher\?.*zone=p1\..*"))
            row = page.locator(f'[data-item-id="{scene["id"]}"]')
            await row.wait_for()
            covered = float(await row.locator(".portal-covered").get_attribute("data-covered"))
            expected = covered_by_hand(ring, scene["geometry"])
            assert 0.2 < expected < 0.9 and covered == pytest.approx(expected, abs=0.002)
            assert "Part de ma zone couverte" in await row.inner_text()
            assert await page.evaluate("window.dinamisPortal.aoiCount().active") == 1
            assert "Zone de recherche" in await page.inner_text("#zone-resume")
            await checks.check("resultats-couverture")

            # The map's popup on the scene's footprint says the same share.
            await page.wait_for_timeout(300)
            box = await map_box(page)
            fp = await page.evaluate(f"window.dinamisPortal.footprintPixel({json.dumps(scene['id'])})")
            await page.mouse.click(box["x"] + fp[0], box["y"] + fp[1])
            await page.wait_for_selector("#popup-carte:not([hidden])")
            popup = await page.inner_text("#popup-texte")
            # (Other tests' scenes may share this footprint: the popup names the one on top.)
            shown = (await row.locator(".portal-covered").inner_text()).split(" : ")[-1]
            assert "part de ma zone couverte : " + shown in popup, (popup, shown)
            assert re.match(r"PNEO4-\d+-\d+ — ", popup)
            await checks.check("popup-carte")

            # Keyboard only, from a fresh page: paste → review → search.
            await page.goto(f"{stack.portal}/rechercher")
            await page.wait_for_selector("#outils-dessin:not([hidden])")
            for _ in range(120):
                await page.keyboard.press("Tab")
                if await page.evaluate("document.activeElement && document.activeElement.id") == "zone-texte":
                    break
            else:
                raise AssertionError("the paste box is not reachable with Tab")
            await page.keyboard.type("4.84,45.75,4.86,45.77")
            await page.keyboard.press("Tab")
            assert await page.evaluate("document.activeElement.id") == "verifier-collage"
            await page.keyboard.press("Enter")
            await page.wait_for_selector("#utiliser-zone")
            assert await page.evaluate("window.dinamisPortal.aoiCount().drawn") == 1
            for _ in range(40):
                if (
                    await page.evaluate("document.activeElement && document.activeElement.id")
                    == "utiliser-zone"
                ):
                    break
                await page.keyboard.press("Tab")
            else:
                raise AssertionError("the review's link is not reachable with Tab")
            await checks.check("clavier-revue")
            await page.keyboard.press("Enter")
            await page.wait_for_url(re.compile(r".*zone=p1\..*"))
            row = page.locator(f'[data-item-id="{scene["id"]}"]')
            await row.wait_for()
            assert "100\u00a0%" in await row.locator(".portal-covered").inner_text()
            await checks.check("clavier-resultats")

            # Logged in: save the zone from the review, then "Mes zones" (list, open, delete).
            _, email, password = member()
            await page.goto(f"{stack.portal}/connexion?retour=/rechercher")
            await page.wait_for_selector("#kc-form-login")
            await page.fill("#username", email)
            await page.fill("#password", password)
            await page.click("#kc-login")
            await page.wait_for_url(f"{stack.portal}/rechercher")
            checks.errors.clear()  # Keycloak's page is not ours
            await page.fill("#zone-texte", "4.84,45.75,4.86,45.77")
            await page.click("#verifier-collage")
            await page.wait_for_selector("#form-enregistrer")
            await page.fill("#nom-zone", "Lyon centre")
            await page.click("#form-enregistrer button")
            await page.wait_for_url(f"{stack.portal}/zones")
            assert "Lyon centre" in await page.inner_text("#zones-enregistrees")
            await checks.check("mes-zones")
            await page.click("text=Rechercher sur « Lyon centre »")
            await page.wait_for_url(re.compile(r".*/rechercher\?zone=p1\..*"))
            assert "Zone de recherche" in await page.text_content("#zone-resume")
            await page.goto(f"{stack.portal}/zones")
            await page.click("text=Supprimer « Lyon centre »")
            await page.wait_for_url(f"{stack.portal}/zones")
            assert "Aucune zone enregistrée." in await page.inner_text("main")
        finally:
            await browser.close()
