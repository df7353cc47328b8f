"""The scale-out test on the compose stack (deploy/containers/scale_out.py): run by
`make compose-test` once the stack is up and the demo has run (it sets
DINAMIS_COMPOSE_SCALE_OUT=1); skipped anywhere else, the default suite included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / ".artifacts" / "containers" / "scale-out.json"
BURST = 300
SCALE_ORDERS = 30

pytestmark = [
    pytest.mark.containers,
    pytest.mark.skipif(
        os.environ.get("DINAMIS_COMPOSE_SCALE_OUT") != "1",
        reason="needs the compose stack up with the demo run: make compose-test",
    ),
]


@pytest.mark.timeout(3600)  # the suite's 300 s is for unit and integration tests
def test_scale_out_builds_each_product_once_through_a_kill_and_a_rescale() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "containers" / "scale_out.py"),
         "--burst", str(BURST), "--scale-orders", str(SCALE_ORDERS), "--out", str(REPORT)],
        capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    print(done.stdout[-4000:], done.stderr[-4000:])
    report = json.loads(REPORT.read_text())
    burst, scale = report["burst_result"], report["scale_result"]
    assert burst["orders_ready"] == BURST, burst["orders_not_ready"]
    # all three replicas built a share; the kill happened mid-burst
    assert len(burst["products_per_replica"]) == 3, burst["products_per_replica"]
    assert sum(burst["products_per_replica"].values()) == BURST
    assert 0 < burst["kill"]["products_done_before"] < BURST
    # exactly once: one product-ready and one object per product, each downloadable
    assert burst["product_ready_events"]["products_with_exactly_one"] == BURST, burst["product_ready_events"]
    assert burst["objects"]["products_with_exactly_one"] == BURST, burst["objects"]
    assert burst["downloadable"] == BURST, burst["not_downloadable"]
    # scaled to 1 and back to 3 while ordering: nothing lost
    assert [s["to_replicas"] for s in scale["steps"]] == [1, 3]
    assert scale["orders_ready"] == SCALE_ORDERS, scale["orders_lost_or_failed"]
    assert done.returncode == 0, done.stderr[-2000:]
