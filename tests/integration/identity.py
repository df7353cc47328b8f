"""Keycloak, driven as its users and administrators would: users created through the
admin API, tokens from the development client, and the device authorization grant
(RFC 8628) approved by filling in Keycloak's own login and consent pages."""

from __future__ import annotations

import html
import os
import re
import sys
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import keycloak as realm_admin  # deploy/local/keycloak.py

PASSWORD = "mot-de-passe-de-test-2026"


def keycloak_url() -> str:
    return os.environ.get("DINAMIS_KEYCLOAK_URL", "http://127.0.0.1:8180")


def oidc(path: str = "") -> str:
    return f"{keycloak_url()}/realms/dinamis/protocol/openid-connect{path}"


def new_user(prefix: str = "user") -> tuple[str, str]:
    """A verified Keycloak user: (its `sub`, its e-mail)."""
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.fr"
    return realm_admin.ensure_user(email, PASSWORD), email


def password_token(email: str) -> str:
    return realm_admin.password_token(email, PASSWORD)


class Browser:
    """Just enough of a browser for Keycloak's pages: follows redirects and keeps
    cookies. Browsers treat http://127.0.0.1 as a secure context and send `Secure`
    cookies there; httpx's cookie jar does not, so cookies are kept here."""

    def __init__(self) -> None:
        self.client = httpx.Client(timeout=30)
        self.cookies: dict[str, str] = {}

    def go(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        for _ in range(10):
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            response = self.client.request(method, url, headers={"Cookie": cookie}, **kwargs)  # type: ignore[arg-type]
            for header in response.headers.get_list("set-cookie"):
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            url, method, kwargs = str(httpx.URL(url).join(response.headers["location"])), "GET", {}
        raise AssertionError(f"too many redirects from {url}")

    def submit(self, page: httpx.Response, data: dict[str, str]) -> httpx.Response:
        action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
        assert action, f"no form on {page.url}: {text_of(page)[:300]}"
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        url = str(httpx.URL(str(page.url)).join(html.unescape(action.group(1))))
        return self.go("POST", url, data={**fields, **data})


def text_of(page: httpx.Response) -> str:
    body = re.sub(r"<(script|style).*?</\1>", "", page.text, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))).strip()


def approve_device(verification_uri_complete: str, email: str, password: str = PASSWORD) -> str:
    """Open the verification address, log in, grant access; return the last page's text."""
    browser = Browser()
    login = browser.go("GET", verification_uri_complete)
    assert 'id="kc-form-login"' in login.text, text_of(login)[:300]
    consent = browser.submit(login, {"username": email, "password": password, "credentialId": ""})
    if 'name="accept"' in consent.text:
        consent = browser.submit(consent, {"accept": "Oui"})
    return text_of(consent)
