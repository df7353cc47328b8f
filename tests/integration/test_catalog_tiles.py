"""Map tiles (`dinamis-catalog-tiles`, titiler-pgstac) rendered from a real scene that
ingest archived in the private object store: a registered search, public PNG tiles up
to the public zoom, authenticated ones above it (only the items the caller may read)."""

from __future__ import annotations

import random
import warnings
from datetime import UTC, datetime, timedelta

import httpx
import morecantile
import numpy as np
import pytest
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from dinamis_shared.testing import start_service, stop_service
from tests.integration.orders_api import Caller, new_member_org, orders_api, uid
from tests.integration.scenes import ingest_scene

ORDERS, CATALOG, INGEST, TILES = 18711, 18712, 18713, 18714
API = f"http://127.0.0.1:{CATALOG}"
TILER = f"http://127.0.0.1:{TILES}"
PUBLIC_MAX_ZOOM = 12
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("logs")
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": f"http://127.0.0.1:{ORDERS}",
        "DINAMIS_CATALOG_PUBLIC_URL": API,
        "DINAMIS_ORDERS_CATALOG_URL": API,
        "DINAMIS_CATALOG_TILES_HTTP_PORT": str(TILES),
        "DINAMIS_CATALOG_TILES_TILES_PUBLIC_MAX_ZOOM": str(PUBLIC_MAX_ZOOM),
    }
    procs = []
    try:
        for name, port in (
            ("orders", ORDERS),
            ("catalog", CATALOG),
            ("ingest", INGEST),
            ("catalog-tiles", TILES),
        ):
            procs.append(start_service(name, port, logs, env=env))
        yield
    finally:
        for proc in procs:
            stop_service(proc)


@pytest.fixture(autouse=True)
def _orders_api(operator):
    """The operator (and the members it creates) call this module's orders service."""
    operator.api = orders_api(ORDERS)


@pytest.fixture(scope="module")
def operator(keyfile, services):
    return Caller(keyfile, uid("op"), "dinamis", ["operator"])


@pytest.fixture(scope="module")
async def scene(settings, services, tmp_path_factory):
    """A real scene, archived and indexed (searches below select it by id)."""
    lon, lat = random.uniform(0.5, 6.5), random.uniform(43.5, 49.0)
    return await ingest_scene(
        settings, API, tmp_path_factory.mktemp("scene"), lon, lat, datetime(2026, 5, 2, 10, 30, tzinfo=UTC)
    )


@pytest.fixture(scope="module")
def search_id(scene) -> str:
    body = {"collections": [scene["collection"]], "ids": [scene["id"]]}
    r = httpx.post(f"{TILER}/searches/register", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert any(link["rel"] == "tilejson" for link in r.json()["links"])
    return r.json()["id"]


def center_tile(scene: dict, z: int) -> morecantile.Tile:
    w, s, e, n = scene["bbox"]
    return WEB_MERCATOR.tile((w + e) / 2, (s + n) / 2, z)


def tile(search_id: str, t: morecantile.Tile, headers: dict | None = None, **params) -> httpx.Response:
    params = {"assets": "pan", "rescale": "0,4000", **params}
    url = f"{TILER}/searches/{search_id}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
    return httpx.get(url, params=params, headers=headers or {}, timeout=60)


def pixels(png: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(gray values, alpha) of a gray+alpha PNG tile."""
    assert png.startswith(PNG_MAGIC)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a PNG tile has no georeference
        with MemoryFile(png) as mem, mem.open() as img:
            data = img.read()
    return data[0], data[-1]


def test_public_tile_is_rendered_from_the_private_archive(scene, search_id):
    # The archive itself refuses anonymous reads: the tiler reads it with its own credentials.
    assert httpx.get(scene["assets"]["pan"]["href"], timeout=10).status_code == 403
    r = tile(search_id, center_tile(scene, PUBLIC_MAX_ZOOM))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"].startswith("public")
    gray, alpha = pixels(r.content)
    assert gray.shape == (256, 256)
    covered = alpha > 0
    # The scene covers part of the tile; its pixels are the simulated image, not flat.
    assert 0.01 < covered.mean() <= 1.0
    assert gray[covered].std() > 1 and gray[covered].max() > 0
    # Three bands of the multispectral asset make an RGB tile.
    r = tile(search_id, center_tile(scene, PUBLIC_MAX_ZOOM), assets="ms|bidx=3,2,1")
    assert r.status_code == 200, r.text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(r.content) as mem, mem.open() as img:
            assert img.count == 4  # RGB + alpha


def test_tile_away_from_the_scene_is_empty(scene, search_id):
    w, s, _, _ = scene["bbox"]
    far = WEB_MERCATOR.tile(w + 60, s + 20, PUBLIC_MAX_ZOOM)
    r = tile(search_id, far)
    assert r.status_code == 204 and r.content == b""


def test_full_resolution_tiles_need_an_account_and_show_only_readable_items(
    keyfile, operator, scene, search_id
):
    z = PUBLIC_MAX_ZOOM + 2
    t = center_tile(scene, z)
    r = tile(search_id, t)
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    _, member = new_member_org(keyfile, operator)
    r = tile(search_id, t, member.headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"].startswith("private")
    _, alpha = pixels(r.content)
    assert alpha.max() > 0
    # Not a member (an organisation DINAMIS does not know): refused with the reason.
    outsider = Caller(keyfile, uid("usr"), uid("org"), ["member"])
    r = tile(search_id, t, outsider.headers)
    assert r.status_code == 403 and r.json()["code"] == "not-a-member", r.text
    # A contractor whose commissioning body never obtained this scene: the scene is not drawn.
    _, body = new_member_org(keyfile, operator, category="french-public")
    now = datetime.now(UTC)
    _, contractor = new_member_org(
        keyfile,
        operator,
        category="contractor",
        commissioning_organisation_id=body.org,
        contract_start=(now - timedelta(days=1)).isoformat(),
        contract_end=(now + timedelta(days=60)).isoformat(),
    )
    r = tile(search_id, t, contractor.headers)
    assert r.status_code == 204, r.text


def test_bad_tile_requests_are_client_errors(scene, search_id):
    t = center_tile(scene, PUBLIC_MAX_ZOOM)
    cases = [
        (tile(search_id, t, assets="metadata-pan"), 400, "asset-not-drawable"),
        (tile(search_id, t, assets="thumbnail"), 400, "asset-not-drawable"),
        (tile(search_id, t, assets="nope"), 404, "invalid-asset-name"),
        (tile(search_id, t, tilesize="100000"), 400, "tilesize-too-large"),
        (tile(search_id, t, expression="__import__('os')"), 400, "invalid-expression"),
        (tile("0" * 32, t), 404, "mosaic-not-found"),
        (tile("../../etc", t), 404, None),
    ]
    for r, status, code in cases:
        assert r.status_code == status, (r.url, r.text)
        if code:
            assert r.json()["code"] == code, r.text
    for body in (
        {"filter": {"op": "bogus", "args": []}, "filter-lang": "cql2-json"},
        {"datetime": "garbage"},
        {"bbox": [1, 2, 3]},
    ):
        r = httpx.post(f"{TILER}/searches/register", json=body, timeout=30)
        assert 400 <= r.status_code < 500, (body, r.text)
