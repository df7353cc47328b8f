"""The download events' outbox in MongoDB (collection `delivery_download_outbox`).

Each signed URL the download route issues is one `product-downloaded` event, written here
(one single-document insert) before the route answers — at most one per product, user and
minute: the CloudEvents id is derived from those three, so a user looping on the route
counts once a minute (a repeat while the first is pending is not inserted again; once
published, the archive drops the same id); `DownloadRelay` (service/downloads.py)
publishes it with that id, then deletes it. A crash between the publish and the delete
publishes the same id again: consumers (the reporting archive) deduplicate by id, so
nothing is lost or counted twice. The collection holds only what awaits the relay: it
stays small and is read whole, by insertion time.
"""

from __future__ import annotations

import uuid
from typing import Any

from pymongo.errors import DuplicateKeyError

from dinamis_shared.events import ProductDownloadedV1

COLLECTION = "delivery_download_outbox"
# The namespace of the downloads' CloudEvents ids (uuid5 of product, user and minute).
DOWNLOADS = uuid.UUID("5d1f3c52-8f0e-4d7a-9a57-6f1f0c2b7d11")


def download_event_id(event: ProductDownloadedV1) -> str:
    minute = event.downloaded_at.strftime("%Y-%m-%dT%H:%M")
    return str(uuid.uuid5(DOWNLOADS, f"{event.product_id}|{event.user_id}|{minute}"))


class MongoDownloadOutbox:
    def __init__(self, mongo: Any, database: str) -> None:
        self.collection = mongo[database][COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("at")

    async def record(self, event: ProductDownloadedV1) -> str:
        """Keep the event until it is published; returns its CloudEvents id."""
        event_id = download_event_id(event)
        try:
            await self.collection.insert_one(
                {
                    "_id": event_id,
                    "type": event.ce_type(),
                    "payload": event.model_dump_json(),
                    "at": event.downloaded_at,
                }
            )
        except DuplicateKeyError:
            pass  # the same product, user and minute: already counted
        return event_id

    async def pending(self, limit: int = 500) -> list[tuple[str, ProductDownloadedV1]]:
        """The oldest events awaiting the relay, with their ids."""
        cursor = self.collection.find({}).sort("at", 1).limit(limit)
        return [(d["_id"], ProductDownloadedV1.model_validate_json(d["payload"])) async for d in cursor]

    async def sent(self, event_id: str) -> None:
        await self.collection.delete_one({"_id": event_id})
