"""Liveness, readiness and metrics endpoints, and problem-details error responses.

- `GET /healthz`: the process is alive (no dependency is checked).
- `GET /readyz`: every dependency the service declared answers; 503 and the
  failing ones otherwise. Checks run concurrently, each bounded by a timeout.
- `GET /metrics`: Prometheus exposition.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from dinamis_shared.errors import DinamisError, is_outage

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


def health_router(checks: dict[str, Check], timeout_s: float) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict:
        """Liveness. Anyone may call it."""
        return {"status": "alive"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: each dependency answers. Anyone may call it (no secrets in it)."""
        names = list(checks)
        results = await asyncio.gather(*(_run_check(n, checks[n], timeout_s) for n in names))
        deps = dict(zip(names, results, strict=True))
        ready = all(r["ok"] for r in results)
        return JSONResponse(
            {"status": "ready" if ready else "not-ready", "dependencies": deps},
            status_code=200 if ready else 503,
        )

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


def install_dinamis_error_handler(app: FastAPI) -> None:
    """Our errors as problem details (also on a library app that keeps its own format)."""

    @app.exception_handler(DinamisError)
    async def _dinamis_error(request: Request, exc: DinamisError) -> JSONResponse:
        english = prefers_english(request.headers.get("accept-language", ""))
        detail = exc.message if english or not exc.message_fr else f"{exc.message_fr} ({exc.message})"
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        response = problem_response(exc.http_status, type(exc).__name__, detail, exc.code)
        if headers:
            response.headers.update(headers)
        return response


def _install_generic_handlers(app: FastAPI) -> None:
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A store or the bus is down: say so (503, retry later) rather than a bare 500.
        if is_outage(exc):
            response = problem_response(
                503,
                "Service unavailable",
                "Service momentanément indisponible, réessayez / service temporarily unavailable, retry",
                "unavailable",
            )
            response.headers["Retry-After"] = "5"
            return response
        raise exc

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
