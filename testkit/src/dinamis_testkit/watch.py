"""Watch Kafka topics from "now" on: for tests, the simulator and benchmarks that wait
for what the services emit (a plain consumer, no group: it commits nothing)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from dinamis_shared import cloudevents
from dinamis_shared.events import Event
from dinamis_shared.settings import ServiceSettings


class EventWatcher:
    """Authenticates as `settings` (default: the tools' identity, `ServiceSettings()`),
    which must be allowed to read `topics`."""

    def __init__(self, bootstrap: str, topics: list[str], *, settings: ServiceSettings | None = None) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.settings = settings or ServiceSettings()
        self.records: list[tuple[str, dict, bytes, bytes]] = []  # (topic, headers, key, value)
        self._changed = asyncio.Condition()
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> EventWatcher:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, **self.settings.kafka_auth()
        )
        await self.consumer.start()
        await self.consumer._client.force_metadata_update()
        parts = [
            TopicPartition(t, p) for t in self.topics for p in self.consumer.partitions_for_topic(t) or ()
        ]
        self.consumer.assign(parts)
        await self.consumer.seek_to_end(*parts)
        for tp in parts:  # resolve the lazy seek now, so nothing published later is missed
            await self.consumer.position(tp)
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=200)
            if batch:
                async with self._changed:
                    for records in batch.values():
                        for r in records:
                            headers = cloudevents.headers_to_dict(r.headers)
                            self.records.append((r.topic, headers, r.key or b"", r.value or b""))
                    self._changed.notify_all()

    async def __aexit__(self, *exc) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.consumer.stop()
        except asyncio.CancelledError:
            # After a broker outage aiokafka may surface its own fetcher's cancellation
            # while stopping; re-raise only if this task itself is being cancelled.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise

    def events(self, model: type[Event], key: str) -> list[Event]:
        out = []
        for topic, headers, rkey, value in self.records:
            if topic == model.topic() and rkey == key.encode():
                out.append(cloudevents.decode(headers, value, expected=model).event)
        return out

    def dead_letters(self, topic: str, key: str) -> list[dict]:
        return [h for t, h, k, _ in self.records if t == topic + ".dlq" and k == key.encode()]

    async def wait(self, check: Callable[[], object], wait_s: float = 60) -> object:
        async def until() -> object:
            async with self._changed:
                while not (result := check()):
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(until(), wait_s)
