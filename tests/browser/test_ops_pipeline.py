"""An operator in real headless Chromium on the pipeline section: the health page (every
service ready, the lag table), a real dead letter (a delivery whose staged package misses
a file, rejected by ingest), its reason and headers; the cause fixed, the dead letter
replayed with a reason, processed once (one `scene-ingested`, one catalogue item), a
second replay refused, both in the journal. axe-core on every page (no serious or
critical violation), no CSP error, screenshots `ops-pipeline-*.png`."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from playwright.async_api import async_playwright

from dinamis_shared import clients
from dinamis_shared.events import SceneAcquiredV1, SceneIngestedV1
from dinamis_testkit.watch import EventWatcher
from tests.browser.ops_support import browser_login, operator
from tests.browser.portal_stack import CHROMIUM, FLAGS, PageChecker, portal_stack
from tests.integration.ops_pipeline_support import DLQ, broken_delivery, find_letter, fix, portal_bus
from tests.integration.scenes import publish


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with portal_stack(tmp_path_factory.mktemp("logs"), keyfile, portal_knows_ingest=True) as urls:
        yield urls


async def test_an_operator_checks_health_and_replays_a_fixed_dead_letter_once(
    settings, stack, screenshots, tmp_path
):
    _, email, password = operator()
    s3 = clients.s3_client(settings)
    broken = broken_delivery(s3, tmp_path, day=11)
    topics = [SceneIngestedV1.topic(), DLQ]
    async with EventWatcher(settings.kafka_bootstrap_servers, topics) as watcher, async_playwright() as pw:
        await publish(settings, broken.event)
        await watcher.wait(lambda: watcher.dead_letters(SceneAcquiredV1.topic(), broken.scene_id), 120)
        record = await find_letter(portal_bus(), broken.scene_id)
        assert record is not None
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            checker = PageChecker(page, screenshots, "ops-pipeline")
            await browser_login(page, stack.portal, email, password, retour="/ops/chaine")

            # health: the five services ready; the reporting (not started in this stack) is
            # listed and shown not ready; the lag table with the services' groups and the
            # event archive's (one row per topic it reads)
            assert await page.locator("#pipe-services tr[data-ready='yes']").count() == 5
            assert await page.locator("#pipe-services tr[data-ready='no']").count() == 1
            assert (
                await page.locator("#pipe-services tr[data-service='reporting'][data-ready='no']").count()
                == 1
            )
            assert await page.locator("#pipe-lag tr[data-group='ingest']").count() == 1
            assert await page.locator("#pipe-lag tr[data-group='catalog']").count() == 1
            assert await page.locator("#pipe-lag tr[data-group='reporting-archive']").count() == 14
            # notify answered the operator's own token with its staff list (none failing here
            # unless another test left one): no refusal
            assert await page.locator("#pipe-hooks-refused").count() == 0
            assert await page.locator("#pipe-hooks-none, #pipe-hooks").count() == 1
            await checker.check("sante")

            # the QA list: ingest's rejection of this delivery, with its reason
            await page.click("a[href='/ops/chaine/rejets']")
            rejected = page.locator(f"tr.pipe-rejection[data-scene='{broken.scene_id}']")
            await rejected.wait_for()
            assert await rejected.get_attribute("data-code") == "missing-file"
            await checker.check("rejets")
            await page.go_back()

            # the dead letters: the letter listed with its reason
            await page.click(f"#pipe-dlq tr[data-topic='{DLQ}'] a")
            row = page.locator(f"tr.pipe-letter[data-ref='{record.ref}']")
            assert await row.get_attribute("data-code") == "missing-file"
            await checker.check("lettres")
            await row.locator("td a").click()
            assert await page.inner_text("#pipe-code") == "missing-file"
            assert "ingest" in await page.inner_text("#pipe-why")
            headers = await page.inner_text("#pipe-headers")
            assert "dlq_reason" in headers and "dlq_original_topic" in headers and broken.scene_id in headers
            assert broken.scene_id in await page.inner_text("#pipe-body")
            await checker.check("lettre")

            # the cause fixed; replayed with a reason: processed once
            fix(s3, broken)
            await page.fill("#reason", "fichier manquant déposé à nouveau dans le dépôt")
            await page.click("#pipe-replay-one button[type=submit]")
            await page.wait_for_url("**fait=dlq-replayed*")
            assert "rejouée" in await page.inner_text("#fait")
            assert "déjà rejouée 1 fois." in (await page.inner_text("#pipe-replayed")).lower()
            await checker.check("rejouee")
            (ingested,) = await watcher.wait(lambda: watcher.events(SceneIngestedV1, broken.scene_id), 180)
            item = f"{stack.catalog}/collections/{ingested.collection}/items/{broken.scene_id}"
            async with httpx.AsyncClient(timeout=10) as http:
                for _ in range(60):
                    if (await http.get(item)).status_code == 200:
                        break
                    await asyncio.sleep(0.5)
                found = await http.get(
                    f"{stack.catalog}/search", params={"ids": broken.scene_id, "limit": "10"}
                )
            assert found.status_code == 200 and len(found.json()["features"]) == 1, "one catalogue item"

            # a second replay (the page seen before the first one) is refused
            await page.go_back()
            await page.fill("#reason", "deuxième essai")
            await page.click("#pipe-replay-one button[type=submit]")
            await page.wait_for_load_state("load")
            body = await page.inner_text("body")
            assert "déjà été rejouée" in body and "already-replayed" in body
            await checker.check("refus")
            await asyncio.sleep(2)
            assert len(watcher.events(SceneIngestedV1, broken.scene_id)) == 1, "processed once"

            # the journal: the replay and the refusal
            await page.goto(f"{stack.portal}/ops/journal?cible={record.ref}")
            entries = page.locator("tr.ops-journal-entry[data-action='dlq.replay']")
            assert await entries.count() == 2
            journal = (await page.inner_text("main")).lower()
            assert "fichier manquant déposé à nouveau" in journal
            assert "refusé" in journal and "fait" in journal
            await checker.check("journal")
            assert checker.errors == [] or all("Content Security Policy" not in e for e in checker.errors)
        finally:
            await browser.close()
