"""`dinamis-catalog-tiles`: the catalogue's map tiles (titiler-pgstac on the same pgSTAC
database), a process of its own beside `dinamis-catalog`.

Why a second process: rendering a tile is CPU work (decode, warp, encode) that comes in
bursts of dozens of requests per map move; in the catalog process it would take CPU from
searches and from indexing, and the two do not grow with the same users (map viewers vs
API clients). Separate replicas scale and fail apart; both read the same settings.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dinamis_catalog.entrypoints.footprints import mount_footprints
from dinamis_catalog.entrypoints.stac_api import install_http_problems, with_problem_openapi
from dinamis_catalog.entrypoints.tiles import cache_control, mount_tiles
from dinamis_catalog.settings import TilesSettings
from dinamis_catalog.tiles_bootstrap import bootstrap_tiles, start_tiles, stop_tiles
from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, create_service_app, run

__all__ = ["TilesSettings", "create_app", "gdal_environment", "main"]

DEPENDENCIES = (Dependency.POSTGRES, Dependency.S3)


def gdal_environment(settings: TilesSettings) -> dict[str, str]:
    """GDAL configuration to read the archive by /vsis3 (process-wide: GDAL reads it in
    every thread of the tiler's pools; rasterio.Env refuses credentials)."""
    return {
        "AWS_S3_ENDPOINT": settings.s3_endpoint,
        "AWS_HTTPS": "YES" if settings.s3_secure else "NO",
        "AWS_VIRTUAL_HOSTING": "FALSE",
        "AWS_REGION": settings.s3_region,
        "AWS_ACCESS_KEY_ID": settings.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": settings.s3_secret_key.get_secret_value(),
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_MULTIPLEX": "YES",
        "GDAL_CACHEMAX": str(settings.gdal_cachemax_mb),
        "VSI_CACHE": "TRUE",
        "GDAL_HTTP_MAX_RETRY": "2",
        "GDAL_HTTP_TIMEOUT": "20",
    }


def create_app(settings: TilesSettings | None = None) -> FastAPI:
    settings = settings or TilesSettings()
    os.environ.update(gdal_environment(settings))

    app = create_service_app(
        ServiceDefinition(
            settings=settings,
            dependencies=DEPENDENCIES,
            bootstrap=bootstrap_tiles,
            title="Tuiles du catalogue DINAMIS / DINAMIS catalogue tiles",
            on_startup=[start_tiles],
            on_shutdown=[stop_tiles],
        )
    )
    mount_tiles(app, settings)
    mount_footprints(app, settings)
    install_http_problems(app)
    with_problem_openapi(app, validation_status="422")

    app.add_middleware(TileCaching, public_resolution_m=settings.tiles_public_resolution_m)

    # The web map is served from other origins.
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"]
    )
    return app


class TileCaching:
    """`Cache-Control` of a tile answer (`cache_control`). Plain ASGI: Starlette's
    `BaseHTTPMiddleware` would run each tile in a task of its own behind a queue."""

    def __init__(self, app: ASGIApp, public_resolution_m: float) -> None:
        self.app = app
        self.public_resolution_m = public_resolution_m

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_caching(message: Message) -> None:
            if message["type"] == "http.response.start":
                query = scope.get("query_string", b"").decode("latin-1")
                value = cache_control(scope["path"], query, message["status"], self.public_resolution_m)
                if value:
                    MutableHeaders(scope=message)["Cache-Control"] = value
            await send(message)

        await self.app(scope, receive, send_with_caching)


def main() -> None:
    settings = TilesSettings()
    run(lambda: create_app(settings), settings)
