"""The orders service's access decisions, the only source of who may read what (nothing
about memberships is copied into the catalog): `GET /v1/me` (does the caller stand as
an active member or staff?) and `POST /v1/access/items` (which items may it read?).
The caller's credentials are forwarded as they came."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import httpx

from dinamis_shared.auth import Forbidden
from dinamis_shared.errors import DinamisError
from dinamis_shared.hashing import sha256_text

# Request headers passed on to the orders service (credentials and language).
FORWARDED = ("authorization", "access-key", "secret-key", "accept-language")


def forwarded_credentials(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of a request to pass on to the orders service."""
    return {k: v for k, v in headers.items() if k.lower() in FORWARDED}


class OrdersRefusal(DinamisError):
    """The orders service's own refusal (401/403), passed on unchanged."""

    def __init__(self, detail: str, code: str, status: int) -> None:
        super().__init__(detail, code=code)
        self.http_status = status


class OrdersAccess:
    """The questions signed URLs ask (async, one client for the process)."""

    def __init__(self, client: httpx.AsyncClient, orders_url: str) -> None:
        self.client = client
        self.orders_url = orders_url.rstrip("/")

    async def decisions(self, item_ids: list[str], credentials: dict[str, str]) -> dict[str, dict]:
        """item id -> {"allowed", "code", "reason"}; the orders service's 401/403 is raised
        as it is (already in the caller's language: Accept-Language is forwarded)."""
        response = await self.client.post(
            f"{self.orders_url}/v1/access/items",
            json={"item_ids": sorted(set(item_ids))},
            headers=credentials,
        )
        if response.status_code in (401, 403):
            body = response.json()
            raise OrdersRefusal(
                body.get("detail", "refused"), body.get("code", "forbidden"), response.status_code
            )
        response.raise_for_status()
        decisions: dict[str, dict] = response.json()["decisions"]
        return decisions

    async def standing(self, credentials: dict[str, str]) -> dict:
        """The caller's standing: {"allowed", "code", "reason"}."""
        me = await self.client.get(f"{self.orders_url}/v1/me", headers=credentials)
        me.raise_for_status()
        standing: dict = me.json()["standing"]
        return standing


def _fingerprint(credentials: dict[str, str]) -> str:
    return sha256_text(repr(sorted(credentials.items())))


class ItemAccess:
    """Asks the orders service whether a caller stands as a member (`GET /v1/me`) and which
    items it may read (`POST /v1/access/items`, the decision signed URLs use). Answers are
    kept `ttl_s` seconds (5 at most: a suspension bites within seconds) per credentials
    (and item) so a map view does not ask once per tile; item decisions are asked from the
    tiler's worker threads (sync client)."""

    def __init__(self, orders_url: str, ttl_s: float = 5.0) -> None:
        self.orders_url = orders_url.rstrip("/")
        self.ttl_s = ttl_s
        self.client = httpx.Client(timeout=5.0)
        self._items: dict[tuple[str, str], tuple[float, bool]] = {}
        self._standing: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def _refusal(response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            body = response.json()
            raise Forbidden(body.get("detail", "refused"), code=body.get("code", "forbidden"))
        response.raise_for_status()

    async def check_standing(self, http: httpx.AsyncClient, credentials: dict[str, str]) -> None:
        """Refuse (403, with the reason) a caller who is not an active member or staff."""
        who, now = _fingerprint(credentials), time.monotonic()
        hit = self._standing.get(who)
        if hit is None or hit[0] <= now:
            response = await http.get(f"{self.orders_url}/v1/me", headers=credentials)
            self._refusal(response)
            if len(self._standing) > 10_000:
                self._standing.clear()
            hit = self._standing[who] = (now + self.ttl_s, response.json()["standing"])
        standing = hit[1]
        if not standing["allowed"]:
            raise Forbidden(standing["reason"], code=standing["code"])

    def allowed(self, credentials: dict[str, str], item_ids: list[str]) -> set[str]:
        who, now = _fingerprint(credentials), time.monotonic()
        known: dict[str, bool] = {}
        with self._lock:
            for item_id in item_ids:
                hit = self._items.get((who, item_id))
                if hit and hit[0] > now:
                    known[item_id] = hit[1]
        missing = sorted(set(item_ids) - set(known))
        if missing:
            response = self.client.post(
                f"{self.orders_url}/v1/access/items", json={"item_ids": missing}, headers=credentials
            )
            self._refusal(response)
            decisions = response.json()["decisions"]
            with self._lock:
                if len(self._items) > 100_000:
                    self._items.clear()
                for item_id in missing:
                    ok = bool(decisions.get(item_id, {}).get("allowed"))
                    known[item_id] = ok
                    self._items[(who, item_id)] = (now + self.ttl_s, ok)
        return {i for i, ok in known.items() if ok}
