"""Issue 16, the facts the reporting needs, produced by the services that own them, on
the real stack (FerretDB, Kafka, S3, the real `dinamis-orders` and `dinamis-delivery`):

- an approved organisation's `organisation-changed` carries its department;
- each quota ledger entry (allocation, reservation on approval, adjustment) is one
  `quota-changed` with the balance after it, and orders can tell it issued it;
- a `governance` user of the platform's own organisation is the working group
  (`/v1/me`), and no staff route opens to them;
- each signed download URL is one `product-downloaded`; refusals count nothing.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pyproj import Geod

from dinamis_delivery.adapters.downloads import download_event_id
from dinamis_delivery.adapters.records import ProductRecords
from dinamis_delivery.settings import DeliverySettings
from dinamis_orders.adapters.mongo import MongoStores
from dinamis_orders.service.provenance import AnyOf, was_issued
from dinamis_orders.settings import OrdersSettings
from dinamis_shared import clients
from dinamis_shared.auth import ensure_local_signing_key, mint_token
from dinamis_shared.clients import mongo_client
from dinamis_shared.events import (
    OrganisationChangedV1,
    ProductDownloadedV1,
    QuotaChangedV1,
    UserChangedV1,
)
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher
from tests.integration.orders_api import (
    FIELD,
    Caller,
    new_member_org,
    orders_alone,
    orders_api,
    seed_member,
    tasking,
    uid,
)
from tests.ports import free_ports

ORDERS_PORT, DELIVERY_PORT = free_ports(2)
API = orders_api(ORDERS_PORT)
DELIVERY = f"http://127.0.0.1:{DELIVERY_PORT}"


@pytest.fixture(scope="module")
def orders(tmp_path_factory, keyfile):
    with orders_alone(ORDERS_PORT, tmp_path_factory.mktemp("orders-reporting"), keyfile) as proc:
        yield proc


@pytest.fixture(scope="module")
def operator(keyfile, orders) -> Caller:
    return Caller.staff(keyfile, api=API)


@pytest.fixture(scope="module")
def delivery(keyfile, orders, tmp_path_factory):
    logs = tmp_path_factory.mktemp("delivery-reporting")
    env = {
        "DINAMIS_ORDERS_URL": f"http://127.0.0.1:{ORDERS_PORT}",
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_DELIVERY_WORK_DIR": str(logs / "work"),
        "DINAMIS_DELIVERY_VERIFY_EVENT_ISSUER": "false",  # it consumes nothing here
    }
    proc = start_service("delivery", DELIVERY_PORT, logs, env=env)
    yield proc
    stop_service(proc)


async def test_an_approved_organisation_carries_its_department(keyfile, operator, settings):
    async with EventWatcher(settings.kafka_bootstrap_servers, [OrganisationChangedV1.topic()]) as w:
        referent, _ = new_member_org(keyfile, operator, department="2b")  # upper-cased by orders
        lyon, _ = new_member_org(keyfile, operator)  # recorded without one

        def seen():
            mine = w.events(OrganisationChangedV1, referent.org)
            other = w.events(OrganisationChangedV1, lyon.org)
            done = any(e.status.value == "active" for e in mine) and any(
                e.status.value == "active" for e in other
            )
            return (mine, other) if done else None

        mine, other = await w.wait(seen, 30)  # type: ignore[misc]
    assert [(e.status.value, e.department) for e in mine] == [("pending", "2B"), ("active", "2B")]
    assert {e.department for e in other} == {None}


def hand_area_km2(polygon: dict) -> float:
    """The geodesic area of the AOI on the WGS 84 ellipsoid (pyproj), independently of orders."""
    lons, lats = zip(*polygon["coordinates"][0], strict=True)
    area, _ = Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)
    return abs(area) / 1e6


async def issued_here(event_id: str, event: QuotaChangedV1) -> bool:
    """What `POST /v1/internal/events/verify` answers, asked of orders' own records."""
    settings = OrdersSettings()
    client = mongo_client(settings)
    try:
        stores = MongoStores(client[settings.mongo_database])
        return await was_issued(
            {"organisation_id": AnyOf(stores.organisations, stores.ledger.event_outbox)},
            event_id,
            event.ce_type(),
            event.model_dump(mode="json"),
        )
    finally:
        await client.close()


async def test_each_quota_ledger_entry_is_one_quota_changed_with_the_balance(keyfile, operator, settings):
    _, member = new_member_org(keyfile, operator)
    org = member.org
    async with EventWatcher(settings.kafka_bootstrap_servers, [QuotaChangedV1.topic()]) as w:
        req = member.call("POST", "/requests", json=tasking())
        assert req.status_code == 201, req.text
        rid, area, period = req.json()["request_id"], req.json()["area_km2"], req.json()["quota_period"]
        assert area == pytest.approx(hand_area_km2(FIELD), rel=0.01)  # ~38.8 km²
        path = f"/quotas/{org}/pleiades-neo/{period}"
        r = operator.call("POST", path, json={"km2": 100, "reason": "dotation annuelle"})
        assert r.status_code == 200, r.text
        assert (
            operator.call("POST", f"/requests/{rid}/actions", json={"action": "start_review"}).status_code
            == 200
        )
        r = operator.call("POST", f"/requests/{rid}/actions", json={"action": "approve"})
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text
        # the same approval again reserves nothing more: no entry, no event
        operator.call("POST", f"/requests/{rid}/actions", json={"action": "approve"})
        r = operator.call(
            "POST", path, json={"km2": -10, "reason": "reprise après audit", "adjustment": True}
        )
        assert r.status_code == 200, r.text

        def three():
            got = w.events(QuotaChangedV1, org)
            return got if len(got) >= 3 else None

        events = await w.wait(three, 30)
        await asyncio.sleep(2)  # anything more would show now
        events = w.events(QuotaChangedV1, org)
        records = [(t, h) for t, h, k, _ in w.records if k == org.encode()]
    assert [(e.movement.value, e.seq) for e in events] == [("allocate", 1), ("reserve", 2), ("adjust", 3)]
    assert {(e.sensor_family.value, e.period) for e in events} == {("pleiades-neo", period)}
    balances = [(e.allocated_km2, e.reserved_km2, e.consumed_km2) for e in events]
    assert balances[0] == (100, 0, 0)
    assert balances[1][0] == 100 and balances[1][1] == pytest.approx(hand_area_km2(FIELD), rel=0.01)
    assert balances[1][1] == pytest.approx(area, abs=1e-6) and balances[1][2] == 0
    assert balances[2] == (90, balances[1][1], 0)
    assert [e.km2 for e in events] == [100, pytest.approx(area, abs=1e-6), -10]
    assert [e.request_id for e in events] == [None, rid, None]
    assert [e.reason for e in events] == ["dotation annuelle", None, "reprise après audit"]
    assert {e.changed_by for e in events} == {operator.user}
    # the balance the API shows says the same
    balance = member.call("GET", path).json()
    assert (balance["allocated_km2"], balance["reserved_km2"]) == (90, balances[2][1])
    # one id per entry, and orders confirms it issued each (and nothing forged)
    ids = [h["ce_id"] for _, h in records]
    assert len(set(ids)) == 3
    for event_id, event in zip(ids, events, strict=True):
        assert await issued_here(event_id, event)
    forged = events[0].model_copy(update={"allocated_km2": 10_000})
    assert not await issued_here(ids[0], forged)
    assert not await issued_here(str(uuid.uuid4()), events[0])


async def test_the_working_group_sees_its_standing_and_no_staff_route(keyfile, orders, settings):
    admin = Caller.staff(keyfile, role="admin", api=API)
    gt = Caller(keyfile, uid("kc"), "dinamis", ["governance"], api=API)
    async with EventWatcher(settings.kafka_bootstrap_servers, [UserChangedV1.topic()]) as w:
        body = {"email": "gt@cnig.example.fr", "display_name": "Membre du GT", "roles": ["governance"]}
        r = admin.call("PUT", f"/staff/{gt.user}", json=body)
        assert r.status_code == 200 and r.json()["roles"] == ["governance"], r.text
        (changed,) = await w.wait(lambda: w.events(UserChangedV1, gt.user) or None, 30)  # type: ignore[misc]
    assert changed.roles == ["governance"] and changed.organisation_id == "dinamis"
    me = gt.call("GET", "/me").json()
    assert me["principal"]["standing"] == "governance" and me["principal"]["roles"] == ["governance"]
    assert me["standing"]["code"] == "governance" and me["standing"]["allowed"] is False
    for method, path, json in (
        ("GET", "/staff", None),
        ("PUT", f"/staff/{uid('kc')}", {**body, "roles": ["operator"]}),
        ("GET", "/quotas", None),
        ("POST", "/requests", tasking()),
    ):
        r = gt.call(method, path, json=json, headers={"Accept-Language": "fr"})
        assert r.status_code == 403 and r.json()["code"] == "governance", (path, r.text)
        assert "groupe de travail" in r.json()["detail"]
    # an operator who also sits in the working group stays staff
    r = admin.call("PUT", f"/staff/{gt.user}", json={**body, "roles": ["governance", "operator"]})
    assert r.status_code == 200, r.text
    assert gt.call("GET", "/me").json()["principal"]["standing"] == "staff"
    assert gt.call("GET", "/quotas").status_code == 200


async def test_each_signed_url_is_one_product_downloaded(keyfile, delivery, settings):
    org, user, stranger = uid("org"), uid("usr"), uid("usr")
    seed_member(org, user)
    seed_member(uid("org"), stranger)
    product_id, order_id, key = uid("p"), uid("ord"), uid("key")
    content = b"II*\x00" + b"\x00" * 2044  # 2 KiB, a stand-in for the product's bytes
    object_key = f"{order_id}/{product_id}.tif"
    dsettings = DeliverySettings()
    s3 = clients.s3_client(dsettings)
    await asyncio.to_thread(s3.put_object, "delivery", object_key, io.BytesIO(content), len(content))
    mongo = mongo_client(dsettings)
    try:  # the record delivery writes once a product is built (service/delivering.py)
        await ProductRecords(mongo, dsettings.mongo_database).insert(
            {
                "_id": key,
                "order_id": order_id,
                "organisation_id": org,
                "user_id": user,
                "collection": "pleiades-neo-ortho",
                "item_id": "PNEO4_202606021020",
                "product_ids": [product_id],
                "published": [product_id],
                "status": "ready",
                "bucket": "delivery",
                "object_key": object_key,
                "size_bytes": len(content),
                "sha256": "0" * 64,
                "crs": "EPSG:2154",
                "expires_at": datetime.now(UTC) + timedelta(days=7),
                "created_at": datetime.now(UTC),
            }
        )
    finally:
        await mongo.close()

    def bearer(who: str, organisation: str) -> dict:
        token = mint_token(
            ensure_local_signing_key(keyfile), user_id=who, organisation_id=organisation, roles=["member"]
        )
        return {"Authorization": f"Bearer {token}"}

    async with EventWatcher(settings.kafka_bootstrap_servers, [ProductDownloadedV1.topic()]) as w:
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.get(f"{DELIVERY}/downloads/{product_id}", headers=bearer(user, org))
            assert r.status_code == 307, r.text
            assert (await http.get(r.headers["location"])).content == content
            # refused: another organisation's member, an unknown product — nothing counted
            r = await http.get(f"{DELIVERY}/downloads/{product_id}", headers=bearer(stranger, "x"))
            assert r.status_code == 403, r.text
            r = await http.get(f"{DELIVERY}/downloads/{uid('p')}", headers=bearer(user, org))
            assert r.status_code == 404, r.text
            # the Metalink lists URLs: it counts nothing either
            r = await http.get(f"{DELIVERY}/orders/{order_id}/products.meta4", headers=bearer(user, org))
            assert r.status_code == 200 and object_key.split("/")[-1] in r.text
            first = await w.wait(lambda: w.events(ProductDownloadedV1, product_id) or None, 30)
            # the same user again, at once: one download per product, user and minute
            # (the same CloudEvents id: the archive keeps one), whatever the loop
            minutes = {datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")}
            for _ in range(3):
                r = await http.get(f"{DELIVERY}/downloads/{product_id}", headers=bearer(user, org))
                assert r.status_code == 307
            minutes.add(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"))
            await asyncio.sleep(3)  # anything more would show now
        events = w.events(ProductDownloadedV1, product_id)
        ids = {h["ce_id"] for t, h, k, _ in w.records if k == product_id.encode()}
    assert len(first) >= 1  # type: ignore[arg-type]
    assert ids == {download_event_id(e) for e in events}
    assert len(ids) <= len(minutes)  # one id a minute (two if the loop crossed a minute)
    e = events[0]
    assert (e.order_id, e.organisation_id, e.user_id, e.item_id, e.collection, e.size_bytes) == (
        order_id,
        org,
        user,
        "PNEO4_202606021020",
        "pleiades-neo-ortho",
        2048,
    )
    assert abs((datetime.now(UTC) - e.downloaded_at).total_seconds()) < 60


async def test_ledger_entries_older_than_their_events_are_backfilled_once(orders, settings):
    """Entries as the ledger wrote them before `quota-changed` existed (no outbox) get
    their event from `backfill_events` (run at start-up), published by the service's relay."""
    org = uid("org")
    qid = f"{org}|spot-6-7|2025"
    at = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    old = [  # what QuotaLedger._append wrote until now
        {"seq": 1, "kind": "allocate", "km2": 50.0, "reason": "dotation 2025", "state": (50.0, 0.0, 0.0)},
        {"seq": 2, "kind": "adjust", "km2": 25.0, "reason": "complément", "state": (75.0, 0.0, 0.0)},
    ]
    oset = OrdersSettings()
    client = mongo_client(oset)
    try:
        stores = MongoStores(client[oset.mongo_database])
        for e in old:
            allocated, reserved, consumed = e["state"]
            await stores.ledger.entries.insert_one(
                {
                    "_id": stores.ledger.entry_id(qid, e["seq"]),
                    "quota_id": qid,
                    "seq": e["seq"],
                    "kind": e["kind"],
                    "km2": e["km2"],
                    "request_id": None,
                    "ref": None,
                    "by": "op-historique",
                    "reason": e["reason"],
                    "at": at + timedelta(days=e["seq"]),
                    "state": {
                        "allocated": allocated,
                        "reserved": reserved,
                        "consumed": consumed,
                        "available": allocated - reserved - consumed,
                        "reservations": [],
                        "refs": [],
                    },
                }
            )
        async with EventWatcher(settings.kafka_bootstrap_servers, [QuotaChangedV1.topic()]) as w:
            assert await stores.ledger.backfill_events() >= 2
            events = await w.wait(
                lambda: (got := w.events(QuotaChangedV1, org)) and len(got) >= 2 and got, 30
            )
            assert await stores.ledger.backfill_events() == 0  # once
            await asyncio.sleep(2)
            events = w.events(QuotaChangedV1, org)
    finally:
        await client.close()
    assert [(e.seq, e.movement.value, e.km2, e.allocated_km2) for e in events] == [
        (1, "allocate", 50, 50),
        (2, "adjust", 25, 75),
    ]
    assert [e.changed_at for e in events] == [
        datetime(2025, 3, 5, 10, tzinfo=UTC),
        datetime(2025, 3, 6, 10, tzinfo=UTC),
    ]
    assert {(e.changed_by, e.period, e.sensor_family.value) for e in events} == {
        ("op-historique", "2025", "spot-6-7")
    }
