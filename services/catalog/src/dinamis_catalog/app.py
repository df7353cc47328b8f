"""The catalog service: a STAC API on pgSTAC (stac-fastapi-pgstac) and, in the same
process, the Kafka consumer that indexes `scene-ingested` items.

One process, not two console scripts: both need the same database pools and
settings, readiness covers both, and a catalog replica is then one unit to scale.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from stac_fastapi.pgstac.app import instantiate_api
from stac_fastapi.pgstac.config import PostgresSettings
from stac_fastapi.pgstac.config import Settings as StacSettings
from stac_fastapi.pgstac.db import close_db_connection, connect_to_db
from stac_fastapi.pgstac.models.extensions import Extensions

from dinamis_catalog.entrypoints import previews, signing
from dinamis_catalog.service.indexer import Indexer
from dinamis_shared.auth import OrdersApiKeyResolver, authenticator_from_settings, install_authenticator
from dinamis_shared.events import SceneIngestedV1
from dinamis_shared.health import Dependency, install_dinamis_error_handler
from dinamis_shared.service import Resources, ServiceDefinition, create_service_app, run
from dinamis_shared.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    """Env prefix `DINAMIS_CATALOG_`, falling back to the platform-wide `DINAMIS_`."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_CATALOG_", extra="ignore")

    SERVICE: ClassVar[str] = "catalog"

    http_port: int = 8102
    title: str = "Catalogue DINAMIS / DINAMIS catalogue"
    coverage_years: list[int] = Field(default_factory=lambda: list(range(2023, datetime.now(UTC).year + 1)))
    db_max_conn: int = 10
    # How users reach this API (previews' public hrefs are built on it).
    public_url: str = "http://127.0.0.1:8102"
    # Signed URLs: where users reach the object store, default and longest validity.
    archive_public_url: str = "http://127.0.0.1:8333"
    sign_default_seconds: int = 7 * 24 * 3600
    sign_max_seconds: int = 7 * 24 * 3600


DEPENDENCIES = (Dependency.KAFKA, Dependency.POSTGRES, Dependency.S3)
DESCRIPTION = (
    "Images satellitaires à très haute résolution (Pléiades, Pléiades Neo, SPOT 6/7) pour les acteurs "
    "publics français. / Very-high-resolution satellite imagery for French public institutions."
)


def postgres_settings(dsn: str, max_conn: int) -> PostgresSettings:
    url = urlsplit(dsn)
    return PostgresSettings(
        pguser=url.username or "",
        pgpassword=url.password or "",
        pghost=url.hostname or "127.0.0.1",
        pgport=url.port or 5432,
        pgdatabase=url.path.lstrip("/"),
        db_max_conn_size=max_conn,
    )


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()
    dsn = settings.postgres_dsn.get_secret_value()
    pool = AsyncConnectionPool(
        dsn,
        min_size=1,
        max_size=2,
        open=False,
        kwargs={"options": "-c search_path=pgstac,public", "autocommit": True},
    )
    indexer = Indexer(pool, settings.public_url)
    stac_settings = StacSettings(
        stac_fastapi_title=settings.title,
        use_api_hydrate=True,
        enable_transactions_extensions=False,
        cors_origins=["*"],
    )

    def stac_app(lifespan) -> FastAPI:
        return instantiate_api(
            settings=stac_settings, extensions=Extensions(settings=stac_settings), lifespan=lifespan
        ).app

    async def open_pools(app: FastAPI, resources: Resources) -> None:
        await connect_to_db(app, postgres_settings=postgres_settings(dsn, settings.db_max_conn))
        await pool.open()
        resources.extra["pool"] = pool
        await indexer.ensure_collections(settings.coverage_years)
        http = httpx.AsyncClient(timeout=10.0)
        resources.extra["http"] = http
        install_authenticator(
            app, authenticator_from_settings(settings, OrdersApiKeyResolver(settings.orders_url, client=http))
        )

    async def close_pools(app: FastAPI, resources: Resources) -> None:
        await resources.extra["http"].aclose()
        await pool.close()
        await close_db_connection(app)

    app = create_service_app(
        ServiceDefinition(
            settings=settings,
            dependencies=DEPENDENCIES,
            subscriptions=[(SceneIngestedV1, indexer.index)],
            app_factory=stac_app,
            routers=[previews.router, signing.router],
            on_startup=[open_pools],
            on_shutdown=[close_pools],
        )
    )

    install_dinamis_error_handler(app)

    @app.middleware("http")
    async def json_bodies_only(request: Request, call_next):
        """The stock app answers 500 to a POST body that is not JSON: make it a 415."""
        if request.method == "POST" and request.url.path.endswith("/search"):
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media not in ("application/json", "application/geo+json"):
                return JSONResponse(
                    {
                        "code": "UnsupportedMediaType",
                        "description": "Le corps doit être du JSON (Content-Type: application/json) / "
                        "the body must be JSON (Content-Type: application/json)",
                    },
                    status_code=415,
                )
        return await call_next(request)

    return app


def main() -> None:
    settings = CatalogSettings()
    run(lambda: create_app(settings), settings)
