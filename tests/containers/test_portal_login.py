"""The portal of the compose stack in a real browser: the demo's operator logs in through
Keycloak's own form (the portal reads discovery inside the network, the browser and the
tokens use Keycloak's public address) and lands on the ops console. Run by
`make compose-test` after the demo (which creates that operator); skipped elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.portal_stack import CHROMIUM, FLAGS

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".artifacts" / "containers"
PORTAL = "http://127.0.0.1:8107"
OPERATOR = ("paul.operateur@dinamis.example.fr", "demo-dinamis-2026-lyon")  # deploy/local/demo.py

pytestmark = [
    pytest.mark.containers,
    pytest.mark.skipif(
        os.environ.get("DINAMIS_COMPOSE_SCALE_OUT") != "1",
        reason="needs the compose stack up with the demo run: make compose-test",
    ),
]


async def test_the_demo_operator_logs_in_to_the_portal_of_the_compose_stack() -> None:
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{PORTAL}/connexion?retour=/ops")
            # Keycloak's own login page, at its public address
            assert page.url.startswith("http://127.0.0.1:8180/realms/dinamis/"), page.url
            await page.fill("#username", OPERATOR[0])
            await page.fill("#password", OPERATOR[1])
            await page.click("#kc-login")
            await page.wait_for_url(f"{PORTAL}/ops*", timeout=30_000)
            await page.screenshot(path=str(SHOTS / "portal-ops-after-login.png"), full_page=True)
            body = await page.inner_text("body")
            assert "Paul" in body or OPERATOR[0] in body, body[:2000]
            assert "Demandes à examiner" in body, body[:2000]
        finally:
            await browser.close()
