"""The reporting on the real stack: the scripted scenario (dinamis_reporting.scenario)
published on the real Kafka, each event by its producer's principal, archived by the
real `dinamis-reporting` service into the real object store, and read back through its
HTTP API — exact values computed by hand; the same records published twice more (same
CloudEvents ids) change neither the bucket nor any indicator; small cells suppressed;
the working group's route refused to a member, allowed to an operator.

The topics hold other tests' events: the scenario's identifiers carry a prefix of this
run and its activity runs over a year far in the future (`Y0`, even, and `Y0 + 1`: two
runs never share a year), and every check filters by that year or campaign. Membership
counts only what that year's events decide (new organisations and users): the active
ones of a year include every organisation still a member then, from any run."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import httpx
import pytest

from dinamis_reporting.indicators.functions import default_grid_file
from dinamis_reporting.scenario import scenario
from dinamis_shared import clients, cloudevents
from dinamis_shared.bus import make_broker
from dinamis_shared.settings import ServiceSettings
from dinamis_testkit.testing import running_services
from tests.integration.orders_api import Caller, orders_api, seed_member, uid
from tests.ports import free_ports

REPORTING, ORDERS = free_ports(2)
API = f"http://127.0.0.1:{REPORTING}/v1"
PREFIX = f"ri{uuid.uuid4().hex[:6]}-"
Y0 = 2100 + 2 * random.randrange(440)  # an even year of 2100..2978
Y1 = Y0 + 1


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("logs")
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": f"http://127.0.0.1:{ORDERS}",
        "DINAMIS_ORDERS_CATALOG_URL": "http://127.0.0.1:9",
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_REPORTING_LAKE_DIR": str(tmp_path_factory.mktemp("lake")),
        "DINAMIS_REPORTING_LAKE_REFRESH_S": "0",
        "DINAMIS_REPORTING_ARCHIVE_BATCH_S": "0.5",
        "DINAMIS_REPORTING_COMPACTION_INTERVAL_S": "86400",  # no compaction during the test
    }
    with running_services((("orders", ORDERS), ("reporting", REPORTING)), logs, env):
        yield


def records() -> list[cloudevents.KafkaRecord]:
    grid = default_grid_file()
    assert grid is not None
    return [
        cloudevents.encode(
            s.event, source=f"/dinamis/{type(s.event).PRODUCER}", event_id=s.event_id, time=s.time
        )
        for s in scenario(PREFIX, Y0, grid)
    ]


async def publish(batch: list[cloudevents.KafkaRecord]) -> None:
    """Each record by its topic's producer (its principal: the ACLs allow no other)."""
    from dinamis_shared.topics import TOPICS

    brokers: dict[str, Any] = {}
    try:
        for record in batch:
            producer = TOPICS[record.topic].model.PRODUCER
            if producer not in brokers:
                broker = make_broker(ServiceSettings(kafka_sasl_username=producer))
                await broker.connect()
                brokers[producer] = broker
            await brokers[producer].publish(
                record.value, topic=record.topic, key=record.key, headers=record.headers
            )
    finally:
        for broker in brokers.values():
            await broker.stop()


# The working group's headers (an operator's token), set by the `archived` fixture: the
# exact values are read on the working group's route, whose filters select before the
# suppression (the public route makes a filter a breakdown of its own, suppressed over
# every value of it, and the stack's topics hold other tests' years).
WG: dict[str, str] = {}


def get(path: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(API + path, params=params, timeout=60)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def wg(path: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{API}/wg{path}", params=params, headers=WG, timeout=60)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def archived_events() -> int:
    r = httpx.get(f"{API}/archive", headers=WG, timeout=60)  # the working group's route
    assert r.status_code == 200, r.text
    return int(r.json()["events"])


def records_read() -> float:
    """The records the archive has read (and written, or found already written), every
    topic: its `dinamis_archive_records_total{outcome="read"}` counters."""
    text = httpx.get(f"http://127.0.0.1:{REPORTING}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("dinamis_archive_records_total{") and 'outcome="read"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_until_quiet(at_least: int, timeout: float = 300) -> int:
    """The archive's event count once it holds `at_least` and stopped growing (3 polls in a
    row): a kept stack's topics hold other tests' events, which a fresh archive reads first."""
    deadline = time.monotonic() + timeout
    seen: list[int] = []
    while True:
        seen = [*seen[-2:], archived_events()]
        if len(seen) == 3 and seen[0] == seen[2] >= at_least:
            return seen[2]
        assert time.monotonic() < deadline, f"the archive did not settle: {seen}, wanted {at_least}"
        time.sleep(1.0)


def wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def bucket_listing(settings) -> list[tuple[str, str]]:
    s3 = clients.s3_client(settings)
    return sorted(
        (str(o.object_name), str(o.etag)) for o in s3.list_objects("events", recursive=True) if o.object_name
    )


@pytest.fixture(scope="module")
def archived(services, keyfile):
    operator = Caller.staff(keyfile)
    WG.update(operator.headers)
    before = archived_events()
    batch = records()
    asyncio.run(publish(batch))
    # at least the scenario's events more (the exact values below are the scenario's own)
    wait_until_quiet(before + len(batch))
    return batch


def values() -> dict[str, Any]:
    """The indicators this test checks, as the public and working-group API answer."""
    return {
        "members": wg("/indicators/members_organisations", by="year", year=f"{Y0},{Y1}")["rows"],
        "users": wg("/indicators/members_users", by="year", year=f"{Y0},{Y1}")["rows"],
        "requests": wg("/indicators/acquisitions_requests", year=str(Y0))["rows"],
        "turnaround": wg("/indicators/acquisitions_turnaround", year=str(Y0))["rows"],
        "products": wg("/indicators/use_products", by="year", year=f"{Y0},{Y1}")["rows"],
        "quotas": wg("/indicators/quotas", year=str(Y0))["rows"],
        "coverage": wg("/indicators/coverage_cells", campaign=f"france-{Y0}")["rows"],
        "money": wg("/indicators/money", year=str(Y0))["rows"],
        "by_category": get("/indicators/acquisitions_requests", by="category", year=str(Y0))["rows"],
    }


def strip(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: r[k] for k in keys} for r in rows]


def test_exact_indicators_through_the_api(archived):
    v = values()
    # New organisations: Y0 A, B, C, E; Y1 D. New users: Y0 u1, u2, u4, u6; Y1 u3, u5.
    # (Y1's 1 is a count of organisations under 3 in a shown cell: hidden)
    assert [(r["year"], r["organisations_new"]) for r in v["members"]] == [(str(Y0), 4), (str(Y1), None)]
    assert [(r["year"], r["users_new"]) for r in v["users"]] == [(str(Y0), 4), (str(Y1), 2)]
    # Y0 requests: R1 (A, 100 asked, 90 approved on quota, 80 % covered), R2 (B, 50, 20 on
    # quota + 30 co-financed), R3 (C, 40, rejected), R7 (E, 25, rejected).
    assert v["requests"] == [
        {"requests": 4, "requests_approved": 2, "requested_km2": 215.0, "approved_km2": 140.0,
         "acquired_km2": 72.0, "quota_km2": 110.0, "cofinanced_km2": 30.0, "organisations": 4,
         "suppressed": False},
    ]  # fmt: skip
    # Decisions after 2, 4, 1.5 and 3 days: median 2.5, p90 3 + 0.7 × (4 - 3) = 3.7; R1's
    # first scene 10 days after approval, fulfilled 10 days later (22 days in all).
    (t,) = v["turnaround"]
    assert (t["decision_median_days"], t["decision_p90_days"]) == (2.5, 3.7)
    assert (t["first_scene_median_days"], t["fulfilment_median_days"], t["total_median_days"]) == (
        10.0,
        10.0,
        22.0,
    )
    assert strip(v["products"], "year", "orders", "products_ordered", "products_ready", "products_downloaded",
                 "downloads") == [
        {"year": str(Y0), "orders": 3, "products_ordered": 5, "products_ready": 5, "products_downloaded": 3,
         "downloads": 4},
        {"year": str(Y1), "orders": 3, "products_ordered": 3, "products_ready": 2, "products_downloaded": 2,
         "downloads": 4},
    ]  # fmt: skip
    assert v["quotas"] == [
        {"ledgers": 3, "allocated_km2": 350.0, "reserved_km2": 20.0, "consumed_km2": 72.0,
         "consumption_rate": 0.2057, "organisations": 3, "suppressed": False},
    ]  # fmt: skip
    planned = 243  # the grid's cells (grille-couverture.geojson)
    assert v["coverage"] == [
        {"cells_planned": planned, "cells_acquired": 3, "cells_published": 2, "acquired_share": 0.0123,
         "first_acquired_at": f"{Y0}-05-10", "last_published_at": f"{Y0}-07-03", "cloud_mean": 6.75},
    ]  # fmt: skip
    # Co-financing in Y0: R2's 30 km² of Pléiades archive at 11 €/km².
    (m,) = v["money"]
    assert (m["cofinanced_km2"], m["cofinanced_eur"]) == (30.0, 330.0)


def test_small_cells_are_suppressed(archived):
    # Y0 requests by category: french-public A, B (2 organisations), french-research C,
    # contractor E: every cell under 3 organisations.
    rows = values()["by_category"]
    assert [(r["category"], r["suppressed"], r["requests"]) for r in rows] == [
        ("contractor", True, None),
        ("french-public", True, None),
        ("french-research", True, None),
    ]


def test_replaying_twice_changes_nothing(archived, settings):
    listing, before = bucket_listing(settings), values()
    seen = records_read()
    batch = records()  # the same events, the same ids: an outbox re-publish, a replay
    asyncio.run(publish(batch))
    asyncio.run(publish(batch))
    # Counted once the batch holding them is written and its offsets committed.
    wait_for(lambda: records_read() >= seen + 2 * len(batch), "the replayed records read by the archive")
    assert bucket_listing(settings) == listing
    assert values() == before


def test_openapi_documents_the_routes(services):
    doc = httpx.get(f"http://127.0.0.1:{REPORTING}/openapi.json", timeout=30).json()
    wg = doc["paths"]["/v1/wg/indicators/{name}"]["get"]
    assert {"400", "401", "403", "404"} <= set(wg["responses"])
    assert {p["name"] for p in wg["parameters"]} >= {"by", "year", "category", "region", "format", "lang"}
    assert "text/csv" in doc["paths"]["/v1/indicators/{name}"]["get"]["responses"]["200"]["content"]


def test_working_group_route(archived, keyfile):
    params = {"by": "department", "year": str(Y0)}
    url = f"{API}/wg/indicators/acquisitions_requests"
    assert httpx.get(url, params=params, timeout=30).status_code == 401
    org, user = uid("org"), uid("usr")
    seed_member(org, user, ["member"])
    member = Caller(keyfile, user, org, ["member", "governance", "operator"])  # claims: ignored
    r = httpx.get(url, params=params, headers=member.headers, timeout=30)
    assert r.status_code == 403, r.text
    # The working group: a user of the platform's own organisation with the governance role.
    governance = Caller(keyfile, uid("gov"), "dinamis", ["governance"])
    seed_member("dinamis", governance.user, ["governance"], organisation=False)
    r = httpx.get(url, params=params, headers=governance.headers, timeout=30)
    assert r.status_code == 200, r.text
    operator = Caller.staff(keyfile, api=orders_api(ORDERS))
    r = httpx.get(url, params=params, headers=operator.headers, timeout=30)
    assert r.status_code == 200, r.text
    # Y0 by department: 75 (A), 69 (B), 31 (C), 33 (E): one organisation each.
    assert [(row["department"], row["suppressed"]) for row in r.json()["rows"]] == [
        ("31", True), ("33", True), ("69", True), ("75", True),
    ]  # fmt: skip
    # The public route never breaks down by department.
    r = httpx.get(f"{API}/indicators/acquisitions_requests", params=params, timeout=30)
    assert r.status_code == 400 and r.json()["code"] == "unknown-dimension"
