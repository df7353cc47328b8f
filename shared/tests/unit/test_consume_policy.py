"""The consume policy without a broker: a fake dead-letter writer records what would go
to `<topic>.dlq`; handlers fail on purpose."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from dinamis_shared import cloudevents
from dinamis_shared.bus import CONSUMED, ConsumePolicy, KafkaDeadLetters, Outcome, dead_letter_headers
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.errors import DinamisError, RetriesExhausted
from dinamis_shared.events import SceneAcquiredV1, StagingLocation
from dinamis_shared.retry import Backoff

GROUP = "unit-policy"
EVENT = SceneAcquiredV1(
    scene_id="PNEO4-20260612-0001",
    supplier="airbus",
    mission="PNEO4",
    supplier_product_id="5881313101",
    staging=StagingLocation(bucket="staging", prefix="airbus/PNEO4-20260612-0001/"),
    checksums={"IMG.TIF": "ab" * 32},
    announced_size_bytes=1024,
    delivered_at=datetime(2026, 6, 12, tzinfo=UTC),
)
TOPIC = SceneAcquiredV1.topic()


def record(offset: int = 0, *, value: bytes | None = None, headers: list | None = None) -> ConsumerRecord:
    wire = cloudevents.encode(EVENT, source="/unit")
    raw = [(k, v.encode()) for k, v in wire.headers.items()] if headers is None else headers
    return ConsumerRecord(
        topic=TOPIC,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=wire.key,
        value=wire.value if value is None else value,
        checksum=None,
        serialized_key_size=len(wire.key),
        serialized_value_size=len(wire.value),
        headers=raw,
    )


class FakeDeadLetters:
    def __init__(self, fail: int = 0) -> None:
        self.letters: list[tuple[ConsumerRecord, BaseException]] = []
        self.fail = fail

    async def write(self, record: ConsumerRecord, error: BaseException) -> Mapping[str, str]:
        if self.fail:
            self.fail -= 1
            raise KafkaConnectionError("dlq unreachable")
        self.letters.append((record, error))
        return dead_letter_headers(record, error, GROUP)


class Handler:
    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls: list[Envelope] = []

    async def __call__(self, envelope: Envelope) -> None:
        self.calls.append(envelope)
        if self.errors:
            raise self.errors.pop(0)


def policy(handler: Handler, dlq: FakeDeadLetters, max_attempts: int = 5) -> ConsumePolicy:
    return ConsumePolicy(GROUP, {SceneAcquiredV1: handler}, dlq, max_attempts=max_attempts)


def count(outcome: Outcome) -> float:
    return CONSUMED.labels(TOPIC, GROUP, outcome.value)._value.get()


async def test_a_good_record_is_handled_with_its_event() -> None:
    handler, dlq = Handler(), FakeDeadLetters()
    before = count(Outcome.HANDLED)
    verdict = await policy(handler, dlq).handle(record())
    assert verdict.outcome is Outcome.HANDLED
    assert handler.calls[0].event == EVENT
    assert dlq.letters == []
    assert count(Outcome.HANDLED) == before + 1


@pytest.mark.parametrize(
    ("value", "code"),
    [(b"{not json", "bad-json"), (b"", "bad-json"), (b'{"scene_id": 1}', "schema-violation")],
)
async def test_an_undecodable_record_is_dead_lettered_without_calling_the_handler(
    value: bytes, code: str
) -> None:
    handler, dlq = Handler(), FakeDeadLetters()
    before = count(Outcome.DEAD_LETTERED)
    verdict = await policy(handler, dlq).handle(record(value=value))
    assert verdict.outcome is Outcome.DEAD_LETTERED
    assert handler.calls == []
    [(_, error)] = dlq.letters
    assert getattr(error, "code", None) == code
    assert count(Outcome.DEAD_LETTERED) == before + 1


async def test_missing_headers_are_dead_lettered() -> None:
    dlq = FakeDeadLetters()
    verdict = await policy(Handler(), dlq).handle(record(headers=[("x-evil", b"\xff")]))
    assert verdict.outcome is Outcome.DEAD_LETTERED
    assert getattr(dlq.letters[0][1], "code", None) == "missing-header"


async def test_a_permanent_error_is_dead_lettered_at_once() -> None:
    refused = DinamisError("bad input", code="refused")
    handler, dlq = Handler(refused), FakeDeadLetters()
    verdict = await policy(handler, dlq).handle(record())
    assert verdict.outcome is Outcome.DEAD_LETTERED
    assert len(handler.calls) == 1
    assert dlq.letters[0][1] is refused


async def test_an_outage_is_retried_without_limit() -> None:
    handler, dlq = Handler(*[ConnectionError("down")] * 20), FakeDeadLetters()
    p = policy(handler, dlq, max_attempts=3)
    before = count(Outcome.RETRY)
    outcomes = [(await p.handle(record())).outcome for _ in range(21)]
    assert outcomes == [Outcome.RETRY] * 20 + [Outcome.HANDLED]
    assert dlq.letters == []
    assert count(Outcome.RETRY) == before + 20
    assert p.failures == {}


async def test_an_unexpected_error_is_dead_lettered_at_the_nth_failure() -> None:
    handler, dlq = Handler(*[ValueError("bug")] * 10), FakeDeadLetters()
    p = policy(handler, dlq, max_attempts=3)
    outcomes = [(await p.handle(record())).outcome for _ in range(3)]
    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.DEAD_LETTERED]
    error = dlq.letters[0][1]
    assert isinstance(error, RetriesExhausted) and "failed 3 times" in str(error) and "bug" in str(error)
    assert p.failures == {}


async def test_failures_are_counted_per_record() -> None:
    handler, dlq = Handler(ValueError("a"), ValueError("b"), ValueError("c")), FakeDeadLetters()
    p = policy(handler, dlq, max_attempts=2)
    assert (await p.handle(record(offset=1))).outcome is Outcome.RETRY
    assert (await p.handle(record(offset=2))).outcome is Outcome.RETRY
    assert (await p.handle(record(offset=1))).outcome is Outcome.DEAD_LETTERED
    assert p.failures == {(TOPIC, 0, 2): 1}


async def test_outages_do_not_count_towards_the_attempts() -> None:
    errors = [ValueError("bug"), ConnectionError("down"), ConnectionError("down"), ValueError("bug")]
    handler, dlq = Handler(*errors), FakeDeadLetters()
    p = policy(handler, dlq, max_attempts=3)
    outcomes = [(await p.handle(record())).outcome for _ in range(5)]
    assert outcomes == [Outcome.RETRY] * 4 + [Outcome.HANDLED]
    assert dlq.letters == []


async def test_a_failed_dead_letter_write_is_retried() -> None:
    dlq = FakeDeadLetters(fail=1)
    p = policy(Handler(), dlq)
    first = await p.handle(record(value=b"{"))
    assert first.outcome is Outcome.RETRY and isinstance(first.error, KafkaConnectionError)
    assert (await p.handle(record(value=b"{"))).outcome is Outcome.DEAD_LETTERED
    assert len(dlq.letters) == 1


class FakeBroker:
    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.published: list[tuple[bytes, str, dict]] = []

    async def publish(self, value: bytes, *, topic: str, key: bytes | None, headers: dict) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.published.append((value, topic, dict(headers)))


async def test_kafka_dead_letters_keep_the_record_and_say_why() -> None:
    broker = FakeBroker()
    headers = await KafkaDeadLetters(broker, GROUP).write(record(), DinamisError("no", code="nope"))
    [(value, topic, sent)] = broker.published
    assert topic == TOPIC + ".dlq" and value == record().value and sent == headers
    assert sent["dlq_error_code"] == "nope" and sent["dlq_consumer_group"] == GROUP
    assert sent["ce_type"] == "fr.dinamis.scene-acquired.v1"


async def test_kafka_dead_letters_drop_a_value_too_large() -> None:
    broker = FakeBroker(MessageSizeTooLargeError())
    await KafkaDeadLetters(broker, GROUP).write(record(), DinamisError("no"))
    [(value, _, sent)] = broker.published
    assert value == b"" and sent["dlq_value_dropped"] == str(len(record().value))


async def test_kafka_dead_letters_raise_or_retry_a_failed_write() -> None:
    with pytest.raises(KafkaConnectionError):
        await KafkaDeadLetters(FakeBroker(KafkaConnectionError()), GROUP).write(record(), DinamisError("x"))

    async def no_sleep(_: float) -> None:
        return None

    broker = FakeBroker(KafkaConnectionError(), KafkaConnectionError())
    persistent = KafkaDeadLetters(broker, GROUP, backoff=Backoff(sleep=no_sleep))
    await persistent.write(record(), DinamisError("x"))
    assert len(broker.published) == 1
