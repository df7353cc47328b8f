"""Hostile Kafka records for the consumers' corpus (test_hostile_events.py): for any
event type, a valid record of it (the testkit's example, keyed by a fresh id) and the
ways a record can be malformed, each with the `dlq_error_code` the consume policy must
dead-letter it with (`dinamis_shared.bus.ConsumePolicy`, `cloudevents.decode`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from dinamis_shared import cloudevents
from dinamis_shared.events import EVENT_MODELS, Event
from dinamis_shared.settings import ServiceSettings
from dinamis_shared.topics import CONSUMES
from dinamis_testkit.examples import example_events

Headers = list[tuple[str, bytes]]
Record = tuple[bytes, bytes, Headers]  # key, value, headers


def consumers() -> dict[type[Event], set[str]]:
    """Every consumed event type and the consumer groups (services) that read it,
    from the topic registry."""
    found: dict[type[Event], set[str]] = {}
    for group, models in CONSUMES.items():
        for model in models:
            found.setdefault(model, set()).add(group)
    return found


def valid(model: type[Event], key: str) -> Record:
    """The testkit's example of `model`, its aggregate id set to `key`, as the bus carries it."""
    example = next(e for e in example_events() if type(e) is model)
    event = example.model_copy(update={model.AGGREGATE: key})
    record = cloudevents.encode(event, source="/tests/hostile")
    return record.key, record.value, [(k, v.encode()) for k, v in record.headers.items()]


def _data(model: type[Event], key: str) -> dict:
    return json.loads(valid(model, key)[1])


def _with_value(value: bytes) -> Callable[[type[Event], str], Record]:
    def build(model: type[Event], key: str) -> Record:
        k, _, headers = valid(model, key)
        return k, value, headers

    return build


def _with_data(change: Callable[[type[Event], dict], dict]) -> Callable[[type[Event], str], Record]:
    def build(model: type[Event], key: str) -> Record:
        k, _, headers = valid(model, key)
        return k, json.dumps(change(model, _data(model, key))).encode(), headers

    return build


def _with_headers(change: Callable[[type[Event], Headers], Headers]) -> Callable[[type[Event], str], Record]:
    def build(model: type[Event], key: str) -> Record:
        k, value, headers = valid(model, key)
        return k, value, change(model, headers)

    return build


def _set(name: str, value: bytes) -> Callable[[type[Event], Headers], Headers]:
    return lambda model, headers: [(k, v) for k, v in headers if k != name] + [(name, value)]


def _drop(*names: str) -> Callable[[type[Event], Headers], Headers]:
    return lambda model, headers: [(k, v) for k, v in headers if k not in names]


def _other_type(model: type[Event], headers: Headers) -> Headers:
    other = next(m for m in EVENT_MODELS if m is not model)
    return _set("ce_type", other.ce_type().encode())(model, headers)


def _mismatched_key(model: type[Event], key: str) -> Record:
    """Keyed `key`, about another aggregate (per-aggregate ordering would break)."""
    _, value, headers = valid(model, key + "-other")
    return key.encode(), value, headers


@dataclass(frozen=True)
class Hostile:
    name: str
    code: str  # the dlq_error_code every consumer must dead-letter it with
    build: Callable[[type[Event], str], Record]


HOSTILE: list[Hostile] = [
    Hostile("value not json", "bad-json", _with_value(b"{oops")),
    Hostile("value empty", "bad-json", _with_value(b"")),
    Hostile("value not utf-8", "bad-json", _with_value(b"\xff\xfe{}")),
    Hostile("value nested 100000 deep", "bad-json", _with_value(b"[" * 100_000 + b"]" * 100_000)),
    Hostile("value a json array", "schema-violation", _with_value(b"[]")),
    Hostile("value json null", "schema-violation", _with_value(b"null")),
    Hostile("value a json number", "schema-violation", _with_value(b"42")),
    Hostile("value an empty object", "schema-violation", _with_value(b"{}")),
    Hostile(
        "aggregate id missing",
        "schema-violation",
        _with_data(lambda model, data: {k: v for k, v in data.items() if k != model.AGGREGATE}),
    ),
    Hostile(
        "aggregate id an operator",
        "schema-violation",
        _with_data(lambda model, data: {**data, model.AGGREGATE: {"$gt": ""}}),
    ),
    Hostile(
        "aggregate id 100 KiB",
        "schema-violation",
        _with_data(lambda model, data: {**data, model.AGGREGATE: "x" * 100_000}),
    ),
    Hostile(
        "aggregate id path traversal",
        "schema-violation",
        _with_data(lambda model, data: {**data, model.AGGREGATE: "../../etc/passwd"}),
    ),
    Hostile("extra field", "schema-violation", _with_data(lambda model, data: {**data, "injected": True})),
    Hostile(
        "every value a string",
        "schema-violation",
        _with_data(lambda model, data: {k: json.dumps(v) for k, v in data.items()}),
    ),
    Hostile("key not the aggregate id", "schema-violation", _mismatched_key),
    Hostile(
        "ce_subject not the aggregate id", "schema-violation", _with_headers(_set("ce_subject", b"other"))
    ),
    Hostile("no headers at all", "missing-header", _with_headers(lambda model, headers: [])),
    Hostile("ce_id missing", "missing-header", _with_headers(_drop("ce_id"))),
    Hostile("ce_type missing", "missing-header", _with_headers(_drop("ce_type"))),
    Hostile("ce_specversion 0.3", "missing-header", _with_headers(_set("ce_specversion", b"0.3"))),
    Hostile(
        "ce_type twice",
        "missing-header",
        _with_headers(lambda model, headers: [*headers, ("ce_type", model.ce_type().encode())]),
    ),
    Hostile("ce_time not a time", "missing-header", _with_headers(_set("ce_time", b"hier soir"))),
    Hostile("ce_type unknown", "unknown-event-type", _with_headers(_set("ce_type", b"fr.dinamis.nope.v1"))),
    Hostile(
        "ce_type not utf-8", "unknown-event-type", _with_headers(_set("ce_type", b"fr.dinamis.\xff\xfe"))
    ),
    Hostile("ce_type of another event", "unexpected-event-type", _with_headers(_other_type)),
    Hostile("content-type xml", "bad-json", _with_headers(_set("content-type", b"application/xml"))),
]


async def publish_raw(settings: ServiceSettings, records: list[tuple[str, Record]]) -> None:
    """Write records as they are (no encoding, no checks) with the tools' principal."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth())
    await producer.start()
    try:
        sent = [
            await producer.send(topic, value=value, key=key, headers=headers)
            for topic, (key, value, headers) in records
        ]
        for done in sent:
            await done
    finally:
        await producer.stop()
