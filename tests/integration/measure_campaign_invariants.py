"""How long the campaign invariants take at campaign scale, on the real stack.

Seeds 240 scenes (every tenth cloudy) and 24 corrupt deliveries as ingest and the
catalog leave them (archive objects, pgSTAC items, `scene-ingested`; `scene-rejected`
and the dead-lettered `scene-acquired`), and N product orders of one item each
(default 2,000) where the services keep them —
delivery's records and objects, the orders' states, their `product-ready` events,
notify's history and (unless --no-mail) the e-mails through the SMTP sink — plus one
quota ledger per organisation, then times `invariants.check` (each check's seconds,
adapter reads included) and the pure evaluation alone. JSON on stdout.

    python tests/integration/measure_campaign_invariants.py --orders 2000 --orgs 50 --scenes 240 --corrupt 24

Run against a test stack (DINAMIS_* of the stack exported, `deploy/local/stack.env`
sourced). It only adds documents, objects and records under ids of its own run."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import smtplib
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage

from aiokafka import AIOKafkaProducer
from psycopg.types.json import Jsonb

from dinamis_campaign import invariants
from dinamis_campaign.record import CampaignRecord, DeliveredScene, Fate, PlacedOrder, PlacedRequest
from dinamis_shared import clients, cloudevents
from dinamis_shared.events import ProductReadyV1, SceneAcquiredV1, SceneIngestedV1, SceneRejectedV1
from dinamis_shared.settings import ServiceSettings
from dinamis_testkit.examples import lyon_item

FOOTPRINT = {"type": "Polygon", "coordinates": [[[2.0, 48.0], [2.1, 48.0], [2.1, 48.1], [2.0, 48.0]]]}


async def seed(
    settings: ServiceSettings, n_orders: int, n_orgs: int, mail: bool
) -> tuple[CampaignRecord, dict]:
    run = uuid.uuid4().hex[:8]
    orgs = [f"m-{run}-org{i}" for i in range(n_orgs)]
    users = {f"m-{run}-u{i}": f"m-{run}-u{i}@example.fr" for i in range(n_orgs)}
    user_ids = list(users)
    record = CampaignRecord(
        run, "france-2026", 2026, datetime.now(UTC), organisations=orgs, users=users, groups=[]
    )
    record.start_offsets = await invariants.start_offsets(settings)
    timings: dict[str, float] = {}
    products, orders, history, events, mails = [], [], [], [], []
    body = b"II*\x00 product"
    for i in range(n_orders):
        org, user = orgs[i % n_orgs], user_ids[i % n_orgs]
        oid, item = f"m-{run}-o{i}", f"SCENE-{i % 240}"
        pid = f"{oid}-1"
        key = hashlib.sha256(oid.encode()).hexdigest()
        object_key = f"{oid}/{item}-{key[:20]}.tif"
        record.orders[oid] = PlacedOrder(oid, org, user, [("spot-2026", item)], datetime.now(UTC))
        products.append(
            {
                "_id": key,
                "order_id": oid,
                "organisation_id": org,
                "user_id": user,
                "item_id": item,
                "product_ids": [pid],
                "published": [pid],
                "status": "ready",
                "object_key": object_key,
            }
        )
        orders.append(
            {"_id": oid, "rev": 1, "status": "ready", "products": [{"product_id": pid, "status": "ready"}]}
        )
        event = ProductReadyV1(
            order_id=oid,
            product_id=pid,
            organisation_id=org,
            user_id=user,
            item_id=item,
            object_key=object_key,
            size_bytes=len(body),
            sha256="ab" * 32,
            crs="EPSG:2154",
            footprint=FOOTPRINT,
            expires_at=datetime(2027, 1, 1, tzinfo=UTC),
        )
        wire = cloudevents.encode(event, source="/measure")
        events.append(wire)
        eid = wire.headers["ce_id"]
        history.append(
            {
                "_id": f"{eid}|{user}|email",
                "event_id": eid,
                "recipient": user,
                "channel": "email",
                "kind": "product-ready",
                "status": "sent",
            }
        )
        mails.append((users[user], eid))
    ledger, requests = [], []
    for j, org in enumerate(orgs):
        qid, rid = f"{org}|spot|2026", f"m-{run}-r{j}"
        record.requests[rid] = PlacedRequest(rid, org, "spot", "2026", 10.0)
        requests.append({"_id": rid, "rev": 1, "status": "approved"})
        for seq, kind, km2, st, r in (
            (1, "allocate", 500.0, (500.0, 0.0, 0.0), None),
            (2, "reserve", 10.0, (500.0, 10.0, 0.0), rid),
        ):
            ledger.append(
                {
                    "_id": f"{qid}#{seq:010d}",
                    "quota_id": qid,
                    "seq": seq,
                    "kind": kind,
                    "km2": km2,
                    "request_id": r,
                    "state": dict(zip(("allocated", "reserved", "consumed"), st, strict=True)),
                }
            )

    t0 = time.monotonic()
    s3 = clients.s3_client(settings)
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda p: s3.put_object("delivery", p["object_key"], io.BytesIO(body), len(body)), products
            )
        )
    timings["seed_objects_s"] = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    mongo = clients.mongo_client(settings)
    db = mongo[settings.mongo_database]
    for name, docs in (
        ("delivery_products", products),
        ("product_orders", orders),
        ("notify_history", history),
        ("quota_ledger", ledger),
        ("requests", requests),
    ):
        for k in range(0, len(docs), 500):
            await db[name].insert_many(docs[k : k + 500])
    await mongo.close()
    timings["seed_documents_s"] = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        **settings.kafka_auth(),
    )
    await producer.start()
    try:
        futures = [
            await producer.send(
                w.topic, w.value, key=w.key, headers=[(k, v.encode()) for k, v in w.headers.items()]
            )
            for w in events
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    timings["seed_events_s"] = round(time.monotonic() - t0, 1)
    if mail:
        t0 = time.monotonic()
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            for to, eid in mails:
                msg = EmailMessage()
                msg["From"], msg["To"], msg["Subject"] = "noreply@dinamis.test", to, "prêt"
                msg["X-Dinamis-Event-Id"], msg["X-Dinamis-Kind"] = eid, "product-ready"
                msg.set_content("prêt")
                smtp.send_message(msg)
        timings["seed_mails_s"] = round(time.monotonic() - t0, 1)
    return record, timings


async def seed_scenes(settings: ServiceSettings, record: CampaignRecord, n: int, corrupt: int) -> dict:
    """`n` scenes as ingest and the catalog leave them (3 archive objects with the
    manifest, a pgSTAC item at version 1, a `scene-ingested`), and `corrupt` rejected ones
    (a `scene-rejected` with its reason, the `scene-acquired` on its dead-letter topic)."""
    collection, run = "pleiades-neo-ortho", record.run_id
    wires, dead = [], []
    items = []
    for i in range(n + corrupt):
        sid = f"M{run}-{i:04d}"
        fate = Fate.CORRUPT if i >= n else (Fate.CLOUDY if i % 10 == 0 else Fate.GOOD)
        acquired = cloudevents.encode(
            SceneAcquiredV1(
                scene_id=sid,
                supplier="airbus",
                mission="PNEO4",
                supplier_product_id=sid,
                staging={"bucket": "staging", "prefix": f"airbus/{sid}/"},
                delivered_at=datetime.now(UTC),
            ),
            source="/measure",
        )
        record.scenes[sid] = DeliveredScene(
            sid, i, fate, collection, acquired.headers["ce_id"], datetime.now(UTC)
        )
        if fate is Fate.CORRUPT:
            wires.append(
                cloudevents.encode(
                    SceneRejectedV1(
                        scene_id=sid,
                        supplier="airbus",
                        supplier_product_id=sid,
                        staging={"bucket": "staging", "prefix": f"airbus/{sid}/"},
                        reason_code="checksum-mismatch",
                        reason="PAN.tif: SHA-256 differs",
                    ),
                    source="/measure",
                )
            )
            dead.append(acquired)
            continue
        item = lyon_item()
        item["id"], item["collection"] = sid, collection
        item["properties"]["dinamis:version"] = 1
        items.append(item)
        prefix = f"{collection}/2026/06/12/{sid}/v1/"
        wires.append(
            cloudevents.encode(
                SceneIngestedV1(
                    scene_id=sid,
                    version=1,
                    collection=collection,
                    item=item,
                    archive_prefix=prefix,
                    manifest_sha256="ab" * 32,
                ),
                source="/measure",
            )
        )
    t0 = time.monotonic()
    s3 = clients.s3_client(settings)
    keys = [
        f"{collection}/2026/06/12/{it['id']}/v1/{name}"
        for it in items
        for name in ("PAN.tif", "item.json", "manifest.json")
    ]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object("archive", k, io.BytesIO(b"{}"), 2), keys))
    conn = await clients.pg_connect(settings)
    try:
        for it in items:
            await conn.execute("SELECT pgstac.upsert_item(%s)", [Jsonb(it)])
    finally:
        await conn.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", **settings.kafka_auth()
    )
    await producer.start()
    try:
        futures = [
            await producer.send(
                w.topic, w.value, key=w.key, headers=[(k, v.encode()) for k, v in w.headers.items()]
            )
            for w in wires
        ] + [
            await producer.send(
                w.topic + ".dlq",
                w.value,
                key=w.key,
                headers=[(k, v.encode()) for k, v in {**w.headers, "dlq_consumer_group": "ingest"}.items()],
            )
            for w in dead
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return {"seed_scenes_s": round(time.monotonic() - t0, 1)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--orgs", type=int, default=50)
    parser.add_argument("--no-mail", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenes", type=int, default=240, help="good and cloudy scenes")
    parser.add_argument("--corrupt", type=int, default=24)
    args = parser.parse_args()
    settings = ServiceSettings()
    record, seeding = await seed(settings, args.orders, args.orgs, not args.no_mail)
    seeding.update(await seed_scenes(settings, record, args.scenes, args.corrupt))
    # No group to wait for (none consumes these seeded records here): the lag check is
    # timed on the ingest group alone.
    record.groups = ["ingest"]
    rounds = []
    for _ in range(args.rounds):
        t0 = time.monotonic()
        checks = await invariants.check(settings, record, lag_bound_s=10)
        rounds.append((time.monotonic() - t0, {c.name: c.seconds for c in checks}))
    total = statistics.median(t for t, _ in rounds)
    snap = invariants.Snapshot(settings, record, invariants.default_mailbox())
    for part in ("topics", "archive", "items", "products", "notifications", "ledger", "aggregates"):
        await snap.need(part)
    await snap.close()
    t0 = time.monotonic()
    invariants.evaluate(record, snap.obs)
    pure = time.monotonic() - t0
    out = {
        "orders": args.orders,
        "scenes": args.scenes,
        "corrupt": args.corrupt,
        "organisations": args.orgs,
        "mail": not args.no_mail,
        "seeding": seeding,
        "check_total_s_median": round(total, 2),
        "evaluate_pure_s": round(pure, 3),
        "rounds": args.rounds,
        "check_total_s_each": [round(t, 2) for t, _ in rounds],
        "per_check_median_s": {
            c.name: {"ok": c.ok, "seconds": statistics.median(r[c.name] for _, r in rounds)} for c in checks
        },
        "failed_details": {c.name: c.details[:3] for c in checks if not c.ok},
        "archive_keys_listed": len(snap.obs.archive_keys),
        "dead_letters_read": len(snap.obs.dead_letters),
        "emails_read": len(snap.obs.emails or []),
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    asyncio.run(main())
