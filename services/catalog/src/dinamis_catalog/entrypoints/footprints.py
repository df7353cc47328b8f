"""Footprints of a registered search as Mapbox Vector Tiles, for the web map:

    GET /searches/{search_id}/footprints/{z}/{x}/{y}.mvt      WebMercatorQuad, z 0-22

One layer, `footprints`: a polygon per item of the search whose geometry meets the tile
(pgSTAC's items geometry index), with `id`, `collection`, `datetime` (UTC, ISO 8601, to
the second) and `eo:cloud_cover` (when the item has a number there). At most
`tiles_footprints_max_features` footprints per tile, the newest first (datetime desc,
then id: the same tile always holds the same items). Extent 4096, buffer 64 (the MVT
defaults), geometries clipped to the buffered tile.

Who may call it: anyone, like previews: a footprint is no imagery, and the STAC API shows
every item's geometry to anonymous callers (it hides no collection), so nothing is
filtered here either. Answers: 200 `application/vnd.mapbox-vector-tile`; 204 when no
footprint meets the tile; both `Cache-Control: public, max-age=<tiles_footprints_max_age_s>`
and kept as long in this process (`tiles_footprints_cache_mb`). Errors are the tiles'
problems: 404 `mosaic-not-found` (unknown search) or `search-expired`, 422
`invalid-tile-parameter` (z, x, y not plain integers within the matrix).

How: the search's SQL filter is pgSTAC's own (`stac_search_to_where` of the registered
body, cached per search hash: a hash names one body), and the tile is one query
(`ST_AsMVTGeom` / `ST_AsMVT`) with a statement timeout.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from cachetools import TTLCache
from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.responses import Response
from psycopg import Connection, sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from dinamis_catalog.entrypoints.tiles import ArchiveBackend, _search_id, strict_int
from dinamis_catalog.service.fast_search import year_windows
from dinamis_catalog.settings import TilesSettings

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
LAYER = "footprints"
EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22
STATEMENT_TIMEOUT_MS = 5000
FOOTPRINT_ROUTE = "/searches/{search_id}/footprints/{z}/{x}/{y}.mvt"


@dataclass(frozen=True)
class FootprintTile:
    z: int
    x: int
    y: int


def footprint_tile(z: str, x: str, y: str) -> FootprintTile:
    """A WebMercatorQuad tile from its path segments: plain decimal integers (no sign,
    spaces or leading zeros), z in 0-22, x and y in 0..2^z-1 (422 otherwise)."""
    zoom = strict_int("z", z, 0, MAX_ZOOM)
    last = 2**zoom - 1
    return FootprintTile(zoom, strict_int("x", x, 0, last), strict_int("y", y, 0, last))


MERCATOR_HALF = 20037508.342789244


def mercator_bounds(tile: FootprintTile) -> tuple[float, float, float, float]:
    """The tile's (west, south, east, north) in EPSG:3857 metres (what PostGIS's
    `ST_TileEnvelope` computes; kept here for the tests and the bench)."""
    size = 2 * MERCATOR_HALF / 2**tile.z
    west = -MERCATOR_HALF + tile.x * size
    north = MERCATOR_HALF - tile.y * size
    return west, north - size, west + size, north


# The tile: the search's filter (pgSTAC's SQL, as text) and the tile's envelope in
# EPSG:4326 select the items through the geometry index; the newest `limit`; each
# projected (a footprint reaching beyond 85 degrees of latitude is first cut there: no
# point at a pole reaches the projection), clipped to the tile plus its buffer by
# ST_AsMVTGeom, and encoded. Cost: about 15 us per footprint (bench), so the feature cap
# bounds a tile's time.
# The envelope is written in the WHERE itself (not read from the CTE): a constant there, the
# planner estimates how many footprints meet the tile and picks the index (the datetime one
# for a wide tile, the geometry one for a narrow tile); through a sub-select it cannot.
HITS_WHERE = (
    "({where}) AND ST_Intersects(geometry, ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4326)){since}"
)
TILE_SQL = """
WITH tile AS (
    SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env
), hits AS (
    SELECT id, collection, datetime, content->'properties'->'eo:cloud_cover' AS cloud, geometry
    FROM pgstac.items
    WHERE {hits_where}
    ORDER BY datetime DESC, id
    LIMIT %(limit)s
), features AS (
    SELECT
        ST_AsMVTGeom(
            ST_Transform(
                CASE WHEN ST_YMin(h.geometry) < -85 OR ST_YMax(h.geometry) > 85
                    THEN ST_ClipByBox2D(h.geometry, ST_MakeEnvelope(-1000, -85.06, 1000, 85.06, 4326))
                    ELSE h.geometry END,
                3857
            ),
            t.env::box2d, %(extent)s, %(buffer)s, true
        ) AS geom,
        h.id,
        h.collection,
        to_char(h.datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS datetime,
        CASE WHEN jsonb_typeof(h.cloud) = 'number' THEN (h.cloud)::float8 END AS "eo:cloud_cover",
        h.datetime AS _order_datetime
    FROM hits h, tile t
)
SELECT ST_AsMVT(f, %(layer)s, %(extent)s, 'geom'), (SELECT count(*) FROM hits)
FROM (
    SELECT geom, id, collection, datetime, "eo:cloud_cover" FROM features
    WHERE geom IS NOT NULL
    ORDER BY _order_datetime DESC, id
) f
"""


def hits_where(where: str, since: bool) -> sql.Composed:
    """The footprints' filter: pgSTAC's (`where`: SQL text pgSTAC wrote, with its values
    quoted by `format('%L')`; never text from the request), the tile, and (`since`) no
    older than `%(since)s`."""
    return sql.SQL(HITS_WHERE).format(
        where=sql.SQL(where), since=sql.SQL(" AND datetime >= %(since)s" if since else "")
    )


def tile_query(where: str, since: bool = False) -> sql.Composed:
    """The tile statement for a pgSTAC filter (see `hits_where`)."""
    return sql.SQL(TILE_SQL).format(hits_where=hits_where(where, since))


def since_windows(span: Any) -> list[datetime | None]:
    """How far back a tile reads, tried in turn: the start of each year from the newest
    (`year_windows`), then all time (None)."""
    starts = [start for start, _ in year_windows(span, None, None, descending=True)]
    return [start for start in starts if start is not None] + [None]


class SearchWheres:
    """pgSTAC's SQL filter of each registered search, by hash (the body behind a hash
    never changes); at most `size` kept."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._wheres: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, pool: ConnectionPool, search_hash: str, body: dict[str, object]) -> str:
        with self._lock:
            where = self._wheres.get(search_hash)
        if where is not None:
            return where
        with pool.connection() as conn:
            row = conn.execute("SELECT pgstac.stac_search_to_where(%s)", (Jsonb(body),)).fetchone()
        where = str(row[0]) if row and row[0] else "TRUE"
        with self._lock:
            if len(self._wheres) >= self.size:
                self._wheres.clear()
            self._wheres[search_hash] = where
        return where


class TileCache:
    """Encoded tiles by (search, z, x, y), kept `ttl_s` seconds, at most `max_bytes`."""

    def __init__(self, max_bytes: int, ttl_s: float) -> None:
        self.enabled = max_bytes > 0 and ttl_s > 0
        self._tiles: TTLCache[tuple[str, int, int, int], bytes] = TTLCache(
            maxsize=max(max_bytes, 1), ttl=max(ttl_s, 1), getsizeof=lambda b: max(len(b), 1)
        )
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int, int]) -> bytes | None:
        if not self.enabled:
            return None
        with self._lock:
            return self._tiles.get(key)

    def put(self, key: tuple[str, int, int, int], data: bytes) -> None:
        if not self.enabled or len(data) > self._max_bytes:
            return
        with self._lock:
            self._tiles[key] = data


def render_footprints(
    pool: ConnectionPool,
    where: str,
    tile: FootprintTile,
    limit: int,
    collections: tuple[str, ...] | None = None,
) -> bytes:
    params: dict[str, Any] = {
        "z": tile.z,
        "x": tile.x,
        "y": tile.y,
        "limit": limit,
        "extent": EXTENT,
        "buffer": BUFFER,
        "layer": LAYER,
    }
    # The newest year first, then back a year at a time until the tile holds `limit`
    # footprints: a tile over much of France would otherwise sort every year's footprints
    # to keep the newest (one statement when the newest year fills it, as it mostly does).
    with pool.connection() as conn, conn.transaction():
        conn.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        for since in since_windows(span(conn, collections)):
            query = tile_query(where, since=since is not None)
            row = conn.execute(query, {**params, "since": since}).fetchone()
            if row is None or row[1] >= limit:
                break
    return bytes(row[0]) if row and row[0] is not None else b""


SPAN_TTL_S = 10.0
_SPANS: dict[tuple[str, ...] | None, tuple[float, Any]] = {}
_SPANS_LOCK = threading.Lock()


def span(conn: Connection, collections: tuple[str, ...] | None) -> tuple[datetime, datetime] | None:
    """The first and last dates of the searched collections' items (of all items when the
    search names none): each partition's index ends, kept 10 s, at most 256 sets."""
    now = time.monotonic()
    with _SPANS_LOCK:
        hit = _SPANS.get(collections)
    if hit is not None and hit[0] > now:
        return hit[1]
    if collections is None:
        row = conn.execute("SELECT min(datetime), max(datetime) FROM pgstac.items").fetchone()
    else:
        row = conn.execute(
            "SELECT min(datetime), max(datetime) FROM pgstac.items WHERE collection = ANY(%s)",
            [list(collections)],
        ).fetchone()
    value = (row[0], row[1]) if row and row[0] is not None else None
    with _SPANS_LOCK:
        if len(_SPANS) >= 256:
            _SPANS.clear()
        _SPANS[collections] = (now + SPAN_TTL_S, value)
    return value


def search_collections(body: dict[str, Any]) -> tuple[str, ...] | None:
    """The collections a registered search names (None: all, or not a plain list of names)."""
    names = body.get("collections")
    if isinstance(names, list) and names and len(names) <= 64 and all(isinstance(n, str) for n in names):
        return tuple(sorted(set(names)))
    return None


@dataclass
class Footprints:
    settings: TilesSettings
    wheres: SearchWheres
    cache: TileCache

    def cache_control(self) -> str:
        return f"public, max-age={self.settings.tiles_footprints_max_age_s}"

    def tile(self, pool: ConnectionPool, search_id: str, tile: FootprintTile) -> bytes:
        backend = ArchiveBackend(
            input=_search_id(search_id), pool=pool, search_ttl_s=self.settings.tiles_search_ttl_days * 86400
        )
        search = backend.info()  # unknown: 404; expired: 404 search-expired; used: lastused
        key = (search.id, tile.z, tile.x, tile.y)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        where = self.wheres.get(pool, search.id, search.input_search)
        data = render_footprints(
            pool,
            where,
            tile,
            self.settings.tiles_footprints_max_features,
            search_collections(search.input_search),
        )
        self.cache.put(key, data)
        return data


SegmentPath = Annotated[str, Path(max_length=64)]


def mount_footprints(app: FastAPI, settings: TilesSettings) -> Footprints:
    """Add the footprint tile route to the tiles `app` (titiler's pool is
    `app.state.dbpool`; errors go through the tiles' problem handlers)."""
    footprints = Footprints(
        settings=settings,
        wheres=SearchWheres(),
        cache=TileCache(
            settings.tiles_footprints_cache_mb * 1024 * 1024, settings.tiles_footprints_max_age_s
        ),
    )
    app.state.footprints = footprints
    router = APIRouter(tags=["tiles"])

    @router.get(
        FOOTPRINT_ROUTE,
        name="footprints",
        summary="Emprises d'une recherche en tuiles vectorielles / a search's footprints as vector tiles",
        response_class=Response,
        responses={
            200: {"content": {MVT_MEDIA_TYPE: {}}, "description": "Mapbox Vector Tile, layer `footprints`"},
            204: {"description": "no footprint on this tile"},
        },
    )
    def footprint_tile_route(
        request: Request, search_id: SegmentPath, z: SegmentPath, x: SegmentPath, y: SegmentPath
    ) -> Response:
        tile = footprint_tile(z, x, y)
        search_hash = _search_id(search_id)  # not a pgSTAC hash: 404 before any query
        data = footprints.tile(request.app.state.dbpool, search_hash, tile)
        headers = {"Cache-Control": footprints.cache_control()}
        if not data:
            return Response(status_code=204, headers=headers)
        return Response(content=data, media_type=MVT_MEDIA_TYPE, headers=headers)

    app.include_router(router)
    return footprints
