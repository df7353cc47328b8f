"""Tiles: which hrefs the tiler may read, the ground resolution that makes a tile public,
strict tile parameters, what public tiles read and how they are stretched, search
registration bounds, and how tiles may be cached (no server needed)."""

from __future__ import annotations

import contextlib
import math

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from pydantic import ValidationError
from rasterio.enums import Resampling
from rasterio.transform import from_bounds, from_origin
from rasterio.vrt import WarpedVRT
from rio_tiler.models import ImageData
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from dinamis_catalog.entrypoints.tiles import (
    OFFERED_TMS,
    InvalidTileParameter,
    PublicAssetReader,
    RateLimiter,
    RegisterBody,
    RegisterBodyLimit,
    TileMatrixSetNotOffered,
    TileRequestRefused,
    archive_path,
    cache_control,
    check_public_query,
    check_tile_query,
    ground_resolution,
    open_public,
    pixel_metres,
    public_stretch,
    render_8bit,
    strict_int,
    tile_address,
)
from dinamis_catalog.tiles_app import TilesSettings, gdal_environment

ARCHIVE = "http://127.0.0.1:8333"
EQUATORIAL_CIRCUMFERENCE = 2 * math.pi * 6378137.0


@pytest.mark.parametrize(
    ("href", "path"),
    [
        (
            f"{ARCHIVE}/archive/pleiades-neo-ortho/2026/06/01/S1/v1/pan.tif",
            "/vsis3/archive/pleiades-neo-ortho/2026/06/01/S1/v1/pan.tif",
        ),
        (
            "s3://archive/spot-6-7-ortho/2026/06/01/S2/v1/ms.tif",
            "/vsis3/archive/spot-6-7-ortho/2026/06/01/S2/v1/ms.tif",
        ),
        (f"{ARCHIVE}/staging/airbus/S1/pan.tif", None),
        (f"{ARCHIVE}/delivery/ord-1/p.tif", None),
        (f"{ARCHIVE}/archive/../staging/x.tif", None),
        (f"{ARCHIVE}/archive/a//b.tif", None),
        (f"{ARCHIVE}/archive/x.tif?X-Amz-Signature=1", None),
        (f"{ARCHIVE}/archive/", None),
        ("https://evil.example.com/archive/x.tif", None),
        ("http://127.0.0.1:18102/previews/c/i/thumbnail", None),
        ("/vsis3/archive/x.tif", None),
        ("file:///etc/passwd", None),
    ],
)
def test_only_archive_objects_are_read(href, path):
    assert archive_path(href, ARCHIVE) == path


# --- Ground resolution ---------------------------------------------------------------


def test_only_the_portal_tile_matrix_sets_are_offered():
    assert list(OFFERED_TMS) == ["WebMercatorQuad", "EuropeanETRS89_LAEAQuad", "FranceLambert93Quad"]
    assert OFFERED_TMS["FranceLambert93Quad"].crs.to_epsg() == 2154
    for name in ("CDB1GlobalGrid", "WorldCRS84Quad", "UTM31WGS84Quad", "webmercatorquad", "../x"):
        with pytest.raises(TileMatrixSetNotOffered) as refused:
            tile_address({"tileMatrixSetId": name, "z": "8", "x": "0", "y": "0"}, {})
        assert refused.value.http_status == 404 and "grille" in (refused.value.message_fr or "")


@pytest.mark.parametrize("lat", [0.0, 43.5, 46.0, 49.0, 60.0])
@pytest.mark.parametrize("tilesize", [None, 256, 512, 64])
@pytest.mark.parametrize("z", [0, 5, 10, 13, 14, 18])
def test_web_mercator_resolution_is_the_cell_size_times_cos_latitude(lat, tilesize, z):
    tms = OFFERED_TMS["WebMercatorQuad"]
    t = tms.tile(2.0, lat, z)
    lat_centre = (tms.bounds(t).bottom + tms.bounds(t).top) / 2
    expected = (
        EQUATORIAL_CIRCUMFERENCE / (256 * 2**z) * 256 / (tilesize or 256) * math.cos(math.radians(lat_centre))
    )
    # Geodesic on the WGS84 ellipsoid vs the spherical cos(latitude): within 1 % (spherical
    # Mercator is not conformal on the ellipsoid; the rule takes the finer direction).
    resolution = ground_resolution(tms, z, t.x, t.y, tilesize)
    assert resolution == pytest.approx(expected, rel=1e-2)


@pytest.mark.parametrize("name", ["EuropeanETRS89_LAEAQuad", "FranceLambert93Quad"])
@pytest.mark.parametrize("tilesize", [256, 512])
@pytest.mark.parametrize("z", [4, 8, 9, 10, 11, 12])
def test_projected_resolution_is_the_cell_size_on_the_ground_in_france(name, tilesize, z):
    """Equal-area and conformal projections of France: a projected metre is a ground metre
    within 0.5 % (scale factors near 1)."""
    tms = OFFERED_TMS[name]
    for lon, lat in ((2.35, 48.85), (-4.48, 48.39), (9.15, 42.15), (7.75, 48.58)):
        t = tms.tile(lon, lat, z)
        expected = tms.matrix(z).cellSize * tms.matrix(z).tileWidth / tilesize
        assert ground_resolution(tms, z, t.x, t.y, tilesize) == pytest.approx(expected, rel=5e-3)


def test_the_found_extraction_routes_are_finer_than_public():
    """The finding: LAEA zoom 13 with 1024 px tiles was 0.54 m/px, served anonymously."""
    laea = OFFERED_TMS["EuropeanETRS89_LAEAQuad"]
    t = laea.tile(2.35, 48.85, 13)
    assert ground_resolution(laea, 13, t.x, t.y, 1024) == pytest.approx(0.54, rel=0.02)
    assert ground_resolution(laea, 13, t.x, t.y, 512) < 10


def test_tile_address_holds_the_rule_per_tms_and_tile_size():
    from dinamis_catalog.entrypoints.tiles import is_public

    web = OFFERED_TMS["WebMercatorQuad"]
    t = web.tile(2.35, 46.0, 13)
    path = {"tileMatrixSetId": "WebMercatorQuad", "z": "13", "x": str(t.x), "y": str(t.y)}
    assert is_public(tile_address(path, {}), 10.0)  # 13.3 m
    assert is_public(tile_address(path, {"tilesize": 256}), 10.0)
    assert not is_public(tile_address(path, {"tilesize": 512}), 10.0)  # 6.6 m
    laea = OFFERED_TMS["EuropeanETRS89_LAEAQuad"]
    t = laea.tile(2.35, 46.0, 10)
    path = {"tileMatrixSetId": laea.id, "z": "10", "x": str(t.x), "y": str(t.y)}
    assert is_public(tile_address(path, {"tilesize": 256}), 10.0)  # 17.2 m
    assert not is_public(tile_address(path, {"tilesize": 512}), 10.0)  # 8.6 m


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ({"z": "25", "x": "0", "y": "0"}, 422),  # beyond the matrices
        ({"z": "1", "x": "2", "y": "0"}, 422),  # beyond the matrix width
        ({"z": "1", "x": "0", "y": "-1"}, 422),
        ({"z": "+1", "x": "0", "y": "0"}, 422),
        ({"z": "01", "x": "0", "y": "0"}, 422),
    ],
)
def test_tiles_outside_their_matrix_are_refused(path, status):
    with pytest.raises(InvalidTileParameter) as refused:
        tile_address({"tileMatrixSetId": "WebMercatorQuad", **path}, {})
    assert refused.value.http_status == status


# --- Strict parameters ---------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["4096", "+4096", "4096.0", "4_096", " 256", "256 ", "0256", "-256", "2.56e2", "", "512 "]
)
def test_tilesize_is_a_plain_bounded_integer(raw):
    with pytest.raises(InvalidTileParameter) as refused:
        check_tile_query({"tilesize": [raw], "rescale": ["0,4000"]})
    assert refused.value.http_status == 422 and refused.value.message_fr


@pytest.mark.parametrize(
    ("query", "ok"),
    [
        ({"tilesize": ["512"]}, True),
        ({"tilesize": ["256"]}, True),
        ({"tilesize": ["513"]}, False),
        ({"tilesize": ["256", "4096"]}, False),  # a repeated scalar: FastAPI would take the last
        ({"buffer": ["32"]}, True),
        ({"buffer": ["33"]}, False),
        ({"buffer": ["0.5"]}, False),
        ({"padding": ["1000"]}, False),
        ({"scan_limit": ["10000"]}, True),
        ({"scan_limit": ["100000000"]}, False),
        ({"items_limit": ["101"]}, False),
        ({"time_limit": ["10"]}, True),
        ({"time_limit": ["3600"]}, False),
        ({"exitwhenfull": ["false"]}, True),
        ({"exitwhenfull": ["0"]}, False),
        ({"algorithm": ["terrainrgb"]}, False),
        ({"tile_format": ["tif"]}, False),
        ({"tile_format": ["webp"]}, True),
        ({"assets": ["pan", "ms"]}, True),
    ],
)
def test_tile_parameters_are_bounded(query, ok):
    query = {"rescale": ["0,4000"], **query}
    if ok:
        check_tile_query(query)
    else:
        with pytest.raises(InvalidTileParameter):
            check_tile_query(query)


@pytest.mark.parametrize("rescale", [["0"], ["4000,0"], ["0,0"], ["0,nan"], ["0,inf"], ["a,b"], ["0,1"] * 5])
def test_a_client_rescale_is_well_formed(rescale):
    with pytest.raises(InvalidTileParameter):
        check_tile_query({"rescale": rescale})
    check_tile_query({"rescale": ["0,4000", "-1.5,2.25"]})
    check_tile_query({})  # optional: the server's stretch


# --- Public tiles ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({}, None),
        ({"tilesize": ["256"]}, None),
        ({"tilesize": ["512"]}, None),
        ({"tilesize": ["64"]}, "tilesize-not-allowed"),
        ({"tilesize": ["255"]}, "tilesize-not-allowed"),
        ({"tilesize": ["384"]}, "tilesize-not-allowed"),
        ({"assets": ["pan"], "bidx": ["1"]}, None),
        ({"assets": ["ms|bidx=3,2,1"]}, None),
        ({"assets": ["ms|expression=b1*16"]}, "asset-option-not-allowed"),
        ({"rescale": ["0,255"]}, "rescale-not-allowed"),
        ({"rescale": ["0,4000"]}, "rescale-not-allowed"),
        ({"buffer": ["1"]}, "buffer-not-allowed"),
        ({"padding": ["1"]}, "padding-not-allowed"),
        ({"resampling": ["nearest"]}, "resampling-not-allowed"),
        ({"resampling": ["average"]}, "resampling-not-allowed"),
        ({"reproject": ["nearest"]}, "reproject-not-allowed"),
        ({"expression": ["b1%256"]}, "expression-not-allowed"),
        ({"nodata": ["1234"]}, "nodata-not-allowed"),
        ({"unscale": ["true"]}, "unscale-not-allowed"),
        ({"color_formula": ["gamma r 2"]}, "color-formula-not-allowed"),
    ],
)
def test_public_tiles_take_no_sampling_or_stretch_parameter(query, code):
    ints = check_tile_query(query)
    if code is None:
        check_public_query(query, ints)
        return
    with pytest.raises(TileRequestRefused) as refused:
        check_public_query(query, ints)
    assert refused.value.http_status == 400 and refused.value.code == code
    assert "n'est pas permis" in (refused.value.message_fr or "") or "tuiles publiques" in (
        refused.value.message_fr or ""
    )


def test_refused_rescale_says_so_in_french():
    with pytest.raises(TileRequestRefused) as refused:
        check_public_query({"rescale": ["0,255"]}, {})
    assert (refused.value.message_fr or "").startswith("rescale n'est pas permis sur les tuiles publiques")


@pytest.fixture(scope="module")
def cog_6m(tmp_path_factory):
    """A 12-bit 1024 px image at 6 m (noise: every pixel differs), as a COG with one
    overview (12 m, average), and a 300 px one without overview."""
    tmp = tmp_path_factory.mktemp("cog")
    data = np.random.default_rng(7).integers(0, 4096, (1024, 1024)).astype("uint16")
    profile = {
        "driver": "GTiff",
        "count": 1,
        "dtype": "uint16",
        "crs": "EPSG:32631",
        "transform": from_origin(448000, 5412000, 6, 6),
    }
    with rasterio.open(tmp / "src.tif", "w", width=1024, height=1024, **profile) as dst:
        dst.write(data, 1)
    rasterio.shutil.copy(
        tmp / "src.tif", tmp / "cog.tif", driver="COG", BLOCKSIZE="512", OVERVIEW_RESAMPLING="AVERAGE"
    )
    with rasterio.open(tmp / "small.tif", "w", width=300, height=300, **profile) as dst:
        dst.write(data[:300, :300], 1)
    return tmp, data


def test_public_reads_come_from_data_at_least_10_m(cog_6m):
    tmp, data = cog_6m
    with contextlib.ExitStack() as stack:
        assert pixel_metres(stack.enter_context(rasterio.open(tmp / "cog.tif"))) == 6.0
        overview = open_public(str(tmp / "cog.tif"), 10.0, stack)  # the COG's 12 m overview
        assert (
            not isinstance(overview, WarpedVRT) and overview.width == 512 and pixel_metres(overview) == 12.0
        )
        # No overview that coarse: a whole-factor average decimation (5 x 6 m).
        decimated = open_public(str(tmp / "cog.tif"), 30.0, stack)
        assert isinstance(decimated, WarpedVRT) and pixel_metres(decimated) == 30.0
        small = open_public(str(tmp / "small.tif"), 10.0, stack)
        assert pixel_metres(small) == 12.0
        assert small.read(1)[0, 0] == pytest.approx(data[:2, :2].mean(), abs=1)


@pytest.mark.parametrize("tilesize", [256, 512])
def test_public_tiles_are_averaged_from_the_overview_whatever_the_client_asks(cog_6m, tilesize):
    tmp, _ = cog_6m
    tms = OFFERED_TMS["WebMercatorQuad"]
    with rasterio.open(tmp / "cog.tif") as src:
        w, s, e, n = rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    t = tms.tile((w + e) / 2, (s + n) / 2, 13)
    with rasterio.open(tmp / "cog.tif", overview_level=0) as overview:
        grid = from_bounds(*tms.xy_bounds(t), tilesize, tilesize)
        with WarpedVRT(
            overview,
            crs="EPSG:3857",
            transform=grid,
            width=tilesize,
            height=tilesize,
            resampling=Resampling.average,
        ) as vrt:
            expected = vrt.read(1)
    with PublicAssetReader(str(tmp / "cog.tif"), tms=tms, public_resolution_m=10.0) as reader:
        asked = reader.tile(
            t.x,
            t.y,
            t.z,
            tilesize=tilesize,
            resampling_method="nearest",
            reproject_method="nearest",
            buffer=4,
        )
        with pytest.raises(TileRequestRefused):
            reader.tile(t.x, t.y, t.z, tilesize=tilesize, expression="b1*16")
    assert asked.data.shape == (1, tilesize, tilesize)
    np.testing.assert_array_equal(asked.data[0], expected)


def test_the_server_stretch_per_collection_statistics_or_data_type():
    uint16 = ImageData(np.ma.MaskedArray(np.zeros((2, 4, 4), "uint16")))
    assert public_stretch(uint16, "spot", {"spot": (100, 3000)}, (0, 4095)) == [(100.0, 3000.0)] * 2
    assert public_stretch(uint16, "pneo", {"spot": (100, 3000)}, (0, 4095)) == [(0, 4095)] * 2
    uint16.dataset_statistics = [(10, 2000), (20, 3000)]
    assert public_stretch(uint16, "pneo", {}, (0, 4095)) == [(10.0, 2000.0), (20.0, 3000.0)]
    uint8 = ImageData(np.ma.MaskedArray(np.zeros((1, 4, 4), "uint8")))
    assert public_stretch(uint8, None, {}, (0, 4095)) == [(0.0, 255.0)]


def test_tiles_are_rendered_in_8_bits_with_or_without_a_client_rescale():
    stretched = ImageData(np.ma.MaskedArray(np.full((1, 8, 8), 200.0)))  # a mean of stretched items
    content, media = render_8bit(stretched, output_format=None)
    assert media in ("image/png", "image/jpeg") and content
    assert stretched.data.dtype == np.uint8 and stretched.data.max() == 200
    raw = ImageData(np.ma.MaskedArray(np.full((1, 8, 8), 2000, "uint16")))
    render_8bit(raw, rescale=[(0, 4000)], output_format=None)
    assert raw.data.dtype == np.uint8 and raw.data.max() == 127


def test_strict_int():
    assert strict_int("x", "0", 0, 3) == 0 and strict_int("x", "3", 0, 3) == 3
    for raw in ("4", "-0", "３", "0x1", "1e1"):
        with pytest.raises(InvalidTileParameter):
            strict_int("x", raw, 0, 3)


# --- Registration --------------------------------------------------------------------


def test_registration_body_is_validated_without_a_500():
    # An invalid bbox beside `intersects`: titiler's validator raised KeyError (a 500).
    with pytest.raises(ValidationError):
        RegisterBody.model_validate(
            {"bbox": [1, 2, 3], "intersects": {"type": "Point", "coordinates": [1, 2]}}
        )
    with pytest.raises(ValidationError):
        RegisterBody.model_validate(
            {"bbox": [0, 0, 1, 1], "intersects": {"type": "Point", "coordinates": [1, 2]}}
        )
    for defaults in ({"a": 1}, {"a": "x"}, {"a": [1]}):
        with pytest.raises(ValidationError):
            RegisterBody.model_validate({"metadata": {"defaults": defaults}})
    with pytest.raises(ValidationError):
        RegisterBody.model_validate({"metadata": {"type": "search"}})
    body = RegisterBody.model_validate(
        {"collections": ["c"], "metadata": {"defaults": {"a": {"rescale": [[0, 1]]}}}}
    )
    assert body.metadata.type == "mosaic" and body.metadata.defaults_params["a"]["rescale"] == ["0,1"]


def test_rate_limiter_slides_per_key():
    limiter = RateLimiter(3)
    assert [limiter.allow("a", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limiter.allow("b", now=3)
    assert not limiter.allow("a", now=59.9) and limiter.allow("a", now=60.5)


async def test_register_body_is_capped_before_parsing():
    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    app = RegisterBodyLimit(Starlette(routes=[Route("/searches/register", echo, methods=["POST"])]), 1024)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/searches/register", content=b'{"a": "' + b"x" * 1015 + b'"}')
        assert r.status_code == 200 and r.text == "1024"
        for body, code in [
            (b"[1]", "invalid-body"),
            (b'{"bbox": [NaN, 1, 2, 3]}', "invalid-json"),
            (b"{", "invalid-json"),
        ]:
            r = await client.post("/searches/register", content=body)
            assert r.status_code == 400 and r.json()["code"] == code, r.text
        r = await client.post("/searches/register", content=b"x" * 1025)
        assert r.status_code == 413 and r.json()["code"] == "registration-too-large"
        assert "dépasse" in r.json()["detail"]

        async def chunks():  # no Content-Length: counted as it arrives
            for _ in range(10):
                yield b"x" * 200

        r = await client.post("/searches/register", content=chunks())
        assert r.status_code == 413


# --- Caching -------------------------------------------------------------------------


def test_public_tiles_are_shared_finer_ones_private():
    web = OFFERED_TMS["WebMercatorQuad"]
    t = web.tile(2.35, 46.0, 13)
    path = f"/searches/abc/tiles/WebMercatorQuad/13/{t.x}/{t.y}.png"
    q = "assets=pan&rescale=0,4000"
    assert cache_control(path, q, 200, 10.0) == "public, max-age=3600"
    assert cache_control(path, q + "&tilesize=512", 200, 10.0) == "private, no-store"
    assert cache_control(path, q, 200, 20.0) == "private, no-store"
    assert cache_control(path, q, 401, 10.0) == "private, no-store"
    assert (
        cache_control(path.replace("WebMercatorQuad", "CDB1GlobalGrid"), q, 200, 10.0) == "private, no-store"
    )
    assert cache_control("/searches/register", "", 200, 10.0) is None
    assert isinstance(morecantile.tms.get("WebMercatorQuad"), morecantile.TileMatrixSet)


def test_gdal_reads_the_archive_with_the_service_credentials():
    settings = TilesSettings(s3_endpoint="s3.example:9000", s3_secure=True)
    env = gdal_environment(settings)
    assert env["AWS_S3_ENDPOINT"] == "s3.example:9000" and env["AWS_HTTPS"] == "YES"
    assert env["AWS_VIRTUAL_HOSTING"] == "FALSE" and env["AWS_ACCESS_KEY_ID"] == settings.s3_access_key
    assert env["AWS_SECRET_ACCESS_KEY"] == settings.s3_secret_key.get_secret_value()
    defaults = TilesSettings()
    assert defaults.http_port == 8106 and defaults.tiles_public_resolution_m == 10.0
    assert defaults.tiles_register_max_bytes == 65536 and defaults.tiles_register_per_minute == 30


def test_public_stretches_are_increasing_ranges():
    settings = TilesSettings(tiles_public_stretch={"spot-6-7-ortho": (0, 3000)})
    assert settings.tiles_public_stretch["spot-6-7-ortho"] == (0, 3000)
    assert settings.tiles_public_stretch_default == (0.0, 4095.0)
    for bad in ({"tiles_public_stretch": {"x": (10, 10)}}, {"tiles_public_stretch_default": (4095, 0)}):
        with pytest.raises(ValidationError):
            TilesSettings(**bad)
