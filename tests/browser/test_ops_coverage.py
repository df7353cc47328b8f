"""The yearly coverage board in real headless Chromium, on the real stack: an operator
plans the 2026 campaign, opens the board, the supplier simulator delivers three cells
(`dinamis supplier simulate --coverage france --year 2026 --limit 3`) and a fourth
delivery that ingest rejects (a wrong checksum); the board fills live, without a reload
(acquired → ingested → published; too cloudy above the threshold; rejected with its
reason); the operator re-tasks the rejected cell. axe-core on every page, screenshots
`ops-coverage-*.png`."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.browser.ops_support import browser_login, operator
from tests.browser.portal_stack import CHROMIUM, FLAGS, PageChecker, portal_stack
from tests.integration.ops_coverage_support import deliver_cell

ROOT = Path(__file__).resolve().parents[2]
BOARD = "/ops/couverture/2026"
# The portal of this module: a database of its own (a campaign planned by an earlier run
# is not there), the publication checked every second, a quick heartbeat.
ENV = {
    "DINAMIS_PORTAL_MONGO_DATABASE": f"portal_cov_{uuid.uuid4().hex[:8]}",
    "DINAMIS_PORTAL_COVERAGE_PUBLISH_CHECK_S": "1",
    "DINAMIS_PORTAL_COVERAGE_STREAM_HEARTBEAT_S": "2",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    try:
        with portal_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
            yield urls
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def simulate_three_cells() -> str:
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv" / "bin" / "dinamis"),
        "supplier",
        "simulate",
        "--coverage",
        "france",
        "--year",
        "2026",
        "--limit",
        "3",
        "--size",
        "128",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()[-2000:]
    return out.decode()


async def view(page, screenshots: Path, name: str, selector: str) -> None:
    """A screenshot of the viewport around `selector` (the full-page ones are 243 rows tall)."""
    await page.locator(selector).first.scroll_into_view_if_needed()
    await page.screenshot(path=str(screenshots / f"ops-coverage-vue-{name}.png"))


# What the page announces (aria-live) as the stream's events arrive, and the rows it
# replaces: recorded in the page, to check the board changed live and in order.
WATCH_ROWS = """() => {
  window.covSeen = [];
  window.covSaid = [];
  new MutationObserver((changes) => changes.forEach((m) => m.addedNodes.forEach((n) => {
    if (n.id && n.id.startsWith('maille-')) window.covSeen.push(n.id + ':' + n.getAttribute('data-state'));
  }))).observe(document.querySelector('#cov-table tbody'), { childList: true });
  const said = document.querySelector('#cov-announce');
  new MutationObserver(() => window.covSaid.push(said.textContent))
    .observe(said, { childList: true, characterData: true, subtree: true });
  window.sameDocument = true;
}"""


async def test_an_operator_plans_watches_the_board_fill_live_and_retasks(stack, settings, screenshots):
    _, email, password = operator()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            checker = PageChecker(page, screenshots, "ops-coverage")
            await browser_login(page, stack.portal, email, password, retour=BOARD)
            checker.errors.clear()  # Keycloak's page is not ours
            assert "n'est pas planifiée" in await page.inner_text("main")
            await checker.check("a-planifier")

            await page.click("text=Planifier la campagne 2026")
            await page.wait_for_url(f"**{BOARD}?fait=coverage-planned")
            try:
                await page.wait_for_selector("#cov-live.fr-badge--success")  # the stream is open
            except Exception:
                raise AssertionError(f"the stream did not open: {checker.errors}") from None
            assert await page.locator("#cov-table tbody tr").count() == 243
            assert "0 mailles couvertes sur 243" in await page.inner_text("#avancement-global")
            await checker.check("planifiee", idle=False)

            # Deliveries while the page stays open: no reload.
            await page.evaluate(WATCH_ROWS)
            simulated = asyncio.create_task(simulate_three_cells())
            rejected = await deliver_cell(settings, 2026, 4, tamper=True)
            await simulated
            for selector in (
                '#maille-1[data-state="published"]',
                '#maille-2[data-state="published"]',
                '#maille-3[data-state="too-cloudy"]',
                '#maille-4[data-state="rejected"]',
            ):
                await page.wait_for_selector(selector, timeout=180_000)
            assert await page.evaluate("window.sameDocument === true"), "the page was reloaded"
            seen = await page.evaluate("window.covSeen")
            one = [s.split(":")[1] for s in seen if s.startswith("maille-1:")]
            assert one and one[-1] == "published", seen
            assert one == sorted(one, key=["acquired", "ingested", "published"].index), seen
            said = [s for s in await page.evaluate("window.covSaid") if s.startswith("Maille 1 :")]
            order = ["Maille 1 : acquise", "Maille 1 : archivée", "Maille 1 : publiée"]
            assert said and said[-1] == order[-1] and said == sorted(said, key=order.index), said
            row4 = await page.inner_text("#maille-4")
            assert "rejetée" in row4 and "checksum-mismatch" in row4 and rejected.scene_id in row4
            assert "trop nuageuse" in await page.inner_text("#maille-3")
            # the summary was fetched again: 2 covered (published), the chart's text too
            covered = "document.querySelector('#avancement-global').textContent"
            await page.wait_for_function(f"{covered}.includes('2 mailles couvertes sur 243')")
            history = await page.eval_on_selector("#maille-1 details ol", "n => n.textContent")
            for state in ("planifiée", "acquise", "archivée", "publiée"):
                assert state in history, history
            await page.click("#maille-1 details summary")
            await checker.check("en-direct", idle=False)
            await view(page, screenshots, "1-synthese", "h1")
            await view(page, screenshots, "2-carte", "#cov-map")
            await view(page, screenshots, "3-mailles", "#maille-4")

            # Re-task the rejected cell: a reason is required (the browser's own check first).
            await page.fill("#motif-4", "Livraison corrompue : nouvelle acquisition demandée au fournisseur")
            await page.click("#maille-4 button[type=submit]")
            await page.wait_for_url(f"**{BOARD}?fait=coverage-retasked*")
            await page.wait_for_selector('#maille-4[data-state="re-tasked"]')
            assert "reprogrammée" in await page.inner_text("#maille-4")
            await checker.check("reprogrammee", idle=False)
            await view(page, screenshots, "4-reprogrammee", "#maille-4")

            await page.goto(f"{stack.portal}/ops/journal?action=coverage.retask")
            journal = await page.inner_text("main")
            assert "cell:france-2026:4" in journal and "nouvelle acquisition" in journal
            await checker.check("journal")

            await page.goto(f"{stack.portal}{BOARD}?etat=too-cloudy")
            assert await page.locator("#cov-table tbody tr").count() == 1
            await checker.check("filtre", idle=False)
            await view(page, screenshots, "5-filtre", "#cov-table")

            await page.goto(f"{stack.portal}{BOARD}?lang=en")
            assert "Yearly coverage 2026" in await page.inner_text("h1")
            await checker.check("en", idle=False)
        finally:
            await browser.close()
    print(f"screenshots in {screenshots}", file=sys.stderr)
