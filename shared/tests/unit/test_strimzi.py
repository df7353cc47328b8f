"""The Strimzi resources of the Kubernetes deployment (`dinamis_shared.strimzi`): the same
topics and the same grants as the local stack, nothing more. (That the committed YAML is what
the module prints, and that it passes Strimzi's schemas: tests/k8s/test_manifests.py.)"""

from __future__ import annotations

import pytest
import yaml

from dinamis_shared import strimzi
from dinamis_shared.acls import Acl, Operation, Resource, acls

BASE = list(yaml.safe_load_all(strimzi.render()))
DEV = list(yaml.safe_load_all(strimzi.render(development=True)))


def _kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _grants(user: dict) -> set[tuple[str, str, str]]:
    """(operation, resource type, name) of a KafkaUser's ACL entries, flattened."""
    out = set()
    for entry in user["spec"]["authorization"]["acls"]:
        assert entry["type"] == "allow" and entry["host"] == "*"
        assert entry["resource"]["patternType"] == "literal"
        out |= {(op, entry["resource"]["type"], entry["resource"]["name"]) for op in entry["operations"]}
    return out


def test_one_topic_and_its_dead_letter_topic_per_event() -> None:
    topics = _kind(BASE, "KafkaTopic")
    # 14 event types in the registry (events.EVENT_MODELS), each with its .dlq
    assert len(topics) == 28
    assert "dinamis.delivery-requested.v1" in topics and "dinamis.delivery-requested.v1.dlq" in topics
    for name, topic in topics.items():
        assert topic["spec"]["topicName"] == name
        assert topic["spec"] == {
            "topicName": name,
            "partitions": 12,
            "replicas": 3,
            "config": {"min.insync.replicas": 2},
        }
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "dinamis"


def test_delivery_user_has_exactly_its_local_stack_grants() -> None:
    # Written from the rules of dinamis_shared.acls (write what it produces, read what it
    # consumes and its group, write the dead-letter topic of what it consumes).
    user = _kind(BASE, "KafkaUser")["delivery"]
    assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    assert _grants(user) == {
        ("Write", "topic", "dinamis.product-ready.v1"),
        ("Write", "topic", "dinamis.product-failed.v1"),
        ("Write", "topic", "dinamis.product-downloaded.v1"),
        ("Read", "topic", "dinamis.delivery-requested.v1"),
        ("Write", "topic", "dinamis.delivery-requested.v1.dlq"),
        ("Read", "group", "delivery"),
    }


def test_every_user_round_trips_to_the_acl_table() -> None:
    users = _kind(BASE, "KafkaUser")
    services = {n: u for n, u in users.items() if n != strimzi.KEDA_USER}
    expected: dict[str, set[tuple[str, str, str]]] = {}
    for acl in acls(development=False):
        op = {Operation.READ: "Read", Operation.WRITE: "Write", Operation.DESCRIBE: "Describe"}[acl.operation]
        res = {Resource.TOPIC: "topic", Resource.GROUP: "group"}[acl.resource]
        expected.setdefault(acl.principal, set()).add((op, res, acl.name))
    # catalog-tiles never logs in to Kafka (acls.CONNECT_ONLY, no event): no user at all
    assert set(services) == set(expected)
    assert "catalog-tiles" not in services
    assert "supplier-sim" not in services  # development only
    for name, user in services.items():
        assert _grants(user) == expected.get(name, set()), name


def test_keda_user_only_describes_the_lag_scaled_groups_and_topics() -> None:
    user = _kind(BASE, "KafkaUser")["keda"]
    assert _grants(user) == {
        ("Describe", "group", "delivery"),
        ("Describe", "topic", "dinamis.delivery-requested.v1"),
        ("Describe", "group", "ingest"),
        ("Describe", "topic", "dinamis.scene-acquired.v1"),
    }
    assert user["spec"]["authentication"]["password"] == {
        "valueFrom": {"secretKeyRef": {"name": "dinamis-keda-kafka", "key": "password"}}
    }


def test_cluster_is_kraft_tls_scram_with_the_simple_authorizer() -> None:
    (kafka,) = _kind(BASE, "Kafka").values()
    (pool,) = _kind(BASE, "KafkaNodePool").values()
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"] == "dinamis"
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert listener["tls"] is True and listener["authentication"] == {"type": "scram-sha-512"}
    assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple"}  # no super user
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    # who may connect: the services' pods, and in the namespace keda only the operator's pods
    assert listener["networkPolicyPeers"] == [
        {"podSelector": {"matchLabels": {"dinamis.fr/kafka-client": "true"}}},
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "keda-operator"}},
        },
    ]


def test_development_adds_only_the_supplier_simulator() -> None:
    assert [(d["kind"], d["metadata"]["name"]) for d in DEV] == [("KafkaUser", "supplier-sim")]
    assert _grants(DEV[0]) == {("Write", "topic", "dinamis.scene-acquired.v1")}


def test_grants_are_grouped_by_resource() -> None:
    entries = strimzi._strimzi_acls(
        [
            Acl("x", Operation.READ, Resource.TOPIC, "t"),
            Acl("x", Operation.DESCRIBE, Resource.TOPIC, "t"),
            Acl("x", Operation.READ, Resource.GROUP, "t"),
        ]
    )
    assert [(e["resource"]["type"], e["resource"]["name"], e["operations"]) for e in entries] == [
        ("topic", "t", ["Describe", "Read"]),
        ("group", "t", ["Read"]),
    ]


@pytest.mark.parametrize("bad", ["Dinamis.x.v1", "dinamis_x", "a" * 254])
def test_topic_names_that_are_no_kubernetes_name_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        strimzi.resource_name(bad)
