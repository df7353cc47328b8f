"""Notify's MongoDB collections (all prefixed `notify_`, in the platform database).

- `notify_users`: the recipient directory, from `user-changed` events (highest revision kept);
- `notify_preferences`: per-user overrides of the default preferences;
- `notify_requests`, `notify_organisations`: what notify remembers of requests (who
  submitted them) and memberships (last status), to route later events;
- `notify_history`: one document per (dedupe key, recipient, channel) — its unique
  `_id` is the guard that the same event consumed twice sends nothing twice;
- `notify_stream`: the live stream's history, `_id` = a global sequence number (the
  SSE event id), `key` (event id + feed) unique so an event is stored once per feed;
- `notify_webhooks`, `notify_webhook_deliveries`, `notify_webhook_attempts`.

FerretDB 1.24 does not make conditional updates atomic under concurrency: every
"only once" guard here is a unique-key insert.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

COLLECTIONS = (
    "users",
    "preferences",
    "requests",
    "organisations",
    "history",
    "stream",
    "webhooks",
    "webhook_deliveries",
    "webhook_attempts",
)


def now() -> datetime:
    return datetime.now(UTC)


def short_id(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


class Store:
    def __init__(self, database: Any) -> None:
        self.db = database
        for name in COLLECTIONS:
            setattr(self, name, database[f"notify_{name}"])
        self._next_seq: int | None = None

    async def ensure_indexes(self) -> None:
        await self.users.create_index([("organisation_id", ASCENDING)], name="by_org")
        await self.users.create_index([("roles", ASCENDING)], name="by_role")
        await self.history.create_index(
            [("recipient", ASCENDING), ("created_at", DESCENDING)], name="by_rcpt"
        )
        await self.history.create_index([("status", ASCENDING)], name="by_status")
        await self.stream.create_index([("key", ASCENDING)], unique=True, name="key_unique")
        await self.stream.create_index([("feed", ASCENDING), ("_id", ASCENDING)], name="by_feed")
        await self.webhooks.create_index([("feed", ASCENDING)], name="by_feed")
        await self.webhooks.create_index([("owner_user_id", ASCENDING)], name="by_owner")
        await self.webhook_deliveries.create_index(
            [("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"
        )
        await self.webhook_deliveries.create_index(
            [("endpoint_id", ASCENDING), ("created_at", DESCENDING)], name="by_endpoint"
        )
        await self.webhook_attempts.create_index([("delivery_id", ASCENDING)], name="by_delivery")

    # --- directory -------------------------------------------------------------

    async def upsert_user(self, doc: dict) -> bool:
        """Keep the highest revision; True if this revision was stored. One writer per
        user (events of one user share a partition), so the conditional update is safe."""
        try:
            await self.users.insert_one(doc)
            return True
        except DuplicateKeyError:
            result = await self.users.update_one(
                {"_id": doc["_id"], "revision": {"$lt": doc["revision"]}}, {"$set": doc}
            )
            return result.modified_count == 1

    async def user(self, user_id: str) -> dict | None:
        return await self.users.find_one({"_id": user_id})

    async def active_users(self, query: dict) -> list[dict]:
        return await self.users.find({**query, "active": True}).to_list(length=None)

    # --- memos -----------------------------------------------------------------

    async def remember_request(self, request_id: str, organisation_id: str, submitted_by: str) -> None:
        await self.requests.update_one(
            {"_id": request_id},
            {"$set": {"organisation_id": organisation_id, "submitted_by": submitted_by}},
            upsert=True,
        )

    async def request(self, request_id: str) -> dict | None:
        return await self.requests.find_one({"_id": request_id})

    async def organisation(self, organisation_id: str) -> dict | None:
        return await self.organisations.find_one({"_id": organisation_id})

    async def remember_organisation(self, organisation_id: str, revision: int, status: str) -> None:
        current = await self.organisation(organisation_id)
        if current is None or current.get("revision", 0) < revision:
            await self.organisations.update_one(
                {"_id": organisation_id}, {"$set": {"revision": revision, "status": status}}, upsert=True
            )

    # --- history (dedupe guard) -----------------------------------------------

    async def claim(self, doc: dict) -> dict | None:
        """Insert a history document; None if new, else the one already there."""
        try:
            await self.history.insert_one(doc)
            return None
        except DuplicateKeyError:
            return await self.history.find_one({"_id": doc["_id"]})

    async def settle(self, history_id: str, status: str, **fields: Any) -> None:
        await self.history.update_one({"_id": history_id}, {"$set": {"status": status, **fields}})

    # --- live stream history ---------------------------------------------------

    async def append_stream(self, doc: dict) -> dict:
        """Store one stream entry under the next sequence number; if this (event, feed)
        is already stored, return the stored entry (same sequence)."""
        while True:
            if self._next_seq is None:
                last = await self.stream.find_one({}, sort=[("_id", DESCENDING)], projection={"_id": 1})
                self._next_seq = (last["_id"] if last else 0) + 1
            entry = {**doc, "_id": self._next_seq}
            try:
                await self.stream.insert_one(entry)
                self._next_seq += 1
                return entry
            except DuplicateKeyError:
                existing = await self.stream.find_one({"key": doc["key"]})
                if existing is not None:
                    return existing
                self._next_seq = None  # another writer took this number: re-read

    async def stream_after(self, feeds: list[str], after: int, limit: int) -> list[dict]:
        return (
            await self.stream.find({"feed": {"$in": feeds}, "_id": {"$gt": after}})
            .sort("_id", ASCENDING)
            .limit(limit)
            .to_list(length=limit)
        )
