"""The campaign's invariants on the real stack: a tiny campaign seeded for real (one scene
through `dinamis-ingest` and `dinamis-catalog`, one deliberately malformed
`scene-acquired` that ingest dead-letters, one corrupt delivery ingest rejects), plus one
product order's traces written where the services keep them (delivery's record and
object, the order's state, its `product-ready`, notify's history and the e-mail through
the SMTP sink, a quota ledger) — every check passes; then one thing at a time is broken
for real (a second copy of the product object in S3, an extra record on a dead-letter
topic, a second e-mail, a second archived version, a consumer group left behind) and
exactly the right checks fail."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import smtplib
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from minio.commonconfig import CopySource

from dinamis_campaign.invariants import check, default_mailbox, start_offsets, summary
from dinamis_campaign.record import CampaignRecord, DeliveredScene, Fate, PlacedOrder, PlacedRequest
from dinamis_shared import clients
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import ProductReadyV1, SceneAcquiredV1, SceneRejectedV1
from dinamis_sim.simulator import SimulatedScene, announce, stage_package, write_package
from dinamis_testkit.testing import running_services
from dinamis_testkit.watch import EventWatcher
from tests.integration.scenes import ingest_scene
from tests.ports import free_ports

INGEST_PORT, CATALOG_PORT = free_ports(2)
CATALOG_API = f"http://127.0.0.1:{CATALOG_PORT}"
ACQ = SceneAcquiredV1.topic()


# What this module writes into the services' own collections, by collection: removed at
# the end, so no later test meets these partial records (orders' periodic passes would
# fail validating a seeded request and log a traceback).
SEEDED: dict[str, list[str]] = {}


def seeded(collection: str, doc_id: str) -> str:
    SEEDED.setdefault(collection, []).append(doc_id)
    return doc_id


@pytest.fixture(scope="module", autouse=True)
def remove_seeded_records(settings):
    yield

    async def remove() -> None:
        mongo = clients.mongo_client(settings)
        try:
            db = mongo[settings.mongo_database]
            for collection, ids in SEEDED.items():
                await db[collection].delete_many({"_id": {"$in": ids}})
        finally:
            await mongo.close()

    asyncio.run(remove())


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    env = {"DINAMIS_CATALOG_PUBLIC_URL": CATALOG_API}
    with running_services(
        [("ingest", INGEST_PORT), ("catalog", CATALOG_PORT)], tmp_path_factory.mktemp("svc"), env=env
    ) as procs:
        yield procs


async def raw_publish(settings, topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", **settings.kafka_auth()
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value, key=key, headers=[(k, v.encode()) for k, v in headers.items()]
        )
    finally:
        await producer.stop()


async def corrupt_delivery(settings, tmp: Path) -> tuple[str, str]:
    """A package whose announced checksum is wrong: ingest rejects it (and dead-letters its
    scene-acquired). Its scene id and event id."""
    s3 = clients.s3_client(settings)
    scene = SimulatedScene(
        mission="PNEO4",
        lon=2.35,
        lat=48.85,
        acquired_at=datetime(2026, 5, 2, 10, tzinfo=UTC),
        size=64,
        extent_m=2000,
        job_id=str(uuid.uuid4().int)[:10],
    )
    checksums = write_package(scene, tmp / "bad")
    prefix = f"airbus/{scene.scene_id}/"
    sizes = stage_package(s3, tmp / "bad", "staging", prefix)
    wrong = {path: "0" * 64 for path in checksums}
    event = announce(scene, prefix, wrong, sizes)
    broker = make_broker(settings)
    await broker.connect()
    try:
        async with EventWatcher(settings.kafka_bootstrap_servers, [SceneRejectedV1.topic()]) as watcher:
            sent = await EventPublisher(broker, "/tests").publish(event)
            await watcher.wait(lambda: watcher.events(SceneRejectedV1, scene.scene_id), 120)
    finally:
        await broker.stop()
    return scene.scene_id, sent.headers["ce_id"]


def send_mail(settings, to: str, event_id: str) -> None:
    msg = EmailMessage()
    msg["From"] = "DINAMIS <noreply@dinamis.test>"
    msg["To"] = to
    msg["Subject"] = "Votre produit est prêt"
    msg["X-Dinamis-Event-Id"] = event_id
    msg["X-Dinamis-Kind"] = "product-ready"
    msg.set_content("prêt")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg)


async def seed_product(
    settings, record: CampaignRecord, org: str, user: str, collection: str, item: str
) -> str:
    """One product order of `user`, as orders, delivery and notify leave it once done."""
    order_id = f"inv-{uuid.uuid4().hex[:12]}"
    product_id = f"{order_id}-1"
    key = hashlib.sha256(order_id.encode()).hexdigest()
    object_key = f"{order_id}/{item}-{key[:20]}.tif"
    body = b"II*\x00 a product"
    s3 = clients.s3_client(settings)
    await asyncio.to_thread(s3.put_object, "delivery", object_key, io.BytesIO(body), len(body))
    mongo = clients.mongo_client(settings)
    db = mongo[settings.mongo_database]
    try:
        await db["delivery_products"].insert_one(
            {
                "_id": seeded("delivery_products", key),
                "order_id": order_id,
                "organisation_id": org,
                "user_id": user,
                "collection": collection,
                "item_id": item,
                "product_ids": [product_id],
                "published": [product_id],
                "status": "ready",
                "bucket": "delivery",
                "object_key": object_key,
            }
        )
        await db["product_orders"].insert_one(
            {
                "_id": seeded("product_orders", order_id),
                "rev": 1,
                "order_id": order_id,
                "organisation_id": org,
                "user_id": user,
                "status": "ready",
                "products": [
                    {"product_id": product_id, "collection": collection, "item_id": item, "status": "ready"}
                ],
            }
        )
        broker = make_broker(settings)
        await broker.connect()
        try:
            published = await EventPublisher(broker, "/tests").publish(
                ProductReadyV1(
                    order_id=order_id,
                    product_id=product_id,
                    organisation_id=org,
                    user_id=user,
                    item_id=item,
                    object_key=object_key,
                    size_bytes=len(body),
                    sha256="ab" * 32,
                    crs="EPSG:2154",
                    footprint={
                        "type": "Polygon",
                        "coordinates": [[[2.0, 48.0], [2.1, 48.0], [2.1, 48.1], [2.0, 48.0]]],
                    },
                    expires_at=datetime(2027, 1, 1, tzinfo=UTC),
                )
            )
        finally:
            await broker.stop()
        event_id = published.headers["ce_id"]
        await db["notify_history"].insert_one(
            {
                "_id": seeded("notify_history", f"{event_id}|{user}|email"),
                "key": event_id,
                "event_id": event_id,
                "event_type": "dinamis.product-ready.v1",
                "kind": "product-ready",
                "recipient": user,
                "channel": "email",
                "status": "sent",
            }
        )
        # a quota: allocated, then one request's approval reserved on it
        qid = f"{org}|spot|2026"
        request_id = f"req-{uuid.uuid4().hex[:8]}"
        for seq, kind, km2, state, rid in (
            (1, "allocate", 100.0, (100.0, 0.0, 0.0), None),
            (2, "reserve", 12.5, (100.0, 12.5, 0.0), request_id),
        ):
            await db["quota_ledger"].insert_one(
                {
                    "_id": seeded("quota_ledger", f"{qid}#{seq:010d}"),
                    "quota_id": qid,
                    "seq": seq,
                    "kind": kind,
                    "km2": km2,
                    "request_id": rid,
                    "state": dict(zip(("allocated", "reserved", "consumed"), state, strict=True)),
                }
            )
        request = {"_id": seeded("requests", request_id), "rev": 1, "status": "approved"}
        await db["requests"].insert_one(request)
    finally:
        await mongo.close()
    send_mail(settings, record.users[user], event_id)
    record.orders[order_id] = PlacedOrder(order_id, org, user, [(collection, item)], datetime.now(UTC))
    record.requests[request_id] = PlacedRequest(request_id, org, "spot", "2026", 12.5)
    return object_key


async def commit_at_zero(settings, group: str, topic: str) -> int:
    """Group `group` commits offset 0 on every partition of `topic` that holds records
    (no member joins: manual assignment); returns its lag, the records it is behind."""
    consumer = AIOKafkaConsumer(
        group_id=group,
        enable_auto_commit=False,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        **settings.kafka_auth(),
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # so the topic's partitions are known
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert parts, f"{topic} has no partition"
        ends = await consumer.end_offsets(parts)
        lows = await consumer.beginning_offsets(parts)
        held = {tp: lows[tp] for tp in parts if ends[tp] > lows[tp]}
        consumer.assign(list(held))
        await consumer.commit(held)
        return sum(ends[tp] - lows[tp] for tp in held)
    finally:
        await consumer.stop()


def by_name(checks):
    return {c.name: c for c in checks}


async def test_a_seeded_campaign_passes_then_each_break_fails_its_check(settings, services, tmp_path):
    assert default_mailbox() is not None, (
        "the local stack's SMTP sink keeps its mail in $DINAMIS_STACK_DIR/mail"
    )
    run = uuid.uuid4().hex[:8]
    org, user = f"org-{run}", f"user-{run}"
    record = CampaignRecord(
        run_id=run,
        campaign="france-2026",
        year=2026,
        started_at=datetime.now(UTC),
        organisations=[org],
        users={user: f"{user}@example.fr"},
        groups=["ingest", "catalog"],
    )
    record.start_offsets = await start_offsets(settings)
    assert ACQ in record.start_offsets and ACQ + ".dlq" in record.start_offsets

    item = await ingest_scene(
        settings, CATALOG_API, tmp_path, 5.1, 45.2, datetime(2026, 5, 1, 10, tzinfo=UTC), size=64
    )
    record.scenes[item["id"]] = DeliveredScene(
        item["id"], 1, Fate.GOOD, item["collection"], "-", datetime.now(UTC)
    )
    corrupt, corrupt_ce = await corrupt_delivery(settings, tmp_path)
    record.scenes[corrupt] = DeliveredScene(
        corrupt, 2, Fate.CORRUPT, item["collection"], corrupt_ce, datetime.now(UTC)
    )

    bad_id = str(uuid.uuid4())
    await raw_publish(
        settings,
        ACQ,
        b"bad-scene",
        b"{not json",
        {
            "ce_specversion": "1.0",
            "ce_id": bad_id,
            "ce_source": "/tests",
            "ce_type": "fr.dinamis.scene-acquired.v1",
        },
    )
    record.deliberate_dead_letters = {ACQ: [bad_id]}
    product_key = await seed_product(settings, record, org, user, item["collection"], item["id"])

    checks = by_name(await check(settings, record, lag_bound_s=60))
    failed = {n: (c.found, c.details) for n, c in checks.items() if not c.ok}
    assert not failed, json.dumps(failed, default=str)
    assert checks["scenes_archived_once"].found["archived_once"] == 1
    assert checks["scenes_archived_once"].found["corrupt_rejected_not_archived"] == 1
    assert checks["products_built_once"].found["ready"] == 1
    assert checks["notifications_once"].found["emails_received"] == 1
    assert checks["quota_ledger_balanced"].found["requests_debited_once"] == 1
    assert checks["dead_letters_only_deliberate"].found["deliberate_found"] == 2  # + the corrupt delivery
    assert set(checks["consumer_lag_zero"].found) == {"ingest", "catalog"}
    assert json.dumps(summary(list(checks.values())))

    # 1. a second copy of the product object, under the order's prefix
    s3 = clients.s3_client(settings)
    copy_key = f"{product_key.rsplit('-', 1)[0]}-{'f' * 20}.tif"  # the same (order, item), another key
    await asyncio.to_thread(s3.copy_object, "delivery", copy_key, CopySource("delivery", product_key))
    # 2. a record on a dead-letter topic nobody sent on purpose
    await raw_publish(settings, ACQ + ".dlq", b"x", b"{}", {"ce_id": "stray", "dlq_consumer_group": "ingest"})
    # 3. the same e-mail a second time
    mongo = clients.mongo_client(settings)
    try:
        doc = await mongo[settings.mongo_database]["notify_history"].find_one({"recipient": user})
    finally:
        await mongo.close()
    event_id = doc["event_id"]
    send_mail(settings, record.users[user], event_id)
    # 4. the scene's manifest copied as a second version
    manifests = [
        o.object_name
        for o in s3.list_objects("archive", recursive=True)
        if item["id"] in o.object_name and o.object_name.endswith("/manifest.json")
    ]
    assert len(manifests) == 1
    second = manifests[0].replace("/v1/", "/v2/")
    await asyncio.to_thread(s3.copy_object, "archive", second, CopySource("archive", manifests[0]))
    # 5. a consumer group left behind: it committed offset 0 where scene-acquired holds records
    behind = f"inv-behind-{run}"
    lag = await commit_at_zero(settings, behind, ACQ)
    assert lag > 0
    record.groups.append(behind)

    checks = by_name(await check(settings, record, lag_bound_s=5))
    assert {n for n, c in checks.items() if not c.ok} == {
        "consumer_lag_zero",
        "products_built_once",
        "dead_letters_only_deliberate",
        "notifications_once",
        "scenes_archived_once",
    }
    assert checks["consumer_lag_zero"].details[0].startswith(f"{behind}: lag {lag} after 5 s")
    assert checks["consumer_lag_zero"].found[behind]["max_lag"] == lag
    assert checks["consumer_lag_zero"].found["ingest"]["final"] == 0
    assert any(copy_key in d for d in checks["products_built_once"].details)
    assert any("stray" in d for d in checks["dead_letters_only_deliberate"].details)
    assert checks["notifications_once"].details == [f"{user}: 2 e-mails for event {event_id} (product-ready)"]
    assert checks["scenes_archived_once"].details == [
        f"{item['id']}: 2 manifests {sorted([manifests[0].rsplit('/', 1)[0], second.rsplit('/', 1)[0]])}"
    ]
