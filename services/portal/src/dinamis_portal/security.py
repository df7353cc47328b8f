"""Security headers on every answer of the portal (pages, fragments, static files,
problems): a strict Content-Security-Policy — scripts, styles, images, fonts and
connections from the portal itself only, no inline script or style, no framing — the
usual companions, and `Cache-Control: no-store` on pages."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(identity_provider_url: str) -> str:
    """`form-action` also names the identity provider: the logout form's answer redirects
    there (Keycloak's end-session endpoint), and browsers apply `form-action` to redirects."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        # data: for the DSFR's CSS icons embedded as data URIs; OpenLayers draws on canvas.
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": f"'self' {origin_of(identity_provider_url)}",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{k} {v}" for k, v in directives.items())


PROBLEM = b"application/problem+json"
INTERNAL_ERROR = json.dumps(
    {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "code": "internal-error",
        "detail": "erreur interne du portail ; réessayez plus tard "
        "(internal error of the portal; try again later)",
    },
    ensure_ascii=False,
).encode()


class SecurityHeaders:
    """Plain ASGI middleware (no task per request, no buffering)."""

    def __init__(self, app: ASGIApp, *, csp: str, secure: bool) -> None:
        self.app = app
        self.headers = {
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "X-Frame-Options": "DENY",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        }
        if secure:
            self.headers["Strict-Transport-Security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
                if headers.get("content-type", "").startswith("text/html"):
                    # Pages depend on the session (signed links, the member's name): no
                    # cache keeps them, the back button after logout included; a page
                    # and its htmx fragment differ.
                    headers.setdefault("Cache-Control", "no-store")
                    headers.add_vary_header("HX-Request")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # A bug's 500 would otherwise come from Starlette's outermost error middleware,
            # outside this one, without these headers: answer it here, then let the error
            # go on to be logged (the outer middleware sees the answer already started).
            if not started:
                await send_with_headers(
                    {"type": "http.response.start", "status": 500, "headers": [(b"content-type", PROBLEM)]}
                )
                await send_with_headers({"type": "http.response.body", "body": INTERNAL_ERROR})
            raise
