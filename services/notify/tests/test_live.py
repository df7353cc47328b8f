"""The live stream's fan-out: bounded per-client buffers, slow clients dropped, resume
from history without loss or duplicates (history given as a function, no server)."""

from __future__ import annotations

import asyncio

from dinamis_notify.service.live import Hub, sse_events

FEED = "org:o1"


def entry(seq: int, feed: str = FEED) -> dict:
    return {
        "_id": seq,
        "feed": feed,
        "ce_id": f"ce-{seq}",
        "type": "t",
        "name": "product-ready",
        "summary": {},
    }


def test_a_slow_client_is_dropped_and_its_buffer_freed():
    hub = Hub(buffer=3)
    slow = hub.connect(frozenset({FEED}))
    other = hub.connect(frozenset({"org:o2"}))
    for seq in range(1, 4):
        assert hub.publish(entry(seq)) == 1
    assert hub.publish(entry(4)) == 0  # the 4th does not fit: dropped
    assert slow.dropped and slow not in hub.clients and other in hub.clients
    assert slow.queue.qsize() == 1  # only the drop marker remains
    assert hub.publish(entry(5)) == 0


def test_clients_only_get_their_feeds():
    hub = Hub()
    a = hub.connect(frozenset({FEED}))
    b = hub.connect(frozenset({"org:o2", "operations"}))
    hub.publish(entry(1, "operations"))
    hub.publish(entry(2, FEED))
    assert a.queue.qsize() == 1 and b.queue.qsize() == 1


def test_max_clients():
    hub = Hub(max_clients=2)
    assert hub.connect(frozenset()) and hub.connect(frozenset())
    assert hub.connect(frozenset()) is None


async def test_resume_replays_history_then_live_without_duplicates():
    stored = [entry(s) for s in range(1, 8)]

    async def history(feeds, after, limit):
        return [e for e in stored if e["feed"] in feeds and e["_id"] > after][:limit]

    hub = Hub()
    stream = sse_events(hub, frozenset({FEED}), "u", history, last_event_id=3, heartbeat_s=0.05)
    assert await anext(stream) == "retry: 3000\n\n"
    replayed = [await anext(stream) for _ in range(4)]
    assert [r.split("\n")[0] for r in replayed] == ["id: 4", "id: 5", "id: 6", "id: 7"]
    hub.publish(entry(6))  # stored during the replay: arrives live too, skipped
    hub.publish(entry(8))
    assert (await anext(stream)).startswith("id: 8\n")
    assert await anext(stream) == ": heartbeat\n\n"
    await stream.aclose()
    assert not hub.clients


async def test_a_dropped_client_stream_ends():
    async def history(feeds, after, limit):
        return []

    hub = Hub(buffer=1)
    stream = sse_events(hub, frozenset({FEED}), "u", history, last_event_id=None, heartbeat_s=5)
    await anext(stream)
    task = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    hub.publish(entry(1))
    assert (await task).startswith("id: 1")
    hub.publish(entry(2))
    hub.publish(entry(3))  # buffer of 1: dropped
    assert await anext(stream, None) is None


async def test_a_recent_resume_is_served_from_memory():
    async def no_database(feeds, after, limit):
        raise AssertionError("the database is not needed for a recent resume")

    hub = Hub()
    for seq in range(10, 15):
        hub.publish(entry(seq, FEED if seq % 2 else "org:other"))
    stream = sse_events(hub, frozenset({FEED}), "u", no_database, last_event_id=10, heartbeat_s=5)
    await anext(stream)
    assert [(await anext(stream)).split("\n")[0] for _ in range(2)] == ["id: 11", "id: 13"]
    await stream.aclose()
    assert hub.recent_after(frozenset({FEED}), 5) is None  # before memory: database


def test_one_user_cannot_take_every_slot_and_revocation_ends_streams():
    hub = Hub(max_clients=100, max_per_user=2)
    a1, a2 = hub.connect(frozenset({FEED}), "alice"), hub.connect(frozenset({FEED}), "alice")
    assert a1 and a2 and hub.connect(frozenset({FEED}), "alice") is None
    bob = hub.connect(frozenset({FEED}), "bob")
    assert bob is not None
    assert hub.revoke("alice") == 2
    assert a1.dropped and a2.dropped and not bob.dropped
    assert hub.connect(frozenset({FEED}), "alice") is not None  # reconnects (and is re-authorised)


async def test_a_resume_too_far_back_replays_a_bounded_amount_then_resets():
    from dinamis_notify.service.live import REPLAY_MAX_PAGES, REPLAY_PAGE

    calls = []

    async def endless_history(feeds, after, limit):  # more stored entries than we replay
        calls.append(after)
        return [entry(after + k + 1) for k in range(limit)]

    hub = Hub()
    stream = sse_events(hub, frozenset({FEED}), "u", endless_history, last_event_id=0, heartbeat_s=0.05)
    lines = [await anext(stream) for _ in range(1 + REPLAY_MAX_PAGES * REPLAY_PAGE + 1)]
    assert lines[-1].startswith("event: reset")
    assert len(calls) == REPLAY_MAX_PAGES
    await stream.aclose()
