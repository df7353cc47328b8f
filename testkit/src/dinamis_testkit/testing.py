"""Test helpers shared by the services' own unit tests (no server needed).

`check_subscriptions` drives a service's real subscriber through FastStream's
in-memory TestKafkaBroker (handler unit tests only: integration tests use the
real Kafka): every example event of the topics it should consume is handled, a
malformed one goes to the dead-letter topic, and the topics it should not
consume are not subscribed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker

from dinamis_shared import cloudevents
from dinamis_shared.bus import CONSUMED
from dinamis_shared.events import Event
from dinamis_shared.topics import TOPICS, topic_for
from dinamis_testkit.examples import example_events


def subscribed_topics(app: FastAPI) -> set[str]:
    broker = app.state.resources.broker
    return {t for sub in broker.subscribers for t in sub.topic_names}


def _count(topic: str, group: str, outcome: str) -> float:
    return CONSUMED.labels(topic, group, outcome)._value.get()


async def _raw(message) -> bytes:
    return message.body


async def check_subscriptions(
    app: FastAPI, expected: set[type[Event]], *, handle_examples: bool = True
) -> None:
    """With handle_examples=False (handlers that need the real stores), only the
    routing and the dead-lettering of malformed messages are checked."""
    resources = app.state.resources
    broker = resources.broker
    group = resources.settings.SERVICE
    assert subscribed_topics(app) == {topic_for(m).name for m in expected}
    dead_letters: list[bytes] = []

    async def on_dead_letter(body: bytes) -> None:
        dead_letters.append(body)

    for model in expected:
        broker.subscriber(topic_for(model).dlq, group_id=f"{group}-test-dlq", decoder=_raw)(on_dead_letter)
    examples = {type(e): e for e in example_events()}
    async with TestKafkaBroker(broker) as test_broker:
        for model in expected:
            name = topic_for(model).name
            handled = _count(name, group, "handled")
            dead = _count(name, group, "dead-lettered")
            record = cloudevents.encode(examples[model], source="/dinamis/test")
            if handle_examples:
                await test_broker.publish(record.value, topic=name, key=record.key, headers=record.headers)
                assert _count(name, group, "handled") == handled + 1, f"{name} not handled"
            await test_broker.publish(b"{oops", topic=name, key=record.key, headers=record.headers)
            assert _count(name, group, "dead-lettered") == dead + 1, f"{name}: malformed not dead-lettered"
            assert dead_letters == [b"{oops"], f"{name}: the dead letter must carry the original value"
            dead_letters.clear()
    assert not set(TOPICS) - {topic_for(m).name for m in expected} & subscribed_topics(app)


def start_service(
    name: str, port: int, log_dir: Path, env: dict[str, str] | None = None, ready_s: float = 60
) -> subprocess.Popen:
    """Run `dinamis-<name>` from this checkout's venv on `port`, and wait for /readyz.

    The service gets this process's environment (the local stack's settings), in the
    development environment unless the caller's `env` says otherwise (the services'
    default, production, refuses the local stack's credentials)."""
    root = Path(__file__).resolve().parents[3]
    full_env = {
        **os.environ,
        "DINAMIS_ENVIRONMENT": os.environ.get("DINAMIS_ENVIRONMENT", "development"),
        f"DINAMIS_{name.upper()}_HTTP_PORT": str(port),
        **(env or {}),
    }
    log = (log_dir / f"{name}-{port}.log").open("wb")
    proc = subprocess.Popen(
        [root / ".venv" / "bin" / f"dinamis-{name}"], env=full_env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + ready_s
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"dinamis-{name} did not become ready; see {log.name}")
        time.sleep(0.5)


@contextlib.contextmanager
def running_services(
    services: Iterable[tuple[str, int]], log_dir: Path, env: dict[str, str] | None = None
) -> Iterator[list[subprocess.Popen]]:
    """Start each `(name, port)` in turn; stop them all, last first, on the way out — the
    ones already running too when a later one fails to start (no process left behind
    holding a port the next run picks again)."""
    procs: list[subprocess.Popen] = []
    try:
        for name, port in services:
            procs.append(start_service(name, port, log_dir, env=env))
        yield procs
    finally:
        for proc in reversed(procs):
            stop_service(proc)


def stop_service(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
