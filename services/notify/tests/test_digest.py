"""The operators' digest round, against the in-memory store (conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dinamis_notify.domain.routing import Kind
from dinamis_notify.service.digest import Digests

T0 = datetime(2026, 7, 1, 8, tzinfo=UTC)


def operator(user_id: str, *, active: bool = True, language: str = "en") -> dict:
    return {
        "_id": user_id,
        "revision": 1,
        "organisation_id": "dinamis",
        "email": f"{user_id}@dinamis.example",
        "display_name": f"Op {user_id}",
        "language": language,
        "roles": ["operator"],
        "active": active,
    }


async def waiting(store, recipient: str, scene: str, minutes: int, status: str = "digest-pending") -> str:
    history_id = f"ce-{scene}|{recipient}|email"
    await store.claim(
        {
            "_id": history_id,
            "recipient": recipient,
            "kind": Kind.INGEST_REJECTION.value,
            "summary": {"scene_id": scene, "reason": "checksum"},
            "status": status,
            "created_at": T0 + timedelta(minutes=minutes),
        }
    )
    return history_id


async def test_one_email_per_recipient_lists_its_waiting_items_then_marks_them_digested(
    store, mailer, notify_settings
):
    await store.upsert_user(operator("op1"))
    await store.upsert_user(operator("op2", language="fr"))
    mine = [await waiting(store, "op1", s, m) for s, m in (("S2", 2), ("S1", 1))]
    theirs = await waiting(store, "op2", "S3", 3)
    already = await waiting(store, "op1", "S0", 0, status="sent")

    assert await Digests(store, mailer, notify_settings).send_due() == 2

    (mail,) = mailer.to("op1@dinamis.example")
    assert mail["Subject"] == "[DINAMIS] 2 operations notification(s)" and mail["X-Dinamis-Kind"] == "digest"
    text = mail.get_body(("plain",)).get_content()
    assert text.index("/operations/livraisons/S1") < text.index("/operations/livraisons/S2")  # oldest first
    assert "S0" not in text  # not waiting
    (theirs_mail,) = mailer.to("op2@dinamis.example")
    assert theirs_mail["Subject"] == "[DINAMIS] 1 notification(s) d'exploitation"
    for history_id in [*mine, theirs]:
        assert store.history[history_id]["status"] == "digested" and store.history[history_id]["sent_at"]
    assert store.history[already]["status"] == "sent"
    assert await Digests(store, mailer, notify_settings).send_due() == 0  # nothing waits any more
    assert len(mailer.sent) == 2


async def test_inactive_or_unknown_recipients_and_refusals(store, mailer, notify_settings):
    await store.upsert_user(operator("gone", active=False))
    await store.upsert_user(operator("bounces"))
    mailer.refuse.add("bounces@dinamis.example")
    gone = await waiting(store, "gone", "S1", 1)
    unknown = await waiting(store, "nobody", "S2", 2)
    refused = await waiting(store, "bounces", "S3", 3)

    assert await Digests(store, mailer, notify_settings).send_due() == 0

    assert mailer.sent == []
    assert store.history[gone]["status"] == store.history[unknown]["status"] == "no-recipient"
    assert store.history[refused]["status"] == "refused"


async def test_a_sent_digest_is_marked_through_a_store_outage_and_not_sent_again(
    store, mailer, notify_settings
):
    from pymongo.errors import AutoReconnect

    await store.upsert_user(operator("op1"))
    item = await waiting(store, "op1", "S1", 1)
    settle_all, failures = store.settle_all, []

    async def flaky(ids, status, **fields):
        if not failures:
            failures.append(status)
            raise AutoReconnect("ferretdb restarting")
        await settle_all(ids, status, **fields)

    store.settle_all = flaky
    assert await Digests(store, mailer, notify_settings).send_due() == 1
    assert await Digests(store, mailer, notify_settings).send_due() == 0
    assert failures == ["digested"] and len(mailer.sent) == 1
    assert store.history[item]["status"] == "digested"
