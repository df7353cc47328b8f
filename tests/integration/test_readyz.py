"""Each service's /readyz turns not-ready when one of its dependencies stops, and
ready again when it is back; services that do not use that server stay ready.

The five services run as their console scripts (real processes) against the stack;
each server is stopped and restarted through `deploy/local/stack`.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import stack
from tests.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
# Ports apart from `make up`'s (81xx), so the test can run beside a running platform.
PORTS = dict(zip(("ingest", "catalog", "orders", "delivery", "notify"), free_ports(5), strict=True))
USES = {  # server -> services that must turn not-ready without it
    "kafka": {"ingest", "catalog", "orders", "delivery", "notify"},
    "ferretdb": {"orders", "delivery", "notify"},
    "s3": {"ingest", "catalog", "delivery"},
    "postgres": {"catalog", "delivery"},  # delivery resolves items in pgSTAC
    "smtp": {"notify"},
}
DEPENDENCY_NAME = {"ferretdb": "mongodb"}


def readiness() -> dict[str, tuple[int, dict]]:
    out = {}
    for name, port in PORTS.items():
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            out[name] = (r.status_code, r.json())
        except httpx.HTTPError as exc:
            out[name] = (0, {"error": str(exc)})
    return out


def wait_for(expect_not_ready: set[str], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = readiness()
        not_ready = {n for n, (code, _) in state.items() if code != 200}
        if not_ready == expect_not_ready:
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"expected not-ready {sorted(expect_not_ready)}, got {sorted(not_ready)}: {state}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    logs = tmp_path_factory.mktemp("service-logs")
    procs = []
    for name, port in PORTS.items():
        env = {**os.environ, f"DINAMIS_{name.upper()}_HTTP_PORT": str(port)}
        log = open(logs / f"{name}.log", "wb")
        procs.append((subprocess.Popen([BIN / f"dinamis-{name}"], env=env, stdout=log, stderr=log), log))
    try:
        wait_for(set(), timeout=120)
        yield
    finally:
        for proc, _log in procs:
            proc.terminate()
        for proc, log in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


@pytest.mark.parametrize("server", list(USES))
def test_readyz_follows_each_dependency(services, server):
    affected = USES[server]
    stack("down", server)
    try:
        state = wait_for(affected)
        dep = DEPENDENCY_NAME.get(server, server)
        for name in affected:
            code, body = state[name]
            assert code == 503 and body["status"] == "not-ready"
            assert body["checks"][dep] == "failed", body
            # The test's client (127.0.0.1) is on readyz_details_networks: it sees why.
            assert body["details"][dep]["error"], "readyz must say what failed"
    finally:
        stack("up", server)
    wait_for(set())
