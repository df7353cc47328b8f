"""The composition root of `dinamis-catalog` (STAC API + indexing): `CatalogContainer`,
built once per app by `bootstrap_catalog` from the clients the shared service factory
opened (`ServiceDefinition.bootstrap`, no I/O); the pools are opened by `start_catalog`.
Routes get the container through the `Catalog` dependency. (The tiles process has its
own: `tiles_bootstrap.py`.)

stac-fastapi-pgstac keeps its own read/write pools on `app.state` (`connect_to_db`),
which its routes read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

import httpx
from fastapi import Depends, FastAPI, Request
from minio import Minio
from stac_fastapi.pgstac.config import PostgresSettings, ServerSettings
from stac_fastapi.pgstac.db import close_db_connection, connect_to_db

from dinamis_catalog.adapters.orders import OrdersAccess
from dinamis_catalog.adapters.pgstac import PgStac
from dinamis_catalog.service.indexer import Indexer
from dinamis_catalog.settings import CatalogSettings
from dinamis_shared.auth import OrdersApiKeyResolver, authenticator_from_settings, install_authenticator
from dinamis_shared.service import Resources


@dataclass
class CatalogContainer:
    settings: CatalogSettings
    s3: Minio
    pgstac: PgStac
    indexer: Indexer
    http: httpx.AsyncClient
    orders: OrdersAccess


def bootstrap_catalog(resources: Resources) -> CatalogContainer:
    settings = resources.settings
    if not isinstance(settings, CatalogSettings):
        raise TypeError(f"the catalog needs CatalogSettings, got {type(settings).__name__}")
    if resources.s3 is None:
        raise RuntimeError("the catalog depends on S3: the service factory opened no client")
    pgstac = PgStac(settings.postgres_dsn.get_secret_value())
    http = httpx.AsyncClient(timeout=10.0)
    return CatalogContainer(
        settings=settings,
        s3=resources.s3,
        pgstac=pgstac,
        indexer=Indexer(pgstac, settings.public_url),
        http=http,
        orders=OrdersAccess(http, settings.orders_url),
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
        # JIT compiles a plan in ~10 ms, parallel workers take as long to start: more than a
        # search runs (an indexed page of 100 items), and the cores are the other searches'.
        # Custom plans: a search's values (collections, bbox, dates, the paging anchor) decide
        # which yearly partitions and which index; a generic plan would guess them.
        server_settings=ServerSettings(
            search_path="pgstac,public",
            application_name="dinamis-catalog",
            jit="off",
            plan_cache_mode="force_custom_plan",
            max_parallel_workers_per_gather="0",
        ),
    )


async def start_catalog(app: FastAPI, catalog: CatalogContainer) -> None:
    """stac-fastapi's pools, ours, the configured collections, then authentication."""
    settings = catalog.settings
    await connect_to_db(
        app,
        postgres_settings=postgres_settings(settings.postgres_dsn.get_secret_value(), settings.db_max_conn),
    )
    await catalog.pgstac.open()
    await catalog.indexer.ensure_collections(settings.coverage_years)
    install_authenticator(
        app,
        authenticator_from_settings(settings, OrdersApiKeyResolver(settings.orders_url, client=catalog.http)),
    )


async def stop_catalog(app: FastAPI, catalog: CatalogContainer) -> None:
    await catalog.http.aclose()
    await catalog.pgstac.close()
    await close_db_connection(app)


def catalog_container(request: Request) -> CatalogContainer:
    """The app's container (`app.state.container`), as a FastAPI dependency."""
    built = request.app.state.container
    if not isinstance(built, CatalogContainer):
        raise TypeError("the app was not bootstrapped by dinamis_catalog.bootstrap.bootstrap_catalog")
    return built


Catalog = Annotated[CatalogContainer, Depends(catalog_container)]
