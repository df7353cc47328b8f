"""The AOI tools on Rechercher (fakes of the portal's own ports): the review step for a
paste or an upload, CSRF, hostile uploads as French problems, the search over an AOI
(POST to the catalogue with `intersects`), the % of my AOI covered, the "covers my whole
area" filter and its honest count, the new filters, and the saved AOIs (owner only)."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pytest

from dinamis_portal.aoi_api import MemoryAoiStore
from tests.integration.aoi_support import lyon_lambert93_zip, zip_of

HTMX = {"HX-Request": "true", "HX-Target": "revue-zone"}


class FakeAoiCatalogue:
    """The catalogue's POST /search over the FakeCatalogue's items (no geometry test: the
    real one is tested in tests/integration/test_portal_aoi.py)."""

    def __init__(self, catalogue: Any) -> None:
        self.catalogue = catalogue
        self.bodies: list[dict[str, Any]] = []
        self.matched: int | None = None

    async def search_body(self, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(copy.deepcopy(body))
        items = self.catalogue.items
        return {
            "type": "FeatureCollection",
            "features": items,
            "numberMatched": self.matched if self.matched is not None else len(items),
            "links": [],
        }


@pytest.fixture
async def aoi_portal(portal):
    container = portal.app.state.container
    portal.aoi_catalogue = FakeAoiCatalogue(portal.catalogue)
    portal.aoi_store = MemoryAoiStore()
    container.aoi_catalogue = portal.aoi_catalogue
    container.aoi_store = portal.aoi_store
    return portal


async def csrf_of(portal, path: str = "/rechercher") -> str:
    page = await portal.client.get(path)
    assert page.status_code == 200
    match = re.search(
        r'id="form-coller"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)"', page.text
    )
    assert match, page.text[:500]
    return match.group(1)


async def test_anonymous_visitors_get_the_aoi_tools_with_a_csrf_token(aoi_portal):
    page = await aoi_portal.client.get("/rechercher")
    html = page.text
    for button in (
        "dessiner-rectangle",
        "dessiner-polygone",
        "modifier-sommets",
        "effacer-dessin",
        "vue-carte",
    ):
        assert re.search(rf'<button type="button"[^>]*id="{button}"', html), button
    assert 'type="file" id="zone-fichier" name="fichier"' in html and 'id="zone-texte" name="texte"' in html
    assert "dinamis_portal_session=" in page.headers.get("set-cookie", "")
    assert '<script src="/static/app/aoi.js"></script>' in html
    assert "Couvre toute ma zone" in html and "tout angle d'incidence" in unescape(html)
    # Logged out: no saved list (it needs a login).
    assert "Mes zones enregistrées" not in html


async def test_review_posts_need_the_csrf_token(aoi_portal):
    await csrf_of(aoi_portal)
    for data in ({"texte": "4.8,45.72,4.9,45.8"}, {"texte": "4.8,45.72,4.9,45.8", "csrf_token": "forged"}):
        refused = await aoi_portal.client.post(
            "/zone/analyser", data=data, headers={"Accept": "application/json"}
        )
        assert refused.status_code == 403 and refused.json()["code"] == "csrf-refused"


async def test_a_pasted_bbox_is_reviewed_and_offers_a_use_link_carrying_the_filters(aoi_portal):
    token = await csrf_of(aoi_portal)
    review = await aoi_portal.client.post(
        "/zone/analyser",
        data={"csrf_token": token, "texte": "4.80,45.72,4.90,45.80", "nuages": "20", "mission": "spot-7"},
        headers=HTMX,
    )
    assert review.status_code == 200 and "<html" not in review.text
    assert "Vérification de la zone" in review.text and "Lu comme : emprise." in review.text
    row = re.search(r'class="revue-polygone" data-area-km2="([0-9.]+)"', review.text)
    assert row and 60 < float(row.group(1)) < 80
    use = unescape(re.search(r'href="([^"]+)" id="utiliser-zone"', review.text).group(1))
    assert (
        use.startswith("/rechercher?")
        and "nuages=20" in use
        and "mission=spot-7" in use
        and "zone=p1." in use
    )
    assert '"type":"FeatureCollection"' in review.text  # the polygons, for the map


async def test_an_uploaded_lambert93_shapefile_is_reprojected_and_reviewed(aoi_portal):
    token = await csrf_of(aoi_portal)
    review = await aoi_portal.client.post(
        "/zone/analyser",
        data={"csrf_token": token},
        files={"fichier": ("lyon.zip", lyon_lambert93_zip(), "application/zip")},
        headers=HTMX,
    )
    assert review.status_code == 200
    assert "RGF93 v1 / Lambert-93 (EPSG:2154)" in review.text and "shapefile zippé" in review.text
    assert 'id="utiliser-zone"' in review.text


async def test_hostile_uploads_are_french_problems_never_500(aoi_portal):
    token = await csrf_of(aoi_portal)
    bomb = zip_of({"z.shp": b"\x00" * (60 * 1024 * 1024), "z.shx": b"", "z.dbf": b""})
    shown = await aoi_portal.client.post(
        "/zone/analyser", data={"csrf_token": token}, files={"fichier": ("z.zip", bomb)}, headers=HTMX
    )
    assert shown.status_code == 200 and 'id="revue-refus"' in shown.text and "aoi-zip-bomb" in shown.text
    assert "archive refusée" in shown.text and 'id="utiliser-zone"' not in shown.text
    as_api = await aoi_portal.client.post(
        "/zone/analyser",
        data={"csrf_token": token, "texte": "<!DOCTYPE x [<!ENTITY a 'b'>]><kml>&a;</kml>"},
        headers={"Accept": "application/json"},
    )
    assert as_api.status_code == 400 and as_api.json()["code"] == "aoi-xml-forbidden"
    assert as_api.json()["detail"].startswith("XML refusé")
    nothing = await aoi_portal.client.post("/zone/analyser", data={"csrf_token": token}, headers=HTMX)
    assert nothing.status_code == 200 and "aoi-empty" in nothing.text


async def test_an_upload_above_the_body_limit_is_refused_413(aoi_portal):
    token = await csrf_of(aoi_portal)
    big = await aoi_portal.client.post(
        "/zone/analyser",
        data={"csrf_token": token},
        files={"fichier": ("big.geojson", b" " * (13 * 1024 * 1024))},
        headers={"Accept": "application/json"},
    )
    assert big.status_code == 413


async def test_too_many_vertices_offers_simplify_and_the_result_is_reviewed_again(aoi_portal):
    import json
    import math

    token = await csrf_of(aoi_portal)
    n = 10_400
    ring = [
        [4.8 + 0.1 * math.cos(2 * math.pi * i / n), 45.7 + 0.1 * math.sin(2 * math.pi * i / n)]
        for i in range(n)
    ]
    ring.append(ring[0])
    first = await aoi_portal.client.post(
        "/zone/analyser",
        data={"csrf_token": token},
        files={
            "fichier": ("cercle.geojson", json.dumps({"type": "Polygon", "coordinates": [ring]}).encode())
        },
        headers=HTMX,
    )
    assert "aoi-too-many-vertices" in first.text and 'id="simplifier"' in first.text
    assert 'id="utiliser-zone"' not in first.text
    code = re.search(r'<input type="hidden" name="code" value="([^"]+)"', first.text).group(1)
    again = await aoi_portal.client.post(
        "/zone/simplifier", data={"csrf_token": token, "code": code, "nuages": "10"}, headers=HTMX
    )
    assert "zone simplifiée" in again.text and 'id="utiliser-zone"' in again.text
    assert "nuages=10" in unescape(again.text)


async def use_url(portal, text: str = "4.80,45.72,4.90,45.80") -> str:
    token = await csrf_of(portal)
    review = await portal.client.post(
        "/zone/analyser", data={"csrf_token": token, "texte": text}, headers=HTMX
    )
    return unescape(re.search(r'href="([^"]+)" id="utiliser-zone"', review.text).group(1))


async def test_search_over_a_zone_posts_intersects_and_shows_the_share_covered(aoi_portal):
    # The fake's scenes are 0.1° squares centred on 4.85, 45.76: the AOI 4.80..4.90 x
    # 45.72..45.80 is covered where it meets 4.80..4.90 x 45.71..45.81, i.e. all of it.
    url = await use_url(aoi_portal)
    page = await aoi_portal.client.get(url)
    assert page.status_code == 200
    body = aoi_portal.aoi_catalogue.bodies[-1]
    assert body["intersects"]["type"] == "Polygon" and body["limit"] == 50
    assert body["sortby"] == [{"field": "properties.datetime", "direction": "desc"}]
    assert "Part de ma zone couverte : 100\u00a0%" in page.text
    assert "Zone de recherche :" in page.text and 'id="retirer-zone"' in page.text
    # A half-covered AOI: 4.85..4.95 over a scene ending at 4.90.
    half = await use_url(aoi_portal, "4.85,45.72,4.95,45.80")
    page = await aoi_portal.client.get(half)
    shares = [float(s) for s in re.findall(r'data-covered="([0-9.]+)"', page.text)]
    assert shares and all(s == pytest.approx(0.5, abs=0.01) for s in shares)
    assert re.search(r"Part de ma zone couverte : (49,9|50)\u00a0%", page.text)
    # The footprints' data block carries the share, for the map's popup.
    assert '"covered":0.5' in page.text or '"covered":0.49' in page.text


async def test_whole_area_filter_keeps_full_covers_and_says_how_many_were_examined(aoi_portal):
    url = await use_url(aoi_portal, "4.86,45.72,4.92,45.80")  # scene squares end at 4.90: partial
    page = await aoi_portal.client.get(url + "&entiere=1")
    assert aoi_portal.aoi_catalogue.bodies[-1]["limit"] == 500
    assert "0 scène(s) couvrent toute la zone, parmi les 2 scènes examinées qui la touchent." in page.text
    full = await use_url(aoi_portal, "4.82,45.72,4.88,45.80")
    page = await aoi_portal.client.get(full + "&entiere=1")
    assert "2 scène(s) couvrent toute la zone, parmi les 2 scènes examinées" in page.text
    aoi_portal.aoi_catalogue.matched = 900
    page = await aoi_portal.client.get(full + "&entiere=1")
    assert "Seules les 2 plus récentes des 900 scènes touchant la zone ont été examinées" in page.text
    refused = await aoi_portal.client.get("/rechercher?entiere=1", headers={"Accept": "application/json"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid-whole-filter"


async def test_a_bbox_is_my_aoi_too_and_new_filters_reach_the_catalogue(aoi_portal):
    page = await aoi_portal.client.get(
        "/rechercher",
        params={
            "bbox": "4.80,45.72,4.90,45.80",
            "incidence": "15",
            "mission": "pleiades-neo-4",
            "niveau": "ortho",
        },
    )
    params = dict(aoi_portal.catalogue.searches[-1])
    assert params["filter"] == (
        "view:incidence_angle <= 15 AND platform = 'pleiades-neo-4' AND processing:level = 'ortho'"
    )
    assert "Part de ma zone couverte : 100\u00a0%" in page.text
    assert 'value="15"' in page.text and '<option value="ortho" selected>' in page.text
    url = await use_url(aoi_portal)
    await aoi_portal.client.get(url + "&nuages=20&incidence=10")
    assert aoi_portal.aoi_catalogue.bodies[-1]["filter"] == {
        "op": "and",
        "args": [
            {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 20.0]},
            {"op": "<=", "args": [{"property": "view:incidence_angle"}, 10.0]},
        ],
    }


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("incidence=91", "invalid-incidence"),
        ("incidence=abc", "invalid-incidence"),
        ("mission=SPOT'; drop", "invalid-mission"),
        ("niveau=L9", "invalid-level"),
        ("zone=p1.garbage", "aoi-url-code"),
        ("zone=nope", "aoi-url-code"),
    ],
)
async def test_bad_aoi_and_filter_input_is_a_french_problem(aoi_portal, query, code):
    refused = await aoi_portal.client.get(f"/rechercher?{query}", headers={"Accept": "application/json"})
    assert refused.status_code == 400 and refused.json()["code"] == code


async def test_a_zone_and_a_bbox_together_are_refused(aoi_portal):
    url = await use_url(aoi_portal)
    refused = await aoi_portal.client.get(url + "&bbox=1,2,3,4", headers={"Accept": "application/json"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid-area"


async def test_saved_aois_belong_to_their_owner(aoi_portal):
    assert (await aoi_portal.client.get("/zones")).status_code == 303  # to the login
    await aoi_portal.login()
    token = await csrf_of(aoi_portal)
    review = await aoi_portal.client.post(
        "/zone/analyser", data={"csrf_token": token, "texte": "4.80,45.72,4.90,45.80"}, headers=HTMX
    )
    assert 'id="form-enregistrer"' in review.text
    code = re.search(
        r'id="form-enregistrer">\s*<input[^>]*>\s*<input type="hidden" name="code" value="([^"]+)"',
        review.text,
    ).group(1)
    missing = await aoi_portal.client.post("/zones", data={"nom": "Lyon", "code": code})
    assert missing.status_code == 403
    saved = await aoi_portal.client.post(
        "/zones", data={"csrf_token": token, "nom": "Lyon <b>centre</b>", "code": code}
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/zones"
    listing = await aoi_portal.client.get("/zones")
    assert "Lyon &lt;b&gt;centre&lt;/b&gt;" in listing.text and "<b>centre" not in listing.text
    (mine,) = [r for r in aoi_portal.aoi_store.records.values() if r["owner"] == "sub-1"]
    opened = await aoi_portal.client.get(f"/zones/{mine['_id']}")
    assert opened.status_code == 303 and "zone=p1." in opened.headers["location"]
    # Another user's AOI: not found, never opened nor deleted.
    theirs = {
        "_id": "autre-zone",
        "owner": "sub-2",
        "name": "Brest",
        "code": code,
        "area_km2": 1.0,
        "created_at": datetime.now(UTC),
    }
    aoi_portal.aoi_store.records["autre-zone"] = theirs
    assert (
        await aoi_portal.client.get("/zones/autre-zone", headers={"Accept": "application/json"})
    ).status_code == 404
    gone = await aoi_portal.client.post(
        "/zones/autre-zone/supprimer", data={"csrf_token": token}, headers={"Accept": "application/json"}
    )
    assert gone.status_code == 404 and "autre-zone" in aoi_portal.aoi_store.records
    assert "Brest" not in (await aoi_portal.client.get("/zones")).text
    deleted = await aoi_portal.client.post(f"/zones/{mine['_id']}/supprimer", data={"csrf_token": token})
    assert deleted.status_code == 303 and mine["_id"] not in aoi_portal.aoi_store.records
    bad_name = await aoi_portal.client.post(
        "/zones", data={"csrf_token": token, "nom": "", "code": code}, headers={"Accept": "application/json"}
    )
    assert bad_name.status_code == 400


async def test_english_review(aoi_portal):
    token = await csrf_of(aoi_portal, "/rechercher?lang=en")
    review = await aoi_portal.client.post(
        "/zone/analyser", data={"csrf_token": token, "texte": "45.7,4.8,45.8,4.9"}, headers=HTMX
    )
    assert "Area check" in review.text and "longitude and latitude swapped?" in review.text


async def test_without_javascript_the_review_is_a_whole_page(aoi_portal):
    token = await csrf_of(aoi_portal)
    page = await aoi_portal.client.post(
        "/zone/analyser",
        data={"csrf_token": token, "texte": "4.80,45.72,4.90,45.80"},
        headers={"Accept": "text/html"},
    )
    assert page.status_code == 200 and "<html" in page.text and "Vérification de la zone" in page.text
    assert 'id="utiliser-zone"' in page.text
    refused = await aoi_portal.client.post(
        "/zone/analyser",
        data={"csrf_token": token, "texte": "n'importe quoi"},
        headers={"Accept": "text/html"},
    )
    assert refused.status_code == 400 and "<code>aoi-format</code>" in refused.text


async def test_a_code_that_inflates_too_much_is_refused_quickly(aoi_portal):
    import base64
    import time
    import zlib

    token = await csrf_of(aoi_portal)
    bomb = "p1." + base64.urlsafe_b64encode(zlib.compress(b"?" * (64 * 1024 * 1024), 9)).decode().rstrip("=")
    assert len(bomb) < 200_000
    started = time.monotonic()
    refused = await aoi_portal.client.post(
        "/zone/simplifier", data={"csrf_token": token, "code": bomb}, headers=HTMX
    )
    assert time.monotonic() - started < 3
    assert refused.status_code == 200 and "aoi-url-code" in refused.text
    in_url = await aoi_portal.client.get(
        f"/rechercher?zone={bomb[:5000]}", headers={"Accept": "application/json"}
    )
    assert in_url.status_code == 400 and in_url.json()["code"] == "aoi-url-code"


def test_the_aoi_field_macro_for_other_pages():
    from dinamis_portal.aoi import AoiProblem, parse_aoi_field
    from dinamis_portal.bootstrap import templates
    from dinamis_portal.i18n import text

    env = templates()
    macro = env.from_string('{% from "_aoi.html.j2" import aoi_field %}{{ aoi_field(t, value=v, error=e) }}')
    problem = parse_aoi_field("<x>")
    assert isinstance(problem, AoiProblem)
    html = macro.render(
        t=lambda k, **kw: text(k, "fr", **kw), v='{"type": "Point"} </textarea>', e=problem.message_fr
    )
    assert '<textarea class="fr-input fr-input--error" id="aoi" name="aoi"' in html
    assert 'aria-describedby="aoi-aide aoi-erreur"' in html and 'id="aoi-erreur">XML illisible' in html
    assert "&lt;/textarea&gt;" in html and "Zone d&#39;intérêt (GeoJSON)" in html
    clean = macro.render(t=lambda k, **kw: text(k, "en", **kw), v="", e="")
    assert "fr-input--error" not in clean and "Area of interest (GeoJSON)" in clean


async def test_search_over_a_zone_in_english(aoi_portal):
    url = await use_url(aoi_portal)
    page = await aoi_portal.client.get(url + "&lang=en&entiere=1")
    assert page.status_code == 200 and "Share of my area covered: 100%" in page.text
    assert "Search area: " in page.text and "2 scene(s) cover the whole area" in page.text
