"""The ops console's frame with fakes of the portal's ports: who gets in (staff, as the
orders service answers now — every `/ops` route of the app is checked), the journal, the
announcement shown on every page, the maintenance mode that makes the members' portal
read-only and leaves the console open."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.routing import APIRoute

from dinamis_portal.entrypoints.auth import api_routes, depends_on
from dinamis_portal.ops.audit import Entry
from dinamis_portal.ops.guard import staff, staff_post
from dinamis_portal.ops.notices import Maintenance, SiteNotices
from dinamis_portal.ops.staff import Staff


def ops_routes(portal) -> list[tuple[str, str]]:
    """(method, path) of every `/ops` route, path parameters filled in."""
    found = []
    for route in api_routes(portal.app.routes):
        if route.path == "/ops" or route.path.startswith("/ops/"):
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            found.extend((m, path) for m in sorted(route.methods - {"HEAD"}))
    return found


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_every_ops_route_depends_on_the_staff_check(portal):
    routes = [r for r in api_routes(portal.app.routes) if r.path == "/ops" or r.path.startswith("/ops/")]
    assert len(routes) >= 5
    for route in routes:
        assert isinstance(route, APIRoute)
        guard = staff_post if "POST" in route.methods else staff
        assert depends_on(route.dependant, guard), route.path


async def test_nobody_logged_in_is_sent_to_the_login(portal):
    for method, path in ops_routes(portal):
        response = await portal.client.request(method, path)
        if method == "GET":
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/connexion?retour=%2Fops"), path
        else:
            assert response.status_code == 403, path  # no session, no CSRF token


@pytest.mark.parametrize("standing", ["member", "not-a-member", "user-inactive", "suspended"])
async def test_a_non_staff_user_gets_403_on_every_ops_route(portal, standing):
    portal.orders.standing = standing
    await portal.login()
    token = csrf((await portal.client.get("/")).text)
    for method, path in ops_routes(portal):
        data = {"csrf_token": token, "action": "start", "text_fr": "x", "reason": "x"}
        response = await portal.client.request(method, path, data=data if method == "POST" else None)
        assert response.status_code == 403, (method, path, response.text[:200])
        assert response.json()["code"] == "staff-only"
    assert portal.audit.recorded == []
    assert portal.notices.notices == SiteNotices()


async def test_unknown_actions_are_refused_not_guessed(portal):
    portal.orders.standing = "staff"
    await portal.login()
    token = csrf((await portal.client.get("/ops/annonces")).text)
    await portal.client.post("/ops/maintenance", data={"csrf_token": token, "action": "start"})
    for path, action in (("/ops/maintenance", ""), ("/ops/maintenance", "STOP"), ("/ops/annonces", "delete")):
        response = await portal.client.post(
            path, data={"csrf_token": token, "action": action, "text_fr": "x"}
        )
        assert response.status_code == 400 and response.json()["code"] == "bad-action", (path, action)
    assert portal.notices.notices.maintenance.on  # still on: nothing was guessed
    assert [e.action for e in portal.audit.recorded] == ["maintenance.start"]


async def test_the_journal_pages_lose_no_entry_even_at_the_same_instant(portal):
    portal.orders.standing = "staff"
    await portal.login()
    staff = Staff("op", "op@dinamis.fr", "Op", frozenset({"operator"}), "t", None)  # type: ignore[arg-type]
    at = datetime(2026, 11, 28, 12, tzinfo=UTC)
    for n in range(120):  # 120 entries, in groups of 7 at the very same instant
        portal.audit.recorded.append(
            Entry(f"{n:04d}", at + timedelta(seconds=n // 7), staff.actor(), "x.y", f"t:{n}", "", "done", {})
        )
    seen: list[str] = []
    url = "/ops/journal"
    while url:
        page = (await portal.client.get(url)).text
        seen += re.findall(r'cible=t%3A(\d+)"', page)
        more = re.search(r'id="plus-anciennes"[^>]* href="([^"]+)"', page)
        url = html.unescape(more.group(1)) if more else ""
        assert len(seen) <= 120
    assert sorted(int(n) for n in seen) == list(range(120))


def test_the_staff_record_never_shows_its_token():
    staff = Staff("op", "op@dinamis.fr", "Op", frozenset({"operator"}), "SECRET-TOKEN", None)  # type: ignore[arg-type]
    assert "SECRET-TOKEN" not in repr(staff)


async def test_staff_roles_come_from_orders_now_not_from_the_session(portal):
    portal.orders.standing = "staff"
    await portal.login()
    assert (await portal.client.get("/ops")).status_code == 200
    portal.orders.standing = "member"  # orders' records changed: the next request is refused
    assert (await portal.client.get("/ops")).status_code == 403


async def test_staff_without_an_operator_role_is_refused(portal):
    portal.orders.standing = "staff"
    portal.orders.roles = {"member"}
    await portal.login()
    assert (await portal.client.get("/ops")).status_code == 403


async def test_an_announcement_is_shown_on_every_page_and_journaled(portal):
    portal.orders.standing = "staff"
    await portal.login()
    page = (await portal.client.get("/ops/annonces")).text
    response = await portal.client.post(
        "/ops/annonces",
        data={
            "csrf_token": csrf(page),
            "action": "publish",
            "text_fr": "Coupure <b>jeudi</b>",
            "severity": "warning",
        },
    )
    assert response.status_code == 303 and response.headers["location"] == "/ops/annonces?fait=announcement"
    home = (await portal.client.get("/")).text
    assert 'id="annonce"' in home and "Coupure &lt;b&gt;jeudi&lt;/b&gt;" in home
    assert "fr-notice--warning" in home
    [entry] = portal.audit.recorded
    assert (entry.action, entry.target, entry.actor["user_id"]) == (
        "announcement.set",
        "site:announcement",
        "sub-1",
    )
    journal = (await portal.client.get("/ops/journal")).text
    assert "announcement.set" in journal
    await portal.client.post("/ops/annonces", data={"csrf_token": csrf(page), "action": "withdraw"})
    assert 'id="annonce"' not in (await portal.client.get("/")).text
    assert [e.action for e in portal.audit.recorded] == ["announcement.set", "announcement.withdraw"]


async def test_bad_announcements_are_refused_in_french(portal):
    portal.orders.standing = "staff"
    await portal.login()
    token = csrf((await portal.client.get("/ops/annonces")).text)
    for data, code in (
        ({"text_fr": ""}, "text-required"),
        ({"text_fr": "x", "severity": "boom"}, "bad-severity"),
        ({"text_fr": "x", "severity": "info", "until": "demain"}, "bad-date"),
    ):
        response = await portal.client.post(
            "/ops/annonces", data={"csrf_token": token, "action": "publish", **data}
        )
        assert response.status_code == 400 and response.json()["code"] == code
    assert portal.audit.recorded == []


async def test_maintenance_makes_the_members_portal_read_only_and_leaves_the_console_open(portal):
    portal.orders.standing = "staff"
    await portal.login()
    token = csrf((await portal.client.get("/ops/annonces")).text)
    response = await portal.client.post(
        "/ops/maintenance",
        data={"csrf_token": token, "action": "start", "message_fr": "Migration de la base"},
    )
    assert response.status_code == 303
    assert portal.notices.notices.maintenance.on
    # a members' form post: refused with the operators' message, in French
    refused = await portal.client.post("/adhesion", data={"csrf_token": token})
    assert refused.status_code == 503 and refused.json()["code"] == "maintenance"
    assert "Migration de la base" in refused.json()["detail"]
    assert refused.headers["retry-after"] == "300"
    html = await portal.client.post(
        "/commander/panier", data={"csrf_token": token}, headers={"accept": "text/html"}
    )
    assert html.status_code == 503 and "Migration de la base" in html.text
    # reads go on, and show the notice
    page = await portal.client.get("/")
    assert page.status_code == 200 and 'id="maintenance"' in page.text
    # the console stays open: the maintenance is ended from it
    ended = await portal.client.post("/ops/maintenance", data={"csrf_token": token, "action": "stop"})
    assert ended.status_code == 303 and portal.notices.notices.maintenance == Maintenance()
    assert [e.action for e in portal.audit.recorded] == ["maintenance.start", "maintenance.end"]
    after = await portal.client.post("/adhesion", data={"csrf_token": token})
    assert after.json()["code"] != "maintenance"


async def test_the_journal_filters_by_exact_values_only(portal):
    portal.orders.standing = "staff"
    await portal.login()
    for path in ("/ops/journal?action=a.b", "/ops/journal?operateur=%24ne", "/ops/journal?cible=.%2A"):
        assert (await portal.client.get(path)).status_code == 200
    assert portal.audit.recorded == []
    assert (await portal.client.get("/ops/journal?avant=hier")).status_code == 400
