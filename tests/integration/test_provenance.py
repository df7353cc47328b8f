"""Consumers act only on events the orders service issued (`dinamis_shared.provenance`).

The bus's ACLs already refuse a producer that does not own a topic
(test_least_privilege.py). Here the forger holds a principal that may write there (the
tools' `admin`, as a leaked credential would): delivery and notify still ask orders,
with their own client-credentials tokens from Keycloak, whether it issued each event,
and dead-letter what it did not (`not-issued`) — while the real events of the same
flows go through.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from dinamis_shared import clients
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import DeliveryRequestedV1, ProductReadyV1, UserChangedV1
from dinamis_testkit.testing import running_services
from dinamis_testkit.watch import EventWatcher
from tests.integration.identity import keycloak_url
from tests.integration.orders_api import Caller, new_member_org, orders_api, square, uid
from tests.integration.scenes import ingest_scene
from tests.ports import free_ports

pytestmark = pytest.mark.integration

ORDERS, CATALOG, INGEST, DELIVERY, NOTIFY = free_ports(5)
API = f"http://127.0.0.1:{CATALOG}"
VERIFY = f"http://127.0.0.1:{ORDERS}/v1/internal/events/verify"
NOTIFY_DB = f"notify_provenance_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("provenance")
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": f"http://127.0.0.1:{ORDERS}",
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_ORDERS_CATALOG_URL": API,
        "DINAMIS_CATALOG_PUBLIC_URL": API,
        "DINAMIS_DELIVERY_WORK_DIR": str(logs / "work"),
        "DINAMIS_NOTIFY_MONGO_DATABASE": NOTIFY_DB,
    }
    services = (
        ("orders", ORDERS),
        ("catalog", CATALOG),
        ("ingest", INGEST),
        ("delivery", DELIVERY),
        ("notify", NOTIFY),
    )
    with running_services(services, logs, env):
        yield


@pytest.fixture(scope="module")
def operator(keyfile, services):
    return Caller.staff(keyfile, api=orders_api(ORDERS))


def service_token(service: str) -> str:
    """A platform service's own token: client credentials of `service-<service>` (the
    local realm's development secret)."""
    r = httpx.post(
        f"{keycloak_url()}/realms/dinamis/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        auth=(f"service-{service}", f"dinamis-dev-{service}"),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


async def directory_entry(settings, user_id: str) -> dict | None:
    mongo = clients.mongo_client(settings)
    try:
        return await mongo[NOTIFY_DB]["notify_users"].find_one({"_id": user_id})
    finally:
        await mongo.close()


async def wait_for_entry(settings, user_id: str, check, wait_s: float = 60) -> dict:
    import asyncio

    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        entry = await directory_entry(settings, user_id)
        if entry is not None and check(entry):
            return entry
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"notify's directory never showed the expected entry: {entry}")
        await asyncio.sleep(0.3)


async def publish(settings, event, event_id: str | None = None) -> None:
    """As the holder of a principal allowed to write on the topic (a leaked credential)."""
    broker = make_broker(settings)
    await broker.connect()
    try:
        await EventPublisher(broker, "/forger").publish(event, event_id=event_id)
    finally:
        await broker.stop()


async def test_only_service_clients_may_ask_and_only_issued_events_are_confirmed(settings, keyfile, operator):
    topic = UserChangedV1.topic()
    async with EventWatcher(settings.kafka_bootstrap_servers, [topic]) as watcher:
        _, member = new_member_org(keyfile, operator)
        await watcher.wait(lambda: watcher.events(UserChangedV1, member.user), 30)
    (_, headers, _, value), *_ = [r for r in watcher.records if r[2] == member.user.encode()]
    real = {"id": headers["ce_id"], "type": headers["ce_type"], "data": json.loads(value)}
    notify = {"Authorization": f"Bearer {service_token('notify')}"}

    assert httpx.post(VERIFY, json=real).status_code == 401
    r = httpx.post(VERIFY, json=real, headers=member.headers)  # a user, even a member: no
    assert r.status_code == 403 and r.json()["code"] == "not-a-service", r.text
    r = httpx.post(VERIFY, json=real, headers={"Authorization": f"Bearer {service_token('ingest')}"})
    assert r.status_code == 403 and r.json()["code"] == "not-a-service", r.text  # not a consumer of these

    # Delivery consumes `delivery-requested` only: it may not ask about the directory.
    r = httpx.post(VERIFY, json=real, headers={"Authorization": f"Bearer {service_token('delivery')}"})
    assert r.status_code == 403 and r.json()["code"] == "not-a-consumer", r.text

    r = httpx.post(VERIFY, json=real, headers=notify)
    assert r.status_code == 200 and r.json() == {"issued": True, "id": real["id"]}, r.text
    tampered = [
        {**real, "data": {**real["data"], "email": "attaquant@exemple.com"}},
        {**real, "data": {**real["data"], "revision": 999999}},
        {**real, "id": str(uuid.uuid4())},
        {**real, "type": DeliveryRequestedV1.ce_type()},
        {**real, "data": {**real["data"], "user_id": uid("usr")}},
    ]
    for body in tampered:
        r = httpx.post(VERIFY, json=body, headers=notify)
        assert r.status_code == 404 and r.json()["code"] == "not-issued", (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_a_forged_user_change_never_reaches_notify_directory(settings, keyfile, operator):
    referent, member = new_member_org(keyfile, operator)
    entry = await wait_for_entry(settings, member.user, lambda e: True)
    real_email = entry["email"]
    forged = UserChangedV1(
        user_id=member.user,
        revision=999999,  # would stick for good: notify keeps the highest revision
        organisation_id=member.org,
        email="attaquant@exemple.com",
        display_name="Attaquant",
        roles=["member", "operator"],
        active=True,
        changed_by=referent.user,
        changed_at=datetime.now(UTC),
    )
    topic = UserChangedV1.topic()
    async with EventWatcher(settings.kafka_bootstrap_servers, [topic + ".dlq"]) as watcher:
        await publish(settings, forged)
        (letter,) = await watcher.wait(lambda: watcher.dead_letters(topic, member.user), 60)
    assert letter["dlq_error_code"] == "not-issued", letter
    entry = await directory_entry(settings, member.user)
    assert entry is not None and entry["email"] == real_email and entry["revision"] < 999999
    assert "operator" not in entry["roles"]

    # Nothing is stuck behind it: the referent's real change comes through.
    r = referent.call(
        "PUT",
        f"/organisations/{member.org}/users/{member.user}",
        json={
            "email": real_email,
            "display_name": "Marie Curie",
            "language": "fr",
            "roles": ["member"],
            "active": True,
        },
    )
    assert r.status_code == 200, r.text
    entry = await wait_for_entry(settings, member.user, lambda e: e["display_name"] == "Marie Curie")
    assert entry["email"] == real_email


async def test_delivery_builds_what_orders_issued_and_dead_letters_a_forged_request(
    settings, keyfile, operator, tmp_path
):
    _, member = new_member_org(keyfile, operator)
    item = await ingest_scene(settings, API, tmp_path, 4.85, 45.75, datetime(2026, 6, 1, 10, 30, tzinfo=UTC))
    lon, lat = (item["bbox"][0] + item["bbox"][2]) / 2, (item["bbox"][1] + item["bbox"][3]) / 2
    body = {
        "items": [{"collection": item["collection"], "item_id": item["id"]}],
        "aoi": square(lon - 0.01, lat - 0.01, 0.02),
    }
    topics = [ProductReadyV1.topic(), DeliveryRequestedV1.topic(), DeliveryRequestedV1.topic() + ".dlq"]
    async with EventWatcher(settings.kafka_bootstrap_servers, topics) as watcher:
        r = member.call("POST", "/product-orders", json=body)
        assert r.status_code == 201, r.text
        order_id = r.json()["order_id"]
        (requested,) = await watcher.wait(lambda: watcher.events(DeliveryRequestedV1, order_id), 30)
        await watcher.wait(lambda: watcher.events(ProductReadyV1, order_id), 120)

        # The same request under an order id orders never issued — with a new event id, and
        # with the genuine request's own id (already confirmed once): dead-lettered, not built.
        topic = DeliveryRequestedV1.topic()
        key = order_id.encode()
        (genuine_id,) = [h["ce_id"] for t, h, k, _ in watcher.records if t == topic and k == key]
        for event_id in (None, genuine_id):
            forged = requested.model_copy(update={"order_id": f"ord-{uuid.uuid4().hex[:10]}"})
            assert isinstance(forged, DeliveryRequestedV1)
            await publish(settings, forged, event_id)
            (letter,) = await watcher.wait(lambda f=forged: watcher.dead_letters(topic, f.order_id), 60)
            assert letter["dlq_error_code"] == "not-issued", letter
            assert watcher.events(ProductReadyV1, forged.order_id) == []
