"""Map tiles for the web map: titiler-pgstac mosaics of catalogue searches, rendered from
the archive COGs.

    POST /searches/register                                   a search -> its id (hash)
    GET  /searches/{id}/info                                  the registered search
    GET  /searches/{id}/WebMercatorQuad/tilejson.json?assets=...&rescale=...
    GET  /searches/{id}/tiles/WebMercatorQuad/{z}/{x}/{y}.png?assets=pan&rescale=0,4000
    GET  /searches/{id}/tiles/{tms}/{z}/{x}/{y}/assets        the items drawn on a tile

Who may call them: a tile is public when its ground resolution (metres per pixel at the
tile's centre, for the tile matrix set *and* the tile size asked) is at least
`tiles_public_resolution_m` (10 m: a map of the catalogue, no finer than previews); a
finer tile needs an authenticated caller in good standing, and shows only the items that
caller may read (the orders service decides, as for signed URLs). A tile with no item
answers 204 (titiler's answer for an empty mosaic).

Only the tile matrix sets of `OFFERED_TMS` are served (the rule holds in each); every tile
parameter is parsed strictly and bounded (`tile_guard`); tiles are 8-bit renderings
(png/jpeg/webp only): never the archive's radiometry.

Public tiles show what a >= 10 m product shows, whatever the series of requests: each
asset is read from data already that coarse (the COG's first overview at or above the
public resolution, else an average decimation of the full image: `open_public`), with
average resampling the client cannot change, stretched to 8 bits by the server (per
collection, `public_stretch`), in 256 or 512 px tiles only, without buffer or padding,
and without client `rescale`, `expression`, `nodata` or resampling choices. Finer tiles
(authenticated, filtered items) keep the client's choices (`rescale` optional: the
server's stretch without it).

The archive is private: asset hrefs (`<s3_public_url>/archive/<key>`, `s3://archive/<key>`)
are read as `/vsis3/archive/<key>` with the service's own S3 credentials (GDAL environment set
by the tiles process); any other href is refused, so a tile never fetches a foreign URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import attr
import morecantile
import numpy as np
import psycopg
import rasterio
from affine import Affine
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from morecantile import TileMatrixSet
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pyproj import CRS, Geod
from rasterio.enums import Resampling
from rasterio.errors import CRSError
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from rio_tiler.types import AssetInfo, AssetType
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from titiler.core.dependencies import DefaultDependency
from titiler.core.errors import DEFAULT_STATUS_CODES
from titiler.core.resources.enums import ImageType
from titiler.core.utils import render_image
from titiler.mosaic.errors import MOSAIC_STATUS_CODES
from titiler.pgstac import model
from titiler.pgstac.backend import PGSTACBackend
from titiler.pgstac.errors import PGSTAC_STATUS_CODES, BackendError, MosaicNotFoundError
from titiler.pgstac.extensions import searchInfoExtension
from titiler.pgstac.factory import MosaicTilerFactory, add_search_register_route
from titiler.pgstac.reader import Item, SimpleSTACReader

from dinamis_catalog.adapters.orders import forwarded_credentials
from dinamis_catalog.entrypoints.stac_api import body_error
from dinamis_catalog.settings import TilesSettings
from dinamis_catalog.tiles_bootstrap import tiles_container
from dinamis_shared.auth import authenticated_principal, current_principal
from dinamis_shared.errors import DinamisError
from dinamis_shared.health import dinamis_error_response, prefers_english, problem_response
from dinamis_shared.service import add_checked_middleware

log = logging.getLogger(__name__)

ARCHIVE_BUCKET = "archive"
DRAWABLE_TYPES = ("image/tiff",)
REGISTER_PATH = "/searches/register"


class TileRequestRefused(DinamisError):
    code = "tile-request-refused"
    http_status = 400


class InvalidTileParameter(DinamisError):
    code = "invalid-tile-parameter"
    http_status = 422


class TileMatrixSetNotOffered(DinamisError):
    code = "tile-matrix-set-not-offered"
    http_status = 404


class SearchExpired(DinamisError):
    code = "search-expired"
    http_status = 404


class RegistrationTooLarge(DinamisError):
    code = "registration-too-large"
    http_status = 413


class TooManyRegistrations(DinamisError):
    code = "too-many-registrations"
    http_status = 429


# --- Tile matrix sets and ground resolution --------------------------------------------

# Lambert-93 (EPSG:2154) quadtree over metropolitan France and Corsica: 1 228 800 m
# square, 4800 m per pixel at zoom 0 (9.375 m at zoom 9 with 256 px tiles).
LAMBERT93 = TileMatrixSet.custom(
    [75000, 6020000, 1303800, 7248800],
    CRS.from_epsg(2154),
    id="FranceLambert93Quad",
    title="Lambert-93 (France métropolitaine et Corse)",
    maxzoom=18,
)

OFFERED_TMS: dict[str, TileMatrixSet] = {
    "WebMercatorQuad": morecantile.tms.get("WebMercatorQuad"),
    "EuropeanETRS89_LAEAQuad": morecantile.tms.get("EuropeanETRS89_LAEAQuad"),
    LAMBERT93.id: LAMBERT93,
}
# The factory's registry (titiler's path parameter lists these only).
SUPPORTED_TMS = morecantile.TileMatrixSets(dict(OFFERED_TMS))

WGS84 = Geod(ellps="WGS84")


def ground_resolution(tms: TileMatrixSet, z: int, x: int, y: int, tilesize: int | None = None) -> float:
    """Metres on the ground per pixel of tile (z, x, y) drawn `tilesize` pixels wide (None:
    the matrix's own tile size): the matrix cell size times tileWidth / tilesize, in the
    TMS CRS units, turned into ground metres at the tile's centre (geodesic lengths on
    WGS84 of one pixel east and one pixel north; for WebMercatorQuad this is the cell size
    times cos(latitude)). The finer of the two directions."""
    matrix = tms.matrix(z)
    width = tilesize or matrix.tileWidth
    height = tilesize or matrix.tileHeight
    left, bottom, right, top = tms.xy_bounds(morecantile.Tile(x, y, z))
    px, py = (right - left) / width, (top - bottom) / height
    cx, cy = (left + right) / 2, (bottom + top) / 2
    lon0, lat0 = tms.lnglat(cx, cy, truncate=False)
    lon1, lat1 = tms.lnglat(cx + px, cy, truncate=False)
    lon2, lat2 = tms.lnglat(cx, cy + py, truncate=False)
    east = WGS84.inv(lon0, lat0, lon1, lat1)[2]
    north = WGS84.inv(lon0, lat0, lon2, lat2)[2]
    return float(min(east, north))


# --- Strict tile parameters --------------------------------------------------------------

STRICT_INT = re.compile(r"0|[1-9][0-9]{0,8}")
STRICT_NUMBER = r"-?(?:0|[1-9][0-9]{0,9})(?:\.[0-9]{1,9})?"
RESCALE = re.compile(rf"(?P<lo>{STRICT_NUMBER}),(?P<hi>{STRICT_NUMBER})")
MAX_TILESIZE = 512
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "tilesize": (64, MAX_TILESIZE),
    "buffer": (0, 32),
    "padding": (0, 32),
    "scan_limit": (1, 10_000),
    "items_limit": (1, 100),
    "time_limit": (1, 10),
    "minzoom": (0, 30),
    "maxzoom": (0, 30),
}
BOOLEANS = ("exitwhenfull", "skipcovered", "return_mask", "unscale", "asset_as_band")
MULTI_VALUED = ("assets", "asset_bidx", "bidx", "rescale")
MAX_RESCALES = 4
IMAGE_FORMATS = ("png", "jpeg", "jpg", "webp")
# Query parameters that would export more than an 8-bit picture, or run arbitrary work.
REFUSED_PARAMS = ("algorithm", "algorithm_params")
# Public tiles: two sizes only (a bounded set of grids per tile matrix set), and none of
# the parameters that choose how source pixels are sampled or mapped to grey levels.
PUBLIC_TILESIZES = (256, 512)
PUBLIC_REFUSED_PARAMS = (
    "rescale",
    "buffer",
    "padding",
    "resampling",
    "reproject",
    "expression",
    "nodata",
    "unscale",
    "color_formula",
)
PUBLIC_RESAMPLING = "average"


def _invalid(name: str, detail: str, detail_fr: str) -> InvalidTileParameter:
    return InvalidTileParameter(f"{name}: {detail}", message_fr=f"{name} : {detail_fr}")


def strict_int(name: str, raw: str, low: int, high: int) -> int:
    """A decimal integer written plainly (no sign, spaces, underscores, decimals or
    leading zeros), within [low, high]."""
    if not STRICT_INT.fullmatch(raw):
        got = repr(raw)[:40]
        raise _invalid(name, f"must be a plain integer, got {got}", f"doit être un entier simple, reçu {got}")
    value = int(raw)
    if not low <= value <= high:
        raise _invalid(name, f"must be between {low} and {high}", f"doit être entre {low} et {high}")
    return value


def check_tile_query(query: Mapping[str, list[str]]) -> dict[str, int]:
    """Refuse malformed or abusive tile parameters; the integers, parsed."""
    ints: dict[str, int] = {}
    for name, values in query.items():
        if name in REFUSED_PARAMS:
            raise _invalid(name, "is not offered", "n'est pas proposé")
        if len(values) > 1 and name not in MULTI_VALUED:
            raise _invalid(name, "may be given once", "ne peut être donné qu'une fois")
        raw = values[-1]
        if name in INT_BOUNDS:
            ints[name] = strict_int(name, raw, *INT_BOUNDS[name])
        elif name in BOOLEANS and raw not in ("true", "false"):
            raise _invalid(name, "must be true or false", "doit valoir true ou false")
        elif name == "tile_format" and raw not in IMAGE_FORMATS:
            formats = ", ".join(IMAGE_FORMATS)
            raise _invalid(name, f"must be one of {formats}", f"doit valoir {formats}")
    rescales = query.get("rescale", [])
    if len(rescales) > MAX_RESCALES:
        raise _invalid("rescale", f"at most {MAX_RESCALES} ranges", f"au plus {MAX_RESCALES} intervalles")
    for raw in rescales:
        match = RESCALE.fullmatch(raw)
        if not match or float(match["lo"]) >= float(match["hi"]):
            raise _invalid("rescale", "must be min,max with min < max", "doit être min,max avec min < max")
    return ints


def check_public_query(query: Mapping[str, list[str]], ints: Mapping[str, int]) -> None:
    """A public tile: 256 or 512 px, no parameter that chooses the sampling or the stretch
    (400), each asset drawn with at most its band indexes (`name|bidx=...`)."""
    for name in PUBLIC_REFUSED_PARAMS:
        if name in query:
            raise TileRequestRefused(
                f"{name} is not allowed on public tiles (the server chooses it)",
                code=f"{name.replace('_', '-')}-not-allowed",
                message_fr=f"{name} n'est pas permis sur les tuiles publiques (le serveur le choisit)",
            )
    if ints.get("tilesize", PUBLIC_TILESIZES[0]) not in PUBLIC_TILESIZES:
        raise TileRequestRefused(
            "tilesize must be 256 or 512 on public tiles",
            code="tilesize-not-allowed",
            message_fr="tilesize doit valoir 256 ou 512 sur les tuiles publiques",
        )
    for raw in query.get("assets", []):
        for option in raw.split("|")[1:]:
            if option.partition("=")[0] != "bidx":
                raise TileRequestRefused(
                    "assets options other than bidx are not allowed on public tiles",
                    code="asset-option-not-allowed",
                    message_fr="seule l'option bidx des fichiers est permise sur les tuiles publiques",
                )


@dataclass(frozen=True)
class TileAddress:
    tms: TileMatrixSet
    z: int
    x: int
    y: int
    tilesize: int | None


def tile_address(path_params: Mapping[str, Any], ints: Mapping[str, int]) -> TileAddress | None:
    """The tile a request names (None for routes without a tile), checked against its
    matrix; an unlisted tile matrix set is not found."""
    tms_id = path_params.get("tileMatrixSetId")
    if tms_id is None:
        return None
    tms = OFFERED_TMS.get(str(tms_id))
    if tms is None:
        offered = ", ".join(OFFERED_TMS)
        raise TileMatrixSetNotOffered(
            f"tile matrix set '{tms_id}' is not offered (offered: {offered})",
            message_fr=f"la grille de tuiles '{tms_id}' n'est pas proposée (grilles proposées : {offered})",
        )
    if "z" not in path_params:
        return None
    z = strict_int("z", str(path_params["z"]), tms.minzoom, tms.maxzoom)
    matrix = tms.matrix(z)
    x = strict_int("x", str(path_params["x"]), 0, matrix.matrixWidth - 1)
    y = strict_int("y", str(path_params["y"]), 0, matrix.matrixHeight - 1)
    return TileAddress(tms, z, x, y, ints.get("tilesize"))


def is_public(address: TileAddress, public_resolution_m: float) -> bool:
    resolution = ground_resolution(address.tms, address.z, address.x, address.y, address.tilesize)
    return resolution >= public_resolution_m


def _query_lists(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for name, value in pairs:
        query.setdefault(name, []).append(value)
    return query


async def tile_guard(request: Request) -> None:
    """Every route of the tiler router: the tile matrix set must be offered, the tile in
    its matrix, the parameters plain and bounded, the format an image one; a tile finer
    than the public resolution needs a caller in good standing (its items are filtered
    by `backend_params`)."""
    fmt = request.path_params.get("format")
    if fmt is not None and fmt not in IMAGE_FORMATS:
        raise TileRequestRefused(
            f"tile format '{fmt}' is not offered (png, jpeg, webp)",
            code="tile-format-not-offered",
            message_fr=f"le format de tuile '{fmt}' n'est pas proposé (png, jpeg, webp)",
        )
    name = getattr(request.scope.get("route"), "name", "")
    query = _query_lists(request.query_params.multi_items())
    ints = check_tile_query(query)
    address = tile_address(request.path_params, ints)
    request.state.tile_public = None
    request.state.tile_rescaled = bool(query.get("rescale"))
    if address is not None:
        settings = tiles_container(request).settings
        request.state.tile_public = is_public(address, settings.tiles_public_resolution_m)
        if request.state.tile_public and name == "tile":
            check_public_query(query, ints)


# --- Reading the private archive ------------------------------------------------------


def archive_path(href: str, archive_public_url: str) -> str | None:
    """`/vsis3/archive/<key>` for an href on our archive, None for anything else."""
    parts = urlsplit(href)
    public = urlsplit(archive_public_url)
    if parts.scheme == "s3":
        bucket, key = parts.netloc, parts.path.lstrip("/")
    elif (parts.scheme, parts.netloc) == (public.scheme, public.netloc):
        bucket, _, key = parts.path.lstrip("/").partition("/")
    else:
        return None
    segments = key.split("/")
    if bucket != ARCHIVE_BUCKET or parts.query or not key or any(s in ("", ".", "..") for s in segments):
        return None
    return f"/vsis3/{ARCHIVE_BUCKET}/{key}"


def pixel_metres(dataset: DatasetReader | WarpedVRT) -> float:
    """The finer side of a pixel of `dataset`, in metres (projected units, or degrees
    at the dataset's centre)."""
    a, e = abs(dataset.transform.a), abs(dataset.transform.e)
    crs = dataset.crs
    if crs is not None and crs.is_geographic:
        lat = math.radians((dataset.bounds.bottom + dataset.bounds.top) / 2)
        return min(a * 111_320 * math.cos(lat), e * 110_574)
    factor = crs.linear_units_factor[1] if crs is not None else 1.0
    return min(a, e) * factor


def open_public(path: str, resolution_m: float, stack: contextlib.ExitStack) -> DatasetReader | WarpedVRT:
    """`path` as a dataset no finer than `resolution_m`: the image itself when it is that
    coarse, else its first overview that is (COG overviews are averages), else a warped
    view of it decimated by a whole factor with average resampling (on the image's own
    grid). Whatever tile is asked, its pixels come from this dataset only."""
    src = stack.enter_context(rasterio.open(path))
    native = pixel_metres(src)
    if native >= resolution_m:
        return src
    for level, factor in enumerate(src.overviews(1)):
        if native * factor >= resolution_m * 0.999:
            overview = stack.enter_context(rasterio.open(path, overview_level=level))
            if pixel_metres(overview) >= resolution_m * 0.999:
                return overview
    k = math.ceil(resolution_m / native)
    return stack.enter_context(
        WarpedVRT(
            src,
            crs=src.crs,
            transform=src.transform * Affine.scale(k),
            width=max(1, math.ceil(src.width / k)),
            height=max(1, math.ceil(src.height / k)),
            resampling=Resampling.average,
        )
    )


@attr.s
class PublicAssetReader(Reader):
    """An asset as public tiles read it: from `open_public`, average resampling (read and
    warp), no buffer, padding, expression, nodata or unscale from the client."""

    public_resolution_m: float = attr.ib(default=10.0, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not self.dataset and self.input is not None:
            self.dataset = open_public(self.input, self.public_resolution_m, self._ctx_stack)
        super().__attrs_post_init__()

    def part(self, *args: Any, **kwargs: Any) -> ImageData:
        if kwargs.get("expression"):
            raise TileRequestRefused(
                "expression is not allowed on public tiles",
                code="expression-not-allowed",
                message_fr="expression n'est pas permis sur les tuiles publiques",
            )
        for name in ("buffer", "padding", "nodata", "unscale", "vrt_options", "align_bounds_with_dataset"):
            kwargs.pop(name, None)
        kwargs["resampling_method"] = PUBLIC_RESAMPLING
        kwargs["reproject_method"] = PUBLIC_RESAMPLING
        return super().part(*args, **kwargs)


def public_stretch(
    image: ImageData,
    collection: str | None,
    stretches: Mapping[str, tuple[float, float]],
    default: tuple[float, float],
) -> list[tuple[float, float]]:
    """The server's 8-bit stretch of an item's tile, one (min, max) per band: the
    collection's (settings), else the item's `raster:bands` statistics, else 0-255 for
    8-bit data and `default` for deeper data."""
    if collection is not None and collection in stretches:
        lo, hi = stretches[collection]
        return [(float(lo), float(hi))] * image.count
    stats = image.dataset_statistics
    if stats and len(stats) == image.count and all(hi > lo for lo, hi in stats):
        return [(float(lo), float(hi)) for lo, hi in stats]
    if image.data.dtype == np.uint8:
        return [(0.0, 255.0)] * image.count
    return [default] * image.count


@attr.s
class ArchiveReader(SimpleSTACReader):
    """titiler-pgstac's item reader, reading assets from the private archive by /vsis3.
    `public`: through `PublicAssetReader`; `stretch`: the server's 8-bit stretch (public
    tiles, and finer ones without `rescale`)."""

    archive_public_url: str = attr.ib(default="")
    public: bool = attr.ib(default=False)
    public_resolution_m: float = attr.ib(default=10.0)
    stretch: bool = attr.ib(default=True)
    stretches: Mapping[str, tuple[float, float]] = attr.ib(factory=dict)
    default_stretch: tuple[float, float] = attr.ib(default=(0.0, 4095.0))

    def __attrs_post_init__(self) -> None:
        if self.public:
            self.reader = PublicAssetReader
            self.reader_options = {**self.reader_options, "public_resolution_m": self.public_resolution_m}
        super().__attrs_post_init__()

    def tile(
        self,
        tile_x: int,
        tile_y: int,
        tile_z: int,
        assets: Sequence[AssetType] | AssetType | None = None,
        expression: str | None = None,
        asset_as_band: bool = False,
        **kwargs: Any,
    ) -> ImageData:
        if self.public and expression:
            raise TileRequestRefused(
                "expression is not allowed on public tiles",
                code="expression-not-allowed",
                message_fr="expression n'est pas permis sur les tuiles publiques",
            )
        image = super().tile(
            tile_x, tile_y, tile_z, assets, expression=expression, asset_as_band=asset_as_band, **kwargs
        )
        if self.stretch:
            ranges = public_stretch(image, self.input.get("collection"), self.stretches, self.default_stretch)
            image.rescale(ranges)
        return image

    def _get_asset_info(self, asset: AssetType) -> AssetInfo:
        try:
            info = super()._get_asset_info(asset)
        except ValueError as exc:  # the caller's asset: no name (`assets=`), `bands` it has no metadata for
            log.info("asset refused: %s", str(exc)[:300])
            raise InvalidTileParameter(
                "assets: each asset must be named, with options that fit it",
                message_fr="assets : chaque fichier doit être nommé, avec des options qui lui conviennent",
            ) from exc
        path = archive_path(info["url"], self.archive_public_url)
        if path is None or not (info.get("media_type") or "").startswith(DRAWABLE_TYPES):
            name = asset if isinstance(asset, str) else asset.get("name")
            raise TileRequestRefused(
                f"asset '{name}' is not an archived image and cannot be drawn",
                code="asset-not-drawable",
                message_fr=f"le fichier '{name}' n'est pas une image de l'archive et ne peut être affiché",
            )
        info["url"] = path
        return info


@dataclass(init=False)
class ArchiveReaderParams(DefaultDependency):
    archive_public_url: str
    public: bool
    public_resolution_m: float
    stretch: bool
    stretches: dict[str, tuple[float, float]]
    default_stretch: tuple[float, float]

    def __init__(self, request: Request) -> None:
        settings = tiles_container(request).settings
        self.archive_public_url = settings.s3_public_url
        # A tile route's `tile_guard` decided; elsewhere (no tile), the public reading.
        self.public = getattr(request.state, "tile_public", None) is not False
        self.public_resolution_m = settings.tiles_public_resolution_m
        self.stretch = self.public or not getattr(request.state, "tile_rescaled", False)
        self.stretches = dict(settings.tiles_public_stretch)
        self.default_stretch = settings.tiles_public_stretch_default


# --- Who sees which item on full-resolution tiles; registrations that expire -------------

SEARCH_TOUCH_S = 3600.0  # a used search's `lastused` is brought forward at most hourly
_touched: dict[str, float] = {}
_touched_lock = threading.Lock()


@attr.s
class ArchiveBackend(PGSTACBackend):
    """titiler-pgstac's mosaic backend; on tiles finer than the public resolution, only
    the items the caller may read are drawn. A registered search unused for `search_ttl_s`
    has expired (404); using one brings its `lastused` forward (at most hourly)."""

    item_filter: Callable[[list[Item]], list[Item]] | None = attr.ib(default=None)
    search_ttl_s: float | None = attr.ib(default=None)

    def info(self) -> model.Search:  # type: ignore[override]
        search: model.Search = super().info()
        if self.search_ttl_s is not None:
            age = datetime.now(UTC) - search.lastused
            if age > timedelta(seconds=self.search_ttl_s):
                # titiler keeps `info` a few minutes: a registration renewed since then counts.
                age = datetime.now(UTC) - self._lastused(search.id)
            if age > timedelta(seconds=self.search_ttl_s):
                days = f"{self.search_ttl_s / 86400:g}"
                raise SearchExpired(
                    f"search {search.id} expired (unused for {days} days): register it again",
                    message_fr=f"la recherche {search.id} a expiré (inutilisée depuis {days} jours) : "
                    "enregistrez-la à nouveau",
                )
            if age > timedelta(seconds=SEARCH_TOUCH_S):
                self._touch(search.id)
        return search

    def _lastused(self, search_hash: str) -> datetime:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT lastused FROM pgstac.searches WHERE hash = %s", (search_hash,)
            ).fetchone()
        if row is None:
            raise MosaicNotFoundError(f"SearchId `{search_hash}` not found")
        lastused: datetime = row[0]
        return lastused

    def _touch(self, search_hash: str) -> None:
        now = time.monotonic()
        with _touched_lock:
            if _touched.get(search_hash, 0.0) > now:
                return
            if len(_touched) > 10_000:
                _touched.clear()
            _touched[search_hash] = now + SEARCH_TOUCH_S
        with self.pool.connection() as conn:
            conn.execute("UPDATE pgstac.searches SET lastused = now() WHERE hash = %s", (search_hash,))

    def assets_for_tile(self, x: int, y: int, z: int, **kwargs: Any) -> list[Item]:
        self.info()
        items = super().assets_for_tile(x, y, z, **kwargs)
        return self.item_filter(items) if self.item_filter else items

    def assets_for_point(self, lng: float, lat: float, *args: Any, **kwargs: Any) -> list[Item]:
        self.info()  # expiry, as for tiles (items only: no pixels)
        return super().assets_for_point(lng, lat, *args, **kwargs)

    def assets_for_bbox(
        self, xmin: float, ymin: float, xmax: float, ymax: float, *args: Any, **kwargs: Any
    ) -> list[Item]:
        self.info()
        return super().assets_for_bbox(xmin, ymin, xmax, ymax, *args, **kwargs)


@dataclass(init=False)
class ArchiveBackendParams(DefaultDependency):
    pool: ConnectionPool
    item_filter: Callable[[list[Item]], list[Item]] | None
    search_ttl_s: float | None


async def backend_params(request: Request) -> ArchiveBackendParams:
    """The tile policy (after `tile_guard`): a tile finer than the public resolution needs
    a caller who authenticates and stands as an active member (or staff), and shows only
    the items the orders service allows it."""
    tiles = tiles_container(request)
    params = ArchiveBackendParams()
    params.pool = request.app.state.dbpool
    params.item_filter = None
    params.search_ttl_s = tiles.settings.tiles_search_ttl_days * 86400
    if getattr(request.state, "tile_public", None) is False:
        await current_principal(request)
        access = tiles.item_access
        credentials = forwarded_credentials(request.headers)
        await access.check_standing(tiles.http, credentials)

        def item_filter(items: list[Item]) -> list[Item]:
            allowed = access.allowed(credentials, [i["id"] for i in items]) if items else set()
            return [i for i in items if i["id"] in allowed]

        params.item_filter = item_filter
    return params


def render_8bit(
    image: ImageData, *, rescale: Any = None, output_format: ImageType | None = None, **kwargs: Any
) -> tuple[bytes, str]:
    """titiler's renderer, always to 8 bits: the client's `rescale` (finer tiles only:
    `tile_guard` refuses it on public ones), else the server's stretch already applied by
    `ArchiveReader` (values 0-255; a mean of several items is brought back to uint8). A
    tile is a picture, never the archive's radiometry."""
    if not rescale:
        rescale = [(0.0, 255.0)] * image.count
    if output_format is not None and output_format.value not in IMAGE_FORMATS:
        raise TileRequestRefused(
            "tile format not offered",
            code="tile-format-not-offered",
            message_fr="format de tuile non proposé",
        )
    image.rescale(rescale)
    if image.data.dtype != "uint8":
        raise TileRequestRefused(
            "the tile is not an 8-bit picture", message_fr="la tuile n'est pas une image 8 bits"
        )
    return render_image(image, output_format=output_format, **kwargs)


def no_algorithm() -> None:
    """No post-processing algorithms (some encode the values losslessly in RGB)."""
    return None


# --- Routes ----------------------------------------------------------------------------


class SearchTilerFactory(MosaicTilerFactory):
    """Only what a web map needs: tiles, TileJSON, tile matrix sets, a tile's items.
    Left out on purpose: `/bbox`, `/feature`, `/statistics` and `/point` (they read
    full-resolution pixels of any area without the resolution rule) and the HTML viewer."""

    def register_routes(self) -> None:
        self.tilesets()
        self.tile()
        self.tilejson()
        self.assets()


def search_tiler() -> SearchTilerFactory:
    return SearchTilerFactory(
        router=APIRouter(dependencies=[Depends(tile_guard)]),
        path_dependency=_search_id,
        backend=ArchiveBackend,
        backend_dependency=backend_params,  # type: ignore[arg-type]
        dataset_reader=ArchiveReader,
        reader_dependency=ArchiveReaderParams,
        process_dependency=no_algorithm,
        render_func=render_8bit,
        supported_tms=SUPPORTED_TMS,
        router_prefix="/searches/{search_id}",
        add_viewer=False,
        extensions=[searchInfoExtension()],
    )


def _search_id(search_id: str) -> str:
    # pgSTAC search hashes are md5 hex digests; anything else cannot exist.
    if not re.fullmatch(r"[0-9a-f]{32}", search_id):
        raise MosaicNotFoundError(f"SearchId `{search_id}` not found")
    return search_id


# --- Search registration: bounded body, rate, and valid input -------------------------


def _default_value_ok(value: Any, depth: int = 0) -> bool:
    """A layer default is a query parameter's value: a string, finite number or boolean,
    or a list of them (two levels for `rescale`'s `[[min, max], ...]`)."""
    if isinstance(value, bool | str):
        return True
    if isinstance(value, int | float):
        return math.isfinite(value)
    if isinstance(value, list) and depth < 2:
        return len(value) <= 32 and all(_default_value_ok(v, depth + 1) for v in value)
    return False


class RegisterMetadata(model.Metadata):
    type: Literal["mosaic"] = "mosaic"
    defaults: dict[str, dict[str, Any]] | None = Field(default=None, max_length=20)

    @field_validator("defaults")
    @classmethod
    def plain_defaults(cls, v: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        for layer in (v or {}).values():
            for name, value in layer.items():
                if name == "colormap" and isinstance(value, dict | str):
                    continue
                if not _default_value_ok(value):
                    raise ValueError(
                        f"metadata.defaults: {name[:40]} must be a string, number or list of them"
                    )
        return v


class RegisterBody(model.RegisterMosaic):
    metadata: RegisterMetadata = Field(default_factory=RegisterMetadata)

    @field_validator("bbox")
    @classmethod
    def finite_bbox(cls, v: Any) -> Any:
        if v is not None and not all(math.isfinite(x) for x in v):
            raise ValueError("bbox values must be finite numbers")
        return v

    @field_validator("intersects")
    def validate_spatial(cls, v: Any, info: ValidationInfo) -> Any:
        # titiler's own reads info.data["bbox"], absent when the bbox was invalid (a 500).
        if v and info.data.get("bbox"):
            raise ValueError("intersects and bbox parameters are mutually exclusive")
        return v


class RateLimiter:
    """At most `per_minute` events per key over any sliding minute (this process)."""

    def __init__(self, per_minute: int, window_s: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self._events: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        events = self._events.get(key)
        if events is None:
            if len(self._events) > 100_000:
                self._events = {k: q for k, q in self._events.items() if q and q[-1] > now - self.window_s}
            events = self._events[key] = deque()
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if len(events) >= self.per_minute:
            return False
        events.append(now)
        return True


async def register_params(request: Request, body: RegisterBody) -> tuple[model.PgSTACSearch, model.Metadata]:
    """titiler's SearchParams, after the per-client rate (the principal when the caller
    sends credentials, else its address) and with `metadata.defaults` checked."""
    if forwarded_credentials(request.headers).keys() - {"accept-language"}:
        key = f"user:{(await authenticated_principal(request)).user_id}"
    else:
        key = f"ip:{request.client.host if request.client else 'unknown'}"
    limiter: RateLimiter = request.app.state.register_limiter
    if not limiter.allow(key):
        raise TooManyRegistrations(
            f"at most {limiter.per_minute} search registrations per minute",
            message_fr=f"au plus {limiter.per_minute} enregistrements de recherche par minute",
        )
    try:
        body.metadata.defaults_params  # noqa: B018 (titiler reads it after registering)
    except (TypeError, ValueError, AttributeError) as exc:
        raise TileRequestRefused(
            f"invalid metadata.defaults ({type(exc).__name__})",
            code="invalid-search",
            message_fr="metadata.defaults invalide",
        ) from exc
    search = body.model_dump(exclude_none=True, exclude={"metadata"}, by_alias=True)
    return model.PgSTACSearch(**search), body.metadata


class RegisterBodyLimit:
    """ASGI middleware: `POST /searches/register` bodies of at most `max_bytes` (read
    before FastAPI parses them: 413 beyond, whatever Content-Length says), and a JSON
    object without NaN or Infinity (400 `invalid-json` / `invalid-body`, as the STAC API)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != REGISTER_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        too_large = declared.isdigit() and int(declared) > self.max_bytes
        while not too_large:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            too_large = size > self.max_bytes
            if not message.get("more_body"):
                break
        if too_large:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or []}
            english = prefers_english(headers.get("accept-language", ""))
            limit = f"{self.max_bytes // 1024} KiB"
            detail = (
                f"the search body is larger than {limit}"
                if english
                else f"le corps de la recherche dépasse {limit} (the search body is larger than {limit})"
            )
            response = problem_response(413, "RegistrationTooLarge", detail, RegistrationTooLarge.code)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        body = b"".join(chunks)
        refused = body_error(body)
        if refused is not None:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or []}
            log.info("search registration refused %d %s", refused.http_status, refused.code)
            await dinamis_error_response(refused, headers.get("accept-language", ""))(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def purge_expired_searches(pool: ConnectionPool, ttl_s: float) -> int:
    """Delete the tiler's registrations (`metadata.type` mosaic) unused for `ttl_s`."""
    with pool.connection() as conn:
        cursor = conn.execute(
            "DELETE FROM pgstac.searches WHERE metadata->>'type' = 'mosaic' "
            "AND lastused < now() - make_interval(secs => %s)",
            (ttl_s,),
        )
        return cursor.rowcount


async def purge_pass(app: FastAPI, settings: TilesSettings) -> None:
    removed = await asyncio.to_thread(
        purge_expired_searches, app.state.dbpool, settings.tiles_search_ttl_days * 86400
    )
    if removed:
        log.info("purged %d expired tile searches", removed)


# --- Errors ----------------------------------------------------------------------------

# Our French-first problem details for titiler's errors (its own handlers answer {"detail"}).
FRENCH = {
    404: "Ressource de tuiles introuvable",
    400: "Requête de tuile invalide",
    422: "Paramètres de tuile invalides",
    501: "Non disponible",
}
ENGLISH = {
    404: "tile resource not found",
    400: "invalid tile request",
    422: "invalid tile parameters",
    501: "not available",
}


def install_tiler_errors(app: FastAPI) -> None:
    codes = {**DEFAULT_STATUS_CODES, **MOSAIC_STATUS_CODES, **PGSTAC_STATUS_CODES, ValidationError: 422}
    # Unexpected errors keep the platform's generic handler (problem details, 503 on outages).
    for cls in (Exception, *(c for c, s in codes.items() if s >= 500 and c is not NotImplementedError)):
        codes.pop(cls, None)

    def handler_for(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def handler(request: Request, exc: Exception) -> Response:
            if status == 204:
                return Response(status_code=204)
            # The exception's text may name archive paths (/vsis3/...) or item internals:
            # logged, never returned.
            log.info("tile request refused (%d): %s: %s", status, type(exc).__name__, str(exc)[:500])
            english = prefers_english(request.headers.get("accept-language", ""))
            generic = ENGLISH.get(status, "tile request error")
            detail = generic if english else f"{FRENCH.get(status, 'Erreur')} / {generic}"
            name = type(exc).__name__.removesuffix("Error")
            code = re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()
            return problem_response(status, type(exc).__name__, detail, code)

        return handler

    for cls, status in codes.items():
        app.add_exception_handler(cls, handler_for(status))

    async def sensor_geometry(request: Request, exc: Exception) -> Response:
        """An image in sensor geometry (no map projection, located by RPCs) has no map
        tiles: the caller's request cannot be served, it is not a server error."""
        log.info("tile request on an image without map projection: %s", str(exc)[:300])
        english = prefers_english(request.headers.get("accept-language", ""))
        detail = (
            "the image is in sensor geometry (no map projection): it has no map tiles"
            if english
            else "l'image est en géométrie capteur (sans projection cartographique) : elle n'a pas "
            "de tuiles / the image is in sensor geometry (no map projection): it has no map tiles"
        )
        return problem_response(422, "SensorGeometry", detail, "sensor-geometry")

    app.add_exception_handler(CRSError, sensor_geometry)

    async def invalid_search(request: Request, exc: Exception) -> Response:
        """pgSTAC refuses the search (unknown operator, bad datetime...): the caller's fault.
        The database's text is logged, never returned."""
        cause = exc.__cause__ or exc
        log.info("search refused by pgSTAC: %s: %s", type(cause).__name__, str(cause)[:500])
        english = prefers_english(request.headers.get("accept-language", ""))
        detail = (
            "the search is invalid (unknown property or operator, malformed value)"
            if english
            else "Recherche invalide (propriété ou opérateur inconnu, valeur mal formée) / invalid search"
        )
        return problem_response(400, "Invalid search", detail, "invalid-search")

    CALLER_DATABASE_ERRORS = (
        pg_errors.DataError,
        pg_errors.RaiseException,
        pg_errors.SyntaxErrorOrAccessRuleViolation,
    )

    async def database_error(request: Request, exc: Exception) -> Response:
        """Any other database error: a generic problem, the detail in the log only."""
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            response = problem_response(
                503,
                "Service unavailable",
                "Service momentanément indisponible, réessayez / service temporarily unavailable, retry",
                "unavailable",
            )
            response.headers["Retry-After"] = "5"
            return response
        if isinstance(exc, CALLER_DATABASE_ERRORS):
            return await invalid_search(request, exc)
        log.error("tile database error: %s", exc, exc_info=exc)
        detail = "Erreur interne du serveur de tuiles / tile server internal error"
        return problem_response(500, "Internal error", detail, "internal-error")

    app.add_exception_handler(BackendError, invalid_search)
    app.add_exception_handler(psycopg.Error, database_error)


def mount_tiles(app: FastAPI, settings: TilesSettings) -> SearchTilerFactory:
    """Add the search registration and tile routes to `app` (which must hold the titiler
    pool as `app.state.dbpool` and its container from `tiles_bootstrap`)."""
    tiler = search_tiler()
    app.include_router(tiler.router, tags=["tiles"], prefix="/searches/{search_id}")
    app.state.register_limiter = RateLimiter(settings.tiles_register_per_minute)
    add_search_register_route(
        app,
        prefix="/searches",
        search_dependency=register_params,  # type: ignore[arg-type]
        tile_dependencies=[
            tiler.layer_dependency,
            tiler.dataset_dependency,
            tiler.pixel_selection_dependency,
            tiler.render_dependency,
            tiler.assets_accessor_dependency,
        ],
        tags=["tiles"],
    )
    install_tiler_errors(app)
    add_checked_middleware(app, RegisterBodyLimit, max_bytes=settings.tiles_register_max_bytes)
    return tiler


TILE_PATH = re.compile(
    r"^/searches/[^/]+/tiles/(?P<tms>[^/]+)/(?P<z>[^/]+)/(?P<x>[^/]+)/(?P<y>[^/.]+)(?:\.[^/]*)?$"
)


def cache_control(path: str, query: str, status: int, public_resolution_m: float) -> str | None:
    """Tiles at or coarser than the public resolution may be cached by anyone; any other
    answer on a tile path is for this caller only and not stored."""
    match = TILE_PATH.match(path)
    if match is None:
        return None
    if status == 200:
        try:
            query_lists = _query_lists(parse_qsl(query, keep_blank_values=True))
            ints = check_tile_query(query_lists)
            address = tile_address({"tileMatrixSetId": match["tms"], **match.groupdict()}, ints)
            if address is not None and is_public(address, public_resolution_m):
                return "public, max-age=3600"
        except (DinamisError, ValueError):
            pass
    return "private, no-store"
