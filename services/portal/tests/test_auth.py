"""Login (authorization code + PKCE, state and nonce checked), server-side sessions
(only a random id in the cookie, a new id at login), CSRF on every form, logout."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from dinamis_portal.entrypoints.auth import api_routes, depends_on, safe_return_path, verified_csrf
from dinamis_portal.sessions import hash_id, opened, sealed

from .conftest import PORTAL, Portal, settings


async def test_login_starts_with_a_fresh_state_nonce_and_verifier_kept_server_side(portal):
    response = await portal.client.get("/connexion", params={"retour": "/rechercher?bbox=1,2,3,4"})
    assert response.status_code == 303
    start = portal.identity.started[-1]
    assert response.headers["location"] == f"http://idp.test/auth?state={start.state}&ui_locales=fr"
    assert len(start.verifier) >= 43 and start.state != start.nonce
    cookie = response.headers["set-cookie"]
    session_id = re.match(r"dinamis_portal_session=([^;]+);", cookie).group(1)
    # The browser holds a random id; the record is stored under its hash, with the login.
    assert session_id not in portal.store.records and hash_id(session_id) in portal.store.records
    record = portal.store.records[hash_id(session_id)]
    assert record["data"]["login"]["verifier"] == start.verifier
    assert record["data"]["login"]["return_to"] == "/rechercher?bbox=1,2,3,4"


async def test_session_cookie_flags():
    for environment, secure in (("development", False), ("test", True)):
        p = Portal(settings(environment=environment))
        cookie = (await p.client.get("/connexion")).headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert ("Secure" in cookie) is secure, (environment, cookie)
        await p.client.aclose()


async def test_a_completed_login_changes_the_session_id_and_keeps_tokens_server_side(portal):
    await portal.client.get("/connexion", params={"retour": "/rechercher"})
    before = portal.client.cookies["dinamis_portal_session"]
    done = await portal.client.get(
        "/auth/callback", params={"code": "the-code", "state": portal.identity.started[-1].state}
    )
    assert done.status_code == 303 and done.headers["location"] == "/rechercher"
    after = portal.client.cookies["dinamis_portal_session"]
    assert after != before and hash_id(before) not in portal.store.records
    assert portal.identity.exchanged == [("the-code", portal.identity.started[-1].verifier)]
    record = portal.store.records[hash_id(after)]
    assert "ACCESS-TOKEN-SECRET" not in str(record)  # sealed in the store
    assert opened(after, record["data"])["tokens"]["access_token"] == "ACCESS-TOKEN-SECRET"
    assert "login" not in record["data"]
    page = await portal.client.get("/")
    # Who the user is comes from the orders service, called with the user's token.
    assert "Marie Curie" in page.text and "Laboratoire Un" in page.text and "adhérent·e actif·ve" in page.text
    assert portal.orders.calls == ["ACCESS-TOKEN-SECRET"]
    for secret in ("ACCESS-TOKEN-SECRET", "REFRESH-TOKEN-SECRET", "ID-TOKEN-SECRET"):
        assert secret not in page.text and secret not in str(page.headers)


async def test_a_wrong_or_missing_state_is_refused(portal):
    await portal.client.get("/connexion")
    for params in ({"code": "c", "state": "forged"}, {"code": "c"}):
        response = await portal.client.get(
            "/auth/callback", params=params, headers={"Accept": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "oidc-state-mismatch"
        assert response.json()["detail"].startswith("la réponse du service d'identification")
    assert portal.identity.exchanged == []


async def test_a_callback_without_a_login_in_progress_is_refused(portal):
    response = await portal.client.get(
        "/auth/callback", params={"code": "c", "state": "s"}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 400 and "<code>oidc-no-login-in-progress</code>" in response.text


async def test_a_nonce_from_another_login_is_refused(portal):
    await portal.client.get("/connexion")
    portal.identity.nonce_in_token = "another-login"
    response = await portal.client.get(
        "/auth/callback", params={"code": "c", "state": portal.identity.started[-1].state}
    )
    assert response.status_code == 400 and response.json()["code"] == "oidc-nonce-mismatch"
    assert "Se déconnecter" not in (await portal.client.get("/")).text


async def test_a_cancelled_login_says_so(portal):
    await portal.client.get("/connexion")
    response = await portal.client.get(
        "/auth/callback", params={"error": "access_denied", "state": portal.identity.started[-1].state}
    )
    assert response.status_code == 400 and response.json()["code"] == "login-cancelled"


def test_return_paths_stay_on_the_site():
    assert safe_return_path("/rechercher?bbox=1,2,3,4") == "/rechercher?bbox=1,2,3,4"
    for bad in (None, "", "https://evil.example/", "//evil.example/", "/\\evil.example", "evil", "/a\nb"):
        assert safe_return_path(bad) == "/", bad


def test_every_post_route_checks_the_csrf_token(portal):
    posts = [r for r in api_routes(portal.app.routes) if "POST" in r.methods]
    assert posts, "the logout form posts"
    for route in posts:
        assert depends_on(route.dependant, verified_csrf), route.path


async def test_logout_needs_the_sessions_csrf_token_then_ends_both_sessions(portal):
    await portal.login()
    session_id = portal.client.cookies["dinamis_portal_session"]
    page = (await portal.client.get("/")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    for data in ({}, {"csrf_token": "forged"}):
        refused = await portal.client.post("/deconnexion", data=data, headers={"Accept": "application/json"})
        assert refused.status_code == 403 and refused.json()["code"] == "csrf-refused"
        assert refused.json()["detail"].startswith("jeton anti-falsification")
    assert hash_id(session_id) in portal.store.records
    done = await portal.client.post("/deconnexion", data={"csrf_token": token})
    assert done.status_code == 303
    assert done.headers["location"] == "http://idp.test/logout?id_token_hint=ID-TOKEN-SECRET"
    assert hash_id(session_id) not in portal.store.records
    assert 'dinamis_portal_session=""' in done.headers["set-cookie"]
    # The old cookie is worth nothing now.
    portal.client.cookies.set("dinamis_portal_session", session_id, domain="portal.test")
    assert "Se connecter" in (await portal.client.get("/")).text


async def test_a_post_from_another_session_is_refused(portal):
    await portal.login()
    page = (await portal.client.get("/")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    # Another browser, logged in too, posting the first one's token: refused.
    first = portal.client
    portal.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=portal.app), base_url=PORTAL)
    await portal.login()
    refused = await portal.client.post(
        "/deconnexion", data={"csrf_token": token}, headers={"Accept": "application/json"}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "csrf-refused"
    await portal.client.aclose()
    portal.client = first


async def test_an_expired_access_token_is_refreshed(portal):
    await portal.login()
    cookie = portal.client.cookies["dinamis_portal_session"]
    key = hash_id(cookie)
    data = opened(cookie, portal.store.records[key]["data"])
    data["tokens"]["expires_at"] = 0
    portal.store.records[key]["data"] = sealed(cookie, data)
    await portal.client.get("/")
    assert portal.identity.refreshes == 1 and portal.orders.calls == ["ACCESS-TOKEN-2"]
    tokens = opened(cookie, portal.store.records[key]["data"])["tokens"]
    assert tokens["refresh_token"] == "REFRESH-TOKEN-SECRET"


def test_tokens_are_sealed_in_the_store_and_open_only_with_the_cookies_id():
    data = {"tokens": {"access_token": "ACCESS-TOKEN-SECRET", "refresh_token": "R"}, "user": {"sub": "s"}}
    stored = sealed("the-cookie-id", data)
    assert "tokens" not in stored and "ACCESS-TOKEN-SECRET" not in str(stored)
    assert stored["user"] == {"sub": "s"}
    assert opened("the-cookie-id", stored) == data
    assert "tokens" not in opened("another-id", stored)  # a copy of the store opens nothing


async def test_a_session_ended_meanwhile_is_not_brought_back_by_a_late_save():
    from datetime import UTC, datetime

    from dinamis_portal.sessions import Session, Sessions

    from .conftest import MemoryStore

    store = MemoryStore()
    sessions = Sessions(store, settings())
    started = Session(id="the-id", csrf="c", created_at=datetime.now(UTC), new=True)
    await sessions.save(started)
    # A request read the session, a logout ends it, then that request saves its copy.
    late = Session(
        id="the-id", csrf="c", created_at=started.created_at, data={"tokens": {"access_token": "A"}}
    )
    await sessions.destroy(started)
    await sessions.save(late)
    assert hash_id("the-id") not in store.records


async def test_a_session_nobody_logged_in_to_expires_sooner(portal):
    """Any visitor can make a session (a login started): it lives `anonymous_idle_s`, not
    the logged-in idle time, so the records a crawler leaves are purged quickly."""
    started = await portal.client.get("/connexion", params={"retour": "/"})
    assert started.status_code == 303
    (record,) = portal.store.records.values()
    left = (record["expires_at"] - datetime.now(UTC)).total_seconds()
    assert 0 < left <= portal.settings.anonymous_idle_s < portal.settings.session_idle_s
    await portal.login()
    logged = [r for r in portal.store.records.values() if r is not record]
    assert (logged[-1]["expires_at"] - datetime.now(UTC)).total_seconds() > portal.settings.anonymous_idle_s
