"""Topic registry: one Kafka topic per event type and version, plus its dead-letter topic.

Topic name `dinamis.<event>.v<version>`, message key = the aggregate id; a message
that can never be processed goes to `<topic>.dlq` (same partitioning key).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from dinamis_shared.events import (
    EVENT_MODELS,
    DeliveryRequestedV1,
    Event,
    OrganisationChangedV1,
    ProductFailedV1,
    ProductReadyV1,
    RequestApprovedV1,
    RequestRejectedV1,
    RequestSubmittedV1,
    RequestUpdatedV1,
    SceneAcquiredV1,
    SceneIngestedV1,
    SceneRejectedV1,
    UserChangedV1,
)
from dinamis_shared.settings import ServiceSettings

log = logging.getLogger(__name__)

DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class TopicSpec:
    model: type[Event]

    @property
    def name(self) -> str:
        return self.model.topic()

    @property
    def dlq(self) -> str:
        return self.name + DLQ_SUFFIX

    @property
    def key_field(self) -> str:
        return self.model.AGGREGATE


TOPICS: dict[str, TopicSpec] = {m.topic(): TopicSpec(m) for m in EVENT_MODELS}
BY_CE_TYPE: dict[str, type[Event]] = {m.ce_type(): m for m in EVENT_MODELS}


# Who consumes what (consumer group = the service's name). The Kafka ACLs are generated
# from this table and from each event's PRODUCER (`dinamis_shared.acls`); a unit test
# checks it against the services' real subscriptions (shared/tests/unit/test_acls.py).
CONSUMES: dict[str, tuple[type[Event], ...]] = {
    "ingest": (SceneAcquiredV1,),
    "catalog": (SceneIngestedV1,),
    "orders": (RequestApprovedV1, SceneIngestedV1, SceneRejectedV1, ProductReadyV1, ProductFailedV1),
    "delivery": (DeliveryRequestedV1,),
    "notify": (
        SceneIngestedV1,
        SceneRejectedV1,
        RequestSubmittedV1,
        RequestApprovedV1,
        RequestRejectedV1,
        RequestUpdatedV1,
        ProductReadyV1,
        ProductFailedV1,
        OrganisationChangedV1,
        UserChangedV1,
    ),
}
# Writers besides the PRODUCER, in development only: the supplier simulator announces
# its deliveries straight on the bus (a real supplier pushes them to ingest over HTTP,
# signed, and ingest publishes). Not granted when DINAMIS_ENVIRONMENT=production.
DEVELOPMENT_WRITERS: dict[str, tuple[type[Event], ...]] = {"supplier-sim": (SceneAcquiredV1,)}


def topic_for(model: type[Event]) -> TopicSpec:
    return TOPICS[model.topic()]


def all_topic_names() -> list[str]:
    """Every topic the platform uses, dead-letter topics included."""
    return [n for spec in TOPICS.values() for n in (spec.name, spec.dlq)]


async def ensure_topics(
    bootstrap_servers: str, partitions: int, replication: int = 1, *, settings: ServiceSettings | None = None
) -> list[str]:
    """Create the registry's topics that do not exist yet, and add partitions to those
    that have fewer than `partitions` (Kafka cannot remove any); return the names
    created or grown. Authenticates as `settings` (default: the tools' `admin`)."""
    auth = (settings or ServiceSettings()).kafka_auth()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="dinamis-topics", **auth)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in all_topic_names() if n not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(n, num_partitions=partitions, replication_factor=replication) for n in missing]
                )
            except TopicAlreadyExistsError:  # a concurrent creator won the race
                pass
        described = await admin.describe_topics([n for n in all_topic_names() if n in existing])
        grow = {
            t["topic"]: NewPartitions(total_count=partitions)
            for t in described
            if len(t["partitions"]) < partitions
        }
        if grow:
            await admin.create_partitions(grow)
        return missing + sorted(grow)
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Create the DINAMIS Kafka topics.")
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--partitions", type=int, default=6)
    args = parser.parse_args()
    created = asyncio.run(ensure_topics(args.bootstrap_servers, args.partitions))
    total = len(all_topic_names())
    print(f"topics: {total} in registry, {len(created)} created or grown (>= {args.partitions} partitions)")


if __name__ == "__main__":
    main()
