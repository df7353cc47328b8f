"""A measurement, not part of the suite (its name is not `test_*`): the download route's
latency with its outbox write, against a route reading the same record
(`/orders/{id}/products`, no write), and the delay until every download's event is on
Kafka. On the test stack (figures in docs/reporting-events.md):

    source /tmp/ports-1.env && DINAMIS_TEST_KEEP_STACK=1 deploy/local/test \
      tests/integration/measure_reporting_downloads.py -q -s -p no:randomly
"""

from __future__ import annotations

import asyncio
import io
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from dinamis_delivery.adapters.records import ProductRecords
from dinamis_delivery.settings import DeliverySettings
from dinamis_shared import clients
from dinamis_shared.auth import ensure_local_signing_key, mint_token
from dinamis_shared.clients import mongo_client
from dinamis_shared.events import ProductDownloadedV1
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher
from tests.integration.orders_api import orders_alone, seed_member, uid
from tests.ports import free_ports

N = 300
ORDERS_PORT, DELIVERY_PORT = free_ports(2)
DELIVERY = f"http://127.0.0.1:{DELIVERY_PORT}"


@pytest.fixture(scope="module")
def keyfile(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "k.pem"
    ensure_local_signing_key(path)
    return path


@pytest.fixture(scope="module")
def services(keyfile, tmp_path_factory):
    logs = tmp_path_factory.mktemp("m")
    with orders_alone(ORDERS_PORT, logs, keyfile):
        env = {
            "DINAMIS_ORDERS_URL": f"http://127.0.0.1:{ORDERS_PORT}",
            "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
            "DINAMIS_DELIVERY_WORK_DIR": str(logs / "work"),
            "DINAMIS_DELIVERY_VERIFY_EVENT_ISSUER": "false",
        }
        proc = start_service("delivery", DELIVERY_PORT, logs, env=env)
        yield
        stop_service(proc)


async def test_measure(keyfile, services):
    org, user = uid("org"), uid("usr")
    seed_member(org, user)
    pid, oid = uid("p"), uid("ord")
    s = DeliverySettings()
    clients.s3_client(s).put_object("delivery", f"{oid}/{pid}.tif", io.BytesIO(b"x" * 1024), 1024)
    m = mongo_client(s)
    await ProductRecords(m, s.mongo_database).insert(
        {
            "_id": uid("k"),
            "order_id": oid,
            "organisation_id": org,
            "user_id": user,
            "collection": "c",
            "item_id": "i",
            "product_ids": [pid],
            "published": [pid],
            "status": "ready",
            "bucket": "delivery",
            "object_key": f"{oid}/{pid}.tif",
            "size_bytes": 1024,
            "sha256": "0" * 64,
            "crs": "EPSG:2154",
            "expires_at": datetime.now(UTC) + timedelta(days=1),
            "options_json": "{}",
        }
    )
    await m.close()
    token = mint_token(ensure_local_signing_key(keyfile), user_id=user, organisation_id=org, roles=["member"])
    h = {"Authorization": f"Bearer {token}"}
    async with EventWatcher(s.kafka_bootstrap_servers, [ProductDownloadedV1.topic()]) as w:
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(20):  # warm up (orders' entitlements cache, connections)
                await http.get(f"{DELIVERY}/orders/{oid}/products", headers=h)
            ref, dl = [], []
            for _ in range(N):
                t = time.perf_counter()
                r = await http.get(f"{DELIVERY}/orders/{oid}/products", headers=h)
                ref.append(time.perf_counter() - t)
                assert r.status_code == 200
                t = time.perf_counter()
                r = await http.get(f"{DELIVERY}/downloads/{pid}", headers=h)
                dl.append(time.perf_counter() - t)
                assert r.status_code == 307
            last = time.perf_counter()
        await w.wait(lambda: len(w.events(ProductDownloadedV1, pid)) >= N or None, 120)
        lag = time.perf_counter() - last
        await asyncio.sleep(2)
        got = len(w.events(ProductDownloadedV1, pid))
        ids = {hh["ce_id"] for t, hh, k, _ in w.records if k == pid.encode()}

    def q(xs, p):
        return round(statistics.quantiles(xs, n=100)[p - 1] * 1000, 2)

    print(
        "MEASURE",
        json.dumps(
            {
                "downloads": N,
                "events_on_kafka": got,
                "distinct_ids": len(ids),
                "download_ms_p50": q(dl, 50),
                "download_ms_p95": q(dl, 95),
                "reference_list_ms_p50": q(ref, 50),
                "reference_list_ms_p95": q(ref, 95),
                "last_event_after_last_answer_s": round(lag, 2),
            }
        ),
    )
