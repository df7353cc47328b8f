"""Kafka through the shared broker factory: publish, consume, commit after the
work is done, dead-letter what can never succeed, retry what can."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import sys
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dinamis_shared import cloudevents
from dinamis_shared.bus import EventPublisher, make_broker, subscribe
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import SceneAcquiredV1
from dinamis_shared.topics import all_topic_names
from dinamis_testkit.examples import example_events

SCENE_ACQUIRED = next(e for e in example_events() if isinstance(e, SceneAcquiredV1))
TOPIC = SceneAcquiredV1.topic()
PROC = Path(__file__).with_name("consumer_proc.py")


def group() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def consuming(settings, group_id, handler):
    broker = make_broker(settings)
    subscribe(broker, group_id, {SceneAcquiredV1: handler}, retry_cap_s=0.5)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


async def test_publish_and_consume_through_the_broker_factory(settings):
    got: asyncio.Queue = asyncio.Queue()
    event = SCENE_ACQUIRED.model_copy(update={"scene_id": f"scene-{uuid.uuid4().hex[:8]}"})

    async def handle(envelope):
        if envelope.event.scene_id == event.scene_id:
            await got.put(envelope)

    async with consuming(settings, group(), handle) as broker:
        record = await EventPublisher(broker, "/dinamis/test").publish(event)
        envelope = await asyncio.wait_for(got.get(), 30)
    assert envelope.event == event
    assert envelope.id == record.headers["ce_id"]
    assert envelope.source == "/dinamis/test"
    assert envelope.traceparent == record.headers["traceparent"]


async def start_at_end(settings, group_id: str, topics: list[str]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        **settings.kafka_auth(),
        group_id=group_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        await consumer.commit({tp: offset for tp, offset in ends.items()})
    finally:
        await consumer.stop()


async def test_every_event_model_round_trips_through_kafka(settings):
    """Each example event, published to its topic, comes back equal, with its key."""
    from dinamis_shared.events import EVENT_MODELS

    tag = uuid.uuid4().hex[:8]
    sent = {}
    got: dict[str, cloudevents.Envelope] = {}
    done = asyncio.Event()

    async def handle(envelope):
        if envelope.id in sent:
            got[envelope.id] = envelope
            if len(got) == len(sent):
                done.set()

    broker = make_broker(settings)
    group_id = f"test-roundtrip-{tag}"
    # A new group starts at the earliest offset: skip the topics' history (a developer's
    # stack holds thousands of events) so that only this test's events are read.
    await start_at_end(settings, group_id, [m.topic() for m in EVENT_MODELS])
    subscribe(broker, group_id, {m: handle for m in EVENT_MODELS})
    await broker.start()
    try:
        publisher = EventPublisher(broker, "/dinamis/test")
        for event in example_events():
            record = await publisher.publish(event)
            sent[record.headers["ce_id"]] = (event, record)
        await asyncio.wait_for(done.wait(), 60)
    finally:
        await broker.stop()
    for ce_id, (event, record) in sent.items():
        assert got[ce_id].event == event
        assert got[ce_id].type == event.ce_type()
        assert got[ce_id].subject == event.key() == record.key.decode()


async def _publish(settings, event) -> str:
    broker = make_broker(settings)
    await broker.connect()
    try:
        record = await EventPublisher(broker, "/dinamis/test").publish(event)
    finally:
        await broker.stop()
    return record.headers["ce_id"]


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    await consumer._client.force_metadata_update()  # the public topics() leaves the cache as is
    return [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]


async def _committed_everything(settings, group_id: str) -> bool:
    """True when the group's committed offsets reach the end of every partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth())
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth())
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group_id)
        parts = await _partitions(consumer, TOPIC)
        ends = await consumer.end_offsets(parts)
        return all(tp in committed and committed[tp].offset >= ends[tp] for tp in parts)
    finally:
        await consumer.stop()
        await admin.close()


async def _run_consumer(settings, group_id: str, ce_id: str, mode: str, wait_s: float) -> tuple[int, str]:
    """Run consumer_proc.py; in "ok" mode, once it handled the event, wait until the
    group committed it, then stop the process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",  # no script directory on sys.path: a module here must not shadow the stdlib
        str(PROC),
        group_id,
        ce_id,
        mode,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    lines: list[str] = []

    async def read() -> None:
        async for line in proc.stdout:
            lines.append(line.decode().strip())
            if line.startswith(b"GOT") and mode == "ok":
                while not await _committed_everything(settings, group_id):
                    await asyncio.sleep(0.5)
                lines.append("COMMITTED")
                return

    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(read(), wait_s)
    finally:
        if mode == "ok" or not proc.stdout.at_eof():
            proc.kill()
        code = await asyncio.wait_for(proc.wait(), 30)
    return code, "\n".join(lines)


async def test_consumer_killed_before_commit_gets_the_message_again(settings):
    ce_id = await _publish(settings, SCENE_ACQUIRED)
    group_id = group()
    code, out = await _run_consumer(settings, group_id, ce_id, "crash", 60)
    assert code == 3 and f"GOT {ce_id}" in out, out
    # Same group, new process: the uncommitted message comes back, and once handled
    # the group commits it.
    code, out = await _run_consumer(settings, group_id, ce_id, "ok", 60)
    assert f"GOT {ce_id}" in out, f"message not redelivered after a crash:\n{out}"
    assert "COMMITTED" in out, out
    # Committed: a third consumer of the group does not see it again. It runs until
    # it handled a marker published after it, so "not seen" means something.
    marker = await _publish(settings, SCENE_ACQUIRED)
    code, out = await _run_consumer(settings, group_id, marker, "ok", 60)
    assert f"GOT {marker}" in out, out
    assert f"SEEN {ce_id}" not in out, f"committed message delivered again:\n{out}"


async def _dead_letters(settings, group_id: str, expected: int) -> list:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth(), enable_auto_commit=False
    )
    await consumer.start()
    try:
        dlq = SceneAcquiredV1.topic() + ".dlq"
        parts = await _partitions(consumer, dlq)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found = []
        while any([await consumer.position(tp) < ends[tp] for tp in parts]):
            batch = await consumer.getmany(timeout_ms=2000)
            for records in batch.values():
                for r in records:
                    h = cloudevents.headers_to_dict(r.headers)
                    if h.get("dlq_consumer_group") == group_id:
                        found.append((r, h))
        return found
    finally:
        await consumer.stop()


async def test_malformed_messages_are_dead_lettered_and_the_consumer_keeps_going(settings):
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth(), acks="all"
    )
    await producer.start()
    good = cloudevents.encode(SCENE_ACQUIRED, source="/dinamis/test")
    h = {k: v.encode() for k, v in good.headers.items()}
    bad_schema = good.value.replace(b'"PNEO4"', b'"PNEO 4 /../"')
    run = uuid.uuid4().hex[:8]  # the new group also reads older runs' messages
    cases = {
        "bad-json": ({**h, "ce_id": f"bad-json-{run}".encode()}, b'{"scene_id": '),
        "unknown-event-type": (
            {**h, "ce_id": f"unknown-{run}".encode(), "ce_type": b"fr.dinamis.scene-teleported.v1"},
            good.value,
        ),
        "schema-violation": ({**h, "ce_id": f"schema-{run}".encode()}, bad_schema),
        "missing-header": (
            {k: v for k, v in h.items() if k != "ce_type"} | {"ce_id": f"noheader-{run}".encode()},
            good.value,
        ),
        "bad-json-hostile-header": (
            {**h, "ce_id": f"hostile-{run}".encode(), "x-evil": b"\xff\xfe"},
            b"\xff" * 10,
        ),
    }
    try:
        for hdrs, value in cases.values():
            await producer.send_and_wait(TOPIC, value, key=good.key, headers=list(hdrs.items()))
        # Same key, so same partition, after the bad ones: seeing it proves the
        # consumer went past all of them.
        await producer.send_and_wait(TOPIC, good.value, key=good.key, headers=list(h.items()))
    finally:
        await producer.stop()

    group_id = group()
    seen_good = asyncio.Event()

    async def handle(envelope):
        if envelope.id == good.headers["ce_id"]:
            seen_good.set()

    async with consuming(settings, group_id, handle):
        await asyncio.wait_for(seen_good.wait(), 60)
    letters = await _dead_letters(settings, group_id, len(cases))
    by_id = {
        h.get("ce_id", "").removesuffix(f"-{run}"): (r, h)
        for r, h in letters
        if h.get("ce_id", "").endswith(run)
    }
    expected = {
        "bad-json": "bad-json",
        "unknown": "unknown-event-type",
        "schema": "schema-violation",
        "noheader": "missing-header",
        "hostile": "bad-json",
    }
    for ce_id, code in expected.items():
        assert ce_id in by_id, f"{ce_id} not dead-lettered; got {sorted(by_id)}"
        record, headers = by_id[ce_id]
        assert headers["dlq_error_code"] == code
        assert headers["dlq_original_topic"] == TOPIC
        assert headers["dlq_reason"], "a dead letter must say why"
        assert record.key == good.key
    assert "mission" in by_id["schema"][1]["dlq_reason"]
    assert by_id["bad-json"][0].value == b'{"scene_id": '  # original bytes kept
    hostile = by_id["hostile"][1]  # a non-UTF-8 header is kept losslessly, in base64
    assert hostile["dlq_base64_headers"] == "x-evil"
    assert base64.b64decode(hostile["x-evil"]) == b"\xff\xfe"
    assert good.headers["ce_id"] not in by_id


async def test_transient_failure_is_retried_and_permanent_failure_dead_lettered(settings):
    transient = SCENE_ACQUIRED.model_copy(update={"scene_id": f"flaky-{uuid.uuid4().hex[:6]}"})
    permanent = SCENE_ACQUIRED.model_copy(update={"scene_id": f"poison-{uuid.uuid4().hex[:6]}"})
    buggy = SCENE_ACQUIRED.model_copy(update={"scene_id": f"buggy-{uuid.uuid4().hex[:6]}"})
    attempts: dict[str, int] = {}
    done = asyncio.Event()

    async def handle(envelope):
        sid = envelope.event.scene_id
        if sid not in (transient.scene_id, permanent.scene_id, buggy.scene_id):
            return
        attempts[sid] = attempts.get(sid, 0) + 1
        if sid == buggy.scene_id:
            raise KeyError("a bug, not an outage")
        if sid == permanent.scene_id:
            raise DinamisError("staging package is not a DIMAP product", code="invalid-metadata")
        if attempts[sid] < 3:
            raise ConnectionError("object store unreachable")
        done.set()

    group_id = group()
    async with consuming(settings, group_id, handle) as broker:
        publisher = EventPublisher(broker, "/dinamis/test")
        await publisher.publish(permanent)
        await publisher.publish(buggy)
        await publisher.publish(transient)
        await asyncio.wait_for(done.wait(), 60)
        for _ in range(120):  # the buggy one is tried 5 times with backoff, then dead-lettered
            if attempts.get(buggy.scene_id, 0) >= 5:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1)
    assert attempts[transient.scene_id] == 3  # an outage: retried until it works
    assert attempts[permanent.scene_id] == 1  # a permanent error: dead-lettered at once
    assert attempts[buggy.scene_id] == 5  # an unexpected error: 5 tries, then dead-lettered
    letters = await _dead_letters(settings, group_id, 1)
    ours = (permanent.scene_id, transient.scene_id, buggy.scene_id)  # the group reads older messages too
    codes = {h["ce_subject"]: h["dlq_error_code"] for _, h in letters if h.get("ce_subject") in ours}
    assert codes == {permanent.scene_id: "invalid-metadata", buggy.scene_id: "retries-exhausted"}


async def test_every_registry_topic_exists_with_the_configured_partitions(settings):
    expected = int(os.environ.get("DINAMIS_KAFKA_PARTITIONS", "6"))
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth())
    await consumer.start()
    try:
        existing = await consumer.topics()
        for name in all_topic_names():
            assert name in existing, f"topic {name} missing"
            assert len(await _partitions(consumer, name)) == expected, name
    finally:
        await consumer.stop()
