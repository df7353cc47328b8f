"""Webhooks: endpoints registered on a feed, signed deliveries, retries, dead letters.

An endpoint belongs to the user who registered it and receives the events of one
feed — its organisation's (`org:<id>`), or, for operators, `operations` —
optionally only some event names. Each event makes one delivery per endpoint
(a unique `_id` from event id, feed and endpoint: consuming the event again adds
nothing). The delivery loop posts due deliveries; every attempt is recorded
(`_id` = delivery#n, a unique insert, so two loops never both make attempt n).
A failed attempt is retried after an exponential delay with jitter; after
`webhook_max_attempts` failures the delivery is dead-lettered and the endpoint
marked `failing`: its new deliveries are `held` until the owner reactivates it.
Pending deliveries live in MongoDB, so a restart loses none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
from datetime import timedelta

from prometheus_client import Counter
from pymongo.errors import DuplicateKeyError

from dinamis_notify.adapters.store import Store, now, short_id
from dinamis_notify.adapters.webhook_http import WebhookClient, resolve
from dinamis_notify.domain.targets import check_addresses, check_url
from dinamis_notify.settings import NotifySettings
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.signing import signed_headers

log = logging.getLogger(__name__)

ATTEMPTS = Counter("dinamis_notify_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
MAX_ENDPOINTS_PER_OWNER = 20


def backoff_delay(attempt: int, base_s: float, cap_s: float, rand: float) -> float:
    """Delay before attempt `attempt + 1`: base·2^(attempt-1), capped, then "equal
    jitter" (between half and all of it) so failing receivers are not hit in step."""
    delay = min(cap_s, base_s * 2 ** (attempt - 1))
    return delay / 2 + rand * delay / 2


def structured_cloudevent(envelope: Envelope) -> bytes:
    """The CloudEvent in structured JSON mode (application/cloudevents+json)."""
    document = {
        "specversion": "1.0",
        "id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "subject": envelope.subject,
        "time": envelope.time.isoformat().replace("+00:00", "Z") if envelope.time else None,
        "datacontenttype": "application/json",
        "data": envelope.event.model_dump(mode="json"),
    }
    return json.dumps({k: v for k, v in document.items() if v is not None}, ensure_ascii=False).encode()


def public_endpoint(doc: dict) -> dict:
    out = {k: v for k, v in doc.items() if k not in ("_id", "secret")}
    return {"id": doc["_id"], **out}


class Webhooks:
    def __init__(self, store: Store, client: WebhookClient, settings: NotifySettings) -> None:
        self.store = store
        self.client = client
        self.settings = settings
        self.wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    # --- registration ----------------------------------------------------------

    async def check_target(self, url: str) -> None:
        allow = self.settings.allow_private_targets
        host, port = check_url(url, allow_private=allow)
        if not allow:
            check_addresses(host, await resolve(host, port), allow_private=False)

    async def register(
        self,
        *,
        owner: str,
        organisation_id: str,
        feed: str,
        url: str,
        event_types: list[str],
        description: str,
    ) -> tuple[dict, str]:
        await self.check_target(url)
        secret = "whsec_" + secrets.token_urlsafe(32)
        doc = {
            "_id": "wh_" + secrets.token_hex(12),
            "owner_user_id": owner,
            "organisation_id": organisation_id,
            "feed": feed,
            "url": url,
            "event_types": sorted(set(event_types)),
            "description": description,
            "status": "active",
            "secret": secret,
            "created_at": now(),
        }
        await self.store.webhooks.insert_one(doc)
        return public_endpoint(doc), secret

    async def reactivate(self, endpoint_id: str) -> None:
        await self.store.webhooks.update_one(
            {"_id": endpoint_id}, {"$set": {"status": "active"}, "$unset": {"failing_since": ""}}
        )
        await self.store.webhook_deliveries.update_many(
            {"endpoint_id": endpoint_id, "status": "held"},
            {"$set": {"status": "pending", "next_attempt_at": now()}},
        )
        self.wake.set()

    # --- enqueue (from the event handler) --------------------------------------

    async def enqueue(self, envelope: Envelope, feed: str, name: str) -> int:
        endpoints = await self.store.webhooks.find({"feed": feed}).to_list(length=None)
        body: str | None = None
        created = 0
        for endpoint in endpoints:
            if endpoint["event_types"] and name not in endpoint["event_types"]:
                continue
            body = body or structured_cloudevent(envelope).decode()
            delivery = {
                "_id": "dl_" + short_id(envelope.id, feed, endpoint["_id"]),
                "endpoint_id": endpoint["_id"],
                "owner_user_id": endpoint["owner_user_id"],
                "event_id": envelope.id,
                "event_type": envelope.type,
                "body": body,
                "status": "held" if endpoint["status"] == "failing" else "pending",
                "attempts": 0,
                "created_at": now(),
                "next_attempt_at": now(),
            }
            with contextlib.suppress(DuplicateKeyError):  # the same event consumed again
                await self.store.webhook_deliveries.insert_one(delivery)
                created += 1
        if created:
            self.wake.set()
        return created

    # --- the delivery loop -------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.aclose()

    async def _run(self) -> None:
        limit = asyncio.Semaphore(self.settings.webhook_concurrency)

        async def bounded(delivery: dict) -> None:
            async with limit:
                await self.attempt(delivery)

        while True:
            due: list = []
            try:
                due = (
                    await self.store.webhook_deliveries.find(
                        {"status": "pending", "next_attempt_at": {"$lte": now()}}
                    )
                    .sort("next_attempt_at", 1)
                    .limit(200)
                    .to_list(length=200)
                )
                await asyncio.gather(*(bounded(d) for d in due))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("webhook loop iteration failed", exc_info=True)
            if not due:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.settings.webhook_poll_s)

    async def _attempt_taken(self, delivery: dict, attempt_id: str, n: int) -> None:
        """Attempt n exists already. If it has been in flight far longer than a request can
        take, its maker died (a stop, a crash): count it as failed and move on; otherwise
        another loop is on it: look again later. Either way the delivery leaves the due list."""
        store, s = self.store, self.settings
        previous = await store.webhook_attempts.find_one({"_id": attempt_id})
        started = previous.get("started_at") if previous else None
        if started is not None and started.tzinfo is None:
            started = started.replace(tzinfo=now().tzinfo)
        stale = previous is None or (
            previous.get("outcome") == "in-flight"
            and (started is None or now() - started > timedelta(seconds=4 * s.webhook_timeout_s + 30))
        )
        if stale:
            await store.webhook_attempts.update_one({"_id": attempt_id}, {"$set": {"outcome": "abandoned"}})
            delay = backoff_delay(n, s.webhook_backoff_base_s, s.webhook_backoff_cap_s, random.random())
            update = {
                "attempts": n,
                "next_attempt_at": now() + timedelta(seconds=delay),
                "last_error": "attempt interrupted",
            }
        else:
            update = {"next_attempt_at": now() + timedelta(seconds=4 * s.webhook_timeout_s + 30)}
        await store.webhook_deliveries.update_one({"_id": delivery["_id"]}, {"$set": update})

    async def attempt(self, delivery: dict) -> None:
        store, s = self.store, self.settings
        endpoint = await store.webhooks.find_one({"_id": delivery["endpoint_id"]})
        if endpoint is None:
            await store.webhook_deliveries.update_one(
                {"_id": delivery["_id"]}, {"$set": {"status": "cancelled"}}
            )
            return
        if endpoint["status"] == "failing":
            await store.webhook_deliveries.update_one({"_id": delivery["_id"]}, {"$set": {"status": "held"}})
            return
        if not entitled(await store.user(delivery["owner_user_id"]), endpoint):
            # The owner left, was deactivated or lost the role the feed needs: stop sending.
            await store.webhook_deliveries.update_one(
                {"_id": delivery["_id"]},
                {"$set": {"status": "cancelled", "last_error": "owner no longer entitled to this feed"}},
            )
            return
        n = delivery["attempts"] + 1
        attempt_id = f"{delivery['_id']}#{n}"
        try:
            await store.webhook_attempts.insert_one(
                {
                    "_id": attempt_id,
                    "delivery_id": delivery["_id"],
                    "endpoint_id": endpoint["_id"],
                    "attempt": n,
                    "started_at": now(),
                    "outcome": "in-flight",
                }
            )
        except DuplicateKeyError:
            await self._attempt_taken(delivery, attempt_id, n)
            return
        body = delivery["body"].encode()
        headers = {
            "Content-Type": "application/cloudevents+json; charset=utf-8",
            "User-Agent": "DINAMIS-notify/1",
            "X-Dinamis-Delivery": delivery["_id"],
            "X-Dinamis-Attempt": str(n),
            **signed_headers(endpoint["secret"], body),
        }
        result = await self.client.post(endpoint["url"], body, headers)
        outcome = "delivered" if result.ok else "failed"
        ATTEMPTS.labels(outcome).inc()
        await store.webhook_attempts.update_one(
            {"_id": attempt_id},
            {
                "$set": {
                    "outcome": outcome,
                    "status_code": result.status,
                    "error": result.error,
                    "duration_ms": result.duration_ms,
                }
            },
        )
        if result.ok:
            await store.webhook_deliveries.update_one(
                {"_id": delivery["_id"]},
                {"$set": {"status": "delivered", "attempts": n, "delivered_at": now(), "last_error": None}},
            )
            return
        if n >= s.webhook_max_attempts:
            await store.webhook_deliveries.update_one(
                {"_id": delivery["_id"]},
                {
                    "$set": {
                        "status": "dead-lettered",
                        "attempts": n,
                        "dead_lettered_at": now(),
                        "last_error": result.error,
                    }
                },
            )
            await store.webhooks.update_one(
                {"_id": endpoint["_id"]}, {"$set": {"status": "failing", "failing_since": now()}}
            )
            log.warning(
                "webhook delivery dead-lettered; endpoint marked failing",
                extra={"endpoint": endpoint["_id"], "delivery": delivery["_id"], "error": result.error},
            )
            return
        delay = backoff_delay(n, s.webhook_backoff_base_s, s.webhook_backoff_cap_s, random.random())
        await store.webhook_deliveries.update_one(
            {"_id": delivery["_id"]},
            {
                "$set": {
                    "attempts": n,
                    "next_attempt_at": now() + timedelta(seconds=delay),
                    "last_error": result.error,
                }
            },
        )


def entitled(owner: dict | None, endpoint: dict) -> bool:
    """May the endpoint's owner still receive its feed? An active user of the endpoint's
    organisation (and, for the operations feed, still an operator or admin)."""
    if (
        owner is None
        or not owner.get("active")
        or owner.get("organisation_id") != endpoint["organisation_id"]
    ):
        return False
    if endpoint["feed"] == "operations":
        return bool({"operator", "admin"} & set(owner.get("roles", [])))
    return endpoint["feed"] == f"org:{owner['organisation_id']}"
