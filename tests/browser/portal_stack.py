"""The portal on the real stack, for the portal's integration and browser tests: orders,
catalog, ingest, delivery (builds products), notify (the live stream) and the portal
started from this checkout on free ports (against the test stack's Kafka, FerretDB,
PostgreSQL, S3 and Keycloak), the realm's `dinamis-portal` client in place, a scene over
Lyon ingested for real, Keycloak users who are members of an organisation in the orders
service's records; and what every portal test does: log in on Keycloak's own form, read a
form's CSRF token, check a page in the browser (axe-core, screenshot, CSP errors)."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from dinamis_testkit.testing import running_services
from tests.integration.identity import PASSWORD, Browser, new_user, realm_admin, text_of
from tests.integration.orders_api import seed_member, uid
from tests.integration.scenes import ingest_scene
from tests.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / ".artifacts" / "screenshots" / "portal"
AXE = ROOT / "services" / "portal" / "frontend" / "node_modules" / "axe-core"
AXE_TAGS = ["RGAAv4", "wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# West, south, east, north: Lyon and its surroundings.
LYON = (4.75, 45.70, 4.95, 45.82)
LYON_TEXT = "4.75,45.70,4.95,45.82"
# Far from Lyon (Brest).
BREST_TEXT = "-4.60,48.35,-4.40,48.45"


@dataclass(frozen=True)
class PortalStack:
    portal: str
    catalog: str
    orders: str
    delivery: str
    notify: str
    ingest: str


@contextlib.contextmanager
def portal_stack(logs: Path, keyfile: Path, *, portal_knows_ingest: bool = False) -> Iterator[PortalStack]:
    """`portal_knows_ingest`: the portal is given ingest's address too (the ops console's
    pipeline section asks every service's /readyz)."""
    catalog, orders, ingest, delivery, notify, portal = free_ports(6)
    urls = PortalStack(
        portal=f"http://127.0.0.1:{portal}",
        catalog=f"http://127.0.0.1:{catalog}",
        orders=f"http://127.0.0.1:{orders}",
        delivery=f"http://127.0.0.1:{delivery}",
        notify=f"http://127.0.0.1:{notify}",
        ingest=f"http://127.0.0.1:{ingest}",
    )
    ensure_portal_client()
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": urls.orders,
        "DINAMIS_CATALOG_PUBLIC_URL": urls.catalog,
        "DINAMIS_ORDERS_CATALOG_URL": urls.catalog,
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_ORDERS_DELIVERY_URL": urls.delivery,
        "DINAMIS_DELIVERY_WORK_DIR": str(logs / "delivery-work"),
        "DINAMIS_NOTIFY_SSE_HEARTBEAT_S": "1",
        "DINAMIS_PORTAL_CATALOG_URL": urls.catalog,
        "DINAMIS_PORTAL_PUBLIC_URL": urls.portal,
        "DINAMIS_PORTAL_DELIVERY_URL": urls.delivery,
        "DINAMIS_PORTAL_NOTIFY_URL": urls.notify,
        "DINAMIS_PORTAL_STREAM_CHECK_S": "2",
        # expired sessions deleted every second (300 s by default)
        "DINAMIS_PORTAL_SESSION_PURGE_S": "1",
    }
    if portal_knows_ingest:
        env["DINAMIS_PORTAL_INGEST_URL"] = urls.ingest
    services = (
        ("orders", orders),
        ("catalog", catalog),
        ("ingest", ingest),
        ("delivery", delivery),
        ("notify", notify),
        ("portal", portal),
    )
    with running_services(services, logs, env):
        yield urls


def log_in(
    portal: str, email: str, password: str = PASSWORD, retour: str = "/"
) -> tuple[Browser, httpx.Response]:
    """Keycloak's own login form, filled in as a person would (Browser follows redirects):
    the browser, logged in, and the page it lands on in the portal."""
    browser = Browser()
    login = browser.go("GET", f"{portal}/connexion?retour={retour}")
    assert 'id="kc-form-login"' in login.text, text_of(login)[:300]
    assert urlsplit(str(login.url)).path.endswith("/protocol/openid-connect/auth")
    page = browser.submit(login, {"username": email, "password": password, "credentialId": ""})
    assert urlsplit(str(page.url)).netloc == urlsplit(portal).netloc, text_of(page)[:300]
    return browser, page


def csrf_of(page: httpx.Response | str) -> str:
    """The CSRF token of the page's forms."""
    text = page if isinstance(page, str) else page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, text[:300]
    return found.group(1)


class PageChecker:
    """In the browser, for each page: axe-core (RGAA and WCAG 2.1 A/AA tags, French
    messages; no serious or critical violation), a screenshot (`<prefix>-NN-<name>.png`)
    and its axe report; console errors (CSP violations among them) and uncaught exceptions
    collected for the whole test."""

    def __init__(self, page: Any, out: Path, prefix: str) -> None:
        self.page = page
        self.out = out
        self.prefix = prefix
        self.errors: list[str] = []
        self.pages: list[str] = []
        self.axe = (AXE / "axe.min.js").read_text(encoding="utf-8")
        self.axe_fr = (AXE / "locales" / "fr.json").read_text(encoding="utf-8")
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    async def shot(self, name: str) -> Path:
        """A screenshot only (a page that is not the portal's: Keycloak's)."""
        self.pages.append(name)
        path = self.out / f"{self.prefix}-{len(self.pages):02d}-{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def check(self, name: str, *, idle: bool = True) -> list[dict]:
        """`idle=False` for a page holding a live stream open (never network-idle)."""
        await self.page.wait_for_load_state("networkidle" if idle else "load")
        # Injected through the DevTools protocol: the page's own CSP refuses inline scripts.
        await self.page.evaluate(self.axe + "\n;0")
        report = await self.page.evaluate(
            """async ([locale, tags]) => {
                axe.configure({ locale: JSON.parse(locale) });
                const r = await axe.run(document, { runOnly: { type: 'tag', values: tags } });
                return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' ')) }));
            }""",
            [self.axe_fr, AXE_TAGS],
        )
        self.pages.append(name)
        stem = f"{self.prefix}-{len(self.pages):02d}-{name}"
        (self.out / f"axe-{stem}.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
        await self.page.screenshot(path=str(self.out / f"{stem}.png"), full_page=True)
        serious = [v for v in report if v["impact"] in ("serious", "critical")]
        assert serious == [], f"{name}: {json.dumps(serious, ensure_ascii=False)}"
        blocked = [e for e in self.errors if "Content Security Policy" in e or e.startswith("uncaught")]
        assert blocked == [], f"{name}: {blocked}"
        return report


def ensure_portal_client() -> None:
    """The realm's `dinamis-portal` client, which `stack up` creates (deploy/local/keycloak.py):
    on a test stack started before the client existed, the realm tool (idempotent) adds it."""
    with realm_admin.admin_client() as admin:
        found = admin.get(f"/{realm_admin.REALM}/clients", params={"clientId": realm_admin.PORTAL_CLIENT})
        found.raise_for_status()
    if not found.json():
        realm_admin.ensure_realm()


async def lyon_scene(settings, stack: PortalStack, tmp: Path, day: int = 3) -> dict:
    """A real Pléiades Neo scene over Lyon, archived by ingest and indexed by the catalog."""
    return await ingest_scene(
        settings, stack.catalog, tmp, 4.85, 45.76, datetime(2026, 6, day, 10, 30, tzinfo=UTC)
    )


def member() -> tuple[str, str, str]:
    """A Keycloak user (verified, with a password) who is an active member of a new
    organisation in the orders service's records: (sub, e-mail, password)."""
    sub, email = new_user("portail")
    seed_member(uid("org"), sub)
    return sub, email, PASSWORD


def stranger() -> tuple[str, str, str]:
    """A Keycloak user the orders service does not know (no organisation)."""
    sub, email = new_user(f"inconnu-{uuid.uuid4().hex[:4]}")
    return sub, email, PASSWORD
