"""The portal's own static files and the front-end packages `npm ci` installed
(services/portal/frontend/package-lock.json), served from the portal itself: no CDN.

- `/static/app/...`: the portal's script, style sheet and basemap (France outlines).
- `/static/dsfr/...`: `@gouvfr/dsfr`'s `dist/` only (CSS, fonts, icons, JS).
- `/static/vendor/<file>`: single files of the other packages, by name (below).

OpenLayers is served as `/static/vendor/ol.js`: a classic script defining the same global
`ol` as OpenLayers' full build, but holding only the modules the portal's scripts use
(`frontend/build.mjs`, run by deploy/local/install with esbuild: about 85 kB gzipped
instead of 300 kB for the full build). No import map: it would be an inline script, which
the Content-Security-Policy refuses. Likewise `/static/vendor/icons.min.css` holds only the
DSFR utility icons the templates name (a few hundred bytes instead of 29 kB gzipped). The
portal refuses to start when that build is missing or does not cover a name its scripts
(`ol.a.b`) or templates (`fr-icon-x`) use, saying to run deploy/local/install.

Text files (scripts, style sheets, GeoJSON, SVG) are sent gzip-compressed when the browser
accepts it, compressed once per file version and kept in memory. Pages are not compressed:
they carry the CSRF token next to text the user typed (BREACH)."""

from __future__ import annotations

import gzip
import json
import mimetypes
import re
from pathlib import Path

import anyio
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.types import Scope

from dinamis_portal.bootstrap import get_container
from dinamis_portal.settings import PortalSettings

mimetypes.add_type("application/geo+json", ".geojson")
router = APIRouter()
APP_STATIC = Path(__file__).resolve().parents[1] / "static" / "app"

# name -> path under node_modules ("../" : the frontend directory's own build)
VENDOR_FILES = {
    "ol.js": "../build/ol-portal.js",
    "ol.css": "ol/ol.css",
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "icons.min.css": "../build/icons.min.css",
    # dsfr-chart's bar chart (a web component bundling Vue and Chart.js, MIT): a classic
    # script, served as JavaScript whatever its file's extension (.umd.cjs)
    "dsfr-chart.js": "@gouvfr/dsfr-chart/dist/BarChart/BarChart.umd.cjs",
    "dsfr-chart.css": "@gouvfr/dsfr-chart/dist/BarChart/BarChart.css",
}
OL_NAMES = "../build/ol-portal.json"
ICON_NAMES = "../build/icons.json"
DSFR_DIST = "@gouvfr/dsfr/dist"
# The same patterns as frontend/build.mjs: `ol.a.b` written in the portal's scripts, and the
# DSFR icons (`fr-icon-*`) named in its templates and scripts.
OL_NAME = re.compile(r"\bol((?:\.[A-Za-z_$][A-Za-z0-9_$]*)+)")
ICON_NAME = re.compile(r"\bfr-icon-([a-z0-9][a-z0-9-]*[a-z0-9])")
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
COMPRESSIBLE = re.compile(r"^(text/|application/(javascript|json|geo\+json|xml)|image/svg\+xml)")
MAX_COMPRESSED_FILE = 4 * 1024 * 1024


class MissingFrontend(RuntimeError):
    pass


def ol_names_used() -> set[str]:
    """Every `ol.a.b` the portal's scripts write (without the leading `ol.`)."""
    return {m.group(1)[1:] for f in APP_STATIC.glob("*.js") for m in OL_NAME.finditer(f.read_text())}


def icon_names_used() -> set[str]:
    """Every DSFR icon (`fr-icon-<name>`) the portal's templates and scripts name."""
    files = [*TEMPLATES.rglob("*.j2"), *APP_STATIC.glob("*.js")]
    return {m.group(1) for f in files for m in ICON_NAME.finditer(f.read_text())}


def check_frontend(settings: PortalSettings) -> None:
    missing = [
        p
        for p in [DSFR_DIST, OL_NAMES, ICON_NAMES, *VENDOR_FILES.values()]
        if not (settings.node_modules / p).exists()
    ]
    if missing:
        raise MissingFrontend(
            f"the portal's front-end packages are not installed ({', '.join(missing)} missing under "
            f"{settings.node_modules}): run deploy/local/install (npm ci and build.mjs in "
            f"{settings.frontend_dir})"
        )
    for kind, names, used, prefix in (
        ("OpenLayers build", OL_NAMES, ol_names_used(), "ol."),
        ("DSFR icons", ICON_NAMES, icon_names_used(), "fr-icon-"),
    ):
        stale = sorted(used - set(json.loads((settings.node_modules / names).read_text())["names"]))
        if stale:
            raise MissingFrontend(
                f"the portal's {kind} lacks {prefix}{f', {prefix}'.join(stale)}, which it uses: "
                f"run deploy/local/install (it rebuilds {settings.frontend_dir}/build)"
            )


# path -> (size, mtime, gzipped bytes). One entry per file, never evicted: each file is
# compressed once per process (again only when it changed), so no sequence of requests
# makes the portal compress over and over; memory is bounded by the served files (a few MB).
_gzipped: dict[str, tuple[int, int, bytes]] = {}


def _gzip_file(path: Path) -> bytes:
    return gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)


async def compressed(response: Response, request_headers: Headers) -> Response:
    """A file answer, gzip-compressed when the browser accepts it and the file is text.
    Compressed once per file version, in a worker thread (never on the event loop)."""
    if not isinstance(response, FileResponse) or response.status_code != 200:
        return response
    media = response.media_type or ""
    if "gzip" not in request_headers.get("accept-encoding", "") or not COMPRESSIBLE.match(media):
        return response
    path = Path(response.path)
    stat = await anyio.Path(path).stat()
    if stat.st_size > MAX_COMPRESSED_FILE or stat.st_size < 1024:
        return response
    cached = _gzipped.get(str(path))
    if cached is not None and cached[:2] == (stat.st_size, stat.st_mtime_ns):
        body = cached[2]
    else:
        body = await anyio.to_thread.run_sync(_gzip_file, path)
        _gzipped[str(path)] = (stat.st_size, stat.st_mtime_ns, body)
    headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
    headers["Content-Encoding"] = "gzip"
    headers["Vary"] = "Accept-Encoding"
    return Response(body, status_code=200, headers=headers, media_type=response.media_type)


class CachedStatic(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
        return await compressed(response, Headers(scope=scope))


def mount(app: FastAPI, settings: PortalSettings) -> None:
    app.mount("/static/app", CachedStatic(directory=APP_STATIC), name="static-app")
    app.mount("/static/dsfr", CachedStatic(directory=settings.node_modules / DSFR_DIST), name="static-dsfr")


@router.get("/static/vendor/{name}", include_in_schema=False)
async def vendor(name: str, request: Request) -> Response:
    path = VENDOR_FILES.get(name)
    if path is None:
        raise HTTPException(404)
    settings = get_container(request).settings
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name.endswith(".js"):
        media = "text/javascript"
    response = FileResponse(
        settings.node_modules / path, media_type=media, headers={"Cache-Control": "public, max-age=3600"}
    )
    return await compressed(response, request.headers)
