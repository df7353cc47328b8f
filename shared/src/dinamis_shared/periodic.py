"""Background work of a service: periodic passes and long-running tasks, started
with the service and cancelled at shutdown. One failing pass is logged and the next
one runs on time; one failing step never stops the others."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from dinamis_shared.errors import is_outage

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[object]]


async def run_steps(steps: Mapping[str, Step], logger: logging.Logger = log) -> dict[str, BaseException]:
    """Run each step once, in order; return the errors by step name (logged, not raised)."""
    failed: dict[str, BaseException] = {}
    for name, step in steps.items():
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failed[name] = exc
            if is_outage(exc):
                logger.warning("periodic %s failed: %s", name, exc)
            else:
                logger.exception("periodic %s failed", name)
    return failed


async def every(
    interval_s: float,
    steps: Mapping[str, Step] | Step,
    *,
    name: str = "periodic pass",
    first_delay_s: float = 0.0,
    logger: logging.Logger = log,
) -> None:
    """Run `steps` (one callable, or several by name) every `interval_s`, for ever."""
    table = steps if isinstance(steps, Mapping) else {name: steps}
    if first_delay_s:
        await asyncio.sleep(first_delay_s)
    while True:
        await run_steps(table, logger)
        await asyncio.sleep(interval_s)


class BackgroundTasks:
    """The tasks a service runs beside its routes; `stop()` cancels and awaits them."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task] = []

    def start(self, coro: Awaitable[object], name: str | None = None) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        if name:
            task.set_name(name)
        self.tasks.append(task)
        return task

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()
