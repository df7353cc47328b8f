"""A newcomer's way to membership in real headless Chromium: they register on Keycloak's
own registration page, confirm their e-mail address with the link Keycloak mails them
(read from the test stack's mailbox), come back logged in, apply for membership from the
portal (department, charter and licence accepted), see "en attente d'examen"; an
operator approves through the orders API and allocates quotas; they see "approuvée",
then the quotas page with its chart drawn, the users, API keys (a key created, its
secret shown once), webhooks and preferences pages. On every page: axe-core (RGAA and
WCAG 2.1 A/AA, French messages) finds no serious or critical violation, the
Content-Security-Policy blocks nothing, and a screenshot `org-*.png` is saved."""

from __future__ import annotations

import asyncio
import email
import os
import re
import time
import uuid
from email import policy
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.browser.portal_stack import CHROMIUM, FLAGS, PageChecker
from tests.integration.identity import PASSWORD
from tests.integration.orders_api import Caller
from tests.integration.organisation_stack import WebhookReceiver, organisation_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with organisation_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


def verification_link(address: str, timeout_s: float = 30) -> str:
    """The e-mail verification link Keycloak sent to `address` (the test stack's SMTP
    server keeps every message in a Maildir)."""
    mailbox = Path(os.environ["DINAMIS_STACK_DIR"]) / "mail"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for folder in ("new", "cur"):
            for path in sorted((mailbox / folder).glob("*")) if (mailbox / folder).exists() else []:
                message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
                if address not in str(message.get("To", "")):
                    continue
                body = message.get_body(preferencelist=("plain", "html"))
                text = body.get_content() if body else ""
                found = re.search(r"https?://\S+?action-token\?key=[\w.\-]+(?:&\S+?)*(?=[\s\"<>]|$)", text)
                if found:
                    return found.group(0).replace("&amp;", "&")
        time.sleep(0.5)
    raise AssertionError(f"no verification e-mail for {address} in {mailbox}")


async def test_a_newcomer_registers_applies_is_approved_and_sees_the_quotas(stack, screenshots, keyfile):
    address = f"nouvelle-{uuid.uuid4().hex[:8]}@labo.example.fr"
    operator = Caller.staff(keyfile, api=f"{stack.orders}/v1")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            checker = PageChecker(page, screenshots, "org")

            # Mon organisation asks to log in; Keycloak's page offers to register.
            await page.goto(f"{stack.portal}/mon-organisation")
            await page.wait_for_selector("#kc-form-login")
            await page.click("#kc-registration a, a[href*='registration']")
            await page.wait_for_selector("#kc-register-form")
            await page.fill("#email", address)
            await page.fill("#firstName", "Nadia")
            await page.fill("#lastName", "Référente")
            await page.fill("#password", PASSWORD)
            await page.fill("#password-confirm", PASSWORD)
            await checker.shot("keycloak-inscription")
            await page.click("input[type=submit], button[type=submit]")
            # The realm asks for a verified address: the link comes by e-mail.
            await page.wait_for_load_state("load")
            await checker.shot("keycloak-verification")
            link = await asyncio.to_thread(verification_link, address)
            await page.goto(link)
            proceed = page.locator("a:has-text('Cliquez ici'), a:has-text('Click here'), #kc-info-message a")
            await page.wait_for_load_state("load")
            if not page.url.startswith(stack.portal) and await proceed.count():
                await proceed.first.click()
            await page.wait_for_url(f"{stack.portal}/mon-organisation", timeout=30_000)
            checker.errors.clear()  # Keycloak's pages are not ours
            assert await page.locator("#sans-organisation").count() == 1
            await checker.check("sans-organisation")

            # The application.
            await page.click("a[href='/adhesion'].fr-btn")
            await page.wait_for_selector("#form-adhesion")
            await page.fill("#f-name", "Observatoire des territoires du Rhône")
            await page.select_option("#f-category", "french-public")
            await page.select_option("#f-department", "69")
            await page.fill("#f-siret", "22690001700013")
            await page.fill("#f-rep_name", "Jeanne Martin")
            await page.fill("#f-rep_email", "direction@rhone.example.fr")
            await page.fill("#f-rep_title", "Directrice générale des services")
            await page.fill("#f-referent_name", "Nadia Référente")
            assert await page.input_value("#f-referent_email") == address
            await page.click("label[for=f-charter]")
            await page.click("label[for=f-licence]")
            assert await page.is_checked("#f-charter") and await page.is_checked("#f-licence")
            await checker.check("adhesion")
            await page.click("#envoyer-adhesion")
            await page.wait_for_url(f"{stack.portal}/mon-organisation?fait=applied")
            assert (await page.text_content("#statut") or "").strip() == "en attente d'examen"
            await checker.check("statut-en-attente")
            org = (await page.inner_text("dl.portal-facts dd code")).strip()

            # An operator approves through the orders API and allocates quotas.
            approved = operator.call("POST", f"/organisations/{org}/decision", json={"decision": "approve"})
            assert approved.status_code == 200, approved.text
            for family, period, km2 in (
                ("pleiades", "2026-Q4", 600.0),
                ("pleiades-neo", "2026-Q4", 250.0),
                ("spot-6-7", "2026", 1500.0),
            ):
                answer = operator.call(
                    "POST",
                    f"/quotas/{org}/{family}/{period}",
                    json={"km2": km2, "reason": "dotation initiale"},
                )
                assert answer.status_code == 200, answer.text
            operator.call(
                "POST",
                f"/quotas/{org}/pleiades/2026-Q4",
                json={"km2": -100.0, "reason": "correction", "adjustment": True},
            )
            await page.goto(f"{stack.portal}/mon-organisation")
            assert (await page.text_content("#statut") or "").strip() == "approuvée"
            await checker.check("statut-approuvee")

            # The quotas: the chart is drawn (bars with a width), the table and ledger beside it.
            await page.click("a.fr-sidemenu__link[href='/mon-organisation/quotas']")
            await page.wait_for_selector("#graphique-quotas svg")
            widths = await page.evaluate(
                "[...document.querySelectorAll('#graphique-quotas rect.portal-bar--available')]"
                ".slice(0, 3).map(r => r.getBoundingClientRect().width)"
            )
            assert len(widths) == 3 and all(w > 10 for w in widths), widths
            fill = await page.evaluate(
                "getComputedStyle(document.querySelector('rect.portal-bar--available')).fill"
            )
            assert fill == "rgb(227, 227, 253)"  # the stylesheet applies (no inline style needed)
            assert await page.locator("#journal-quota tbody tr").count() == 1  # Pléiades Neo's, first
            await page.click("a[title='Voir le journal de Pléiades 2026-Q4']")
            await page.wait_for_selector("#journal-quota")
            assert await page.locator("#journal-quota tbody tr").count() == 2  # allocation, correction
            await checker.check("quotas")

            await page.click("a.fr-sidemenu__link[href='/mon-organisation/utilisateurs']")
            await page.wait_for_selector("#utilisateurs")
            await checker.check("utilisateurs")

            await page.click("a.fr-sidemenu__link[href='/mon-organisation/cles-api']")
            await page.fill("#key-name", "script QGIS")
            await page.click("#form-cle button[type=submit]")
            await page.wait_for_selector("#secret-key")
            assert (await page.inner_text("#secret-key")).strip()
            await checker.check("cle-creee")

            await page.click("a.fr-sidemenu__link[href='/mon-organisation/webhooks']")
            await page.wait_for_selector("#form-webhook")
            await checker.check("webhooks")

            # A webhook to a receiver of this test, then a test event, in the delivery log.
            receiver = WebhookReceiver()
            try:
                deadline = time.monotonic() + 60
                while True:  # notify knows the referent once orders' event reached it (Kafka)
                    await page.fill("#hook-url", receiver.url)
                    await page.fill("#hook-description", "Intégration SIG du département")
                    await page.click("#form-webhook button[type=submit]")
                    await page.wait_for_load_state("load")
                    if await page.locator("#webhook-secret").count():
                        break
                    assert time.monotonic() < deadline, await page.inner_text("main")
                    await asyncio.sleep(1)
                await checker.check("webhook-cree")
                await page.click("#nouveau-webhook a")
                await page.click("#envoyer-test")
                await page.wait_for_selector("#fait")
                for _ in range(60):
                    if await page.locator(
                        '#livraisons tr[data-status="delivered"][data-test="true"]'
                    ).count():
                        break
                    await asyncio.sleep(0.5)
                    await page.reload()
                assert await page.locator('#livraisons tr[data-status="delivered"]').count() == 1
                assert receiver.events()[0]["type"] == "fr.dinamis.notify.webhook-test.v1"
                await checker.check("webhook-journal")
            finally:
                receiver.close()

            await page.click("a.fr-sidemenu__link[href='/mon-organisation/preferences']")
            await page.wait_for_selector("#form-preferences")
            await checker.check("preferences")

            await page.goto(f"{stack.portal}/mon-organisation/quotas?lang=en")
            await page.wait_for_selector("#graphique-quotas svg")
            await checker.check("quotas-en")
        finally:
            await browser.close()
