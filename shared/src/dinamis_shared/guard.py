"""What every request goes through before a route sees it (`create_service_app`):

- **Body size.** A request body larger than its route's limit is refused with a 413
  problem: at once when `Content-Length` says so, else as soon as the streamed
  (chunked) body goes past it; the rest is never read. The limit is
  `http_max_body_bytes` (1 MiB), or the longest matching path prefix of the service's
  `ServiceDefinition.body_limits`.
- **Authentication before the body.** A request with a body (POST, PUT, PATCH,
  DELETE) to a route that needs an authenticated caller (a route that depends on
  `AuthenticatedPrincipal` / `CurrentPrincipal`, directly or through another
  dependency) is authenticated from its headers before a byte of its body is read
  (when the route first asks for it): no credentials, or bad ones, is a 401 at once.
  The principal found is kept in the request's state, so the route's dependency does
  not verify the credentials again.
  Routes without that dependency (public ones, and those with their own scheme, such
  as ingest's HMAC-signed push) get their body as before, size-limited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dinamis_shared.auth import (
    PREAUTHENTICATED,
    authenticated_principal,
    authenticated_service,
    authenticator_of,
    current_principal,
)
from dinamis_shared.errors import DinamisError, is_outage
from dinamis_shared.health import dinamis_error_response, problem_response, unavailable_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUTH_DEPENDENCIES = (authenticated_principal, current_principal, authenticated_service)


class _Refused(HTTPException):
    """Raised from `receive` to stop the app reading a body it must not read (an
    HTTPException, so that the framework does not turn it into a 400); the middleware
    then answers with its own response instead of the app's."""

    def __init__(self, status: int) -> None:
        super().__init__(status_code=status)


class BodyAbort:
    """How a middleware stops the app using a request body and answers instead (the guard
    and the edge validator): its wrapped `receive` calls `abort(response)`; `run` passes
    the app's answer through until then, drops it after, and sends `response` if the app
    had not started answering."""

    def __init__(self) -> None:
        self.response: Response | None = None
        self.started = False

    def abort(self, response: Response) -> NoReturn:
        self.response = response
        raise _Refused(response.status_code)

    async def run(self, app: ASGIApp, scope: Scope, wrapped: Receive, receive: Receive, send: Send) -> None:
        async def checked_send(message: Message) -> None:
            if self.response is not None:  # the app's answer to the aborted read is replaced
                return
            if message["type"] == "http.response.start":
                self.started = True
            await send(message)

        try:
            await app(scope, wrapped, checked_send)
        except Exception:
            if self.response is None:
                raise
        if self.response is not None and not self.started:
            await self.response(scope, receive, send)


def too_large(limit: int) -> Any:
    return problem_response(
        413,
        "Request body too large",
        f"Corps de requête trop volumineux (au plus {limit} octets) / "
        f"request body too large (at most {limit} bytes)",
        "body-too-large",
        max_bytes=limit,
    )


def requires_authentication(route: object) -> bool:
    """Does the route depend (directly or not) on an authenticated principal?"""
    if not isinstance(route, APIRoute):
        return False
    return depends_on_authentication(route.dependant)


def depends_on_authentication(dependant: Any) -> bool:
    """Does this dependency tree (a route's `dependant`) hold an authenticated principal?"""
    stack, seen = [dependant], set()
    while stack:
        dependant = stack.pop()
        if id(dependant) in seen:
            continue
        seen.add(id(dependant))
        if dependant.call in AUTH_DEPENDENCIES:
            return True
        stack.extend(dependant.dependencies)
    return False


class RequestGuard:
    """ASGI middleware: body size limits, and authentication before the body (module doc).

    Authentication happens when the app first asks for the body: by then the router has
    chosen the route (`scope["route"]`), so whether it needs an authenticated caller is
    known, and nothing of the body has been read yet (the server buffers at most its
    flow-control window meanwhile)."""

    def __init__(
        self, app: ASGIApp, *, service_app: FastAPI, max_body_bytes: int, body_limits: Mapping[str, int]
    ) -> None:
        self.app = app
        self.service_app = service_app
        self.max_body_bytes = max_body_bytes
        # Longest prefix first.
        self.body_limits = sorted(body_limits.items(), key=lambda kv: len(kv[0]), reverse=True)
        self._needs_auth: dict[int, bool] = {}

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.body_limits:
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    def _needs_authentication(self, scope: Scope) -> bool:
        route = scope.get("route")
        if route is None:
            return False
        key = id(route)
        if key not in self._needs_auth:
            self._needs_auth[key] = requires_authentication(route)
        return self._needs_auth[key]

    async def _authenticate(self, scope: Scope, headers: Headers) -> Response | None:
        """None when the caller is authenticated (the principal is kept in the request's
        state) or the route needs no authentication; else the refusal to answer."""
        authenticator = authenticator_of(self.service_app)
        if authenticator is None or not self._needs_authentication(scope):
            return None
        try:
            principal = await authenticator.authenticate(headers)
        except DinamisError as exc:
            return dinamis_error_response(exc, headers.get("accept-language", ""))
        except Exception as exc:
            if not is_outage(exc):
                raise
            return unavailable_response()
        scope.setdefault("state", {})[PREAUTHENTICATED] = principal
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit_for(scope["path"])
        declared = headers.get("content-length")
        if declared is not None:
            try:
                declared_bytes = int(declared)
            except ValueError:
                declared_bytes = limit + 1
            if declared_bytes > limit:
                await too_large(limit)(scope, receive, send)
                return
        check_credentials = scope["method"] in BODY_METHODS
        received = 0
        guard = BodyAbort()

        async def guarded_receive() -> Message:
            nonlocal received, check_credentials
            if check_credentials and not guard.started:  # (not a disconnect watch after the answer)
                check_credentials = False
                refusal = await self._authenticate(scope, headers)
                if refusal is not None:
                    guard.abort(refusal)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    guard.abort(too_large(limit))
            return message

        await guard.run(self.app, scope, guarded_receive, receive, send)
