"""Map tiles for the web map: titiler-pgstac mosaics of catalogue searches, rendered from
the archive COGs.

    POST /searches/register                                   a search -> its id (hash)
    GET  /searches/{id}/info                                  the registered search
    GET  /searches/{id}/WebMercatorQuad/tilejson.json?assets=...
    GET  /searches/{id}/tiles/WebMercatorQuad/{z}/{x}/{y}.png?assets=pan&rescale=0,4000
    GET  /searches/{id}/tiles/{tms}/{z}/{x}/{y}/assets        the items drawn on a tile

Who may call them: anyone up to `public_max_zoom` (a map of the catalogue, no finer than
previews); above it, an authenticated caller, and each tile shows only the items that
caller may read (the orders service decides, as for signed URLs). A tile with no item
answers 204 (titiler's answer for an empty mosaic).

The archive is private: asset hrefs (`<archive_public_url>/archive/<key>`, `s3://archive/<key>`)
are read as `/vsis3/archive/<key>` with the service's own S3 credentials (GDAL environment set
by the tiles process); any other href is refused, so a tile never fetches a foreign URL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import attr
from fastapi import FastAPI, Request
from fastapi.responses import Response
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool
from pydantic import ValidationError
from rio_tiler.types import AssetInfo, AssetType
from titiler.core.dependencies import DefaultDependency
from titiler.core.errors import DEFAULT_STATUS_CODES
from titiler.mosaic.errors import MOSAIC_STATUS_CODES
from titiler.pgstac.backend import PGSTACBackend
from titiler.pgstac.errors import PGSTAC_STATUS_CODES, BackendError, MosaicNotFoundError
from titiler.pgstac.extensions import searchInfoExtension
from titiler.pgstac.factory import MosaicTilerFactory, add_search_register_route
from titiler.pgstac.reader import Item, SimpleSTACReader

from dinamis_catalog.adapters.orders import forwarded_credentials
from dinamis_catalog.tiles_bootstrap import tiles_container
from dinamis_shared.auth import current_principal
from dinamis_shared.errors import DinamisError
from dinamis_shared.health import prefers_english, problem_response

log = logging.getLogger(__name__)

ARCHIVE_BUCKET = "archive"
MAX_TILESIZE = 1024
DRAWABLE_TYPES = ("image/tiff",)


class TileRequestRefused(DinamisError):
    code = "tile-request-refused"
    http_status = 400


TILE_PATH = re.compile(r"/tiles/[^/]+/(?P<z>\d+)/\d+/\d+")


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


@attr.s
class ArchiveReader(SimpleSTACReader):
    """titiler-pgstac's item reader, reading assets from the private archive by /vsis3."""

    archive_public_url: str = attr.ib(default="")

    def _get_asset_info(self, asset: AssetType) -> AssetInfo:
        info = super()._get_asset_info(asset)
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

    def __init__(self, request: Request) -> None:
        self.archive_public_url = tiles_container(request).settings.archive_public_url


# --- Who sees which item on full-resolution tiles --------------------------------------


@attr.s
class ArchiveBackend(PGSTACBackend):
    """titiler-pgstac's mosaic backend; on full-resolution tiles, only the items the
    caller may read are drawn."""

    item_filter: Callable[[list[Item]], list[Item]] | None = attr.ib(default=None)

    def assets_for_tile(self, x: int, y: int, z: int, **kwargs: Any) -> list[Item]:
        items = super().assets_for_tile(x, y, z, **kwargs)
        return self.item_filter(items) if self.item_filter else items


@dataclass(init=False)
class ArchiveBackendParams(DefaultDependency):
    pool: ConnectionPool
    item_filter: Callable[[list[Item]], list[Item]] | None


async def backend_params(request: Request) -> ArchiveBackendParams:
    """The tile policy. Public up to `tiles_public_max_zoom`; above, the caller must
    authenticate, stand as an active member (or staff), and sees only the items the orders
    service allows. Tiles are at most MAX_TILESIZE pixels wide (a larger one asks for a
    whole scene at full resolution, or for all the memory)."""
    tilesize = request.query_params.get("tilesize")
    if tilesize and tilesize.isdigit() and int(tilesize) > MAX_TILESIZE:
        raise TileRequestRefused(
            f"tilesize is at most {MAX_TILESIZE}",
            code="tilesize-too-large",
            message_fr=f"tilesize vaut au plus {MAX_TILESIZE}",
        )
    params = ArchiveBackendParams()
    params.pool = request.app.state.dbpool
    params.item_filter = None
    z = request.path_params.get("z")
    tiles = tiles_container(request)
    if z is not None and int(z) > tiles.settings.tiles_public_max_zoom:
        await current_principal(request)
        access = tiles.item_access
        credentials = forwarded_credentials(request.headers)
        await access.check_standing(tiles.http, credentials)

        def item_filter(items: list[Item]) -> list[Item]:
            allowed = access.allowed(credentials, [i["id"] for i in items]) if items else set()
            return [i for i in items if i["id"] in allowed]

        params.item_filter = item_filter
    return params


# --- Routes ----------------------------------------------------------------------------


class SearchTilerFactory(MosaicTilerFactory):
    """Only what a web map needs: tiles, TileJSON, tile matrix sets, a tile's items.
    Left out on purpose: `/bbox`, `/feature`, `/statistics` and `/point` (they read
    full-resolution pixels of any area without the zoom rule) and the HTML viewer."""

    def register_routes(self) -> None:
        self.tilesets()
        self.tile()
        self.tilejson()
        self.assets()


def search_tiler() -> SearchTilerFactory:
    return SearchTilerFactory(
        path_dependency=_search_id,
        backend=ArchiveBackend,
        backend_dependency=backend_params,  # type: ignore[arg-type]
        dataset_reader=ArchiveReader,
        reader_dependency=ArchiveReaderParams,
        router_prefix="/searches/{search_id}",
        add_viewer=False,
        extensions=[searchInfoExtension()],
    )


def _search_id(search_id: str) -> str:
    # pgSTAC search hashes are md5 hex digests; anything else cannot exist.
    if not re.fullmatch(r"[0-9a-f]{32}", search_id):
        raise MosaicNotFoundError(f"SearchId `{search_id}` not found")
    return search_id


# Our French-first problem details for titiler's errors (its own handlers answer {"detail"}).
FRENCH = {
    404: "Ressource de tuiles introuvable",
    400: "Requête de tuile invalide",
    422: "Paramètres de tuile invalides",
    501: "Non disponible",
}


def install_tiler_errors(app: FastAPI) -> None:
    codes = {**DEFAULT_STATUS_CODES, **MOSAIC_STATUS_CODES, **PGSTAC_STATUS_CODES, ValidationError: 422}
    # Unexpected errors keep the platform's generic handler (problem details, 503 on outages).
    for cls in (Exception, *(c for c, s in codes.items() if s >= 500 and c is not NotImplementedError)):
        codes.pop(cls, None)

    def handler_for(status: int):
        async def handler(request: Request, exc: Exception) -> Response:
            if status == 204:
                return Response(status_code=204)
            english = prefers_english(request.headers.get("accept-language", ""))
            detail = str(exc) if english else f"{FRENCH.get(status, 'Erreur')} ({exc})"
            name = type(exc).__name__.removesuffix("Error")
            code = re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()
            return problem_response(status, type(exc).__name__, detail, code)

        return handler

    for cls, status in codes.items():
        app.add_exception_handler(cls, handler_for(status))

    async def invalid_search(request: Request, exc: Exception) -> Response:
        """pgSTAC refuses the search (unknown operator, bad datetime...): the caller's fault.
        (titiler answers 500; a database outage raises OperationalError, not these.)"""
        cause = exc.__cause__ or exc
        english = prefers_english(request.headers.get("accept-language", ""))
        reason = str(cause).splitlines()[0]
        detail = reason if english else f"Recherche invalide ({reason})"
        return problem_response(400, "Invalid search", detail, "invalid-search")

    app.add_exception_handler(BackendError, invalid_search)
    app.add_exception_handler(pg_errors.RaiseException, invalid_search)


def mount_tiles(app: FastAPI) -> SearchTilerFactory:
    """Add the search registration and tile routes to `app` (which must hold the titiler
    pool as `app.state.dbpool` and its container from `tiles_bootstrap`)."""
    tiler = search_tiler()
    app.include_router(tiler.router, tags=["tiles"], prefix="/searches/{search_id}")
    add_search_register_route(
        app,
        prefix="/searches",
        tile_dependencies=[
            tiler.layer_dependency,
            tiler.dataset_dependency,
            tiler.pixel_selection_dependency,
            tiler.process_dependency,
            tiler.render_dependency,
            tiler.assets_accessor_dependency,
        ],
        tags=["tiles"],
    )
    install_tiler_errors(app)
    return tiler


def cache_control(path: str, status: int, public_max_zoom: int) -> str | None:
    """Public tiles may be cached by anyone; full-resolution ones are per caller."""
    match = TILE_PATH.search(path)
    if status != 200 or match is None:
        return None
    if int(match["z"]) > public_max_zoom:
        return "private, max-age=300"
    return "public, max-age=3600"
