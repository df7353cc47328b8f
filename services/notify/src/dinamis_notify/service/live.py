"""The live stream: in-process fan-out of stream entries to connected SSE clients.

Each client has a bounded queue. Publishing never waits: when a client's queue is
full the client is too slow; it is dropped (its queue emptied, the connection
closed), so one stalled browser cannot make the process grow. A dropped client
reconnects with `Last-Event-ID` and catches up from the stored history.

Resume without loss or duplicates: a client registers its queue *before* reading
the history after its last id; entries stored meanwhile arrive through both paths
and are skipped by sequence number (`last_sent`).

One process holds the connections it serves: entries reach the clients of the
replica that consumed the event. Notify runs as one replica (see docs).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

CLIENTS = Gauge("dinamis_notify_sse_clients", "Connected live-stream clients")
DROPPED = Counter("dinamis_notify_sse_dropped_total", "Live-stream clients dropped for being too slow")

_DROP = object()
REPLAY_PAGE = 500
REPLAY_MAX_PAGES = 20  # at most 10,000 stored entries replayed; older: a `reset` event


@dataclass(eq=False)
class Client:
    feeds: frozenset[str]
    queue: asyncio.Queue
    dropped: bool = False
    last_sent: int = 0
    user_id: str = ""


@dataclass
class Hub:
    buffer: int = 256
    max_clients: int = 5000
    max_per_user: int = 20  # one user (or one leaked token) cannot take every slot
    clients: set[Client] = field(default_factory=set)
    # The latest entries this process stored, so that the usual resume (a client
    # that lost its connection a moment ago) needs no database query.
    recent: deque = field(default_factory=lambda: deque(maxlen=10_000))

    def recent_after(self, feeds: frozenset[str], after: int) -> list[dict] | None:
        """Entries after `after` from memory; None if memory does not reach back that far."""
        if not self.recent or after < self.recent[0]["_id"] - 1:
            return None
        return [e for e in self.recent if e["_id"] > after and e["feed"] in feeds]

    def connect(self, feeds: frozenset[str], user_id: str = "") -> Client | None:
        if len(self.clients) >= self.max_clients:
            return None
        if user_id and sum(1 for c in self.clients if c.user_id == user_id) >= self.max_per_user:
            return None
        client = Client(feeds, asyncio.Queue(maxsize=self.buffer), user_id=user_id)
        self.clients.add(client)
        CLIENTS.set(len(self.clients))
        return client

    def disconnect(self, client: Client) -> None:
        self.clients.discard(client)
        CLIENTS.set(len(self.clients))

    def publish(self, entry: dict) -> int:
        """Offer an entry to every client of its feed; return how many got it."""
        if not self.recent or entry["_id"] > self.recent[-1]["_id"]:
            self.recent.append(entry)
        delivered = 0
        for client in list(self.clients):
            if entry["feed"] not in client.feeds or client.dropped:
                continue
            try:
                client.queue.put_nowait(entry)
                delivered += 1
            except asyncio.QueueFull:
                self.drop(client)
        return delivered

    def revoke(self, user_id: str) -> int:
        """End a user's streams (deactivated, moved, roles changed): they reconnect and are
        authorised again. Returns how many were ended."""
        ended = [c for c in self.clients if c.user_id == user_id]
        for client in ended:
            self.drop(client)
        return len(ended)

    def drop(self, client: Client) -> None:
        client.dropped = True
        while not client.queue.empty():  # free the buffered entries now
            client.queue.get_nowait()
        client.queue.put_nowait(_DROP)
        self.disconnect(client)
        DROPPED.inc()


def format_entry(entry: dict) -> str:
    data = {
        "id": entry["ce_id"],
        "type": entry["type"],
        "time": entry.get("time"),
        "subject": entry.get("subject"),
        "feed": entry["feed"],
        "data": entry["summary"],
    }
    return f"id: {entry['_id']}\nevent: {entry['name']}\ndata: {json.dumps(data, default=str)}\n\n"


async def sse_events(
    hub: Hub,
    feeds: frozenset[str],
    user_id: str,
    history: Callable[[list[str], int, int], Awaitable[list[dict]]],
    last_event_id: int | None,
    heartbeat_s: float,
) -> AsyncIterator[str]:
    """The text of one SSE response: replay after `last_event_id`, then live entries,
    with a comment line every `heartbeat_s` so proxies keep the connection open.
    The client registers here, when the response starts, and leaves when it ends."""
    client = hub.connect(feeds, user_id)
    if client is None:
        yield "event: overloaded\ndata: {}\n\n"
        return
    try:
        yield "retry: 3000\n\n"
        if last_event_id is not None:
            client.last_sent = last_event_id
            # The client is registered: whatever is stored from now on also reaches its queue.
            memory = hub.recent_after(feeds, last_event_id)
            if memory is None:  # older than this process remembers: page through the database
                for _page in range(REPLAY_MAX_PAGES):
                    if client.dropped:
                        break
                    page = await history(sorted(feeds), client.last_sent, REPLAY_PAGE)
                    for entry in page:
                        yield format_entry(entry)
                        client.last_sent = entry["_id"]
                    if len(page) < REPLAY_PAGE:
                        break
                else:  # too far behind to replay: say so; the client reloads its state
                    yield "event: reset\ndata: {}\n\n"
            for entry in memory or ():
                yield format_entry(entry)
                client.last_sent = entry["_id"]
        while not client.dropped:
            try:
                entry = await asyncio.wait_for(client.queue.get(), heartbeat_s)
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if entry is _DROP:
                break
            if entry["_id"] <= client.last_sent:
                continue
            yield format_entry(entry)
            client.last_sent = entry["_id"]
    finally:
        hub.disconnect(client)
