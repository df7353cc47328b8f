"""Map tiles (`dinamis-catalog-tiles`, titiler-pgstac) rendered from a real scene that
ingest archived in the private object store: a registered search, public PNG tiles at
10 m per pixel or coarser in every tile matrix set offered and tile size, authenticated
ones finer (only the items the caller may read); public tiles drawn from >= 10 m data,
averaged, with the server's stretch (the reviewer's multi-grid and windowed-rescale
attacks re-run); strict parameters, bounded registration, and the tiler's memory after
large tiles."""

from __future__ import annotations

import random
import re
import subprocess
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import morecantile
import numpy as np
import psycopg
import pytest
import rasterio
from pyproj import CRS, Geod, Transformer
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds
from rasterio.vrt import WarpedVRT

from dinamis_catalog.entrypoints.tiles import OFFERED_TMS  # the grids' geometry, not the rule
from dinamis_catalog.tiles_app import TilesSettings, gdal_environment
from dinamis_testkit.testing import start_service, stop_service
from tests.integration.orders_api import Caller, new_member_org, orders_api, uid
from tests.integration.scenes import ingest_scene
from tests.ports import free_ports

ORDERS, CATALOG, INGEST, TILES = free_ports(4)
API = f"http://127.0.0.1:{CATALOG}"
TILER = f"http://127.0.0.1:{TILES}"
PUBLIC_RESOLUTION_M = 10.0
OFFERED = {"WebMercatorQuad", "EuropeanETRS89_LAEAQuad", "FranceLambert93Quad"}
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GEOD = Geod(ellps="WGS84")
RUNNING: dict[str, subprocess.Popen] = {}


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("logs")
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": f"http://127.0.0.1:{ORDERS}",
        "DINAMIS_CATALOG_PUBLIC_URL": API,
        "DINAMIS_ORDERS_CATALOG_URL": API,
        "DINAMIS_CATALOG_TILES_HTTP_PORT": str(TILES),
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
            RUNNING[name] = procs[-1]
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
    return Caller.staff(keyfile)


@pytest.fixture(scope="module")
def member(keyfile, operator) -> Caller:
    operator.api = orders_api(ORDERS)
    return new_member_org(keyfile, operator)[1]


@pytest.fixture(scope="module")
async def scene(settings, services, tmp_path_factory):
    """A real scene, archived and indexed (searches below select it by id)."""
    lon, lat = random.uniform(0.5, 6.5), random.uniform(43.5, 49.0)
    return await ingest_scene(
        settings, API, tmp_path_factory.mktemp("scene"), lon, lat, datetime(2026, 5, 2, 10, 30, tzinfo=UTC)
    )


def register(body: dict, **kwargs) -> httpx.Response:
    return httpx.post(f"{TILER}/searches/register", json=body, timeout=30, **kwargs)


@pytest.fixture(scope="module")
async def fine_scene(settings, services, tmp_path_factory):
    """A 6 m scene (1024 px over 6144 m): its archive COG has one overview, at 12 m."""
    lon, lat = random.uniform(0.5, 6.5), random.uniform(43.5, 49.0)
    return await ingest_scene(
        settings,
        API,
        tmp_path_factory.mktemp("fine"),
        lon,
        lat,
        datetime(2026, 5, 3, 10, 30, tzinfo=UTC),
        size=1024,
        extent_m=6144,
    )


@pytest.fixture(scope="module")
def fine_search_id(fine_scene) -> str:
    r = register({"collections": [fine_scene["collection"]], "ids": [fine_scene["id"]]})
    assert r.status_code == 200, r.text
    return r.json()["id"]


@pytest.fixture(scope="module")
def search_id(scene) -> str:
    r = register({"collections": [scene["collection"]], "ids": [scene["id"]]})
    assert r.status_code == 200, r.text
    assert any(link["rel"] == "tilejson" for link in r.json()["links"])
    return r.json()["id"]


def centre(scene: dict) -> tuple[float, float]:
    w, s, e, n = scene["bbox"]
    return (w + e) / 2, (s + n) / 2


def center_tile(scene: dict, z: int, tms: morecantile.TileMatrixSet = WEB_MERCATOR) -> morecantile.Tile:
    return tms.tile(*centre(scene), z)


def tile(
    search_id: str,
    t: morecantile.Tile,
    headers: dict | None = None,
    tms: str = "WebMercatorQuad",
    fmt: str = "png",
    **params,
) -> httpx.Response:
    params = {"assets": "pan", **params}
    url = f"{TILER}/searches/{search_id}/tiles/{tms}/{t.z}/{t.x}/{t.y}.{fmt}"
    return httpx.get(url, params=params, headers=headers or {}, timeout=60)


def pixels(png: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(gray values, alpha) of a gray+alpha PNG tile."""
    assert png.startswith(PNG_MAGIC)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a PNG tile has no georeference
        with MemoryFile(png) as mem, mem.open() as img:
            data = img.read()
    return data[0], data[-1]


def metres_per_pixel(bounds: tuple[float, float, float, float], crs: CRS, width: int, height: int) -> float:
    """Ground metres of one pixel at the centre of an image covering `bounds` (in `crs`)
    with width x height pixels: geodesic lengths on WGS84 of one pixel east and north,
    the finer of the two."""
    left, bottom, right, top = bounds
    px, py = (right - left) / width, (top - bottom) / height
    cx, cy = (left + right) / 2, (bottom + top) / 2
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    (lon0, lon1, lon2), (lat0, lat1, lat2) = to_lonlat.transform([cx, cx + px, cx], [cy, cy, cy + py])
    return min(GEOD.inv(lon0, lat0, lon1, lat1)[2], GEOD.inv(lon0, lat0, lon2, lat2)[2])


def served_metres_per_pixel(r: httpx.Response) -> float:
    """The resolution of a served tile, from its own answer: Content-Bbox and Content-Crs
    headers and the image's size."""
    bounds = tuple(float(v) for v in r.headers["content-bbox"].split(","))
    crs = CRS.from_user_input(r.headers["content-crs"].strip("<>"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(r.content) as mem, mem.open() as img:
            width, height = img.width, img.height
    return metres_per_pixel(bounds, crs, width, height)  # type: ignore[arg-type]


def test_public_tile_is_rendered_from_the_private_archive(scene, search_id):
    # The archive itself refuses anonymous reads: the tiler reads it with its own credentials.
    assert httpx.get(scene["assets"]["pan"]["href"], timeout=10).status_code == 403
    r = tile(search_id, center_tile(scene, 12))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"].startswith("public")
    gray, alpha = pixels(r.content)
    assert gray.shape == (256, 256) and gray.dtype == np.uint8
    covered = alpha > 0
    # The scene covers part of the tile; its pixels are the simulated image, not flat.
    assert 0.01 < covered.mean() <= 1.0
    assert gray[covered].std() > 1 and gray[covered].max() > 0
    # Three bands of the multispectral asset make an RGB tile.
    r = tile(search_id, center_tile(scene, 12), assets="ms|bidx=3,2,1")
    assert r.status_code == 200, r.text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(r.content) as mem, mem.open() as img:
            assert img.count == 4  # RGB + alpha


def test_tile_away_from_the_scene_is_empty(scene, search_id):
    w, s, _, _ = scene["bbox"]
    far = WEB_MERCATOR.tile(w + 60, s + 20, 12)
    r = tile(search_id, far)
    assert r.status_code == 204 and r.content == b""


def test_anonymous_tiles_finer_than_10_m_per_pixel_are_refused_in_every_tms_and_size(scene, search_id):
    """For every tile matrix set offered, tile sizes 256 and 512, and the zooms around
    the public resolution: 401 when finer than 10 m per pixel, 200 and publicly cacheable
    when coarser, the resolution measured on the served tile itself."""
    r = httpx.get(f"{TILER}/searches/{search_id}/tiles", timeout=30)
    assert r.status_code == 200, r.text
    offered = {ts["links"][0]["href"].rstrip("/").split("/")[-1] for ts in r.json()["tilesets"]}
    assert offered == OFFERED
    table: list[tuple[str, int, int, float, int]] = []
    for tms_id in sorted(offered):
        tms = OFFERED_TMS[tms_id]
        for size in (256, 512):
            for z in range(tms.minzoom, tms.maxzoom + 1):
                t = center_tile(scene, z, tms)
                expected = metres_per_pixel(
                    tuple(tms.xy_bounds(t)), CRS.from_wkt(tms.rasterio_crs.to_wkt()), size, size
                )
                if not 2.5 <= expected <= 60:
                    continue
                r = tile(search_id, t, tms=tms_id, tilesize=str(size))
                table.append((tms_id, size, z, expected, r.status_code))
                if expected < PUBLIC_RESOLUTION_M:
                    assert r.status_code == 401, (tms_id, size, z, expected, r.text)
                    assert r.json()["code"] == "unauthenticated"
                    assert r.headers["cache-control"] == "private, no-store"
                else:
                    assert r.status_code == 200, (tms_id, size, z, expected, r.text)
                    served = served_metres_per_pixel(r)
                    assert served == pytest.approx(expected, rel=1e-3) and served >= PUBLIC_RESOLUTION_M
                    assert r.headers["cache-control"].startswith("public")
                    assert pixels(r.content)[0].dtype == np.uint8
    print("\n".join(f"{t} {s} z{z} {m:.2f} m/px -> {st}" for t, s, z, m, st in table))
    for tms_id in OFFERED:  # each TMS has both answers in the range
        assert {st for t, _, _, _, st in table if t == tms_id} == {200, 401}


def test_full_resolution_tiles_need_an_account_and_show_only_readable_items(
    keyfile, operator, member, scene, search_id
):
    t = center_tile(scene, 14)  # 6.6 m per pixel
    r = tile(search_id, t)
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    r = tile(search_id, t, member.headers, rescale="0,4000")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "private, no-store"
    assert served_metres_per_pixel(r) < PUBLIC_RESOLUTION_M
    _, alpha = pixels(r.content)
    assert alpha.max() > 0
    # The same zoom 13 tile is public at 256 px (13 m) and not at 512 px (6.6 m).
    t13 = center_tile(scene, 13)
    assert tile(search_id, t13).status_code == 200
    assert tile(search_id, t13, tilesize="512").status_code == 401
    r = tile(search_id, t13, member.headers, tilesize="512", rescale="0,4000")
    assert r.status_code == 200 and r.headers["cache-control"] == "private, no-store"
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


def expected_public_tile(
    scene: dict, tms: morecantile.TileMatrixSet, t: morecantile.Tile, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Our own rendering of a public tile, from the archive COG: its first overview at or
    above 10 m, warped to the tile's grid with average resampling, stretched 0-4095 to
    0-255 (rio-tiler's linear rescale, truncated): (gray, valid)."""
    from dinamis_catalog.entrypoints.tiles import archive_path

    settings = TilesSettings()
    path = archive_path(scene["assets"]["pan"]["href"], settings.s3_public_url)
    assert path is not None
    with rasterio.open(path) as full:
        assert abs(full.transform.a) < PUBLIC_RESOLUTION_M and full.overviews(1) == [2]
        with rasterio.open(path, overview_level=0) as overview:
            assert abs(overview.transform.a) >= PUBLIC_RESOLUTION_M
            grid = from_bounds(*tms.xy_bounds(t), size, size)
            crs = rasterio.CRS.from_wkt(tms.rasterio_crs.to_wkt())
            with WarpedVRT(
                overview, crs=crs, transform=grid, width=size, height=size, resampling=Resampling.average
            ) as vrt:
                values, valid = vrt.read(1).astype("float64"), vrt.read_masks(1) > 0
    gray = np.trunc(np.clip(values, 0, 4095) / 4095 * 255).astype(np.uint8)
    return gray, valid


def test_public_tiles_are_averaged_from_10_m_data_with_the_server_stretch(
    fine_scene, fine_search_id, monkeypatch
):
    """The reviewer's attack re-run on a 6 m scene: whatever tile size, grid or rescale an
    anonymous client asks, a public tile equals our own rendering of the COG's 12 m
    overview (average, fixed stretch); the windowed rescales and other sizes are refused."""
    cases = [
        ("WebMercatorQuad", 13, 256),  # ~9-13 m depending on latitude: public only >= 10 m
        ("WebMercatorQuad", 12, 512),
        ("WebMercatorQuad", 12, 256),
        ("EuropeanETRS89_LAEAQuad", 10, 256),  # 17.2 m
        ("FranceLambert93Quad", 8, 512),  # 9.4 m at 512: private; 256 is 18.75 m
        ("FranceLambert93Quad", 8, 256),
    ]
    for name, value in gdal_environment(TilesSettings()).items():  # to read the archive COG
        monkeypatch.setenv(name, value)
    compared = 0
    for tms_id, z, size in cases:
        tms = OFFERED_TMS[tms_id]
        t = center_tile(fine_scene, z, tms)
        r = tile(fine_search_id, t, tms=tms_id, tilesize=str(size))
        if r.status_code == 401:  # finer than 10 m here
            continue
        assert r.status_code == 200, (tms_id, z, size, r.text)
        gray, alpha = pixels(r.content)
        expected, valid = expected_public_tile(fine_scene, tms, t, size)
        both = (alpha > 0) & valid
        assert both.mean() > 0.05, (tms_id, z, size)
        diff = np.abs(gray[both].astype(int) - expected[both].astype(int))
        assert diff.max() <= 1 and (diff == 0).mean() > 0.99, (tms_id, z, size, diff.max())
        compared += 1
        # The windowed rescales (exact 12-bit values in 17 PNGs), resampling choices,
        # buffers and other sizes: refused, with the reason.
        for params, code in (
            ({"rescale": "0,255"}, "rescale-not-allowed"),
            ({"rescale": "255,510"}, "rescale-not-allowed"),
            ({"resampling": "nearest"}, "resampling-not-allowed"),
            ({"reproject": "nearest"}, "reproject-not-allowed"),
            ({"expression": "b1*16"}, "expression-not-allowed"),
            ({"assets": "pan|expression=b1*16"}, "asset-option-not-allowed"),
            ({"nodata": "1000"}, "nodata-not-allowed"),
            ({"buffer": "1"}, "buffer-not-allowed"),
            ({"padding": "1"}, "padding-not-allowed"),
        ):
            refused = tile(fine_search_id, t, tms=tms_id, tilesize=str(size), **params)
            assert refused.status_code == 400, (params, refused.text)
            assert refused.json()["code"] == code, refused.text
        r = tile(fine_search_id, t, tms=tms_id, tilesize=str(size), rescale="0,255")
        assert "n'est pas permis sur les tuiles publiques" in r.json()["detail"]
        for fmt in ("jpeg", "webp"):
            assert tile(fine_search_id, t, tms=tms_id, tilesize=str(size), fmt=fmt).status_code == 200
    assert compared >= 4


def test_an_anonymous_client_gets_two_tile_sizes_per_offered_grid(fine_scene, fine_search_id):
    """The set of grids a public tile can be drawn on: 256 and 512 px in each offered
    tile matrix set, nothing else."""
    for tms_id in sorted(OFFERED):
        tms = OFFERED_TMS[tms_id]
        sizes_served: set[int] = set()
        for z in range(tms.minzoom, tms.maxzoom + 1):
            t = center_tile(fine_scene, z, tms)
            if (
                not 10
                <= metres_per_pixel(
                    tuple(tms.xy_bounds(t)), CRS.from_wkt(tms.rasterio_crs.to_wkt()), 256, 256
                )
                <= 60
            ):
                continue
            for size in (64, 128, 200, 255, 256, 257, 300, 384, 511, 512):
                r = tile(fine_search_id, t, tms=tms_id, tilesize=str(size))
                if r.status_code == 200:
                    sizes_served.add(size)
                else:
                    assert r.status_code in (400, 401), (tms_id, z, size, r.text)
                    if r.status_code == 400:
                        assert r.json()["code"] == "tilesize-not-allowed"
        assert sizes_served <= {256, 512} and 256 in sizes_served, (tms_id, sizes_served)


def test_members_keep_their_choices_on_tiles_finer_than_public(member, fine_scene, fine_search_id):
    t = center_tile(fine_scene, 15)  # ~3.3 m per pixel
    assert tile(fine_search_id, t, rescale="0,255").status_code == 401
    drawn = {}
    for rescale in ("0,255", "0,4000"):
        r = tile(fine_search_id, t, member.headers, rescale=rescale, resampling="nearest", tilesize="300")
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "private, no-store"
        gray, alpha = pixels(r.content)
        assert gray.shape == (300, 300) and alpha.max() > 0
        drawn[rescale] = gray[alpha > 0]
    assert not np.array_equal(drawn["0,255"], drawn["0,4000"])
    # Without rescale: the server's stretch, also for members.
    assert tile(fine_search_id, t, member.headers, buffer="2").status_code == 200


def test_unlisted_tile_matrix_sets_are_not_found(scene, search_id):
    for tms_id in ("CDB1GlobalGrid", "WorldCRS84Quad", "UTM31WGS84Quad", "LINZAntarticaMapTilegrid"):
        tms = morecantile.tms.get(tms_id)
        t = tms.tile(*centre(scene), min(8, tms.maxzoom))
        for r in (
            tile(search_id, t, tms=tms_id),
            httpx.get(
                f"{TILER}/searches/{search_id}/{tms_id}/tilejson.json?assets=pan&rescale=0,1", timeout=10
            ),
            httpx.get(f"{TILER}/searches/{search_id}/tiles/{tms_id}", timeout=10),
        ):
            assert r.status_code == 404, (tms_id, r.url, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            problem = r.json()
            assert (
                problem["code"] == "tile-matrix-set-not-offered" and "n'est pas proposée" in problem["detail"]
            )
    r = tile(search_id, morecantile.Tile(0, 0, 8), tms="CDB1GlobalGrid", headers={"Accept-Language": "en"})
    assert r.status_code == 404 and r.json()["detail"].startswith("tile matrix set"), r.text


def test_bypass_strings_and_abusive_parameters_are_refused(scene, search_id, member):
    t = center_tile(scene, 12)
    for raw in ("4096", "+4096", "4096.0", "4_096", " 4096", "4096 ", " 256", "0256", "513", "1024"):
        r = tile(search_id, t, tilesize=raw)
        assert r.status_code == 422 and r.json()["code"] == "invalid-tile-parameter", (raw, r.text)
    abusive = [
        {"buffer": "1000"},
        {"buffer": "0.5"},
        {"padding": "1000"},
        {"scan_limit": "1000000000"},
        {"items_limit": "1000000"},
        {"time_limit": "3600"},
        {"exitwhenfull": "1"},
        {"algorithm": "terrainrgb"},
        {"rescale": "4000,0"},
    ]
    for params in abusive:
        for headers in ({}, member.headers):  # authenticated callers have the same bounds
            r = tile(search_id, t, headers, **params)
            assert r.status_code == 422 and r.json()["code"] == "invalid-tile-parameter", (params, r.text)
    # A repeated scalar (FastAPI would take the last one).
    url = f"{TILER}/searches/{search_id}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
    r = httpx.get(f"{url}?assets=pan&rescale=0,4000&tilesize=256&tilesize=4096", timeout=30)
    assert r.status_code == 422, r.text
    # Raw exports: only 8-bit png/jpeg/webp pictures.
    for fmt in ("tif", "tiff", "npy", "pngraw", "jp2"):
        for headers in ({}, member.headers):
            r = tile(search_id, t, headers, fmt=fmt)
            assert r.status_code == 400 and r.json()["code"] == "tile-format-not-offered", (fmt, r.text)
    for fmt, media in (("png", "image/png"), ("jpeg", "image/jpeg"), ("webp", "image/webp")):
        r = tile(search_id, t, fmt=fmt)
        assert r.status_code == 200 and r.headers["content-type"] == media, (fmt, r.text)
    r = httpx.get(f"{TILER}/searches/{search_id}/WebMercatorQuad/tilejson.json?assets=pan", timeout=30)
    assert r.status_code == 200 and "rescale" not in r.json()["tiles"][0]  # the server's stretch
    r = httpx.get(
        f"{TILER}/searches/{search_id}/WebMercatorQuad/tilejson.json?assets=pan&rescale=0,4000&tile_format=tif",
        timeout=30,
    )
    assert r.status_code == 422


def test_bad_tile_requests_are_client_errors(scene, search_id):
    t = center_tile(scene, 12)
    cases = [
        (tile(search_id, t, assets="metadata-pan"), 400, "asset-not-drawable"),
        (tile(search_id, t, assets="thumbnail"), 400, "asset-not-drawable"),
        (tile(search_id, t, assets="nope"), 404, "invalid-asset-name"),
        (tile(search_id, t, expression="__import__('os')"), 400, "expression-not-allowed"),
        (tile("0" * 32, t), 404, "mosaic-not-found"),
        (tile("../../etc", t), 404, None),
    ]
    for r, status, code in cases:
        assert r.status_code == status, (r.url, r.text)
        if code:
            assert r.json()["code"] == code, r.text
        # titiler's exception text (asset lists, /vsis3 paths) is logged, not returned.
        assert "vsis3" not in r.text and "should be one of" not in r.text, r.text


def test_registration_refuses_bad_searches_with_4xx_and_no_sql_text(scene):
    for body in (
        {"filter": {"op": "bogus", "args": []}, "filter-lang": "cql2-json"},
        {"filter": {"op": "=", "args": [{"property": "x"}, {"timestamp": "not a date"}]}},
        {"datetime": "garbage"},
        {"bbox": [1, 2, 3]},
        # Sensor-geometry-like: an invalid bbox beside a geometry (was a KeyError 500).
        {"bbox": [1, 2, 3], "intersects": {"type": "Point", "coordinates": [1, 2]}},
        {"bbox": [0, 0, 1, 1], "intersects": {"type": "Point", "coordinates": [1, 2]}},
        {"collections": ["x"], "metadata": {"defaults": {"a": 1}}},
        {"collections": ["x"], "metadata": {"defaults": {"a": {"rescale": [5]}}}},
        {"collections": ["x"], "metadata": {"type": "search"}},
    ):
        r = register(body)
        assert 400 <= r.status_code < 500, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json", (body, r.text)
        text = r.text.lower()
        for leak in ("select", "pgstac", "error:", "line ", "context:", "sql"):
            assert leak not in text, (body, r.text)


def test_expired_registrations_are_not_found_until_registered_again(settings, scene):
    body = {"collections": [scene["collection"]], "ids": [scene["id"]], "metadata": {"name": uid("exp")}}
    search = register(body).json()["id"]
    with psycopg.connect(settings.postgres_dsn.get_secret_value()) as conn:
        conn.execute(
            "UPDATE pgstac.searches SET lastused = now() - interval '31 days' WHERE hash = %s", (search,)
        )
    r = tile(search, center_tile(scene, 12))
    assert r.status_code == 404 and r.json()["code"] == "search-expired", r.text
    lon, lat = centre(scene)
    w, s, e, n = scene["bbox"]
    for path in (f"point/{lon},{lat}/assets", f"bbox/{w},{s},{e},{n}/assets"):
        r = httpx.get(f"{TILER}/searches/{search}/{path}", timeout=30)
        assert r.status_code == 404 and r.json()["code"] == "search-expired", (path, r.text)
    assert register(body).json()["id"] == search
    assert tile(search, center_tile(scene, 12)).status_code == 200


def test_memory_returns_to_its_baseline_after_large_tiles(scene, search_id, member):
    """512 px tiles of every offered grid (authenticated, finer than public) leave the
    tiler's resident memory within 150 MB of its baseline."""
    proc = RUNNING["catalog-tiles"]

    def rss_mb() -> float:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) / 1024  # type: ignore[index]

    grids = {tms_id: OFFERED_TMS[tms_id] for tms_id in sorted(OFFERED)}
    zooms = {
        "WebMercatorQuad": (14, 15, 16),
        "EuropeanETRS89_LAEAQuad": (12, 13, 14),
        "FranceLambert93Quad": (10, 11, 12),
    }

    def round_of_tiles() -> None:
        for tms_id, tms in grids.items():
            for z in zooms[tms_id]:
                r = tile(search_id, center_tile(scene, z, tms), member.headers, tms=tms_id, tilesize="512")
                assert r.status_code == 200, r.text  # the scene's centre: always drawn

    round_of_tiles()  # warm: COGs opened, caches filled
    time.sleep(1)
    baseline = rss_mb()
    peak = baseline
    for _ in range(3):
        round_of_tiles()
        peak = max(peak, rss_mb())
    time.sleep(2)
    after = rss_mb()
    print(f"tiler RSS: baseline {baseline:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB")
    assert after <= baseline + 150, (baseline, peak, after)


def test_registration_body_and_rate_are_bounded(scene):
    """Last in this module: it spends the per-minute registrations of this address."""
    r = register({"collections": ["x"], "ids": ["a" * 70_000]})
    assert r.status_code == 413 and r.json()["code"] == "registration-too-large", r.text
    big = b'{"collections": ["x"], "ids": ["' + b"a" * 70_000 + b'"]}'
    r = httpx.post(
        f"{TILER}/searches/register",
        content=iter([big[:30_000], big[30_000:]]),  # chunked: no Content-Length
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 413, r.text
    statuses = [register({"collections": ["x"], "ids": [uid("rate")]}).status_code for _ in range(35)]
    assert 429 in statuses and statuses.count(200) <= 30, statuses
    r = register({"collections": ["x"], "ids": [uid("rate")]})
    assert r.status_code == 429 and r.json()["code"] == "too-many-registrations"


async def test_sensor_geometry_items_answer_4xx_not_500(settings, services, tmp_path_factory, member):
    """A scene in sensor geometry (image tiles located by RPCs, no map projection): its
    tiles are answered, or refused with a 4xx problem — never a server error."""
    lon, lat = random.uniform(0.5, 6.5), random.uniform(43.5, 49.0)
    sensor = await ingest_scene(
        settings,
        API,
        tmp_path_factory.mktemp("sensor"),
        lon,
        lat,
        datetime(2026, 5, 4, 10, 30, tzinfo=UTC),
        level="SENSOR",
    )
    # Registered as the member: anonymous registrations of this module's client address
    # may be spent by the rate-limit test.
    r = register({"collections": [sensor["collection"]], "ids": [sensor["id"]]}, headers=member.headers)
    assert r.status_code == 200, r.text
    search = r.json()["id"]
    for z, headers in ((12, None), (15, member.headers)):
        answer = tile(search, center_tile(sensor, z), headers)
        assert answer.status_code < 500, (z, answer.status_code, answer.text[:300])
        if answer.status_code >= 400:
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["code"] == "sensor-geometry", answer.text
