"""Webhooks: endpoints registered on a feed, signed deliveries, retries, dead letters.

An endpoint belongs to the user who registered it and receives the events of one
feed — its organisation's (`org:<id>`), or, for operators, `operations` —
optionally only some event names. Each event makes one delivery per endpoint
(a unique `_id` from event id, feed and endpoint: consuming the event again adds
nothing). The delivery loop posts due deliveries; every attempt is recorded
(`_id` = delivery#n, a unique insert, so two loops never both make attempt n).
A failed attempt is retried after an exponential delay with jitter (the schedule
receivers are told of, docs/api.md: about 5 s, 10 s, 20 s...); after
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

from dinamis_notify.adapters.store import now, short_id
from dinamis_notify.adapters.webhook_http import resolve
from dinamis_notify.domain.targets import check_addresses, check_url
from dinamis_notify.service.ports import WebhookPoster, WebhookStore
from dinamis_notify.settings import NotifySettings
from dinamis_shared.auth import Forbidden
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import OrganisationStatus
from dinamis_shared.retry import exponential_delay
from dinamis_shared.signing import signed_headers

log = logging.getLogger(__name__)

ATTEMPTS = Counter("dinamis_notify_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
MAX_ENDPOINTS_PER_OWNER = 20
DUE_BATCH = 200


class UnknownWebhook(DinamisError):
    code = "not-found"
    http_status = 404
    message_fr = "Introuvable."


class WebhookTestPending(DinamisError):
    code = "test-event-pending"
    http_status = 409
    message_fr = "Un événement de test attend encore d'être livré à ce webhook."


TEST_EVENT_TYPE = "fr.dinamis.notify.webhook-test.v1"


class TooManyWebhooks(DinamisError):
    code = "too-many-webhooks"
    http_status = 409
    message_fr = f"Pas plus de {MAX_ENDPOINTS_PER_OWNER} webhooks par utilisateur."


def backoff_delay(attempt: int, base_s: float, cap_s: float, rand: float) -> float:
    """Delay before attempt `attempt + 1`: base·2^(attempt-1), capped, then "equal
    jitter" (between half and all of it) so failing receivers are not hit in step."""
    return exponential_delay(attempt - 1, base_s, cap_s, jitter="equal", rand=rand)


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
    def __init__(self, store: WebhookStore, client: WebhookPoster, settings: NotifySettings) -> None:
        self.store = store
        self.client = client
        self.settings = settings
        self.wake = asyncio.Event()
        self._limit = asyncio.Semaphore(settings.webhook_concurrency)

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
        """Register an endpoint of `owner` on `feed`; return it (public view) and its
        signing secret. At most MAX_ENDPOINTS_PER_OWNER per owner; the owner must be an
        active user of the directory entitled to the feed; the URL must be a permitted target."""
        if await self.store.count_webhooks_of(owner) >= MAX_ENDPOINTS_PER_OWNER:
            raise TooManyWebhooks(f"at most {MAX_ENDPOINTS_PER_OWNER} webhooks per user")
        endpoint = {"organisation_id": organisation_id, "feed": feed}
        if not entitled(
            await self.store.user(owner), endpoint, await self.store.organisation(organisation_id)
        ):
            raise Forbidden(
                "webhooks are for active users known to the platform (their account, from orders)",
                message_fr="Webhooks réservés aux utilisateurs actifs connus de la plateforme.",
            )
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
        await self.store.add_webhook(doc)
        return public_endpoint(doc), secret

    async def owned(self, owner: str, endpoint_id: str) -> dict:
        """The owner's endpoint (full document), or UnknownWebhook (also for another's)."""
        doc = await self.store.webhook(endpoint_id[:100])
        if doc is None or doc["owner_user_id"] != owner:
            raise UnknownWebhook(
                f"no webhook {endpoint_id[:100]!r} of yours", message_fr="Webhook introuvable."
            )
        return doc

    async def endpoints_of(self, owner: str) -> list[dict]:
        return [public_endpoint(d) for d in await self.store.webhooks_of(owner)]

    async def remove(self, owner: str, endpoint_id: str) -> None:
        """Remove the owner's endpoint; its pending and held deliveries are cancelled."""
        doc = await self.owned(owner, endpoint_id)
        await self.store.remove_webhook(doc["_id"])

    async def reactivate(self, owner: str, endpoint_id: str) -> dict:
        """Mark the owner's endpoint active again; its held deliveries are retried now."""
        doc = await self.owned(owner, endpoint_id)
        await self.store.reactivate_webhook(doc["_id"])
        self.wake.set()
        return public_endpoint(await self.owned(owner, endpoint_id))

    async def deliveries(self, owner: str, endpoint_id: str, status: str | None, limit: int) -> list[dict]:
        """The owner's endpoint's latest deliveries, each with its attempts in order."""
        doc = await self.owned(owner, endpoint_id)
        deliveries = await self.store.deliveries_of(doc["_id"], status, limit)
        attempts = await self.store.attempts_of([d["_id"] for d in deliveries])
        by_delivery: dict[str, list] = {}
        for a in sorted(attempts, key=lambda a: a["attempt"]):
            by_delivery.setdefault(a["delivery_id"], []).append(
                {k: v for k, v in a.items() if k not in ("_id", "delivery_id", "endpoint_id")}
            )
        out = []
        for d in deliveries:
            delivery_id = d.pop("_id")
            out.append({"id": delivery_id, **d, "attempt_log": by_delivery.get(delivery_id, [])})
        return out

    async def failing(self, limit: int) -> list[dict]:
        """For staff: every organisation's failing endpoints (secrets never shown), each
        with its latest dead-lettered delivery's error and how many deliveries it holds."""
        out = []
        for doc in await self.store.failing_webhooks(limit):
            dead = await self.store.deliveries_of(doc["_id"], "dead-lettered", 1)
            held = await self.store.deliveries_of(doc["_id"], "held", 200)
            last = dead[0] if dead else {}
            out.append(
                {
                    **public_endpoint(doc),
                    "last_error": last.get("last_error"),
                    "held_deliveries": len(held),
                }
            )
        return out

    async def send_test(self, owner: str, endpoint_id: str) -> dict:
        """Queue a test event (CloudEvent type `TEST_EVENT_TYPE`) to the owner's endpoint:
        one delivery like any other — signed, retried, in the delivery log (`test: true`).
        The owner must still be entitled to the feed; one test at a time per endpoint."""
        doc = await self.owned(owner, endpoint_id)
        if not entitled(
            await self.store.user(owner), doc, await self.store.organisation(doc["organisation_id"])
        ):
            raise Forbidden(
                "the owner is no longer entitled to this webhook's feed",
                message_fr="Vous n'avez plus accès au flux de ce webhook.",
            )
        for status in ("pending", "held"):
            if any(d.get("test") for d in await self.store.deliveries_of(doc["_id"], status, 50)):
                raise WebhookTestPending("a test event is still waiting to be delivered to this webhook")
        at = now()
        event_id = "test-" + secrets.token_hex(12)
        body = json.dumps(
            {
                "specversion": "1.0",
                "id": event_id,
                "source": "/dinamis/notify",
                "type": TEST_EVENT_TYPE,
                "time": at.isoformat().replace("+00:00", "Z"),
                "datacontenttype": "application/json",
                "data": {
                    "test": True,
                    "endpoint_id": doc["_id"],
                    "message": "Événement de test DINAMIS / DINAMIS test event",
                },
            },
            ensure_ascii=False,
        )
        delivery = {
            "_id": "dl_" + short_id(event_id, doc["feed"], doc["_id"]),
            "endpoint_id": doc["_id"],
            "owner_user_id": owner,
            "event_id": event_id,
            "event_type": TEST_EVENT_TYPE,
            "test": True,
            "body": body,
            "status": "held" if doc["status"] == "failing" else "pending",
            "attempts": 0,
            "created_at": at,
            "next_attempt_at": at,
        }
        await self.store.add_delivery(delivery)
        self.wake.set()
        return {"id": delivery["_id"], **{k: v for k, v in delivery.items() if k not in ("_id", "body")}}

    # --- enqueue (from the event handler) --------------------------------------

    async def enqueue(self, envelope: Envelope, feed: str, name: str) -> int:
        endpoints = await self.store.webhooks_on(feed)
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
            if await self.store.add_delivery(delivery):  # False: the same event consumed again
                created += 1
        if created:
            self.wake.set()
        return created

    # --- delivering ----------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Attempt the due deliveries (at most DUE_BATCH, `webhook_concurrency` at once);
        return how many were due."""
        due = await self.store.due_deliveries(DUE_BATCH)

        async def bounded(delivery: dict) -> None:
            async with self._limit:
                await self.attempt(delivery)

        await asyncio.gather(*(bounded(d) for d in due))
        return len(due)

    async def delivery_pass(self) -> int:
        """One pass of the delivery loop (`periodic.every` runs them back to back):
        deliver what is due; when nothing was (or the pass failed), wait until a delivery
        is queued or `webhook_poll_s` has passed."""
        due = 0
        try:
            due = await self.deliver_due()
        finally:
            if not due:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.settings.webhook_poll_s)
        return due

    def _retry_at(self, attempt: int) -> dict:
        s = self.settings
        delay = backoff_delay(attempt, s.webhook_backoff_base_s, s.webhook_backoff_cap_s, random.random())
        return {"attempts": attempt, "next_attempt_at": now() + timedelta(seconds=delay)}

    async def _attempt_taken(self, delivery: dict, attempt_id: str, n: int) -> None:
        """Attempt n exists already. If it has been in flight far longer than a request can
        take, its maker died (a stop, a crash): count it as failed and move on; otherwise
        another loop is on it: look again later. Either way the delivery leaves the due list."""
        store, s = self.store, self.settings
        previous = await store.attempt(attempt_id)
        started = previous.get("started_at") if previous else None
        if started is not None and started.tzinfo is None:
            started = started.replace(tzinfo=now().tzinfo)
        stale = previous is None or (
            previous.get("outcome") == "in-flight"
            and (started is None or now() - started > timedelta(seconds=4 * s.webhook_timeout_s + 30))
        )
        if stale:
            await store.update_attempt(attempt_id, outcome="abandoned")
            await store.update_delivery(
                delivery["_id"], **self._retry_at(n), last_error="attempt interrupted"
            )
        else:
            await store.update_delivery(
                delivery["_id"], next_attempt_at=now() + timedelta(seconds=4 * s.webhook_timeout_s + 30)
            )

    async def attempt(self, delivery: dict) -> None:
        store, s = self.store, self.settings
        endpoint = await store.webhook(delivery["endpoint_id"])
        if endpoint is None:
            await store.update_delivery(delivery["_id"], status="cancelled")
            return
        if endpoint["status"] == "failing":
            await store.update_delivery(delivery["_id"], status="held")
            return
        owner = await store.user(delivery["owner_user_id"])
        if not entitled(owner, endpoint, await store.organisation(endpoint["organisation_id"])):
            # The owner left, was deactivated or lost the role the feed needs, or the
            # organisation is suspended, expired...: stop sending.
            await store.update_delivery(
                delivery["_id"], status="cancelled", last_error="owner no longer entitled to this feed"
            )
            return
        n = delivery["attempts"] + 1
        attempt_id = f"{delivery['_id']}#{n}"
        made = await store.add_attempt(
            {
                "_id": attempt_id,
                "delivery_id": delivery["_id"],
                "endpoint_id": endpoint["_id"],
                "attempt": n,
                "started_at": now(),
                "outcome": "in-flight",
            }
        )
        if not made:
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
        await store.update_attempt(
            attempt_id,
            outcome=outcome,
            status_code=result.status,
            error=result.error,
            duration_ms=result.duration_ms,
        )
        if result.ok:
            await store.update_delivery(
                delivery["_id"], status="delivered", attempts=n, delivered_at=now(), last_error=None
            )
            return
        if n >= s.webhook_max_attempts:
            await store.update_delivery(
                delivery["_id"],
                status="dead-lettered",
                attempts=n,
                dead_lettered_at=now(),
                last_error=result.error,
            )
            await store.mark_webhook_failing(endpoint["_id"])
            log.warning(
                "webhook delivery dead-lettered; endpoint marked failing",
                extra={"endpoint": endpoint["_id"], "delivery": delivery["_id"], "error": result.error},
            )
            return
        await store.update_delivery(delivery["_id"], **self._retry_at(n), last_error=result.error)


def entitled(owner: dict | None, endpoint: dict, organisation: dict | None = None) -> bool:
    """May the endpoint's owner still receive its feed? An active user of the endpoint's
    organisation (and, for the operations feed, still an operator or admin), while that
    organisation is active: once `organisation-changed` says it is suspended, expired,
    pending or refused, nothing more is sent. `organisation` is notify's record of it
    (from those events); None when notify has not heard of it yet."""
    if (
        owner is None
        or not owner.get("active")
        or owner.get("organisation_id") != endpoint["organisation_id"]
    ):
        return False
    if organisation is not None and organisation.get("status") != OrganisationStatus.ACTIVE.value:
        return False
    if endpoint["feed"] == "operations":
        return bool({"operator", "admin"} & set(owner.get("roles", [])))
    return endpoint["feed"] == f"org:{owner['organisation_id']}"
