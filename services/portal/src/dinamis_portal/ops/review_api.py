"""The review queue's adapter (port and HTTP implementation): the orders service's staff
routes for reviewing acquisition requests, called with the operator's token —
`GET /v1/review-queue`, `GET /v1/requests/{id}/review` (quota, co-financing, the other
requests over the same ground) and `POST /v1/requests/{id}/actions` (decisions, and
`propose_scenes`). The request itself and its history are read through the
acquisitions adapter (`acquisitions_api.py`), the catalogue through the AOI search's
(`aoi_api.py`). Nothing is decided here: orders answers, its refusals are carried with
their code and French reason."""

from __future__ import annotations

from typing import Any, Protocol

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict

from dinamis_portal.acquisitions_api import Refusal, orders_unavailable, refusal_of, refused_error
from dinamis_portal.upstream import SAFE_SEGMENT, call_service, not_found


class ReviewSettings(BaseSettings):
    """`DINAMIS_PORTAL_REVIEW_TARGET_DAYS`: how long a request may wait for a decision
    before the queue shows it late."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_PORTAL_", extra="ignore")

    review_target_days: int = 5


class ReviewApi(Protocol):
    async def queue(self, token: str) -> list[dict[str, Any]]: ...
    async def organisation(self, org_id: str, token: str) -> dict[str, Any] | None: ...
    async def users(self, org_id: str, token: str) -> list[dict[str, Any]]: ...
    async def checks(self, request_id: str, token: str) -> dict[str, Any]: ...
    async def act(
        self,
        request_id: str,
        action: str,
        reason: str | None,
        token: str,
        items: list[dict[str, str]] | None = None,
    ) -> dict[str, Any] | Refusal: ...


class HttpReviewApi:
    def __init__(self, base_url: str, http: httpx.AsyncClient) -> None:
        self.base = base_url.rstrip("/")
        self.http = http

    async def _call(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.base}/v1{path}"
        return await call_service(self.http, method, url, token, orders_unavailable, **kwargs)

    async def queue(self, token: str) -> list[dict[str, Any]]:
        response = await self._call("GET", "/review-queue", token)
        if response.status_code != 200:
            raise refused_error(response)
        return list(response.json().get("requests") or [])

    async def organisation(self, org_id: str, token: str) -> dict[str, Any] | None:
        """The organisation's record (its name, category), None when unreadable: the page
        shows the identifier alone."""
        if not SAFE_SEGMENT.match(org_id):
            return None
        response = await self._call("GET", f"/organisations/{org_id}", token)
        return response.json() if response.status_code == 200 else None

    async def users(self, org_id: str, token: str) -> list[dict[str, Any]]:
        """The organisation's users (staff read them), to name the applicant."""
        if not SAFE_SEGMENT.match(org_id):
            return []
        response = await self._call("GET", f"/organisations/{org_id}/users", token)
        return list(response.json().get("users") or []) if response.status_code == 200 else []

    async def checks(self, request_id: str, token: str) -> dict[str, Any]:
        if not SAFE_SEGMENT.match(request_id):
            raise not_found("demande", "request")
        response = await self._call("GET", f"/requests/{request_id}/review", token)
        if response.status_code in (404, 422):
            raise not_found("demande", "request")
        if response.status_code != 200:
            raise refused_error(response)
        return response.json()

    async def act(
        self,
        request_id: str,
        action: str,
        reason: str | None,
        token: str,
        items: list[dict[str, str]] | None = None,
    ) -> dict[str, Any] | Refusal:
        if not SAFE_SEGMENT.match(request_id):
            raise not_found("demande", "request")
        body: dict[str, Any] = {"action": action, "reason": reason or None}
        if items is not None:
            body["items"] = items
        response = await self._call("POST", f"/requests/{request_id}/actions", token, json=body)
        if response.status_code == 200:
            return response.json()
        return refusal_of(response)
