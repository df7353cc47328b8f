"""Hostile Kafka records on every topic a service consumes (the list comes from the
topic registry, `dinamis_shared.topics.CONSUMES`), against the five consuming services
running as their own processes: a value that is not JSON, a JSON array or null, missing
or mistyped fields, over-long and traversal ids, an extra field (the models forbid
them), a key or subject that is not the aggregate id, missing, duplicated or unknown
CloudEvents headers, a foreign content type... Each is dead-lettered to `<topic>.dlq`
by every consumer group of the topic, with the expected `dlq_error_code`, within a
bound — and afterwards valid events on every topic are still handled by every consumer
(the handled counter of each group's `/metrics` moves; the flows' effects are seen:
the catalogue serves the scene, delivery builds the product).

The malformed records are written with the tools' `admin` principal: they never reach
the provenance check (`dinamis_shared.provenance`), decoding fails first. The valid
events of the orders service come from the orders service itself (the API flows), as
delivery and notify act only on events it issued."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import (
    DeliveryRequestedV1,
    Event,
    ProductFailedV1,
    ProductFailureReason,
    ProductReadyV1,
    SceneAcquiredV1,
    StagingLocation,
)
from dinamis_shared.topics import CONSUMES
from dinamis_testkit.testing import running_services
from dinamis_testkit.watch import EventWatcher
from tests.integration.hostile_events import HOSTILE, Hostile, consumers, publish_raw
from tests.integration.orders_api import FIELD, Caller, new_member_org, orders_api, square, tasking, uid
from tests.integration.scenes import ingest_scene
from tests.ports import free_ports

pytestmark = pytest.mark.integration

ORDERS, CATALOG, INGEST, DELIVERY, NOTIFY = free_ports(5)
PORTS = {"orders": ORDERS, "catalog": CATALOG, "ingest": INGEST, "delivery": DELIVERY, "notify": NOTIFY}
API = f"http://127.0.0.1:{CATALOG}"
CONSUMERS = consumers()
DEAD_LETTER_S = 30.0  # each malformed record is dead-lettered by then, by every consumer
HANDLED_S = 240.0  # the valid flows (a scene ingested, a product built) on two shared cores

CASES = [
    pytest.param(model, hostile, id=f"{model.EVENT}: {hostile.name}")
    for model in sorted(CONSUMERS, key=lambda m: m.EVENT)
    for hostile in HOSTILE
]


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("hostile-events")
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": f"http://127.0.0.1:{ORDERS}",
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_ORDERS_CATALOG_URL": API,
        "DINAMIS_CATALOG_PUBLIC_URL": API,
        "DINAMIS_DELIVERY_WORK_DIR": str(logs / "work"),
        "DINAMIS_NOTIFY_MONGO_DATABASE": f"notify_hostile_{uuid.uuid4().hex[:8]}",
    }
    with running_services(tuple(PORTS.items()), logs, env):
        yield logs


@pytest.fixture(scope="module")
async def dead_letters(settings, services) -> dict[str, tuple[list[dict], float]]:
    """Publish every hostile record at once; for each (by its key): the dead letters
    written for it, and how long after publishing the last consumer's arrived."""
    records, expected = [], {}
    for model in CONSUMERS:
        for hostile in HOSTILE:
            key = f"hk-{uuid.uuid4().hex[:12]}"
            records.append((model.topic(), hostile.build(model, key)))
            expected[(model, hostile.name)] = key
    dlqs = sorted({model.topic() + ".dlq" for model in CONSUMERS})
    async with EventWatcher(settings.kafka_bootstrap_servers, dlqs) as watcher:
        started = time.monotonic()
        await publish_raw(settings, records)
        arrived: dict[str, float] = {}

        def all_in() -> bool:
            for (model, _), key in expected.items():
                if key not in arrived and len(watcher.dead_letters(model.topic(), key)) >= len(
                    CONSUMERS[model]
                ):
                    arrived[key] = time.monotonic() - started
            return len(arrived) == len(expected)

        try:
            await watcher.wait(all_in, DEAD_LETTER_S * 2)
        except TimeoutError:
            pass  # each case reports what it is missing
    return {
        f"{model.EVENT}: {name}": (watcher.dead_letters(model.topic(), key), arrived.get(key, float("inf")))
        for (model, name), key in expected.items()
    }


def test_every_consumed_topic_is_in_the_corpus():
    consumed = {m.topic() for m in CONSUMERS}
    assert consumed == {m.topic() for models in CONSUMES.values() for m in models}
    assert len(CASES) == len(consumed) * len(HOSTILE) >= 200


@pytest.mark.parametrize(("model", "hostile"), CASES)
def test_malformed_record_is_dead_lettered_by_every_consumer(
    dead_letters, model: type[Event], hostile: Hostile
):
    letters, seconds = dead_letters[f"{model.EVENT}: {hostile.name}"]
    groups = CONSUMERS[model]
    assert {h["dlq_consumer_group"] for h in letters} == groups, letters
    assert len(letters) == len(groups), f"dead-lettered more than once: {letters}"
    for letter in letters:
        assert (letter["dlq_error_code"], letter["dlq_original_topic"]) == (hostile.code, model.topic()), (
            letter
        )
        assert letter["dlq_reason"] and letter["dlq_error_class"], letter
    assert seconds < DEAD_LETTER_S, f"dead-lettered after {seconds:.1f} s"


# --- afterwards, valid events are still handled ---------------------------------------


def handled(port: int) -> dict[tuple[str, str], float]:
    """(topic, group) -> events handled so far, from the service's Prometheus metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "dinamis_events_consumed":
            for sample in family.samples:
                labels = sample.labels
                if sample.name.endswith("_total") and labels.get("outcome") == "handled":
                    counts[(labels["topic"], labels["group"])] = sample.value
    return counts


def all_handled() -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for group in {g for gs in CONSUMERS.values() for g in gs}:
        found.update(handled(PORTS[group]))
    return found


async def publish(settings, event: Event) -> None:
    broker = make_broker(settings)
    await broker.connect()
    try:
        await EventPublisher(broker, "/tests/hostile").publish(event)
    finally:
        await broker.stop()


@pytest.fixture(scope="module")
async def after(settings, keyfile, dead_letters, tmp_path_factory) -> tuple[dict, dict]:
    """Once every malformed record is in, valid events on every consumed topic, each from
    its real producer: (handled counts before, handled counts after)."""
    before = await asyncio.to_thread(all_handled)
    api = orders_api(ORDERS)
    operator = Caller.staff(keyfile, api=api)
    # organisation-changed, user-changed
    _, member = await asyncio.to_thread(new_member_org, keyfile, operator)
    # request-submitted, request-updated, request-approved; request-rejected
    approved = member.call("POST", "/requests", json=tasking(aoi=FIELD))
    rejected = member.call("POST", "/requests", json=tasking(aoi=square(3.3, 45.7, 0.06)))
    assert approved.status_code == rejected.status_code == 201, (approved.text, rejected.text)
    period = approved.json()["quota_period"]
    r = operator.call(
        "POST", f"/quotas/{member.org}/pleiades-neo/{period}", json={"km2": 500, "reason": "dotation"}
    )
    assert r.status_code == 200, r.text
    for rid, action in (
        (approved.json()["request_id"], "approve"),
        (rejected.json()["request_id"], "reject"),
    ):
        r = operator.call("POST", f"/requests/{rid}/actions", json={"action": "start_review"})
        assert r.status_code == 200, r.text
        r = operator.call("POST", f"/requests/{rid}/actions", json={"action": action, "reason": "corpus"})
        assert r.status_code == 200 and r.json()["status"] in ("approved", "rejected"), r.text
    # scene-acquired, scene-ingested: a real package through ingest, served by the catalogue
    tmp = tmp_path_factory.mktemp("scene")
    item = await ingest_scene(settings, API, tmp, 4.85, 45.75, datetime(2026, 6, 1, 10, 30, tzinfo=UTC))
    # scene-rejected: a delivery announced with nothing staged
    await publish(
        settings,
        SceneAcquiredV1(
            scene_id=uid("PNEO4-EMPTY"),
            supplier="airbus",
            mission="PNEO4",
            supplier_product_id=uid("empty"),
            staging=StagingLocation(bucket="staging", prefix=f"airbus/{uid('empty')}/"),
            delivered_at=datetime.now(UTC),
        ),
    )
    # delivery-requested, product-ready: the member orders a product of that scene
    lon, lat = (item["bbox"][0] + item["bbox"][2]) / 2, (item["bbox"][1] + item["bbox"][3]) / 2
    topics = [ProductReadyV1.topic(), DeliveryRequestedV1.topic()]
    async with EventWatcher(settings.kafka_bootstrap_servers, topics) as watcher:
        r = member.call(
            "POST",
            "/product-orders",
            json={
                "items": [{"collection": item["collection"], "item_id": item["id"]}],
                "aoi": square(lon - 0.01, lat - 0.01, 0.02),
            },
        )
        assert r.status_code == 201, r.text
        order_id = r.json()["order_id"]
        await watcher.wait(lambda: watcher.events(ProductReadyV1, order_id), HANDLED_S)
    # product-failed: as delivery announces one (it is not an orders event)
    await publish(
        settings,
        ProductFailedV1(
            order_id=order_id,
            product_id=uid("prd"),
            organisation_id=member.org,
            user_id=member.user,
            item_id=item["id"],
            reason_code=ProductFailureReason.SOURCE_UNREADABLE,
            reason="corpus: un produit qui n'a pas pu être fabriqué / a product that could not be built",
        ),
    )
    wanted = {(model.topic(), group) for model, groups in CONSUMERS.items() for group in groups}
    deadline = time.monotonic() + HANDLED_S
    while True:
        now = await asyncio.to_thread(all_handled)
        if all(now.get(k, 0) > before.get(k, 0) for k in wanted) or time.monotonic() > deadline:
            return before, now
        await asyncio.sleep(1)


@pytest.mark.parametrize(
    ("model", "group"),
    [
        pytest.param(model, group, id=f"{model.EVENT} by {group}")
        for model in sorted(CONSUMERS, key=lambda m: m.EVENT)
        for group in sorted(CONSUMERS[model])
    ],
)
def test_valid_events_are_still_handled(after, model: type[Event], group: str):
    before, now = after
    key = (model.topic(), group)
    assert now.get(key, 0) > before.get(key, 0), f"{group} handled no {model.EVENT} after the corpus"
