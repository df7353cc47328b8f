"""The edge validator: what no request may carry, checked once for every service
(`create_service_app` installs it, inside `guard.RequestGuard`).

- **NUL bytes.** A NUL character breaks the stores (FerretDB refuses it in a string,
  PostgreSQL in text) and means nothing in an identifier or a name: in the path (raw or
  `%00`), in the query string (raw or `%00`), in a header value, or in any string or
  key of a JSON body (raw, or `\\u0000`) it is a 400 problem `invalid-character`. So is
  a lone surrogate (`\\ud800`) in a JSON string, which no store can encode either, and
  a body that is not UTF-8.
- **Non-finite numbers.** Python's `json` reads `NaN`, `Infinity` and `-Infinity`
  (and `1e400` as infinity), which JSON does not have: a 400 `non-finite-number`. So is
  an integer beyond 64 bits (`53503059371413750153216`), which no store (BSON, jsonb
  bigint) nor serializer (orjson) takes: found by the fuzzer in an echoed search body.
- **Credentials given twice.** Two `Authorization` (or `access-key`, `secret-key`)
  headers: which one counts would depend on who reads them (a proxy may check the last
  one, the service reads the first), so the request is a 400 `duplicate-header`.
- **Invalid JSON.** A JSON body (`application/json`, `application/*+json`, or no
  `Content-Type`, which FastAPI reads as JSON) that does not parse: a 400
  `invalid-json`.

Only bodies the application reads are checked, and only when it reads them: after
routing, so `RequestGuard` (outside this one) still authenticates before a byte of the
body is read and still bounds its size. JSON and form bodies are read whole (they are
size-bounded by the guard) and handed on unchanged (the same bytes: signatures over the
raw body still verify); any other body (uploads) streams through untouched, and so does
everything once the response has started (server-sent events).
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dinamis_shared.guard import BodyAbort
from dinamis_shared.health import prefers_english, problem_response

INVALID_CHARACTER = "invalid-character"
NON_FINITE_NUMBER = "non-finite-number"
INVALID_JSON = "invalid-json"
DUPLICATE_HEADER = "duplicate-header"
# Credentials: said once, or the request is ambiguous.
SINGLE_HEADERS = frozenset({b"authorization", b"access-key", b"secret-key"})

_WHERE = {
    "path": ("le chemin", "the path"),
    "query": ("les paramètres de requête", "the query parameters"),
    "header": ("un en-tête", "a header"),
    "body": ("le corps", "the body"),
}


class EdgeProblem(Exception):
    """Why a request is refused at the edge: a problem `code`, where, and the text."""

    def __init__(self, code: str, where: str, message_fr: str, message: str) -> None:
        super().__init__(message)
        self.code, self.where, self.message_fr, self.message = code, where, message_fr, message

    def response(self, accept_language: str = "") -> JSONResponse:
        english = prefers_english(accept_language)
        detail = self.message if english else f"{self.message_fr} ({self.message})"
        title = {
            INVALID_CHARACTER: "Invalid character",
            NON_FINITE_NUMBER: "Non-finite number",
            INVALID_JSON: "Invalid JSON",
            DUPLICATE_HEADER: "Duplicate header",
        }.get(self.code, "Bad request")
        return problem_response(400, title, detail, self.code, location=self.where)


def nul_in(where: str) -> EdgeProblem:
    fr, en = _WHERE[where]
    return EdgeProblem(
        INVALID_CHARACTER,
        where,
        f"caractère nul (U+0000) interdit dans {fr}",
        f"NUL character (U+0000) not allowed in {en}",
    )


def _unencodable(where: str) -> EdgeProblem:
    fr, en = _WHERE[where]
    return EdgeProblem(
        INVALID_CHARACTER,
        where,
        f"texte qui n'est pas de l'UTF-8 valide dans {fr}",
        f"text that is not valid UTF-8 in {en}",
    )


def check_target(scope: Scope) -> EdgeProblem | None:
    """NUL in the path, query string or a header value (raw or percent-encoded);
    credentials given twice."""
    path = scope.get("path", "")
    raw_path = scope.get("raw_path") or b""
    if "\x00" in path or b"\x00" in unquote_to_bytes(raw_path):
        return nul_in("path")
    query: bytes = scope.get("query_string", b"")
    if b"\x00" in query or b"\x00" in unquote_to_bytes(query):
        return nul_in("query")
    seen: set[bytes] = set()
    for name, value in scope.get("headers", ()):
        if b"\x00" in value or b"\x00" in name:
            return nul_in("header")
        lowered = name.lower()
        if lowered in SINGLE_HEADERS:
            if lowered in seen:
                shown = lowered.decode("latin-1")
                return EdgeProblem(
                    DUPLICATE_HEADER,
                    "header",
                    f"en-tête {shown} donné plusieurs fois",
                    f"header {shown} given more than once",
                )
            seen.add(lowered)
    return None


class _NonFinite(ValueError):
    pass


def _constant(name: str) -> float:
    raise _NonFinite(name)


def _int64(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise _NonFinite(f"{text[:40]}: beyond 64 bits")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400
        raise _NonFinite(text)
    return value


def _bad_string(text: str) -> bool:
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (`\ud800`)
        return True
    return False


def check_json(body: bytes) -> EdgeProblem | None:
    """Why this JSON body is refused, or None."""
    if b"\x00" in body:
        return nul_in("body")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _unencodable("body")
    try:
        document = json.loads(text, parse_constant=_constant, parse_float=_finite_float, parse_int=_int64)
    except _NonFinite as exc:
        return EdgeProblem(
            NON_FINITE_NUMBER,
            "body",
            f"nombre non fini ({exc}) : JSON n'a ni NaN ni Infinity",
            f"non-finite number ({exc}): JSON has no NaN nor Infinity",
        )
    except (ValueError, RecursionError):
        return EdgeProblem(
            INVALID_JSON, "body", "le corps n'est pas du JSON valide", "the body is not valid JSON"
        )
    if b"\\u" in body:  # only escapes can carry U+0000 or a lone surrogate this far
        stack: list[Any] = [document]
        while stack:
            value = stack.pop()
            if isinstance(value, str):
                if _bad_string(value):
                    return nul_in("body") if "\x00" in value else _unencodable("body")
            elif isinstance(value, dict):
                for key, item in value.items():
                    if _bad_string(key):
                        return nul_in("body") if "\x00" in key else _unencodable("body")
                    stack.append(item)
            elif isinstance(value, list):
                stack.extend(value)
    return None


def check_form(body: bytes) -> EdgeProblem | None:
    if b"\x00" in body or b"\x00" in unquote_to_bytes(body.replace(b"+", b" ")):
        return nul_in("body")
    return None


def body_checker(headers: Headers) -> Any:
    """The check for this request's body, by media type; None to let it stream through."""
    content_type = headers.get("content-type")
    if content_type is None:  # FastAPI reads a body without a media type as JSON
        return check_json
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return check_json
    if media == "application/x-www-form-urlencoded":
        return check_form
    return None


class EdgeValidator:
    """ASGI middleware: the checks of the module doc."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = check_target(scope)
        if problem is not None:
            await problem.response(headers.get("accept-language", ""))(scope, receive, send)
            return
        check = body_checker(headers)
        if check is None:
            await self.app(scope, receive, send)
            return
        edge = BodyAbort()
        read = False

        async def checked_receive() -> Message:
            nonlocal read
            if read or edge.started:  # a disconnect watch, or a body the app did not read first
                return await receive()
            chunks = []
            while True:
                message = await receive()  # through the guard: authentication, size limit
                if message["type"] != "http.request":
                    return message
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            read = True
            body = b"".join(chunks)
            if body:
                problem = check(body)
                if problem is not None:
                    edge.abort(problem.response(headers.get("accept-language", "")))
            return {"type": "http.request", "body": body, "more_body": False}

        await edge.run(self.app, scope, checked_receive, receive, send)
