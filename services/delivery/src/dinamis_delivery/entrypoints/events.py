"""Kafka consumption of `delivery-requested`, with backpressure.

Why not the shared `subscribe()` (FastStream): it hands one message at a time to the
handler and commits after it, so a replica would build one product at a time and
leave its other worker processes idle. Here one aiokafka consumer (group `delivery`,
so replicas share the topic's partitions) fetches requests while the process pool
has room, runs them concurrently, and:

- **pauses** its partitions while the pool is full (products handed in reach
  `max_in_flight`), resuming when a slot frees up: nothing is buffered beyond that,
  and Kafka keeps the backlog (the consumer keeps polling, so it stays in the group);
- **commits** per partition only the offset below which every request is finished
  (announced or dead-lettered): a crash replays unfinished requests, never skips one;
- on a **rebalance**, waits (bounded) for the requests of the revoked partitions and
  commits them, so the next owner does not redo finished work;
- builds only requests the orders service confirms it issued (`dinamis_shared.provenance`);
- treats each request with the platform's one `ConsumePolicy` (as `subscribe()` does):
  malformed → `.dlq` at once; outages retried without limit; other errors retried
  `MAX_ATTEMPTS` times, then dead-lettered. A request is retried in place (its
  offset stays uncommitted meanwhile), and so is a failed dead-letter write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from dinamis_delivery import metrics
from dinamis_delivery.service.delivering import Deliverer
from dinamis_shared.bus import ConsumePolicy, KafkaDeadLetters, Outcome
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.events import DeliveryRequestedV1
from dinamis_shared.periodic import every
from dinamis_shared.provenance import issued_events_from_settings
from dinamis_shared.retry import Backoff, retry
from dinamis_shared.service import Resources
from dinamis_shared.topics import topic_for

if TYPE_CHECKING:
    from dinamis_delivery.settings import DeliverySettings

log = logging.getLogger(__name__)

GROUP = "delivery"
TOPIC = topic_for(DeliveryRequestedV1)
MAX_ATTEMPTS = 5


class _Partition:
    """Requests fetched from one partition and not yet finished."""

    def __init__(self) -> None:
        self.running: dict[int, asyncio.Task] = {}
        self.next_offset: int | None = None  # one past the last fetched
        self.committed: int | None = None

    def committable(self) -> int | None:
        if self.running:
            return min(self.running)
        return self.next_offset


class RequestConsumer:
    """Consumes `delivery-requested` (group `delivery`); emits `product-ready` /
    `product-failed` through the Deliverer, dead letters to `<topic>.dlq`."""

    def __init__(self, settings: DeliverySettings, resources: Resources, deliverer: Deliverer) -> None:
        self.settings = settings
        self.resources = resources
        self.deliverer = deliverer
        # A failed dead-letter write is retried in place (every second): never the build.
        dead_letters = KafkaDeadLetters(
            resources.broker, GROUP, backoff=Backoff(base=0.5, cap=1.0, jitter=False)
        )
        # Only product orders the orders service issued are built (forged → `not-issued`).
        self.issued = issued_events_from_settings(settings, [DeliveryRequestedV1])
        self.policy = ConsumePolicy(
            GROUP,
            {DeliveryRequestedV1: self._deliver},
            dead_letters,
            max_attempts=MAX_ATTEMPTS,
            issued=self.issued,
        )
        self.partitions: dict[TopicPartition, _Partition] = {}
        self.consumer: AIOKafkaConsumer | None = None
        self.paused = False
        self._wake = asyncio.Event()
        self._stopping = False

    # --- the loop --------------------------------------------------------------

    async def run(self) -> None:
        await self.resources.broker_started.wait()  # the publisher must be up
        # `_consume` returns once stopping; any failure restarts it after a backoff.
        await retry(
            self._consume,
            retry_if=lambda exc: not self._stopping,
            backoff=Backoff(base=0.25, cap=10.0, jitter=False),
            what="request consumer",
        )
        if self.issued is not None:
            await self.issued.aclose()

    async def _consume(self) -> None:
        s = self.settings
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            group_id=GROUP,
            client_id=f"{s.client_id}-{s.replica}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=max(500, s.session_timeout_ms // 4),
            max_poll_interval_ms=s.max_poll_interval_ms,
            rebalance_timeout_ms=s.max_poll_interval_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **s.kafka_auth(),
        )
        self.consumer.subscribe([TOPIC.name], listener=_Listener(self))
        await self.consumer.start()
        lag = asyncio.create_task(every(2.0, self._probe_lag, name="lag probe", first_delay_s=2.0))
        try:
            while not self._stopping:
                self._apply_backpressure()
                if self.paused:
                    # Keep polling (heartbeats, rebalances). Partitions assigned by a rebalance
                    # during this call come back unpaused and may return records: start them
                    # rather than drop them (the position has moved past them).
                    batch = await self.consumer.getmany(timeout_ms=100)
                    for tp, records in batch.items():
                        for record in records:
                            self._start(tp, record)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.5)
                    self._wake.clear()
                else:
                    room = max(1, self.deliverer.pool.max_in_flight - self.deliverer.pool.waiting)
                    batch = await self.consumer.getmany(timeout_ms=500, max_records=room)
                    for tp, records in batch.items():
                        for record in records:
                            self._start(tp, record)
                await self._commit()
        finally:
            lag.cancel()
            await self._drain(self.settings.shutdown_wait_s)
            with contextlib.suppress(Exception):
                await self._commit()
            await self.consumer.stop()

    def _apply_backpressure(self) -> None:
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        if self.deliverer.pool.full:
            if assigned:
                self.consumer.pause(*assigned)
            if not self.paused:
                log.info("pool full, consumer paused", extra={"in_flight": self.deliverer.pool.waiting})
            self.paused = True
        else:
            if self.paused:
                log.info("pool has room, consumer resumed")
            if assigned:
                self.consumer.resume(*assigned)
            self.paused = False
        metrics.PAUSED.set(1 if self.paused else 0)

    def _start(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        state = self.partitions.setdefault(tp, _Partition())
        state.next_offset = record.offset + 1
        task = asyncio.create_task(self._handle(record))
        state.running[record.offset] = task

        def finished(_: asyncio.Task) -> None:
            state.running.pop(record.offset, None)
            self._wake.set()

        task.add_done_callback(finished)

    async def _commit(self, only: set[TopicPartition] | None = None) -> None:
        assert self.consumer is not None
        offsets = {}
        assigned = self.consumer.assignment()
        for tp, state in self.partitions.items():
            if tp not in assigned or (only is not None and tp not in only):
                continue
            target = state.committable()
            if target is not None and target != state.committed:
                offsets[tp] = target
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            log.warning("offset commit failed (rebalance?)", extra={"error": str(exc)})
            return
        for tp, offset in offsets.items():
            self.partitions[tp].committed = offset

    async def _drain(self, timeout_s: float, only: set[TopicPartition] | None = None) -> None:
        tasks = [
            t
            for tp, state in self.partitions.items()
            if only is None or tp in only
            for t in state.running.values()
        ]
        if tasks:
            log.info("waiting for requests in progress", extra={"count": len(tasks)})
            await asyncio.wait(tasks, timeout=timeout_s)

    async def _probe_lag(self) -> None:
        """Queue depth: requests in the owned partitions not fetched yet."""
        assert self.consumer is not None
        try:
            assigned = list(self.consumer.assignment())
            ends = await self.consumer.end_offsets(assigned) if assigned else {}
            lag = 0
            for tp in assigned:
                state = self.partitions.get(tp)
                position = state.next_offset if state and state.next_offset is not None else None
                if position is None:
                    position = await self.consumer.committed(tp) or 0
                lag += max(0, ends.get(tp, 0) - position)
            metrics.QUEUE_DEPTH.labels("kafka").set(lag)
            metrics.ASSIGNED.set(len(assigned))
            metrics.THROUGHPUT.refresh()
        except Exception as exc:  # metrics only, and a rebalance makes it fail: not worth a warning
            log.debug("lag probe failed", extra={"error": str(exc)})

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    # --- one request -------------------------------------------------------------

    async def _handle(self, record: ConsumerRecord) -> None:
        """One request, until it is announced or dead-lettered (the policy says which)."""
        backoff = Backoff(base=0.1, cap=10.0)
        while (await self.policy.handle(record)).outcome is Outcome.RETRY:
            await backoff.wait()

    async def _deliver(self, envelope: Envelope) -> None:
        request = envelope.event
        assert isinstance(request, DeliveryRequestedV1)  # the policy decodes the topic's type
        await self.deliverer.deliver(request)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: RequestConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        revoked = set(revoked)
        await self.owner._drain(self.owner.settings.revoke_wait_s, only=revoked)
        await self.owner._commit(only=revoked)
        for tp in revoked:
            self.owner.partitions.pop(tp, None)
        log.info("partitions revoked", extra={"partitions": sorted(tp.partition for tp in revoked)})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self.owner.paused and assigned and self.owner.consumer is not None:
            self.owner.consumer.pause(*assigned)  # the pool is full: fetch nothing from them yet
        metrics.ASSIGNED.set(len(assigned))
        log.info("partitions assigned", extra={"partitions": sorted(tp.partition for tp in assigned)})
