"""The use case behind every subscription (`Notifier.handle`), against the in-memory
store, a recording mail server and a recording webhook receiver (conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dinamis_notify.domain.routing import Kind, org_feed
from dinamis_notify.service.live import Hub
from dinamis_notify.service.notifier import Notifier
from dinamis_notify.service.webhooks import Webhooks
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.events import Event, ProductFailedV1, ProductReadyV1, UserChangedV1
from dinamis_testkit.examples import example_events

EXAMPLES = {type(e): e for e in example_events()}
NOW = datetime(2026, 7, 1, tzinfo=UTC)


def example(model: type[Event], **changes) -> Event:
    return model.model_validate({**EXAMPLES[model].model_dump(mode="json"), **changes})


def envelope(event: Event, event_id: str) -> Envelope:
    return Envelope(event, event_id, "/dinamis/tests", event.ce_type(), NOW, None, None)


def user_changed(user_id: str, revision: int = 1, **changes) -> Envelope:
    event = UserChangedV1(
        user_id=user_id,
        revision=revision,
        organisation_id=changes.pop("organisation_id", "o1"),
        email=f"{user_id}@o1.example",
        display_name=f"Test {user_id}",
        language=changes.pop("language", "fr"),
        roles=changes.pop("roles", ["member"]),
        active=changes.pop("active", True),
        changed_by="tests",
        changed_at=NOW,
    )
    return envelope(event, f"ce-user-{user_id}-{revision}")


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def notifier(store, mailer, hub, receiver, notify_settings) -> Notifier:
    return Notifier(store, mailer, hub, Webhooks(store, receiver, notify_settings), notify_settings)


async def test_the_directory_keeps_the_highest_revision_and_ends_the_streams_of_a_changed_user(
    notifier, store, hub
):
    stream = hub.connect(frozenset({org_feed("o1")}), "u1")
    await notifier.handle(user_changed("u1", revision=2))
    assert stream.dropped and store.users["u1"]["revision"] == 2
    again = hub.connect(frozenset({org_feed("o1")}), "u1")
    await notifier.handle(user_changed("u1", revision=1, active=False))  # older: ignored
    assert store.users["u1"]["active"] and not again.dropped


async def test_an_event_is_mailed_once_in_the_recipients_language_and_shown_on_its_feeds(
    notifier, store, mailer, hub, receiver
):
    await notifier.handle(user_changed("u1", language="en"))
    live = hub.connect(frozenset({org_feed("o1")}), "u1")
    await store.add_webhook(
        {
            "_id": "wh_1",
            "owner_user_id": "u1",
            "organisation_id": "o1",
            "feed": org_feed("o1"),
            "url": "http://127.0.0.1:1/hook",
            "event_types": [],
            "status": "active",
            "secret": "whsec_x",
        }
    )
    ready = envelope(example(ProductReadyV1, organisation_id="o1", user_id="u1"), "ce-ready")

    await notifier.handle(ready)
    await notifier.handle(ready)  # the same event consumed again

    (mail,) = mailer.sent
    assert mail["Subject"].startswith("Your product") and mail["X-Dinamis-Event-Id"] == "ce-ready"
    history = store.history["ce-ready|u1|email"]
    assert history["status"] == "sent" and history["kind"] == Kind.PRODUCT_READY.value
    (entry,) = [e for e in store.stream if e["feed"] == org_feed("o1")]
    assert entry["ce_id"] == "ce-ready" and entry["name"] == "product-ready"
    # Offered live each time, under the one stored sequence number (the stream skips repeats).
    assert {live.queue.get_nowait()["_id"] for _ in range(live.queue.qsize())} == {entry["_id"]}
    (delivery,) = store.deliveries.values()
    assert delivery["endpoint_id"] == "wh_1" and delivery["event_id"] == "ce-ready"


async def test_preferences_decide_the_channel(notifier, store, mailer):
    await notifier.handle(user_changed("u1"))
    await notifier.handle(user_changed("op", organisation_id="dinamis", roles=["operator"]))
    await store.save_preferences("u1", {"email": {"product-failed": False}})
    await store.save_preferences("op", {"digest": True})
    failed = envelope(example(ProductFailedV1, organisation_id="o1", user_id="u1"), "ce-failed")

    await notifier.handle(failed)

    assert mailer.sent == []
    assert store.history["ce-failed|u1|email"]["status"] == "off"
    assert store.history["ce-failed|op|email"]["status"] == "digest-pending"


async def test_a_refused_address_is_recorded_and_not_retried(notifier, store, mailer):
    await notifier.handle(user_changed("u1"))
    mailer.refuse.add("u1@o1.example")
    ready = envelope(example(ProductReadyV1, organisation_id="o1", user_id="u1"), "ce-ready")
    await notifier.handle(ready)
    mailer.refuse.clear()
    await notifier.handle(ready)
    assert mailer.sent == [] and store.history["ce-ready|u1|email"]["status"] == "refused"


async def test_an_unknown_recipient_gets_nothing(notifier, store, mailer):
    await notifier.handle(envelope(example(ProductReadyV1, user_id="nobody"), "ce-x"))
    assert mailer.sent == [] and store.history == {}


class FlakySettle:
    """The store answering nothing to the first `n` settles (a restarting FerretDB, or the
    PostgreSQL behind it: an outage, then a server-side error)."""

    def __init__(self, store, n: int) -> None:
        self.store, self.left, self.failed = store, n, 0
        self.settle_for_real = store.settle

    async def settle(self, history_id, status, **fields):
        if self.left:
            self.left -= 1
            self.failed += 1
            from pymongo.errors import AutoReconnect, OperationFailure

            raise AutoReconnect("restarting") if self.failed == 1 else OperationFailure("backend down")
        await self.settle_for_real(history_id, status, **fields)


async def test_an_accepted_e_mail_is_recorded_sent_through_a_store_outage_and_never_sent_again(
    notifier, store, mailer, monkeypatch
):
    await notifier.handle(user_changed("u1"))
    flaky = FlakySettle(store, 2)
    monkeypatch.setattr(store, "settle", flaky.settle)
    ready = envelope(example(ProductReadyV1, organisation_id="o1", user_id="u1"), "ce-ready")

    await notifier.handle(ready)  # the mark is retried in place: nothing propagates
    await notifier.handle(ready)  # consumed again (a restart): nothing more is sent

    assert flaky.failed == 2
    assert len(mailer.sent) == 1 and store.history["ce-ready|u1|email"]["status"] == "sent"
