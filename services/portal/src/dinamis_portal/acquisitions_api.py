"""Acquisition requests (the permanent call, "Appel à Demandes"): the orders service's
request API, called with the user's token, and the portal's own drafts.

Ports and their adapters: `AcquisitionRequests` (HTTP, the orders service: quote, submit,
list, detail, history, coverage, co-financing confirmation) and `Drafts` (MongoDB, the
collection `portal_drafts`: a form the user saved to finish later, owned by one user).

Nothing is decided here: quotas, overlaps, states and who may see what come from the
orders service; its refusals are carried to the page with its French reason and code."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from dinamis_portal.errors import PortalError
from dinamis_portal.upstream import SAFE_SEGMENT, call_service, not_found, problem_detail

DRAFTS = "portal_drafts"
MAX_DRAFTS_PER_USER = 50


def orders_unavailable() -> PortalError:
    return PortalError(
        "the orders service is not answering right now; try again in a moment",
        code="orders-unavailable",
        message_fr="le service des demandes ne répond pas pour le moment ; réessayez dans quelques instants",
        status=503,
    )


@dataclass(frozen=True)
class Refusal:
    """The orders service said no: its status, code, French detail and, for invalid input,
    the fields it names (`errors`: location and message)."""

    status: int
    code: str
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)


class AcquisitionRequests(Protocol):
    async def quote(self, draft: dict[str, Any], token: str) -> dict[str, Any] | Refusal: ...
    async def submit(self, draft: dict[str, Any], token: str) -> dict[str, Any] | Refusal: ...
    async def listing(self, token: str) -> list[dict[str, Any]]: ...
    async def get(self, request_id: str, token: str) -> dict[str, Any]: ...
    async def history(self, request_id: str, token: str) -> list[dict[str, Any]]: ...
    async def coverage(self, request_id: str, token: str) -> dict[str, Any]: ...
    async def confirm_cofinancing(self, request_id: str, token: str) -> dict[str, Any] | Refusal: ...


def refusal_of(response: httpx.Response) -> Refusal:
    code, detail = problem_detail(response)
    errors: list[dict[str, Any]] = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        errors = [e for e in body["errors"] if isinstance(e, dict)][:20]
    return Refusal(response.status_code, code, detail, errors)


def refused_error(response: httpx.Response) -> PortalError:
    """The orders service's refusal as the portal's own error (same status, code and reason)."""
    refused = refusal_of(response)
    return PortalError(refused.detail, code=refused.code, message_fr=refused.detail, status=refused.status)


class HttpAcquisitionRequests:
    def __init__(self, base_url: str, http: httpx.AsyncClient) -> None:
        self.base = base_url.rstrip("/")
        self.http = http

    async def _call(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.base}/v1{path}"
        return await call_service(self.http, method, url, token, orders_unavailable, **kwargs)

    async def _post(
        self, path: str, token: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | Refusal:
        response = await self._call("POST", path, token, json=body if body is not None else {})
        if response.status_code in (200, 201):
            return response.json()
        return refusal_of(response)

    async def _read(self, path: str, token: str, request_id: str) -> dict[str, Any]:
        """A request's page: another organisation's request (403 upstream) and an unknown one
        (404) look the same here — a 404 that names neither."""
        if not SAFE_SEGMENT.match(request_id):
            raise not_found("demande", "request")
        response = await self._call("GET", path, token)
        if response.status_code in (403, 404, 422):
            raise not_found("demande", "request")
        if response.status_code != 200:
            raise refused_error(response)
        return response.json()

    async def quote(self, draft: dict[str, Any], token: str) -> dict[str, Any] | Refusal:
        return await self._post("/requests/quote", token, draft)

    async def submit(self, draft: dict[str, Any], token: str) -> dict[str, Any] | Refusal:
        return await self._post("/requests", token, draft)

    async def listing(self, token: str) -> list[dict[str, Any]]:
        response = await self._call("GET", "/requests", token, params={"limit": "500"})
        if response.status_code != 200:
            raise refused_error(response)
        return list(response.json().get("requests") or [])

    async def get(self, request_id: str, token: str) -> dict[str, Any]:
        return await self._read(f"/requests/{request_id}", token, request_id)

    async def history(self, request_id: str, token: str) -> list[dict[str, Any]]:
        return list(
            (await self._read(f"/requests/{request_id}/history", token, request_id)).get("history") or []
        )

    async def coverage(self, request_id: str, token: str) -> dict[str, Any]:
        return await self._read(f"/requests/{request_id}/coverage", token, request_id)

    async def confirm_cofinancing(self, request_id: str, token: str) -> dict[str, Any] | Refusal:
        if not SAFE_SEGMENT.match(request_id):
            raise not_found("demande", "request")
        return await self._post(f"/requests/{request_id}/cofinancing/confirm", token)


# --- drafts --------------------------------------------------------------------------------


class Drafts(Protocol):
    """A user's saved forms (port). Every operation names the owner: another user's draft
    id is not found."""

    async def save(self, owner: str, fields: dict[str, str], draft_id: str | None) -> str: ...
    async def get(self, owner: str, draft_id: str) -> dict[str, Any] | None: ...
    async def listing(self, owner: str) -> list[dict[str, Any]]: ...
    async def delete(self, owner: str, draft_id: str) -> bool: ...


def too_many_drafts() -> PortalError:
    return PortalError(
        f"at most {MAX_DRAFTS_PER_USER} drafts: delete some first",
        code="too-many-drafts",
        message_fr=f"{MAX_DRAFTS_PER_USER} brouillons au plus : supprimez-en d'abord",
        status=409,
    )


def new_draft_id() -> str:
    return "brouillon-" + secrets.token_urlsafe(12).replace("_", "x").replace("-", "y")


class MongoDrafts:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db[DRAFTS]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("owner", ASCENDING), ("saved_at", DESCENDING)])

    async def save(self, owner: str, fields: dict[str, str], draft_id: str | None) -> str:
        now = datetime.now(UTC)
        if draft_id:
            done = await self.collection.update_one(
                {"_id": draft_id, "owner": owner}, {"$set": {"fields": fields, "saved_at": now}}
            )
            if done.matched_count:
                return draft_id
        if await self.collection.count_documents({"owner": owner}) >= MAX_DRAFTS_PER_USER:
            raise too_many_drafts()
        draft_id = new_draft_id()
        await self.collection.insert_one({"_id": draft_id, "owner": owner, "fields": fields, "saved_at": now})
        return draft_id

    async def get(self, owner: str, draft_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": draft_id, "owner": owner})

    async def listing(self, owner: str) -> list[dict[str, Any]]:
        cursor = self.collection.find(
            {"owner": owner}, sort=[("saved_at", DESCENDING)], limit=MAX_DRAFTS_PER_USER
        )
        return [d async for d in cursor]

    async def delete(self, owner: str, draft_id: str) -> bool:
        done = await self.collection.delete_one({"_id": draft_id, "owner": owner})
        return done.deleted_count == 1
