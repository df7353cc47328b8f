"""The request consumer's handling of one record, without Kafka: the deliverer and the
dead-letter writer are fakes; the policy is the platform's `ConsumePolicy`."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace

from aiokafka import ConsumerRecord

from dinamis_delivery.entrypoints.events import GROUP, MAX_ATTEMPTS, TOPIC, RequestConsumer
from dinamis_delivery.settings import DeliverySettings
from dinamis_shared import cloudevents
from dinamis_shared.bus import dead_letter_headers
from dinamis_shared.errors import DinamisError, RetriesExhausted
from dinamis_shared.events import DeliveryRequestedV1
from dinamis_testkit.examples import example_events

REQUEST = next(e for e in example_events() if isinstance(e, DeliveryRequestedV1))


def record(value: bytes | None = None) -> ConsumerRecord:
    wire = cloudevents.encode(REQUEST, source="/unit")
    return ConsumerRecord(
        TOPIC.name, 0, 7, 0, 0, wire.key, wire.value if value is None else value, None, 0, 0,
        [(k, v.encode()) for k, v in wire.headers.items()],
    )  # fmt: skip


class FakeDeliverer:
    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.delivered: list[DeliveryRequestedV1] = []
        self.pool = SimpleNamespace(max_in_flight=4, waiting=0, full=False)

    async def deliver(self, request: DeliveryRequestedV1) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.delivered.append(request)


class FakeDeadLetters:
    def __init__(self) -> None:
        self.letters: list[BaseException] = []

    async def write(self, record: ConsumerRecord, error: BaseException) -> Mapping[str, str]:
        self.letters.append(error)
        return dead_letter_headers(record, error, GROUP)


def consumer(deliverer: FakeDeliverer) -> tuple[RequestConsumer, FakeDeadLetters]:
    resources = SimpleNamespace(broker=None, publisher=None)
    # The consume mechanics alone: provenance has tests of its own (shared/tests).
    c = RequestConsumer(DeliverySettings(verify_event_issuer=False), resources, deliverer)  # type: ignore[arg-type]
    dlq = FakeDeadLetters()
    c.policy.dead_letters = dlq
    return c, dlq


async def test_a_request_is_delivered_after_outages() -> None:
    deliverer = FakeDeliverer(ConnectionError("mongo down"), ConnectionError("mongo down"))
    c, dlq = consumer(deliverer)
    await c._handle(record())
    assert deliverer.delivered == [REQUEST] and dlq.letters == []


async def test_a_malformed_request_is_dead_lettered_without_delivering() -> None:
    deliverer = FakeDeliverer()
    c, dlq = consumer(deliverer)
    await c._handle(record(b"not json"))
    assert deliverer.delivered == [] and [getattr(e, "code", None) for e in dlq.letters] == ["bad-json"]


async def test_a_permanent_error_is_dead_lettered_at_once() -> None:
    deliverer = FakeDeliverer(DinamisError("refused", code="refused"), ValueError("never reached"))
    c, dlq = consumer(deliverer)
    await c._handle(record())
    assert [getattr(e, "code", None) for e in dlq.letters] == ["refused"]
    assert deliverer.errors, "not tried again"


async def test_a_bug_is_dead_lettered_after_max_attempts() -> None:
    deliverer = FakeDeliverer(*[ValueError("bug")] * MAX_ATTEMPTS)
    c, dlq = consumer(deliverer)
    await c._handle(record())
    [error] = dlq.letters
    assert isinstance(error, RetriesExhausted) and f"failed {MAX_ATTEMPTS} times" in str(error)
    assert deliverer.errors == [] and deliverer.delivered == []
