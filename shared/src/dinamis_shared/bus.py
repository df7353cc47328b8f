"""Kafka plumbing: the broker factory, publishing events, consuming them safely.

- Producer: `acks=all` and idempotence, so an acknowledged event is on every
  in-sync replica and a retried send is not written twice.
- Consumer: offsets are committed only after the handler returned (its work is
  durable); if the handler raises a transient error the message is not committed,
  the consumer seeks back to it and tries again after a backoff. Commits do not hold
  up the next record (`OffsetCommitter`): at most one is in flight, and each covers
  every record handled before it started.
- Dead letters: a message that can never succeed (bad JSON, unknown type, schema
  violation, or a handler's permanent `DinamisError`) is written to `<topic>.dlq`
  with its original key, value and headers plus the error's class, code and
  message and the consumer group; then it is committed and the consumer goes on.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, MessageSizeTooLargeError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.security import SASLScram512
from prometheus_client import Counter, Histogram

from dinamis_shared import cloudevents
from dinamis_shared.errors import DinamisError, MalformedEvent, RetriesExhausted, is_outage
from dinamis_shared.events import Event
from dinamis_shared.logs import trace_id_var
from dinamis_shared.provenance import IssuedEvents
from dinamis_shared.retry import Backoff, retry
from dinamis_shared.settings import ServiceSettings
from dinamis_shared.topics import DLQ_SUFFIX, TopicSpec, topic_for

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
    """A FastStream Kafka broker for one service: durable, idempotent producer,
    authenticated as the service's own principal (SASL/SCRAM-SHA-512), whose ACLs
    (`dinamis_shared.acls`) let it write only the topics it produces.

    Topics are created by the stack/deployment from the topic registry, never on
    the fly by a consumer (a typo must not create a topic).

    Per record, the bus costs what it must (decoding, the contract's validation, the
    handler) and little else (P6, docs/bench-bus.md):
    - no FastDepends injection (`apply_types=False`): a handler gets the decoded message
      as its one argument (`subscribe` hands it the FastStream message). With it, each
      record's `message: KafkaMessage` parameter was resolved in a worker thread;
    - FastStream's two log lines per record ("Received", "Processed") at DEBUG, not INFO:
      the policy logs what matters (dead letters, retries), the handlers their work.
    """
    kwargs.setdefault("apply_types", False)
    kwargs.setdefault("log_level", logging.DEBUG)
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        security=SASLScram512(
            settings.kafka_sasl_username,
            settings.kafka_sasl_password.get_secret_value(),
            use_ssl=settings.kafka_security_protocol == "SASL_SSL",
        ),
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

    async def publish_many(
        self, events: Sequence[Event], *, event_ids: Sequence[str | None] | None = None
    ) -> list[cloudevents.KafkaRecord]:
        """Publish several events and wait until the broker acknowledged every one (acks=all).

        The records are handed to the producer in order, without waiting for each one's
        acknowledgement before the next (the producer batches them; the idempotent
        producer keeps each partition's order); then every acknowledgement is awaited.
        Raises if any send failed: those acknowledged before may be on the bus, so a
        caller retrying publishes them again with the same `event_ids` (consumers
        deduplicate by id), as for `publish`.
        """
        if event_ids is not None and len(event_ids) != len(events):
            raise ValueError("event_ids must match events one to one")
        traceparent = None
        if current := trace_id_var.get():
            traceparent = cloudevents.new_traceparent(f"00-{current}-0000000000000000-01")
        records = []
        futures = []
        for i, event in enumerate(events):
            record = cloudevents.encode(
                event,
                source=self.source,
                event_id=event_ids[i] if event_ids is not None else None,
                traceparent=traceparent,
            )
            futures.append(
                await self.broker.publish(
                    record.value, topic=record.topic, key=record.key, headers=record.headers, no_confirm=True
                )
            )
            records.append(record)
        await asyncio.gather(*futures)
        for record in records:
            PUBLISHED.labels(record.topic).inc()
        return records


async def _keep_raw_headers(record: ConsumerRecord, original: Callable[..., Any]) -> Any:
    """FastStream's parser decodes header values as UTF-8 and would raise on a
    hostile header, before any handler could dead-letter the message (an endless
    redelivery loop). Keep the raw headers aside and hand it readable ones."""
    record.raw_headers = list(record.headers)
    record.headers = [(k, (v or b"").decode("utf-8", "replace").encode()) for k, v in record.headers]
    return await original(record)


async def _the_message(message: KafkaMessage) -> KafkaMessage:
    """Leave the value undecoded (the CloudEvents binding decodes and validates it) and
    hand the handler the message itself: its record, its consumer, its nack."""
    return message


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


# --- the consume policy: decode, handle, classify the failure, dead-letter -----------


class Outcome(StrEnum):
    """What became of one record (the `outcome` label of `dinamis_events_consumed_total`)."""

    HANDLED = "handled"
    DEAD_LETTERED = "dead-lettered"
    RETRY = "retried"  # not finished: process the same record again after a backoff


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    error: BaseException | None = None  # why, unless handled


class DeadLetterWriter(Protocol):
    async def write(self, record: ConsumerRecord, error: BaseException) -> Mapping[str, str]:
        """Write `record` to its dead-letter topic with why it failed; return the headers.
        Raises when the write failed (the record is then retried, never lost)."""
        ...


class KafkaDeadLetters:
    """Writes dead letters to `<topic>.dlq`: the original key, value and headers, plus the
    `dlq_*` headers of `dead_letter_headers`. A value too large with those headers is
    dropped (`dlq_value_dropped`): the original stays in its topic until retention.

    With `backoff`, a failing write is retried in place until it succeeds (for a consumer
    that would otherwise process the record again from the start)."""

    def __init__(self, broker: KafkaBroker, group_id: str, *, backoff: Backoff | None = None) -> None:
        self.broker = broker
        self.group_id = group_id
        self.backoff = backoff

    async def write(self, record: ConsumerRecord, error: BaseException) -> Mapping[str, str]:
        headers = dead_letter_headers(record, error, self.group_id)
        dlq = record.topic + DLQ_SUFFIX

        async def publish() -> None:
            value = record.value or b""
            try:
                await self.broker.publish(value, topic=dlq, key=record.key, headers=headers)
            except MessageSizeTooLargeError:
                headers["dlq_value_dropped"] = str(len(value))
                await self.broker.publish(b"", topic=dlq, key=record.key, headers=headers)

        if self.backoff is None:
            await publish()
        else:
            await retry(publish, backoff=self.backoff, what="dead-letter write")
        return headers


Route = tuple[TopicSpec, type[Event], EventHandler]


class ConsumePolicy:
    """The one way a DINAMIS consumer treats a record, whatever drives it (the FastStream
    subscriber of `subscribe()`, delivery's own aiokafka consumer):

    - a record that does not decode into its topic's event type: dead-lettered at once
      (decoding reaches no server, retrying cannot help);
    - the handler's permanent `DinamisError`: dead-lettered at once;
    - an outage (`errors.is_outage`): retried for as long as it lasts;
    - any other error: retried, and dead-lettered (`RetriesExhausted`) at the
      `max_attempts`-th failure of the same record;
    - a failed dead-letter write: retried.

    `handle()` says what to do next; the caller commits (handled, dead-lettered) or
    processes the same record again after a backoff (retry). Failures are counted per
    record (topic, partition, offset) across those calls.
    """

    def __init__(
        self,
        group_id: str,
        handlers: Mapping[type[Event], EventHandler],
        dead_letters: DeadLetterWriter,
        *,
        max_attempts: int = 5,
        issued: IssuedEvents | None = None,
    ) -> None:
        self.group_id = group_id
        # Events of the orders service are confirmed with it before they are handled
        # (`dinamis_shared.provenance`): a forged one is dead-lettered `not-issued`.
        self.issued = issued
        self.routes: dict[str, Route] = {
            topic_for(model).name: (topic_for(model), model, h) for model, h in handlers.items()
        }
        self.dead_letters = dead_letters
        self.max_attempts = max_attempts
        self.failures: dict[tuple[str, int, int], int] = {}

    async def handle(self, record: ConsumerRecord) -> Verdict:
        spec, model, handler = self.routes[record.topic]
        try:
            envelope = cloudevents.decode(
                getattr(record, "raw_headers", record.headers),
                record.value or b"",
                expected=model,
                key=record.key,
            )
        except MalformedEvent as exc:
            return await self._dead_letter(record, exc)
        except Exception as exc:  # decoding reaches no server: never worth a retry
            return await self._dead_letter(
                record, MalformedEvent(f"undecodable message: {type(exc).__name__}: {exc}")
            )
        where = (record.topic, record.partition, record.offset)
        token = trace_id_var.set(envelope.trace_id)
        try:
            with HANDLE_SECONDS.labels(spec.name, self.group_id).time():
                if self.issued is not None:
                    await self.issued.confirm(envelope)
                await handler(envelope)
        except Exception as exc:
            if isinstance(exc, DinamisError) and exc.permanent:
                return await self._dead_letter(record, exc)
            if not is_outage(exc):
                failures = self.failures[where] = self.failures.get(where, 0) + 1
                if failures >= self.max_attempts:
                    return await self._dead_letter(
                        record,
                        RetriesExhausted(f"failed {failures} times, last: {type(exc).__name__}: {exc}"),
                    )
            return self._retry(record, exc)
        finally:
            trace_id_var.reset(token)
        self.failures.pop(where, None)
        CONSUMED.labels(spec.name, self.group_id, Outcome.HANDLED.value).inc()
        return Verdict(Outcome.HANDLED)

    async def _dead_letter(self, record: ConsumerRecord, error: BaseException) -> Verdict:
        try:
            headers = await self.dead_letters.write(record, error)
        except Exception as exc:  # the bus is down: the record stays uncommitted meanwhile
            return self._retry(record, exc)
        self.failures.pop((record.topic, record.partition, record.offset), None)
        CONSUMED.labels(record.topic, self.group_id, Outcome.DEAD_LETTERED.value).inc()
        log.warning(
            "event dead-lettered",
            extra={
                "topic": record.topic,
                "dlq": record.topic + DLQ_SUFFIX,
                "group": self.group_id,
                "error_code": headers.get("dlq_error_code"),
                "reason": headers.get("dlq_reason"),
                "offset": record.offset,
                "partition": record.partition,
            },
        )
        return Verdict(Outcome.DEAD_LETTERED, error)

    def _retry(self, record: ConsumerRecord, exc: BaseException) -> Verdict:
        CONSUMED.labels(record.topic, self.group_id, Outcome.RETRY.value).inc()
        log.warning(
            "transient failure, the event will be retried",
            exc_info=exc,
            extra={"topic": record.topic, "group": self.group_id, "offset": record.offset},
        )
        return Verdict(Outcome.RETRY, exc)


# --- the FastStream subscriber ----------------------------------------------------------


class OffsetCommitter(ConsumerRebalanceListener):
    """Commits the offsets of handled records without making the next record wait for it.

    Awaiting a commit after each record costs a round trip to the group coordinator per
    record (P6: the bus consumed about 60 times slower than getmany + a commit per
    batch). Here `handled()` notes the record's next offset and, unless a commit is
    already in flight, starts one; when it returns, the next one covers everything
    handled meanwhile. Only handled (or dead-lettered) records are ever committed, and
    never past a record that was not: a record to retry is not noted, and the consumer
    seeks back to it before reading further in its partition.

    Before a rebalance takes partitions away (`on_partitions_revoked`), what is pending
    is committed, so the next owner does not redo it. A crash (or a stop) between
    handling and the commit redelivers those records: at-least-once, as before; the
    handlers are idempotent.
    """

    def __init__(self) -> None:
        self.consumer: Any = None
        self.pending: dict[TopicPartition, int] = {}
        self.task: asyncio.Task[None] | None = None

    def handled(self, consumer: Any, record: ConsumerRecord) -> None:
        self.consumer = consumer
        self.pending[TopicPartition(record.topic, record.partition)] = record.offset + 1
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._commit_pending())

    async def flush(self) -> None:
        """Wait for the commit in flight, then commit what is still pending."""
        if self.task is not None and not self.task.done():
            await asyncio.shield(self.task)
        await self._commit_pending()

    async def _commit_pending(self) -> None:
        while self.pending:
            if getattr(self.consumer, "_closed", False):  # stopped: the records come back
                self.pending.clear()
                return
            offsets, self.pending = self.pending, {}
            await self._commit(offsets)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        consumer = self.consumer
        if not isinstance(consumer, AIOKafkaConsumer):  # FastStream's in-memory test broker
            await consumer.commit()
            return
        assigned = consumer.assignment()
        owned = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not owned:
            return
        try:
            await consumer.commit(owned)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced meanwhile: the partitions' next owner takes these
            # records again from the last commit (handlers are idempotent).
            log.warning("offset commit refused after a rebalance", extra={"error": str(exc)})
        except KafkaError as exc:
            # Kafka unreachable for longer than aiokafka's own retries: keep the offsets
            # for the next commit (a newer offset of the same partition supersedes them).
            for tp, offset in owned.items():
                self.pending.setdefault(tp, offset)
            log.warning("offset commit failed, kept for the next one", extra={"error": str(exc)})
            await asyncio.sleep(1.0)

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if self.consumer is not None:
            try:
                await self.flush()
            except Exception:  # never break the rebalance; the records come back at worst
                log.warning("commit before a rebalance failed", exc_info=True)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


def subscribe(
    broker: KafkaBroker,
    group_id: str,
    handlers: Mapping[type[Event], EventHandler],
    *,
    retry_cap_s: float = 10.0,
    max_attempts: int = 5,
    issued: IssuedEvents | None = None,
    **consumer_options: Any,
) -> None:
    """Consume the topics of `handlers`' event types in consumer group `group_id`.

    One Kafka consumer per service replica reads all its topics (one group join, one
    rebalance); each record is routed to its event type's handler. Call before
    `broker.start()`. Handlers receive a decoded Envelope and must be idempotent
    (delivery is at-least-once). Failures follow `ConsumePolicy`; a record to retry is
    not committed (NACK), and comes back after a backoff. Handled records are committed
    by an `OffsetCommitter`, without making the next record wait for the commit.
    """
    policy = ConsumePolicy(
        group_id, handlers, KafkaDeadLetters(broker, group_id), max_attempts=max_attempts, issued=issued
    )
    backoff = Backoff(cap=retry_cap_s)
    committer = OffsetCommitter()

    async def consume(message: KafkaMessage) -> None:
        record = message.raw_message
        try:
            verdict = await policy.handle(record)
        except Exception:  # a bug of ours (handler errors are verdicts): read it again
            await message.nack()
            raise
        if verdict.outcome is Outcome.RETRY:
            await backoff.wait()
            await message.nack()  # no commit: seek back to this record
            return
        backoff.reset()
        committer.handled(message.consumer, record)

    broker.subscriber(
        *policy.routes,
        group_id=group_id,
        # Commits are ours (`OffsetCommitter`), after the handler; a record to retry is
        # not committed and the consumer seeks back to it (`message.nack()`).
        ack_policy=AckPolicy.MANUAL,
        listener=committer,
        parser=_keep_raw_headers,
        decoder=_the_message,
        auto_offset_reset="earliest",
        **consumer_options,
        title=f"{group_id}",
        description="; ".join(f"{name}: {m.DESCRIPTION}" for name, (_, m, _) in policy.routes.items()),
    )(consume)


async def log_received(envelope: cloudevents.Envelope) -> None:
    """A placeholder handler for a service whose use case is not built yet: it only
    logs the event (type, id, key), so the subscription is live and observable."""
    log.info(
        "event received",
        extra={"type": envelope.type, "ce_id": envelope.id, "key": envelope.event.key()},
    )
