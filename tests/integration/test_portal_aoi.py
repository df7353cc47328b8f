"""The AOI tools of the portal against the real stack (tests/browser/portal_stack.py): a
zipped shapefile in Lambert-93 uploaded over Lyon is reprojected and reviewed, and the
search over it finds the Lyon scene with the % of the AOI covered equal to a value
computed by hand (another projection, another library path); results equal the
catalogue's own answer to the same `intersects` search; the new filters (satellite,
incidence, processing level) give the catalogue's answer; saved AOIs live in FerretDB
and belong to their owner."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pyproj import Transformer
from shapely.geometry import shape

from dinamis_portal.aoi import codec
from tests.browser.portal_stack import LYON_TEXT, log_in, lyon_scene, member, portal_stack
from tests.integration.aoi_support import covered_by_hand, lambert93_box_zip, zip_of
from tests.integration.identity import text_of

HTMX = {"HX-Request": "true", "HX-Target": "revue-zone"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with portal_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


@pytest.fixture(scope="module")
async def scene(settings, stack, tmp_path_factory):
    return await lyon_scene(settings, stack, tmp_path_factory.mktemp("scene"), day=7)


def aoi_ring(scene: dict) -> list[tuple[float, float]]:
    """A 6 km x 4 km rectangle in Lambert-93 straddling the scene's eastern edge."""
    centre = shape(scene["geometry"]).centroid
    x, y = Transformer.from_crs(4326, 2154, always_xy=True).transform(centre.x, centre.y)
    west, south, east, north = x + 1500, y - 2000, x + 7500, y + 2000
    return [(west, south), (east, south), (east, north), (west, north), (west, south)]


def csrf_and_client(stack) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=stack.portal, timeout=60)
    page = client.get("/rechercher")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert page.status_code == 200 and token, page.text[:300]
    return client, token.group(1)


def test_uploaded_lambert93_shapefile_finds_the_lyon_scene_with_its_share_covered(stack, scene):
    ring = aoi_ring(scene)
    client, token = csrf_and_client(stack)
    xs, ys = zip(*ring, strict=True)
    upload = lambert93_box_zip(min(xs), min(ys), max(xs), max(ys))
    review = client.post(
        "/zone/analyser", data={"csrf_token": token}, files={"fichier": ("lyon.zip", upload)}, headers=HTMX
    )
    assert review.status_code == 200, review.text[:300]
    assert "EPSG:2154" in review.text and "shapefile zippé" in review.text
    area = float(re.search(r'data-area-km2="([0-9.]+)"', review.text).group(1))
    assert area == pytest.approx(24.0, rel=0.01)  # 6 km x 4 km (Lambert-93's scale error near Lyon < 0.1 %)
    use = unescape(re.search(r'href="([^"]+)" id="utiliser-zone"', review.text).group(1))
    page = client.get(use)
    assert page.status_code == 200
    rows = dict(re.findall(r'data-item-id="([^"]+)".*?data-covered="([0-9.]+)"', page.text, re.S))
    assert scene["id"] in rows, text_of(page)[:500]
    expected = covered_by_hand(ring, scene["geometry"])
    assert 0.2 < expected < 0.8  # the AOI straddles the edge: a real partial cover
    assert float(rows[scene["id"]]) == pytest.approx(expected, abs=0.002)
    shown = re.search(
        rf'data-item-id="{scene["id"]}".*?Part de ma zone couverte : ([0-9,]+)\u00a0%', page.text, re.S
    )
    assert shown and float(shown.group(1).replace(",", ".")) == pytest.approx(expected * 100, abs=0.2)
    # The same search asked to the catalogue directly: the same scenes, in the same order.
    zone = parse_qs(urlsplit(use).query)["zone"][0]
    direct = httpx.post(
        f"{stack.catalog}/search",
        json={
            "intersects": shape(codec.decode(zone)).__geo_interface__,
            "limit": 50,
            "sortby": [{"field": "properties.datetime", "direction": "desc"}],
        },
        timeout=30,
    )
    assert direct.status_code == 200, direct.text[:300]
    assert re.findall(r'data-item-id="([^"]+)"', page.text) == [f["id"] for f in direct.json()["features"]]
    # "Couvre toute ma zone": the scene covers part of it only, so it is left out, and said.
    whole = client.get(use + "&entiere=1")
    assert scene["id"] not in re.findall(r'data-item-id="([^"]+)"', whole.text)
    assert "couvrent toute la zone, parmi les" in whole.text
    # An AOI inside the scene: 100 % and kept by the filter.
    inside = client.post(
        "/zone/analyser",
        data={"csrf_token": token, "texte": "4.84,45.75,4.86,45.77"},
        headers=HTMX,
    )
    inside_use = unescape(re.search(r'href="([^"]+)" id="utiliser-zone"', inside.text).group(1))
    kept = client.get(inside_use + "&entiere=1")
    assert scene["id"] in re.findall(r'data-item-id="([^"]+)"', kept.text)
    assert "Part de ma zone couverte : 100\u00a0%" in kept.text


def portal_ids(stack, query: dict) -> list[str]:
    response = httpx.get(f"{stack.portal}/rechercher", params=query, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return re.findall(r'data-item-id="([^"]+)"', response.text)


def catalogue_ids(stack, cql2: str) -> list[str]:
    response = httpx.get(
        f"{stack.catalog}/search",
        params={
            "limit": 50,
            "sortby": "-properties.datetime",
            "bbox": LYON_TEXT,
            "filter": cql2,
            "filter-lang": "cql2-text",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text[:300]
    return [f["id"] for f in response.json()["features"]]


def test_satellite_incidence_and_level_filters_give_the_catalogues_answer(stack, scene):
    props = scene["properties"]
    platform, level = props["platform"], props["processing:level"]
    incidence = float(props["view:incidence_angle"])
    above, below = int(incidence) + 1, max(int(incidence) - 1, 0)
    cases = [
        ({"mission": platform}, f"platform = '{platform}'", True),
        ({"mission": "spot-6"}, "platform = 'spot-6'", False),
        ({"niveau": level}, f"processing:level = '{level}'", True),
        ({"niveau": "sensor" if level != "sensor" else "ortho"}, None, False),
        ({"incidence": str(above)}, f"view:incidence_angle <= {above}", True),
        ({"incidence": str(below)}, f"view:incidence_angle <= {below}", incidence <= below),
        (
            {"mission": platform, "niveau": level, "incidence": str(above)},
            f"view:incidence_angle <= {above} AND platform = '{platform}' AND processing:level = '{level}'",
            True,
        ),
    ]
    for query, cql2, has_scene in cases:
        ids = portal_ids(stack, {"bbox": LYON_TEXT, **query})
        if cql2 is not None:
            assert ids == catalogue_ids(stack, cql2), query
        assert (scene["id"] in ids) is has_scene, query
    # The same filters over a drawn AOI (POST with a CQL2 JSON filter): the same answer.
    client, token = csrf_and_client(stack)
    review = client.post(
        "/zone/analyser",
        data={
            "csrf_token": token,
            "texte": LYON_TEXT,
            "mission": platform,
            "niveau": level,
            "incidence": str(above),
        },
        headers=HTMX,
    )
    use = unescape(re.search(r'href="([^"]+)" id="utiliser-zone"', review.text).group(1))
    assert f"mission={platform}" in use
    assert scene["id"] in re.findall(r'data-item-id="([^"]+)"', client.get(use).text)
    refused = httpx.get(
        f"{stack.portal}/rechercher?incidence=120", headers={"Accept": "application/json"}, timeout=30
    )
    assert refused.status_code == 400 and refused.json()["code"] == "invalid-incidence"


def test_saved_aois_are_the_owners_only(stack):
    owner, _ = log_in(stack.portal, *member()[1:], retour="/rechercher")
    page = owner.go("GET", f"{stack.portal}/rechercher")
    token = re.search(
        r'id="form-coller"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)"', page.text
    )
    assert token and "Mes zones enregistrées" in page.text
    # Browser is a plain client (no htmx): the review comes as a whole page.
    review = owner.go(
        "POST", f"{stack.portal}/zone/analyser", data={"csrf_token": token.group(1), "texte": LYON_TEXT}
    )
    assert review.status_code == 200 and "Vérification de la zone" in review.text
    code = re.search(r'name="code" value="([^"]+)"', review.text).group(1)
    saved = owner.go(
        "POST", f"{stack.portal}/zones", data={"csrf_token": token.group(1), "nom": "Lyon", "code": code}
    )
    assert saved.status_code == 200 and "Lyon" in saved.text and str(saved.url).endswith("/zones")
    zone_id = re.search(r'href="/zones/([^"/]+)"', saved.text).group(1)
    opened = owner.go("GET", f"{stack.portal}/zones/{zone_id}")
    assert opened.status_code == 200 and "Zone de recherche" in opened.text
    # Another member: the id is not found, nothing deleted.
    other, _ = log_in(stack.portal, *member()[1:], retour="/rechercher")
    other_page = other.go("GET", f"{stack.portal}/rechercher")
    other_token = re.search(r'name="csrf_token" value="([^"]+)"', other_page.text).group(1)
    assert other.go("GET", f"{stack.portal}/zones/{zone_id}").status_code == 404
    assert (
        other.go(
            "POST", f"{stack.portal}/zones/{zone_id}/supprimer", data={"csrf_token": other_token}
        ).status_code
        == 404
    )
    assert "Lyon" not in other.go("GET", f"{stack.portal}/zones").text
    assert f"/zones/{zone_id}" in owner.go("GET", f"{stack.portal}/zones").text
    gone = owner.go("POST", f"{stack.portal}/zones/{zone_id}/supprimer", data={"csrf_token": token.group(1)})
    assert gone.status_code == 200 and f"/zones/{zone_id}" not in gone.text


def test_hostile_upload_on_the_real_portal(stack):
    client, token = csrf_and_client(stack)
    bomb = zip_of({"z.shp": b"\x00" * (60 * 1024 * 1024), "z.shx": b"", "z.dbf": b""})
    refused = client.post(
        "/zone/analyser",
        data={"csrf_token": token},
        files={"fichier": ("z.zip", bomb)},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 400 and refused.json()["code"] == "aoi-zip-bomb"
    too_big = client.post(
        "/zone/analyser",
        data={"csrf_token": token},
        files={"fichier": ("z.geojson", b" " * (13 * 1024 * 1024))},
        headers={"Accept": "application/json"},
    )
    assert too_big.status_code == 413
