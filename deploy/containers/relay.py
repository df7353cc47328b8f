"""A TCP relay: `relay.py PORT=HOST:PORT ...`. Each connection to 0.0.0.0:PORT goes to
HOST:PORT, the name resolved again for every connection and its addresses taken in turn,
so that a service with several replicas (the compose network's DNS answers with all of
them) gets connections spread over them, and a replica that is gone is skipped (its
connection refused: the next address is tried). Standard library only: it runs in any
service image (docker-compose.yml, `gateway`)."""

from __future__ import annotations

import asyncio
import itertools
import socket
import sys

_turn = itertools.count()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except OSError:
            pass


async def _open(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = sorted({info[4][0] for info in infos})
    if not addresses:
        raise OSError(f"{host}: no address")
    start = next(_turn)
    error: OSError | None = None
    for k in range(len(addresses)):
        address = addresses[(start + k) % len(addresses)]
        try:
            return await asyncio.wait_for(asyncio.open_connection(address, port), 3)
        except (OSError, TimeoutError) as exc:
            error = OSError(f"{address}:{port}: {exc}")
    assert error is not None
    raise error


def _handler(host: str, port: int):
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            upstream_r, upstream_w = await _open(host, port)
        except OSError as exc:
            print(f"relay: {host}:{port} unreachable: {exc}", file=sys.stderr, flush=True)
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, upstream_w), _pipe(upstream_r, client_w))

    return handle


async def main(routes: list[str]) -> None:
    servers = []
    for route in routes:
        listen, _, target = route.partition("=")
        host, _, port = target.rpartition(":")
        servers.append(await asyncio.start_server(_handler(host, int(port)), "0.0.0.0", int(listen)))
        print(f"relay: 0.0.0.0:{listen} -> {host}:{port}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
