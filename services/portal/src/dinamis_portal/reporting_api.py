"""The reporting service as the portal sees it (a port and its HTTP adapter): the
indicators' catalogue, an indicator's values (public, or the working group's with the
user's token), the year's key figures, exports (CSV, Parquet) and the year's PDF note.

The reporting decides what may be shown (public breakdowns, suppressed cells, who is in
the working group); the portal shows its answers and its refusals. Every caller's value
that reaches a URL is checked first (names, years, formats) and every query parameter is
sent as a parameter (httpx encodes it), never pasted into the path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from dinamis_portal.errors import PortalError
from dinamis_portal.upstream import problem_detail

INDICATOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")
EXPORT_TYPES = {
    "csv": ("text/csv", "csv"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
}
# The largest export or note relayed (an aggregate table; a note of a few pages).
MAX_RELAYED_BYTES = 32 * 1024 * 1024


def reporting_unavailable() -> PortalError:
    return PortalError(
        "the reporting service is not answering right now; try again in a moment",
        code="reporting-unavailable",
        message_fr="le service des statistiques ne répond pas pour le moment ; "
        "réessayez dans quelques instants",
        status=503,
    )


@dataclass(frozen=True)
class Refused:
    """The reporting's refusal: its status, code and (French) reason."""

    status: int
    code: str
    detail: str


@dataclass(frozen=True)
class Download:
    """A file the reporting produced (export, note), relayed as is."""

    content: bytes
    media_type: str
    filename: str


class ReportingApi(Protocol):
    async def catalogue(self) -> list[dict[str, Any]]: ...
    async def summary(self, year: int) -> dict[str, Any] | Refused: ...
    async def indicator(
        self, name: str, params: list[tuple[str, str]], token: str | None
    ) -> dict[str, Any] | Refused: ...
    async def export(
        self, name: str, params: list[tuple[str, str]], fmt: str, token: str | None
    ) -> Download | Refused: ...
    async def note(self, year: int, token: str) -> Download | Refused: ...


def _headers(token: str | None, accept: str) -> dict[str, str]:
    headers = {"Accept-Language": "fr", "Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _refused(response: httpx.Response) -> Refused:
    code, detail = problem_detail(response)
    if response.status_code == 404 and code == "upstream-error":
        code, detail = "not-available", "non disponible"
    return Refused(response.status_code, code, detail)


class HttpReportingApi:
    def __init__(self, base_url: str, http: httpx.AsyncClient) -> None:
        self.base = base_url.rstrip("/")
        self.http = http

    async def _get(
        self, path: str, *, params: list[tuple[str, str]] | None = None, token: str | None, accept: str
    ) -> httpx.Response:
        try:
            response = await self.http.get(
                f"{self.base}{path}", params=tuple(params or []), headers=_headers(token, accept)
            )
        except httpx.HTTPError as exc:
            raise reporting_unavailable() from exc
        if response.status_code >= 500:
            raise reporting_unavailable()
        return response

    async def _json(
        self, path: str, *, params: list[tuple[str, str]] | None = None, token: str | None
    ) -> dict[str, Any] | Refused:
        response = await self._get(path, params=params, token=token, accept="application/json")
        if response.status_code != 200:
            return _refused(response)
        try:
            body = response.json()
        except ValueError:
            raise reporting_unavailable() from None
        if not isinstance(body, dict):
            raise reporting_unavailable()
        return body

    async def catalogue(self) -> list[dict[str, Any]]:
        answer = await self._json("/v1/indicators", token=None)
        if isinstance(answer, Refused):
            raise reporting_unavailable()
        found = answer.get("indicators")
        return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []

    async def summary(self, year: int) -> dict[str, Any] | Refused:
        return await self._json("/v1/summary", params=[("year", str(year))], token=None)

    async def indicator(
        self, name: str, params: list[tuple[str, str]], token: str | None
    ) -> dict[str, Any] | Refused:
        _check_name(name)
        prefix = "/v1/wg/indicators" if token else "/v1/indicators"
        return await self._json(f"{prefix}/{name}", params=params, token=token)

    async def export(
        self, name: str, params: list[tuple[str, str]], fmt: str, token: str | None
    ) -> Download | Refused:
        _check_name(name)
        if fmt not in EXPORT_TYPES:
            raise PortalError("unknown format", code="bad-format", message_fr="format inconnu", status=400)
        media_type, suffix = EXPORT_TYPES[fmt]
        prefix = "/v1/wg/indicators" if token else "/v1/indicators"
        return await self._file(
            f"{prefix}/{name}", [*params, ("format", fmt)], token, media_type, f"{name}.{suffix}"
        )

    async def note(self, year: int, token: str) -> Download | Refused:
        return await self._file(
            f"/v1/notes/{int(year)}.pdf", [], token, "application/pdf", f"dinamis-note-{int(year)}.pdf"
        )

    async def _file(
        self, path: str, params: list[tuple[str, str]], token: str | None, media_type: str, filename: str
    ) -> Download | Refused:
        try:
            async with self.http.stream(
                "GET",
                f"{self.base}{path}",
                params=tuple(params),
                headers=_headers(token, media_type),
            ) as response:
                if response.status_code >= 500:
                    raise reporting_unavailable()
                if response.status_code != 200:
                    await response.aread()
                    return _refused(response)
                got = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if got != media_type:
                    # e.g. a reporting that does not export yet answers JSON: never relay it
                    # as if it were the file asked for.
                    return Refused(501, "format-not-available", f"format non disponible ({got or 'inconnu'})")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_RELAYED_BYTES:
                        return Refused(502, "too-large", "fichier trop volumineux pour être relayé")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise reporting_unavailable() from exc
        return Download(b"".join(chunks), media_type, filename)


def _check_name(name: str) -> None:
    if not INDICATOR_NAME.match(name):
        raise PortalError(
            "unknown indicator", code="unknown-indicator", message_fr="indicateur inconnu", status=404
        )
