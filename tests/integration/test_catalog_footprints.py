"""Footprint vector tiles (`GET /searches/{id}/footprints/{z}/{x}/{y}.mvt` of
`dinamis-catalog-tiles`) on the real pgSTAC: items indexed with known footprints in two
collections, a registered search, the tile decoded (a small protobuf reader below):
feature ids in datetime-desc order, properties, geometries where the footprints are in
the tile's 0..4096 extent; a far tile 204; a collection filter keeps the other
collection's footprints out; at most N footprints; bad tiles and searches 4xx problems."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import uuid

import httpx
import morecantile
import psycopg
import pytest
from psycopg.types.json import Jsonb

from dinamis_testkit.testing import start_service, stop_service
from tests.ports import free_ports

(TILES,) = free_ports(1)
TILER = f"http://127.0.0.1:{TILES}"
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
EXTENT = 4096
MAX_FEATURES = 3
MAX_AGE_S = 120
Z = 10
TILE = WEB_MERCATOR.tile(2.3, 46.3, Z)
RUN = uuid.uuid4().hex[:8]
COLL_A, COLL_B, COLL_POLAR = f"fp-a-{RUN}", f"fp-b-{RUN}", f"fp-polar-{RUN}"
COLL_YEARS = f"fp-years-{RUN}"  # partitioned by year; its footprints span 2016-2026


# --- A Mapbox Vector Tile reader (protobuf wire format, vector_tile.proto 2.1) ----------


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def _fields(buf: bytes):
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def _packed(buf: bytes) -> list[int]:
    out, i = [], 0
    while i < len(buf):
        v, i = _varint(buf, i)
        out.append(v)
    return out


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _value(buf: bytes):
    for number, _, v in _fields(buf):
        if number == 1:
            return v.decode()
        if number == 2:
            return struct.unpack("<f", v)[0]
        if number == 3:
            return struct.unpack("<d", v)[0]
        if number in (4, 5):
            return v
        if number == 6:
            return _zigzag(v)
        if number == 7:
            return bool(v)
    return None


def _rings(commands: list[int]) -> list[list[tuple[int, int]]]:
    rings: list[list[tuple[int, int]]] = []
    x = y = i = 0
    while i < len(commands):
        cmd, count = commands[i] & 7, commands[i] >> 3
        i += 1
        if cmd == 7:
            continue
        if cmd == 1:
            rings.append([])
        for _ in range(count):
            x += _zigzag(commands[i])
            y += _zigzag(commands[i + 1])
            i += 2
            rings[-1].append((x, y))
    return rings


def decode(tile: bytes) -> dict[str, dict]:
    layers = {}
    for number, _, raw in _fields(tile):
        if number != 3:
            continue
        name, extent, keys, values, features = "", 4096, [], [], []
        for n, _, v in _fields(raw):
            if n == 1:
                name = v.decode()
            elif n == 5:
                extent = v
            elif n == 3:
                keys.append(v.decode())
            elif n == 4:
                values.append(_value(v))
            elif n == 2:
                features.append(v)
        decoded = []
        for raw_feature in features:
            tags: list[int] = []
            geometry: list[int] = []
            kind = 0
            for n, _, v in _fields(raw_feature):
                if n == 2:
                    tags = _packed(v)
                elif n == 3:
                    kind = v
                elif n == 4:
                    geometry = _packed(v)
            props = {keys[tags[k]]: values[tags[k + 1]] for k in range(0, len(tags), 2)}
            decoded.append({"type": kind, "properties": props, "rings": _rings(geometry)})
        layers[name] = {"extent": extent, "features": decoded}
    return layers


# --- The stack -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiler(tmp_path_factory, keyfile):
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_CATALOG_TILES_HTTP_PORT": str(TILES),
        "DINAMIS_CATALOG_TILES_TILES_FOOTPRINTS_MAX_FEATURES": str(MAX_FEATURES),
        "DINAMIS_CATALOG_TILES_TILES_FOOTPRINTS_MAX_AGE_S": str(MAX_AGE_S),
    }
    proc: subprocess.Popen = start_service("catalog-tiles", TILES, tmp_path_factory.mktemp("logs"), env=env)
    try:
        yield
    finally:
        stop_service(proc)


def tile_lonlat(fx: float, fy: float) -> tuple[float, float]:
    """The point at fractions (fx from the west, fy from the north) of TILE, in degrees."""
    w, s, e, n = WEB_MERCATOR.xy_bounds(TILE)
    return WEB_MERCATOR.lnglat(w + fx * (e - w), n - fy * (n - s))


def square(fx0: float, fy0: float, fx1: float, fy1: float) -> list[list[float]]:
    corners = [(fx0, fy0), (fx0, fy1), (fx1, fy1), (fx1, fy0), (fx0, fy0)]
    return [list(tile_lonlat(fx, fy)) for fx, fy in corners]


# Footprints as fractions of TILE (west->east, north->south), datetime, cloud cover.
ITEMS = {
    f"fp-a1-{RUN}": (COLL_A, (0.10, 0.10, 0.30, 0.30), "2026-05-01T10:00:00Z", 12.5),
    f"fp-a2-{RUN}": (COLL_A, (0.50, 0.40, 0.90, 0.80), "2026-06-01T10:00:00Z", None),
    f"fp-a3-{RUN}": (COLL_A, (0.20, 0.60, 0.40, 0.95), "2026-04-01T09:30:15Z", 40.0),
    f"fp-b1-{RUN}": (COLL_B, (0.25, 0.25, 0.60, 0.60), "2026-07-01T10:00:00Z", 3.0),
}


# One footprint in some years, two in 2024 (same instant: the id decides), none in 2025
# and 2023: the newest three reach back into 2022, read year by year from the newest.
YEARS_ITEMS = {
    f"fp-y2016-{RUN}": "2016-06-01T10:00:00Z",
    f"fp-y2019-{RUN}": "2019-06-01T10:00:00Z",
    f"fp-y2022-{RUN}": "2022-12-31T23:59:59Z",
    f"fp-y2024a-{RUN}": "2024-01-01T00:00:00Z",
    f"fp-y2024b-{RUN}": "2024-01-01T00:00:00Z",
    f"fp-y2021-{RUN}": "2021-03-01T10:00:00Z",
}


def upsert_footprint(
    conn: psycopg.Connection, item_id: str, collection: str, ring: list, props: dict
) -> None:
    """An item with this footprint (one ring) and these properties, straight into pgSTAC."""
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": item_id,
        "collection": collection,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "properties": props,
        "links": [],
        "assets": {},
    }
    conn.execute("SELECT pgstac.upsert_item(%s)", [Jsonb(item)])


@pytest.fixture(scope="module")
def indexed(settings, tiler):
    dsn = settings.postgres_dsn.get_secret_value()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for coll in (COLL_A, COLL_B, COLL_POLAR, COLL_YEARS):
            conn.execute(
                "SELECT pgstac.upsert_collection(%s)",
                [
                    Jsonb(
                        {
                            "type": "Collection",
                            "stac_version": "1.1.0",
                            "id": coll,
                            "description": "footprint tiles test",
                            "license": "other",
                            "links": [],
                            "extent": {
                                "spatial": {"bbox": [[-180, -90, 180, 90]]},
                                "temporal": {"interval": [["2026-01-01T00:00:00Z", None]]},
                            },
                        }
                    )
                ],
            )
        polar = [[10, 80], [20, 80], [20, 90], [10, 90], [10, 80]]
        upsert_footprint(conn, f"fp-polar-{RUN}", COLL_POLAR, polar, {"datetime": "2026-03-01T00:00:00Z"})
        for item_id, (coll, fracs, when, cloud) in ITEMS.items():
            props: dict = {"datetime": when, "platform": "spot-7"}
            if cloud is not None:
                props["eo:cloud_cover"] = cloud
            upsert_footprint(conn, item_id, coll, square(*fracs), props)
        conn.execute("UPDATE pgstac.collections SET partition_trunc = 'year' WHERE id = %s", [COLL_YEARS])
        for item_id, when in YEARS_ITEMS.items():
            upsert_footprint(conn, item_id, COLL_YEARS, square(0.2, 0.2, 0.8, 0.8), {"datetime": when})
    try:
        yield
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for coll in (COLL_A, COLL_B, COLL_POLAR, COLL_YEARS):
                conn.execute("SELECT pgstac.delete_collection(%s)", [coll])


def register(body: dict) -> str:
    r = httpx.post(f"{TILER}/searches/register", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def footprints(search: str, z: int, x: int | str, y: int | str, **kwargs) -> httpx.Response:
    return httpx.get(f"{TILER}/searches/{search}/footprints/{z}/{x}/{y}.mvt", timeout=30, **kwargs)


def features_of(r: httpx.Response) -> list[dict]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["cache-control"] == f"public, max-age={MAX_AGE_S}"
    layers = decode(r.content)
    assert set(layers) == {"footprints"}
    assert layers["footprints"]["extent"] == EXTENT
    return layers["footprints"]["features"]


def test_a_tile_holds_the_searched_footprints_newest_first_with_their_properties(indexed):
    search = register({"collections": [COLL_A]})
    features = features_of(footprints(search, Z, TILE.x, TILE.y))
    ids = [f["properties"]["id"] for f in features]
    assert ids == [f"fp-a2-{RUN}", f"fp-a1-{RUN}", f"fp-a3-{RUN}"]  # datetime desc
    for feature in features:
        props = feature["properties"]
        coll, fracs, when, cloud = ITEMS[props["id"]]
        assert feature["type"] == 3  # polygon
        assert props["collection"] == coll
        assert props["datetime"] == when
        if cloud is None:
            assert "eo:cloud_cover" not in props
        else:
            assert props["eo:cloud_cover"] == pytest.approx(cloud)
        assert set(props) <= {"id", "collection", "datetime", "eo:cloud_cover"}
        # The footprint, in tile units (0..4096 from the north-west corner).
        (ring,) = feature["rings"]
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        assert all(0 <= v <= EXTENT for v in xs + ys)
        fx0, fy0, fx1, fy1 = fracs
        assert min(xs) == pytest.approx(fx0 * EXTENT, abs=2) and max(xs) == pytest.approx(fx1 * EXTENT, abs=2)
        assert min(ys) == pytest.approx(fy0 * EXTENT, abs=2) and max(ys) == pytest.approx(fy1 * EXTENT, abs=2)


def test_a_collection_filter_keeps_other_collections_out(indexed):
    only_b = features_of(footprints(register({"collections": [COLL_B]}), Z, TILE.x, TILE.y))
    assert [f["properties"]["id"] for f in only_b] == [f"fp-b1-{RUN}"]
    cql = register(
        {
            "collections": [COLL_A, COLL_B],
            "filter-lang": "cql2-json",
            "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]},
        }
    )
    ids = [f["properties"]["id"] for f in features_of(footprints(cql, Z, TILE.x, TILE.y))]
    assert ids == [f"fp-b1-{RUN}", f"fp-a1-{RUN}"]


def test_at_most_n_footprints_per_tile_the_newest(indexed):
    search = register({"collections": [COLL_A, COLL_B]})
    ids = [f["properties"]["id"] for f in features_of(footprints(search, Z, TILE.x, TILE.y))]
    assert len(ITEMS) > MAX_FEATURES
    assert ids == [f"fp-b1-{RUN}", f"fp-a2-{RUN}", f"fp-a1-{RUN}"]


def test_the_newest_footprints_across_years_read_year_by_year(indexed):
    search = register({"collections": [COLL_YEARS]})
    ids = [f["properties"]["id"] for f in features_of(footprints(search, Z, TILE.x, TILE.y))]
    assert ids == [f"fp-y2024a-{RUN}", f"fp-y2024b-{RUN}", f"fp-y2022-{RUN}"]  # datetime desc, then id


def test_a_parent_tile_holds_them_and_a_child_tile_only_its_own_clipped(indexed):
    search = register({"collections": [COLL_A]})
    parent = features_of(footprints(search, Z - 3, TILE.x // 8, TILE.y // 8))
    assert {f["properties"]["id"] for f in parent} == {i for i, v in ITEMS.items() if v[0] == COLL_A}
    for feature in parent:
        for x, y in feature["rings"][0]:
            assert 0 <= x <= EXTENT and 0 <= y <= EXTENT
    # The south-east child of TILE covers fractions 0.5..1: a2 only, clipped to the
    # child's extent plus the 64-unit buffer on its north side.
    child = features_of(footprints(search, Z + 1, TILE.x * 2 + 1, TILE.y * 2 + 1))
    assert [f["properties"]["id"] for f in child] == [f"fp-a2-{RUN}"]
    xs, ys = zip(*child[0]["rings"][0], strict=True)
    assert min(xs) == pytest.approx(0, abs=2) and max(xs) == pytest.approx(0.8 * EXTENT, abs=2)
    assert min(ys) == -64 and max(ys) == pytest.approx(0.6 * EXTENT, abs=2)


def test_a_footprint_reaching_the_pole_is_drawn_up_to_the_grid_edge(indexed):
    search = register({"collections": [COLL_POLAR]})
    top = WEB_MERCATOR.tile(15.0, 84.0, 2)
    (feature,) = features_of(footprints(search, 2, top.x, top.y))
    assert feature["properties"]["id"] == f"fp-polar-{RUN}"
    xs, ys = zip(*feature["rings"][0], strict=True)
    assert -64 <= min(ys) <= 0  # cut just past the grid's top (85.06 degrees), within the buffer
    assert all(-64 <= v <= EXTENT + 64 for v in xs + ys)


def test_a_far_tile_is_empty_and_cacheable(indexed):
    search = register({"collections": [COLL_A, COLL_B]})
    far = WEB_MERCATOR.tile(-60.0, -30.0, Z)
    r = footprints(search, Z, far.x, far.y)
    assert r.status_code == 204 and r.content == b""
    assert r.headers["cache-control"] == f"public, max-age={MAX_AGE_S}"


@pytest.mark.parametrize(
    ("z", "x", "y"),
    [(23, 0, 0), (Z, 2**Z, 0), (Z, 0, 2**Z), ("010", 1, 1), (Z, "-1", 0), (Z, 1, "1e3"), (Z, " 1", 0)],
)
def test_bad_tiles_are_422_problems(indexed, z, x, y):
    search = register({"collections": [COLL_A]})
    r = footprints(search, z, x, y)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invalid-tile-parameter"


def test_unknown_or_expired_searches_are_the_tiles_404_problems(settings, indexed):
    unknown = hashlib.md5(uuid.uuid4().bytes).hexdigest()
    for search in (unknown, "not-a-search", "0" * 31):
        r = footprints(search, Z, TILE.x, TILE.y)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "mosaic-not-found"
    search = register({"collections": [COLL_A], "metadata": {"name": f"expiring-{RUN}"}})
    with psycopg.connect(settings.postgres_dsn.get_secret_value()) as conn:
        conn.execute(
            "UPDATE pgstac.searches SET lastused = now() - interval '31 days' WHERE hash = %s", (search,)
        )
    r = footprints(search, Z, TILE.x, TILE.y)
    assert r.status_code == 404 and r.json()["code"] == "search-expired", r.text
    assert register({"collections": [COLL_A], "metadata": {"name": f"expiring-{RUN}"}}) == search
    assert footprints(search, Z, TILE.x, TILE.y).status_code == 200


def test_footprints_are_public_and_the_map_may_fetch_them_cross_origin(indexed):
    search = register({"collections": [COLL_A]})
    r = footprints(search, Z, TILE.x, TILE.y, headers={"Origin": "https://portal.example"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
