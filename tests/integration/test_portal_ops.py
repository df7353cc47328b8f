"""The ops console's frame on the real stack (orders, notify, the portal, Keycloak,
FerretDB): who is staff is what the orders service's records say at the moment of the
request — every `/ops` route of the app (enumerated from the app itself, so a new route
is covered the day it is added) refuses a logged-in member with 403 and sends nobody to
the login; an operator logged in through Keycloak publishes an announcement every visitor
sees and holds the maintenance mode, which refuses the members' forms and leaves the
console open; the journal lists what they did; deactivated in the records, they are
refused on their very next request, though their session is still open."""

from __future__ import annotations

import re

import httpx
import pytest

from dinamis_portal.app import create_app
from dinamis_portal.entrypoints.auth import api_routes
from dinamis_portal.settings import PortalSettings
from tests.browser.ops_support import operator
from tests.browser.portal_stack import csrf_of, log_in, member
from tests.integration.orders_api import seed_member
from tests.integration.organisation_stack import organisation_stack, page_text, post

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with organisation_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


def ops_routes() -> list[tuple[str, str]]:
    """(method, path) of every `/ops` route of the portal, path parameters filled in."""
    app = create_app(PortalSettings(environment="development"))
    found = []
    for route in api_routes(app.routes):
        if route.path == "/ops" or route.path.startswith("/ops/"):
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            found.extend((method, path) for method in sorted(route.methods - {"HEAD"}))
    assert len(found) >= 5, found
    return found


def request(browser, method: str, url: str, data: dict | None = None) -> httpx.Response:
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    return browser.client.request(method, url, data=data, headers={"Cookie": cookie}, follow_redirects=False)


def test_every_ops_route_refuses_a_member_and_sends_nobody_to_the_login(stack):
    routes = ops_routes()
    _, email, _ = member()
    browser, _ = log_in(stack.portal, email)
    token = csrf_of(browser.go("GET", f"{stack.portal}/"))
    for method, path in routes:
        data = (
            {"csrf_token": token, "action": "start", "reason": "x", "text_fr": "x"}
            if method == "POST"
            else None
        )
        answer = request(browser, method, f"{stack.portal}{path}", data)
        assert answer.status_code == 403, (method, path, answer.text[:300])
        assert answer.json()["code"] == "staff-only", (method, path)
        anonymous = httpx.request(method, f"{stack.portal}{path}", follow_redirects=False)
        if method == "GET":
            assert anonymous.status_code == 303, path
            assert anonymous.headers["location"].startswith("/connexion?retour=%2Fops"), path
        else:
            assert anonymous.status_code == 403, path  # no session: the CSRF check refuses


def test_an_operator_announces_holds_the_maintenance_and_is_refused_once_deactivated(stack):
    sub, email, _ = operator()
    browser, landed = log_in(stack.portal, email, retour="/ops")
    assert landed.status_code == 200 and "Console des opérateurs" in landed.text
    assert 'href="/ops"' in landed.text  # the console in the navigation, for staff
    notices = browser.go("GET", f"{stack.portal}/ops/annonces")
    token = csrf_of(notices)

    try:
        sent = post(
            browser,
            f"{stack.portal}/ops/annonces",
            {
                "csrf_token": token,
                "action": "publish",
                "text_fr": "Coupure prévue jeudi",
                "severity": "warning",
            },
        )
        assert sent.status_code == 303, sent.text[:300]
        _, member_email, _ = member()
        visitor, home = log_in(stack.portal, member_email)
        assert 'id="annonce"' in home.text and "Coupure prévue jeudi" in home.text
        assert 'href="/ops"' not in home.text

        sent = post(
            browser,
            f"{stack.portal}/ops/maintenance",
            {"csrf_token": token, "action": "start", "message_fr": "Migration de la base du catalogue"},
        )
        assert sent.status_code == 303
        refused = post(visitor, f"{stack.portal}/adhesion", {"csrf_token": csrf_of(home)})
        assert refused.status_code == 503 and refused.json()["code"] == "maintenance"
        assert "Migration de la base du catalogue" in refused.json()["detail"]
        still = browser.go("GET", f"{stack.portal}/mon-organisation")
        assert 'id="maintenance"' in still.text  # reads go on, with the notice
        assert (
            post(
                browser, f"{stack.portal}/ops/maintenance", {"csrf_token": token, "action": "stop"}
            ).status_code
            == 303
        )
        assert post(visitor, f"{stack.portal}/adhesion", {"csrf_token": csrf_of(home)}).status_code != 503

        journal = page_text(browser.go("GET", f"{stack.portal}/ops/journal?operateur={email}"))
        for action in ("announcement.set", "maintenance.start", "maintenance.end"):
            assert action in journal, journal[:2000]
        assert "Migration de la base du catalogue" in journal

        withdrawn = post(browser, f"{stack.portal}/ops/annonces", {"csrf_token": token, "action": "withdraw"})
        assert withdrawn.status_code == 303
        assert 'id="annonce"' not in visitor.go("GET", f"{stack.portal}/").text
    finally:  # the site's notices are shared by every test of this stack: leave none behind
        post(browser, f"{stack.portal}/ops/maintenance", {"csrf_token": token, "action": "stop"})
        post(browser, f"{stack.portal}/ops/annonces", {"csrf_token": token, "action": "withdraw"})

    # Deactivated in orders' records: the session is still open, the console is not.
    seed_member("dinamis", sub, ["operator"], active=False, organisation=False)
    assert request(browser, "GET", f"{stack.portal}/ops").status_code == 403
    sent = post(browser, f"{stack.portal}/ops/annonces", {"csrf_token": token, "action": "withdraw"})
    assert sent.status_code == 403
