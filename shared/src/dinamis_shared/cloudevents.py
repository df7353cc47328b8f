"""CloudEvents 1.0 Kafka protocol binding, *binary* content mode.

The event attributes travel as `ce_*` headers, the data (the pydantic model as JSON)
is the message value, `content-type` says `application/json`, and the W3C
`traceparent` header carries the trace. The Kafka key is the event's aggregate id
(the CloudEvents Kafka binding's `partitionkey`).
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from dinamis_shared.errors import (
    BadJson,
    MissingHeader,
    SchemaViolation,
    UnexpectedEventType,
    UnknownEventType,
)
from dinamis_shared.events import Event
from dinamis_shared.topics import BY_CE_TYPE

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
REQUIRED = ("ce_specversion", "ce_id", "ce_source", "ce_type")
MAX_VALUE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class KafkaRecord:
    """What goes on the wire: key, value and headers (str values, UTF-8 on the wire)."""

    topic: str
    key: bytes
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Envelope:
    """A decoded event with its CloudEvents attributes and trace context."""

    event: Event
    id: str
    source: str
    type: str
    time: datetime | None
    subject: str | None
    traceparent: str | None

    @property
    def trace_id(self) -> str | None:
        return trace_id_of(self.traceparent)


def new_traceparent(parent: str | None = None) -> str:
    """A W3C traceparent: keep the parent's trace id when there is one, new span id."""
    trace = trace_id_of(parent) or secrets.token_hex(16)
    return f"00-{trace}-{secrets.token_hex(8)}-01"


_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a valid W3C traceparent; None for anything else (a new trace starts)."""
    m = _TRACEPARENT.match(traceparent or "")
    if not m or m.group(1) == "0" * 32 or m.group(2) == "0" * 16:
        return None
    return m.group(1)


def encode(
    event: Event,
    *,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
    traceparent: str | None = None,
) -> KafkaRecord:
    """Bind an event to a Kafka record (binary mode)."""
    time = time or datetime.now(UTC)
    headers = {
        "ce_specversion": SPECVERSION,
        "ce_id": event_id or str(uuid.uuid4()),
        "ce_source": source,
        "ce_type": event.ce_type(),
        "ce_time": time.isoformat().replace("+00:00", "Z"),
        "ce_subject": event.key(),
        "content-type": CONTENT_TYPE,
        "traceparent": traceparent or new_traceparent(),
    }
    return KafkaRecord(
        topic=event.topic(),
        key=event.key().encode(),
        value=event.model_dump_json().encode(),
        headers=headers,
    )


def headers_to_dict(headers: Iterable[tuple[str, bytes]] | Mapping[str, str]) -> dict[str, str]:
    """Normalise Kafka headers (aiokafka gives a list of (str, bytes)) to a str dict.

    Undecodable bytes are kept readable (replacement chars) so a dead-letter record
    can still show them; they never pass validation.
    """
    if isinstance(headers, Mapping):
        return {
            k: v if isinstance(v, str) else bytes(v).decode("utf-8", "replace") for k, v in headers.items()
        }
    return {k: (v or b"").decode("utf-8", "replace") for k, v in headers}


def decode(
    headers: Iterable[tuple[str, bytes]] | Mapping[str, str],
    value: bytes | None,
    *,
    expected: type[Event] | None = None,
    key: bytes | None = None,
) -> Envelope:
    """Decode a Kafka record into an Envelope, or raise a MalformedEvent subclass.

    With `key`, the record's key must be the event's aggregate id (per-aggregate
    ordering depends on it)."""
    if not isinstance(headers, Mapping):
        headers = list(headers)
        names = [name for name, _ in headers if name.startswith("ce_")]
        if len(names) != len(set(names)):
            raise MissingHeader(
                f"duplicated CloudEvents header(s): {sorted(set(n for n in names if names.count(n) > 1))}"
            )
    h = headers_to_dict(headers)
    missing = [name for name in REQUIRED if not h.get(name)]
    if missing:
        raise MissingHeader(f"missing CloudEvents header(s): {', '.join(missing)}")
    if h["ce_specversion"] != SPECVERSION:
        raise MissingHeader(f"unsupported ce_specversion {h['ce_specversion']!r}, expected 1.0")
    ce_type = h["ce_type"]
    model = BY_CE_TYPE.get(ce_type)
    if model is None:
        raise UnknownEventType(f"unknown event type {ce_type!r}")
    if expected is not None and model is not expected:
        raise UnexpectedEventType(
            f"event type {ce_type!r} does not belong on this topic (expects {expected.ce_type()!r})"
        )
    content_type = h.get("content-type") or CONTENT_TYPE
    if content_type.split(";")[0].strip() != CONTENT_TYPE:
        raise BadJson(f"unsupported content-type {content_type!r}, expected {CONTENT_TYPE}")
    if not value:
        raise BadJson("empty message value")
    if len(value) > MAX_VALUE_BYTES:
        raise BadJson(f"value of {len(value)} bytes exceeds {MAX_VALUE_BYTES}")
    try:
        data = json.loads(value)
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, absurd nesting or numbers
        raise BadJson(f"value is not JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    try:
        event = model.model_validate(data)
    except ValidationError as exc:
        raise SchemaViolation(f"{ce_type}: {_summarise(exc)}") from None
    if key is not None and key != event.key().encode():
        raise SchemaViolation(
            f"message key {key[:100]!r} is not the event's {model.AGGREGATE} {event.key()!r}"
        )
    if h.get("ce_subject") not in (None, event.key()):
        raise SchemaViolation(f"ce_subject {h['ce_subject'][:100]!r} is not the event's {model.AGGREGATE}")
    time = None
    if h.get("ce_time"):
        try:
            time = datetime.fromisoformat(h["ce_time"].replace("Z", "+00:00"))
        except ValueError:
            raise MissingHeader(f"ce_time {h['ce_time']!r} is not an RFC 3339 time") from None
    return Envelope(
        event=event,
        id=h["ce_id"],
        source=h["ce_source"],
        type=ce_type,
        time=time,
        subject=h.get("ce_subject"),
        traceparent=h.get("traceparent"),
    )


def _summarise(exc: ValidationError, limit: int = 10) -> str:
    """A readable one-line summary of a pydantic error: `field.path: message; ...`."""
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)
