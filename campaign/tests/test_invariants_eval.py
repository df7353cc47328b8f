"""The invariants' pure evaluation on hand-made snapshots: a clean run passes every
check, and each kind of damage (a duplicate, a missing item, a 2nd e-mail, a ledger off
by one, an unexpected dead letter...) fails the right one, and only it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from dinamis_campaign.invariants import (
    NAMES,
    GroupLag,
    Observed,
    TopicRecord,
    archive_index,
    evaluate,
    last_versions,
    product_object_item,
    replay_ledger,
    summary,
)
from dinamis_campaign.record import CampaignRecord, DeliveredScene, Fate, PlacedOrder, PlacedRequest

T0 = datetime(2026, 5, 1, tzinfo=UTC)
ING = "dinamis.scene-ingested.v1"
REJ = "dinamis.scene-rejected.v1"
READY = "dinamis.product-ready.v1"
ACQ = "dinamis.scene-acquired.v1"


def scene(sid: str, cell: int, fate: Fate) -> DeliveredScene:
    return DeliveredScene(sid, cell, fate, "spot-2026", f"ce-{sid}", T0)


def make_record() -> CampaignRecord:
    return CampaignRecord(
        run_id="run-1",
        campaign="france-2026",
        year=2026,
        started_at=T0,
        organisations=["org-a", "org-b"],
        users={"u1": "u1@example.fr", "u2": "U2@Example.fr"},
        scenes={
            "S1": scene("S1", 1, Fate.GOOD),
            "S2": scene("S2", 2, Fate.CLOUDY),
            "S3": scene("S3", 3, Fate.CORRUPT),
        },
        orders={
            "o1": PlacedOrder("o1", "org-a", "u1", [("spot-2026", "S1"), ("spot-2026", "S2")], T0),
            "o2": PlacedOrder("o2", "org-b", "u2", [("spot-2026", "S1")], T0),
        },
        requests={"r1": PlacedRequest("r1", "org-a", "spot", "2026", 12.5)},
        deliberate_dead_letters={ACQ: ["bad-1"]},
        groups=["ingest", "catalog"],
    )


def rec(topic: str, offset: int, value: object, ce_id: str | None = None, **headers: str) -> TopicRecord:
    return TopicRecord(topic, 0, offset, ce_id, None, value, dict(headers))


def arch(sid: str, version: int = 1, day: str = "2026/05/01") -> list[str]:
    p = f"spot-2026/{day}/{sid}/v{version}/"
    return [p + "PAN.tif", p + "item.json", p + "manifest.json"]


def product(
    order: str, item: str, key: str, pid: str, user: str, status: str = "ready", **more: object
) -> dict:
    doc = {
        "_id": key,
        "order_id": order,
        "item_id": item,
        "status": status,
        "product_ids": [pid],
        "user_id": user,
    }
    if status == "ready":
        doc["object_key"] = f"{order}/{item}-{key[:20]}.tif"
    doc.update(more)
    return doc


def history(eid: str, user: str, status: str = "sent") -> dict:
    return {
        "_id": f"{eid}|{user}|email",
        "event_id": eid,
        "recipient": user,
        "channel": "email",
        "kind": "product-ready",
        "status": status,
    }


def entry(
    qid: str, seq: int, kind: str, km2: float, state: tuple[float, float, float], rid: str | None = None
) -> dict:
    a, r, c = state
    return {
        "quota_id": qid,
        "seq": seq,
        "kind": kind,
        "km2": km2,
        "request_id": rid,
        "state": {"allocated": a, "reserved": r, "consumed": c},
    }


QA = "org-a|spot|2026"


def make_observed() -> Observed:
    ready = [
        rec(READY, 0, {"order_id": "o1", "product_id": "o1-1", "user_id": "u1"}, "e11"),
        rec(READY, 1, {"order_id": "o1", "product_id": "o1-2", "user_id": "u1"}, "e12"),
        rec(READY, 2, {"order_id": "o2", "product_id": "o2-1", "user_id": "u2"}, "e21"),
        # the same event re-published by delivery after a crash: one event, one e-mail
        rec(READY, 3, {"order_id": "o2", "product_id": "o2-1", "user_id": "u2"}, "e21"),
    ]
    products = [
        product("o1", "S1", "a" * 64, "o1-1", "u1"),
        product("o1", "S2", "b" * 64, "o1-2", "u1"),
        product("o2", "S1", "c" * 64, "o2-1", "u2"),
    ]
    return Observed(
        archive_keys=arch("S1") + arch("S2") + arch("OTHER-RUN"),
        scene_ingested=[
            rec(ING, 0, {"scene_id": "S1", "version": 1}),
            rec(ING, 1, {"scene_id": "S2", "version": 1}),
            rec(ING, 2, {"scene_id": "S2", "version": 1}),  # announced again: same version
        ],
        scene_rejected=[
            rec(REJ, 0, {"scene_id": "S3", "reason_code": "checksum-mismatch", "reason": "PAN.tif"})
        ],
        items=[("S1", "spot-2026", 1), ("S2", "spot-2026", 1)],
        product_records=products,
        product_objects=[p["object_key"] for p in products],
        product_ready=ready,
        notifications=[history("e11", "u1"), history("e12", "u1"), history("e21", "u2", "off")],
        emails=[("u1@example.fr", "e11", "product-ready"), ("u1@example.fr", "e12", "product-ready")],
        ledger=[
            entry(QA, 1, "allocate", 100.0, (100.0, 0.0, 0.0)),
            entry(QA, 2, "reserve", 12.5, (100.0, 12.5, 0.0), "r1"),
            entry(QA, 3, "consume", 10.0, (100.0, 2.5, 10.0), "r1"),
            entry("org-b|spot|2026", 1, "allocate", 50.0, (50.0, 0.0, 0.0)),
            entry("org-z|spot|2026", 1, "allocate", 50.0, (1.0, 0.0, 0.0)),  # not the run's: ignored
        ],
        heads={QA: 3},
        requests={"r1": {"status": "in_progress"}},
        orders={
            "o1": {
                "status": "ready",
                "products": [
                    {"product_id": "o1-1", "status": "ready"},
                    {"product_id": "o1-2", "status": "ready"},
                ],
            },
            "o2": {"status": "ready", "products": [{"product_id": "o2-1", "status": "ready"}]},
        },
        lags={
            "ingest": GroupLag(final={"t:0": 0}, max_seen=7, seconds_to_zero=1.5),
            "catalog": GroupLag(final={"t:0": 0}, max_seen=0, seconds_to_zero=0.0),
        },
        lag_bound_s=60,
        dead_letters=[
            rec(ACQ + ".dlq", 0, None, "bad-1", dlq_consumer_group="ingest"),
            rec(ACQ + ".dlq", 1, None, "ce-S3", dlq_consumer_group="ingest"),  # the corrupt delivery
        ],
    )


def by_name(record: CampaignRecord, obs: Observed) -> dict:
    return {c.name: c for c in evaluate(record, obs)}


def failing(record: CampaignRecord, obs: Observed) -> set[str]:
    return {c.name for c in evaluate(record, obs) if not c.ok}


def test_a_clean_run_passes_every_check():
    checks = by_name(make_record(), make_observed())
    assert list(checks) == list(NAMES)
    assert {n: c.details for n, c in checks.items() if not c.ok} == {}
    assert checks["scenes_archived_once"].found["archived_once"] == 2
    assert checks["scenes_archived_once"].found["corrupt_rejected_not_archived"] == 1
    assert checks["products_built_once"].found["ready"] == 3
    assert checks["notifications_once"].found["product_ready_notified"] == 3  # e21 counted once
    assert checks["notifications_once"].found["emails_received"] == 2
    assert checks["quota_ledger_balanced"].found == {
        "quotas_balanced": 2,
        "requests_debited_once": 1,
        "entries": 4,
    }
    assert checks["consumer_lag_zero"].found["ingest"] == {"max_lag": 7, "seconds_to_zero": 1.5, "final": 0}
    out = summary(list(checks.values()))
    assert out["ok"] is True and out["failed"] == []


# --- each damage fails its check -------------------------------------------------------


def damaged(change) -> set[str]:
    record, obs = make_record(), make_observed()
    change(record, obs)
    return failing(record, obs)


def test_a_scene_archived_twice_under_two_prefixes():
    assert damaged(lambda r, o: o.archive_keys.extend(arch("S1", day="2026/05/02"))) == {
        "scenes_archived_once"
    }


def test_a_scene_with_a_second_version():
    assert damaged(lambda r, o: o.archive_keys.extend(arch("S2", version=2))) == {"scenes_archived_once"}


def test_a_half_written_version_is_an_orphan():
    index = archive_index([*arch("S1"), "spot-2026/2026/05/01/S1/v2/PAN.tif"])
    assert index["S1"]["orphans"] == ["spot-2026/2026/05/01/S1/v2"]
    assert damaged(lambda r, o: o.archive_keys.append("spot-2026/2026/05/01/S1/v2/PAN.tif")) == {
        "scenes_archived_once"
    }


def test_a_scene_not_archived():
    assert damaged(lambda r, o: setattr(o, "archive_keys", arch("S1"))) == {"scenes_archived_once"}


def test_a_corrupt_scene_archived_or_not_rejected():
    assert damaged(lambda r, o: o.archive_keys.extend(arch("S3"))) == {"scenes_archived_once"}
    assert damaged(lambda r, o: setattr(o, "scene_rejected", [])) == {"scenes_archived_once"}
    no_reason = [rec(REJ, 0, {"scene_id": "S3", "reason_code": "", "reason": ""})]
    assert damaged(lambda r, o: setattr(o, "scene_rejected", no_reason)) == {"scenes_archived_once"}


def test_a_missing_item_a_duplicate_item_an_old_version_a_corrupt_item():
    assert damaged(lambda r, o: o.items.pop()) == {"scenes_catalogued_once"}
    assert damaged(lambda r, o: o.items.append(("S1", "spot-2025", 1))) == {"scenes_catalogued_once"}
    newer = rec(ING, 3, {"scene_id": "S2", "version": 2})
    assert damaged(lambda r, o: o.scene_ingested.append(newer)) == {"scenes_catalogued_once"}
    assert damaged(lambda r, o: o.items.append(("S3", "spot-2026", 1))) == {"scenes_catalogued_once"}


def test_last_version_is_the_last_event_by_offset():
    events = [rec(ING, 5, {"scene_id": "X", "version": 2}), rec(ING, 9, {"scene_id": "X", "version": 3})]
    assert last_versions(events) == {"X": 3}
    assert last_versions(list(reversed(events))) == {"X": 3}


def test_a_duplicate_product_record_or_object():
    def dup_record(r, o):
        o.product_records.append({**o.product_records[0], "_id": "d" * 64})

    assert damaged(dup_record) == {"products_built_once"}
    assert damaged(lambda r, o: o.product_objects.append("o1/S1-dddddddddddddddddddd.tif")) == {
        "products_built_once"
    }


def test_a_missing_product_object_or_record():
    assert damaged(lambda r, o: o.product_objects.pop(0)) == {"products_built_once"}

    def no_record(r, o):
        o.product_records = [p for p in o.product_records if p["item_id"] != "S2"]

    # the object left without its record fails too, and the order's notification is not at fault
    assert damaged(no_record) == {"products_built_once"}


def test_a_failed_product_needs_its_reason():
    def failed(reason: str):
        def change(r, o):
            o.product_records[1] = product("o1", "S2", "b" * 64, "o1-2", "u1", "failed", reason=reason)
            o.product_objects = [k for k in o.product_objects if not k.startswith("o1/S2-")]
            o.product_ready = [x for x in o.product_ready if x.ce_id != "e12"]
            o.notifications = [n for n in o.notifications if n["event_id"] != "e12"]
            o.emails = [e for e in o.emails or [] if e[1] != "e12"]
            o.orders["o1"]["products"][1] = {"product_id": "o1-2", "status": "failed", "reason": reason}
            o.orders["o1"]["status"] = "partially_ready"

        return change

    assert damaged(failed("AOI hors de la scène / AOI outside the scene")) == set()
    assert damaged(failed("")) == {"products_built_once", "requests_settled"}


def test_an_expired_product_is_not_built_once():
    assert damaged(lambda r, o: o.product_records[0].update(status="expired")) >= {"products_built_once"}


def test_object_keys_name_order_and_item():
    assert product_object_item("o1/SPOT6-2026-05-01-ab-0123456789abcdef0123.tif") == (
        "o1",
        "SPOT6-2026-05-01-ab",
    )
    assert product_object_item("o1/nested/x-1.tif") is None


def test_a_second_email_for_the_same_event():
    assert damaged(lambda r, o: o.emails.append(("U1@example.fr", "e11", "product-ready"))) == {
        "notifications_once"
    }


def test_digests_name_no_event_and_are_not_counted_as_duplicates():
    digests = [("u1@example.fr", "", "digest"), ("u1@example.fr", "", "digest")]
    assert damaged(lambda r, o: o.emails.extend(digests)) == set()


def test_a_sent_notification_without_its_email():
    assert damaged(lambda r, o: o.emails.pop()) == {"notifications_once"}


def test_without_a_mail_sink_the_history_alone_is_checked():
    assert damaged(lambda r, o: setattr(o, "emails", None)) == set()


def test_a_product_ready_never_notified_or_still_pending():
    assert damaged(lambda r, o: o.notifications.pop(0)) == {"notifications_once"}
    assert damaged(lambda r, o: o.notifications[0].update(status="pending")) == {"notifications_once"}


def test_a_ready_product_never_announced():
    assert damaged(lambda r, o: o.product_ready.pop(1)) == {"notifications_once"}


def test_a_ledger_off_by_one():
    def off(r, o):
        o.ledger[2] = entry(QA, 3, "consume", 10.0, (100.0, 2.5, 11.0), "r1")

    assert damaged(off) == {"quota_ledger_balanced"}


def test_a_ledger_with_a_gap_or_a_head_beyond_it():
    assert damaged(lambda r, o: o.ledger.pop(1)) == {"quota_ledger_balanced"}
    assert damaged(lambda r, o: o.heads.update({QA: 4})) == {"quota_ledger_balanced"}


def test_a_request_debited_twice_or_never_or_by_another_amount():
    def twice(r, o):
        o.ledger.insert(3, entry(QA, 4, "reserve", 12.5, (100.0, 15.0, 10.0), "r1"))

    assert damaged(twice) == {"quota_ledger_balanced"}

    def never(r, o):
        o.ledger[:3] = [entry(QA, 1, "allocate", 100.0, (100.0, 0.0, 0.0))]

    assert damaged(never) == {"quota_ledger_balanced"}

    def other_amount(r, o):
        o.ledger[1] = entry(QA, 2, "reserve", 13.5, (100.0, 13.5, 0.0), "r1")
        o.ledger[2] = entry(QA, 3, "consume", 10.0, (100.0, 3.5, 10.0), "r1")

    assert damaged(other_amount) == {"quota_ledger_balanced"}


def test_replay_sums_the_movements():
    sums, problems = replay_ledger(make_observed().ledger[:3])
    assert (sums, problems) == ({"allocated": 100.0, "reserved": 2.5, "consumed": 10.0}, [])


@pytest.mark.parametrize(
    "status", ["submitted", "under_review", "rejected", "cancelled", "needs_cofinancing"]
)
def test_a_request_in_an_unexpected_state(status):
    assert damaged(lambda r, o: o.requests["r1"].update(status=status)) == {"requests_settled"}


def test_an_order_still_processing_or_missing():
    def processing(r, o):
        o.orders["o2"] = {"status": "processing", "products": [{"product_id": "o2-1", "status": "pending"}]}

    assert damaged(processing) == {"requests_settled"}
    assert damaged(lambda r, o: o.orders.pop("o1")) == {"requests_settled"}
    assert damaged(lambda r, o: o.requests.pop("r1")) == {"requests_settled"}


def test_a_group_still_lagging_or_unmeasured():
    def lagging(r, o):
        o.lags["catalog"] = GroupLag(final={"t:0": 3, "t:1": 0}, max_seen=40, seconds_to_zero=None)

    record, obs = make_record(), make_observed()
    lagging(record, obs)
    check = by_name(record, obs)["consumer_lag_zero"]
    assert not check.ok and check.details == ["catalog: lag 3 after 60 s {'t:0': 3}"]
    assert damaged(lambda r, o: o.lags.pop("ingest")) == {"consumer_lag_zero"}
    assert damaged(lambda r, o: o.lags.update(ingest=GroupLag(error="GroupAuthorizationFailed"))) == {
        "consumer_lag_zero"
    }


def test_without_groups_every_service_group_is_expected():
    record, obs = make_record(), make_observed()
    record.groups = []
    check = by_name(record, obs)["consumer_lag_zero"]
    assert not check.ok
    assert "notify: not measured" in check.details and "reporting-archive: not measured" in check.details


def test_an_unexpected_dead_letter():
    extra = rec(ACQ + ".dlq", 1, None, "not-on-purpose", dlq_consumer_group="ingest")
    assert damaged(lambda r, o: o.dead_letters.append(extra)) == {"dead_letters_only_deliberate"}
    # a deliberate id on another topic's dead letters is not deliberate there
    elsewhere = rec(READY + ".dlq", 0, None, "bad-1", dlq_consumer_group="notify")
    assert damaged(lambda r, o: o.dead_letters.append(elsewhere)) == {"dead_letters_only_deliberate"}


def test_a_deliberate_dead_letter_missing():
    assert damaged(lambda r, o: o.dead_letters.clear()) == {"dead_letters_only_deliberate"}
    assert damaged(lambda r, o: o.dead_letters.pop(1)) == {"dead_letters_only_deliberate"}  # corrupt S3's


def test_a_good_scene_dead_lettered_is_not_deliberate():
    good = rec(ACQ + ".dlq", 2, None, "ce-S1", dlq_consumer_group="ingest")
    assert damaged(lambda r, o: o.dead_letters.append(good)) == {"dead_letters_only_deliberate"}


def test_dead_letters_counted_per_group_and_matched_by_key_without_an_id():
    record, obs = make_record(), make_observed()
    record.deliberate_dead_letters[ACQ + ".dlq"] = ["bad-1", "key-7"]  # named by its .dlq: the same topic
    obs.dead_letters += [
        rec(ACQ + ".dlq", 2, None, "bad-1", dlq_consumer_group="ingest"),  # a retried write
        TopicRecord(ACQ + ".dlq", 1, 0, None, "key-7", None, {"dlq_consumer_group": "ingest"}),
    ]
    check = by_name(record, obs)["dead_letters_only_deliberate"]
    assert check.ok, check.details
    assert check.found["deliberate_found"] == 3  # bad-1, key-7 and corrupt S3's scene-acquired
    assert check.found["same_group_twice"] == [f"{ACQ}: bad-1 by ingest x2"]


def test_the_record_is_not_changed_by_evaluation():
    record, obs = make_record(), make_observed()
    before = copy.deepcopy((record, obs))
    evaluate(record, obs)
    assert (record, obs) == before
