"""The catalog service: a STAC API on pgSTAC (stac-fastapi-pgstac) and, in the same
process, the Kafka consumer that indexes `scene-ingested` items.

One process, not two console scripts: both need the same database pools and
settings, readiness covers both, and a catalog replica is then one unit to scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from stac_fastapi.pgstac.app import instantiate_api
from stac_fastapi.pgstac.config import Settings as StacSettings
from stac_fastapi.pgstac.models.extensions import Extensions

from dinamis_catalog.bootstrap import CatalogContainer, bootstrap_catalog, start_catalog, stop_catalog
from dinamis_catalog.entrypoints import previews, signing
from dinamis_catalog.entrypoints.stac_api import (
    DinamisCoreClient,
    SearchBodyCheck,
    install_stac_problems,
    item_collection_extensions,
    search_extensions,
    with_problem_openapi,
)
from dinamis_catalog.service.fast_search import FastSearch
from dinamis_catalog.settings import CatalogSettings
from dinamis_shared.bus import EventHandler
from dinamis_shared.events import Event, SceneIngestedV1
from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, add_checked_middleware, create_service_app, run

__all__ = ["CatalogSettings", "create_app", "main"]


DEPENDENCIES = (Dependency.KAFKA, Dependency.POSTGRES, Dependency.S3)
DESCRIPTION = (
    "Images satellitaires à très haute résolution (Pléiades, Pléiades Neo, SPOT 6/7) pour les acteurs "
    "publics français. / Very-high-resolution satellite imagery for French public institutions."
)


def subscriptions(catalog: CatalogContainer) -> list[tuple[type[Event], EventHandler]]:
    return [(SceneIngestedV1, catalog.indexer.index)]


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()
    stac_settings = StacSettings(
        stac_fastapi_title=settings.title,
        # The OpenAPI where the DINAMIS SDK looks for it (`<signing endpoint>/openapi.json`).
        openapi_url="/openapi.json",
        # Swagger UI where every DINAMIS service has it (stac-fastapi's default is /api).
        docs_url="/docs",
        use_api_hydrate=True,
        enable_transactions_extensions=False,
        cors_origins=["*"],
    )

    def stac_app(lifespan: Callable) -> FastAPI:
        extensions = Extensions(
            settings=stac_settings,
            search_map=search_extensions(),
            item_collection_map=item_collection_extensions(),
        )
        return instantiate_api(
            client=DinamisCoreClient, settings=stac_settings, extensions=extensions, lifespan=lifespan
        ).app

    app = create_service_app(
        ServiceDefinition(
            settings=settings,
            dependencies=DEPENDENCIES,
            bootstrap=bootstrap_catalog,
            subscriptions=subscriptions,
            app_factory=stac_app,
            routers=[previews.router, signing.router],
            on_startup=[start_catalog],
            on_shutdown=[stop_catalog],
            # A search may carry a detailed `intersects` geometry (a department's outline).
            body_limits={"/search": 4 * 1024 * 1024},
        )
    )

    app.state.fast_search = FastSearch(settings.search_cache_s) if settings.search_fast_path else None
    install_stac_problems(app)
    advertise_login(app, settings)
    with_problem_openapi(app, validation_status="400")
    add_checked_middleware(app, SearchBodyCheck)
    return app


def advertise_login(app: FastAPI, settings: CatalogSettings) -> None:
    """Say in the OpenAPI where users log in: `components.securitySchemes.OAuth2PasswordBearer`
    with the identity provider's token endpoint (`flows.password.tokenUrl`), required by the
    signing routes. The DINAMIS SDK reads it there and logs in with the device flow at
    `<tokenUrl minus /token>/auth/device` (client `gdal`). Nothing when no provider is set."""
    if not settings.oidc_token_url:
        return
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["OAuth2PasswordBearer"] = {
                "type": "oauth2",
                "description": "Jeton du fournisseur d'identité DINAMIS (flux « device » du SDK) / "
                "a token of the DINAMIS identity provider (the SDK's device flow).",
                "flows": {"password": {"tokenUrl": settings.oidc_token_url, "scopes": {}}},
            }
            for path in signing.SIGNING_PATHS:
                for operation in schema.get("paths", {}).get(path, {}).values():
                    operation["security"] = [{"OAuth2PasswordBearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def main() -> None:
    settings = CatalogSettings()
    run(lambda: create_app(settings), settings)
