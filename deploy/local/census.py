"""What a stack holds, counted: catalogue items, objects per bucket, Kafka records per
topic, documents per MongoDB collection. `make test` counts the platform's stack (the
one `make up` runs) before and after its run on its own stack, and fails if anything
changed: the proof that tests never write into the developer's platform.

python deploy/local/census.py            print the counts as JSON (servers that do not
                                         answer are reported as "down", not counted)
"""

from __future__ import annotations

import asyncio
import json
import sys

from dinamis_shared import clients
from dinamis_shared.settings import ServiceSettings

TIMEOUT = 3.0


async def catalogue(s: ServiceSettings) -> dict[str, int]:
    conn = await clients.pg_connect(s, timeout_s=TIMEOUT)
    async with conn:
        cur = await conn.execute(
            "SELECT collection, count(*) FROM pgstac.items GROUP BY collection ORDER BY collection"
        )
        return {str(c): int(n) for c, n in await cur.fetchall()}


async def objects(s: ServiceSettings) -> dict[str, int]:
    s3 = clients.s3_client(s, timeout_s=TIMEOUT, retries=0)

    def count() -> dict[str, int]:
        return {b.name: sum(1 for _ in s3.list_objects(b.name, recursive=True)) for b in s3.list_buckets()}

    return await asyncio.to_thread(count)


async def records(s: ServiceSettings) -> dict[str, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.kafka_bootstrap_servers, request_timeout_ms=3000, **s.kafka_auth()
    )
    try:
        await consumer.start()
        topics = sorted(t for t in await consumer.topics() if t.startswith("dinamis."))
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = await consumer.end_offsets(parts)
        starts = await consumer.beginning_offsets(parts)
        totals: dict[str, int] = {}
        for tp in parts:
            totals[tp.topic] = totals.get(tp.topic, 0) + ends[tp] - starts[tp]
        return totals
    finally:
        await consumer.stop()


async def documents(s: ServiceSettings) -> dict[str, int]:
    client = clients.mongo_client(s, timeout_s=TIMEOUT)
    try:
        counts: dict[str, int] = {}
        for db in await client.list_database_names():
            if db in ("admin", "config", "local"):
                continue
            for name in await client[db].list_collection_names():
                counts[f"{db}.{name}"] = await client[db][name].count_documents({})
        return counts
    finally:
        await client.close()


async def census() -> dict[str, object]:
    s = ServiceSettings()
    out: dict[str, object] = {}
    for name, fn in (
        ("catalogue", catalogue),
        ("objects", objects),
        ("kafka", records),
        ("mongodb", documents),
    ):
        try:
            out[name] = await asyncio.wait_for(fn(s), 60)
        except Exception as exc:
            out[name] = f"down ({type(exc).__name__})"
    return out


if __name__ == "__main__":
    json.dump(asyncio.run(census()), sys.stdout, indent=1, sort_keys=True)
    print()
