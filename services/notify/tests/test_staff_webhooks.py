"""The staff list of failing webhooks (`GET /v1/staff/webhooks/failing`): every
organisation's failing endpoints, newest failure first, with their last error and held
deliveries, never a secret. Against the in-memory store (conftest.py); who may call the
route (operators and admins, from orders' records) is checked on the real stack
(tests/integration/test_notify.py)."""

from __future__ import annotations

from dinamis_notify.adapters.store import now
from dinamis_notify.service.webhooks import Webhooks
from dinamis_shared.cloudevents import Envelope
from dinamis_testkit.examples import example_events


def member(user_id: str, org: str) -> dict:
    return {
        "_id": user_id,
        "revision": 1,
        "organisation_id": org,
        "email": f"{user_id}@{org}.example",
        "roles": ["member"],
        "active": True,
    }


def envelope(event_id: str) -> Envelope:
    event = example_events()[0]
    return Envelope(event, event_id, "/dinamis/tests", event.ce_type(), now(), None, None)


async def test_failing_endpoints_of_every_organisation_without_secrets(store, receiver, notify_settings):
    hooks = Webhooks(store, receiver, notify_settings)
    endpoints = {}
    for user, org in (("u1", "o1"), ("u2", "o2"), ("u3", "o3")):
        await store.upsert_user(member(user, org))
        endpoint, _ = await hooks.register(
            owner=user,
            organisation_id=org,
            feed=f"org:{org}",
            url=f"http://127.0.0.1:18999/{user}",
            event_types=[],
            description="",
        )
        endpoints[user] = endpoint["id"]
    assert await hooks.failing(10) == []

    receiver.status = 500
    for org in ("o1", "o2"):  # u3's endpoint never fails: o3 gets no event
        await hooks.enqueue(envelope(f"ce-{org}"), f"org:{org}", "product-ready")
    for _ in range(notify_settings.webhook_max_attempts):
        for delivery in store.deliveries.values():
            delivery["next_attempt_at"] = now()
        await hooks.deliver_due()
    await hooks.enqueue(envelope("ce-o1-2"), "org:o1", "product-ready")  # held while failing

    failing = await hooks.failing(10)
    assert {f["id"] for f in failing} == {endpoints["u1"], endpoints["u2"]}
    assert failing[0]["failing_since"] >= failing[1]["failing_since"], "newest failure first"
    by_id = {f["id"]: f for f in failing}
    assert by_id[endpoints["u1"]]["held_deliveries"] == 1 and by_id[endpoints["u2"]]["held_deliveries"] == 0
    assert all(f["last_error"] == "HTTP 500" and f["status"] == "failing" for f in failing)
    assert {f["organisation_id"] for f in failing} == {"o1", "o2"}
    assert all("secret" not in f and "_id" not in f for f in failing)
    assert len(await hooks.failing(1)) == 1
