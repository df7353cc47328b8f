"""Count a topic's events per key field, from the first offset to the end: run inside the
compose network (Kafka is not published on the host), as the tools' `admin` identity.

    python compose_events.py dinamis.product-ready.v1 product_id

Prints JSON: {"topic", "records", "counts": {value: n}}. deploy/containers/scale_out.py uses
it to check that each product got exactly one product-ready."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

from aiokafka import AIOKafkaConsumer, TopicPartition

from dinamis_shared.settings import ServiceSettings


def field_of(value: bytes, field: str) -> str | None:
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    if isinstance(doc, dict):
        if field in doc:
            return str(doc[field])
        data = doc.get("data")
        if isinstance(data, dict) and field in data:
            return str(data[field])
    return None


async def count(topic: str, field: str) -> dict:
    s = ServiceSettings()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.kafka_bootstrap_servers, enable_auto_commit=False, **s.kafka_auth()
    )
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # what consumer.topics() reads
        partitions = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        counts: Counter[str] = Counter()
        records = 0
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=2000, max_records=1000)
            if not batch:
                remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
                continue
            for tp, msgs in batch.items():
                for m in msgs:
                    if m.offset >= end[tp]:
                        continue
                    records += 1
                    key = field_of(m.value or b"", field)
                    if key is not None:
                        counts[key] += 1
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return {"topic": topic, "records": records, "partitions": len(partitions), "counts": dict(counts)}
    finally:
        await consumer.stop()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(count(sys.argv[1], sys.argv[2]))))
