"""Event contracts: every model round-trips through the CloudEvents binding, and every
malformed message is refused with the right error class and a readable reason."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from dinamis_shared import cloudevents
from dinamis_shared.errors import (
    BadJson,
    MissingHeader,
    SchemaViolation,
    UnexpectedEventType,
    UnknownEventType,
)
from dinamis_shared.events import EVENT_MODELS, SceneAcquiredV1, SceneIngestedV1
from dinamis_shared.topics import TOPICS, all_topic_names
from dinamis_testkit.examples import example_events

EXAMPLES = example_events()


def test_one_example_per_event_model():
    assert sorted(type(e).__name__ for e in EXAMPLES) == sorted(m.__name__ for m in EVENT_MODELS)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip_through_cloudevents_binary_mode(event):
    record = cloudevents.encode(event, source="/dinamis/test")
    assert record.topic == f"dinamis.{event.EVENT}.v1"
    assert record.key == event.key().encode()
    assert record.headers["ce_type"] == f"fr.dinamis.{event.EVENT}.v1"
    assert record.headers["ce_specversion"] == "1.0"
    assert record.headers["content-type"] == "application/json"
    # The wire carries bytes: decode what aiokafka would hand a consumer.
    wire_headers = [(k, v.encode()) for k, v in record.headers.items()]
    envelope = cloudevents.decode(wire_headers, record.value, expected=type(event))
    assert envelope.event == event
    assert envelope.id == record.headers["ce_id"]
    assert envelope.subject == event.key()
    assert envelope.trace_id == record.headers["traceparent"].split("-")[1]


def test_trace_id_is_kept_across_hops():
    parent = cloudevents.new_traceparent()
    child = cloudevents.new_traceparent(parent)
    assert cloudevents.trace_id_of(child) == cloudevents.trace_id_of(parent)
    assert child != parent


def _wire(event=None, **header_changes):
    record = cloudevents.encode(event or EXAMPLES[0], source="/dinamis/test")
    headers = {**record.headers, **header_changes}
    return [(k, v.encode()) for k, v in headers.items() if v is not None], record.value


def test_bad_json_is_refused():
    headers, _ = _wire()
    with pytest.raises(BadJson, match="not JSON"):
        cloudevents.decode(headers, b"{not json", expected=SceneAcquiredV1)


def test_non_utf8_value_is_refused_as_bad_json():
    headers, _ = _wire()
    with pytest.raises(BadJson):
        cloudevents.decode(headers, b"\xff\xfe\x00", expected=SceneAcquiredV1)


def test_unknown_type_is_refused():
    headers, value = _wire(ce_type="fr.dinamis.scene-exploded.v1")
    with pytest.raises(UnknownEventType, match="scene-exploded"):
        cloudevents.decode(headers, value)


def test_event_on_the_wrong_topic_is_refused():
    headers, value = _wire()
    with pytest.raises(UnexpectedEventType):
        cloudevents.decode(headers, value, expected=SceneIngestedV1)


def test_missing_ce_headers_are_refused():
    headers, value = _wire(ce_id=None, ce_source=None)
    with pytest.raises(MissingHeader, match="ce_id, ce_source"):
        cloudevents.decode(headers, value)


def test_schema_violation_names_the_field():
    headers, value = _wire()
    doc = json.loads(value)
    doc["mission"] = "not a mission!"
    with pytest.raises(SchemaViolation, match=r"mission: String should match pattern"):
        cloudevents.decode(headers, json.dumps(doc).encode())


def test_unknown_field_is_a_schema_violation():
    headers, value = _wire()
    doc = json.loads(value) | {"misson": "PHR1A"}
    with pytest.raises(SchemaViolation, match="misson: Extra inputs are not permitted"):
        cloudevents.decode(headers, json.dumps(doc).encode())


@pytest.mark.parametrize("path", ["../etc/passwd", "/abs/file.TIF", "a/../../b", "a\\b", "a//b", "./a", ""])
def test_path_traversal_in_checksums_is_refused(path):
    doc = EXAMPLES[0].model_dump(mode="json")
    doc["checksums"] = {path: "ab" * 32}
    with pytest.raises(ValidationError):
        SceneAcquiredV1.model_validate(doc)


def test_unsafe_staging_prefix_is_refused():
    doc = EXAMPLES[0].model_dump(mode="json")
    doc["staging"]["prefix"] = "../archive/"
    with pytest.raises(ValidationError, match="unsafe path"):
        SceneAcquiredV1.model_validate(doc)


def test_naive_datetime_is_refused():
    doc = EXAMPLES[0].model_dump(mode="json")
    doc["delivered_at"] = "2026-06-12T10:31:04"
    with pytest.raises(ValidationError, match="timezone"):
        SceneAcquiredV1.model_validate(doc)


@pytest.mark.parametrize(
    "coords, message",
    [
        ([[[0, 0], [1, 0], [1, 1], [0, 0.5]]], "closed"),
        ([[[0, 0], [1, 0], [0, 0]]], "at least 4"),
        ([[[0, 0], [200, 0], [1, 1], [0, 0]]], "outside lon/lat"),
        ([[["a", 0], [1, 0], [1, 1], ["a", 0]]], "bad position"),
    ],
)
def test_bad_geometries_are_refused(coords, message):
    doc = EXAMPLES[3].model_dump(mode="json")
    doc["aoi"]["coordinates"] = coords
    with pytest.raises(ValidationError, match=message):
        type(EXAMPLES[3]).model_validate(doc)


def test_topic_registry_names_and_dlqs():
    names = all_topic_names()
    assert len(names) == 2 * len(EVENT_MODELS) == len(set(names))
    for name, spec in TOPICS.items():
        assert name.startswith("dinamis.") and name.endswith(".v1")
        assert spec.dlq == name + ".dlq"
        assert spec.key_field in spec.model.model_fields


@pytest.mark.parametrize(
    "value",
    [b"[" * 100_000, b'{"n": ' + b"9" * 5000 + b"}", b"\xff" * 10, b"", b"null" + b" " * (5 * 1024 * 1024)],
    ids=["deep-nesting", "huge-integer", "not-utf8", "empty", "too-large"],
)
def test_hostile_values_are_bad_json_not_crashes(value):
    headers, _ = _wire()
    with pytest.raises(BadJson):
        cloudevents.decode(headers, value, expected=SceneAcquiredV1)


@pytest.mark.parametrize("number", ["Infinity", "NaN", "1e999"])
def test_non_finite_numbers_are_refused(number):
    event = EXAMPLES[3]  # RequestSubmittedV1 has area_km2
    headers, value = _wire(event)
    doc = value.decode().replace('"area_km2":2.9', f'"area_km2":{number}')
    assert number in doc
    with pytest.raises(SchemaViolation, match="area_km2"):
        cloudevents.decode(headers, doc.encode())


def test_boolean_coordinates_are_refused():
    doc = EXAMPLES[3].model_dump(mode="json")
    doc["aoi"]["coordinates"] = [[[True, 0], [1, 0], [1, 1], [True, 0]]]
    with pytest.raises(ValidationError, match="bad position"):
        type(EXAMPLES[3]).model_validate(doc)


def test_key_must_be_the_aggregate_id():
    headers, value = _wire()
    cloudevents.decode(headers, value, key=EXAMPLES[0].key().encode())
    with pytest.raises(SchemaViolation, match="message key"):
        cloudevents.decode(headers, value, key=b"another-scene")
    headers, value = _wire(ce_subject="another-scene")
    with pytest.raises(SchemaViolation, match="ce_subject"):
        cloudevents.decode(headers, value)


def test_duplicated_ce_headers_are_refused():
    headers, value = _wire()
    with pytest.raises(MissingHeader, match="duplicated"):
        cloudevents.decode([*headers, ("ce_type", b"fr.dinamis.product-ready.v1")], value)


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-0x" + "a" * 30 + "-" + "b" * 16 + "-01",
        "00-" + "0" * 32 + "-" + "b" * 16 + "-01",
        "garbage",
        "00-" + "A" * 32 + "-" + "b" * 16 + "-01",
        "00-" + "a" * 32 + "-" + "0" * 16 + "-01",
    ],
)
def test_invalid_traceparent_starts_a_new_trace(traceparent):
    assert cloudevents.trace_id_of(traceparent) is None
    fresh = cloudevents.new_traceparent(traceparent)
    assert cloudevents.trace_id_of(fresh) is not None
