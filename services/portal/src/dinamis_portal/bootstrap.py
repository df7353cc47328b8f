"""The portal's composition root: its objects, built once per app from the clients the
shared service factory opened (`ServiceDefinition.bootstrap`), and the hooks that open
and close what must be awaited. Routes get the container through `PortalDep`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx
import jinja2
from fastapi import Depends, FastAPI, Request

from dinamis_portal.oidc import IdentityProvider, KeycloakProvider
from dinamis_portal.ordering_api import OrderingPorts, build_ordering
from dinamis_portal.sessions import MongoSessionStore, Sessions
from dinamis_portal.settings import PortalSettings
from dinamis_portal.upstream import Catalogue, HttpCatalogue, HttpOrders, Orders
from dinamis_shared.service import Resources

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class PortalContainer:
    settings: PortalSettings
    http: httpx.AsyncClient
    sessions: Sessions
    identity: IdentityProvider
    catalogue: Catalogue
    orders: Orders
    pages: jinja2.Environment
    session_store: MongoSessionStore | None = None
    ordering: OrderingPorts | None = None


def bootstrap(resources: Resources) -> PortalContainer:
    """Build the portal's objects (no I/O)."""
    settings = resources.settings
    if not isinstance(settings, PortalSettings):
        raise TypeError(f"portal needs PortalSettings, got {type(settings).__name__}")
    mongo = resources.require_mongo()
    store = MongoSessionStore(mongo[settings.mongo_database])
    http = httpx.AsyncClient(timeout=settings.http_timeout_s, follow_redirects=False)
    return PortalContainer(
        settings=settings,
        http=http,
        sessions=Sessions(store, settings),
        identity=KeycloakProvider(settings, http),
        catalogue=HttpCatalogue(settings.catalog_url, http, settings.preview_max_bytes),
        orders=HttpOrders(settings.orders_url, http),
        pages=templates(),
        session_store=store,
        ordering=build_ordering(settings.orders_url, http),
    )


async def start(app: FastAPI, container: PortalContainer) -> None:
    if container.session_store is not None:
        try:
            await container.session_store.ensure_indexes()
        except Exception as exc:  # the store may be down at start: reads check expiry anyway
            log.warning("session TTL index not created", extra={"error": str(exc)})


async def stop(app: FastAPI, container: PortalContainer) -> None:
    await container.http.aclose()


def get_container(request: Request) -> PortalContainer:
    return request.app.state.container


PortalDep = Annotated[PortalContainer, Depends(get_container)]
