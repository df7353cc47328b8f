"""The composition root of `dinamis-catalog-tiles` (map tiles): `TilesContainer`, built
once per app by `bootstrap_tiles` (no I/O); titiler-pgstac's pool is opened by
`start_tiles` and kept where titiler's routes read it, `app.state.dbpool`. The tile
policy gets the container through `tiles_container`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request
from titiler.pgstac.db import close_db_connection, connect_to_db
from titiler.pgstac.settings import PostgresSettings as TilerPostgresSettings

from dinamis_catalog.adapters.orders import ItemAccess
from dinamis_catalog.settings import TilesSettings
from dinamis_shared.auth import OrdersApiKeyResolver, authenticator_from_settings, install_authenticator
from dinamis_shared.periodic import BackgroundTasks, every
from dinamis_shared.service import Resources


@dataclass
class TilesContainer:
    settings: TilesSettings
    http: httpx.AsyncClient
    item_access: ItemAccess
    background: BackgroundTasks


def bootstrap_tiles(resources: Resources) -> TilesContainer:
    settings = resources.settings
    if not isinstance(settings, TilesSettings):
        raise TypeError(f"the tiles need TilesSettings, got {type(settings).__name__}")
    return TilesContainer(
        settings=settings,
        http=httpx.AsyncClient(timeout=10.0),
        item_access=ItemAccess(settings.orders_url),
        background=BackgroundTasks(),
    )


# No JIT nor parallel workers: compiling a plan, or starting workers, costs more than a
# tile's query runs (an index read of at most `tiles_footprints_max_features` rows).
TILES_SESSION = (
    "-c search_path=pgstac,public -c application_name=dinamis-catalog-tiles"
    " -c jit=off -c max_parallel_workers_per_gather=0"
)


def tiler_postgres_settings(settings: TilesSettings) -> TilerPostgresSettings:
    fields: dict[str, Any] = {
        "database_url": settings.postgres_dsn.get_secret_value(),
        "db_min_conn_size": 1,
        "db_max_conn_size": settings.db_max_conn,
    }
    return TilerPostgresSettings.model_validate(fields)


async def start_tiles(app: FastAPI, tiles: TilesContainer) -> None:
    """titiler's pool (`app.state.dbpool`), then authentication; expired search
    registrations are purged hourly."""
    settings = tiles.settings
    await connect_to_db(
        app,
        settings=tiler_postgres_settings(settings),
        pool_kwargs={"options": TILES_SESSION},
    )
    install_authenticator(
        app,
        authenticator_from_settings(settings, OrdersApiKeyResolver(settings.orders_url, client=tiles.http)),
    )
    from dinamis_catalog.entrypoints.tiles import purge_pass

    tiles.background.start(
        every(3600, lambda: purge_pass(app, settings), name="purge expired tile searches", first_delay_s=60),
        name="tiles-search-purge",
    )


async def stop_tiles(app: FastAPI, tiles: TilesContainer) -> None:
    await tiles.background.stop()
    await tiles.http.aclose()
    tiles.item_access.close()
    await close_db_connection(app)


def tiles_container(request: Request) -> TilesContainer:
    """The tiles app's container (`app.state.container`), as a FastAPI dependency."""
    built = request.app.state.container
    if not isinstance(built, TilesContainer):
        raise TypeError("the app was not bootstrapped by dinamis_catalog.tiles_bootstrap")
    return built


Tiles = Annotated[TilesContainer, Depends(tiles_container)]
