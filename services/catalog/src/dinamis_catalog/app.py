"""The catalog service: a STAC API on pgSTAC (stac-fastapi-pgstac) and, in the same
process, the Kafka consumer that indexes `scene-ingested` items.

One process, not two console scripts: both need the same database pools and
settings, readiness covers both, and a catalog replica is then one unit to scale.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from stac_fastapi.pgstac.app import instantiate_api
from stac_fastapi.pgstac.config import Settings as StacSettings
from stac_fastapi.pgstac.models.extensions import Extensions

from dinamis_catalog.bootstrap import CatalogContainer, bootstrap_catalog, start_catalog, stop_catalog
from dinamis_catalog.entrypoints import previews, signing
from dinamis_catalog.settings import CatalogSettings
from dinamis_shared.bus import EventHandler
from dinamis_shared.events import Event, SceneIngestedV1
from dinamis_shared.health import Dependency, install_dinamis_error_handler
from dinamis_shared.service import ServiceDefinition, create_service_app, run

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
        use_api_hydrate=True,
        enable_transactions_extensions=False,
        cors_origins=["*"],
    )

    def stac_app(lifespan: Callable) -> FastAPI:
        return instantiate_api(
            settings=stac_settings, extensions=Extensions(settings=stac_settings), lifespan=lifespan
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

    install_dinamis_error_handler(app)
    advertise_login(app, settings)

    @app.middleware("http")
    async def json_bodies_only(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
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
