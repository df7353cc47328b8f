"""What the campaign sees of the platform while it runs: the services' events on the bus
(a plain consumer with no group, from the run's start offsets: nothing is missed and no
service's offsets are touched), the catalogue's answers (when each ingested scene becomes
searchable), and the consumer groups' lag (sampled)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from dinamis_portal.ops.kafka_admin import KafkaPipelineBus
from dinamis_shared import cloudevents
from dinamis_shared.events import ProductFailedV1, ProductReadyV1, SceneIngestedV1, SceneRejectedV1
from dinamis_shared.settings import ServiceSettings

log = logging.getLogger(__name__)
WATCHED = (SceneIngestedV1, SceneRejectedV1, ProductReadyV1, ProductFailedV1)


@dataclass
class Ingested:
    scene_id: str
    collection: str
    version: int
    event_time: datetime  # ce_time: when ingest published it
    seen_mono: float
    cloud_cover: float | None
    searchable_mono: float | None = None
    searchable_ms: float | None = None  # ce_time -> first found by a search


@dataclass
class Rejected:
    scene_id: str
    reason_code: str
    reason: str
    seen_mono: float


@dataclass
class Outcome:
    product_id: str
    order_id: str
    ready: bool
    reason: str | None
    seen_mono: float


@dataclass
class Observed:
    ingested: dict[str, Ingested] = field(default_factory=dict)
    rejected: dict[str, Rejected] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by product id
    by_order: dict[str, set[str]] = field(default_factory=dict)  # order id -> settled product ids
    duplicates: dict[str, int] = field(default_factory=dict)  # event kind -> records seen again
    undecodable: int = 0


class BusObserver:
    """Reads the watched topics from `start` (topic -> partition -> offset)."""

    def __init__(self, settings: ServiceSettings, start: dict[str, dict[int, int]]) -> None:
        self.settings, self.start = settings, start
        self.seen = Observed()
        self.changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._ids: set[tuple[str, str | None]] = set()

    async def __aenter__(self) -> BusObserver:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            **self.settings.kafka_auth(),
        )
        await self.consumer.start()
        await self.consumer._client.force_metadata_update()
        parts = []
        for model in WATCHED:
            topic = model.topic()
            for p in self.consumer.partitions_for_topic(topic) or ():
                parts.append((TopicPartition(topic, p), self.start.get(topic, {}).get(p)))
        self.consumer.assign([tp for tp, _ in parts])
        for tp, offset in parts:
            if offset is None:
                await self.consumer.seek_to_end(tp)
            else:
                self.consumer.seek(tp, offset)
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.consumer.stop()

    async def _run(self) -> None:
        while True:
            try:
                batch = await self.consumer.getmany(timeout_ms=200)
            except KafkaError as exc:  # a broker restart: aiokafka reconnects
                log.info("observer: %s", exc)
                await asyncio.sleep(0.5)
                continue
            now = time.monotonic()
            for records in batch.values():
                for r in records:
                    try:
                        self._handle(r, now)
                    except Exception:  # never lose the observer to one odd record
                        log.exception("observer: record %s/%s not understood", r.topic, r.offset)
                        self.seen.undecodable += 1
            if batch:
                self.changed.set()

    def _handle(self, r, now: float) -> None:
        headers = cloudevents.headers_to_dict(r.headers)
        ce_id = (r.topic, headers.get("ce_id"))  # ids are unique per topic, not across topics
        if ce_id in self._ids:  # the same event again (a relay republishing after a crash)
            kind = r.topic
            self.seen.duplicates[kind] = self.seen.duplicates.get(kind, 0) + 1
            return
        try:
            decoded = cloudevents.decode(headers, r.value or b"")
        except Exception:
            self.seen.undecodable += 1
            return
        if ce_id[1]:
            self._ids.add(ce_id)
        event = decoded.event
        s = self.seen
        if isinstance(event, SceneIngestedV1):
            props = event.item.get("properties", {})
            s.ingested[event.scene_id] = Ingested(
                event.scene_id,
                event.collection,
                event.version,
                decoded.time or datetime.now(UTC),
                now,
                props.get("eo:cloud_cover"),
            )
        elif isinstance(event, SceneRejectedV1):
            s.rejected[event.scene_id] = Rejected(event.scene_id, event.reason_code.value, event.reason, now)
        elif isinstance(event, ProductReadyV1 | ProductFailedV1):
            if event.product_id in s.outcomes:
                s.duplicates["product-outcome"] = s.duplicates.get("product-outcome", 0) + 1
                return
            ready = isinstance(event, ProductReadyV1)
            reason = None if ready else f"{event.reason_code.value}: {event.reason}"  # type: ignore[union-attr]
            s.outcomes[event.product_id] = Outcome(event.product_id, event.order_id, ready, reason, now)
            s.by_order.setdefault(event.order_id, set()).add(event.product_id)

    async def wait(self, check, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not check():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
        return True


class SearchProbe:
    """Finds when each ingested scene first answers a catalogue search (`POST /search`
    with its id), polling every `every_s` for all the scenes still waiting at once."""

    def __init__(self, catalog_url: str, seen: Observed, every_s: float = 0.02) -> None:
        self.url = catalog_url.rstrip("/") + "/search"
        self.seen, self.every_s = seen, every_s
        self.errors = 0

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while True:
                waiting = [i for i in self.seen.ingested.values() if i.searchable_mono is None]
                for chunk in (waiting[k : k + 100] for k in range(0, len(waiting), 100)):
                    try:
                        r = await http.post(self.url, json={"ids": [i.scene_id for i in chunk], "limit": 100})
                        found = (
                            {f["id"] for f in r.json().get("features", [])} if r.status_code == 200 else set()
                        )
                    except (httpx.HTTPError, ValueError):
                        self.errors += 1
                        continue
                    now_mono, now_wall = time.monotonic(), datetime.now(UTC)
                    for i in chunk:
                        if i.scene_id in found:
                            i.searchable_mono = now_mono
                            i.searchable_ms = (now_wall - i.event_time).total_seconds() * 1000
                await asyncio.sleep(self.every_s)


class LagSampler:
    """The services' consumer lag (the ops console's reading: committed vs end offsets per
    group and topic), every `every_s`: the peak per group, and the last reading."""

    def __init__(self, settings: ServiceSettings, every_s: float = 3.0) -> None:
        self.bus = KafkaPipelineBus(settings)
        self.every_s = every_s
        self.peaks: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.samples = 0
        self.errors = 0

    async def sample(self) -> dict[str, int]:
        per_group: dict[str, int] = {}
        for lag in await self.bus.lags():
            per_group[lag.group] = per_group.get(lag.group, 0) + max(0, lag.lag)
        self.last = per_group
        for g, v in per_group.items():
            self.peaks[g] = max(self.peaks.get(g, 0), v)
        self.samples += 1
        return per_group

    async def run(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception as exc:  # a server restarting: the next sample will tell
                self.errors += 1
                log.info("lag sample failed: %s", exc)
            await asyncio.sleep(self.every_s)
