"""The board's records in the portal's MongoDB: one document per (campaign, cell) in
`coverage_cells` (its derived state, dates, scenes, operators' re-tasks, history, and a
revision `rev` that grows on every change: the live stream sends what changed after the
revision the page has), one per scene in `coverage_scenes` (its facts and the ids of the
events already applied: a redelivered event changes nothing)."""

from __future__ import annotations

import time
from typing import Any, Protocol

CELLS = "coverage_cells"
SCENES = "coverage_scenes"


def cell_key(campaign: str, number: int) -> str:
    return f"{campaign}:{number}"


# Every key a cell document has (FerretDB may not give back a key whose value is null).
CELL_DEFAULTS: dict[str, Any] = {
    "scene_id": None,
    "scene_ids": [],
    "cloud": None,
    "reason_code": None,
    "reason": None,
    "acquired_at": None,
    "ingested_at": None,
    "published_at": None,
    "retasks": [],
    "history": [],
    "window": {"start": "", "end": ""},
    "rev": 0,
}


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    for key, value in CELL_DEFAULTS.items():
        if doc.get(key) is None:
            doc[key] = value.copy() if isinstance(value, list | dict) else value
    return doc


def next_rev(previous: int = 0) -> int:
    return max(time.time_ns() // 1000, previous + 1)


class CoverageStore(Protocol):
    async def plan(self, cells: list[dict[str, Any]]) -> int: ...
    async def campaign_planned(self, campaign: str) -> bool: ...
    async def cells(self, campaign: str) -> list[dict[str, Any]]: ...
    async def changed_since(self, campaign: str, rev: int, limit: int = 500) -> list[dict[str, Any]]: ...
    async def cell(self, campaign: str, number: int) -> dict[str, Any] | None: ...
    async def save_cell(self, doc: dict[str, Any], expected_rev: int) -> bool: ...
    async def scene(self, scene_id: str) -> dict[str, Any] | None: ...
    async def save_scene(self, doc: dict[str, Any]) -> None: ...
    async def scenes_of(self, campaign: str, number: int) -> list[dict[str, Any]]: ...
    async def cells_in_state(self, state: str, limit: int) -> list[dict[str, Any]]: ...


class MongoCoverageStore:
    def __init__(self, db: Any) -> None:
        self.cells_c = db[CELLS]
        self.scenes_c = db[SCENES]

    async def ensure_indexes(self) -> None:
        await self.cells_c.create_index([("campaign", 1), ("rev", 1)])
        await self.cells_c.create_index([("state", 1)])
        await self.scenes_c.create_index([("campaign", 1), ("cell", 1)])

    async def plan(self, cells: list[dict[str, Any]]) -> int:
        created = 0
        for doc in cells:  # a campaign planned twice keeps its cells as they are
            result = await self.cells_c.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)
            created += 1 if result.upserted_id is not None else 0
        return created

    async def campaign_planned(self, campaign: str) -> bool:
        return await self.cells_c.find_one({"campaign": campaign}, {"_id": 1}) is not None

    async def cells(self, campaign: str) -> list[dict[str, Any]]:
        return [complete(d) async for d in self.cells_c.find({"campaign": campaign}).sort("cell", 1)]

    async def changed_since(self, campaign: str, rev: int, limit: int = 500) -> list[dict[str, Any]]:
        cursor = self.cells_c.find({"campaign": campaign, "rev": {"$gt": rev}}).sort("rev", 1).limit(limit)
        return [complete(d) async for d in cursor]

    async def cell(self, campaign: str, number: int) -> dict[str, Any] | None:
        found = await self.cells_c.find_one({"_id": cell_key(campaign, number)})
        return complete(found) if found else None

    async def save_cell(self, doc: dict[str, Any], expected_rev: int) -> bool:
        result = await self.cells_c.replace_one({"_id": doc["_id"], "rev": expected_rev}, doc)
        return result.matched_count == 1

    async def scene(self, scene_id: str) -> dict[str, Any] | None:
        return await self.scenes_c.find_one({"_id": scene_id})

    async def save_scene(self, doc: dict[str, Any]) -> None:
        await self.scenes_c.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def scenes_of(self, campaign: str, number: int) -> list[dict[str, Any]]:
        return [d async for d in self.scenes_c.find({"campaign": campaign, "cell": number})]

    async def cells_in_state(self, state: str, limit: int) -> list[dict[str, Any]]:
        return [complete(d) async for d in self.cells_c.find({"state": state}).sort("rev", 1).limit(limit)]
