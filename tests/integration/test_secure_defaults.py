"""Secure by default (issue 12, item 5), on real service processes:

- a 60 MB anonymous body to the orders service is refused (401) before it is read: the
  process's memory does not grow (security review: +343 MB before); an authenticated
  one is cut at the 1 MiB limit (413), declared or streamed (chunked);
- /readyz tells anyone which checks failed, never why (host names, ports, user names):
  that is in the logs only, unless the client is on `readyz_details_networks`.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from dinamis_shared.auth import ensure_local_signing_key, mint_token
from dinamis_testkit.testing import start_service, stop_service
from tests.ports import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def post_raw(
    port: int, path: str, headers: dict[str, str], total: int, chunked: bool
) -> tuple[int, int, float]:
    """POST `total` bytes (declared, or chunked) while watching for an early answer:
    (status, bytes the client managed to send, seconds)."""
    started = time.monotonic()
    conn = socket.create_connection(("127.0.0.1", port), timeout=15)
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(total)}
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "svc", **headers, **framing}.items())
    conn.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode())
    piece = b"x" * 65536
    sent = 0
    try:
        while sent < total and time.monotonic() - started < 30:
            readable, writable, _ = select.select([conn], [conn], [], 5)
            if readable:
                break  # the answer came before the body was sent
            if writable:
                data = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
                conn.sendall(data)
                sent += len(piece)
        if sent >= total and chunked:
            conn.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed: read the answer
    answer = b""
    try:
        while b"\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    finally:
        conn.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1") else 0
    return status, sent, time.monotonic() - started


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "signing-key.pem"
    ensure_local_signing_key(path)
    return path


@pytest.fixture(scope="module")
def orders(live_stack, key_file, tmp_path_factory):
    port = free_port()
    env = {"DINAMIS_AUTH_LOCAL_KEY_FILE": str(key_file), "DINAMIS_ORDERS_SUPPLIER_URL": ""}
    proc = start_service("orders", port, tmp_path_factory.mktemp("orders"), env=env)
    yield proc, port
    stop_service(proc)


def test_big_bodies_never_reach_memory(orders, key_file):
    proc, port = orders
    path = "/v1/requests"
    token = mint_token(ensure_local_signing_key(key_file), user_id=f"big-body-{uuid.uuid4().hex[:8]}")
    json_headers = {"Content-Type": "application/json"}
    before = rss_mb(proc.pid)

    # Anonymous, 60 MB declared: 401 before a byte is read. (The declared size alone
    # would also be refused, 413: the limit is checked first.)
    status, sent, seconds = post_raw(port, path, json_headers, 60 * MB, chunked=False)
    assert status in (401, 413) and seconds < 10, (status, sent, seconds)
    # Anonymous, 60 MB streamed without Content-Length: 401, nothing read.
    status, sent, seconds = post_raw(port, path, json_headers, 60 * MB, chunked=True)
    assert status == 401 and seconds < 10 and sent < 20 * MB, (status, sent, seconds)
    # Authenticated, streamed: read up to the limit (1 MiB) only, then 413.
    authenticated = {**json_headers, "Authorization": f"Bearer {token}"}
    status, sent, seconds = post_raw(port, path, authenticated, 60 * MB, chunked=True)
    assert status == 413 and seconds < 10 and sent < 20 * MB, (status, sent, seconds)
    status, _, _ = post_raw(port, path, authenticated, 60 * MB, chunked=False)
    assert status == 413

    grown = rss_mb(proc.pid) - before
    assert grown < 20, f"orders grew by {grown:.0f} MB"
    # The service still answers, and still refuses anonymous callers with a problem.
    answer = httpx.post(f"http://127.0.0.1:{port}{path}", json={}, timeout=10)
    assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"
    assert answer.headers["content-type"] == "application/problem+json"


def test_readyz_says_what_failed_never_why(live_stack, tmp_path):
    """notify with an SMTP server that does not answer: not ready. A client outside the
    operations network (here: none is listed) sees which check failed, not the error
    (which names the host and port); the log has it."""
    port, closed = free_port(), free_port()
    log_path = tmp_path / "notify.log"
    env = {
        **os.environ,
        "DINAMIS_ENVIRONMENT": "development",
        "DINAMIS_NOTIFY_HTTP_PORT": str(port),
        "DINAMIS_NOTIFY_SMTP_PORT": str(closed),
        "DINAMIS_NOTIFY_MONGO_DATABASE": f"notify_readyz_{uuid.uuid4().hex[:8]}",
        "DINAMIS_READYZ_DETAILS_NETWORKS": "",
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen([ROOT / ".venv" / "bin" / "dinamis-notify"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        body: dict = {}
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                body = answer.json()
                if answer.status_code == 503 and body["checks"].get("kafka") == "ok":
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert body.get("status") == "not-ready", body
        assert body == {"status": "not-ready", "checks": {**body["checks"], "smtp": "failed"}}
        assert set(body["checks"].values()) <= {"ok", "failed"}
        assert str(closed) not in answer.text and "127.0.0.1" not in answer.text
        for _ in range(20):
            if str(closed) in log_path.read_text(errors="replace"):
                break
            time.sleep(0.25)
        assert str(closed) in log_path.read_text(errors="replace"), "the reason is logged"
    finally:
        stop_service(proc)
