"""Bus benchmark (P6): the platform's bus path (`dinamis_shared.bus`) against raw aiokafka
doing the same work, in one run, on the real Kafka of the running stack. Prints JSON.

Publish: N scene-ingested events (the example's STAC item, about 1 kB), on a topic of
the bench's own (6 partitions, deleted afterwards; the registry's contract), through
`EventPublisher` (CloudEvents encoding + FastStream's `KafkaBroker.publish`) against an
`AIOKafkaProducer` configured the same (acks=all, idempotent, FastStream's linger and batch
sizes) sending the bytes and headers `cloudevents.encode` produced beforehand, so the
difference is our layers. Two ways of publishing: one event at a time, each acknowledged
before the next (what a use case does), and many in flight at once (what a relay could
do: `EventPublisher.publish_many`, or before it existed, a gather of `publish`).

Consume: a fresh consumer group reads those N records and commits only after processing:
`subscribe()` (FastStream subscriber + `ConsumePolicy`: decode, validate against the
pydantic contract, handle, commit) against a raw `AIOKafkaConsumer` (enable_auto_commit
off, getmany, the same trivial handler, commit after each batch), plus the raw loop
calling `ConsumePolicy.handle` (decode + validation without FastStream) to split the
difference. The time runs from the first record handled to the group's committed offsets
reaching the end of the records (both measured by the same polling of the group).

Publish rounds go in chunks (`--chunk` events one at a time, `--inflight` events in
flight), the sides taking turns chunk by chunk; consume rounds alternate the sides (bus
first on even rounds, raw first on odd ones); medians and ratios bus/raw per path.
`--profile FILE` also writes the cProfile statistics of one bus publish and one bus
consume round. Logging is configured as in a service (JSON, INFO, to /dev/null here):
FastStream's per-message log lines are part of what the bus costs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import logging
import os
import pstats
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from dinamis_shared import cloudevents, topics
from dinamis_shared.bus import (
    ConsumePolicy,
    EventPublisher,
    KafkaDeadLetters,
    Outcome,
    make_broker,
    subscribe,
)
from dinamis_shared.events import SceneIngestedV1
from dinamis_shared.logs import configure_logging
from dinamis_shared.settings import ServiceSettings
from dinamis_testkit.examples import SCENE_ID, example_events

os.environ.setdefault("DINAMIS_ENVIRONMENT", "development")
SOURCE = "/dinamis/bench-bus"


class BenchSceneIngestedV1(SceneIngestedV1):
    """The scene-ingested contract (same fields, validators and sizes) on a topic of the
    bench's own, created for the run and deleted after it: the bench's records must never
    reach a service's consumer group (the registry topic's catalog, orders and notify
    groups would have to chew through them)."""

    EVENT: ClassVar[str] = "bench-bus-scene-ingested"
    PRODUCER: ClassVar[str] = "bench"


# Known to this process's registry only (what `subscribe` routes and the decoder accepts).
topics.TOPICS[BenchSceneIngestedV1.topic()] = topics.TopicSpec(BenchSceneIngestedV1)
topics.BY_CE_TYPE[BenchSceneIngestedV1.ce_type()] = BenchSceneIngestedV1
TOPIC = BenchSceneIngestedV1.topic()


def make_events(n: int, tag: str) -> list[BenchSceneIngestedV1]:
    """N distinct valid events (distinct scene ids, so keys spread over the partitions)."""
    example = next(e for e in example_events() if isinstance(e, SceneIngestedV1))
    data = example.model_dump(mode="json")
    events = []
    for i in range(n):
        scene_id = f"{SCENE_ID}-{tag}-{i:06d}"
        events.append(
            BenchSceneIngestedV1.model_validate(
                {
                    **data,
                    "scene_id": scene_id,
                    "item": {**data["item"], "id": scene_id},
                    "archive_prefix": data["archive_prefix"].replace(SCENE_ID, scene_id),
                }
            )
        )
    return events


def raw_headers(record: cloudevents.KafkaRecord) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in record.headers.items()]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = ServiceSettings()
        self.auth = self.settings.kafka_auth()
        self.bootstrap = self.settings.kafka_bootstrap_servers
        self.broker = make_broker(self.settings)
        self.publisher = EventPublisher(self.broker, SOURCE)
        self.producer: AIOKafkaProducer | None = None
        self.admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id="bench-bus-admin", **self.auth
        )

    async def start(self) -> dict[str, Any]:
        await self.broker.start()
        bus_producer = self.broker.config.producer._producer.producer  # the AIOKafkaProducer FastStream made
        # The raw producer: the same settings as FastStream's (read back from it).
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id="bench-bus-raw",
            acks="all",
            enable_idempotence=True,
            linger_ms=int(bus_producer._message_accumulator._linger_time * 1000),
            max_batch_size=bus_producer._message_accumulator._batch_size,
            max_request_size=bus_producer._max_request_size,
            compression_type=bus_producer._compression_type,
            **self.auth,
        )
        await self.producer.start()
        await self.admin.start()
        partitions = int(os.environ.get("DINAMIS_KAFKA_PARTITIONS", "6"))
        await self.admin.create_topics([NewTopic(TOPIC, num_partitions=partitions, replication_factor=1)])

        def settings(p: AIOKafkaProducer) -> dict[str, Any]:
            return {
                "acks": p._sender._acks,
                "linger_s": p._message_accumulator._linger_time,
                "max_batch_size": p._message_accumulator._batch_size,
                "max_request_size": p._max_request_size,
                "compression": p._compression_type,
            }

        bus_settings, raw_settings = settings(bus_producer), settings(self.producer)
        same = {k: [bus_settings[k], raw_settings[k]] for k in bus_settings}
        same["idempotence"] = [
            bus_producer._txn_manager is not None,
            self.producer._txn_manager is not None,
        ]
        return {k: {"bus": v[0], "raw": v[1]} for k, v in same.items()}

    async def stop(self) -> None:
        assert self.producer is not None
        await self.producer.stop()
        await self.broker.stop()
        try:
            await self.admin.delete_topics([TOPIC])
        finally:
            await self.admin.close()

    # --- publish ------------------------------------------------------------------------

    async def publish_bus(self, events: list[BenchSceneIngestedV1], concurrent: bool) -> float:
        started = time.perf_counter()
        if concurrent and hasattr(self.publisher, "publish_many"):  # since the P6 change
            await self.publisher.publish_many(events)
        elif concurrent:  # before it: what a caller could do
            await asyncio.gather(*(self.publisher.publish(e) for e in events))
        else:
            for e in events:
                await self.publisher.publish(e)
        return time.perf_counter() - started

    async def publish_raw(self, records: Iterable[cloudevents.KafkaRecord], concurrent: bool) -> float:
        assert self.producer is not None
        started = time.perf_counter()
        if concurrent:
            futures = [
                await self.producer.send(r.topic, r.value, key=r.key, headers=raw_headers(r)) for r in records
            ]
            await asyncio.gather(*futures)
        else:
            for r in records:
                await self.producer.send_and_wait(r.topic, r.value, key=r.key, headers=raw_headers(r))
        return time.perf_counter() - started

    async def publish_raw_encoding(self, events: list[BenchSceneIngestedV1], concurrent: bool) -> float:
        """Raw aiokafka plus our CloudEvents encoding (splits the difference): the records
        are encoded lazily, inside the timed sends."""
        return await self.publish_raw((cloudevents.encode(e, source=SOURCE) for e in events), concurrent)

    # --- consume ------------------------------------------------------------------------

    async def end_offsets(self) -> dict[TopicPartition, int]:
        assert self.producer is not None
        partitions = [TopicPartition(TOPIC, p) for p in sorted(await self.producer.partitions_for(TOPIC))]
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, **self.auth)
        await consumer.start()
        try:
            return dict(await consumer.end_offsets(partitions))
        finally:
            await consumer.stop()

    async def new_group_at(self, offsets: dict[TopicPartition, int]) -> str:
        """A fresh consumer group whose committed offsets are `offsets`."""
        group = f"bench-bus-{uuid.uuid4().hex[:10]}"
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False, **self.auth
        )
        await consumer.start()
        try:
            consumer.assign(list(offsets))
            await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
        finally:
            await consumer.stop()
        return group

    async def committed_reaches(self, group: str, end: dict[TopicPartition, int], limit_s: float) -> float:
        deadline = time.perf_counter() + limit_s
        while True:
            offsets = await self.admin.list_consumer_group_offsets(group)
            if all(offsets.get(tp) is not None and offsets[tp].offset >= o for tp, o in end.items()):
                return time.perf_counter()
            if time.perf_counter() > deadline:
                raise TimeoutError(f"group {group} did not commit up to the end in {limit_s} s")
            await asyncio.sleep(0.005)

    async def consume_bus(self, start: dict[TopicPartition, int], end: dict[TopicPartition, int]) -> dict:
        n = sum(end.values()) - sum(start.values())
        group = await self.new_group_at(start)
        broker = make_broker(self.settings)
        handled = 0
        first: float | None = None
        all_handled = asyncio.Event()

        async def handler(envelope: cloudevents.Envelope) -> None:
            nonlocal handled, first
            if first is None:
                first = time.perf_counter()
            envelope.event.key()  # the trivial work both sides do
            handled += 1
            if handled == n:
                all_handled.set()

        subscribe(broker, group, {BenchSceneIngestedV1: handler})
        started = time.perf_counter()
        await broker.start()
        try:
            committed = await self.committed_reaches(group, end, self.args.timeout)
        finally:
            await broker.stop()
        assert handled == n, (handled, n)
        assert first is not None
        return {"seconds": committed - first, "with_join_s": committed - started, "handled": handled}

    async def consume_raw(
        self, start: dict[TopicPartition, int], end: dict[TopicPartition, int], *, policy: bool
    ) -> dict:
        n = sum(end.values()) - sum(start.values())
        group = await self.new_group_at(start)
        consumer = AIOKafkaConsumer(
            TOPIC,
            bootstrap_servers=self.bootstrap,
            group_id=group,
            client_id="bench-bus-raw",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self.auth,
        )
        handled = 0
        first: float | None = None
        handle: Callable[[ConsumerRecord], Awaitable[None]]
        if policy:

            async def envelope_handler(envelope: cloudevents.Envelope) -> None:
                envelope.event.key()

            consume_policy = ConsumePolicy(
                group, {BenchSceneIngestedV1: envelope_handler}, KafkaDeadLetters(self.broker, group)
            )

            async def handle(record: ConsumerRecord) -> None:
                verdict = await consume_policy.handle(record)
                assert verdict.outcome is Outcome.HANDLED, verdict

        else:

            async def handle(record: ConsumerRecord) -> None:
                record.key  # noqa: B018 - the trivial work (the bus handler reads the key)

        started = time.perf_counter()
        await consumer.start()
        try:
            while handled < n:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        if first is None:
                            first = time.perf_counter()
                        await handle(record)
                        handled += 1
                if batches:
                    await consumer.commit()  # after processing the whole batch
            committed = await self.committed_reaches(group, end, self.args.timeout)
        finally:
            await consumer.stop()
        assert first is not None
        return {"seconds": committed - first, "with_join_s": committed - started, "handled": handled}


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def summarise(per_round: dict[str, list[float]], n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side, secs in per_round.items():
        out[side] = {
            "median_s": round(median(secs), 4),
            "events_per_s": round(n / median(secs), 1),
            "rounds_s": [round(s, 4) for s in secs],
        }
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args)
    config = await bench.start()
    result: dict[str, Any] = {
        "benchmark": "bus (P6): dinamis_shared.bus vs raw aiokafka, same run",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "topic": TOPIC,
        "events": args.events,
        "sequential_events": args.seq_events,
        "consume_events": args.consume_events,
        "publish_chunk": args.chunk,
        "publish_inflight": args.inflight,
        "rounds": args.rounds,
        "producer_config": config,
        "bus_concurrent_publish": "EventPublisher.publish_many"
        if hasattr(EventPublisher, "publish_many")
        else "asyncio.gather of EventPublisher.publish",
        "git_commit": args.git_commit,
        "note": "2 shared cores, other engineers' load at the same time: compare the ratios, "
        "measured in the same run (sides alternated per round), not the absolute rates",
    }
    try:
        sample = cloudevents.encode(make_events(1, "size")[0], source=SOURCE)
        result["record_bytes"] = {
            "value": len(sample.value),
            "headers": sum(len(k) + len(v) for k, v in sample.headers.items()),
        }
        # Warm-up (connections, the new topic's metadata and leaders), not measured.
        warm = make_events(60, "warm")
        await bench.publish_bus(warm[:30], False)
        await bench.publish_raw([cloudevents.encode(e, source=SOURCE) for e in warm[30:]], False)
        # --- publish, one at a time and all in flight -------------------------------------
        publish: dict[str, Any] = {}
        for mode, n, concurrent in (
            ("sequential", args.seq_events, False),
            ("concurrent", args.events, True),
        ):
            times: dict[str, list[float]] = {"bus": [], "raw": [], "raw_plus_encoding": []}
            for r in range(args.rounds):
                # Each round's N events go in chunks, the sides taking turns chunk by chunk
                # (the others' load on the shared cores then falls on all of them alike).
                events = make_events(n, f"p{mode[0]}{r}")
                records = [cloudevents.encode(e, source=SOURCE) for e in events]
                spent = dict.fromkeys(times, 0.0)
                chunk = args.inflight if concurrent else args.chunk
                for c, i in enumerate(range(0, n, chunk)):
                    ev, rec = events[i : i + chunk], records[i : i + chunk]
                    sides: list[tuple[str, Callable[[], Awaitable[float]]]] = [
                        ("bus", lambda ev=ev, k=concurrent: bench.publish_bus(ev, k)),
                        ("raw", lambda rec=rec, k=concurrent: bench.publish_raw(rec, k)),
                        ("raw_plus_encoding", lambda ev=ev, k=concurrent: bench.publish_raw_encoding(ev, k)),
                    ]
                    if (r + c) % 2:
                        sides.reverse()
                    for side, go in sides:
                        spent[side] += await go()
                for side, secs in spent.items():
                    times[side].append(secs)
            summary = summarise(times, n)
            summary["ratio_bus_over_raw"] = round(
                summary["bus"]["events_per_s"] / summary["raw"]["events_per_s"], 3
            )
            summary["ratio_raw_plus_encoding_over_raw"] = round(
                summary["raw_plus_encoding"]["events_per_s"] / summary["raw"]["events_per_s"], 3
            )
            publish[mode] = summary
            print(f"publish {mode}: {json.dumps(summary)}", file=sys.stderr)
        result["publish"] = publish

        # --- consume: N records, a fresh group per side and round --------------------------
        start = await bench.end_offsets()
        records = [cloudevents.encode(e, source=SOURCE) for e in make_events(args.consume_events, "c")]
        await bench.publish_raw(records, concurrent=True)
        end = await bench.end_offsets()
        n = sum(end.values()) - sum(start.values())
        assert n == args.consume_events, (n, args.consume_events)
        times = {"bus": [], "raw": [], "raw_plus_policy": []}
        with_join: dict[str, list[float]] = {k: [] for k in times}
        for r in range(args.rounds):
            csides: list[tuple[str, Callable[[], Awaitable[dict]]]] = [
                ("bus", lambda: bench.consume_bus(start, end)),
                ("raw", lambda: bench.consume_raw(start, end, policy=False)),
                ("raw_plus_policy", lambda: bench.consume_raw(start, end, policy=True)),
            ]
            if r % 2:
                csides.reverse()
            for side, go in csides:
                got = await go()
                times[side].append(got["seconds"])
                with_join[side].append(got["with_join_s"])
        summary = summarise(times, n)
        for side in with_join:
            summary[side]["median_with_group_join_s"] = round(median(with_join[side]), 3)
        summary["ratio_bus_over_raw"] = round(
            summary["bus"]["events_per_s"] / summary["raw"]["events_per_s"], 4
        )
        summary["ratio_raw_plus_policy_over_raw"] = round(
            summary["raw_plus_policy"]["events_per_s"] / summary["raw"]["events_per_s"], 4
        )
        # What isolates the bus's layers: both decode and validate every record.
        summary["ratio_bus_over_raw_plus_policy"] = round(
            summary["bus"]["events_per_s"] / summary["raw_plus_policy"]["events_per_s"], 4
        )
        result["consume"] = summary
        print(f"consume: {json.dumps(summary)}", file=sys.stderr)

        if args.profile:
            result["profile"] = await profile(bench, args, start, end)
    finally:
        await bench.stop()
    return result


async def profile(bench: Bench, args: argparse.Namespace, start: dict, end: dict) -> dict[str, Any]:
    """cProfile of one bus round per path; the statistics go to `args.profile`, the top
    functions by own time into the JSON."""
    out: dict[str, Any] = {"file": args.profile}
    text = io.StringIO()
    for name, go in (
        ("consume", lambda: bench.consume_bus(start, end)),  # first: the publish rounds add records
        ("publish_sequential", lambda: bench.publish_bus(make_events(args.seq_events, "prof"), False)),
        ("publish_concurrent", lambda: bench.publish_bus(make_events(args.inflight, "prof2"), True)),
    ):
        profiler = cProfile.Profile()
        profiler.enable()
        await go()
        profiler.disable()
        stats = pstats.Stats(profiler, stream=text)
        text.write(f"\n===== {name} =====\n")
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(25)
        total = stats.total_tt  # type: ignore[attr-defined]
        top = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]  # type: ignore[attr-defined]
        out[name] = {
            "cpu_s": round(total, 3),
            "top_own_time": [
                {"function": f"{path.rsplit('/', 1)[-1]}:{line}:{func}", "own_s": round(tt, 3), "calls": nc}
                for (path, line, func), (_, nc, tt, _, _) in top
            ],
        }
    out["text"] = text.getvalue()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events per round, all in flight")
    parser.add_argument("--seq-events", type=int, default=1000, help="events per round, one at a time")
    parser.add_argument("--consume-events", type=int, default=20000, help="records per consume round")
    parser.add_argument("--chunk", type=int, default=100, help="one at a time: the sides alternate per chunk")
    parser.add_argument("--inflight", type=int, default=1000, help="all in flight: events per chunk")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--profile", help="write cProfile statistics of the bus side here")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    configure_logging("bench-bus", "INFO")
    logging.getLogger().handlers[0].setStream(open(os.devnull, "w"))  # as in a service, unseen
    args.git_commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    result = asyncio.run(run(args))
    if "profile" in result:
        with open(args.profile, "w") as f:
            f.write(result["profile"].pop("text"))
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
