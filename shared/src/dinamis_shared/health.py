"""Liveness, readiness and metrics endpoints, and problem-details error responses.

- `GET /healthz`: the process is alive (no dependency is checked).
- `GET /readyz`: every dependency the service declared answers; 503 and the
  failing ones otherwise. Checks run concurrently, each bounded by a timeout. Anyone
  sees `{"status", "checks": {name: "ok"|"failed"}}`; why a check failed (exception
  text: host names, user names) is logged, and shown (`details`) only to clients of
  the operations network (`readyz_details_networks`).
- `GET /metrics`: Prometheus exposition.

Error bodies never carry exception text: an unexpected error is a bare 500 problem
(`internal-error`), an outage a 503 problem; the text is in the logs only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from dinamis_shared.errors import DinamisError, is_outage

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

READY = Gauge("dinamis_dependency_ready", "1 if the dependency answered the last check", ["dependency"])


class Dependency(StrEnum):
    KAFKA = "kafka"
    MONGODB = "mongodb"
    S3 = "s3"
    POSTGRES = "postgres"
    SMTP = "smtp"


Check = Callable[[], Awaitable[None]]


async def _run_check(name: str, check: Check, timeout_s: float) -> dict:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout_s)
        ok, error = True, None
    except TimeoutError:
        ok, error = False, f"no answer within {timeout_s:g} s"
    except Exception as exc:
        ok, error = False, f"{type(exc).__name__}: {exc}"[:500]
    READY.labels(name).set(1 if ok else 0)
    result: dict[str, object] = {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if error:
        result["error"] = error
    return result


def parse_networks(networks: str) -> tuple[Network, ...]:
    """`"127.0.0.0/8, ::1/128"` → the networks (empty string: none)."""
    return tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks.split(",") if n.strip())


def client_in(request: Request, networks: Sequence[Network]) -> bool:
    """True when the request's peer address is in one of `networks`."""
    host = request.client.host if request.client else None
    if not host or not networks:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # e.g. "testclient"
        return False
    return any(address in network for network in networks)


def health_router(
    checks: dict[str, Check], timeout_s: float, details_networks: Sequence[Network] = ()
) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict:
        """Liveness. Anyone may call it."""
        return {"status": "alive"}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: each dependency answers. Anyone may call it: the answer says only
        which checks failed; why (exception text) is logged, and shown to clients of the
        operations network (`readyz_details_networks`) only."""
        names = list(checks)
        results = await asyncio.gather(*(_run_check(n, checks[n], timeout_s) for n in names))
        deps = dict(zip(names, results, strict=True))
        ready = all(r["ok"] for r in results)
        for name, result in deps.items():
            if not result["ok"]:
                log.warning("readiness check failed", extra={"check": name, "error": result.get("error")})
        body: dict[str, object] = {
            "status": "ready" if ready else "not-ready",
            "checks": {name: "ok" if r["ok"] else "failed" for name, r in deps.items()},
        }
        if client_in(request, details_networks):
            body["details"] = deps
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics. Anyone on the operations network may call it."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def problem_response(status: int, title: str, detail: str, code: str, **extra: object) -> JSONResponse:
    """An RFC 9457 problem details response."""
    body = {
        "type": f"urn:dinamis:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def prefers_english(accept_language: str) -> bool:
    """True when the caller ranks English above French (French is the default)."""
    best: dict[str, float] = {}
    for part in accept_language.split(",")[:20]:
        lang, *params = part.strip().split(";")
        q = 1.0
        for param in params:  # `q` may follow other parameters
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = lang.strip().lower().split("-")[0]
        if primary in ("en", "fr"):
            best[primary] = max(best.get(primary, 0.0), q)
    return best.get("en", 0.0) > best.get("fr", 0.0)


def install_problem_handlers(app: FastAPI) -> None:
    install_dinamis_error_handler(app)
    _install_generic_handlers(app)


def dinamis_error_response(exc: DinamisError, accept_language: str = "") -> JSONResponse:
    """The problem details of one of our errors (French first, unless English is preferred)."""
    english = prefers_english(accept_language)
    detail = exc.message if english or not exc.message_fr else f"{exc.message_fr} ({exc.message})"
    response = problem_response(exc.http_status, type(exc).__name__, detail, exc.code)
    if exc.http_status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if exc.http_status == 503:
        response.headers["Retry-After"] = "5"
    return response


def unavailable_response() -> JSONResponse:
    """503: a store, the bus or another service is down (retry later). No detail."""
    response = problem_response(
        503,
        "Service unavailable",
        "Service momentanément indisponible, réessayez / service temporarily unavailable, retry",
        "unavailable",
    )
    response.headers["Retry-After"] = "5"
    return response


def internal_error_response() -> JSONResponse:
    """500 without the exception's text (SQL, host names, URLs): that goes to the logs."""
    return problem_response(
        500,
        "Internal error",
        "Erreur interne ; elle a été journalisée / internal error; it has been logged",
        "internal-error",
    )


def install_dinamis_error_handler(app: FastAPI) -> None:
    """Our errors as problem details (also on a library app that keeps its own format)."""

    @app.exception_handler(DinamisError)
    async def _dinamis_error(request: Request, exc: DinamisError) -> JSONResponse:
        return dinamis_error_response(exc, request.headers.get("accept-language", ""))


def install_catch_all_handler(app: FastAPI) -> None:
    """Any other exception: 503 problem for an outage, else a 500 problem with no
    exception text (the traceback is logged by the server)."""

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A store or the bus is down: say so (503, retry later) rather than a bare 500.
        if is_outage(exc):
            return unavailable_response()
        return internal_error_response()


# The router's own refusals (no route, wrong method), as problems like every other error.
HTTP_PROBLEMS: dict[int, tuple[str, str, str, str]] = {
    400: ("bad-request", "Bad request", "Requête invalide", "bad request"),
    404: ("not-found", "Not found", "Ressource introuvable", "no such resource"),
    405: ("method-not-allowed", "Method not allowed", "Méthode non permise ici", "method not allowed here"),
}


def http_error_response(exc: StarletteHTTPException, accept_language: str = "") -> JSONResponse:
    """A Starlette HTTPException (unknown route, wrong method...) as a problem."""
    code, title, fr, en = HTTP_PROBLEMS.get(
        exc.status_code, ("http-error", "HTTP error", str(exc.detail), str(exc.detail))
    )
    detail = en if prefers_english(accept_language) else f"{fr} / {en}"
    response = problem_response(exc.status_code, title, detail, code)
    for name, value in (exc.headers or {}).items():  # `Allow` of a 405
        response.headers[name] = value
    return response


def _install_generic_handlers(app: FastAPI) -> None:
    install_catch_all_handler(app)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_error_response(exc, request.headers.get("accept-language", ""))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()[:20]]
        return problem_response(
            422,
            "Invalid request",
            "La requête est invalide / the request is invalid.",
            "invalid-request",
            errors=errors,
        )
