"""The pages, rendered with fakes of the catalogue, orders and the identity provider:
security headers on every answer, French first with the English switch, the search page
(filters and their stated defaults, the announced count, footprints for the map, the
htmx fragment), the scene page (metadata, licence, snippets, signed links for members
only), the preview relay and bad input as French-first problems."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from dinamis_portal.i18n import TEXTS
from dinamis_portal.upstream import SigningRefused

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self' http://idp.test; "
    "frame-ancestors 'none'"
)


def assert_security_headers(response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


async def test_every_page_has_the_security_headers_and_no_inline_script_or_style(portal):
    for path in (
        "/",
        "/rechercher",
        "/scenes/pleiades-neo-ortho/scene-lyon-1",
        "/accessibilite",
        "/mentions-legales",
        "/donnees-personnelles",
        "/cookies",
    ):
        response = await portal.client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert_security_headers(response)
        html = response.text
        assert '<html lang="fr"' in html
        # Scripts only from files; the only <script> without src are JSON data blocks.
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/geo+json"' in tag, (path, tag)
        assert "<style" not in html and " style=" not in html, path
    for path in ("/nulle-part", "/static/vendor/rien.js", "/apercus/x/y/z"):
        response = await portal.client.get(path)
        assert response.status_code == 404
        assert_security_headers(response)


async def test_dsfr_header_footer_and_mandatory_links(portal):
    html = (await portal.client.get("/")).text
    assert 'class="fr-header"' in html and 'fr-header__service-title">DINAMIS<' in html
    assert '<p class="fr-logo">République<br>Française</p>' in html
    for link in ("/accessibilite", "/mentions-legales", "/donnees-personnelles", "/cookies"):
        assert f'href="{link}"' in html
    assert "Accessibilité : non conforme" in html
    a11y = unescape((await portal.client.get("/accessibilite")).text)
    assert "Déclaration d'accessibilité" in a11y and "Défenseur des droits" in a11y


async def test_french_first_then_english_by_parameter_and_cookie(portal):
    fr = await portal.client.get("/rechercher")
    assert "Rechercher des images" in fr.text and 'href="/rechercher?lang=en"' in fr.text
    en = await portal.client.get("/rechercher", params={"lang": "en"})
    assert '<html lang="en"' in en.text and "Search imagery" in en.text
    cookie = en.headers["set-cookie"]
    assert cookie.startswith("lang=en;") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    # The cookie remembers the choice.
    again = await portal.client.get("/")
    assert '<html lang="en"' in again.text and "Log in" in again.text


def test_every_text_has_french_and_english():
    for key, (fr, en) in TEXTS.items():
        assert fr and en, key


async def test_search_states_its_defaults_announces_the_count_and_sends_the_filters(portal):
    response = await portal.client.get(
        "/rechercher",
        params={
            "collection": "pleiades-neo-ortho",
            "debut": "2026-01-01",
            "fin": "2026-12-31",
            "nuages": "20",
            "bbox": "4.75,45.70,4.95,45.82",
        },
    )
    html = response.text
    assert "aucun filtre de nébulosité caché" in html
    assert '<p role="status" id="nombre-resultats" class="fr-text--bold">2 scènes trouvées.</p>' in html
    assert re.findall(r'data-item-id="([^"]+)"', html) == ["scene-lyon-1", "scene-lyon-2"]
    # The form shows the state the URL carries.
    assert 'name="nuages" value="20"' in html and 'value="4.75,45.7,4.95,45.82"' in html
    assert dict(portal.catalogue.searches[-1]) == {
        "limit": "50",
        "sortby": "-properties.datetime",
        "collections": "pleiades-neo-ortho",
        "datetime": "2026-01-01T00:00:00Z/2026-12-31T23:59:59Z",
        "bbox": "4.75,45.7,4.95,45.82",
        "filter": "eo:cloud_cover <= 20",
        "filter-lang": "cql2-text",
    }
    footprints = json.loads(re.search(r'id="empreintes">(.*?)</script>', html, re.S).group(1))
    assert [f["id"] for f in footprints["features"]] == ["scene-lyon-1", "scene-lyon-2"]
    # Thumbnails come from the portal itself (CSP img-src 'self').
    assert 'src="/apercus/pleiades-neo-ortho/scene-lyon-1/thumbnail"' in html


async def test_no_hidden_default_filter(portal):
    await portal.client.get("/rechercher")
    assert dict(portal.catalogue.searches[-1]) == {"limit": "50", "sortby": "-properties.datetime"}


async def test_htmx_gets_the_results_fragment_only(portal):
    response = await portal.client.get(
        "/rechercher", params={"nuages": "5"}, headers={"HX-Request": "true", "HX-Target": "resultats"}
    )
    assert response.status_code == 200
    assert "<html" not in response.text and 'role="status"' in response.text
    assert_security_headers(response)


async def test_bad_filters_are_french_first_problems_or_pages(portal):
    cases = {
        "nuages=abc": "invalid-cloud-cover",
        "nuages=101": "invalid-cloud-cover",
        "debut=2026-13-01": "invalid-date",
        "debut=2026-05-01&fin=2026-04-01": "invalid-date-range",
        "bbox=1,2,3": "invalid-bbox",
        "bbox=5,45,4,46": "invalid-bbox",
        "bbox=4,45,5,95": "invalid-bbox",
        "collection=Pas%20valide": "invalid-collection",
    }
    for query, code in cases.items():
        problem = await portal.client.get(f"/rechercher?{query}", headers={"Accept": "application/json"})
        assert problem.status_code == 400, query
        assert problem.headers["content-type"] == "application/problem+json"
        body = problem.json()
        assert body["code"] == code, query
        # French first, English in brackets.
        assert body["detail"].count("(") >= 1 and not body["detail"].startswith(
            ("the ", "area", "maximum")
        ), body
        page = await portal.client.get(f"/rechercher?{query}", headers={"Accept": "text/html"})
        assert page.status_code == 400 and 'id="erreur"' in page.text and f"<code>{code}</code>" in page.text
        fragment = await portal.client.get(
            f"/rechercher?{query}", headers={"HX-Request": "true", "HX-Target": "resultats"}
        )
        assert (
            fragment.status_code == 400 and "<html" not in fragment.text and 'role="alert"' in fragment.text
        )
    assert portal.catalogue.searches == []


async def test_scene_page_for_anonymous_users_has_no_signed_link(portal):
    response = await portal.client.get("/scenes/pleiades-neo-ortho/scene-lyon-1")
    html = unescape(response.text)
    assert '<h1 class="fr-h2" id="titre-scene">scene-lyon-1</h1>' in html
    assert "Couverture nuageuse (%)" in html and "3,5" in html and "Résolution au sol (m)" in html
    assert "1er juin 2026, 10:30 UTC" in html
    assert "Licence DINAMIS" in html
    assert "X-Amz-Signature" not in html and "Connectez-vous" in html
    assert 'Client.open("http://catalogue.test")' in html
    assert "/vsicurl/http://store.test/archive/scene-lyon-1/pan.tif" in html
    assert portal.catalogue.signed_with == []


async def test_scene_page_for_a_member_has_signed_links_from_the_catalogue(portal):
    await portal.login()
    html = unescape((await portal.client.get("/scenes/pleiades-neo-ortho/scene-lyon-1")).text)
    assert 'href="http://store.test/archive/scene-lyon-1/pan.tif?X-Amz-Signature=abc"' in html
    assert "/vsicurl/http://store.test/archive/scene-lyon-1/pan.tif?X-Amz-Signature=abc" in html
    # Signed with the user's token, which never reaches the page.
    assert portal.catalogue.signed_with == ["ACCESS-TOKEN-SECRET"]
    assert "ACCESS-TOKEN-SECRET" not in html and "Marie Curie" in html


async def test_the_catalogues_refusal_is_shown_with_its_reason(portal):
    await portal.login()
    portal.catalogue.refuse_signing = SigningRefused(
        "not-a-member", "vous n'êtes membre d'aucune organisation"
    )
    html = (await portal.client.get("/scenes/pleiades-neo-ortho/scene-lyon-1")).text
    assert "Téléchargement refusé : vous n&#39;êtes membre d&#39;aucune organisation (not-a-member)" in html
    assert "X-Amz-Signature" not in html


async def test_unknown_scene_is_a_404(portal):
    response = await portal.client.get("/scenes/pleiades-neo-ortho/inconnue", headers={"Accept": "text/html"})
    assert response.status_code == 404 and "scène introuvable" in response.text


async def test_previews_are_relayed_from_the_catalogue(portal):
    response = await portal.client.get("/apercus/pleiades-neo-ortho/scene-lyon-1/thumbnail")
    assert response.status_code == 200 and response.content == b"\x89PNG fake"
    assert response.headers["content-type"] == "image/png"
    assert (await portal.client.get("/apercus/pleiades-neo-ortho/scene-lyon-1/pan")).status_code == 404


async def test_front_end_packages_are_served_from_the_portal(portal):
    for path, kind in (
        ("/static/vendor/ol.js", "javascript"),
        ("/static/vendor/htmx.min.js", "javascript"),
        ("/static/vendor/ol.css", "css"),
        ("/static/dsfr/dsfr.min.css", "css"),
        ("/static/dsfr/dsfr.module.min.js", "javascript"),
        ("/static/app/portal.js", "javascript"),
        ("/static/app/basemap/regions-version-simplifiee.geojson", "json"),
    ):
        response = await portal.client.get(path)
        assert response.status_code == 200, path
        assert kind in response.headers["content-type"], (path, response.headers["content-type"])
        assert_security_headers(response)
    # Only the DSFR's dist/ is served, and no other file of node_modules.
    assert (await portal.client.get("/static/dsfr/../package.json")).status_code == 404
    assert (await portal.client.get("/static/vendor/package.json")).status_code == 404


def test_the_announced_count_never_claims_more_than_it_knows():
    from dinamis_portal.entrypoints.pages import count_text

    assert count_text("fr", 0, 0, False) == "Aucune scène ne correspond à ces filtres."
    assert count_text("fr", 1, 1, False) == "1 scène trouvée."
    assert count_text("fr", 120, 50, True) == "120 scènes trouvées. 50 affichées ci-dessous."
    assert count_text("fr", None, 50, True) == "Plus de 50 scènes trouvées ; les 50 premières sont affichées."
    assert count_text("fr", None, 7, False) == "7 scènes trouvées."
    assert count_text("en", None, 50, True) == "More than 50 scenes found; the first 50 are shown."


def test_a_text_key_defined_twice_is_refused():
    from dinamis_portal.i18n import register

    with pytest.raises(KeyError, match="defined twice"):
        register({"nav.home": ("Accueil", "Home")})
