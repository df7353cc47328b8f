"""Calling the platform's HTTP APIs as its users do, through crashes: a caller holds a
token (the local development key: development platforms only) and retries what a
restarting replica or server refuses (connection refused or reset, 502/503/504) with a
back-off, until a deadline. Retried POSTs are safe because each says who it is: an
`Idempotency-Key` for product orders, the identifier chosen by the caller for
organisations, a state check for review actions."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from dinamis_shared.auth import ensure_local_signing_key, mint_token

RETRYABLE_STATUS = frozenset({502, 503, 504})


@dataclass
class CallStats:
    calls: int = 0
    retries: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


class Caller:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base: str,
        keyfile: Path,
        user_id: str,
        stats: CallStats,
        *,
        deadline_s: float = 300.0,
    ) -> None:
        self.http, self.base, self.user_id, self.stats = http, base.rstrip("/"), user_id, stats
        token = mint_token(ensure_local_signing_key(keyfile), user_id=user_id)
        self.headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
        self.deadline_s = deadline_s

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer, once it is not a transient failure (or the deadline passed: then the
        last transient answer, or the last transport error raised)."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        give_up = time.monotonic() + self.deadline_s
        delay = 0.2
        while True:
            self.stats.calls += 1
            try:
                r = await self.http.request(method, self.base + path, headers=headers, timeout=30, **kwargs)
            except httpx.TransportError:
                if time.monotonic() > give_up:
                    raise
            else:
                self.stats.by_status[r.status_code] = self.stats.by_status.get(r.status_code, 0) + 1
                if r.status_code not in RETRYABLE_STATUS or time.monotonic() > give_up:
                    return r
            self.stats.retries += 1
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(5.0, delay * 2)
