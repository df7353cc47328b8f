"""Support for the "Mon organisation" tests on the real stack (integration and browser):
orders, notify and the portal started from this checkout on free ports (against the test
stack's Kafka, FerretDB and Keycloak), a webhook receiver that records what it is sent,
the portal's login through Keycloak's own form, and the orders API as an operator."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any, TypeVar

import httpx

from dinamis_testkit.testing import running_services
from tests.browser.portal_stack import ensure_portal_client
from tests.integration.identity import Browser
from tests.integration.orders_api import uid
from tests.ports import free_ports

T = TypeVar("T")


@dataclass(frozen=True)
class OrganisationStack:
    portal: str
    orders: str
    notify: str


@contextlib.contextmanager
def organisation_stack(logs: Path, keyfile: Path) -> Iterator[OrganisationStack]:
    orders, notify, portal = free_ports(3)
    urls = OrganisationStack(
        portal=f"http://127.0.0.1:{portal}",
        orders=f"http://127.0.0.1:{orders}",
        notify=f"http://127.0.0.1:{notify}",
    )
    ensure_portal_client()
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": urls.orders,
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_ORDERS_CATALOG_URL": "http://127.0.0.1:9",
        "DINAMIS_PORTAL_PUBLIC_URL": urls.portal,
        "DINAMIS_PORTAL_NOTIFY_URL": urls.notify,
        # Its own directory: users and organisations only from the events of this run.
        "DINAMIS_NOTIFY_MONGO_DATABASE": f"notify_org_{uid('db')}".replace("-", "_"),
        "DINAMIS_NOTIFY_WEBHOOK_BACKOFF_BASE_S": "1",
    }
    services = (("orders", orders), ("notify", notify), ("portal", portal))
    with running_services(services, logs, env):
        yield urls


def post(browser: Browser, url: str, data: dict[str, Any]) -> httpx.Response:
    """A form post without following the redirect (the portal answers 303 on success)."""
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    return browser.client.post(url, data=data, headers={"Cookie": cookie})


def until(check: Callable[[], T | None], seconds: float = 30.0, every: float = 0.5) -> T:
    """`check()` once it gives something (Kafka carries the events between services)."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {seconds} s")
        time.sleep(every)


def page_text(page: httpx.Response) -> str:
    return unescape(page.text)


class WebhookReceiver:
    """An HTTP endpoint on the loopback interface that answers 204 and keeps every post."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        received = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_ports(1)[0]), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dinamis"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
