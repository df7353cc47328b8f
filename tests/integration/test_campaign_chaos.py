"""The yearly coverage campaign, reduced (24 cells, 200 product orders), under chaos — issue 17.

The whole platform runs under the local supervisor (`deploy/local/supervise.py`: two
replicas of ingest and delivery, one of every other service, each restarted when it
dies) on the test stack. `dinamis campaign` drives it — members through the orders API,
cells delivered by the supplier simulator (some cloudy, some corrupt: re-tasked on the
ops board), ingest → catalogue, a burst of product orders → delivery → notify — while a
random replica is SIGKILLed every 10 s and Kafka, FerretDB, PostgreSQL and the S3 server
are each restarted once. Then the invariants are checked from the stores and topics
themselves: nothing lost, nothing twice.

This module restarts the stack's servers: `deploy/local/test` runs it on its own, after
the rest of the suite (marker `chaos`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from dinamis_campaign.drive import Campaign, Options, fresh_year
from dinamis_campaign.record import Fate
from dinamis_portal.ops.kafka_admin import GROUP_TOPICS
from dinamis_shared.settings import ServiceSettings
from tests.ports import free_ports

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".artifacts" / "campaign"
CELLS, ORDERS, ORGANISATIONS = 24, 200, 20


def reset_groups_to_end(settings: ServiceSettings) -> None:
    """Every service group starts at the end of its topics: what earlier tests left on the
    bus (hostile records included) is theirs, not this platform's to consume."""

    async def go() -> None:
        for group in sorted({g for g, _ in GROUP_TOPICS}):
            consumer = AIOKafkaConsumer(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                group_id=group,
                enable_auto_commit=False,
                **settings.kafka_auth(),
            )
            await consumer.start()
            try:
                await consumer._client.force_metadata_update()
                parts = [
                    TopicPartition(t, p)
                    for g, t in GROUP_TOPICS
                    if g == group
                    for p in consumer.partitions_for_topic(t) or ()
                ]
                consumer.assign(parts)
                ends = await consumer.end_offsets(parts)
                if ends:
                    await consumer.commit(dict(ends))
            finally:
                await consumer.stop()

    import asyncio

    asyncio.run(go())


@pytest.fixture(scope="module")
def platform(tmp_path_factory, keyfile, settings):
    """The platform under the supervisor: (ports, run dir)."""
    run_dir = tmp_path_factory.mktemp("supervisor")
    names = ["ingest", "ingest", "catalog", "orders", "delivery", "delivery", "notify", "supplier-sim"]
    names += ["portal", "reporting"]
    order = ["ingest", "ingest2", "catalog", "orders", "delivery", "delivery2", "notify", "supplier"]
    order += ["portal", "reporting"]
    ports = dict(zip(order, free_ports(len(names)), strict=True))
    specs = [f"{n}:{ports[k]}" for n, k in zip(names, order, strict=True)]
    url = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    env = {
        **os.environ,
        "DINAMIS_ENVIRONMENT": "development",
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": url["orders"],
        "DINAMIS_ORDERS_SUPPLIER_URL": url["supplier"],
        "DINAMIS_ORDERS_CATALOG_URL": url["catalog"],
        "DINAMIS_ORDERS_DELIVERY_URL": url["delivery"],
        "DINAMIS_CATALOG_PUBLIC_URL": url["catalog"],
        "DINAMIS_SUPPLIER_ACQUISITION_DELAY_S": "0",
        "DINAMIS_PORTAL_CATALOG_URL": url["catalog"],
        "DINAMIS_PORTAL_PUBLIC_URL": url["portal"],
        "DINAMIS_PORTAL_DELIVERY_URL": url["delivery"],
        "DINAMIS_PORTAL_NOTIFY_URL": url["notify"],
        "DINAMIS_DELIVERY_WORK_DIR": str(run_dir / "delivery-work"),
        "DINAMIS_REPORTING_LAKE_DIR": str(run_dir / "lake"),
    }
    reset_groups_to_end(settings)
    command = [sys.executable, str(ROOT / "deploy/local/supervise.py"), "--run-dir", str(run_dir)]
    supervisor = subprocess.Popen([*command, "--log-dir", str(run_dir / "logs"), *specs], env=env)
    try:
        deadline = time.monotonic() + 180
        for port in ports.values():
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert supervisor.poll() is None, "the supervisor died"
                assert time.monotonic() < deadline, f"port {port} never ready; logs in {run_dir}/logs"
                time.sleep(0.5)
        yield url, run_dir, env
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(60)
        except subprocess.TimeoutExpired:
            supervisor.kill()


async def test_a_reduced_campaign_under_chaos_loses_nothing_and_nothing_twice(platform, settings, keyfile):
    url, run_dir, _ = platform
    opts = Options(
        cells=CELLS,
        orders=ORDERS,
        organisations=ORGANISATIONS,
        year=await fresh_year(settings, 2030),
        chaos=True,
        kill_every_s=10,
        first_server_after_s=15,
        server_every_s=20,
        orders_url=url["orders"] + "/v1",
        catalog_url=url["catalog"],
        key_file=keyfile,
        run_dir=run_dir,
        out_dir=ARTIFACTS,
        progress=False,
        drain_s=600,
        lag_bound_s=180,
        prefix="chaos",
    )
    campaign = Campaign(opts, settings)
    report = await campaign.run()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "test-chaos-report.json").write_text(json.dumps(report, indent=1, default=str))
    failed = [c for c in report["invariants"]["checks"] if not c["ok"]]
    assert not failed, json.dumps(failed, indent=1, default=str)[:4000]
    assert report["errors"] == [], report["errors"]

    # The faults happened: kills every 10 s, each restarted by the supervisor; each server once.
    chaos = report["chaos"]
    assert len(chaos["kills"]) >= 5, chaos["kills"]
    assert sum(chaos["supervisor_restarts"].values()) >= len(chaos["kills"])
    assert sorted(r["server"] for r in chaos["server_restarts"]) == ["ferretdb", "kafka", "postgres", "s3"]
    assert all(r["ok"] for r in chaos["server_restarts"]), chaos["server_restarts"]

    # Every cell covered; every bad delivery rejected or re-tasked, with its reason.
    record = campaign.record
    deliveries = report["stages"]["deliveries"]
    assert deliveries["covered"] == CELLS
    corrupt = {s.scene_id for s in record.scenes.values() if s.fate is Fate.CORRUPT}
    cloudy = {s.scene_id for s in record.scenes.values() if s.fate is Fate.CLOUDY}
    assert {r["scene_id"] for r in report["rejections"]} == corrupt
    assert all(r["reason_code"] == "checksum-mismatch" for r in report["rejections"])
    assert len(report["retasks"]) == len(corrupt) + len(cloudy)
    assert len(record.scenes) == CELLS + len(corrupt) + len(cloudy)

    # Every order placed once (the retried POSTs found theirs), every product ready.
    orders = report["stages"]["orders"]
    assert orders["placed"] + sum(orders["refused"].values()) == ORDERS
    assert not orders["refused"], orders["refused"]
    delivery = report["stages"]["delivery"]
    assert delivery["ready"] == delivery["products_expected"] and delivery["failed"] == 0
    assert report["stages"]["drain"]["settled"]
