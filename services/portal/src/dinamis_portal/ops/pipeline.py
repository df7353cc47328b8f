"""The pipeline page's pieces besides Kafka (ops/kafka_admin.py): where the services are
and what their readiness and metrics say (`ServiceProbe`), what a dead letter says (its
`dlq_*` headers, its CloudEvents attributes, its body), how a replay is built from it,
and the replay claims (`ReplayClaims`, the portal's MongoDB) that make a dead letter
replayed once unless an operator explicitly asks again."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pymongo.errors import DuplicateKeyError

from dinamis_portal.errors import PortalError, bad_input
from dinamis_portal.ops.kafka_admin import DLQ_TOPICS, EVENT_TOPICS, Record
from dinamis_portal.upstream import problem_detail
from dinamis_shared.topics import BY_CE_TYPE, DLQ_SUFFIX

BODY_LIMIT = 20_000  # characters of a body shown
HEADER_LIMIT = 2_000  # characters of a header value shown
REPLAY_HEADER = "dinamis_replay_of"
REF = re.compile(r"^(?P<topic>[a-z0-9.-]{1,120}):(?P<partition>[0-9]{1,6}):(?P<offset>[0-9]{1,19})\Z")


# --- services: readiness and metrics --------------------------------------------------


@dataclass(frozen=True)
class Readiness:
    service: str
    url: str
    ready: bool
    status: int | None  # HTTP status, None when unreachable
    checks: dict[str, str] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class Throughput:
    """What the services' Prometheus metrics say now (None: not exposed or unreachable)."""

    ingest_handled: float | None = None  # scene-acquired events ingested since ingest started
    ingest_dead_lettered: float | None = None
    delivery_queued: float | None = None
    delivery_in_flight: float | None = None
    delivery_per_minute: float | None = None
    delivery_built: float | None = None
    delivery_failed: float | None = None


class ServiceProbe(Protocol):
    async def readiness(self) -> list[Readiness]: ...

    async def throughput(self) -> Throughput: ...


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True)
class Metrics:
    samples: Samples
    families: frozenset[str]  # every metric family named, samples or not


def metric_values(exposition: str) -> Metrics:
    """The samples {(sample name, sorted labels): value} of a Prometheus text exposition,
    and the names of its families (a labelled metric without any child yet has none)."""
    samples: Samples = {}
    families = set()
    for family in text_string_to_metric_families(exposition):
        families.add(family.name)
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return Metrics(samples, frozenset(families))


def _sum(metrics: Metrics, name: str, **labels: str) -> float | None:
    """The sum of `name`'s samples with `labels`: 0 when the service exposes the metric but
    no such sample yet (a labelled counter appears at its first increment), None when it
    does not expose it at all."""
    if name.removesuffix("_total") not in metrics.families and name not in metrics.families:
        return None
    wanted = set(labels.items())
    return sum(v for (n, ls), v in metrics.samples.items() if n == name and wanted <= set(ls))


def throughput_of(ingest: str | None, delivery: str | None) -> Throughput:
    empty = Metrics({}, frozenset())
    i = metric_values(ingest) if ingest else empty
    d = metric_values(delivery) if delivery else empty
    consumed = "dinamis_events_consumed_total"
    return Throughput(
        ingest_handled=_sum(i, consumed, group="ingest", outcome="handled"),
        ingest_dead_lettered=_sum(i, consumed, group="ingest", outcome="dead-lettered"),
        delivery_queued=_sum(d, "dinamis_delivery_queue_depth", stage="pool"),
        delivery_in_flight=_sum(d, "dinamis_delivery_products_in_flight"),
        delivery_per_minute=_sum(d, "dinamis_delivery_products_per_minute"),
        delivery_built=_sum(d, "dinamis_delivery_products_total", outcome="built"),
        delivery_failed=_sum(d, "dinamis_delivery_products_total", outcome="failed"),
    )


class HttpServiceProbe:
    def __init__(self, urls: dict[str, str], http: httpx.AsyncClient, timeout_s: float) -> None:
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.http = http
        self.timeout_s = timeout_s

    async def _ready(self, name: str, url: str) -> Readiness:
        try:
            r = await self.http.get(f"{url}/readyz", timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            return Readiness(name, url, False, None, error=type(exc).__name__)
        try:
            body = r.json()
            checks = {str(k): str(v) for k, v in (body.get("checks") or {}).items()}
        except (ValueError, AttributeError):
            checks = {}
        return Readiness(name, url, r.status_code == 200, r.status_code, checks)

    async def readiness(self) -> list[Readiness]:
        return list(await asyncio.gather(*(self._ready(n, u) for n, u in self.urls.items())))

    async def _metrics(self, name: str) -> str | None:
        url = self.urls.get(name)
        if not url:
            return None
        try:
            r = await self.http.get(f"{url}/metrics", timeout=self.timeout_s)
        except httpx.HTTPError:
            return None
        return r.text[:2_000_000] if r.status_code == 200 else None

    async def throughput(self) -> Throughput:
        ingest, delivery = await asyncio.gather(self._metrics("ingest"), self._metrics("delivery"))
        try:
            return throughput_of(ingest, delivery)
        except ValueError:  # not a Prometheus exposition
            return Throughput()


# --- notify: failing webhooks ---------------------------------------------------------


@dataclass(frozen=True)
class FailingHooks:
    """notify's answer for staff: its failing endpoints, or its refusal (code, detail)."""

    hooks: list[dict[str, Any]] = field(default_factory=list)
    refusal: dict[str, str] | None = None


class NotifyStaff(Protocol):
    async def failing_webhooks(self, token: str) -> FailingHooks: ...


class HttpNotifyStaff:
    """notify's staff list of failing webhooks, called with the operator's own token (notify
    decides from orders' records whether the caller is staff)."""

    def __init__(self, notify_url: str, http: httpx.AsyncClient, timeout_s: float) -> None:
        self.url = notify_url.rstrip("/") + "/v1/staff/webhooks/failing"
        self.http = http
        self.timeout_s = timeout_s

    async def failing_webhooks(self, token: str) -> FailingHooks:
        try:
            r = await self.http.get(
                self.url,
                params={"limit": "100"},
                headers={"Authorization": f"Bearer {token}", "Accept-Language": "fr"},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            return FailingHooks(refusal={"code": "notify-unavailable", "detail": type(exc).__name__})
        if r.status_code != 200:
            code, detail = problem_detail(r)
            return FailingHooks(refusal={"code": code, "detail": detail})
        try:
            hooks = r.json().get("webhooks")
        except (ValueError, AttributeError):
            hooks = None
        if not isinstance(hooks, list):
            return FailingHooks(refusal={"code": "upstream-error", "detail": "réponse illisible"})
        return FailingHooks([h for h in hooks if isinstance(h, dict)][:100])


# --- a dead letter, as shown ---------------------------------------------------------


def text_of(value: bytes, limit: int) -> str:
    shown = value.decode("utf-8", "replace")
    return shown if len(shown) <= limit else shown[:limit] + " […]"


@dataclass(frozen=True)
class DeadLetter:
    record: Record

    def header(self, name: str) -> str:
        for k, v in self.record.headers:
            if k == name:
                return text_of(v, HEADER_LIMIT)
        return ""

    @property
    def ref(self) -> str:
        return self.record.ref

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(text_of(k.encode(), 200), text_of(v, HEADER_LIMIT)) for k, v in self.record.headers]

    @property
    def reason(self) -> str:
        return self.header("dlq_reason")

    @property
    def code(self) -> str:
        return self.header("dlq_error_code")

    @property
    def group(self) -> str:
        return self.header("dlq_consumer_group")

    @property
    def original(self) -> str:
        return ":".join(
            (
                self.header("dlq_original_topic"),
                self.header("dlq_original_partition"),
                self.header("dlq_original_offset"),
            )
        )

    @property
    def failed_at(self) -> str:
        return self.header("dlq_failed_at")

    @property
    def event_type(self) -> str:
        return self.header("ce_type")

    @property
    def event_id(self) -> str:
        return self.header("ce_id")

    @property
    def subject(self) -> str:
        return self.header("ce_subject")

    @property
    def value_dropped(self) -> bool:
        return bool(self.header("dlq_value_dropped"))

    @property
    def body(self) -> str:
        """The body, pretty-printed when it is JSON, truncated (the template escapes it)."""
        raw = self.record.value
        try:
            shown = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            shown = raw.decode("utf-8", "replace")
        return shown if len(shown) <= BODY_LIMIT else shown[:BODY_LIMIT] + "\n[…]"

    @property
    def body_size(self) -> int:
        return len(self.record.value)


@dataclass(frozen=True)
class Rejection:
    """An ingest rejection (a `scene-rejected` event) as the QA list shows it."""

    record: Record
    scene_id: str
    supplier: str
    product: str
    code: str
    reason: str
    staging: str

    @classmethod
    def of(cls, record: Record) -> Rejection:
        try:
            body = json.loads(record.value)
        except (ValueError, RecursionError):
            body = None
        body = body if isinstance(body, dict) else {}
        staging = body.get("staging") if isinstance(body.get("staging"), dict) else {}

        def shown(value: Any, limit: int = 300) -> str:
            return text_of(str(value if value is not None else "").encode(), limit)

        return cls(
            record,
            shown(body.get("scene_id")),
            shown(body.get("supplier")),
            shown(body.get("supplier_product_id")),
            shown(body.get("reason_code"), 100),
            shown(body.get("reason"), 4000),
            shown(f"{staging.get('bucket', '')}/{staging.get('prefix', '')}" if staging else ""),
        )


# --- references and replays ------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


def unknown_topic() -> PortalError:
    return PortalError(
        "unknown dead-letter topic",
        code="unknown-topic",
        message_fr="file de lettres mortes inconnue",
        status=404,
    )


def dlq_topic(raw: str) -> str:
    if raw not in DLQ_TOPICS:
        raise unknown_topic()
    return raw


def parse_offset(raw: str, what: str = "offset") -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise bad_input("bad-offset", f"position « {what} » illisible", f"unreadable '{what}' position")
    return int(raw)


def parse_ref(raw: str) -> Ref:
    found = REF.match(raw)
    if not found:
        raise bad_input(
            "bad-reference", "référence de lettre morte illisible", "unreadable dead-letter reference"
        )
    return Ref(dlq_topic(found["topic"]), int(found["partition"]), int(found["offset"]))


def parse_cursor(raw: str) -> dict[int, int] | None:
    """`0-12.3-5` → {0: 12, 3: 5}: for each partition, the offset the page ends below."""
    if not raw:
        return None
    cursor = {}
    for part in raw.split(".")[:1000]:
        p, sep, o = part.partition("-")
        if not sep:
            raise bad_input("bad-offset", "position de page illisible", "unreadable page position")
        cursor[parse_offset(p, "partition")] = parse_offset(o)
    return cursor


def format_cursor(cursor: dict[int, int] | None) -> str:
    return ".".join(f"{p}-{o}" for p, o in sorted((cursor or {}).items()))


def replay_refused(code: str, message_fr: str, message: str, status: int = 409) -> PortalError:
    return PortalError(message, code=code, message_fr=message_fr, status=status)


def replay_of(letter: DeadLetter, operator: str) -> tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]:
    """(topic, key, value, headers) of the replay: the dead letter's own bytes, its
    original headers (those kept in base64 decoded back), without the `dlq_*` ones, with
    `dinamis_replay_of` naming the dead letter and the operator. Refused when its original
    topic is not a registry event topic (nor the one this `.dlq` topic belongs to), or
    when its value was dropped at dead-lettering."""
    record = letter.record
    original = letter.header("dlq_original_topic")
    if original not in EVENT_TOPICS or record.topic != original + DLQ_SUFFIX:
        raise replay_refused(
            "not-a-registry-topic",
            "le sujet d'origine de cette lettre n'est pas un sujet d'événements de la plateforme",
            "this dead letter's original topic is not one of the platform's event topics",
            status=422,
        )
    model = BY_CE_TYPE.get(letter.header("ce_type"))
    if model is None or model.topic() != original:
        # Only an event of the topic's own type goes back: a letter planted in a dead-letter
        # topic (which several services write) cannot be published on another event's topic.
        raise replay_refused(
            "type-mismatch",
            "le type d'événement de cette lettre n'est pas celui de son sujet d'origine",
            "this dead letter's event type is not its original topic's",
            status=422,
        )
    if letter.value_dropped:
        raise replay_refused(
            "value-dropped",
            "le contenu de cette lettre a été abandonné (trop volumineux) : rien à rejouer",
            "this dead letter's value was dropped (too large): nothing to replay",
            status=422,
        )
    encoded = set(filter(None, letter.header("dlq_base64_headers").split(",")))
    headers: list[tuple[str, bytes]] = []
    for name, value in record.headers:
        if name.startswith("dlq_") or name == REPLAY_HEADER:
            continue
        if name in encoded:
            try:
                value = base64.b64decode(value, validate=True)
            except ValueError:
                pass
        headers.append((name, value))
    headers.append((REPLAY_HEADER, f"{record.ref} by {operator}"[:500].encode()))
    return original, record.key, record.value, headers


class ReplayClaims(Protocol):
    async def counts(self, refs: list[str]) -> dict[str, int]:
        """How many times each dead letter was replayed."""
        ...

    async def claim(self, ref: str, seen: int, again: bool, by: str) -> int | None:
        """Claim the right to replay `ref` (atomically): the first replay, or (`again`) one
        more after the `seen` replays the operator saw; the new count, None when refused."""
        ...

    async def release(self, ref: str, count: int) -> None:
        """Undo a claim whose replay could not be written."""
        ...


class MongoReplayClaims:
    """One document per replay of a dead letter, `_id` = `<ref>#<n>` (the n-th replay):
    two operators claiming the same replay insert the same `_id`, and the unique `_id`
    lets one of them through — an insert is atomic on FerretDB, where a conditional
    find-and-modify under concurrent calls was seen to let both through."""

    COLLECTION = "ops_dlq_replays"

    def __init__(self, db: Any) -> None:
        self.collection = db[self.COLLECTION]

    async def counts(self, refs: list[str]) -> dict[str, int]:
        if not refs:
            return {}
        found: dict[str, int] = {}
        async for doc in self.collection.find({"ref": {"$in": refs[:500]}}, {"ref": 1, "n": 1}):
            ref = str(doc["ref"])
            found[ref] = max(found.get(ref, 0), int(doc.get("n") or 0))
        return found

    async def claim(self, ref: str, seen: int, again: bool, by: str) -> int | None:
        n = 1 if not again or seen == 0 else seen + 1
        try:
            await self.collection.insert_one(
                {"_id": f"{ref}#{n}", "ref": ref, "n": n, "at": datetime.now(UTC), "by": by}
            )
        except DuplicateKeyError:
            return None
        return n

    async def release(self, ref: str, count: int) -> None:
        await self.collection.delete_one({"_id": f"{ref}#{count}"})


@dataclass
class PipelinePorts:
    bus: Any  # kafka_admin.PipelineBus
    probe: ServiceProbe
    claims: ReplayClaims
    notify: NotifyStaff | None = None
