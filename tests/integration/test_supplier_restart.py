"""The supplier simulator keeps its word through a crash: an order accepted, then the
process SIGKILLed before it acquired anything, is acquired and delivered by the next
process (the campaign's chaos found acquisitions lost this way)."""

from __future__ import annotations

import os
import signal
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from dinamis_shared.events import SceneAcquiredV1
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher
from tests.ports import free_port

KEY = {"X-Api-Key": "dinamis-dev-supplier-key"}


async def test_an_order_accepted_before_a_crash_is_delivered_after_the_restart(settings, tmp_path):
    port = free_port()
    env = {"DINAMIS_SUPPLIER_HTTP_PORT": str(port), "DINAMIS_SUPPLIER_ACQUISITION_DELAY_S": "4"}
    reference = f"req-restart-{uuid.uuid4().hex[:8]}"
    start = datetime.now(UTC) + timedelta(days=1)
    order = {
        "reference": reference,
        "sensor_family": "spot-6-7",
        "aoi": {
            "type": "Polygon",
            "coordinates": [[[3.0, 45.7], [3.1, 45.7], [3.1, 45.8], [3.0, 45.8], [3.0, 45.7]]],
        },
        "window": {"start": start.isoformat(), "end": (start + timedelta(days=30)).isoformat()},
        "max_cloud_cover": 20.0,
    }
    async with EventWatcher(settings.kafka_bootstrap_servers, [SceneAcquiredV1.topic()]) as watcher:

        def announced() -> list[str]:
            """The scenes announced for this order (their ids, in order)."""
            return [key.decode() for _, _, key, value in watcher.records if reference.encode() in value]

        first = start_service("supplier-sim", port, tmp_path, env=env)
        try:
            r = httpx.post(f"http://127.0.0.1:{port}/orders", json=order, headers=KEY, timeout=10)
            assert r.status_code == 201, r.text
            os.kill(first.pid, signal.SIGKILL)  # within its 4 s acquisition delay: nothing sent yet
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        assert not [r for r in watcher.records if b"restart" in r[3]], "acquired before the crash"
        second = start_service("supplier-sim", port, tmp_path, env=env)
        try:

            def delivered() -> list:
                return [e for t, h, k, v in watcher.records for e in [v] if reference.encode() in v]

            await watcher.wait(delivered, 90)
            got = httpx.get(f"http://127.0.0.1:{port}/orders/{reference}", headers=KEY, timeout=10).json()
        finally:
            stop_service(second)
    assert got["status"] == "delivered" and len(got["scenes"]) == 1
    announced = [e for t, h, k, v in watcher.records if reference.encode() in v for e in [k.decode()]]
    assert announced == got["scenes"]  # delivered once, under the id the order lists
