"""The Kafka ACLs and S3 rights, generated from the registries: every topic has one
producer, every subscription of every service is in `topics.CONSUMES` (and so in the
ACLs), and nothing else is granted."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dinamis_shared.acls import (
    ARCHIVE_GROUP,
    OPS_CONSOLE,
    OPS_CONSOLE_GROUP,
    OPS_CONSOLE_READS,
    S3_RIGHTS,
    Acl,
    Operation,
    Resource,
    acls,
    archive_acls,
    ops_console_acls,
    principals,
    s3_identities,
)
from dinamis_shared.events import EVENT_MODELS
from dinamis_shared.topics import CONSUMES, DEVELOPMENT_WRITERS, TOPICS, topic_for


def _dummy() -> SimpleNamespace:
    """A container whose every attribute is another: subscription factories only take
    bound methods from it (no I/O)."""

    class Any_(SimpleNamespace):
        def __getattr__(self, name: str) -> object:
            return Any_()

    return Any_()


def subscribed(service: str) -> set[str]:
    """The topics a service really consumes, read from its code without starting it."""
    if service == "ingest":
        from dinamis_ingest.entrypoints.events import subscriptions as ingest

        return {topic_for(m).name for m, _ in ingest(_dummy())}
    if service == "catalog":
        from dinamis_catalog.app import subscriptions as catalog

        return {topic_for(m).name for m, _ in catalog(_dummy())}
    if service == "orders":
        from dinamis_orders.entrypoints.events import subscriptions as orders

        return {topic_for(m).name for m, _ in orders(_dummy())}
    if service == "notify":
        from dinamis_notify.entrypoints.events import subscriptions as notify

        return {topic_for(m).name for m, _ in notify(_dummy())}
    if service == "delivery":  # its own aiokafka consumer
        from dinamis_delivery.entrypoints import events as delivery

        assert delivery.GROUP == "delivery"
        return {delivery.TOPIC.name}
    raise AssertionError(f"no known subscriptions for {service}")


@pytest.mark.parametrize("service", sorted(CONSUMES))
def test_consumes_is_what_each_service_subscribes(service):
    assert {topic_for(m).name for m in CONSUMES[service]} == subscribed(service)


def test_every_consuming_service_is_in_the_table():
    for service in ("ingest", "catalog", "orders", "delivery", "notify"):
        assert service in CONSUMES


def test_every_topic_has_exactly_one_producer_with_write_rights():
    table = acls(development=False)
    for model in EVENT_MODELS:
        writers = {a.principal for a in table if a.operation is Operation.WRITE and a.name == model.topic()}
        # the producer, and the ops console (the replay of a dead letter)
        assert writers == {model.PRODUCER, OPS_CONSOLE}, model.topic()
        assert model.PRODUCER in principals()
    dev = acls(development=True)
    for writer, models in DEVELOPMENT_WRITERS.items():
        for m in models:
            assert Acl(writer, Operation.WRITE, Resource.TOPIC, m.topic()) in dev
            assert Acl(writer, Operation.WRITE, Resource.TOPIC, m.topic()) not in table


def test_every_subscription_is_covered_and_nothing_more():
    table = set(acls(development=False))
    expected: set[Acl] = set()
    for service, models in CONSUMES.items():
        expected.add(Acl(service, Operation.READ, Resource.GROUP, service))
        for m in models:
            spec = topic_for(m)
            expected.add(Acl(service, Operation.READ, Resource.TOPIC, spec.name))
            expected.add(Acl(service, Operation.WRITE, Resource.TOPIC, spec.dlq))
    for m in EVENT_MODELS:
        expected.add(Acl(m.PRODUCER, Operation.WRITE, Resource.TOPIC, m.topic()))
    assert table == expected | ops_console_acls() | archive_acls()
    # only registry topics, only literal names, no wildcard, no cluster right
    names = (
        set(TOPICS) | {s.dlq for s in TOPICS.values()} | set(CONSUMES) | {OPS_CONSOLE_GROUP, ARCHIVE_GROUP}
    )
    assert all(a.name in names and a.resource is not Resource.CLUSTER for a in table)


def test_the_ops_console_reads_dead_letters_and_describes_but_consumes_no_service_group():
    mine = ops_console_acls()
    assert Acl(OPS_CONSOLE, Operation.READ, Resource.TOPIC, "dinamis.scene-ingested.v1.dlq") in mine
    assert Acl(OPS_CONSOLE, Operation.DESCRIBE, Resource.GROUP, "catalog") in mine
    # it never joins (READ) a service's group: that would steal the service's records
    assert {a.name for a in mine if a.resource is Resource.GROUP and a.operation is Operation.READ} == {
        OPS_CONSOLE_GROUP
    }
    # it reads no event topic but the coverage board's scene events
    reads = {a.name for a in mine if a.resource is Resource.TOPIC and a.operation is Operation.READ}
    assert {n for n in reads if not n.endswith(".dlq")} == set(OPS_CONSOLE_READS)


def test_the_forgeries_of_the_review_are_not_granted():
    table = set(acls())
    write = {(a.principal, a.name) for a in table if a.operation is Operation.WRITE}
    assert ("delivery", "dinamis.delivery-requested.v1") not in write
    assert ("notify", "dinamis.user-changed.v1") not in write
    assert {p for p, t in write if t == "dinamis.user-changed.v1"} == {"orders", OPS_CONSOLE}
    assert {p for p, t in write if t == "dinamis.delivery-requested.v1"} == {"orders", OPS_CONSOLE}


def test_s3_identities_have_only_their_buckets():
    ids = {i["name"]: i for i in s3_identities()["identities"]}
    assert ids["admin"]["actions"] == ["Admin", "Read", "List", "Tagging", "Write"]
    assert ids["delivery"]["actions"] == ["Read:archive", "Read:delivery", "Write:delivery", "List:delivery"]
    assert "Write:archive" not in ids["catalog"]["actions"] and "Write:uploads" in ids["catalog"]["actions"]
    assert ids["ingest"]["actions"] == [
        "Read:archive",
        "Write:archive",
        "List:archive",
        "Read:staging",
        "List:staging",
    ]
    assert "orders" not in ids and "notify" not in ids
    assert all(":" in a for name, i in ids.items() if name != "admin" for a in i["actions"])
    assert set(ids) == {"admin", *S3_RIGHTS}
    for i in ids.values():
        assert i["credentials"][0]["secretKey"] == f"dinamis-dev-s3-{i['name']}"
