"""The console's pipeline section (`/ops/chaine`) with fakes of its ports (ops/kafka_admin
PipelineBus, ops/pipeline ServiceProbe and ReplayClaims): health and lag, dead letters
page by page, hostile headers and bodies shown escaped, bad input refused, a replay's
exact bytes and headers, once only unless asked again (two operators at once included),
and every replay — refused ones too — in the journal. The Kafka adapter and the MongoDB
claims are tested on the real stack (tests/integration/test_ops_pipeline.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import re

import pytest

from dinamis_portal.ops.kafka_admin import Lag, Page, Record, merge_newest, next_cursor, page_ranges
from dinamis_portal.ops.pipeline import (
    DeadLetter,
    FailingHooks,
    PipelinePorts,
    Readiness,
    Throughput,
    format_cursor,
    parse_cursor,
    replay_of,
    throughput_of,
)

ACQ = "dinamis.scene-acquired.v1"
DLQ = ACQ + ".dlq"
PRODUCTS_DLQ = "dinamis.delivery-requested.v1.dlq"


def letter_headers(offset: int, **extra: str) -> tuple[tuple[str, bytes], ...]:
    headers = {
        "ce_specversion": "1.0",
        "ce_id": f"evt-{offset}",
        "ce_source": "/supplier/airbus",
        "ce_type": "fr.dinamis.scene-acquired.v1",
        "ce_subject": f"SCENE-{offset}",
        "content-type": "application/json",
        "dlq_error_class": "IngestRejected",
        "dlq_error_code": "missing-file",
        "dlq_reason": f"fichier manquant {offset}",
        "dlq_consumer_group": "ingest",
        "dlq_original_topic": ACQ,
        "dlq_original_partition": "0",
        "dlq_original_offset": str(100 + offset),
        "dlq_failed_at": f"2026-11-28T10:{offset % 60:02d}:00+00:00",
        **extra,
    }
    return tuple((k, v.encode()) for k, v in headers.items())


def record(
    partition: int, offset: int, ts: int, *, topic: str = DLQ, value: bytes | None = None, **h
) -> Record:
    body = value if value is not None else json.dumps({"scene_id": f"SCENE-{offset}"}).encode()
    return Record(topic, partition, offset, ts, f"SCENE-{offset}".encode(), body, letter_headers(offset, **h))


class FakeBus:
    def __init__(self) -> None:
        self.topics: dict[str, dict[int, list[Record]]] = {}
        self.published: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]] = []
        self.down = False
        self.lag_rows = [
            Lag("ingest", ACQ, 12, 10, 2, 6),
            Lag("catalog", "dinamis.scene-ingested.v1", 5, 5, 0, 6),
        ]

    def add(self, *records: Record) -> None:
        for r in records:
            self.topics.setdefault(r.topic, {}).setdefault(r.partition, []).append(r)

    def bounds(self, topic: str) -> dict[int, tuple[int, int]]:
        return {p: (rs[0].offset, rs[-1].offset + 1) for p, rs in self.topics.get(topic, {}).items()}

    def _check(self) -> None:
        if self.down:
            raise OSError("connection refused")

    async def lags(self) -> list[Lag]:
        self._check()
        return self.lag_rows

    async def dlq_sizes(self) -> dict[str, int]:
        self._check()
        return {t: sum(len(rs) for rs in parts.values()) for t, parts in self.topics.items()}

    async def page(self, topic: str, before: dict[int, int] | None, limit: int) -> Page:
        self._check()
        bounds = self.bounds(topic)
        start_at, ranges = page_ranges(bounds, before, limit)
        per = {p: [r for r in self.topics[topic][p] if lo <= r.offset < hi] for p, (lo, hi) in ranges.items()}
        taken = merge_newest(per, start_at, limit)
        total = sum(hi - lo for lo, hi in bounds.values())
        return Page(topic, taken, total, next_cursor(bounds, start_at, taken), bounds)

    async def read(self, topic: str, partition: int, offset: int) -> Record | None:
        self._check()
        return next((r for r in self.topics.get(topic, {}).get(partition, []) if r.offset == offset), None)

    async def publish(self, topic, key, value, headers) -> tuple[int, int]:
        self._check()
        await asyncio.sleep(0)  # let two concurrent replays interleave
        self.published.append((topic, key, value, headers))
        return 0, 1000 + len(self.published)


class FakeProbe:
    def __init__(self) -> None:
        self.ready = {"ingest": True, "catalog": True, "orders": True, "delivery": True, "notify": True}

    async def readiness(self) -> list[Readiness]:
        return [
            Readiness(n, f"http://{n}.test", ok, 200 if ok else 503, {"kafka": "ok" if ok else "failed"})
            for n, ok in self.ready.items()
        ]

    async def throughput(self) -> Throughput:
        return Throughput(
            ingest_handled=42, ingest_dead_lettered=3, delivery_queued=1, delivery_per_minute=2.5
        )


class MemoryClaims:
    def __init__(self) -> None:
        self.count: dict[str, int] = {}

    async def counts(self, refs):
        return {r: self.count[r] for r in refs if r in self.count}

    async def claim(self, ref, seen, again, by):
        current = self.count.get(ref, 0)
        if current == 0 and (not again or seen == 0):
            self.count[ref] = 1
            return 1
        if again and current == seen and seen > 0:
            self.count[ref] = seen + 1
            return seen + 1
        return None

    async def release(self, ref, count):
        if self.count.get(ref) == count:
            self.count[ref] = count - 1


class FakeNotify:
    def __init__(self) -> None:
        self.answer = FailingHooks()
        self.tokens: list[str] = []

    async def failing_webhooks(self, token: str) -> FailingHooks:
        self.tokens.append(token)
        return self.answer


@pytest.fixture
async def ops(portal):
    portal.orders.standing = "staff"
    portal.bus = FakeBus()
    portal.probe = FakeProbe()
    portal.claims = MemoryClaims()
    portal.notify = FakeNotify()
    portal.app.state.container.pipeline = PipelinePorts(
        portal.bus, portal.probe, portal.claims, portal.notify
    )
    await portal.login()
    return portal


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def refs(html: str) -> list[str]:
    return re.findall(r'class="pipe-letter" data-ref="([^"]+)"', html)


async def test_health_shows_readiness_lag_throughput_and_dead_letter_counts(ops):
    ops.bus.add(record(0, 0, 1000), record(1, 0, 2000))
    page = (await ops.client.get("/ops/chaine")).text
    assert 'id="pipe-all-ready"' in page and "Tous les services sont prêts." in page
    assert page.count('data-ready="yes"') == 5
    assert 'data-group="ingest" data-topic="dinamis.scene-acquired.v1" data-lag="2"' in page
    assert '<dd id="pipe-indexing">0</dd>' in page  # the catalog group's lag
    assert "42" in page and "2.5" in page
    assert re.search(r'data-topic="dinamis.scene-acquired.v1.dlq">.*?<strong>2</strong>', page, re.S)
    ops.probe.ready["delivery"] = False
    page = (await ops.client.get("/ops/chaine?lang=en")).text
    assert 'data-service="delivery" data-ready="no"' in page and "At least one service is not ready." in page


async def test_health_page_survives_the_bus_down(ops):
    ops.bus.down = True
    response = await ops.client.get("/ops/chaine")
    assert response.status_code == 200
    assert "bus-unavailable" in response.text and "ne répond pas" in response.text
    down = await ops.client.get(f"/ops/chaine/lettres?file={DLQ}", headers={"accept": "application/json"})
    assert down.status_code == 503 and down.json()["code"] == "bus-unavailable"


async def test_dead_letters_newest_first_across_partitions_paginated_by_offset(ops):
    # 3 partitions, 25 + 10 + 0 letters, timestamps interleaved; page size 20
    letters = [record(0, o, 1000 + 3 * o) for o in range(5, 30)] + [
        record(1, o, 1001 + 7 * o) for o in range(10)
    ]
    ops.bus.add(*letters)
    newest_first = [r.ref for r in sorted(letters, key=lambda r: (r.timestamp_ms, r.offset), reverse=True)]
    seen: list[str] = []
    url = f"/ops/chaine/lettres?file={DLQ}"
    for _ in range(5):
        page = (await ops.client.get(url)).text
        shown = refs(page)
        assert len(shown) <= 20
        seen += shown
        older = re.search(r'id="pipe-older" href="([^"]+)"', page)
        if not older:
            break
        url = older.group(1).replace("&amp;", "&")
    assert seen == newest_first, "every letter once, newest first"
    assert "35 lettres" in (await ops.client.get(f"/ops/chaine/lettres?file={DLQ}")).text


def test_pagination_pieces():
    bounds = {0: (5, 30), 1: (0, 10), 2: (4, 4)}
    start, ranges = page_ranges(bounds, {0: 7, 1: 99}, 20)
    assert start == {0: 7, 1: 10, 2: 4} and ranges == {0: (5, 7), 1: (0, 10)}
    assert next_cursor(bounds, start, []) == {0: 7, 1: 10, 2: 4}
    assert next_cursor({0: (0, 2)}, {0: 2}, [record(0, 0, 1), record(0, 1, 2)]) is None
    assert merge_newest({0: [record(0, 1, 5)], 1: [record(1, 1, 9)]}, {0: 5, 1: 5}, 1)[0].partition == 1
    assert parse_cursor(format_cursor({0: 12, 3: 5})) == {0: 12, 3: 5}


@pytest.mark.parametrize(
    "url",
    [
        "/ops/chaine/lettres?file=__consumer_offsets",
        "/ops/chaine/lettres?file=dinamis.scene-acquired.v1",
        "/ops/chaine/lettres/__consumer_offsets/0/1",
        "/ops/chaine/lettres/dinamis.scene-acquired.v1.dlq/0/99",
    ],
)
async def test_unknown_topics_and_letters_are_404(ops, url):
    ops.bus.add(record(0, 0, 1))
    response = await ops.client.get(url, headers={"accept": "application/json"})
    assert response.status_code == 404, response.text
    assert response.json()["code"] in {"unknown-topic", "not-found"}


@pytest.mark.parametrize(
    "url",
    [
        f"/ops/chaine/lettres?file={DLQ}&avant=abc",
        f"/ops/chaine/lettres?file={DLQ}&avant=0--1",
        f"/ops/chaine/lettres?file={DLQ}&avant=0-99999999999999999999",
        f"/ops/chaine/lettres?file={DLQ}&avant=%24ne",
        f"/ops/chaine/lettres/{DLQ}/x/1",
        f"/ops/chaine/lettres/{DLQ}/0/-1",
        f"/ops/chaine/lettres/{DLQ}/0/1e3",
    ],
)
async def test_bad_offsets_are_400_in_french(ops, url):
    response = await ops.client.get(url, headers={"accept": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "bad-offset" and "illisible" in response.json()["detail"]


async def test_hostile_headers_and_bodies_are_shown_escaped(ops):
    hostile = record(
        0,
        0,
        1,
        value=b'{"scene_id": "<script>alert(1)</script>", "x": "\xff\xfe"}',
        dlq_reason='<img src=x onerror="alert(2)">',
        evil_header="</td><script>alert(3)</script>",
    )
    ops.bus.add(hostile)
    for url in (f"/ops/chaine/lettres?file={DLQ}", f"/ops/chaine/lettres/{DLQ}/0/0"):
        page = (await ops.client.get(url)).text
        assert "<script>alert" not in page and "<img src=x" not in page, url
        assert "&lt;img src=x onerror=" in page
    detail = (await ops.client.get(f"/ops/chaine/lettres/{DLQ}/0/0")).text
    assert "&lt;/td&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in detail
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail and "\ufffd" in detail


async def test_a_long_body_is_truncated_and_json_pretty_printed():
    long = DeadLetter(record(0, 0, 1, value=json.dumps({"a": "x" * 50_000}).encode()))
    assert long.body.endswith("[…]") and len(long.body) < 20_100
    assert DeadLetter(record(0, 1, 1)).body == '{\n  "scene_id": "SCENE-1"\n}'


async def test_a_replay_republishes_the_exact_bytes_and_headers_once(ops):
    original_header = base64.b64encode(b"\xff\x00raw").decode()
    letter = record(2, 7, 5, value=b'{"exact": "bytes" }', odd=original_header, dlq_base64_headers="odd")
    ops.bus.add(letter)
    page = (await ops.client.get(f"/ops/chaine/lettres/{DLQ}/2/7")).text
    assert "fichier manquant 7" in page and "missing-file" in page and "ingest" in page
    form = {"csrf_token": csrf(page), "lettre": f"{DLQ}:2:7@0", "reason": "fichier déposé à nouveau"}
    done = await ops.client.post("/ops/chaine/rejouer", data=form)
    assert done.status_code == 303 and done.headers["location"].endswith("/2/7?fait=dlq-replayed")
    ((topic, key, value, headers),) = ops.bus.published
    assert (topic, key, value) == (ACQ, b"SCENE-7", b'{"exact": "bytes" }')
    names = [k for k, _ in headers]
    assert not [n for n in names if n.startswith("dlq_")]
    assert dict(headers)["odd"] == b"\xff\x00raw", "a header kept in base64 goes back as its bytes"
    assert dict(headers)["ce_id"] == b"evt-7" and dict(headers)["content-type"] == b"application/json"
    assert dict(headers)["dinamis_replay_of"] == f"{DLQ}:2:7 by marie@labo.example.fr".encode()
    (entry,) = ops.audit.recorded
    assert (entry.action, entry.target, entry.outcome) == ("dlq.replay", f"{DLQ}:2:7", "done")
    assert entry.reason == "fichier déposé à nouveau" and entry.details["replayed_to"] == f"{ACQ}:0:1001"
    assert entry.details["event_id"] == "evt-7" and entry.details["dlq_code"] == "missing-file"

    # the same letter again, without asking explicitly: refused, journaled, nothing sent
    again = await ops.client.post("/ops/chaine/rejouer", data=form, headers={"accept": "application/json"})
    assert again.status_code == 409 and again.json()["code"] == "already-replayed"
    assert len(ops.bus.published) == 1
    assert ops.audit.recorded[-1].outcome == "refused"
    assert ops.audit.recorded[-1].details["code"] == "already-replayed"
    page = (await ops.client.get(f"/ops/chaine/lettres/{DLQ}/2/7")).text
    assert "Déjà rejouée 1 fois." in page and f'value="{DLQ}:2:7@1"' in page

    # explicitly again, having seen one replay: a second replay; stale "seen": refused
    explicit = {**form, "lettre": f"{DLQ}:2:7@1", "again": "oui"}
    assert (await ops.client.post("/ops/chaine/rejouer", data=explicit)).status_code == 303
    assert len(ops.bus.published) == 2 and ops.claims.count[f"{DLQ}:2:7"] == 2
    stale = await ops.client.post(
        "/ops/chaine/rejouer", data=explicit, headers={"accept": "application/json"}
    )
    assert stale.status_code == 409 and len(ops.bus.published) == 2


async def test_two_operators_clicking_at_once_replay_it_once(ops):
    ops.bus.add(record(0, 3, 1))
    token = csrf((await ops.client.get(f"/ops/chaine/lettres/{DLQ}/0/3")).text)
    form = {"csrf_token": token, "lettre": f"{DLQ}:0:3@0", "reason": "corrigé"}
    answers = await asyncio.gather(*(ops.client.post("/ops/chaine/rejouer", data=form) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [303, 409]
    assert len(ops.bus.published) == 1
    assert sorted(e.outcome for e in ops.audit.recorded) == ["done", "refused"]


async def test_a_replay_needs_a_reason_and_the_refusal_is_journaled(ops):
    ops.bus.add(record(0, 0, 1))
    token = csrf((await ops.client.get(f"/ops/chaine/lettres/{DLQ}/0/0")).text)
    response = await ops.client.post(
        "/ops/chaine/rejouer",
        data={"csrf_token": token, "lettre": f"{DLQ}:0:0@0", "reason": "  "},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 400 and response.json()["code"] == "reason-required"
    assert ops.bus.published == [] and ops.claims.count == {}
    assert [(e.outcome, e.details["code"]) for e in ops.audit.recorded] == [("refused", "reason-required")]


async def test_a_letter_whose_origin_is_not_a_registry_topic_is_refused(ops):
    forged = record(0, 0, 1, dlq_original_topic="__consumer_offsets")
    elsewhere = record(0, 1, 1, dlq_original_topic="dinamis.request-approved.v1")
    ops.bus.add(forged, elsewhere)
    token = csrf((await ops.client.get(f"/ops/chaine/lettres/{DLQ}/0/0")).text)
    for ref in ("0:0", "0:1"):
        response = await ops.client.post(
            "/ops/chaine/rejouer",
            data={"csrf_token": token, "lettre": f"{DLQ}:{ref}@0", "reason": "essai"},
            headers={"accept": "application/json"},
        )
        assert response.status_code == 422 and response.json()["code"] == "not-a-registry-topic"
    assert ops.bus.published == [] and ops.claims.count == {}
    assert [e.outcome for e in ops.audit.recorded] == ["refused", "refused"]


async def test_a_letter_of_another_events_type_is_never_published_on_that_topic(ops):
    # A letter planted in scene-acquired's dead-letter topic claiming to be a
    # scene-ingested (or with no type at all): replaying it would publish a forgery.
    planted = record(0, 0, 1, ce_type="fr.dinamis.scene-ingested.v1")
    untyped = record(0, 1, 1, ce_type="")
    ops.bus.add(planted, untyped)
    token = csrf((await ops.client.get(f"/ops/chaine/lettres/{DLQ}/0/0")).text)
    for ref in ("0:0", "0:1"):
        response = await ops.client.post(
            "/ops/chaine/rejouer",
            data={"csrf_token": token, "lettre": f"{DLQ}:{ref}@0", "reason": "essai"},
            headers={"accept": "application/json"},
        )
        assert response.status_code == 422 and response.json()["code"] == "type-mismatch"
    assert ops.bus.published == [] and ops.claims.count == {}


@pytest.mark.parametrize(
    ("lettre", "status", "code"),
    [
        ("dinamis.scene-acquired.v1:0:0@0", 404, "unknown-topic"),
        ("__consumer_offsets:0:0@0", 400, "bad-reference"),
        (f"{DLQ}:0:99@0", 404, "not-found"),
        (f"{DLQ}:0@0", 400, "bad-reference"),
        (f"{DLQ}:0:0@-1", 400, "bad-offset"),
    ],
)
async def test_bad_references_are_refused_and_journaled(ops, lettre, status, code):
    ops.bus.add(record(0, 0, 1))
    token = csrf((await ops.client.get(f"/ops/chaine/lettres?file={DLQ}")).text)
    response = await ops.client.post(
        "/ops/chaine/rejouer",
        data={"csrf_token": token, "lettre": lettre, "reason": "essai"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == status and response.json()["code"] == code
    assert ops.bus.published == []
    if code != "bad-offset":  # an unreadable "seen" count is refused before anything is read
        assert ops.audit.recorded[-1].outcome == "refused" and ops.audit.recorded[-1].details["code"] == code


async def test_a_selection_is_replayed_letter_by_letter(ops):
    ops.bus.add(record(0, 0, 1), record(0, 1, 2), record(1, 0, 3))
    ops.claims.count[f"{DLQ}:0:1"] = 1  # already replayed
    page = (await ops.client.get(f"/ops/chaine/lettres?file={DLQ}")).text
    assert "1 fois" in page
    data = {
        "csrf_token": csrf(page),
        "lettre": [f"{DLQ}:0:0@0", f"{DLQ}:0:1@1", f"{DLQ}:1:0@0"],
        "reason": "réparé",
    }
    response = await ops.client.post("/ops/chaine/rejouer", data=data)
    assert response.status_code == 303
    assert "fait=dlq-replayed-some&rejouees=2&refusees=1" in response.headers["location"]
    assert len(ops.bus.published) == 2
    shown = (await ops.client.get(response.headers["location"])).text
    assert "2 lettre(s) rejouée(s), 1 refusée(s)" in shown
    assert sorted(e.outcome for e in ops.audit.recorded) == ["done", "done", "refused"]


async def test_nothing_selected_or_too_much_is_refused(ops):
    token = csrf((await ops.client.get(f"/ops/chaine/lettres?file={DLQ}")).text)
    none = await ops.client.post(
        "/ops/chaine/rejouer",
        data={"csrf_token": token, "reason": "x"},
        headers={"accept": "application/json"},
    )
    assert none.status_code == 400 and none.json()["code"] == "nothing-selected"
    many = await ops.client.post(
        "/ops/chaine/rejouer",
        data={"csrf_token": token, "reason": "x", "lettre": [f"{DLQ}:0:{i}@0" for i in range(51)]},
        headers={"accept": "application/json"},
    )
    assert many.status_code == 400 and many.json()["code"] == "too-many"


async def test_a_replay_without_the_csrf_token_is_refused(ops):
    ops.bus.add(record(0, 0, 1))
    response = await ops.client.post(
        "/ops/chaine/rejouer",
        data={"lettre": f"{DLQ}:0:0@0", "reason": "x"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 403 and ops.bus.published == []


async def test_a_failed_write_releases_the_claim_and_is_journaled(ops):
    ops.bus.add(record(0, 0, 1))
    token = csrf((await ops.client.get(f"/ops/chaine/lettres/{DLQ}/0/0")).text)
    real_publish = ops.bus.publish

    async def broken(*args):
        raise OSError("broker gone")

    ops.bus.publish = broken
    form = {"csrf_token": token, "lettre": f"{DLQ}:0:0@0", "reason": "essai"}
    response = await ops.client.post("/ops/chaine/rejouer", data=form, headers={"accept": "application/json"})
    assert response.status_code == 503 and response.json()["code"] == "bus-unavailable"
    assert ops.audit.recorded[-1].outcome == "failed" and ops.claims.count.get(f"{DLQ}:0:0", 0) == 0
    ops.bus.publish = real_publish
    assert (await ops.client.post("/ops/chaine/rejouer", data=form)).status_code == 303


def test_replay_of_a_dropped_value_is_refused():
    with pytest.raises(Exception, match="dropped"):
        replay_of(DeadLetter(record(0, 0, 1, value=b"", dlq_value_dropped="9000000")), "op")


def test_throughput_from_prometheus_metrics():
    ingest = (
        'dinamis_events_consumed_total{group="ingest",outcome="handled",topic="t"} 7.0\n'
        'dinamis_events_consumed_total{group="ingest",outcome="dead-lettered",topic="t"} 2.0\n'
        'dinamis_events_consumed_total{group="other",outcome="handled",topic="t"} 99.0\n'
    )
    delivery = (
        'dinamis_delivery_queue_depth{stage="pool"} 3.0\n'
        'dinamis_delivery_queue_depth{stage="kafka"} 50.0\n'
        "dinamis_delivery_products_in_flight 2.0\n"
        "dinamis_delivery_products_per_minute 4.0\n"
        'dinamis_delivery_products_total{outcome="built"} 10.0\n'
    )
    got = throughput_of(ingest, delivery)
    assert (got.ingest_handled, got.ingest_dead_lettered) == (7, 2)
    assert (got.delivery_queued, got.delivery_in_flight, got.delivery_per_minute) == (3, 2, 4)
    assert (got.delivery_built, got.delivery_failed) == (10, 0), "exposed, no failure yet: 0"
    assert throughput_of("other_metric 1.0\n", None).ingest_handled is None, "not exposed"
    family_only = (
        "# HELP dinamis_delivery_products_total Products\n# TYPE dinamis_delivery_products_total counter\n"
    )
    assert throughput_of(None, family_only).delivery_failed == 0, "exposed, no child yet: 0"
    assert throughput_of(None, None) == Throughput()


async def test_the_qa_list_shows_ingest_rejections_with_their_reasons_escaped(ops):
    topic = "dinamis.scene-rejected.v1"
    body = {
        "scene_id": "SCENE-9",
        "supplier": "airbus",
        "supplier_product_id": "1234",
        "staging": {"bucket": "staging", "prefix": "airbus/1234/"},
        "reason_code": "missing-file",
        "reason": "<b>IMG_R1C1.TIF</b> absent",
    }
    ops.bus.add(
        record(0, 0, 5, topic=topic, value=json.dumps(body).encode()),
        record(0, 1, 6, topic=topic, value=b"\xff not json ["),
        record(1, 0, 7, topic=topic, value=b'["a list"]'),
    )
    page = (await ops.client.get("/ops/chaine/rejets")).text
    assert page.count('class="pipe-rejection"') == 3 and "3 rejets" in page
    assert 'data-scene="SCENE-9" data-code="missing-file"' in page
    assert "&lt;b&gt;IMG_R1C1.TIF&lt;/b&gt; absent" in page and "<b>IMG" not in page
    assert "staging/airbus/1234/" in page
    bad = await ops.client.get("/ops/chaine/rejets?avant=x", headers={"accept": "application/json"})
    assert bad.status_code == 400 and bad.json()["code"] == "bad-offset"


async def test_a_browser_sees_the_refusal_on_the_letter_page(ops):
    ops.bus.add(record(0, 0, 1))
    ops.claims.count[f"{DLQ}:0:0"] = 1
    page = (await ops.client.get(f"/ops/chaine/lettres/{DLQ}/0/0")).text
    response = await ops.client.post(
        "/ops/chaine/rejouer",
        data={"csrf_token": csrf(page), "lettre": f"{DLQ}:0:0@0", "reason": "encore"},
        headers={"accept": "text/html"},
    )
    assert response.status_code == 409
    assert 'id="refus"' in response.text and "already-replayed" in response.text
    assert "déjà été rejouée" in response.text and 'id="pipe-headers"' in response.text
    assert ops.bus.published == []


async def test_the_pages_are_in_english_on_request(ops):
    ops.bus.add(record(0, 0, 1))
    for url, title in (
        ("/ops/chaine?lang=en", "Pipeline health"),
        (f"/ops/chaine/lettres?file={DLQ}&lang=en", "Dead letters"),
        (f"/ops/chaine/lettres/{DLQ}/0/0?lang=en", f"Dead letter {DLQ}:0:0"),
        ("/ops/chaine/rejets?lang=en", "Ingest rejections"),
    ):
        page = (await ops.client.get(url)).text
        assert "<h1" in page and title in page, url
        assert "Lettres mortes" not in page and "Santé de la chaîne</h1>" not in page, url


async def test_notify_failing_webhooks_are_listed_with_the_operators_token(ops):
    page = (await ops.client.get("/ops/chaine")).text
    assert 'id="pipe-hooks-none"' in page and ops.notify.tokens == ["ACCESS-TOKEN-SECRET"]
    ops.notify.answer = FailingHooks(
        [
            {
                "id": "wh_1",
                "organisation_id": "labo-<b>2</b>",
                "owner_user_id": "u-9",
                "url": "https://hooks.example/<script>x</script>",
                "failing_since": "2026-11-28T10:00:00Z",
                "last_error": "HTTP 500",
                "held_deliveries": 3,
            }
        ]
    )
    page = (await ops.client.get("/ops/chaine")).text
    assert 'data-hook="wh_1"' in page and "HTTP 500" in page and "28 novembre 2026, 10:00 UTC" in page
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page and "labo-&lt;b&gt;2" in page
    ops.notify.answer = FailingHooks(refusal={"code": "forbidden", "detail": "réservé au personnel"})
    page = (await ops.client.get("/ops/chaine")).text
    assert 'id="pipe-hooks-refused"' in page and "réservé au personnel" in page and "(forbidden)" in page
