"""The members' web portal: server-rendered pages (Jinja2, the State Design System
DSFR), htmx for partial updates, OpenLayers for the map; a backend-for-frontend with no
business rules — searches, scenes and signed links come from the catalogue, who the user
is and what they may do from the orders service, logins from Keycloak (OIDC + PKCE).

Wiring only: settings, dependencies, the composition root (`bootstrap`), the routers and
the portal's own middleware (security headers) go into the shared service factory.
Started by the `dinamis-portal` console script."""

from __future__ import annotations

from fastapi import FastAPI

from dinamis_portal import bootstrap
from dinamis_portal.entrypoints import (
    acquisitions,
    aoi,
    auth,
    figures,
    ops,
    ops_coverage,
    ops_review,
    ordering,
    organisation,
    pages,
    statics,
)
from dinamis_portal.entrypoints.ops_pipeline import router as ops_pipeline_router
from dinamis_portal.entrypoints.ops_quotas import members_and_quotas as ops_members_and_quotas
from dinamis_portal.errors import install_error_pages
from dinamis_portal.ops.maintenance import MaintenanceGate
from dinamis_portal.security import SecurityHeaders, content_security_policy
from dinamis_portal.settings import PortalSettings
from dinamis_shared.health import Dependency
from dinamis_shared.service import ServiceDefinition, create_service_app, run

__all__ = ["PortalSettings", "create_app", "main"]

# Sessions live in MongoDB; the catalogue, orders and Keycloak are called per request
# (their outage shows on the page that needs them, not as the portal's unreadiness).
DEPENDENCIES = (Dependency.MONGODB,)


def create_app(settings: PortalSettings | None = None) -> FastAPI:
    settings = settings or PortalSettings()
    statics.check_frontend(settings)
    app = create_service_app(
        ServiceDefinition(
            settings=settings,
            dependencies=DEPENDENCIES,
            bootstrap=bootstrap.bootstrap,
            routers=[
                pages.router,
                auth.router,
                statics.router,
                organisation.router,
                acquisitions.router,
                aoi.router,
                ordering.router,
                ops.router,
                ops_members_and_quotas,
                ops_review.router,
                ops_coverage.router,
                ops_pipeline_router,
                figures.router,
            ],
            title="DINAMIS portail",
            on_startup=[bootstrap.start],
            on_shutdown=[bootstrap.stop],
            # A form post is small; a request's detailed area is larger, and the AOI review
            # takes an uploaded file (10 MB at most), an order estimate pasted areas.
            body_limits={
                "/": 64 * 1024,
                "/demandes": 512 * 1024,
                "/zone/": 12 * 1024 * 1024,
                "/commander/estimation": 256 * 1024,
            },
        )
    )
    statics.mount(app, settings)
    install_error_pages(app)
    app.add_middleware(MaintenanceGate)
    # Outermost: every answer gets the headers, the platform's own refusals (413, 400 at
    # the edge) included.
    app.add_middleware(
        SecurityHeaders, csp=content_security_policy(settings.oidc_issuer), secure=settings.secure_cookies
    )
    return app


def main() -> None:
    settings = PortalSettings()
    run(lambda: create_app(settings), settings)
