"""The live-stream relay: notify's Server-Sent Events for the logged-in user, passed on to
the page (the browser cannot reach notify: CSP `connect-src 'self'`, and tokens never
leave the server).

What the relay guarantees, whatever notify sends:
- only whole events of the known names are passed on (`id`, `event`, `data` lines; a
  comment becomes a heartbeat), so the page never sees anything else;
- nothing grows without bound: upstream chunks go through a queue of a few entries (the
  reader waits while the page is slow), a partial event longer than `line_max` ends the
  relay;
- it ends when the session ends, or its access token has expired (the browser reconnects
  with `Last-Event-ID`; the new request refreshes the token, or finds the login gone).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

RELAYED_EVENTS = frozenset(
    {
        "product-ready",
        "product-failed",
        "request-submitted",
        "request-approved",
        "request-rejected",
        "request-updated",
        "organisation-changed",
        "scene-ingested",
        "scene-rejected",
        "revoked",
        "reset",
        "overloaded",
    }
)
QUEUE_SIZE = 8
SESSION_ENDED = "event: session-ended\ndata: {}\n\n"
_END = object()


def clean_event(block: str) -> str | None:
    """One upstream event (lines without the blank separator) as relayed, or None."""
    fields: dict[str, list[str]] = {"id": [], "event": [], "data": [], "retry": []}
    comment = False
    for line in block.split("\n"):
        if line.startswith(":"):
            comment = True
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name in fields:
            fields[name].append(value)
    if fields["retry"] and fields["retry"][-1].isdigit() and not fields["data"]:
        return f"retry: {fields['retry'][-1]}\n\n"
    event = fields["event"][-1] if fields["event"] else ""
    if event not in RELAYED_EVENTS:
        return ": heartbeat\n\n" if comment and not fields["data"] else None
    out = []
    if fields["id"] and fields["id"][-1].isdigit():
        out.append(f"id: {fields['id'][-1]}")
    out.append(f"event: {event}")
    out.extend(f"data: {d}" for d in fields["data"])
    return "\n".join(out) + "\n\n"


async def relay(
    chunks: AsyncIterator[bytes],
    alive: Callable[[], Awaitable[str]],
    *,
    check_s: float,
    line_max: int,
) -> AsyncIterator[str]:
    """The relayed stream: events of `chunks` (notify's bytes), a heartbeat at least every
    `check_s` seconds, and the end when `alive()` says so: "ended" (the session is over:
    the page is told, `session-ended`) or "renew" (the token has expired: the stream just
    ends, the browser reconnects and that request renews the token); "ok" goes on."""
    queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)

    async def read() -> None:
        try:
            async for chunk in chunks:
                await queue.put(chunk)
        except asyncio.CancelledError:
            raise  # the relay is ending: nobody reads the queue any more
        except Exception:  # upstream broke off: the relay ends, the browser reconnects
            pass
        await queue.put(_END)

    reader = asyncio.create_task(read())
    pending = ""
    try:
        yield "retry: 3000\n\n"
        while True:
            try:
                chunk = await asyncio.wait_for(queue.get(), check_s)
            except TimeoutError:
                state = await alive()
                if state != "ok":
                    if state == "ended":
                        yield SESSION_ENDED
                    return
                yield ": heartbeat\n\n"
                continue
            if chunk is _END:
                return
            pending += chunk.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
            while "\n\n" in pending:
                block, pending = pending.split("\n\n", 1)
                cleaned = clean_event(block)
                if cleaned:
                    yield cleaned
            if len(pending) > line_max:
                return
            state = await alive()
            if state != "ok":
                if state == "ended":
                    yield SESSION_ENDED
                return
    finally:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(BaseException):
                await aclose()
