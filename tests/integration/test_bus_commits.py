"""The bus's commits after processing (`OffsetCommitter`) and `publish_many`, on the real
Kafka: a burst is committed to its end without a commit per record, and nothing is ever
committed past a record still being handled."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dinamis_shared.bus import EventPublisher, make_broker, subscribe
from dinamis_shared.events import SceneAcquiredV1
from dinamis_testkit.examples import example_events

SCENE_ACQUIRED = next(e for e in example_events() if isinstance(e, SceneAcquiredV1))
TOPIC = SceneAcquiredV1.topic()


def scene(name: str) -> SceneAcquiredV1:
    return SCENE_ACQUIRED.model_copy(update={"scene_id": name})


async def end_offsets(settings) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth())
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC) or ()]
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


async def new_group_at(settings, offsets: dict[TopicPartition, int]) -> str:
    """A new consumer group whose committed offsets are `offsets` (it skips the history)."""
    group_id = f"test-commits-{uuid.uuid4().hex[:10]}"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        **settings.kafka_auth(),
        group_id=group_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()
    return group_id


async def committed(settings, group_id: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth())
    await admin.start()
    try:
        return {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group_id)).items()}
    finally:
        await admin.close()


async def wait_committed(
    settings, group_id: str, expected: dict[TopicPartition, int], limit_s: float
) -> None:
    for _ in range(int(limit_s / 0.2)):
        got = await committed(settings, group_id)
        if all(got.get(tp) == offset for tp, offset in expected.items()):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"committed {got}, expected {expected}")


async def test_a_burst_is_published_at_once_then_handled_and_committed_to_its_end(settings):
    start = await end_offsets(settings)
    group_id = await new_group_at(settings, start)
    tag = uuid.uuid4().hex[:8]
    events = [scene(f"burst-{tag}-{i:03d}") for i in range(300)]
    seen: dict[str, int] = {}
    all_seen = asyncio.Event()

    async def handle(envelope):
        seen[envelope.id] = seen.get(envelope.id, 0) + 1
        if len(seen) == len(events):
            all_seen.set()

    broker = make_broker(settings)
    subscribe(broker, group_id, {SceneAcquiredV1: handle})
    await broker.start()
    try:
        records = await EventPublisher(broker, "/dinamis/test").publish_many(events)
        end = await end_offsets(settings)
        # Every event acknowledged is on the topic: 300 more records, nobody else writes here.
        assert sum(end.values()) - sum(start.values()) == 300
        assert [r.key.decode() for r in records] == [e.scene_id for e in events]
        await asyncio.wait_for(all_seen.wait(), 60)
        await wait_committed(settings, group_id, end, 30)
    finally:
        await broker.stop()
    assert set(seen) == {r.headers["ce_id"] for r in records}
    assert set(seen.values()) == {1}  # each handled once (no rebalance, no retry here)


async def test_nothing_is_committed_past_a_record_being_handled(settings):
    tag = uuid.uuid4().hex[:8]
    # One key: one partition, in this order.
    first, slow, last = (
        SCENE_ACQUIRED.model_copy(update={"acquisition_request_id": f"req-{tag}-{i}"}) for i in range(3)
    )
    start = await end_offsets(settings)
    group_id = await new_group_at(settings, start)
    release = asyncio.Event()
    in_slow = asyncio.Event()
    handled: list[str] = []

    async def handle(envelope):
        request = envelope.event.acquisition_request_id
        if not request or tag not in request:
            return
        if request == slow.acquisition_request_id:
            in_slow.set()
            await release.wait()
        handled.append(request)

    broker = make_broker(settings)
    subscribe(broker, group_id, {SceneAcquiredV1: handle})
    await broker.start()
    try:
        await EventPublisher(broker, "/dinamis/test").publish_many([first, slow, last])
        end = await end_offsets(settings)
        (tp,) = [tp for tp in end if end[tp] != start[tp]]
        assert end[tp] - start[tp] == 3
        await asyncio.wait_for(in_slow.wait(), 60)
        # `first` handled: committed up to `slow` (its offset), never beyond while it runs.
        await wait_committed(settings, group_id, {tp: start[tp] + 1}, 30)
        await asyncio.sleep(1.5)
        assert (await committed(settings, group_id))[tp] == start[tp] + 1
        assert handled == [first.acquisition_request_id]
        release.set()
        await wait_committed(settings, group_id, {tp: start[tp] + 3}, 30)
    finally:
        release.set()
        await broker.stop()
    assert handled == [r.acquisition_request_id for r in (first, slow, last)]
