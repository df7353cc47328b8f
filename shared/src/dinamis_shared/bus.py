"""Kafka plumbing: the broker factory, publishing events, consuming them safely.

- Producer: `acks=all` and idempotence, so an acknowledged event is on every
  in-sync replica and a retried send is not written twice.
- Consumer: offsets are committed only after the handler returned (its work is
  durable); if the handler raises a transient error the message is not committed,
  the consumer seeks back to it and tries again after a backoff.
- Dead letters: a message that can never succeed (bad JSON, unknown type, schema
  violation, or a handler's permanent `DinamisError`) is written to `<topic>.dlq`
  with its original key, value and headers plus the error's class, code and
  message and the consumer group; then it is committed and the consumer goes on.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.errors import MessageSizeTooLargeError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from prometheus_client import Counter, Histogram

from dinamis_shared import cloudevents
from dinamis_shared.errors import DinamisError, MalformedEvent, RetriesExhausted, is_outage
from dinamis_shared.events import Event
from dinamis_shared.logs import trace_id_var
from dinamis_shared.settings import ServiceSettings
from dinamis_shared.topics import topic_for

log = logging.getLogger(__name__)

EventHandler = Callable[[cloudevents.Envelope], Awaitable[None]]

CONSUMED = Counter(
    "dinamis_events_consumed_total", "Events handled, by outcome", ["topic", "group", "outcome"]
)
HANDLE_SECONDS = Histogram(
    "dinamis_event_handle_seconds", "Time spent in an event handler", ["topic", "group"]
)
PUBLISHED = Counter("dinamis_events_published_total", "Events published", ["topic"])


def make_broker(settings: ServiceSettings, **kwargs: Any) -> KafkaBroker:
    """A FastStream Kafka broker for one service: durable, idempotent producer.

    Topics are created by the stack/deployment from the topic registry, never on
    the fly by a consumer (a typo must not create a topic).
    """
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.client_id,
        acks="all",
        enable_idempotence=True,
        allow_auto_create_topics=False,
        logger=logging.getLogger(f"dinamis.{settings.SERVICE}.kafka"),
        **kwargs,
    )


class EventPublisher:
    """Publishes events as CloudEvents (binary mode) keyed by their aggregate id."""

    def __init__(self, broker: KafkaBroker, source: str) -> None:
        self.broker = broker
        self.source = source

    async def publish(
        self, event: Event, *, event_id: str | None = None, traceparent: str | None = None
    ) -> cloudevents.KafkaRecord:
        """Publish and wait for the broker's acknowledgement (acks=all).

        `event_id` lets an outbox relay re-publish the same event with the same id,
        so consumers can deduplicate.
        """
        if traceparent is None and (current := trace_id_var.get()):
            traceparent = cloudevents.new_traceparent(f"00-{current}-0000000000000000-01")
        record = cloudevents.encode(event, source=self.source, event_id=event_id, traceparent=traceparent)
        await self.broker.publish(record.value, topic=record.topic, key=record.key, headers=record.headers)
        PUBLISHED.labels(record.topic).inc()
        return record


async def _keep_raw_headers(record: ConsumerRecord, original: Callable[..., Any]) -> Any:
    """FastStream's parser decodes header values as UTF-8 and would raise on a
    hostile header, before any handler could dead-letter the message (an endless
    redelivery loop). Keep the raw headers aside and hand it readable ones."""
    record.raw_headers = list(record.headers)  # type: ignore[attr-defined]
    record.headers = [(k, (v or b"").decode("utf-8", "replace").encode()) for k, v in record.headers]
    return await original(record)


async def _raw_body(message: KafkaMessage) -> bytes:
    """Leave the value undecoded: the CloudEvents binding decodes and validates it."""
    return message.body


def dead_letter_headers(record: ConsumerRecord, error: BaseException, group_id: str) -> dict[str, str]:
    """The DLQ record's headers: the original ones plus why and where it failed.

    Header values travel as text; an original value that is not UTF-8 is kept
    losslessly in base64, and its name listed in `dlq_base64_headers`.
    """
    headers: dict[str, str] = {}
    base64_names = []
    for name, value in getattr(record, "raw_headers", record.headers):
        try:
            headers[name] = (value or b"").decode("utf-8")
        except UnicodeDecodeError:
            headers[name] = base64.b64encode(value).decode()
            base64_names.append(name)
    if base64_names:
        headers["dlq_base64_headers"] = ",".join(base64_names)
    headers.update(
        {
            "dlq_error_class": type(error).__name__,
            "dlq_error_code": getattr(error, "code", "error"),
            "dlq_reason": str(error)[:4000],
            "dlq_consumer_group": group_id,
            "dlq_original_topic": record.topic,
            "dlq_original_partition": str(record.partition),
            "dlq_original_offset": str(record.offset),
            "dlq_failed_at": datetime.now(UTC).isoformat(),
        }
    )
    return headers


class _Backoff:
    """Exponential backoff with full jitter for transient failures, per subscriber."""

    def __init__(self, base: float = 0.2, cap: float = 10.0) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    async def wait(self) -> None:
        self.failures += 1
        await asyncio.sleep(random.uniform(0, min(self.cap, self.base * 2**self.failures)))

    def reset(self) -> None:
        self.failures = 0


def subscribe(
    broker: KafkaBroker,
    group_id: str,
    handlers: Mapping[type[Event], EventHandler],
    *,
    retry_cap_s: float = 10.0,
    max_attempts: int = 5,
    **consumer_options: Any,
) -> None:
    """Consume the topics of `handlers`' event types in consumer group `group_id`.

    One Kafka consumer per service replica reads all its topics (one group join, one
    rebalance); each record is routed to its event type's handler. Call before
    `broker.start()`. Handlers receive a decoded Envelope and must be idempotent
    (delivery is at-least-once). Outages (`errors.is_outage`) are retried without
    limit; any other unexpected error `max_attempts` times, then dead-lettered.
    """
    routes = {topic_for(model).name: (topic_for(model), model, h) for model, h in handlers.items()}
    backoff = _Backoff(cap=retry_cap_s)
    attempts: dict[tuple[str, int, int], int] = {}

    async def dead_letter(record: ConsumerRecord, error: BaseException) -> None:
        spec = routes[record.topic][0]
        headers = dead_letter_headers(record, error, group_id)
        value = record.value or b""
        try:
            await broker.publish(value, topic=spec.dlq, key=record.key, headers=headers)
        except MessageSizeTooLargeError:
            # The original stays in its topic (see dlq_original_offset) until retention.
            headers["dlq_value_dropped"] = str(len(value))
            await broker.publish(b"", topic=spec.dlq, key=record.key, headers=headers)
        CONSUMED.labels(spec.name, group_id, "dead-lettered").inc()
        log.warning(
            "event dead-lettered",
            extra={
                "topic": spec.name,
                "dlq": spec.dlq,
                "group": group_id,
                "error_code": headers["dlq_error_code"],
                "reason": headers["dlq_reason"],
                "offset": record.offset,
                "partition": record.partition,
            },
        )

    async def retry_later(record: ConsumerRecord, exc: BaseException) -> None:
        CONSUMED.labels(record.topic, group_id, "retried").inc()
        log.warning(
            "transient failure, the event will be retried",
            exc_info=exc,
            extra={"topic": record.topic, "group": group_id, "offset": record.offset},
        )
        await backoff.wait()
        raise exc  # NACK_ON_ERROR: no commit, seek back to this offset

    async def consume(body: bytes, message: KafkaMessage) -> None:
        record: ConsumerRecord = message.raw_message
        spec, model, handler = routes[record.topic]
        where = (record.topic, record.partition, record.offset)
        try:
            try:
                envelope = cloudevents.decode(
                    getattr(record, "raw_headers", record.headers), body, expected=model, key=record.key
                )
            except MalformedEvent as exc:
                await dead_letter(record, exc)
                return
            except Exception as exc:  # decoding reaches no server: never worth a retry
                await dead_letter(record, MalformedEvent(f"undecodable message: {type(exc).__name__}: {exc}"))
                return
            token = trace_id_var.set(envelope.trace_id)
            try:
                with HANDLE_SECONDS.labels(spec.name, group_id).time():
                    await handler(envelope)
            except Exception as exc:
                if isinstance(exc, DinamisError) and exc.permanent:
                    await dead_letter(record, exc)
                    return
                if not is_outage(exc):
                    attempts[where] = attempts.get(where, 0) + 1
                    if attempts[where] >= max_attempts:
                        await dead_letter(
                            record,
                            RetriesExhausted(
                                f"failed {attempts[where]} times, last: {type(exc).__name__}: {exc}"
                            ),
                        )
                        return
                raise
            finally:
                trace_id_var.reset(token)
        except Exception as exc:  # a handler outage, or the dead-letter write itself failed
            await retry_later(record, exc)
        attempts.pop(where, None)
        backoff.reset()
        CONSUMED.labels(spec.name, group_id, "handled").inc()

    broker.subscriber(
        *routes,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        parser=_keep_raw_headers,
        decoder=_raw_body,
        auto_offset_reset="earliest",
        **consumer_options,
        title=f"{group_id}",
        description="; ".join(f"{name}: {m.DESCRIPTION}" for name, (_, m, _) in routes.items()),
    )(consume)


async def log_received(envelope: cloudevents.Envelope) -> None:
    """A placeholder handler for a service whose use case is not built yet: it only
    logs the event (type, id, key), so the subscription is live and observable."""
    log.info(
        "event received",
        extra={"type": envelope.type, "ce_id": envelope.id, "key": envelope.event.key()},
    )
