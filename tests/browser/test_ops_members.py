"""The ops console's memberships and quotas sections in real headless Chromium against
the real stack (orders, notify and the portal on Kafka, FerretDB, Keycloak): an
organisation applies through orders' API; an operator, logged in through Keycloak's own
form, sees it pending with its charter and licence acceptance evidence and its contract
(unconfirmed by the commissioning body), approves it, allocates a quota with a reason,
sees it in the ledger and the charts, exports the CSV; the journal lists both actions;
the staff accounts page is read-only for them; an admin adds a staff account, whom
orders then treats as staff. On every page: axe-core (RGAA, WCAG 2.1 A/AA, French
messages), no serious or critical violation, no CSP error; screenshots `ops-members-*`."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright

from tests.browser.ops_support import browser_login, operator
from tests.browser.portal_stack import CHROMIUM, FLAGS, PageChecker, csrf_of, log_in, member
from tests.integration.identity import new_user
from tests.integration.orders_api import Caller, application, new_member_org, uid
from tests.integration.organisation_stack import organisation_stack, post


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with organisation_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


async def test_an_operator_approves_allocates_exports_and_an_admin_adds_staff(stack, screenshots, keyfile):
    api = f"{stack.orders}/v1"
    # A commissioning public body (approved), and a contractor applying for it.
    bootstrap = Caller.staff(keyfile, api=api)
    body_referent, _ = new_member_org(keyfile, bootstrap, "french-public")
    org = uid("presta")
    applicant = Caller(keyfile, uid("ref"), org, ["referent", "member"], api=api)
    now = datetime.now(UTC)
    r = applicant.call(
        "POST",
        "/organisations",
        json=application(
            "Bureau d'études Géomatique Rhône",
            "contractor",
            organisation_id=org,
            siret="12345678900017",
            department="69",
            justification="Cartographie de l'artificialisation pour la métropole",
            commissioning_organisation_id=body_referent.org,
            contract_start=(now - timedelta(days=10)).isoformat(),
            contract_end=(now + timedelta(days=300)).isoformat(),
        ),
    )
    assert r.status_code == 201, r.text
    _, op_email, _ = operator()
    _, admin_email, _ = operator("admin")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            checker = PageChecker(page, screenshots, "ops-members")
            await browser_login(page, stack.portal, op_email, retour="/ops/adhesions")
            checker.errors.clear()  # Keycloak's pages are not ours

            # The pending application, first, with its evidence.
            pending = page.locator(f"#demandes-en-attente tr[data-organisation='{org}']")
            assert await pending.count() == 1
            await checker.check("adhesions")
            await pending.locator("a").click()
            await page.wait_for_url(f"{stack.portal}/ops/adhesions/{org}")
            evidence = await page.inner_text("#preuve-acceptation")
            assert "charte-dinamis-2024" in evidence and "licence-produits-dinamis-2024" in evidence
            assert applicant.user in evidence
            assert "12345678900017" in await page.inner_text("#siret")
            assert "Jeanne Martin" in await page.inner_text("#representant")
            contract = await page.inner_text("#contrat")
            assert body_referent.org in contract and "non confirmée" in contract
            await checker.check("dossier-en-attente")

            # Approve.
            await page.fill("#approve-reason", "Dossier complet, charte signée")
            await page.click("#form-approuver button[type=submit]")
            await page.wait_for_url(f"{stack.portal}/ops/adhesions/{org}?fait=membership-approved")
            assert "approuvée" in (await page.text_content("#etat-adhesion") or "")
            await checker.check("adhesion-approuvee")
            assert applicant.call("GET", "/me").json()["organisation"]["status"] == "active"

            # A quota allocated with a reason: in the ledger and the charts.
            await page.goto(f"{stack.portal}/ops/quotas?organisation={org}")
            assert await page.locator("#sans-quota").count() == 1
            await page.fill("#q-org", org)
            await page.select_option("#q-family", "pleiades")
            await page.fill("#q-period", "2026-Q4")
            await page.fill("#q-km2", "750")
            await page.fill("#q-reason", "Dotation du 4e trimestre 2026")
            await checker.check("quotas-formulaire")
            await page.click("#form-quota button[type=submit]")
            await page.wait_for_url(f"{stack.portal}/ops/quotas/{org}/pleiades/2026-Q4?fait=quota-allocate")
            row = page.locator("#journal-quota tr[data-kind='allocate']")
            assert await row.count() == 1
            assert "Dotation du 4e trimestre 2026" in await row.inner_text()
            assert "750" in await page.inner_text("#disponible")
            assert await page.locator("#graphique-quotas rect.portal-bar--available").count() >= 1
            assert await page.locator("#evolution-quota polyline").count() == 2
            await checker.check("quota-journal")

            # An adjustment without a reason is refused by the portal (the browser's own
            # check bypassed), journaled, orders never asked.
            await page.fill("#q-km2", "-50")
            await page.check("#q-kind-adjust", force=True)
            await page.evaluate("document.getElementById('q-reason').removeAttribute('required')")
            await page.click("#form-quota button[type=submit]")
            await page.wait_for_load_state("load")
            assert "motif" in await page.inner_text("main")

            # The CSV exports: the ledger (download) and the table.
            await page.goto(f"{stack.portal}/ops/quotas/{org}/pleiades/2026-Q4")
            async with page.expect_download() as download_info:
                await page.click("#export-journal-csv")
            download = await download_info.value
            text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
            rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
            assert rows[0][:6] == ["N°", "Date (UTC)", "Mouvement", "Surface (km²)", "Demande", "Motif"]
            assert rows[1][2:6] == ["allocation", "750", "", "Dotation du 4e trimestre 2026"]
            table = await page.request.get(f"{stack.portal}/ops/quotas/export.csv?organisation={org}")
            assert table.headers["content-type"] == "text/csv; charset=utf-8"
            lines = list(csv.reader(io.StringIO((await table.text()).lstrip("\ufeff")), delimiter=";"))
            assert lines[0][0] == "Organisation" and lines[1][:5] == [
                org,
                "Bureau d'études Géomatique Rhône",
                "active",
                "pleiades",
                "2026-Q4",
            ]
            await page.goto(f"{stack.portal}/ops/quotas?organisation={org}")
            await page.wait_for_selector(f"#quotas tr[data-quota='{org}/pleiades/2026-Q4']")
            await checker.check("quotas")

            # The journal: the approval, the allocation, the refused adjustment, the exports.
            await page.goto(f"{stack.portal}/ops/journal?cible=organisation:{org}")
            assert await page.locator(".ops-journal-entry[data-action='membership.approve']").count() == 1
            await page.goto(f"{stack.portal}/ops/journal?cible=quota:{org}/pleiades/2026-Q4")
            actions = await page.locator(".ops-journal-entry").evaluate_all(
                "rows => rows.map(r => r.dataset.action)"
            )
            assert sorted(actions) == ["quota.adjust", "quota.allocate", "quota.export"], actions
            await checker.check("journal")

            # Staff accounts: read-only for an operator.
            await page.goto(f"{stack.portal}/ops/adhesions/personnel")
            assert await page.locator("#lecture-seule").count() == 1
            assert await page.locator("#form-personnel").count() == 0
            await checker.check("personnel-lecture-seule")
            await context.close()

            # An admin adds a staff account.
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            checker.page = page
            page.on("console", lambda m: checker.errors.append(m.text) if m.type == "error" else None)
            await browser_login(page, stack.portal, admin_email, retour="/ops/adhesions/personnel")
            checker.errors.clear()
            recruit_sub, recruit_email = new_user("recrue")
            await page.fill("#staff-sub", recruit_sub)
            await page.fill("#staff-email", recruit_email)
            await page.fill("#staff-name", "Nouvelle Opératrice")
            await checker.check("personnel-admin")
            await page.click("#form-personnel button[type=submit]")
            await page.wait_for_url(f"{stack.portal}/ops/adhesions/personnel?fait=staff-saved")
            assert await page.locator(f"#personnel tr[data-staff='{recruit_sub}']").count() == 1
            await checker.check("personnel-ajoute")
        finally:
            await browser.close()
    recruit = Caller(keyfile, recruit_sub, "nowhere", [], api=api)
    me = recruit.call("GET", "/me").json()["principal"]
    assert me["standing"] == "staff" and me["roles"] == ["operator"]
    assert httpx.get(f"{stack.portal}/ops", follow_redirects=False).status_code == 303


def test_a_member_gets_403_on_the_memberships_and_quotas_pages(stack):
    """A real member, logged in through Keycloak: orders says they are not staff, so every
    page and form of these sections answers 403 (and orders is never asked to act)."""
    _, email, password = member()
    browser, home = log_in(stack.portal, email, password)
    token = csrf_of(home)
    for path in (
        "/ops/adhesions",
        "/ops/adhesions/personnel",
        "/ops/adhesions/dinamis",
        "/ops/quotas",
        "/ops/quotas/export.csv",
        "/ops/quotas/dinamis/pleiades/2026-Q4",
        "/ops/quotas/dinamis/pleiades/2026-Q4/export.csv",
    ):
        assert browser.go("GET", stack.portal + path).status_code == 403, path
    for path, data in (
        (
            "/ops/quotas",
            {"organisation": "x", "family": "pleiades", "period": "2026", "km2": "9", "reason": "r"},
        ),
        (
            "/ops/adhesions/personnel",
            {"user_id": "kc", "email": "a@b.fr", "display_name": "A", "roles": "admin"},
        ),
        ("/ops/adhesions/dinamis/statut", {"status": "suspended", "reason": "r"}),
    ):
        r = post(browser, stack.portal + path, {"csrf_token": token, **data})
        assert r.status_code == 403 and r.json()["code"] == "staff-only", (path, r.text[:200])
