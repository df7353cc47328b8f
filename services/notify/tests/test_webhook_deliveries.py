"""Webhook use cases (registration, enqueue, attempts, retries, dead letters), against
the in-memory store and a recording receiver (conftest.py): no server."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest

from dinamis_notify.adapters.store import now
from dinamis_notify.service.webhooks import (
    MAX_ENDPOINTS_PER_OWNER,
    TEST_EVENT_TYPE,
    TooManyWebhooks,
    UnknownWebhook,
    Webhooks,
    WebhookTestPending,
)
from dinamis_shared.auth import Forbidden
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.signing import verify
from dinamis_testkit.examples import example_events

FEED = "org:o1"
URL = "http://127.0.0.1:18999/hook"


def member(user_id: str = "u1", **changes) -> dict:
    return {
        "_id": user_id,
        "revision": 1,
        "organisation_id": "o1",
        "email": f"{user_id}@o1.example",
        "roles": ["member"],
        "active": True,
        **changes,
    }


def envelope(event_id: str = "ce-1") -> Envelope:
    event = example_events()[0]
    return Envelope(event, event_id, "/dinamis/tests", event.ce_type(), now(), None, None)


@pytest.fixture
async def hooks(store, receiver, notify_settings) -> Webhooks:
    await store.upsert_user(member())
    return Webhooks(store, receiver, notify_settings)


async def register(hooks: Webhooks, owner: str = "u1", event_types: list[str] | None = None) -> dict:
    endpoint, secret = await hooks.register(
        owner=owner,
        organisation_id="o1",
        feed=FEED,
        url=URL,
        event_types=event_types or [],
        description="",
    )
    assert secret.startswith("whsec_") and "secret" not in endpoint
    return endpoint


async def test_registration_rules(hooks, store):
    endpoint = await register(hooks)
    assert store.webhooks[endpoint["id"]]["status"] == "active"
    with pytest.raises(Forbidden):  # not in the directory
        await register(hooks, owner="stranger")
    await store.upsert_user(member("u2", revision=2, active=False))
    with pytest.raises(Forbidden):  # deactivated
        await register(hooks, owner="u2")
    for _ in range(MAX_ENDPOINTS_PER_OWNER - 1):
        await register(hooks)
    with pytest.raises(TooManyWebhooks):
        await register(hooks)
    with pytest.raises(UnknownWebhook):  # someone else's endpoint is not found
        await hooks.owned("u2", endpoint["id"])


async def test_an_event_is_queued_once_per_matching_endpoint_and_delivered_signed(hooks, store, receiver):
    every = await register(hooks)
    await register(hooks, event_types=["product-failed"])  # not this event
    assert await hooks.enqueue(envelope(), FEED, "product-ready") == 1
    assert await hooks.enqueue(envelope(), FEED, "product-ready") == 0  # consumed again: nothing more
    assert await hooks.enqueue(envelope("ce-2"), "org:o2", "product-ready") == 0  # another feed

    assert await hooks.deliver_due() == 1

    ((url, body, headers),) = receiver.posts
    secret = store.webhooks[every["id"]]["secret"]
    assert url == URL and headers["X-Dinamis-Attempt"] == "1"
    assert verify(secret, headers["X-Dinamis-Timestamp"], headers["X-Dinamis-Signature"], body)
    (delivery,) = await hooks.deliveries("u1", every["id"], None, 10)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert [a["outcome"] for a in delivery["attempt_log"]] == ["delivered"]
    assert await hooks.deliver_due() == 0


async def test_failures_are_retried_later_then_dead_lettered_and_the_endpoint_held(
    hooks, store, receiver, notify_settings
):
    endpoint = await register(hooks)
    receiver.status = 500
    await hooks.enqueue(envelope(), FEED, "product-ready")
    (delivery_id,) = store.deliveries
    for attempt in range(1, notify_settings.webhook_max_attempts + 1):
        assert await hooks.deliver_due() == 1
        delivery = store.deliveries[delivery_id]
        assert delivery["attempts"] == attempt and delivery["last_error"] == "HTTP 500"
        if attempt < notify_settings.webhook_max_attempts:
            # Retried after base * 2^(attempt-1), half of it at least (equal jitter).
            wait = delivery["next_attempt_at"] - now()
            base = notify_settings.webhook_backoff_base_s * 2 ** (attempt - 1)
            assert timedelta(seconds=base / 2 - 1) < wait <= timedelta(seconds=base)
            assert await hooks.deliver_due() == 0  # not due yet
            delivery["next_attempt_at"] = now()
    assert store.deliveries[delivery_id]["status"] == "dead-lettered"
    assert store.webhooks[endpoint["id"]]["status"] == "failing"
    assert len(receiver.posts) == notify_settings.webhook_max_attempts

    # New events for a failing endpoint are held until its owner reactivates it.
    await hooks.enqueue(envelope("ce-2"), FEED, "product-ready")
    (held,) = [d for d in store.deliveries.values() if d["event_id"] == "ce-2"]
    assert held["status"] == "held" and await hooks.deliver_due() == 0
    receiver.status = 204
    assert (await hooks.reactivate("u1", endpoint["id"]))["status"] == "active"
    assert await hooks.deliver_due() == 1
    assert store.deliveries[held["_id"]]["status"] == "delivered"


async def test_owner_no_longer_entitled_or_endpoint_removed_cancels(hooks, store, receiver):
    endpoint = await register(hooks)
    await hooks.enqueue(envelope(), FEED, "product-ready")
    await store.upsert_user(member(revision=2, organisation_id="o9"))  # moved to another organisation
    assert await hooks.deliver_due() == 1
    (delivery,) = store.deliveries.values()
    assert delivery["status"] == "cancelled" and receiver.posts == []

    await store.upsert_user(member(revision=3))
    await hooks.enqueue(envelope("ce-2"), FEED, "product-ready")
    await hooks.remove("u1", endpoint["id"])
    assert endpoint["id"] not in store.webhooks
    assert {d["status"] for d in store.deliveries.values()} == {"cancelled"}


async def test_an_attempt_already_made_is_not_made_twice(hooks, store, receiver, notify_settings):
    await register(hooks)
    await hooks.enqueue(envelope(), FEED, "product-ready")
    (delivery,) = store.deliveries.values()
    # Another loop is making attempt 1 right now: leave it, look again later.
    await store.add_attempt({"_id": f"{delivery['_id']}#1", "outcome": "in-flight", "started_at": now()})
    assert await hooks.deliver_due() == 1
    assert receiver.posts == [] and store.deliveries[delivery["_id"]]["attempts"] == 0
    assert store.deliveries[delivery["_id"]]["next_attempt_at"] > now() + timedelta(seconds=30)
    # Its maker died long ago: attempt 1 counts as failed, attempt 2 comes next.
    long_ago = now() - timedelta(seconds=4 * notify_settings.webhook_timeout_s + 31)
    store.attempts[f"{delivery['_id']}#1"]["started_at"] = long_ago
    store.deliveries[delivery["_id"]]["next_attempt_at"] = now()
    assert await hooks.deliver_due() == 1
    assert store.attempts[f"{delivery['_id']}#1"]["outcome"] == "abandoned"
    assert store.deliveries[delivery["_id"]]["attempts"] == 1
    assert store.deliveries[delivery["_id"]]["last_error"] == "attempt interrupted"


async def test_an_idle_delivery_pass_waits_until_a_delivery_is_queued(hooks, notify_settings):
    notify_settings.webhook_poll_s = 5.0
    await register(hooks)
    started = time.monotonic()
    idle = asyncio.ensure_future(hooks.delivery_pass())
    await asyncio.sleep(0.05)
    assert not idle.done()  # nothing due: waiting
    await hooks.enqueue(envelope(), FEED, "product-ready")  # wakes it
    assert await asyncio.wait_for(idle, 1) == 0
    assert await hooks.delivery_pass() == 1 and time.monotonic() - started < 2


@pytest.mark.parametrize("status", ["suspended", "expired", "pending", "refused"])
async def test_no_webhook_for_an_organisation_no_longer_active(hooks, store, receiver, status):
    """Security review: `entitled()` checked only the user. An organisation suspended (or
    expired...) according to `organisation-changed` gets nothing more, though its user
    is still active; reinstated, it gets the new events again."""
    await store.remember_organisation("o1", 1, "active")
    endpoint = await register(hooks)
    await hooks.enqueue(envelope(), FEED, "product-ready")
    await store.remember_organisation("o1", 2, status)
    assert await hooks.deliver_due() == 1
    (delivery,) = store.deliveries.values()
    assert delivery["status"] == "cancelled" and receiver.posts == []
    with pytest.raises(Forbidden):  # nor may its users register new endpoints
        await register(hooks)

    await store.remember_organisation("o1", 3, "active")
    await hooks.enqueue(envelope("ce-2"), FEED, "product-ready")
    assert await hooks.deliver_due() == 1
    assert len(receiver.posts) == 1 and store.webhooks[endpoint["id"]]["status"] == "active"


async def test_a_test_event_is_a_signed_delivery_in_the_log_one_at_a_time(hooks, store, receiver):
    """Issue 14 (portal: "send a test event"): the owner queues a test CloudEvent; it is
    delivered signed like any event, shows in the delivery log marked `test`; a second
    test waits for the first; someone else's endpoint is not found; an owner no longer
    entitled is refused."""
    endpoint = await register(hooks)
    queued = await hooks.send_test("u1", endpoint["id"])
    assert (
        queued["test"] is True and queued["status"] == "pending" and queued["event_type"] == TEST_EVENT_TYPE
    )
    assert "body" not in queued
    with pytest.raises(WebhookTestPending):
        await hooks.send_test("u1", endpoint["id"])
    assert await hooks.deliver_due() == 1
    ((url, body, headers),) = receiver.posts
    secret = store.webhooks[endpoint["id"]]["secret"]
    assert url == URL and verify(secret, headers["X-Dinamis-Timestamp"], headers["X-Dinamis-Signature"], body)
    event = json.loads(body)
    assert event["type"] == TEST_EVENT_TYPE and event["data"]["endpoint_id"] == endpoint["id"]
    assert event["specversion"] == "1.0" and event["id"] == queued["event_id"]
    (logged,) = await hooks.deliveries("u1", endpoint["id"], None, 10)
    assert logged["id"] == queued["id"] and logged["status"] == "delivered" and logged["test"] is True
    second = await hooks.send_test("u1", endpoint["id"])  # the first one was delivered
    assert second["id"] != queued["id"]

    await store.upsert_user(member("u2", revision=1))
    with pytest.raises(UnknownWebhook):
        await hooks.send_test("u2", endpoint["id"])
    await store.upsert_user(member(revision=5, active=False))
    with pytest.raises(Forbidden):
        await hooks.send_test("u1", endpoint["id"])
