"""The portal with everything ordering needs, on the real stack: orders, catalog, ingest,
delivery (builds the products), notify (the live stream) and the portal, started from
this checkout on free ports. Used by tests/integration/test_portal_ordering.py and
tests/browser/test_portal_ordering.py (tests/browser/portal_stack.py starts no delivery
and no notify)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from dinamis_testkit.testing import running_services
from tests.browser.portal_stack import ensure_portal_client
from tests.integration.identity import Browser, text_of
from tests.ports import free_ports


@dataclass(frozen=True)
class OrderingStack:
    portal: str
    catalog: str
    orders: str
    delivery: str
    notify: str


@contextlib.contextmanager
def ordering_stack(logs: Path, keyfile: Path) -> Iterator[OrderingStack]:
    catalog, orders, ingest, delivery, notify, portal = free_ports(6)
    urls = OrderingStack(
        portal=f"http://127.0.0.1:{portal}",
        catalog=f"http://127.0.0.1:{catalog}",
        orders=f"http://127.0.0.1:{orders}",
        delivery=f"http://127.0.0.1:{delivery}",
        notify=f"http://127.0.0.1:{notify}",
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
    }
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


def log_in(portal: str, email: str, password: str, retour: str = "/") -> Browser:
    """Keycloak's own login form, filled in as a person would."""
    browser = Browser()
    login = browser.go("GET", f"{portal}/connexion?retour={retour}")
    assert 'id="kc-form-login"' in login.text, text_of(login)[:300]
    page = browser.submit(login, {"username": email, "password": password, "credentialId": ""})
    assert urlsplit(str(page.url)).netloc == urlsplit(portal).netloc, text_of(page)[:300]
    return browser


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, text_of(page)[:300]
    return found.group(1)


def inner_aoi(scene: dict, shrink: float = 0.3) -> dict:
    """A rectangle well inside the scene's bbox."""
    w, s, e, n = scene["bbox"]
    dx, dy = (e - w) * shrink, (n - s) * shrink
    w, s, e, n = w + dx, s + dy, e - dx, n - dy
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


class OrderingChecker:
    """axe-core (RGAA and WCAG 2.1 A/AA tags, French messages) and a screenshot
    (`orders-<name>.png`) per page; console errors (CSP violations among them) and
    uncaught exceptions collected for the whole test."""

    TAGS = ("RGAAv4", "wcag2a", "wcag2aa", "wcag21a", "wcag21aa")

    def __init__(self, page, out: Path) -> None:
        from tests.browser.portal_stack import AXE

        self.page = page
        self.out = out
        self.errors: list[str] = []
        self.axe = (AXE / "axe.min.js").read_text(encoding="utf-8")
        self.axe_fr = (AXE / "locales" / "fr.json").read_text(encoding="utf-8")
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    async def check(self, name: str, *, idle: bool = True) -> list[dict]:
        import json

        if idle:
            await self.page.wait_for_load_state("load")
        await self.page.evaluate(self.axe + "\n;0")
        report = await self.page.evaluate(
            """async ([locale, tags]) => {
                axe.configure({ locale: JSON.parse(locale) });
                const r = await axe.run(document, { runOnly: { type: 'tag', values: tags } });
                return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' ')) }));
            }""",
            [self.axe_fr, list(self.TAGS)],
        )
        (self.out / f"axe-orders-{name}.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
        await self.page.screenshot(path=str(self.out / f"orders-{name}.png"), full_page=True)
        serious = [v for v in report if v["impact"] in ("serious", "critical")]
        assert serious == [], f"{name}: {json.dumps(serious, ensure_ascii=False)}"
        blocked = [e for e in self.errors if "Content Security Policy" in e or e.startswith("uncaught")]
        assert blocked == [], f"{name}: {blocked}"
        return report
