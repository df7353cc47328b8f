"""The AOI feature's adapters (ports and their implementations):

- `AoiCatalogue`: the catalogue's `POST /search`, for a search over a drawn or imported
  AOI (its polygon goes in the body as `intersects`: a URL to the catalogue cannot carry
  a detailed outline). The refusals are the catalogue's, shown with its code and reason.
- `AoiStore`: the saved AOIs of logged-in users, in MongoDB (`portal_aois`), each with
  its owner (the user's OIDC subject); every read and delete is filtered by owner, so
  another user's AOI id is simply not found (404)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from dinamis_portal.errors import PortalError
from dinamis_portal.upstream import catalogue_unavailable, problem_detail

COLLECTION = "portal_aois"
MAX_SAVED = 100  # per user


class AoiCatalogue(Protocol):
    async def search_body(self, body: dict[str, Any]) -> dict[str, Any]: ...


class HttpAoiCatalogue:
    def __init__(self, base_url: str, http: httpx.AsyncClient) -> None:
        self.base = base_url.rstrip("/")
        self.http = http

    async def search_body(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.http.post(
                f"{self.base}/search",
                json=body,
                headers={"Accept-Language": "fr", "Accept": "application/geo+json, application/json"},
            )
        except httpx.HTTPError as exc:
            raise catalogue_unavailable() from exc
        if response.status_code in (400, 413, 422):
            code, detail = problem_detail(response)
            raise PortalError(detail, code=code, message_fr=detail, status=400)
        if response.status_code != 200:
            raise catalogue_unavailable()
        return response.json()


class AoiStore(Protocol):
    async def list(self, owner: str) -> list[dict[str, Any]]: ...
    async def get(self, owner: str, aoi_id: str) -> dict[str, Any] | None: ...
    async def add(self, owner: str, name: str, code: str, area_km2: float) -> dict[str, Any]: ...
    async def delete(self, owner: str, aoi_id: str) -> bool: ...


def too_many_saved() -> PortalError:
    return PortalError(
        f"at most {MAX_SAVED} saved areas: delete some first",
        code="aoi-saved-limit",
        message_fr=f"au plus {MAX_SAVED} zones enregistrées : supprimez-en d'abord",
        status=409,
    )


class MongoAoiStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("owner", ASCENDING), ("created_at", ASCENDING)])

    async def list(self, owner: str) -> list[dict[str, Any]]:
        cursor = self.collection.find({"owner": owner}).sort("created_at", ASCENDING).limit(MAX_SAVED)
        return [record async for record in cursor]

    async def get(self, owner: str, aoi_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": aoi_id, "owner": owner})

    async def add(self, owner: str, name: str, code: str, area_km2: float) -> dict[str, Any]:
        if await self.collection.count_documents({"owner": owner}) >= MAX_SAVED:
            raise too_many_saved()
        record = {
            "_id": secrets.token_urlsafe(12),
            "owner": owner,
            "name": name,
            "code": code,
            "area_km2": area_km2,
            "created_at": datetime.now(UTC),
        }
        await self.collection.insert_one(record)
        return record

    async def delete(self, owner: str, aoi_id: str) -> bool:
        done = await self.collection.delete_one({"_id": aoi_id, "owner": owner})
        return done.deleted_count == 1


class MemoryAoiStore:
    """The same port in memory (unit tests)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    async def list(self, owner: str) -> list[dict[str, Any]]:
        found = [r for r in self.records.values() if r["owner"] == owner]
        return sorted(found, key=lambda r: r["created_at"])

    async def get(self, owner: str, aoi_id: str) -> dict[str, Any] | None:
        record = self.records.get(aoi_id)
        return dict(record) if record and record["owner"] == owner else None

    async def add(self, owner: str, name: str, code: str, area_km2: float) -> dict[str, Any]:
        if len(await self.list(owner)) >= MAX_SAVED:
            raise too_many_saved()
        record = {
            "_id": secrets.token_urlsafe(12),
            "owner": owner,
            "name": name,
            "code": code,
            "area_km2": area_km2,
            "created_at": datetime.now(UTC),
        }
        self.records[str(record["_id"])] = record
        return dict(record)

    async def delete(self, owner: str, aoi_id: str) -> bool:
        record = self.records.get(aoi_id)
        if record and record["owner"] == owner:
            del self.records[aoi_id]
            return True
        return False
