"""The portal's own static files and the front-end packages `npm ci` installed
(services/portal/frontend/package-lock.json), served from the portal itself: no CDN.

- `/static/app/...`: the portal's script, style sheet and basemap (France outlines).
- `/static/dsfr/...`: `@gouvfr/dsfr`'s `dist/` only (CSS, fonts, icons, JS).
- `/static/vendor/<file>`: single files of the other packages, by name (below).

OpenLayers is served as its full build `ol/dist/ol.js` (a classic script, global `ol`),
shipped in the npm package: no bundler, and no import map (an import map is an inline
script, which the Content-Security-Policy refuses)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse, Response
from starlette.types import Scope

from dinamis_portal.bootstrap import get_container
from dinamis_portal.settings import PortalSettings

mimetypes.add_type("application/geo+json", ".geojson")
router = APIRouter()
APP_STATIC = Path(__file__).resolve().parents[1] / "static" / "app"

# name -> path under node_modules
VENDOR_FILES = {
    "ol.js": "ol/dist/ol.js",
    "ol.css": "ol/ol.css",
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
}
DSFR_DIST = "@gouvfr/dsfr/dist"


class MissingFrontend(RuntimeError):
    pass


def check_frontend(settings: PortalSettings) -> None:
    missing = [p for p in [DSFR_DIST, *VENDOR_FILES.values()] if not (settings.node_modules / p).exists()]
    if missing:
        raise MissingFrontend(
            f"the portal's front-end packages are not installed ({', '.join(missing)} missing under "
            f"{settings.node_modules}): run deploy/local/install (npm ci in {settings.frontend_dir})"
        )


class CachedStatic(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
        return response


def mount(app: FastAPI, settings: PortalSettings) -> None:
    app.mount("/static/app", CachedStatic(directory=APP_STATIC), name="static-app")
    app.mount("/static/dsfr", CachedStatic(directory=settings.node_modules / DSFR_DIST), name="static-dsfr")


@router.get("/static/vendor/{name}", include_in_schema=False)
async def vendor(name: str, request: Request) -> FileResponse:
    path = VENDOR_FILES.get(name)
    if path is None:
        raise HTTPException(404)
    settings = get_container(request).settings
    return FileResponse(settings.node_modules / path, headers={"Cache-Control": "public, max-age=3600"})
