"""The maintenance gate: while operators hold the maintenance mode on, every state-changing
request of the members' portal is refused with 503 and their message (an HTML page for a
browser, an RFC 9457 problem otherwise). Reads go on; the console (`/ops`), the login and
the logout stay open."""

from __future__ import annotations

import logging

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dinamis_portal.errors import PortalError, wants_html
from dinamis_portal.i18n import language_of, text
from dinamis_portal.ops.notices import NoticeStore
from dinamis_shared.health import dinamis_error_response

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The console, the login and logout, and the posts that only compute (an AOI's review
# and simplification, a request's quote, a product's estimate): nothing is changed.
OPEN_PATHS = frozenset(
    {
        "/ops",
        "/connexion",
        "/deconnexion",
        "/zone/analyser",
        "/zone/simplifier",
        "/demandes/devis",
        "/commander/estimation",
    }
)
OPEN_PREFIXES = ("/ops/", "/auth/")


def stays_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def in_maintenance(message: str) -> PortalError:
    return PortalError(
        "the portal is under maintenance: " + message if message else "the portal is under maintenance",
        code="maintenance",
        message_fr=message,
        status=503,
    )


class MaintenanceGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        path: str = get_route_path(scope)  # without the root path the app is mounted at
        if stays_open(path):
            await self.app(scope, receive, send)
            return
        container = getattr(scope["app"].state, "container", None)
        store: NoticeStore | None = getattr(container, "notices", None)
        if store is None:
            await self.app(scope, receive, send)
            return
        try:
            notices = await store.current()
        except Exception as exc:  # the settings store down: the portal keeps working
            log.warning("maintenance state unreadable", extra={"error": str(exc)})
            await self.app(scope, receive, send)
            return
        if not notices.maintenance.on:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        lang = language_of(request)
        m = notices.maintenance
        message = (m.message_en if lang == "en" and m.message_en else m.message_fr) or text(
            "maintenance.default", lang
        )
        from dinamis_portal.entrypoints.pages import render_error  # import cycle otherwise

        refusal = in_maintenance(message)
        response: Response
        if wants_html(request) or request.headers.get("hx-request") == "true":
            response = render_error(request, refusal, fragment=request.headers.get("hx-request") == "true")
        else:
            response = dinamis_error_response(refusal, request.headers.get("accept-language", ""))
        response.headers["Retry-After"] = "300"
        await response(scope, receive, send)
