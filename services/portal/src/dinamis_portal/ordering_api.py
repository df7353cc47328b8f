"""Ordering's upstream calls (ports and their HTTP adapters): the orders service's
product orders (quote, place, list, read, history), the delivery service's downloads
(a fresh signed URL, the metalink) and notify's history and live stream. Every call
carries the user's access token; the services decide, the portal shows their answers
and their refusals (French `detail` and `code`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dinamis_portal.errors import PortalError
from dinamis_portal.upstream import SAFE_SEGMENT, bearer_headers, call_service, not_found, problem_detail


class OrderingSettings(BaseSettings):
    """Ordering's own settings (env `DINAMIS_PORTAL_*`, like the portal's)."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_PORTAL_", extra="ignore")

    # Scenes a basket holds (kept in the session).
    basket_max: int = Field(default=20, ge=1, le=100)
    # Live streams (SSE relays) one session may hold at once (tabs); more get 429.
    streams_per_session: int = Field(default=4, ge=1, le=50)
    streams_per_user: int = Field(default=8, ge=1, le=100)
    # live streams of the whole process; they have their own connection pool to notify, so
    # they never take the connections every other page needs
    streams_max: int = Field(default=200, ge=1, le=10_000)
    # How often an open relay checks that its session still exists and its token is valid.
    stream_check_s: float = Field(default=5.0, gt=0)
    # Longest line relayed from notify's stream; a longer one ends the relay.
    stream_line_max: int = Field(default=64 * 1024, ge=1024)
    # Largest metalink relayed from delivery.
    metalink_max_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)


@dataclass(frozen=True)
class Refused:
    """A service's refusal: HTTP status, its code and its (French) reason."""

    status: int
    code: str
    detail: str


def service_unavailable(fr: str, en: str) -> PortalError:
    return PortalError(
        f"the {en} service is not answering right now; try again in a moment",
        code=f"{en}-unavailable",
        message_fr=f"le service {fr} ne répond pas pour le moment ; réessayez dans quelques instants",
        status=503,
    )


def refusal_error(refused: Refused) -> PortalError:
    """A refusal as the portal's own error (same status, code and reason)."""
    return PortalError(refused.detail, code=refused.code, message_fr=refused.detail, status=refused.status)


class ProductOrders(Protocol):
    async def quote(self, token: str, draft: dict[str, Any]) -> dict[str, Any] | Refused: ...
    async def place(self, token: str, draft: dict[str, Any]) -> dict[str, Any] | Refused: ...
    async def orders(self, token: str) -> list[dict[str, Any]]: ...
    async def get(self, token: str, order_id: str) -> dict[str, Any]: ...
    async def history(self, token: str, order_id: str) -> list[dict[str, Any]]: ...


class Deliveries(Protocol):
    async def download_url(self, token: str, product_id: str) -> str | Refused: ...
    async def metalink(self, token: str, order_id: str) -> bytes | Refused: ...


class Notifications(Protocol):
    async def latest(self, token: str, limit: int) -> list[dict[str, Any]]: ...
    def stream(self, token: str, last_event_id: str | None) -> AsyncIterator[bytes]: ...


_headers = bearer_headers


def _orders_unavailable() -> PortalError:
    return service_unavailable("des commandes", "orders")


def _refused(response: httpx.Response) -> Refused:
    code, detail = problem_detail(response)
    return Refused(response.status_code, code, detail)


class HttpProductOrders:
    def __init__(self, base_url: str, http: httpx.AsyncClient) -> None:
        self.base = base_url.rstrip("/")
        self.http = http

    async def _call(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.base}{path}"
        return await call_service(self.http, method, url, token, _orders_unavailable, **kwargs)

    async def quote(self, token: str, draft: dict[str, Any]) -> dict[str, Any] | Refused:
        response = await self._call("POST", "/v1/product-orders/quote", token, json=draft)
        return response.json() if response.status_code == 200 else _refused(response)

    async def place(self, token: str, draft: dict[str, Any]) -> dict[str, Any] | Refused:
        response = await self._call("POST", "/v1/product-orders", token, json=draft)
        return response.json() if response.status_code == 201 else _refused(response)

    async def orders(self, token: str) -> list[dict[str, Any]]:
        response = await self._call("GET", "/v1/product-orders", token, params={"limit": "200"})
        if response.status_code != 200:
            raise refusal_error(_refused(response))
        return list(response.json().get("orders") or [])

    async def _order_path(self, token: str, order_id: str, suffix: str = "") -> httpx.Response:
        if not SAFE_SEGMENT.match(order_id):
            raise not_found("commande", "order")
        response = await self._call("GET", f"/v1/product-orders/{order_id}{suffix}", token)
        # Another organisation's order is as unknown as a missing one: nothing leaks.
        if response.status_code in (403, 404, 422):
            raise not_found("commande", "order")
        if response.status_code != 200:
            raise refusal_error(_refused(response))
        return response

    async def get(self, token: str, order_id: str) -> dict[str, Any]:
        return (await self._order_path(token, order_id)).json()

    async def history(self, token: str, order_id: str) -> list[dict[str, Any]]:
        return list((await self._order_path(token, order_id, "/history")).json().get("history") or [])


class HttpDeliveries:
    def __init__(self, base_url: str, http: httpx.AsyncClient, metalink_max_bytes: int) -> None:
        self.base = base_url.rstrip("/")
        self.http = http
        self.metalink_max_bytes = metalink_max_bytes

    async def download_url(self, token: str, product_id: str) -> str | Refused:
        """Delivery's fresh signed URL (its 307's Location), never followed here."""
        if not SAFE_SEGMENT.match(product_id):
            return Refused(404, "product-not-found", "produit inconnu")
        try:
            response = await self.http.get(f"{self.base}/downloads/{product_id}", headers=_headers(token))
        except httpx.HTTPError as exc:
            raise service_unavailable("de livraison", "delivery") from exc
        if response.status_code in (302, 303, 307):
            location = response.headers.get("location", "")
            if urlsplit(location).scheme in ("http", "https"):
                return location
            raise service_unavailable("de livraison", "delivery")
        if response.status_code >= 500:
            raise service_unavailable("de livraison", "delivery")
        return _refused(response)

    async def metalink(self, token: str, order_id: str) -> bytes | Refused:
        if not SAFE_SEGMENT.match(order_id):
            return Refused(404, "order-not-found", "commande inconnue")
        try:
            async with self.http.stream(
                "GET", f"{self.base}/orders/{order_id}/products.meta4", headers=_headers(token)
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    if response.status_code >= 500:
                        raise service_unavailable("de livraison", "delivery")
                    return _refused(response)
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.metalink_max_bytes:
                        raise service_unavailable("de livraison", "delivery")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise service_unavailable("de livraison", "delivery") from exc
        return b"".join(chunks)


class HttpNotifications:
    def __init__(self, base_url: str, http: httpx.AsyncClient) -> None:
        self.base = base_url.rstrip("/")
        self.http = http

    async def latest(self, token: str, limit: int) -> list[dict[str, Any]]:
        """The user's latest notifications; empty when notify cannot say now (the bell
        shows nothing rather than the page failing)."""
        try:
            response = await self.http.get(
                f"{self.base}/v1/notifications", headers=_headers(token), params={"limit": str(limit)}
            )
        except httpx.HTTPError:
            return []
        if response.status_code != 200:
            return []
        return list(response.json().get("notifications") or [])

    async def stream(self, token: str, last_event_id: str | None) -> AsyncIterator[bytes]:
        """notify's SSE stream for the token's user, as raw chunks; ends when notify ends it
        (or refuses it: then nothing is yielded). No read timeout: notify sends heartbeats,
        and the relay checks its session on its own clock."""
        headers = {**_headers(token), "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        timeout = httpx.Timeout(10.0, read=None)
        try:
            async with self.http.stream(
                "GET", f"{self.base}/events/stream", headers=headers, timeout=timeout
            ) as response:
                if response.status_code != 200:
                    return
                async for chunk in response.aiter_bytes():
                    yield chunk
        except httpx.HTTPError:
            return


@dataclass
class OrderingPorts:
    """What the ordering pages call, wired by the composition root."""

    settings: OrderingSettings
    orders: ProductOrders
    deliveries: Deliveries
    notifications: Notifications


def build_ordering(
    orders_url: str, delivery_url: str, notify_url: str, http: httpx.AsyncClient
) -> OrderingPorts:
    settings = OrderingSettings()
    streams = httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, read=None),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=settings.streams_max, max_keepalive_connections=0),
    )
    return OrderingPorts(
        settings=settings,
        orders=HttpProductOrders(orders_url, http),
        deliveries=HttpDeliveries(delivery_url, http, settings.metalink_max_bytes),
        notifications=HttpNotifications(notify_url, streams),
    )
