"""The members' portal against the real stack (tests/browser/portal_stack.py): its pages
render with the security headers; the OpenID Connect login round trip through the real
Keycloak's own login form, tokens kept server-side (in FerretDB, never in a page or a
cookie), the session id changed at login and deleted at logout; CSRF refusals; searches
that give exactly the catalogue's results; the scene page's signed links, which download."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape

import httpx
import pytest
from pymongo import MongoClient

from dinamis_portal.sessions import opened
from dinamis_shared.settings import ServiceSettings
from tests.browser.portal_stack import (
    BREST_TEXT,
    LYON_TEXT,
    log_in,
    lyon_scene,
    member,
    portal_stack,
    stranger,
)
from tests.integration.identity import Browser, oidc, text_of

COOKIE = "dinamis_portal_session"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with portal_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


@pytest.fixture(scope="module")
async def scene(settings, stack, tmp_path_factory):
    return await lyon_scene(settings, stack, tmp_path_factory.mktemp("scene"))


def session_record(session_id: str) -> dict | None:
    settings = ServiceSettings()
    with MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000) as client:
        return client[settings.mongo_database]["portal_sessions"].find_one(
            {"_id": hashlib.sha256(session_id.encode()).hexdigest()}
        )


def sessions_collection(client: MongoClient):
    return client[ServiceSettings().mongo_database]["portal_sessions"]


def test_expired_sessions_are_purged_without_waiting_for_a_login(stack):
    """Any visitor can start a login (a session record); FerretDB has no TTL index, so the
    portal deletes expired records itself, on a timer — not only when someone logs in."""
    anonymous = httpx.get(f"{stack.portal}/connexion", follow_redirects=False)
    assert anonymous.status_code == 303
    live = hashlib.sha256(anonymous.cookies[COOKIE].encode()).hexdigest()
    past = datetime.now(UTC) - timedelta(minutes=1)
    with MongoClient(ServiceSettings().mongo_url, serverSelectionTimeoutMS=5000) as client:
        sessions = sessions_collection(client)
        stale = [f"expired-{uuid.uuid4().hex}" for _ in range(3)]
        sessions.insert_many([{"_id": key, "expires_at": past, "data": {}} for key in stale])
        deadline = time.monotonic() + 10
        while sessions.count_documents({"_id": {"$in": stale}}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sessions.count_documents({"_id": {"$in": stale}}) == 0
        assert sessions.find_one({"_id": live}) is not None


def test_pages_render_with_a_strict_content_security_policy(stack, scene):
    paths = ["/", "/rechercher", f"/scenes/{scene['collection']}/{scene['id']}", "/accessibilite", "/cookies"]
    for path in paths:
        response = httpx.get(stack.portal + path, timeout=30)
        assert response.status_code == 200, (path, response.text[:300])
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "style-src 'self';" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert '<html lang="fr"' in response.text
    english = httpx.get(f"{stack.portal}/rechercher?lang=en", timeout=30)
    assert '<html lang="en"' in english.text and "Search imagery" in english.text


def test_the_session_cookie_holds_only_a_random_id(stack):
    first = httpx.get(f"{stack.portal}/connexion", timeout=30)
    second = httpx.get(f"{stack.portal}/connexion", timeout=30)
    assert first.status_code == 303
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # development (plain http on 127.0.0.1); Secure elsewhere (unit test)
    ids = [r.cookies[COOKIE] for r in (first, second)]
    assert ids[0] != ids[1] and all(len(i) >= 40 for i in ids)
    record = session_record(ids[0])
    assert record is not None and record["data"]["login"]["state"] in first.headers["location"]
    # PKCE: the challenge goes to Keycloak, the verifier stays on the server.
    location = first.headers["location"]
    assert "code_challenge_method=S256" in location and record["data"]["login"]["verifier"] not in location


def test_oidc_login_round_trip_against_keycloak(stack, scene):
    sub, email, password = member()
    browser, page = log_in(stack.portal, email, password, retour="/rechercher")
    assert page.status_code == 200 and str(page.url) == f"{stack.portal}/rechercher"
    # Who the user is comes from the orders service's records (seeded as "Membre", their organisation).
    assert re.search(r'id="utilisateur">Membre \(Labo org-[0-9a-f]+\)<', page.text), text_of(page)[:400]
    session_id = browser.cookies[COOKIE]
    record = session_record(session_id)
    assert record is not None and record["data"]["user"]["sub"] == sub
    # The tokens are sealed in the store: only the cookie's id opens them.
    assert "tokens" not in record["data"] and "access_token" not in str(record)
    tokens = opened(session_id, record["data"])["tokens"]
    assert tokens["access_token"].count(".") == 2 and tokens["id_token"] and tokens["refresh_token"]
    # Tokens are never sent to the browser.
    home = browser.go("GET", f"{stack.portal}/")
    scene_page = browser.go("GET", f"{stack.portal}/scenes/{scene['collection']}/{scene['id']}")
    for response in (page, home, scene_page):
        for token in tokens.values():
            if isinstance(token, str):
                assert token not in response.text
    assert all(token not in browser.cookies.values() for token in tokens.values() if isinstance(token, str))


def test_callback_state_is_checked(stack):
    browser = Browser()
    login = browser.go("GET", f"{stack.portal}/connexion")
    action = re.search(r'<form[^>]*action="([^"]+)"', login.text)
    assert action
    # A forged callback with this browser's session but another state: refused, no session.
    forged = browser.go("GET", f"{stack.portal}/auth/callback?code=forged&state=forged")
    assert forged.status_code == 400 and "oidc-state-mismatch" in forged.text
    assert session_record(browser.cookies[COOKIE])["data"].get("user") is None


def test_csrf_refusals_and_logout(stack):
    _, email, password = member()
    browser, page = log_in(stack.portal, email, password)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    session_id = browser.cookies[COOKIE]
    # No token, a wrong token, no session: 403, French first.
    for data, cookies in (({}, True), ({"csrf_token": "faux"}, True), ({"csrf_token": token}, False)):
        response = httpx.post(
            f"{stack.portal}/deconnexion",
            data=data,
            headers={"Cookie": f"{COOKIE}={session_id}"} if cookies else {},
            timeout=30,
        )
        assert response.status_code == 403, response.text
        problem = response.json()
        assert problem["code"] == "csrf-refused" and problem["detail"].startswith("jeton anti-falsification")
    assert session_record(session_id) is not None
    # The right token: the session goes, and Keycloak's session too (end-session endpoint).
    done = browser.go("POST", f"{stack.portal}/deconnexion", data={"csrf_token": token})
    assert str(done.url) == f"{stack.portal}/" and "Se connecter" in done.text
    assert session_record(session_id) is None
    again = Browser()
    again.cookies = {k: v for k, v in browser.cookies.items() if k != COOKIE}
    relogin = again.go("GET", f"{stack.portal}/connexion")
    assert 'id="kc-form-login"' in relogin.text  # Keycloak asks for the password again


def portal_ids(stack, query: dict) -> tuple[list[str], str]:
    response = httpx.get(f"{stack.portal}/rechercher", params=query, timeout=30)
    assert response.status_code == 200, response.text[:300]
    status = re.search(r'<p role="status" id="nombre-resultats"[^>]*>([^<]*)</p>', response.text).group(1)
    return re.findall(r'data-item-id="([^"]+)"', response.text), status


def catalogue_ids(stack, params: dict) -> tuple[list[str], int | None, bool]:
    response = httpx.get(
        f"{stack.catalog}/search",
        params={"limit": 50, "sortby": "-properties.datetime", **params},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    ids = [f["id"] for f in body["features"]]
    more = any(link.get("rel") == "next" for link in body.get("links", []))
    return ids, body.get("numberMatched"), more


def test_search_results_equal_the_catalogues(stack, scene):
    cloud = scene["properties"]["eo:cloud_cover"]
    cases = [
        ({"bbox": LYON_TEXT}, {"bbox": LYON_TEXT}),
        ({"bbox": BREST_TEXT}, {"bbox": BREST_TEXT}),
        (
            {"bbox": LYON_TEXT, "debut": "2026-06-03", "fin": "2026-06-03"},
            {"bbox": LYON_TEXT, "datetime": "2026-06-03T00:00:00Z/2026-06-03T23:59:59Z"},
        ),
        (
            {"bbox": LYON_TEXT, "nuages": str(int(cloud) + 1)},
            {"bbox": LYON_TEXT, "filter": f"eo:cloud_cover <= {int(cloud) + 1}", "filter-lang": "cql2-text"},
        ),
        (
            {"collection": scene["collection"], "bbox": LYON_TEXT},
            {"collections": scene["collection"], "bbox": LYON_TEXT},
        ),
        ({}, {}),
    ]
    for portal_query, catalogue_params in cases:
        ids, status = portal_ids(stack, portal_query)
        expected, matched, more = catalogue_ids(stack, catalogue_params)
        assert ids == expected, portal_query
        if matched is None and more:
            assert status == f"Plus de {len(ids)} scènes trouvées ; les {len(ids)} premières sont affichées."
        elif (matched if matched is not None else len(ids)) == 0:
            assert status == "Aucune scène ne correspond à ces filtres."
        else:
            assert status.startswith(f"{matched if matched is not None else len(ids)} scène"), status
    assert scene["id"] in portal_ids(stack, {"bbox": LYON_TEXT})[0]
    assert scene["id"] not in portal_ids(stack, {"bbox": BREST_TEXT})[0]


def test_bad_search_input_is_a_french_first_problem(stack):
    response = httpx.get(
        f"{stack.portal}/rechercher?nuages=beaucoup", headers={"Accept": "application/json"}, timeout=30
    )
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid-cloud-cover"
    assert response.json()["detail"].startswith("couverture nuageuse maximale")
    page = httpx.get(f"{stack.portal}/rechercher?bbox=1,2", headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 400 and "<code>invalid-bbox</code>" in page.text


def test_previews_come_through_the_portal(stack, scene):
    for asset in ("thumbnail", "overview"):
        direct = httpx.get(scene["assets"][asset]["href"], follow_redirects=True, timeout=30)
        relayed = httpx.get(f"{stack.portal}/apercus/{scene['collection']}/{scene['id']}/{asset}", timeout=30)
        assert relayed.status_code == 200 and relayed.content == direct.content and len(relayed.content) > 100
        assert relayed.headers["content-type"].startswith("image/")
    missing = httpx.get(f"{stack.portal}/apercus/{scene['collection']}/{scene['id']}/pan", timeout=30)
    assert missing.status_code == 404


def test_scene_page_signs_links_for_members_only(stack, scene):
    path = f"/scenes/{scene['collection']}/{scene['id']}"
    anonymous = unescape(httpx.get(stack.portal + path, timeout=30).text)
    assert "X-Amz-Signature" not in anonymous and "Connectez-vous" in anonymous
    assert scene["id"] in anonymous and "Couverture nuageuse (%)" in anonymous
    assert f'item = catalogue.get_collection("{scene["collection"]}").get_item("{scene["id"]}")' in anonymous
    # A member: signed links from the catalogue's signing API, which the object store honours.
    _, email, password = member()
    browser, _ = log_in(stack.portal, email, password)
    page = browser.go("GET", stack.portal + path)
    links = re.findall(r'class="portal-signed" href="([^"]+)"', page.text)
    assert links and all("X-Amz-Signature=" in link for link in links), text_of(page)[:500]
    signed = [unescape(link) for link in links]
    # The QGIS snippet opens one of the scene's images through its signed link...
    qgis = re.search(r'id="extrait-qgis" tabindex="0"><code>/vsicurl/([^<]+)</code>', page.text)
    assert qgis, text_of(page)[-800:]
    image = unescape(qgis.group(1))
    assert image in signed and ".tif?" in image
    # Links live an hour at most (the page signs again on each view), and no cache keeps the page.
    lifetimes = [int(re.search(r"X-Amz-Expires=(\d+)", link).group(1)) for link in signed]  # type: ignore[union-attr]
    assert all(0 < seconds <= 3600 for seconds in lifetimes), lifetimes
    assert page.headers["cache-control"] == "no-store"
    # ...which the object store serves: a GeoTIFF.
    download = httpx.get(image, headers={"Range": "bytes=0-3"}, timeout=60)
    assert download.status_code in (200, 206) and download.content[:4] in (b"II*\x00", b"MM\x00*")
    # Without the signature, the object store refuses.
    assert httpx.get(image.split("?", 1)[0], timeout=60).status_code == 403
    # Someone the orders service does not know: the catalogue's refusal, with its reason.
    _, email, password = stranger()
    browser, _ = log_in(stack.portal, email, password)
    page = browser.go("GET", stack.portal + path)
    assert "X-Amz-Signature" not in page.text
    assert 'id="refus-telechargement"' in page.text and "not-a-member" in page.text


def test_the_portal_client_requires_pkce_its_secret_and_its_redirect_uri(stack):
    """The realm's `dinamis-portal` client (deploy/local/keycloak.py), as Keycloak enforces it."""
    base = {"client_id": "dinamis-portal", "response_type": "code", "scope": "openid"}
    callback = f"{stack.portal}/auth/callback"
    # No PKCE challenge: refused (S256 required).
    page = httpx.get(oidc("/auth"), params={**base, "redirect_uri": callback}, timeout=10)
    assert page.status_code in (302, 303), page.text[:300]
    assert (
        "error=invalid_request" in page.headers["location"] and "code_challenge" in page.headers["location"]
    )
    # A redirect URI elsewhere: refused by Keycloak itself (no redirect to it).
    challenge = {
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    evil = httpx.get(
        oidc("/auth"),
        params={**base, **challenge, "redirect_uri": "https://evil.example/auth/callback"},
        timeout=10,
    )
    assert evil.status_code == 400 and "evil.example" not in evil.headers.get("location", "")
    # The code exchange needs the client's secret.
    token = httpx.post(
        oidc("/token"),
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "redirect_uri": callback,
            "code_verifier": "y" * 43,
        },
        auth=("dinamis-portal", "not-the-secret"),
        timeout=10,
    )
    assert token.status_code == 401
