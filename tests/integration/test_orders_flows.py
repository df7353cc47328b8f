"""Orders flows that need the catalogue and Kafka round trips: overlap with catalogue
imagery, product orders, contractors' access, the outbox under crashes, and 100
concurrent approvals against one quota through the HTTP API."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dinamis_orders.adapters.aggregates import AggregateStore, OutboxRelay
from dinamis_orders.adapters.mongo import mongo_orders
from dinamis_orders.app import OrdersSettings
from dinamis_orders.service import progress
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.clients import mongo_client
from dinamis_shared.cloudevents import decode
from dinamis_shared.events import (
    DeliveryRequestedV1,
    OrganisationChangedV1,
    ProductFailedV1,
    ProductReadyV1,
    SceneIngestedV1,
)
from dinamis_testkit.examples import lyon_item
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher
from tests.integration.orders_api import Caller, application, new_member_org, orders_api, square, tasking, uid
from tests.ports import free_port, free_ports

CATALOG_PORT, ORDERS_PORT = free_ports(2)
API = orders_api(ORDERS_PORT)


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("logs")
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_CATALOG_PUBLIC_URL": f"http://127.0.0.1:{CATALOG_PORT}",
    }
    catalog = start_service("catalog", CATALOG_PORT, logs, env=env)
    orders = start_service(
        "orders",
        ORDERS_PORT,
        logs,
        env={
            **env,
            "DINAMIS_ORDERS_CATALOG_URL": f"http://127.0.0.1:{CATALOG_PORT}",
            "DINAMIS_ORDERS_PRODUCT_ORDERS_PER_DAY": "2",
            "DINAMIS_ORDERS_SUPPLIER_URL": "",
        },
    )
    yield
    stop_service(orders)
    stop_service(catalog)


@pytest.fixture(scope="module")
def operator(keyfile, services):
    return Caller.staff(keyfile, api=API)


@pytest.fixture
async def publisher(settings):
    broker = make_broker(settings)
    await broker.start()
    yield EventPublisher(broker, "/tests/orders")
    await broker.stop()


def catalogue_item(geometry: dict, cloud: float = 5.0, when: datetime | None = None) -> dict:
    doc = lyon_item()
    doc["id"] = f"ITEM-{uuid.uuid4().hex[:10]}"
    doc["geometry"] = geometry
    xs = [p[0] for p in geometry["coordinates"][0]]
    ys = [p[1] for p in geometry["coordinates"][0]]
    doc["bbox"] = [min(xs), min(ys), max(xs), max(ys)]
    when = when or datetime.now(UTC) - timedelta(days=30)
    doc["properties"].update(
        {
            "datetime": when.isoformat().replace("+00:00", "Z"),
            "eo:cloud_cover": cloud,
            "constellation": "pleiades-neo",
        }
    )
    return doc


def ingested(doc: dict, request_id: str | None = None) -> SceneIngestedV1:
    return SceneIngestedV1(
        scene_id=doc["id"],
        version=1,
        collection="pleiades-neo-ortho",
        item=doc,
        archive_prefix=f"pleiades-neo-ortho/x/{doc['id']}/v1/",
        manifest_sha256="ab" * 32,
        acquisition_request_id=request_id,
    )


async def indexed(item_id: str, timeout: float = 30) -> None:
    url = f"http://127.0.0.1:{CATALOG_PORT}/collections/pleiades-neo-ortho/items/{item_id}"
    async with httpx.AsyncClient() as client:
        for _ in range(int(timeout / 0.2)):
            if (await client.get(url)).status_code == 200:
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"{item_id} never indexed")


async def test_quote_reports_catalogue_coverage_of_real_footprints(keyfile, operator, publisher):
    _referent, member = new_member_org(keyfile, operator)
    lon, lat = -60 + (uuid.uuid4().int % 1000) * 0.01, 10.0  # our own patch of ground
    aoi = square(lon, lat, 0.1)
    # Two archived scenes: one covers the western 30 %, one (too cloudy) the rest.
    west = catalogue_item(
        square(lon - 0.05, lat - 0.05, 0.08)
        | {
            "coordinates": [
                [
                    [lon - 0.05, lat - 0.05],
                    [lon + 0.03, lat - 0.05],
                    [lon + 0.03, lat + 0.15],
                    [lon - 0.05, lat + 0.15],
                    [lon - 0.05, lat - 0.05],
                ]
            ]
        }
    )
    cloudy = catalogue_item(square(lon, lat, 0.1), cloud=80.0)
    for doc in (west, cloudy):
        await publisher.publish(ingested(doc))
    await indexed(west["id"])
    await indexed(cloudy["id"])
    quote = member.call("POST", "/requests/quote", json=tasking(aoi=aoi, max_cloud_cover=20))
    assert quote.status_code == 200, quote.text
    catalogue = quote.json()["overlaps"]["catalogue"]
    assert catalogue["items"] == [west["id"]]
    assert catalogue["share"] == pytest.approx(0.3, abs=0.01)
    assert any(w["code"] == "catalogue-overlap" and "30%" in w["message"] for w in quote.json()["warnings"])


async def test_product_order_follows_delivery_events(keyfile, operator, publisher, settings):
    _referent, member = new_member_org(keyfile, operator)
    doc = catalogue_item(square(2.30, 48.80, 0.05))
    await publisher.publish(ingested(doc))
    await indexed(doc["id"])
    body = {
        "items": [
            {"collection": "pleiades-neo-ortho", "item_id": doc["id"]},
            {"collection": "pleiades-neo-ortho", "item_id": doc["id"]},
        ],
        "aoi": square(2.31, 48.81, 0.02),
        "crs": "EPSG:2154",
    }
    async with EventWatcher(settings.kafka_bootstrap_servers, [DeliveryRequestedV1.topic()]) as watcher:
        r = member.call("POST", "/product-orders", json=body)
        assert r.status_code == 201, r.text
        order_id = r.json()["order_id"]
        requested = (await watcher.wait(lambda: watcher.events(DeliveryRequestedV1, order_id), 30))[0]
    assert requested.user_id == member.user and len(requested.products) == 2
    assert requested.products[0].aoi is not None and requested.products[0].crs == "EPSG:2154"
    first, second = requested.products
    ready = ProductReadyV1(
        order_id=order_id,
        product_id=first.product_id,
        organisation_id=member.org,
        user_id=member.user,
        item_id=doc["id"],
        object_key=f"{order_id}/{first.product_id}.tif",
        size_bytes=1234,
        sha256="cd" * 32,
        crs="EPSG:2154",
        footprint=requested.products[0].aoi,
        expires_at=datetime.now(UTC) + timedelta(days=30),
    )
    failed = ProductFailedV1(
        order_id=order_id,
        product_id=second.product_id,
        organisation_id=member.org,
        user_id=member.user,
        item_id=doc["id"],
        reason_code="unsupported-option",
        reason="bande inconnue / unknown band",
    )
    for event in (ready, ready, failed):  # redelivered: recorded once
        await publisher.publish(event)
    for _ in range(100):
        order = member.call("GET", f"/product-orders/{order_id}").json()
        if order["status"] != "processing":
            break
        await asyncio.sleep(0.2)
    assert order["status"] == "partially_ready", order
    p1, p2 = order["products"]
    assert p1["status"] == "ready" and p1["download"].endswith(f"/downloads/{first.product_id}")
    assert p2["status"] == "failed" and p2["reason_code"] == "unsupported-option"
    # Another organisation cannot read it; an unknown item is refused with its reason.
    _, other = new_member_org(keyfile, operator)
    assert other.call("GET", f"/product-orders/{order_id}").status_code == 403
    r = member.call(
        "POST", "/product-orders", json={"items": [{"collection": "pleiades-neo-ortho", "item_id": "NOPE-1"}]}
    )
    assert r.status_code == 422 and r.json()["code"] == "item-not-found"
    # Daily limit (2 here): the second order passes, the third is refused.
    assert member.call("POST", "/product-orders", json={"items": body["items"][:1]}).status_code == 201
    r = member.call("POST", "/product-orders", json={"items": body["items"][:1]})
    assert r.status_code == 429 and r.json()["code"] == "daily-limit"


async def test_product_order_options_are_checked_before_a_daily_slot_is_taken(keyfile, operator, publisher):
    """Issue 12 (hole 5): 50 orders with a 40-character band name each burnt a daily
    slot with a 500. Every option is checked against the item first: 422, no slot."""
    _referent, member = new_member_org(keyfile, operator)
    doc = catalogue_item(square(2.40, 48.70, 0.05))
    await publisher.publish(ingested(doc))
    await indexed(doc["id"])
    items = [{"collection": "pleiades-neo-ortho", "item_id": doc["id"]}]
    french = {"Accept-Language": "fr"}
    bad = [
        ({"bands": ["B" * 40]}, None),  # beyond the contract's bound: the schema says so
        ({"bands": ["NIR"]}, "inconnue"),  # not a band of this item
        ({"crs": "EPSG:32760"}, "prévu pour"),  # UTM 60S, not for Paris
        ({"crs": "EPSG:4978"}, "cartographique 2D"),
        ({"crs": "native"}, "projection"),
        ({"pansharpen": True}, "PAN"),
    ]
    for n in range(50):
        options, why = bad[n % len(bad)]
        r = member.call("POST", "/product-orders", json={"items": items, **options}, headers=french)
        assert r.status_code == 422, (options, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        if why is not None:
            assert r.json()["code"] == "unsupported-option" and why in r.json()["detail"], r.text
    # Both daily slots (2 here) are still there.
    for _ in range(2):
        assert member.call("POST", "/product-orders", json={"items": items}).status_code == 201
    r = member.call("POST", "/product-orders", json={"items": items})
    assert r.status_code == 429 and r.json()["code"] == "daily-limit"


async def test_contractor_reads_only_its_commissioning_bodys_imagery_during_delegation(
    keyfile, operator, publisher, settings
):
    _body_referent, body_member = new_member_org(keyfile, operator, category="french-public")
    now = datetime.now(UTC)

    def contractor(start: datetime, end: datetime) -> Caller:
        _, member = new_member_org(
            keyfile,
            operator,
            category="contractor",
            commissioning_organisation_id=body_member.org,
            contract_start=start.isoformat(),
            contract_end=end.isoformat(),
        )
        return member

    current = contractor(now - timedelta(days=10), now + timedelta(days=100))
    past = contractor(now - timedelta(days=100), now - timedelta(days=1))
    # The body obtains one scene through its own request; another scene is not theirs.
    req = body_member.call("POST", "/requests", json=tasking(aoi=square(1.40, 43.60, 0.06))).json()
    rid = req["request_id"]
    operator.call(
        "POST",
        f"/quotas/{body_member.org}/pleiades-neo/{req['quota_period']}",
        json={"km2": 100, "reason": "dotation"},
    )
    operator.call("POST", f"/requests/{rid}/actions", json={"action": "start_review"})
    assert (
        operator.call("POST", f"/requests/{rid}/actions", json={"action": "approve"}).json()["status"]
        == "approved"
    )
    client = mongo_client(settings)
    try:
        await progress.start_acquisition(
            mongo_orders(client[settings.mongo_database], OrdersSettings()), rid, "SIM-2"
        )
    finally:
        await client.close()
    theirs = catalogue_item(square(1.40, 43.60, 0.06))
    other = catalogue_item(square(1.50, 43.60, 0.06))
    await publisher.publish(ingested(theirs, request_id=rid))
    await publisher.publish(ingested(other))

    def decisions(caller: Caller) -> dict[str, str]:
        r = caller.call("POST", "/access/items", json={"item_ids": [theirs["id"], other["id"]]})
        assert r.status_code == 200, r.text
        return {k: v["code"] for k, v in r.json()["decisions"].items()}

    for _ in range(100):
        if decisions(current)[theirs["id"]] == "contractor":
            break
        await asyncio.sleep(0.2)
    assert decisions(current) == {theirs["id"]: "contractor", other["id"]: "not-licensed"}
    assert decisions(past) == {theirs["id"]: "delegation-expired", other["id"]: "delegation-expired"}
    assert decisions(body_member) == {theirs["id"]: "member", other["id"]: "member"}
    # A contractor of a body that is not an active French public body cannot even apply.
    _, research = new_member_org(keyfile, operator)
    r = Caller(keyfile, uid("ref"), uid("org"), ["referent"], api=API).call(
        "POST",
        "/organisations",
        json=application(
            "Bureau d'études",
            "contractor",
            commissioning_organisation_id=research.org,
            contract_start=now.isoformat(),
            contract_end=(now + timedelta(days=9)).isoformat(),
        ),
    )
    assert r.status_code == 409 and r.json()["code"] == "membership", r.text
    # The body suspended: its contractor loses access at once.
    operator.call(
        "POST", f"/organisations/{body_member.org}/status", json={"status": "suspended", "reason": "audit"}
    )
    assert decisions(current)[theirs["id"]] == "commissioning-inactive"


async def test_outbox_survives_a_crash_before_and_after_publishing(settings):
    """A revision written but never relayed (crash before publish) is published by the next
    relay; a crash after publishing but before marking re-publishes the same CloudEvents id,
    which consumers deduplicate. Nothing is lost; nothing is new downstream."""
    client = mongo_client(settings)
    db = client[settings.mongo_database]
    store = AggregateStore(db, f"outbox_test_{uuid.uuid4().hex[:6]}")
    await store.create_indexes()
    org = uid("org")
    event = OrganisationChangedV1(
        organisation_id=org,
        revision=1,
        name="Org",
        category="french-research",
        status="pending",
        changed_by="u1",
        changed_at=datetime.now(UTC),
    )
    broker = make_broker(settings)
    await broker.start()
    relay = OutboxRelay([store], EventPublisher(broker, "/tests/outbox"))
    try:
        async with EventWatcher(settings.kafka_bootstrap_servers, [OrganisationChangedV1.topic()]) as watcher:
            await store.write(
                org, {"organisation_id": org}, expected_rev=0, by="u1", change="applied", events=[event]
            )
            await asyncio.sleep(1.0)
            assert watcher.events(OrganisationChangedV1, org) == []  # "crashed" before publishing
            assert await relay.relay_once() == 1
            await watcher.wait(lambda: watcher.events(OrganisationChangedV1, org), 30)
            assert await relay.relay_once() == 0  # marked sent: nothing again

            # Second change: the relay publishes, then "crashes" before marking it sent.
            await store.write(
                org,
                {"organisation_id": org, "x": 1},
                expected_rev=1,
                by="u1",
                change="edit",
                events=[event.model_copy(update={"revision": 2})],
            )
            original = store.revisions.update_one

            async def crash(*args, **kwargs):
                raise ConnectionError("killed between publish and mark")

            store.revisions.update_one = crash  # type: ignore[method-assign]
            with pytest.raises(ConnectionError):
                await relay.relay_once()
            store.revisions.update_one = original  # type: ignore[method-assign]
            assert await relay.relay_once() == 1  # published again...
            await watcher.wait(lambda: len(watcher.events(OrganisationChangedV1, org)) >= 3, 30)
            records = [(h, v) for t, h, k, v in watcher.records if k == org.encode()]
        assert [h["rev"] for h in await store.history(org)] == [1, 2]
    finally:
        await broker.stop()
        await client.close()
    ids = [decode(h, v).id for h, v in records]
    revisions = [decode(h, v).event.revision for h, v in records]
    assert revisions == [1, 2, 2]
    assert ids[1] == ids[2] and ids[0] != ids[1]  # ...with the same id: a consumer sees it once
    assert len(set(ids)) == 2


async def test_100_concurrent_approvals_never_overdraw_a_quota(keyfile, operator):
    _referent, member = new_member_org(keyfile, operator)
    rids = []
    for i in range(100):
        r = member.call(
            "POST", "/requests", json=tasking(aoi=square(5.0 + (i % 10) * 0.1, 44.0 + (i // 10) * 0.1, 0.06))
        )
        assert r.status_code == 201, r.text
        rids.append((r.json()["request_id"], r.json()["area_km2"], r.json()["quota_period"]))
        operator.call("POST", f"/requests/{rids[-1][0]}/actions", json={"action": "start_review"})
    largest = max(a for _, a, _ in rids)
    period = rids[0][2]
    # Room for about a third of them.
    allocation = round(sum(sorted(a for _, a, _ in rids)[:33]) + largest / 2, 3)
    r = operator.call(
        "POST",
        f"/quotas/{member.org}/pleiades-neo/{period}",
        json={"km2": allocation, "reason": "dotation T4"},
    )
    assert r.status_code == 200 and r.json()["available_km2"] == allocation, r.text

    async def approve(client: httpx.AsyncClient, rid: str) -> str:
        r = await client.post(
            f"{API}/requests/{rid}/actions", json={"action": "approve"}, headers=operator.headers
        )
        assert r.status_code == 200, r.text
        return r.json()["status"]

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=100)) as client:
        outcomes = await asyncio.gather(*(approve(client, rid) for rid, _, _ in rids))
    approved = [rid for (rid, _, _), s in zip(rids, outcomes, strict=True) if s == "approved"]
    assert set(outcomes) <= {"approved", "needs_cofinancing"}
    reserved = sum(a for rid, a, _ in rids if rid in approved)
    balance = member.call("GET", f"/quotas/{member.org}/pleiades-neo/{period}").json()
    assert balance["reserved_km2"] == pytest.approx(reserved, abs=1e-3)
    assert balance["available_km2"] >= 0 and reserved <= allocation
    assert len(approved) >= 33  # the quota is used, not left idle by the concurrency guard
    assert balance["available_km2"] < largest  # nothing approvable was left unapproved


async def test_outbox_survives_a_killed_process(keyfile, operator, settings, tmp_path):
    """A replica that wrote a state change and was SIGKILLed before publishing: the next
    replica publishes the change's events once, with their stored ids."""
    port = free_port()
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_ORDERS_CATALOG_URL": "http://127.0.0.1:9",
    }
    _, member = new_member_org(keyfile, operator)
    async with EventWatcher(settings.kafka_bootstrap_servers, [OrganisationChangedV1.topic()]) as watcher:
        silent = start_service("orders", port, tmp_path, env={**env, "DINAMIS_ORDERS_OUTBOX_RELAY": "false"})
        try:
            r = httpx.post(
                f"http://127.0.0.1:{port}/v1/organisations/{member.org}/status",
                json={"status": "suspended", "reason": "audit"},
                headers=operator.headers,
                timeout=30,
            )
            assert r.status_code == 200, r.text
        finally:
            silent.kill()  # SIGKILL: no shutdown hook runs
            silent.wait()
        # This module's own orders process relays too: stop it from racing by waiting on
        # the event itself, whichever replica publishes it.
        await watcher.wait(
            lambda: [e for e in watcher.events(OrganisationChangedV1, member.org) if e.status == "suspended"],
            30,
        )
        await asyncio.sleep(3)  # let a second publication, if any, arrive
        suspended = [
            (h["ce_id"], v)
            for t, h, k, v in watcher.records
            if k == member.org.encode() and b'"suspended"' in v
        ]
    assert len({ce_id for ce_id, _ in suspended}) == 1  # one event id: consumers see it once


async def test_relay_publishes_an_aggregates_events_in_revision_order(settings):
    """Revision n's writer died before writing its hint; revision n+1 has one: the relay
    publishes n before n+1, not n+1 now and n at the next sweep."""
    client = mongo_client(settings)
    store = AggregateStore(client[settings.mongo_database], f"order_test_{uuid.uuid4().hex[:6]}")
    org = uid("org")

    def changed(revision: int) -> OrganisationChangedV1:
        return OrganisationChangedV1(
            organisation_id=org,
            revision=revision,
            name="Org",
            category="french-research",
            status="pending",
            changed_by="u1",
            changed_at=datetime.now(UTC),
        )

    broker = make_broker(settings)
    await broker.start()
    try:
        async with EventWatcher(settings.kafka_bootstrap_servers, [OrganisationChangedV1.topic()]) as watcher:
            await store.write(org, {"n": 1}, expected_rev=0, by="u1", change="a", events=[changed(1)])
            await store.outbox.delete_one({"_id": store.revision_id(org, 1)})  # the lost hint
            await store.write(org, {"n": 2}, expected_rev=1, by="u1", change="b", events=[changed(2)])
            relay = OutboxRelay([store], EventPublisher(broker, "/tests/outbox"))
            assert await relay.relay_once() == 2
            events = await watcher.wait(
                lambda: (
                    len(watcher.events(OrganisationChangedV1, org)) >= 2
                    and watcher.events(OrganisationChangedV1, org)
                ),
                30,
            )
    finally:
        await broker.stop()
        await client.close()
    assert [e.revision for e in events] == [1, 2]
