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

`Store` is the only module that touches these collections: the use cases
(`service/`) and the routes call its named methods (the ports of `service/ports.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from dinamis_shared.hashing import sha256_text

Doc = dict[str, Any]

# Delivery states a removed endpoint cancels.
UNSENT = ("pending", "held")


def now() -> datetime:
    return datetime.now(UTC)


def short_id(*parts: str) -> str:
    return sha256_text("|".join(parts))[:32]


class Store:
    def __init__(self, database: AsyncDatabase[Doc]) -> None:
        self.db = database
        self._users: AsyncCollection[Doc] = database["notify_users"]
        self._preferences: AsyncCollection[Doc] = database["notify_preferences"]
        self._requests: AsyncCollection[Doc] = database["notify_requests"]
        self._organisations: AsyncCollection[Doc] = database["notify_organisations"]
        self._history: AsyncCollection[Doc] = database["notify_history"]
        self._stream: AsyncCollection[Doc] = database["notify_stream"]
        self._webhooks: AsyncCollection[Doc] = database["notify_webhooks"]
        self._deliveries: AsyncCollection[Doc] = database["notify_webhook_deliveries"]
        self._attempts: AsyncCollection[Doc] = database["notify_webhook_attempts"]
        self._next_seq: int | None = None

    async def ensure_indexes(self) -> None:
        await self._users.create_index([("organisation_id", ASCENDING)], name="by_org")
        await self._users.create_index([("roles", ASCENDING)], name="by_role")
        await self._history.create_index(
            [("recipient", ASCENDING), ("created_at", DESCENDING)], name="by_rcpt"
        )
        await self._history.create_index([("status", ASCENDING)], name="by_status")
        await self._stream.create_index([("key", ASCENDING)], unique=True, name="key_unique")
        await self._stream.create_index([("feed", ASCENDING), ("_id", ASCENDING)], name="by_feed")
        await self._webhooks.create_index([("feed", ASCENDING)], name="by_feed")
        await self._webhooks.create_index([("owner_user_id", ASCENDING)], name="by_owner")
        await self._deliveries.create_index(
            [("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"
        )
        await self._deliveries.create_index(
            [("endpoint_id", ASCENDING), ("created_at", DESCENDING)], name="by_endpoint"
        )
        await self._attempts.create_index([("delivery_id", ASCENDING)], name="by_delivery")

    # --- directory -------------------------------------------------------------

    async def upsert_user(self, doc: Doc) -> bool:
        """Keep the highest revision; True if this revision was stored. One writer per
        user (events of one user share a partition), so the conditional update is safe."""
        try:
            await self._users.insert_one(doc)
            return True
        except DuplicateKeyError:
            result = await self._users.update_one(
                {"_id": doc["_id"], "revision": {"$lt": doc["revision"]}}, {"$set": doc}
            )
            return result.modified_count == 1

    async def user(self, user_id: str) -> Doc | None:
        return await self._users.find_one({"_id": user_id})

    async def active_users(self, query: Doc) -> list[Doc]:
        return await self._users.find({**query, "active": True}).to_list(length=None)

    # --- preferences -------------------------------------------------------------

    async def preferences(self, user_id: str) -> Doc | None:
        """The user's stored preference overrides, if any."""
        return await self._preferences.find_one({"_id": user_id})

    async def save_preferences(self, user_id: str, preferences: Doc) -> None:
        await self._preferences.replace_one({"_id": user_id}, {"_id": user_id, **preferences}, upsert=True)

    # --- memos -----------------------------------------------------------------

    async def remember_request(self, request_id: str, organisation_id: str, submitted_by: str) -> None:
        await self._requests.update_one(
            {"_id": request_id},
            {"$set": {"organisation_id": organisation_id, "submitted_by": submitted_by}},
            upsert=True,
        )

    async def request(self, request_id: str) -> Doc | None:
        return await self._requests.find_one({"_id": request_id})

    async def organisation(self, organisation_id: str) -> Doc | None:
        return await self._organisations.find_one({"_id": organisation_id})

    async def remember_organisation(self, organisation_id: str, revision: int, status: str) -> None:
        current = await self.organisation(organisation_id)
        if current is None or current.get("revision", 0) < revision:
            await self._organisations.update_one(
                {"_id": organisation_id}, {"$set": {"revision": revision, "status": status}}, upsert=True
            )

    # --- history (dedupe guard) -----------------------------------------------

    async def claim(self, doc: Doc) -> Doc | None:
        """Insert a history document; None if new, else the one already there."""
        try:
            await self._history.insert_one(doc)
            return None
        except DuplicateKeyError:
            return await self._history.find_one({"_id": doc["_id"]})

    async def settle(self, history_id: str, status: str, **fields: Any) -> None:
        await self._history.update_one({"_id": history_id}, {"$set": {"status": status, **fields}})

    async def settle_all(self, history_ids: Sequence[str], status: str, **fields: Any) -> None:
        await self._history.update_many(
            {"_id": {"$in": list(history_ids)}}, {"$set": {"status": status, **fields}}
        )

    async def digest_pending(self) -> list[Doc]:
        """Every history document waiting for its recipient's digest."""
        return await self._history.find({"status": "digest-pending"}).to_list(length=None)

    async def notifications_of(self, recipient: str, limit: int) -> list[Doc]:
        """A recipient's latest history documents, newest first, without the message's
        summary and address."""
        return (
            await self._history.find({"recipient": recipient}, projection={"summary": 0, "address": 0})
            .sort("created_at", DESCENDING)
            .limit(limit)
            .to_list(length=limit)
        )

    # --- live stream history ---------------------------------------------------

    async def append_stream(self, doc: Doc) -> Doc:
        """Store one stream entry under the next sequence number; if this (event, feed)
        is already stored, return the stored entry (same sequence)."""
        while True:
            if self._next_seq is None:
                last = await self._stream.find_one({}, sort=[("_id", DESCENDING)], projection={"_id": 1})
                self._next_seq = (last["_id"] if last else 0) + 1
            entry = {**doc, "_id": self._next_seq}
            try:
                await self._stream.insert_one(entry)
                self._next_seq += 1
                return entry
            except DuplicateKeyError:
                existing = await self._stream.find_one({"key": doc["key"]})
                if existing is not None:
                    return existing
                self._next_seq = None  # another writer took this number: re-read

    async def stream_after(self, feeds: list[str], after: int, limit: int) -> list[Doc]:
        return (
            await self._stream.find({"feed": {"$in": feeds}, "_id": {"$gt": after}})
            .sort("_id", ASCENDING)
            .limit(limit)
            .to_list(length=limit)
        )

    # --- webhook endpoints -------------------------------------------------------

    async def add_webhook(self, doc: Doc) -> None:
        await self._webhooks.insert_one(doc)

    async def webhook(self, endpoint_id: str) -> Doc | None:
        return await self._webhooks.find_one({"_id": endpoint_id})

    async def webhooks_of(self, owner_user_id: str) -> list[Doc]:
        return await self._webhooks.find({"owner_user_id": owner_user_id}).to_list(length=None)

    async def count_webhooks_of(self, owner_user_id: str) -> int:
        return await self._webhooks.count_documents({"owner_user_id": owner_user_id})

    async def webhooks_on(self, feed: str) -> list[Doc]:
        return await self._webhooks.find({"feed": feed}).to_list(length=None)

    async def failing_webhooks(self, limit: int) -> list[Doc]:
        """Every organisation's failing endpoints, the most recently failing first."""
        cursor = self._webhooks.find({"status": "failing"}).sort("failing_since", DESCENDING).limit(limit)
        return await cursor.to_list(length=limit)

    async def remove_webhook(self, endpoint_id: str) -> None:
        """Delete the endpoint and cancel its deliveries not sent yet."""
        await self._webhooks.delete_one({"_id": endpoint_id})
        await self._deliveries.update_many(
            {"endpoint_id": endpoint_id, "status": {"$in": list(UNSENT)}}, {"$set": {"status": "cancelled"}}
        )

    async def reactivate_webhook(self, endpoint_id: str) -> None:
        """Mark the endpoint active again; its held deliveries become due now."""
        await self._webhooks.update_one(
            {"_id": endpoint_id}, {"$set": {"status": "active"}, "$unset": {"failing_since": ""}}
        )
        await self._deliveries.update_many(
            {"endpoint_id": endpoint_id, "status": "held"},
            {"$set": {"status": "pending", "next_attempt_at": now()}},
        )

    async def mark_webhook_failing(self, endpoint_id: str) -> None:
        await self._webhooks.update_one(
            {"_id": endpoint_id}, {"$set": {"status": "failing", "failing_since": now()}}
        )

    # --- webhook deliveries and attempts -------------------------------------------

    async def add_delivery(self, doc: Doc) -> bool:
        """Insert a delivery; False if it exists already (the same event consumed again)."""
        try:
            await self._deliveries.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    async def due_deliveries(self, limit: int) -> list[Doc]:
        """Pending deliveries whose next attempt is due, the longest waiting first."""
        return (
            await self._deliveries.find({"status": "pending", "next_attempt_at": {"$lte": now()}})
            .sort("next_attempt_at", ASCENDING)
            .limit(limit)
            .to_list(length=limit)
        )

    async def update_delivery(self, delivery_id: str, **fields: Any) -> None:
        await self._deliveries.update_one({"_id": delivery_id}, {"$set": fields})

    async def deliveries_of(self, endpoint_id: str, status: str | None, limit: int) -> list[Doc]:
        """An endpoint's latest deliveries (newest first), without their bodies."""
        query: Doc = {"endpoint_id": endpoint_id}
        if status:
            query["status"] = status
        return (
            await self._deliveries.find(query, projection={"body": 0})
            .sort("created_at", DESCENDING)
            .limit(limit)
            .to_list(length=limit)
        )

    async def add_attempt(self, doc: Doc) -> bool:
        """Insert attempt n of a delivery; False if attempt n exists already."""
        try:
            await self._attempts.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    async def attempt(self, attempt_id: str) -> Doc | None:
        return await self._attempts.find_one({"_id": attempt_id})

    async def update_attempt(self, attempt_id: str, **fields: Any) -> None:
        await self._attempts.update_one({"_id": attempt_id}, {"$set": fields})

    async def attempts_of(self, delivery_ids: Sequence[str]) -> list[Doc]:
        return await self._attempts.find({"delivery_id": {"$in": list(delivery_ids)}}).to_list(length=None)
