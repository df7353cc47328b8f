"""Footprint vector tiles: tile parameters, tile maths, the SQL statement, the tile cache,
and the route's client errors (no server needed)."""

from __future__ import annotations

import os

import morecantile
import pytest
from fastapi.testclient import TestClient

from dinamis_catalog.entrypoints.footprints import (
    FOOTPRINT_ROUTE,
    MAX_ZOOM,
    FootprintTile,
    TileCache,
    footprint_tile,
    mercator_bounds,
    tile_query,
)
from dinamis_catalog.entrypoints.tiles import InvalidTileParameter
from dinamis_catalog.tiles_app import TilesSettings, create_app

WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


@pytest.mark.parametrize(
    ("z", "x", "y"),
    [("0", "0", "0"), ("5", "16", "11"), ("22", "4194303", "0"), ("12", "2074", "1409")],
)
def test_tiles_within_the_matrix_are_parsed(z, x, y):
    assert footprint_tile(z, x, y) == FootprintTile(int(z), int(x), int(y))


@pytest.mark.parametrize(
    ("z", "x", "y", "name"),
    [
        ("23", "0", "0", "z"),
        ("-1", "0", "0", "z"),
        ("05", "0", "0", "z"),
        ("5 ", "0", "0", "z"),
        ("1e1", "0", "0", "z"),
        ("5", "32", "0", "x"),
        ("5", "0", "32", "y"),
        ("0", "1", "0", "x"),
        ("5", "+1", "0", "x"),
        ("5", "1.0", "0", "x"),
        ("5", "0", "0x1", "y"),
        ("5", "0", "", "y"),
        ("22", "4194304", "0", "x"),
        ("99999999999", "0", "0", "z"),
    ],
)
def test_tiles_outside_the_matrix_or_malformed_are_refused(z, x, y, name):
    with pytest.raises(InvalidTileParameter) as caught:
        footprint_tile(z, x, y)
    assert caught.value.code == "invalid-tile-parameter"
    assert str(caught.value).startswith(f"{name}:")


@pytest.mark.parametrize(
    ("z", "x", "y"), [(0, 0, 0), (6, 32, 22), (12, 2074, 1409), (22, 2_097_152, 1_500_000)]
)
def test_mercator_bounds_are_the_web_mercator_grid(z, x, y):
    expected = WEB_MERCATOR.xy_bounds(morecantile.Tile(x, y, z))
    assert mercator_bounds(FootprintTile(z, x, y)) == pytest.approx(tuple(expected), abs=1e-6)


def test_the_tile_statement_embeds_pgstac_filter_and_bounds_the_features():
    text = tile_query("collection = 'spot-6-7-ortho'").as_string(None)
    assert "WHERE (collection = 'spot-6-7-ortho') AND ST_Intersects(geometry," in text
    assert "ORDER BY datetime DESC, id" in text and "LIMIT %(limit)s" in text
    assert "ST_AsMVT(f, %(layer)s, %(extent)s, 'geom')" in text
    assert "ST_TileEnvelope(%(z)s, %(x)s, %(y)s)" in text
    # the ordering column is not a property of the tile
    assert 'SELECT geom, id, collection, datetime, "eo:cloud_cover" FROM features' in text


def test_the_tile_cache_keeps_tiles_for_their_max_age_within_its_size():
    cache = TileCache(max_bytes=10, ttl_s=60)
    cache.put(("a", 1, 0, 0), b"12345")
    cache.put(("a", 1, 0, 1), b"")  # an empty tile is kept too
    assert cache.get(("a", 1, 0, 0)) == b"12345"
    assert cache.get(("a", 1, 0, 1)) == b""
    cache.put(("a", 1, 1, 1), b"x" * 11)  # larger than the cache: not kept
    assert cache.get(("a", 1, 1, 1)) is None
    cache.put(("b", 1, 1, 1), b"678901")  # evicts the oldest to stay within 10 bytes
    assert cache.get(("b", 1, 1, 1)) == b"678901"
    assert cache.get(("a", 1, 0, 0)) is None
    off = TileCache(max_bytes=0, ttl_s=60)
    off.put(("a", 0, 0, 0), b"1")
    assert off.get(("a", 0, 0, 0)) is None


@pytest.fixture(scope="module")
def client():
    # No lifespan: no database; the refusals below come before any query. create_app sets
    # the process's GDAL environment (archive reads): put it back for the other tests.
    saved = dict(os.environ)
    try:
        yield TestClient(create_app(TilesSettings()), raise_server_exceptions=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_route_is_served_by_the_tiles_process(client):
    operation = client.get("/openapi.json").json()["paths"][FOOTPRINT_ROUTE]["get"]
    assert "application/vnd.mapbox-vector-tile" in operation["responses"]["200"]["content"]
    assert {"204", "404", "422"} <= operation["responses"].keys()
    assert MAX_ZOOM == 22


@pytest.mark.parametrize(
    "path",
    ["/23/0/0.mvt", "/5/32/0.mvt", "/5/0/-1.mvt", "/05/1/1.mvt", "/5/1/1%20.mvt", "/a/b/c.mvt"],
)
def test_bad_tiles_are_422_problems_in_french_then_english(client, path):
    search = "0" * 32
    r = client.get(f"/searches/{search}/footprints{path}")
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invalid-tile-parameter"
    r = client.get(f"/searches/{search}/footprints{path}", headers={"Accept-Language": "en"})
    assert r.json()["code"] == "invalid-tile-parameter"


def test_a_malformed_search_id_is_the_tiles_404_problem(client):
    r = client.get("/searches/not-a-hash/footprints/5/16/11.mvt")
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "mosaic-not-found"


def test_footprint_settings_are_bounded():
    settings = TilesSettings()
    assert settings.tiles_footprints_max_features == 1_000
    with pytest.raises(ValueError):
        TilesSettings(tiles_footprints_max_features=0)
    with pytest.raises(ValueError):
        TilesSettings(tiles_footprints_max_age_s=-1)
