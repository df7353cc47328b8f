"""`dinamis-catalog-tiles`: the catalogue's map tiles (titiler-pgstac on the same pgSTAC
database), a process of its own beside `dinamis-catalog`.

Why a second process: rendering a tile is CPU work (decode, warp, encode) that comes in
bursts of dozens of requests per map move; in the catalog process it would take CPU from
searches and from indexing, and the two do not grow with the same users (map viewers vs
API clients). Separate replicas scale and fail apart; both read the same settings.
"""

from __future__ import annotations

import os
from typing import ClassVar

import httpx
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from pydantic_settings import SettingsConfigDict
from titiler.pgstac.db import close_db_connection, connect_to_db
from titiler.pgstac.settings import PostgresSettings as TilerPostgresSettings

from dinamis_catalog.app import CatalogSettings
from dinamis_catalog.entrypoints.tiles import ItemAccess, cache_control, mount_tiles
from dinamis_shared.auth import OrdersApiKeyResolver, authenticator_from_settings, install_authenticator
from dinamis_shared.health import Dependency
from dinamis_shared.service import Resources, ServiceDefinition, create_service_app, run


class TilesSettings(CatalogSettings):
    """Env prefix `DINAMIS_CATALOG_TILES_`, falling back to the platform-wide `DINAMIS_`
    (the archive URL and stores are the catalog's)."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_CATALOG_TILES_", extra="ignore")

    SERVICE: ClassVar[str] = "catalog-tiles"

    http_port: int = 8106
    # Up to this zoom tiles are public (13: ~13 m per pixel at 45°N, coarser than any
    # product we hold); finer tiles need an account and show only the items it may read.
    tiles_public_max_zoom: int = 13
    db_max_conn: int = 4
    # GDAL's block cache for the archive COGs, in MB.
    gdal_cachemax_mb: int = 256


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

    async def open_pools(app: FastAPI, resources: Resources) -> None:
        await connect_to_db(
            app,
            settings=TilerPostgresSettings(
                database_url=settings.postgres_dsn.get_secret_value(),
                db_min_conn_size=1,
                db_max_conn_size=settings.db_max_conn,
            ),
            pool_kwargs={"options": "-c search_path=pgstac,public -c application_name=dinamis-catalog-tiles"},
        )
        http = httpx.AsyncClient(timeout=10.0)
        resources.extra["http"] = http
        resources.extra["item_access"] = ItemAccess(settings.orders_url)
        install_authenticator(
            app, authenticator_from_settings(settings, OrdersApiKeyResolver(settings.orders_url, client=http))
        )

    async def close_pools(app: FastAPI, resources: Resources) -> None:
        await resources.extra["http"].aclose()
        resources.extra["item_access"].close()
        await close_db_connection(app)

    app = create_service_app(
        ServiceDefinition(
            settings=settings,
            dependencies=DEPENDENCIES,
            title="Tuiles du catalogue DINAMIS / DINAMIS catalogue tiles",
            on_startup=[open_pools],
            on_shutdown=[close_pools],
        )
    )
    mount_tiles(app)

    @app.middleware("http")
    async def tile_caching(request: Request, call_next):
        response = await call_next(request)
        value = cache_control(request.url.path, response.status_code, settings.tiles_public_max_zoom)
        if value:
            response.headers["Cache-Control"] = value
        return response

    # The web map is served from other origins.
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"]
    )
    return app


def main() -> None:
    settings = TilesSettings()
    run(lambda: create_app(settings), settings)
