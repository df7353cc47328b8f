"""The services the portal calls (ports and their HTTP adapters): the catalogue's STAC
API (search, items, collections, previews, signed URLs) and the orders service (who the
user is and what they may do). The portal decides nothing itself: it shows their answers,
and their refusals with their reasons."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from dinamis_portal.errors import PortalError

SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}\Z")


def catalogue_unavailable() -> PortalError:
    return PortalError(
        "the catalogue is not answering right now; try again in a moment",
        code="catalogue-unavailable",
        message_fr="le catalogue ne répond pas pour le moment ; réessayez dans quelques instants",
        status=503,
    )


def orders_unavailable() -> PortalError:
    return PortalError(
        "the orders service, which says who may do what, is not answering; try again in a moment",
        code="orders-unavailable",
        message_fr="le service des commandes, qui dit qui peut faire quoi, ne répond pas ; "
        "réessayez dans quelques instants",
        status=503,
    )


def not_found(what_fr: str, what: str) -> PortalError:
    return PortalError(f"{what} not found", code="not-found", message_fr=f"{what_fr} introuvable", status=404)


def problem_detail(response: httpx.Response) -> tuple[str, str]:
    """(code, detail) of a problem answer, French detail (we ask in French)."""
    try:
        body = response.json()
    except ValueError:
        return "upstream-error", response.text[:200]
    if not isinstance(body, dict):
        return "upstream-error", str(body)[:200]
    return str(body.get("code") or "upstream-error"), str(body.get("detail") or body.get("title") or "")


def bearer_headers(token: str) -> dict[str, str]:
    """A call made for the user (their token), answers asked in French, as JSON."""
    return {"Authorization": f"Bearer {token}", "Accept-Language": "fr", "Accept": "application/json"}


async def call_service(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    token: str,
    unavailable: Callable[[], Exception],
    **kwargs: Any,
) -> httpx.Response:
    """One call to a service with the user's token: the service's answer, any status below
    500; a service that cannot be reached or fails (5xx) raises `unavailable()`."""
    try:
        response = await http.request(method, url, headers=bearer_headers(token), **kwargs)
    except httpx.HTTPError as exc:
        raise unavailable() from exc
    if response.status_code >= 500:
        raise unavailable()
    return response


@dataclass(frozen=True)
class Preview:
    content: bytes
    media_type: str


@dataclass(frozen=True)
class Signed:
    hrefs: dict[str, str]
    expiry: str


@dataclass(frozen=True)
class SigningRefused:
    code: str
    detail: str


class Catalogue(Protocol):
    async def search(self, params: list[tuple[str, str]]) -> dict[str, Any]: ...
    async def item(self, collection: str, item_id: str) -> dict[str, Any]: ...
    async def collection(self, collection: str) -> dict[str, Any] | None: ...
    async def collections(self) -> list[dict[str, Any]]: ...
    async def preview(self, collection: str, item_id: str, asset: str) -> Preview | None: ...
    async def sign(self, urls: list[str], token: str, seconds: int) -> Signed | SigningRefused: ...


class Orders(Protocol):
    async def me(self, token: str) -> dict[str, Any] | None: ...
    async def me_now(self, token: str) -> dict[str, Any] | None: ...


class HttpCatalogue:
    def __init__(self, base_url: str, http: httpx.AsyncClient, preview_max_bytes: int) -> None:
        self.base = base_url.rstrip("/")
        self.http = http
        self.preview_max_bytes = preview_max_bytes
        self._collections: tuple[float, list[dict[str, Any]]] | None = None

    async def _get(self, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.get(
                f"{self.base}{path}",
                headers={"Accept-Language": "fr", "Accept": "application/json"},
                **kwargs,
            )
        except httpx.HTTPError as exc:
            raise catalogue_unavailable() from exc

    async def search(self, params: list[tuple[str, str]]) -> dict[str, Any]:
        response = await self._get("/search", params=params)
        if response.status_code == 400:
            code, detail = problem_detail(response)
            raise PortalError(detail, code=code, message_fr=detail, status=400)
        if response.status_code != 200:
            raise catalogue_unavailable()
        return response.json()

    async def item(self, collection: str, item_id: str) -> dict[str, Any]:
        if not (SAFE_SEGMENT.match(collection) and SAFE_SEGMENT.match(item_id)):
            raise not_found("scène", "scene")
        response = await self._get(f"/collections/{collection}/items/{item_id}")
        if response.status_code == 404:
            raise not_found("scène", "scene")
        if response.status_code != 200:
            raise catalogue_unavailable()
        return response.json()

    async def collection(self, collection: str) -> dict[str, Any] | None:
        if not SAFE_SEGMENT.match(collection):
            return None
        response = await self._get(f"/collections/{collection}")
        return response.json() if response.status_code == 200 else None

    async def collections(self) -> list[dict[str, Any]]:
        if self._collections and time.monotonic() - self._collections[0] < 300:
            return self._collections[1]
        response = await self._get("/collections", params={"limit": "200"})
        if response.status_code != 200:
            raise catalogue_unavailable()
        found = response.json().get("collections", [])
        self._collections = (time.monotonic(), found)
        return found

    async def preview(self, collection: str, item_id: str, asset: str) -> Preview | None:
        """The public thumbnail or quicklook (the catalogue redirects to the object store),
        relayed so that the page's images come from the portal itself (CSP `img-src 'self'`)."""
        if not all(SAFE_SEGMENT.match(s) for s in (collection, item_id, asset)):
            return None
        try:
            async with self.http.stream(
                "GET", f"{self.base}/previews/{collection}/{item_id}/{asset}", follow_redirects=True
            ) as response:
                if response.status_code != 200:
                    return None
                media_type = response.headers.get("content-type", "application/octet-stream")
                if not media_type.startswith("image/"):
                    return None
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.preview_max_bytes:
                        return None
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise catalogue_unavailable() from exc
        return Preview(b"".join(chunks), media_type)

    async def sign(self, urls: list[str], token: str, seconds: int) -> Signed | SigningRefused:
        try:
            response = await self.http.post(
                f"{self.base}/sign_urls",
                params=[*(("urls", u) for u in urls), ("duration_seconds", seconds)],
                headers={"Authorization": f"Bearer {token}", "Accept-Language": "fr"},
            )
        except httpx.HTTPError as exc:
            raise catalogue_unavailable() from exc
        if response.status_code == 200:
            body = response.json()
            return Signed(hrefs=body.get("hrefs", {}), expiry=str(body.get("expiry", "")))
        if response.status_code >= 500:
            raise catalogue_unavailable()
        return SigningRefused(*problem_detail(response))


class HttpOrders:
    def __init__(self, base_url: str, http: httpx.AsyncClient) -> None:
        self.base = base_url.rstrip("/")
        self.http = http

    async def me(self, token: str) -> dict[str, Any] | None:
        """GET /v1/me: who the platform thinks the user is, and their standing. None when
        the orders service cannot tell now (the page still renders, without it)."""
        try:
            response = await self.http.get(
                f"{self.base}/v1/me", headers={"Authorization": f"Bearer {token}", "Accept-Language": "fr"}
            )
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    async def me_now(self, token: str) -> dict[str, Any] | None:
        """GET /v1/me for a decision (the ops console's staff check): None when orders
        refuses the token; 503 when it cannot answer (never a guess)."""
        try:
            response = await self.http.get(
                f"{self.base}/v1/me", headers={"Authorization": f"Bearer {token}", "Accept-Language": "fr"}
            )
        except httpx.HTTPError as exc:
            raise orders_unavailable() from exc
        if response.status_code >= 500:
            raise orders_unavailable()
        return response.json() if response.status_code == 200 else None
