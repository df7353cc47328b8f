"""Retrying transient failures: one backoff policy for the whole platform.

Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
and Jitter"): the n-th wait is uniform in [0, min(cap, base * 2**n)].
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dinamis_shared.errors import is_outage

T = TypeVar("T")
log = logging.getLogger(__name__)


def exponential_delay(
    attempt: int, base: float, cap: float, *, jitter: str = "full", rand: float | None = None
) -> float:
    """The wait before retry number `attempt` (1, 2, ...): `base * 2**attempt` capped at
    `cap`, then jittered — "full": uniform in [0, d]; "equal": in [d/2, d] (a retry is
    never much earlier than promised, e.g. to webhook receivers); "none": d."""
    ceiling = min(cap, base * 2**attempt)
    r = random.random() if rand is None else rand
    if jitter == "full":
        return r * ceiling
    if jitter == "equal":
        return ceiling / 2 + r * ceiling / 2
    return ceiling


class Backoff:
    """Successive waits after failures; `reset()` after a success."""

    def __init__(
        self,
        base: float = 0.2,
        cap: float = 10.0,
        *,
        jitter: bool = True,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.base, self.cap, self.jitter, self.failures = base, cap, jitter, 0
        self._sleep = sleep

    def next_delay(self) -> float:
        self.failures += 1
        return exponential_delay(self.failures, self.base, self.cap, jitter="full" if self.jitter else "none")

    async def wait(self) -> None:
        await self._sleep(self.next_delay())

    def reset(self) -> None:
        self.failures = 0


async def retry(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int | None = None,
    retry_if: Callable[[BaseException], bool] = lambda exc: True,
    backoff: Backoff | None = None,
    what: str = "operation",
    expected: tuple[type[BaseException], ...] = (),
) -> T:
    """Await `fn()` until it succeeds; retry errors `retry_if` accepts, after a backoff.

    `attempts=None` keeps trying for ever (an outage ends eventually; the caller's task
    is cancelled at shutdown). The last error is raised when attempts run out or when
    `retry_if` refuses it. `expected` errors (an optimistic-concurrency conflict, say)
    are retried quietly (debug log); outages log a warning, anything else a stack trace.
    """
    backoff = backoff or Backoff()
    tried = 0
    while True:
        try:
            return await fn()
        except Exception as exc:
            tried += 1
            if not retry_if(exc) or (attempts is not None and tried >= attempts):
                raise
            if isinstance(exc, expected):
                log.debug("%s: %s, retrying", what, type(exc).__name__)
            elif is_outage(exc):
                log.warning("%s failed, retrying: %s", what, exc)
            else:
                log.exception("%s failed, retrying", what)
            await backoff.wait()
