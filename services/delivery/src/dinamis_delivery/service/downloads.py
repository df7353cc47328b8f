"""Downloads counted for the reporting (issue 16): one `product-downloaded` event per
signed URL issued by `GET /downloads/{product_id}`, written to an outbox before the
answer (adapters/downloads.py) and published from there by `DownloadRelay`.

The Metalink route (`/orders/{id}/products.meta4`) counts nothing: it lists URLs that a
download manager may or may not fetch, and an object store's presigned URL reaches the
store directly, so those fetches are not seen here. Only the signed URLs handed out one
by one are counted."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Protocol

from pydantic import ValidationError

from dinamis_shared.auth import Principal
from dinamis_shared.bus import EventPublisher
from dinamis_shared.errors import is_outage
from dinamis_shared.events import ProductDownloadedV1

log = logging.getLogger(__name__)


class DownloadOutbox(Protocol):
    async def record(self, event: ProductDownloadedV1) -> str: ...

    async def pending(self, limit: int = 500) -> list[tuple[str, ProductDownloadedV1]]: ...

    async def sent(self, event_id: str) -> None: ...


def download_event(
    record: dict, product_id: str, principal: Principal, now: datetime
) -> ProductDownloadedV1 | None:
    """The event of one signed URL of `product_id` (its record) issued to `principal`.
    `organisation_id` is the organisation that ordered the product (the record's), the
    user is whoever was handed the URL (staff included). None for a record that cannot
    make a valid event (no size): logged, and the download is not refused for it."""
    try:
        return ProductDownloadedV1.model_validate(
            {
                "product_id": product_id,
                "order_id": record["order_id"],
                "organisation_id": record["organisation_id"],
                "user_id": principal.user_id,
                "item_id": record["item_id"],
                "collection": record.get("collection"),
                "size_bytes": record.get("size_bytes"),
                "downloaded_at": now,
            }
        )
    except (KeyError, ValidationError) as exc:
        log.error(
            "download not countable: product record incomplete",
            extra={"product_id": product_id, "error": str(exc)},
        )
        return None


class DownloadRelay:
    """Publishes the outbox's events, oldest first, each with its stored id, then deletes it."""

    def __init__(self, outbox: DownloadOutbox, publisher: EventPublisher, poll_s: float = 1.0) -> None:
        self.outbox, self.publisher, self.poll_s = outbox, publisher, poll_s
        self.wakeup = asyncio.Event()

    async def relay_once(self) -> int:
        published = 0
        for event_id, event in await self.outbox.pending():
            await self.publisher.publish(event, event_id=event_id)
            await self.outbox.sent(event_id)
            published += 1
        return published

    async def run(self, started: asyncio.Event | None = None) -> None:
        if started is not None:
            await started.wait()  # the publisher must be up
        while True:
            self.wakeup.clear()
            try:
                await self.relay_once()
            except Exception as exc:  # an outage: keep trying; anything else is logged loudly
                (log.warning if is_outage(exc) else log.exception)("download events relay failed: %s", exc)
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout=self.poll_s)
            except TimeoutError:
                pass
