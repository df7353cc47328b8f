"""The shared backoff, retry and periodic helpers (no server)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dinamis_shared.periodic import BackgroundTasks, every, run_steps
from dinamis_shared.retry import Backoff, retry


class Conflict(Exception):
    pass


def test_backoff_grows_to_its_cap_and_resets():
    b = Backoff(base=0.1, cap=1.0, jitter=False)
    assert [b.next_delay() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    b.reset()
    assert b.next_delay() == 0.2


def test_jittered_backoff_stays_within_its_ceiling():
    b = Backoff(base=0.1, cap=0.3)
    for _ in range(50):
        assert 0 <= b.next_delay() <= 0.3


async def _no_sleep(_: float) -> None:
    return None


async def test_retry_until_success_and_gives_up_after_attempts():
    calls = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Conflict()
        return "done"

    assert await retry(flaky, attempts=5, backoff=Backoff(sleep=_no_sleep)) == "done"
    assert len(calls) == 3

    calls.clear()

    async def always() -> None:
        calls.append(1)
        raise Conflict("still")

    with pytest.raises(Conflict):
        await retry(always, attempts=4, backoff=Backoff(sleep=_no_sleep))
    assert len(calls) == 4


async def test_retry_raises_at_once_what_retry_if_refuses():
    calls = []

    async def broken() -> None:
        calls.append(1)
        raise ValueError("permanent")

    with pytest.raises(ValueError):
        await retry(broken, retry_if=lambda e: isinstance(e, Conflict), backoff=Backoff(sleep=_no_sleep))
    assert calls == [1]


async def test_expected_errors_are_retried_quietly(caplog):
    calls = []

    async def conflicted() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise Conflict()
        return 1

    with caplog.at_level(logging.INFO):
        await retry(conflicted, expected=(Conflict,), backoff=Backoff(sleep=_no_sleep))
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and r.name == "dinamis_shared.retry"]


async def test_one_failing_step_does_not_stop_the_others():
    ran = []

    async def bad() -> None:
        raise RuntimeError("boom")

    async def good() -> None:
        ran.append("good")

    failed = await run_steps({"bad": bad, "good": good})
    assert ran == ["good"] and list(failed) == ["bad"]


async def test_every_repeats_and_background_tasks_stop_it():
    ticks = []

    async def tick() -> None:
        ticks.append(1)

    tasks = BackgroundTasks()
    tasks.start(every(0.01, tick), name="tick")
    await asyncio.sleep(0.1)
    await tasks.stop()
    seen = len(ticks)
    assert seen >= 3
    await asyncio.sleep(0.05)
    assert len(ticks) == seen and tasks.tasks == []
