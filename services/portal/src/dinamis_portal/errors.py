"""The portal's refusals: RFC 9457 problem details, French first (the platform's
`DinamisError`), shown as an HTML page (DSFR) to a browser that asks for HTML."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from dinamis_shared.errors import DinamisError
from dinamis_shared.health import dinamis_error_response


class PortalError(DinamisError):
    http_status = 400

    def __init__(self, message: str, *, code: str, message_fr: str, status: int | None = None) -> None:
        super().__init__(message, code=code, message_fr=message_fr)
        if status is not None:
            self.http_status = status


def bad_input(code: str, message_fr: str, message: str) -> PortalError:
    return PortalError(message, code=code, message_fr=message_fr, status=400)


def csrf_refused() -> PortalError:
    return PortalError(
        "the form's anti-forgery token is missing or wrong: reload the page and try again",
        code="csrf-refused",
        message_fr="jeton anti-falsification du formulaire absent ou erroné : "
        "rechargez la page et recommencez",
        status=403,
    )


def wants_html(request: Request) -> bool:
    """A browser navigating (Accept: text/html first), not an API client or htmx asking for
    a fragment (htmx gets the problem and shows nothing new)."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept.split(",")[0] and request.headers.get("hx-request") != "true"


def install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(PortalError)
    async def _portal_error(request: Request, exc: PortalError) -> Response:
        if wants_html(request) or request.headers.get("hx-request") == "true":
            from dinamis_portal.entrypoints.pages import render_error

            return render_error(request, exc, fragment=request.headers.get("hx-request") == "true")
        return dinamis_error_response(exc, request.headers.get("accept-language", ""))
