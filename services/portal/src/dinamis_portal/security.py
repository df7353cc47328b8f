"""Security headers on every answer of the portal (pages, fragments, static files,
problems): a strict Content-Security-Policy — scripts, styles, images, fonts and
connections from the portal itself only, no inline script or style, no framing — the
usual companions, and `Cache-Control: no-store` on pages."""

from __future__ import annotations

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

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
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

        await self.app(scope, receive, send_with_headers)
