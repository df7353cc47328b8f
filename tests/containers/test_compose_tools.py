"""Unit tests of the compose stack's small tools: the TCP relay that publishes the
replicated services' ports (deploy/containers/relay.py) and the scale-out test's fields."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import sys
from pathlib import Path

from shapely.geometry import box, shape

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


relay = _load("compose_relay", ROOT / "deploy" / "containers" / "relay.py")


async def _echo_server(tag: bytes) -> tuple[asyncio.Server, int]:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        data = await r.read(100)
        w.write(tag + data)
        await w.drain()
        w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _ask(port: int, payload: bytes) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(payload)
    await w.drain()
    answer = await r.read(100)
    w.close()
    return answer


def test_relay_forwards_both_ways_and_skips_an_address_that_refuses() -> None:
    async def scenario() -> list[bytes]:
        backend, port = await _echo_server(b"A:")
        handler = relay._handler("localhost", port)  # localhost: 127.0.0.1 (and ::1 refuses)
        front = await asyncio.start_server(handler, "127.0.0.1", 0)
        front_port = front.sockets[0].getsockname()[1]
        answers = [await _ask(front_port, f"ping{k}".encode()) for k in range(4)]
        front.close()
        backend.close()
        return answers

    assert asyncio.run(scenario()) == [b"A:ping0", b"A:ping1", b"A:ping2", b"A:ping3"]


def test_relay_closes_the_client_when_no_address_answers() -> None:
    async def scenario() -> bytes:
        closed, port = await _echo_server(b"")
        closed.close()
        await closed.wait_closed()  # nothing listens on `port` any more
        front = await asyncio.start_server(relay._handler("127.0.0.1", port), "127.0.0.1", 0)
        answer = await _ask(front.sockets[0].getsockname()[1], b"hello")
        front.close()
        return answer

    assert asyncio.run(scenario()) == b""


def test_scale_out_fields_are_distinct_disjoint_and_inside_the_scene() -> None:
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    scale_out = _load("compose_scale_out", ROOT / "deploy" / "containers" / "scale_out.py")
    bbox = [4.0, 45.0, 5.0, 46.0]
    fields = [shape(f) for f in scale_out.fields(bbox, 330)]
    assert len(fields) == 330
    inner = box(4.1, 45.1, 4.9, 45.9)  # the bbox less its 10 % margin on each side
    assert all(inner.contains(f) for f in fields)
    # a 19 x 18 grid (int(sqrt(330)) + 1 = 19 columns): each field is 60 % of its cell's side
    assert abs(fields[0].bounds[2] - fields[0].bounds[0] - 0.8 / 19 * 0.6) < 1e-9
    assert not any(a.intersects(b) for a, b in itertools.combinations(fields, 2))
