import json
from datetime import UTC, datetime

from dinamis_notify.service.webhooks import backoff_delay, structured_cloudevent
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.signing import signature, signed_headers, verify
from dinamis_testkit.examples import example_events


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    assert backoff_delay(1, 5, 3600, 0.0) == 2.5 and backoff_delay(1, 5, 3600, 1.0) == 5
    assert backoff_delay(4, 5, 3600, 1.0) == 40
    assert 1800 <= backoff_delay(30, 5, 3600, 0.5) <= 3600


def test_signature_round_trip_and_refusals():
    body = b'{"id":"x"}'
    headers = signed_headers("whsec_s", body, now=1_800_000_000)
    ts, sig = headers["X-Dinamis-Timestamp"], headers["X-Dinamis-Signature"]
    assert sig == signature("whsec_s", ts, body) and sig.startswith("sha256=")
    assert verify("whsec_s", ts, sig, body, now=1_800_000_010)
    assert not verify("whsec_s", ts, sig, body + b" ", now=1_800_000_010)
    assert not verify("other", ts, sig, body, now=1_800_000_010)
    assert not verify("whsec_s", ts, sig, body, now=1_800_000_000 + 301)  # replayed later
    assert not verify("whsec_s", "soon", sig, body)


def test_structured_cloudevent():
    event = example_events()[0]
    envelope = Envelope(
        event, "ce-1", "/dinamis/x", event.ce_type(), datetime(2026, 1, 1, tzinfo=UTC), None, None
    )
    doc = json.loads(structured_cloudevent(envelope))
    assert doc["specversion"] == "1.0" and doc["id"] == "ce-1" and doc["time"] == "2026-01-01T00:00:00Z"
    assert doc["data"] == event.model_dump(mode="json") and "subject" not in doc
