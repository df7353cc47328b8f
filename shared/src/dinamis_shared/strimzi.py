"""The Kafka of the Kubernetes deployment, as Strimzi resources, from the registries.

    python -m dinamis_shared.strimzi > deploy/k8s/base/kafka/generated.yaml
    python -m dinamis_shared.strimzi --development > deploy/k8s/overlays/dev/kafka-dev-users.yaml

(`make k8s-generate`). A test (tests/k8s) fails when a committed file differs from what this
prints. What it prints (API `kafka.strimzi.io/v1`, Strimzi 1.2):

- a `Kafka` cluster `dinamis` in KRaft mode with one `KafkaNodePool` (brokers and controllers
  on the same 3 nodes), SASL/SCRAM-SHA-512 over TLS on port 9093 only (the services' production
  settings refuse anything else), the `simple` authorizer, no super user besides the operators',
  topic auto-creation off;
- one `KafkaTopic` per registry topic and its dead-letter topic (`topics.all_topic_names`),
  `PARTITIONS` partitions, 3 replicas, `min.insync.replicas` 2;
- one `KafkaUser` per service principal (`acls.service_principals`) but the connect-only ones
  (`acls.CONNECT_ONLY`: the tiler, which neither consumes nor publishes and so never logs in to
  Kafka, `dinamis_shared.service`: no identity it does not use), SCRAM-SHA-512 (the operator
  generates the password into the Secret named after the user, key `password`), with exactly the
  grants of the local stack (`acls.acls`): the same table, so the same least privilege;
- `KafkaUser` `keda` (Kubernetes only, not a service): DESCRIBE on the topics and consumer groups
  the KEDA scalers read the lag of (`LAG_SCALED`), nothing else. Its password is a Secret given by
  the operator of the cluster (`dinamis-keda-kafka`, keys `username` and `password`): KEDA's
  TriggerAuthentication needs the user name in a Secret, which the generated Secret lacks.

With `--development`: only what development adds (the supplier simulator's user and grants,
`topics.DEVELOPMENT_WRITERS`); the dev overlay adds it to the base.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

from dinamis_shared.acls import CONNECT_ONLY, Acl, Operation, Resource, acls, service_principals
from dinamis_shared.topics import CONSUMES, all_topic_names, topic_for

API_VERSION = "kafka.strimzi.io/v1"
CLUSTER = "dinamis"
# Kafka run by the Strimzi 1.2 operator (it supports 4.2.x and 4.3.x only; the local stack runs
# 4.1.1: same client protocol, the services do not care).
KAFKA_VERSION = "4.2.1"
NODES = 3
# Every topic's partitions: the ceiling of any consumer group's useful replicas (a group
# never has more active members than partitions), so the KEDA scalers' maxReplicaCount
# must stay at or below it (checked by tests/k8s). 12 = the largest scale-out planned for
# the yearly coverage (delivery 8, ingest 6) with room to grow without repartitioning.
PARTITIONS = 12
REPLICAS = 3
MIN_INSYNC = 2
# The consumer groups whose lag drives a KEDA ScaledObject (deploy/k8s/base/autoscaling).
LAG_SCALED = ("ingest", "delivery")
KEDA_USER = "keda"
KEDA_SECRET = "dinamis-keda-kafka"
# The KEDA operator's pods (the KEDA Helm chart's label), in its namespace `keda`: the one
# pod of that namespace that may reach the brokers (not its webhooks nor its metrics server).
KEDA_NAMESPACE = "keda"
KEDA_OPERATOR = {"app.kubernetes.io/name": "keda-operator"}

_OPERATION = {Operation.READ: "Read", Operation.WRITE: "Write", Operation.DESCRIBE: "Describe"}
_RESOURCE = {Resource.TOPIC: "topic", Resource.GROUP: "group"}


def resource_name(topic: str) -> str:
    """A Kubernetes object name for a topic name (`dinamis.scene-acquired.v1.dlq` is one
    already: lower case, digits, `-` and `.`); checked rather than transformed."""
    if not all(c.islower() or c.isdigit() or c in "-." for c in topic) or len(topic) > 253:
        raise ValueError(f"topic {topic!r} is not a valid Kubernetes object name")
    return topic


def _labels() -> dict[str, str]:
    return {"strimzi.io/cluster": CLUSTER, "app.kubernetes.io/part-of": "dinamis"}


def kafka_cluster() -> list[dict[str, Any]]:
    """The `KafkaNodePool` and the `Kafka` (KRaft)."""
    pool = {
        "apiVersion": API_VERSION,
        "kind": "KafkaNodePool",
        "metadata": {"name": "dual-role", "labels": _labels()},
        "spec": {
            "replicas": NODES,
            "roles": ["controller", "broker"],
            "storage": {
                "type": "jbod",
                "volumes": [
                    {
                        "id": 0,
                        "type": "persistent-claim",
                        "size": "100Gi",
                        "deleteClaim": False,
                        "kraftMetadata": "shared",
                    }
                ],
            },
            "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "2Gi"}},
        },
    }
    # Who may open a connection to the brokers (Strimzi writes the NetworkPolicy): the
    # services (label dinamis.fr/kafka-client) and the KEDA operator (its pods only, in its
    # namespace).
    peers = [
        {"podSelector": {"matchLabels": {"dinamis.fr/kafka-client": "true"}}},
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": KEDA_NAMESPACE}},
            "podSelector": {"matchLabels": dict(KEDA_OPERATOR)},
        },
    ]
    kafka = {
        "apiVersion": API_VERSION,
        "kind": "Kafka",
        "metadata": {"name": CLUSTER, "labels": {"app.kubernetes.io/part-of": "dinamis"}},
        "spec": {
            "kafka": {
                "version": KAFKA_VERSION,
                "listeners": [
                    {
                        "name": "tls",
                        "port": 9093,
                        "type": "internal",
                        "tls": True,
                        "authentication": {"type": "scram-sha-512"},
                        "networkPolicyPeers": peers,
                    }
                ],
                "authorization": {"type": "simple"},
                "config": {
                    "auto.create.topics.enable": False,
                    "default.replication.factor": REPLICAS,
                    "min.insync.replicas": MIN_INSYNC,
                    "offsets.topic.replication.factor": REPLICAS,
                    "transaction.state.log.replication.factor": REPLICAS,
                    "transaction.state.log.min.isr": MIN_INSYNC,
                    "num.partitions": PARTITIONS,
                },
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
    }
    return [pool, kafka]


def kafka_topics() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "KafkaTopic",
            "metadata": {"name": resource_name(name), "labels": _labels()},
            "spec": {
                "topicName": name,
                "partitions": PARTITIONS,
                "replicas": REPLICAS,
                "config": {"min.insync.replicas": MIN_INSYNC},
            },
        }
        for name in all_topic_names()
    ]


def _strimzi_acls(grants: list[Acl]) -> list[dict[str, Any]]:
    """Strimzi's `simple` ACL entries, one per (resource, name) with its operations."""
    by_resource: dict[tuple[Resource, str], set[str]] = {}
    for acl in grants:
        by_resource.setdefault((acl.resource, acl.name), set()).add(_OPERATION[acl.operation])
    return [
        {
            "type": "allow",
            "resource": {"type": _RESOURCE[resource], "name": name, "patternType": "literal"},
            "operations": sorted(operations),
            "host": "*",
        }
        for (resource, name), operations in sorted(by_resource.items())
    ]


def _user(name: str, grants: list[Acl], password_secret: str | None = None) -> dict[str, Any]:
    authentication: dict[str, Any] = {"type": "scram-sha-512"}
    if password_secret:
        authentication["password"] = {
            "valueFrom": {"secretKeyRef": {"name": password_secret, "key": "password"}}
        }
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaUser",
        "metadata": {"name": name, "labels": _labels()},
        "spec": {
            "authentication": authentication,
            "authorization": {"type": "simple", "acls": _strimzi_acls(grants)},
        },
    }


def keda_acls() -> list[Acl]:
    """DESCRIBE on the lag-scaled groups and the topics they consume (offsets and lag)."""
    out = set()
    for group in LAG_SCALED:
        out.add(Acl(KEDA_USER, Operation.DESCRIBE, Resource.GROUP, group))
        out |= {
            Acl(KEDA_USER, Operation.DESCRIBE, Resource.TOPIC, topic_for(m).name) for m in CONSUMES[group]
        }
    return sorted(out)


def kafka_users(*, development: bool) -> list[dict[str, Any]]:
    """The users of the base (`development=False`), or only those development adds."""
    grants = acls(development=development)
    names = set(service_principals(development=development)) - set(CONNECT_ONLY)
    if development:
        names -= set(service_principals(development=False))
    users = [_user(n, [a for a in grants if a.principal == n]) for n in sorted(names)]
    if not development:
        users.append(_user(KEDA_USER, keda_acls(), password_secret=KEDA_SECRET))
    return users


def render(*, development: bool = False) -> str:
    docs = (
        kafka_users(development=True)
        if development
        else [*kafka_cluster(), *kafka_topics(), *kafka_users(development=False)]
    )
    command = "python -m dinamis_shared.strimzi" + (" --development" if development else "")
    header = f"# Generated by `{command}` (make k8s-generate) from shared/src/dinamis_shared; do not edit.\n"
    return header + yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False, width=120)


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the Strimzi resources of the DINAMIS Kafka.")
    parser.add_argument(
        "--development", action="store_true", help="only what development adds (the supplier simulator)"
    )
    args = parser.parse_args()
    sys.stdout.write(render(development=args.development))


if __name__ == "__main__":
    main()
