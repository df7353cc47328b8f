"""The campaign's invariants, checked at the end from the stores and topics themselves.

Nothing here trusts a service's answer: the archive and delivery buckets are listed, the
pgSTAC tables, delivery's, notify's and orders' MongoDB collections are read, the SMTP
sink's mailbox is parsed, and the topics are read back from the offsets the run started
at (`CampaignRecord.start_offsets`).

Two halves:
- the adapters (`KafkaReader`, `StoresReader`, `lag_poll`) fill an `Observed` snapshot;
- `evaluate_*` are pure functions of (`CampaignRecord`, `Observed`) -> `Check`, one per
  invariant, so each can be shown to fail on a hand-made snapshot (campaign/tests).

`check(settings, record)` does both, invariant by invariant, timing each (adapter reads
included). `start_offsets(settings)` is what the driver records at the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.utils
import json
import logging
import mailbox
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dinamis_campaign.record import CampaignRecord, Fate
from dinamis_shared import clients
from dinamis_shared.acls import ARCHIVE_GROUP, OPS_CONSOLE_GROUP, OPS_CONSOLE_READS
from dinamis_shared.events import ProductReadyV1, SceneAcquiredV1, SceneIngestedV1, SceneRejectedV1
from dinamis_shared.settings import ServiceSettings
from dinamis_shared.topics import CONSUMES, DLQ_SUFFIX, TOPICS, all_topic_names, topic_for

log = logging.getLogger(__name__)

NAMES = (
    "scenes_archived_once",
    "scenes_catalogued_once",
    "products_built_once",
    "notifications_once",
    "quota_ledger_balanced",
    "requests_settled",
    "consumer_lag_zero",
    "dead_letters_only_deliberate",
)
MAX_DETAILS = 20
ARCHIVE_BUCKET = "archive"
PRODUCTS_BUCKET = "delivery"  # delivery's `delivery_bucket` default
# Stores (collections) read.
DELIVERY_PRODUCTS = "delivery_products"
NOTIFY_HISTORY = "notify_history"
QUOTA_LEDGER = "quota_ledger"
QUOTA_HEADS = "quota_ledger_heads"
REQUESTS = "requests"
PRODUCT_ORDERS = "product_orders"
# A request the run submitted and an operator approved may be at any of these at the end
# (services/orders/domain/requests.py): approved (not yet placed), cancelling is not (the
# run cancels nothing), in acquisition, or done.
EXPECTED_REQUEST_STATES = frozenset({"approved", "in_progress", "fulfilled", "partially_fulfilled"})
# A product order's final states (services/orders/service/product_orders.py `_status`).
FINAL_ORDER_STATES = frozenset({"ready", "failed", "partially_ready"})
# A notification's history status that is settled (sent, or not to be sent by the
# recipient's own preference / digest); `pending` (not sent yet) and `refused` are not.
SETTLED_NOTIFICATIONS = frozenset({"sent", "off", "digest-pending", "digested"})
KM2_TOLERANCE = 1e-6

_MANIFEST = re.compile(r"^(?P<scene>.+/)v(?P<version>\d+)/manifest\.json$")
_VERSION_DIR = re.compile(r"^(?P<scene>.+/)v(?P<version>\d+)/")


def default_groups() -> list[str]:
    """Every service consumer group (the registry's consumers, the reporting's archive,
    the ops console's coverage board): what `CampaignRecord.groups` should hold."""
    return sorted({*CONSUMES, ARCHIVE_GROUP, OPS_CONSOLE_GROUP})


def group_topics(group: str) -> list[str] | None:
    """The topics a known group consumes (None: unknown, read from its commits)."""
    if group in CONSUMES:
        return sorted(topic_for(m).name for m in CONSUMES[group])
    if group == ARCHIVE_GROUP:
        return sorted(TOPICS)
    if group == OPS_CONSOLE_GROUP:
        return sorted(OPS_CONSOLE_READS)
    return None


# --- the result --------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    expected: Any
    found: Any
    details: list[str] = field(default_factory=list)  # the first offending ids, with why
    seconds: float = 0.0


def summary(checks: list[Check]) -> dict:
    """The checks as JSON: all ok or not, and each one."""
    return {
        "ok": all(c.ok for c in checks),
        "failed": [c.name for c in checks if not c.ok],
        "checks": [asdict(c) for c in checks],
    }


# --- the snapshot the adapters fill -------------------------------------------------------


@dataclass(frozen=True)
class TopicRecord:
    """One record read back from a topic: its CloudEvents id (None: not an event), key,
    decoded JSON value (None: not JSON) and headers as text."""

    topic: str
    partition: int
    offset: int
    ce_id: str | None
    key: str | None
    value: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class GroupLag:
    """A consumer group's lag as polled: the last lag of each `topic:partition`, the largest
    total seen, and the seconds it took to reach 0 (None: never within the bound)."""

    final: dict[str, int] = field(default_factory=dict)
    max_seen: int = 0
    seconds_to_zero: float | None = None
    error: str | None = None


@dataclass
class Observed:
    # scenes
    archive_keys: list[str] = field(default_factory=list)  # every key of the archive bucket
    scene_ingested: list[TopicRecord] = field(default_factory=list)  # after the run's start
    scene_rejected: list[TopicRecord] = field(default_factory=list)
    # (item id, collection, dinamis:version) of every pgSTAC row whose id is a run scene
    items: list[tuple[str, str, int | None]] = field(default_factory=list)
    # products: delivery's records of the run's orders, the keys under their prefixes
    product_records: list[dict] = field(default_factory=list)
    product_objects: list[str] = field(default_factory=list)
    product_ready: list[TopicRecord] = field(default_factory=list)
    # notifications: notify's history of the run's users; e-mails received (None: no sink)
    notifications: list[dict] = field(default_factory=list)
    emails: list[tuple[str, str, str]] | None = None  # (to address, event id, kind)
    # quotas: ledger entries of the run's organisations, the head hints
    ledger: list[dict] = field(default_factory=list)
    heads: dict[str, int] = field(default_factory=dict)
    # orders' aggregates (latest revision's state)
    requests: dict[str, dict] = field(default_factory=dict)
    orders: dict[str, dict] = field(default_factory=dict)
    # bus
    lags: dict[str, GroupLag] = field(default_factory=dict)
    lag_bound_s: float = 0.0
    dead_letters: list[TopicRecord] = field(default_factory=list)


def _cut(items: Iterable[str]) -> list[str]:
    out = []
    for n, item in enumerate(items):
        if n >= MAX_DETAILS:
            break
        out.append(item)
    return out


# --- pure evaluation ------------------------------------------------------------------------


def archive_index(keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per scene id (the archive layout `<collection>/<yyyy>/<mm>/<dd>/<scene>/v<n>/...`):
    its manifests (version -> key), the scene prefixes holding objects, and the version
    directories without a manifest (a half-written version)."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"manifests": {}, "prefixes": set(), "versions": set(), "objects": 0}
    )
    for key in keys:
        m = _VERSION_DIR.match(key)
        if m is None:
            continue
        scene_prefix = m.group("scene")
        scene_id = scene_prefix.rstrip("/").rsplit("/", 1)[-1]
        entry = out[scene_id]
        entry["objects"] += 1
        entry["prefixes"].add(scene_prefix)
        version_dir = f"{scene_prefix}v{m.group('version')}"
        entry["versions"].add(version_dir)
        if (mm := _MANIFEST.match(key)) is not None:
            entry["manifests"][f"{scene_prefix}v{mm.group('version')}"] = key
    for entry in out.values():
        entry["orphans"] = sorted(v for v in entry["versions"] if v not in entry["manifests"])
    return dict(out)


def evaluate_scenes_archived(record: CampaignRecord, obs: Observed) -> Check:
    index = archive_index(obs.archive_keys)
    rejected: dict[str, list[str]] = defaultdict(list)
    for r in obs.scene_rejected:
        if isinstance(r.value, dict) and r.value.get("scene_id"):
            rejected[r.value["scene_id"]].append(
                f"{r.value.get('reason_code') or ''}: {r.value.get('reason') or ''}".strip(": ")
            )
    bad: list[str] = []
    archived = corrupt_rejected = 0
    for scene in sorted(record.scenes.values(), key=lambda s: s.scene_id):
        entry = index.get(scene.scene_id)
        if scene.fate is Fate.CORRUPT:
            reasons = [r for r in rejected.get(scene.scene_id, []) if r]
            if entry is not None:
                bad.append(f"{scene.scene_id}: corrupt, yet {entry['objects']} object(s) archived")
            elif not reasons:
                bad.append(f"{scene.scene_id}: corrupt, no scene-rejected with a reason")
            else:
                corrupt_rejected += 1
            continue
        if entry is None:
            bad.append(f"{scene.scene_id}: not archived")
            continue
        problems = []
        if len(entry["manifests"]) != 1:
            problems.append(f"{len(entry['manifests'])} manifests {sorted(entry['manifests'])}")
        if len(entry["prefixes"]) != 1:
            problems.append(f"objects under {len(entry['prefixes'])} prefixes {sorted(entry['prefixes'])}")
        if entry["orphans"]:
            problems.append(f"version(s) without manifest {entry['orphans']}")
        if problems:
            bad.append(f"{scene.scene_id}: " + "; ".join(problems))
        else:
            archived += 1
    kept = sum(1 for s in record.scenes.values() if s.fate is not Fate.CORRUPT)
    corrupt = len(record.scenes) - kept
    return Check(
        "scenes_archived_once",
        not bad,
        {"archived_once": kept, "corrupt_rejected_not_archived": corrupt},
        {"archived_once": archived, "corrupt_rejected_not_archived": corrupt_rejected, "offending": len(bad)},
        _cut(bad),
    )


def last_versions(records: Iterable[TopicRecord]) -> dict[str, int]:
    """Each scene's version in its last `scene-ingested` (a scene's events share a key,
    hence a partition: offset order is publication order)."""
    out: dict[str, tuple[int, int]] = {}
    for r in records:
        if not isinstance(r.value, dict) or not r.value.get("scene_id"):
            continue
        try:
            version = int(r.value.get("version"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        sid = r.value["scene_id"]
        if sid not in out or r.offset >= out[sid][0]:
            out[sid] = (r.offset, version)
    return {k: v for k, (_, v) in out.items()}


def evaluate_scenes_catalogued(record: CampaignRecord, obs: Observed) -> Check:
    newest = last_versions(obs.scene_ingested)
    rows: dict[str, list[tuple[str, int | None]]] = defaultdict(list)
    for item_id, collection, version in obs.items:
        rows[item_id].append((collection, version))
    bad: list[str] = []
    good = absent = 0
    for scene in sorted(record.scenes.values(), key=lambda s: s.scene_id):
        found = rows.get(scene.scene_id, [])
        if scene.fate is Fate.CORRUPT:
            if found:
                bad.append(f"{scene.scene_id}: corrupt, yet catalogued in {[c for c, _ in found]}")
            else:
                absent += 1
            continue
        if len(found) != 1:
            bad.append(f"{scene.scene_id}: {len(found)} items {[c for c, _ in found]}")
            continue
        collection, version = found[0]
        want = newest.get(scene.scene_id)
        if collection != scene.collection:
            bad.append(f"{scene.scene_id}: in {collection}, not {scene.collection}")
        elif want is None:
            bad.append(f"{scene.scene_id}: no scene-ingested after the run's start")
        elif version != want:
            bad.append(f"{scene.scene_id}: version {version}, last scene-ingested says {want}")
        else:
            good += 1
    kept = sum(1 for s in record.scenes.values() if s.fate is not Fate.CORRUPT)
    return Check(
        "scenes_catalogued_once",
        not bad,
        {"one_item_newest_version": kept, "corrupt_absent": len(record.scenes) - kept},
        {"one_item_newest_version": good, "corrupt_absent": absent, "offending": len(bad)},
        _cut(bad),
    )


def product_object_item(key: str) -> tuple[str, str] | None:
    """(order id, item id) of a products-bucket key `<order>/<item>-<key prefix>.<ext>`."""
    order, _, name = key.partition("/")
    if not name or "/" in name:
        return None
    stem = name.rsplit(".", 1)[0]
    item, sep, _ = stem.rpartition("-")
    return (order, item) if sep else None


def evaluate_products(record: CampaignRecord, obs: Observed) -> Check:
    by_line: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for doc in obs.product_records:
        by_line[(doc.get("order_id", ""), doc.get("item_id", ""))].append(doc)
    objects: dict[tuple[str, str], list[str]] = defaultdict(list)
    unparsed: list[str] = []
    for key in obs.product_objects:
        where = product_object_item(key)
        if where is None:
            unparsed.append(key)
        else:
            objects[where].append(key)
    recorded_keys = {d.get("object_key") for d in obs.product_records if d.get("object_key")}
    bad: list[str] = []
    ready = 0
    failed: Counter[str] = Counter()
    expected = 0
    for order in sorted(record.orders.values(), key=lambda o: o.order_id):
        for _collection, item_id in dict.fromkeys(order.items):
            expected += 1
            line = (order.order_id, item_id)
            docs = by_line.get(line, [])
            objs = objects.get(line, [])
            name = f"{order.order_id}/{item_id}"
            if len(docs) != 1:
                bad.append(f"{name}: {len(docs)} product records")
                continue
            doc = docs[0]
            status = doc.get("status")
            if status == "ready":
                if len(objs) != 1:
                    bad.append(f"{name}: ready, {len(objs)} objects {sorted(objs)[:3]}")
                elif objs[0] != doc.get("object_key"):
                    bad.append(f"{name}: object {objs[0]} is not the record's {doc.get('object_key')}")
                else:
                    ready += 1
            elif status == "failed":
                if not doc.get("reason"):
                    bad.append(f"{name}: failed without a reason")
                elif objs:
                    bad.append(f"{name}: failed, yet {len(objs)} object(s)")
                else:
                    failed[str(doc.get("reason_code") or "?")] += 1
            else:
                bad.append(f"{name}: status {status!r}")
    for key in sorted(obs.product_objects):
        if key not in recorded_keys:
            bad.append(f"{key}: object without a product record")
    return Check(
        "products_built_once",
        not bad,
        {"lines_one_record_one_object": expected, "objects_without_record": 0},
        {
            "ready": ready,
            "failed_with_reason": dict(failed),
            "objects": len(obs.product_objects),
            "offending": len(bad),
        },
        _cut(bad),
    )


def evaluate_notifications(record: CampaignRecord, obs: Observed) -> Check:
    run_orders = set(record.orders)
    users = set(record.users)
    addresses = {a.lower(): u for u, a in record.users.items()}
    history = {d["_id"]: d for d in obs.notifications if d.get("recipient") in users}
    bad: list[str] = []
    # every product-ready of the run (by event id: a re-published one is the same event)
    ready_events: dict[str, TopicRecord] = {}
    announced: set[tuple[str, str]] = set()
    for r in obs.product_ready:
        if isinstance(r.value, dict) and r.value.get("order_id") in run_orders and r.ce_id:
            ready_events.setdefault(r.ce_id, r)
            announced.add((str(r.value.get("order_id")), str(r.value.get("product_id"))))
    for doc in obs.product_records:
        if doc.get("status") == "ready" and doc.get("order_id") in run_orders:
            for pid in doc.get("product_ids") or []:
                if (str(doc.get("order_id")), str(pid)) not in announced:
                    bad.append(f"product {pid}: ready, no product-ready event")
    notified = 0
    for eid, r in sorted(ready_events.items()):
        user = r.value.get("user_id")
        if not user:
            continue
        hdoc = history.get(f"{eid}|{user}|email")
        if hdoc is None:
            bad.append(f"product-ready {eid} ({r.value.get('product_id')}): no notification for {user}")
        elif hdoc.get("status") not in SETTLED_NOTIFICATIONS:
            bad.append(f"product-ready {eid}: notification {hdoc.get('status')!r} for {user}")
        else:
            notified += 1
    for doc in history.values():
        if doc.get("status") not in SETTLED_NOTIFICATIONS:
            bad.append(f"{doc['_id']}: status {doc.get('status')!r}")
    received: Counter[tuple[str, str, str]] = Counter()
    if obs.emails is not None:
        for to, eid, kind in obs.emails:
            # a digest names no event (several in one message): not a notification's e-mail
            if to.lower() in addresses and eid:
                received[(addresses[to.lower()], eid, kind)] += 1
        for (user, eid, kind), n in sorted(received.items()):
            if n != 1:
                bad.append(f"{user}: {n} e-mails for event {eid} ({kind})")
        per_event = Counter((u, e) for (u, e, _k), n in received.items() for _ in range(n))
        for doc in history.values():
            if doc.get("status") == "sent" and doc.get("channel") == "email":
                n = per_event.get((str(doc["recipient"]), str(doc.get("event_id"))), 0)
                if n == 0:
                    bad.append(f"{doc['_id']}: sent, but no e-mail in the mailbox")
    sent = sum(1 for d in history.values() if d.get("status") == "sent")
    return Check(
        "notifications_once",
        not bad,
        {"product_ready_notified": len(ready_events), "emails_per_recipient_and_event": 1},
        {
            "product_ready_notified": notified,
            "history": len(history),
            "sent": sent,
            "emails_received": sum(received.values()) if obs.emails is not None else None,
            "offending": len(bad),
        },
        _cut(bad),
    )


def _close(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) <= KM2_TOLERANCE


def replay_ledger(entries: list[dict]) -> tuple[dict[str, float], list[str]]:
    """The balance the entries add up to (allocated, reserved, consumed), and where an
    entry's recorded balance-after disagrees with the sum so far (or seqs skip)."""
    allocated = reserved = consumed = 0.0
    problems = []
    for n, e in enumerate(sorted(entries, key=lambda e: e.get("seq", 0)), start=1):
        if e.get("seq") != n:
            problems.append(f"seq {e.get('seq')} where {n} was due")
        kind, km2 = e.get("kind"), float(e.get("km2") or 0)
        if kind in ("allocate", "adjust"):
            allocated += km2
        elif kind == "reserve":
            reserved += km2
        elif kind == "consume":
            reserved -= km2
            consumed += km2
        elif kind == "release":
            reserved -= km2
        else:
            problems.append(f"seq {e.get('seq')}: unknown kind {kind!r}")
        state = e.get("state") or {}
        for name, value in (("allocated", allocated), ("reserved", reserved), ("consumed", consumed)):
            if not _close(state.get(name, float("nan")), value):
                problems.append(
                    f"seq {e.get('seq')}: {name} {state.get(name)} recorded, entries sum to {value:g}"
                )
    return {"allocated": allocated, "reserved": reserved, "consumed": consumed}, problems


def evaluate_quota_ledger(record: CampaignRecord, obs: Observed) -> Check:
    orgs = set(record.organisations) | {r.organisation_id for r in record.requests.values()}
    by_quota: dict[str, list[dict]] = defaultdict(list)
    for e in obs.ledger:
        qid = e.get("quota_id", "")
        if qid.rsplit("|", 2)[0] in orgs:
            by_quota[qid].append(e)
    bad: list[str] = []
    balanced = 0
    for qid, entries in sorted(by_quota.items()):
        _sums, problems = replay_ledger(entries)
        last = max(e.get("seq", 0) for e in entries)
        head = obs.heads.get(qid)
        if head is not None and head > last:
            problems.append(f"head says seq {head}, last entry is {last}")
        if problems:
            bad.append(f"{qid}: " + "; ".join(problems[:3]))
        else:
            balanced += 1
    reserves: dict[str, list[dict]] = defaultdict(list)
    for entries in by_quota.values():
        for e in entries:
            if e.get("kind") == "reserve" and e.get("request_id"):
                reserves[e["request_id"]].append(e)
    debited = 0
    for req in sorted(record.requests.values(), key=lambda r: r.request_id):
        found = reserves.get(req.request_id, [])
        qid = f"{req.organisation_id}|{req.family}|{req.period}"
        if len(found) != 1:
            bad.append(f"request {req.request_id}: debited {len(found)} times")
        elif found[0].get("quota_id") != qid:
            bad.append(f"request {req.request_id}: debited on {found[0].get('quota_id')}, not {qid}")
        elif not _close(found[0].get("km2", 0), round(req.km2, 6)):
            bad.append(f"request {req.request_id}: debited {found[0].get('km2')} km², asked {req.km2}")
        else:
            debited += 1
    return Check(
        "quota_ledger_balanced",
        not bad,
        {"quotas_balanced": len(by_quota), "requests_debited_once": len(record.requests)},
        {
            "quotas_balanced": balanced,
            "requests_debited_once": debited,
            "entries": sum(map(len, by_quota.values())),
        },
        _cut(bad),
    )


def evaluate_requests(record: CampaignRecord, obs: Observed) -> Check:
    bad: list[str] = []
    final_orders: Counter[str] = Counter()
    for oid in sorted(record.orders):
        state = obs.orders.get(oid)
        if state is None:
            bad.append(f"order {oid}: not found")
            continue
        status = state.get("status")
        if status not in FINAL_ORDER_STATES:
            bad.append(f"order {oid}: {status!r}")
            continue
        problems = [
            f"{p.get('product_id')} {p.get('status')!r}"
            for p in state.get("products") or []
            if not (p.get("status") == "ready" or (p.get("status") == "failed" and p.get("reason")))
        ]
        if problems:
            bad.append(f"order {oid}: {status}, yet " + ", ".join(problems[:3]))
        else:
            final_orders[status] += 1
    states: Counter[str] = Counter()
    for rid in sorted(record.requests):
        state = obs.requests.get(rid)
        if state is None:
            bad.append(f"request {rid}: not found")
        elif state.get("status") not in EXPECTED_REQUEST_STATES:
            bad.append(f"request {rid}: {state.get('status')!r}")
        else:
            states[state["status"]] += 1
    return Check(
        "requests_settled",
        not bad,
        {
            "orders_final": len(record.orders),
            "order_states": sorted(FINAL_ORDER_STATES),
            "requests_expected": len(record.requests),
            "request_states": sorted(EXPECTED_REQUEST_STATES),
        },
        {"orders_final": dict(final_orders), "requests": dict(states), "offending": len(bad)},
        _cut(bad),
    )


def evaluate_lag(record: CampaignRecord, obs: Observed) -> Check:
    groups = record.groups or default_groups()
    bad: list[str] = []
    for group in groups:
        lag = obs.lags.get(group)
        if lag is None:
            bad.append(f"{group}: not measured")
        elif lag.error:
            bad.append(f"{group}: {lag.error}")
        elif lag.seconds_to_zero is None:
            behind = {tp: n for tp, n in sorted(lag.final.items()) if n}
            bad.append(f"{group}: lag {sum(behind.values())} after {obs.lag_bound_s:g} s {behind}")
    return Check(
        "consumer_lag_zero",
        not bad,
        {"groups": groups, "lag": 0, "within_s": obs.lag_bound_s},
        {
            g: {
                "max_lag": lag.max_seen,
                "seconds_to_zero": lag.seconds_to_zero,
                "final": sum(lag.final.values()),
            }
            for g, lag in sorted(obs.lags.items())
        },
        _cut(bad),
    )


def dead_letter_id(r: TopicRecord) -> str | None:
    return r.ce_id or r.key


def evaluate_dead_letters(record: CampaignRecord, obs: Observed) -> Check:
    """Each record on a `.dlq` after the start must be one of the deliberate ones of its
    original topic (by CloudEvents id, else by key) — `deliberate_dead_letters`, plus the
    `scene-acquired` of each corrupt scene (ingest dead-letters what it rejects); each
    deliberate one must be there at least once. Counted per (id, consumer group): one
    consuming group dead-letters a bad record once, several groups of the same topic once
    each; a second copy by the same group (a dead-letter write retried after a crash) is
    listed, not failed."""
    deliberate: dict[str, set[str]] = defaultdict(set)
    for t, ids in record.deliberate_dead_letters.items():
        deliberate[t.removesuffix(DLQ_SUFFIX)].update(ids)
    # Ingest dead-letters a rejected delivery too (with the reason it publishes in
    # scene-rejected): each corrupt scene's scene-acquired is a deliberate dead letter.
    for s in record.scenes.values():
        if s.fate is Fate.CORRUPT:
            deliberate[SceneAcquiredV1.topic()].add(s.ce_id)
    seen: Counter[tuple[str, str, str]] = Counter()
    bad: list[str] = []
    for r in obs.dead_letters:
        original = r.topic.removesuffix(DLQ_SUFFIX)
        rid = dead_letter_id(r)
        group = r.headers.get("dlq_consumer_group", "?")
        if rid is None or rid not in deliberate.get(original, set()):
            bad.append(
                f"{r.topic}:{r.partition}:{r.offset} id={rid} group={group}: not deliberate"
                f" ({r.headers.get('dlq_error_code', '?')}: {r.headers.get('dlq_reason', '')[:120]})"
            )
        else:
            seen[(original, rid, group)] += 1
    present = {(t, i) for (t, i, _g) in seen}
    missing = [
        f"{t}: {i} not dead-lettered"
        for t, ids in sorted(deliberate.items())
        for i in sorted(ids)
        if (t, i) not in present
    ]
    bad.extend(missing)
    twice = sorted(f"{t}: {i} by {g} x{n}" for (t, i, g), n in seen.items() if n > 1)
    return Check(
        "dead_letters_only_deliberate",
        not bad,
        {"deliberate": sum(len(v) for v in deliberate.values()), "unexpected": 0},
        {
            "records": len(obs.dead_letters),
            "deliberate_found": len(present),
            "per_group": len(seen),
            "same_group_twice": twice[:MAX_DETAILS],
            "unexpected": len(bad) - len(missing),
        },
        _cut(bad),
    )


EVALUATORS = {
    "scenes_archived_once": evaluate_scenes_archived,
    "scenes_catalogued_once": evaluate_scenes_catalogued,
    "products_built_once": evaluate_products,
    "notifications_once": evaluate_notifications,
    "quota_ledger_balanced": evaluate_quota_ledger,
    "requests_settled": evaluate_requests,
    "consumer_lag_zero": evaluate_lag,
    "dead_letters_only_deliberate": evaluate_dead_letters,
}


def evaluate(record: CampaignRecord, obs: Observed) -> list[Check]:
    """Every invariant on a snapshot (pure)."""
    return [EVALUATORS[name](record, obs) for name in NAMES]


# --- adapters: Kafka ----------------------------------------------------------------------


def _kafka_common(settings: ServiceSettings, suffix: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": f"{settings.client_id}-{suffix}",
        "request_timeout_ms": 30000,
        **settings.kafka_auth(),
    }


@contextlib.asynccontextmanager
async def _consumer(settings: ServiceSettings) -> Any:
    # group_id=None: no group joined, nothing committed (the services' groups untouched).
    consumer = AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **_kafka_common(settings, "invariants"),
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    topics = list(topics)
    await consumer._client.force_metadata_update()
    out: list[TopicPartition] = []
    for topic in topics:
        parts = consumer.partitions_for_topic(topic)
        out.extend(TopicPartition(topic, p) for p in sorted(parts or ()))
    return out


async def start_offsets(settings: ServiceSettings) -> dict[str, dict[int, int]]:
    """The end offset of every partition of every registry topic and its `.dlq`, now."""
    async with _consumer(settings) as consumer:
        tps = await _partitions(consumer, all_topic_names())
        ends = await consumer.end_offsets(tps) if tps else {}
    out: dict[str, dict[int, int]] = defaultdict(dict)
    for tp, offset in ends.items():
        out[tp.topic][tp.partition] = offset
    return dict(out)


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return raw.decode("utf-8", "replace")


async def read_topics(
    settings: ServiceSettings, topics: Iterable[str], since: dict[str, dict[int, int]]
) -> dict[str, list[TopicRecord]]:
    """Every record of `topics` from `since` (per partition; the log start when absent) to
    the end offsets as they are when the read starts."""
    out: dict[str, list[TopicRecord]] = {t: [] for t in topics}
    async with _consumer(settings) as consumer:
        tps = await _partitions(consumer, out)
        if not tps:
            return out
        ends = await consumer.end_offsets(tps)
        lows = await consumer.beginning_offsets(tps)
        todo = {}
        for tp in tps:
            start = max(since.get(tp.topic, {}).get(tp.partition, lows[tp]), lows[tp])
            if start < ends[tp]:
                todo[tp] = (start, ends[tp])
        if not todo:
            return out
        consumer.assign(list(todo))
        for tp, (start, _) in todo.items():
            consumer.seek(tp, start)
        left = set(todo)
        idle = 0
        while left:
            batch = await consumer.getmany(*left, timeout_ms=1000, max_records=5000)
            idle = 0 if batch else idle + 1
            if idle > 30:
                raise TimeoutError(f"reading {sorted(str(tp) for tp in left)[:5]}: no records for 30 s")
            for tp, records in batch.items():
                end = todo[tp][1]
                for rec in records:
                    if rec.offset >= end:
                        break
                    headers = {k: _text(v) or "" for k, v in rec.headers}
                    try:
                        value = json.loads(rec.value) if rec.value else None
                    except ValueError:
                        value = None
                    out[tp.topic].append(
                        TopicRecord(
                            tp.topic,
                            tp.partition,
                            rec.offset,
                            headers.get("ce_id"),
                            _text(rec.key),
                            value,
                            headers,
                        )
                    )
            for tp in list(left):
                if await consumer.position(tp) >= todo[tp][1]:
                    left.discard(tp)
                    consumer.pause(tp)
    return out


async def lag_poll(
    settings: ServiceSettings, groups: list[str], bound_s: float, interval_s: float = 1.0
) -> dict[str, GroupLag]:
    """Poll each group's lag (end offset - committed offset, per partition of its topics;
    the log start for a partition it never committed) until every group is at 0 or
    `bound_s` has passed."""
    result = {g: GroupLag() for g in groups}
    admin = AIOKafkaAdminClient(**_kafka_common(settings, "invariants-admin"))
    await admin.start()
    try:
        async with _consumer(settings) as consumer:
            topics: dict[str, list[str]] = {}
            for g in groups:
                known = group_topics(g)
                if known is None:
                    committed = await admin.list_consumer_group_offsets(g)
                    known = sorted({tp.topic for tp in committed})
                topics[g] = known
            tps = await _partitions(consumer, sorted({t for ts in topics.values() for t in ts}))
            by_topic: dict[str, list[TopicPartition]] = defaultdict(list)
            for tp in tps:
                by_topic[tp.topic].append(tp)
            lows = await consumer.beginning_offsets(tps) if tps else {}
            t0 = time.monotonic()
            pending = set(groups)
            while True:
                ends = await consumer.end_offsets(tps) if tps else {}
                for g in sorted(pending):
                    lag = result[g]
                    try:
                        committed = await admin.list_consumer_group_offsets(g)
                    except Exception as exc:  # the group unreadable: retried until the bound
                        lag.error = f"{type(exc).__name__}: {exc}"
                        continue
                    lag.error = None
                    lag.final = {}
                    for topic in topics[g]:
                        for tp in by_topic.get(topic, []):
                            c = committed.get(tp)
                            done = c.offset if c is not None and c.offset >= 0 else lows[tp]
                            lag.final[f"{tp.topic}:{tp.partition}"] = max(0, ends[tp] - done)
                    total = sum(lag.final.values())
                    lag.max_seen = max(lag.max_seen, total)
                    if total == 0:
                        lag.seconds_to_zero = round(time.monotonic() - t0, 3)
                        pending.discard(g)
                if not pending or time.monotonic() - t0 >= bound_s:
                    return result
                await asyncio.sleep(interval_s)
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


# --- adapters: the stores -----------------------------------------------------------------


def _chunks(values: list[str], n: int = 1000) -> Iterable[list[str]]:
    for i in range(0, len(values), n):
        yield values[i : i + n]


def list_keys(settings: ServiceSettings, bucket: str, prefixes: Iterable[str] = ("",)) -> list[str]:
    s3 = clients.s3_client(settings)
    if not s3.bucket_exists(bucket):
        return []
    return [
        o.object_name
        for prefix in prefixes
        for o in s3.list_objects(bucket, prefix=prefix or None, recursive=True)
        if o.object_name and not o.is_dir
    ]


async def read_items(settings: ServiceSettings, ids: list[str]) -> list[tuple[str, str, int | None]]:
    """Every pgSTAC item row whose id is one of `ids` (any collection), with its version."""
    if not ids:
        return []
    out = []
    conn = await clients.pg_connect(settings)
    try:
        for chunk in _chunks(ids, 1000):
            cur = await conn.execute(
                "SELECT id, collection, content->'properties'->>'dinamis:version'"
                " FROM pgstac.items WHERE id = ANY(%s)",
                [chunk],
            )
            for item_id, collection, version in await cur.fetchall():
                out.append((item_id, collection, int(version) if version is not None else None))
    finally:
        await conn.close()
    return out


async def _find_in(
    collection: Any, field_name: str, values: list[str], projection: dict | None = None
) -> list[dict]:
    out: list[dict] = []
    for chunk in _chunks(sorted(set(values))):
        out.extend(await collection.find({field_name: {"$in": chunk}}, projection=projection).to_list(None))
    return out


async def latest_states(db: Any, name: str, ids: list[str]) -> dict[str, dict]:
    """The latest revision's state of each aggregate (`adapters/aggregates.py`): the view's
    revision, then `<id>#<rev+1>`... probed in batches until none is newer."""
    view = {d["_id"]: d for d in await _find_in(db[name], "_id", ids)}
    states: dict[str, tuple[int, dict]] = {
        i: (d.get("rev", 0), {k: v for k, v in d.items() if k not in ("_id", "rev")}) for i, d in view.items()
    }
    probe = {i: states.get(i, (0, {}))[0] for i in ids}
    revisions = db[f"{name}_revisions"]
    while probe:
        wanted = {f"{i}#{rev + 1:08d}": i for i, rev in probe.items()}
        found = await _find_in(revisions, "_id", list(wanted), {"state": 1, "rev": 1, "aggregate_id": 1})
        probe = {}
        for doc in found:
            i = wanted[doc["_id"]]
            states[i] = (doc["rev"], doc["state"])
            probe[i] = doc["rev"]
    return {i: state for i, (_, state) in states.items()}


def default_mailbox() -> Path | None:
    """The local stack's SMTP sink (aiosmtpd's Mailbox handler: a Maildir at
    `$DINAMIS_STACK_DIR/mail`), if there is one."""
    stack = os.environ.get("DINAMIS_STACK_DIR")
    if not stack:
        return None
    path = Path(stack) / "mail"
    return path if path.is_dir() else None


def read_mailbox(path: Path, addresses: set[str]) -> list[tuple[str, str, str]]:
    """(to address, X-Dinamis-Event-Id, X-Dinamis-Kind) of each message to `addresses`
    (headers only; lower-cased addresses)."""
    parser = email.parser.BytesHeaderParser()
    out: list[tuple[str, str, str]] = []
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in box.iterkeys():
        try:
            with box.get_file(key) as f:
                msg = parser.parse(f)  # type: ignore[arg-type]
        except (FileNotFoundError, OSError):
            continue
        tos = [a.lower() for _, a in email.utils.getaddresses(msg.get_all("To", []))]
        for to in tos:
            if to in addresses:
                out.append((to, msg.get("X-Dinamis-Event-Id", ""), msg.get("X-Dinamis-Kind", "")))
    return out


async def _none() -> None:
    return None


class Snapshot:
    """Fills an `Observed` piece by piece, each piece read once (several checks share
    some), against the real stores and topics."""

    def __init__(self, settings: ServiceSettings, record: CampaignRecord, mailbox_dir: Path | None) -> None:
        self.settings = settings
        self.record = record
        self.mailbox_dir = mailbox_dir
        self.obs = Observed()
        self._done: set[str] = set()
        self._mongo: Any = None

    @property
    def db(self) -> Any:
        if self._mongo is None:
            self._mongo = clients.mongo_client(self.settings, timeout_s=10)
        return self._mongo[self.settings.mongo_database]

    async def close(self) -> None:
        if self._mongo is not None:
            await self._mongo.close()

    async def need(self, *parts: str) -> None:
        for part in parts:
            if part not in self._done:
                await getattr(self, f"_{part}")()
                self._done.add(part)

    async def _topics(self) -> None:
        dlqs = [spec.dlq for spec in TOPICS.values()]
        wanted = [SceneIngestedV1.topic(), SceneRejectedV1.topic(), ProductReadyV1.topic(), *dlqs]
        read = await read_topics(self.settings, wanted, self.record.start_offsets)
        scenes = set(self.record.scenes)
        self.obs.scene_ingested = [
            r
            for r in read[SceneIngestedV1.topic()]
            if isinstance(r.value, dict) and r.value.get("scene_id") in scenes
        ]
        self.obs.scene_rejected = [
            r
            for r in read[SceneRejectedV1.topic()]
            if isinstance(r.value, dict) and r.value.get("scene_id") in scenes
        ]
        orders = set(self.record.orders)
        self.obs.product_ready = [
            r
            for r in read[ProductReadyV1.topic()]
            if isinstance(r.value, dict) and r.value.get("order_id") in orders
        ]
        self.obs.dead_letters = [r for t in dlqs for r in read[t]]

    async def _archive(self) -> None:
        self.obs.archive_keys = await asyncio.to_thread(list_keys, self.settings, ARCHIVE_BUCKET)

    async def _items(self) -> None:
        self.obs.items = await read_items(self.settings, sorted(self.record.scenes))

    async def _products(self) -> None:
        orders = sorted(self.record.orders)
        # No projection: FerretDB answers the whole documents faster than a projection.
        # The records and the bucket's listing are read at the same time.
        self.obs.product_records, keys = await asyncio.gather(
            _find_in(self.db[DELIVERY_PRODUCTS], "order_id", orders),
            asyncio.to_thread(list_keys, self.settings, PRODUCTS_BUCKET),
        )
        self.obs.product_objects = [k for k in keys if k.partition("/")[0] in self.record.orders]

    async def _notifications(self) -> None:
        addresses = {a.lower() for a in self.record.users.values()}
        mails = (
            asyncio.to_thread(read_mailbox, self.mailbox_dir, addresses)
            if self.mailbox_dir is not None
            else _none()
        )
        self.obs.notifications, self.obs.emails = await asyncio.gather(
            _find_in(self.db[NOTIFY_HISTORY], "recipient", sorted(self.record.users)), mails
        )

    async def _ledger(self) -> None:
        orgs = set(self.record.organisations) | {r.organisation_id for r in self.record.requests.values()}
        entries = (
            await self.db[QUOTA_LEDGER]
            .find({}, projection={"quota_id": 1, "seq": 1, "kind": 1, "km2": 1, "request_id": 1, "state": 1})
            .to_list(None)
        )
        self.obs.ledger = [e for e in entries if str(e.get("quota_id", "")).rsplit("|", 2)[0] in orgs]
        qids = sorted({e["quota_id"] for e in self.obs.ledger})
        self.obs.heads = {
            d["_id"]: d.get("seq", 0) for d in await _find_in(self.db[QUOTA_HEADS], "_id", qids)
        }

    async def _aggregates(self) -> None:
        self.obs.requests, self.obs.orders = await asyncio.gather(
            latest_states(self.db, REQUESTS, sorted(self.record.requests)),
            latest_states(self.db, PRODUCT_ORDERS, sorted(self.record.orders)),
        )

    async def _lags(self) -> None:
        pass  # polled by `check` itself (timed under consumer_lag_zero)


NEEDS = {
    "scenes_archived_once": ("topics", "archive"),
    "scenes_catalogued_once": ("topics", "items"),
    "products_built_once": ("products",),
    "notifications_once": ("topics", "products", "notifications"),
    "quota_ledger_balanced": ("ledger",),
    "requests_settled": ("aggregates",),
    "consumer_lag_zero": (),
    "dead_letters_only_deliberate": ("topics",),
}


async def check(
    settings: ServiceSettings,
    record: CampaignRecord,
    *,
    lag_bound_s: float = 120,
    mailbox_dir: Path | None = None,
) -> list[Check]:
    """Every invariant, from the stores and topics. The lag is polled first (the platform
    drains; the other checks then read a settled state). `mailbox_dir`: the SMTP sink's
    Maildir (default: the local stack's, `default_mailbox()`); without one, e-mails are
    checked from notify's history only."""
    snap = Snapshot(settings, record, mailbox_dir or default_mailbox())
    checks: dict[str, Check] = {}
    try:
        t0 = time.monotonic()
        try:
            snap.obs.lags = await lag_poll(settings, record.groups or default_groups(), lag_bound_s)
        except Exception as exc:
            snap.obs.lags = {
                g: GroupLag(error=f"{type(exc).__name__}: {exc}") for g in record.groups or default_groups()
            }
        snap.obs.lag_bound_s = lag_bound_s
        checks["consumer_lag_zero"] = evaluate_lag(record, snap.obs)
        checks["consumer_lag_zero"].seconds = round(time.monotonic() - t0, 3)
        for name in NAMES:
            if name in checks:
                continue
            t0 = time.monotonic()
            try:
                await snap.need(*NEEDS[name])
                result = EVALUATORS[name](record, snap.obs)
            except Exception as exc:  # a store unreachable: the invariant is not shown to hold
                log.exception("invariant %s could not be checked", name)
                result = Check(name, False, "checked", f"unreadable: {type(exc).__name__}: {exc}")
            result.seconds = round(time.monotonic() - t0, 3)
            checks[name] = result
    finally:
        await snap.close()
    return [checks[n] for n in NAMES]
