"""The HTTP client webhooks are posted with: the SSRF guard at connection time.

httpcore's network backend is where a hostname becomes a socket: ours resolves the
host, checks every address (`domain.targets`), and connects to a checked address;
TLS still verifies the certificate against the hostname (SNI). Redirects are never
followed (a 3xx is a failed attempt), and only the first bytes of an answer are read.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore

from dinamis_notify.domain.targets import check_addresses, check_url

MAX_ANSWER_BYTES = 4096


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))  # the host of (host, port[, ...])


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port)
        check_addresses(host, addresses, allow_private=self.allow_private)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"cannot connect to {host}")

    async def connect_unix_socket(self, *args, **kwargs) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@dataclass
class PostResult:
    status: int | None
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookClient:
    def __init__(self, *, allow_private: bool, timeout_s: float, max_connections: int = 32) -> None:
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=max_connections,
            keepalive_expiry=30,
            network_backend=GuardedBackend(allow_private),
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        started = time.perf_counter()
        try:
            check_url(url, allow_private=self.allow_private)
            t = self.timeout_s
            # Per-operation timeouts let a receiver trickle a byte every t s for hours: the
            # whole attempt (resolve, connect, send, read) gets one deadline too.
            async with (
                asyncio.timeout(3 * t),
                self.pool.stream(
                    "POST",
                    url,
                    headers=[*headers.items(), ("Content-Length", str(len(body)))],
                    content=body,
                    extensions={"timeout": {"connect": t, "read": t, "write": t, "pool": t}},
                ) as response,
            ):
                read = 0
                async for chunk in response.aiter_stream():  # drain a little, never a huge answer
                    read += len(chunk)
                    if read >= MAX_ANSWER_BYTES:
                        break
                status = response.status
            error = None if 200 <= status < 300 else f"HTTP {status}"
            return PostResult(status, error, _ms(started))
        except Exception as exc:  # every failure is an attempt's outcome, recorded for the owner
            return PostResult(None, f"{type(exc).__name__}: {exc}"[:500], _ms(started))

    async def aclose(self) -> None:
        await self.pool.aclose()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
