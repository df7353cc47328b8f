"""Live-stream benchmark: memory of the notify process (RSS) idle and holding N SSE
clients, and the fan-out delay of one event to all of them (publish on Kafka ->
last client has it). Prints JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from dinamis_shared import clients, cloudevents
from dinamis_shared.auth import ensure_local_signing_key, mint_token
from dinamis_shared.events import ProductReadyV1
from dinamis_shared.settings import ServiceSettings
from dinamis_testkit.examples import example_events
from dinamis_testkit.testing import start_service, stop_service

# The benchmarks run the platform on the local stack, in development (the services'
# default, production, refuses the local stack's credentials).
os.environ["DINAMIS_ENVIRONMENT"] = "development"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def bench(n: int, port: int) -> dict:
    settings = ServiceSettings()
    tmp = Path(tempfile.mkdtemp(prefix="notify-bench-"))
    key_file = tmp / "key.pem"
    key = ensure_local_signing_key(key_file)
    database = f"notify_bench_{uuid.uuid4().hex[:8]}"
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(key_file),
        "DINAMIS_NOTIFY_MONGO_DATABASE": database,
        "DINAMIS_NOTIFY_SSE_HEARTBEAT_S": "15",
        # The bench publishes orders' events itself: notify does not ask orders about them.
        "DINAMIS_NOTIFY_VERIFY_EVENT_ISSUER": "false",
    }
    proc = start_service("notify", port, tmp, env=env)
    org = f"org-bench-{uuid.uuid4().hex[:8]}"
    token = mint_token(key, user_id="bench", organisation_id=org, roles=["member"])
    request = (
        f"GET /events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth(), acks="all"
    )
    await producer.start()
    connections = []
    try:
        await asyncio.sleep(2)  # let start-up allocations settle
        idle = rss_mb(proc.pid)

        async def connect() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            await reader.readuntil(b"retry: 3000\n\n")
            connections.append((reader, writer))

        started = time.perf_counter()
        for _ in range(n // 100):
            await asyncio.gather(*(connect() for _ in range(100)))
        await asyncio.gather(*(connect() for _ in range(n % 100)))
        connect_s = time.perf_counter() - started
        await asyncio.sleep(2)
        held = rss_mb(proc.pid)

        example = next(e for e in example_events() if isinstance(e, ProductReadyV1))
        event = ProductReadyV1.model_validate({**example.model_dump(), "organisation_id": org})
        record = cloudevents.encode(event, source="/dinamis/bench")
        marker = record.headers["ce_id"].encode()
        received: list[float] = []

        async def receive(reader) -> None:
            await asyncio.wait_for(reader.readuntil(marker), 60)
            received.append(time.perf_counter())

        waiting = [asyncio.create_task(receive(r)) for r, _ in connections]
        sent = time.perf_counter()
        await producer.send_and_wait(
            record.topic,
            record.value,
            key=record.key,
            headers=[(k, v.encode()) for k, v in record.headers.items()],
        )
        await asyncio.gather(*waiting)
        after_event = rss_mb(proc.pid)
        delays = sorted(t - sent for t in received)
        return {
            "clients": n,
            "rss_idle_mb": round(idle, 1),
            "rss_with_clients_mb": round(held, 1),
            "rss_after_fanout_mb": round(after_event, 1),
            "per_client_kb": round((held - idle) * 1024 / max(n, 1), 1),
            "connect_all_s": round(connect_s, 2),
            "fanout_first_ms": round(delays[0] * 1000, 1),
            "fanout_p50_ms": round(delays[len(delays) // 2] * 1000, 1),
            "fanout_last_ms": round(delays[-1] * 1000, 1),
            "note": "fan-out includes Kafka publish, consumption by group `notify` and any backlog it had",
        }
    finally:
        for _, writer in connections:
            writer.close()
        await producer.stop()
        stop_service(proc)
        client = clients.mongo_client(settings)
        await client.drop_database(database)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--port", type=int, default=18502)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args.clients, args.port)), indent=2))


if __name__ == "__main__":
    main()
