"""Least privilege on the bus and the store (issue 12), against the real stack: Kafka
refuses an unauthenticated client and a wrong password, a service principal can write
only the topics it produces and read only those it consumes; S3 refuses an anonymous
request and a service key outside its buckets, and allows what each service needs;
ingest archives only from the staging bucket; the databases (FerretDB, PostgreSQL)
refuse anonymous clients and wrong passwords."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
import urllib3
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from minio import Minio
from minio.error import S3Error
from pydantic_settings import SettingsConfigDict

from dinamis_shared import clients, cloudevents
from dinamis_shared.acls import S3_RIGHTS
from dinamis_shared.events import (
    DeliveryRequestedV1,
    SceneAcquiredV1,
    SceneIngestedV1,
    SceneRejectedV1,
    UserChangedV1,
)
from dinamis_shared.settings import ServiceSettings
from dinamis_shared.topics import CONSUMES
from dinamis_sim.simulator import SimulatedScene, announce, write_package
from dinamis_testkit.examples import example_events
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher
from tests.ports import free_port

PORT = free_port()
EXAMPLES = {type(e): e for e in example_events()}
http = urllib3.PoolManager(retries=False, timeout=10)


def as_service(settings: ServiceSettings, name: str) -> ServiceSettings:
    """The settings a service gets by default (its own principal, dev password), pointed
    at the test stack."""
    namespace = {
        "__annotations__": {"SERVICE": ClassVar[str]},
        "SERVICE": name,
        "model_config": SettingsConfigDict(env_prefix=f"DINAMIS_{name.upper()}_", extra="ignore"),
    }
    cls = type(f"{name}Settings", (ServiceSettings,), namespace)
    return cls(kafka_bootstrap_servers=settings.kafka_bootstrap_servers, s3_endpoint=settings.s3_endpoint)


@pytest.fixture(autouse=True)
def quiet_aiokafka():
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refused logins are the point
    yield
    logging.getLogger("aiokafka").setLevel(logging.NOTSET)


def record_of(model):
    return cloudevents.encode(EXAMPLES[model], source="/dinamis/forged")


async def produce(settings: ServiceSettings, model, **auth) -> None:
    kwargs = {**settings.kafka_auth(), **auth}
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", request_timeout_ms=10000, **kwargs
    )
    await producer.start()
    try:
        record = record_of(model)
        headers = [(k, v.encode()) for k, v in record.headers.items()]
        await producer.send_and_wait(record.topic, record.value, key=record.key, headers=headers)
    finally:
        await producer.stop()


# --- Kafka: authentication -------------------------------------------------------------


async def test_an_unauthenticated_client_is_refused(settings):
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await producer.start()  # PLAINTEXT on a SASL listener: no metadata, no produce
    await producer.stop()


async def test_a_wrong_password_is_refused(settings):
    for user in ("admin", "orders"):
        with pytest.raises(KafkaConnectionError):
            await produce(settings, UserChangedV1, sasl_plain_username=user, sasl_plain_password="not-it")


# --- Kafka: authorisation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "model"),
    [
        ("notify", UserChangedV1),  # the review's operator-promotion forgery
        ("delivery", DeliveryRequestedV1),  # the review's build-for-a-non-member forgery
        ("catalog", SceneAcquiredV1),  # the review's archive-an-upload forgery
        ("catalog-tiles", SceneIngestedV1),
    ],
)
async def test_a_principal_cannot_produce_a_topic_it_does_not_own(settings, principal, model):
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(as_service(settings, principal), model)


async def test_the_producer_can_produce_and_a_consumer_its_dead_letters(settings):
    await produce(as_service(settings, "orders"), UserChangedV1)
    # notify consumes user-changed: it may dead-letter it, not publish it
    notify = as_service(settings, "notify")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, **notify.kafka_auth())
    await producer.start()
    try:
        await producer.send_and_wait(UserChangedV1.topic() + ".dlq", b"{}", key=b"forged-test")
    finally:
        await producer.stop()


async def _read(settings: ServiceSettings, topic: str, group: str | None) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.kafka_auth(),
    )
    await consumer.start()
    try:
        if group:
            consumer.subscribe([topic])
        else:
            consumer.assign([TopicPartition(topic, 0)])
        await consumer.getmany(timeout_ms=3000)
        await consumer.getmany(timeout_ms=1000)
    finally:
        await consumer.stop()


@pytest.mark.parametrize(
    ("principal", "model"),
    [
        ("catalog", DeliveryRequestedV1),  # no right at all on the topic: not even described
        ("delivery", UserChangedV1),
        ("ingest", SceneIngestedV1),  # it writes scene-ingested (so may describe it), not read it
    ],
)
async def test_a_principal_cannot_read_a_topic_it_does_not_consume(settings, principal, model):
    assert model not in CONSUMES[principal]
    await produce(settings, model)  # there is something to read (as admin)
    service = as_service(settings, principal)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=principal,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **service.kafka_auth(),
    )
    await consumer.start()
    received, refused = 0, False
    try:
        consumer.subscribe([model.topic()])
        for _ in range(4):
            try:
                batch = await consumer.getmany(timeout_ms=1500)
            except TopicAuthorizationFailedError:
                refused = True
                break
            received += sum(len(r) for r in batch.values())
        # aiokafka says "not authorized" in the metadata of a topic the principal may not
        # even describe, and fetches nothing from it
        refused = refused or model.topic() in consumer._client.cluster.unauthorized_topics
    finally:
        await consumer.stop()
    assert received == 0 and refused


async def test_a_consumer_reads_its_topic_in_its_own_group_only(settings):
    catalog = as_service(settings, "catalog")
    await _read(catalog, SceneIngestedV1.topic(), None)  # allowed: no error
    await asyncio.wait_for(_read(catalog, SceneIngestedV1.topic(), "catalog"), 60)
    with pytest.raises(Exception, match=r"GroupAuthorizationFailed|Group authorization failed"):
        await asyncio.wait_for(_read(catalog, SceneIngestedV1.topic(), "orders"), 60)


# --- S3 --------------------------------------------------------------------------------


def s3_as(settings: ServiceSettings, name: str) -> Minio:
    return clients.s3_client(as_service(settings, name), retries=0)


def put(client: Minio, bucket: str, key: str) -> None:
    client.put_object(bucket, key, io.BytesIO(b"x"), 1)


def test_an_anonymous_request_is_refused(settings):
    base = f"http://{settings.s3_endpoint}"
    for bucket in ("staging", "archive", "delivery", "uploads"):
        assert http.request("GET", f"{base}/{bucket}/x").status == 403
        assert http.request("PUT", f"{base}/{bucket}/x", body=b"x").status == 403
        assert http.request("GET", f"{base}/{bucket}?list-type=2").status == 403


@pytest.mark.parametrize(
    ("service", "bucket"),
    [
        ("delivery", "archive"),
        ("catalog", "archive"),
        ("catalog-tiles", "archive"),
        ("catalog", "staging"),
        ("ingest", "staging"),
        ("ingest", "uploads"),
        ("ingest", "delivery"),
        ("supplier-sim", "archive"),
        ("orders", "archive"),
        ("notify", "delivery"),
    ],
)
def test_a_service_key_cannot_write_outside_its_buckets(settings, service, bucket):
    with pytest.raises(S3Error) as err:
        put(s3_as(settings, service), bucket, f"tests/forged-{uuid.uuid4().hex}")
    assert err.value.code in ("AccessDenied", "InvalidAccessKeyId"), err.value.code


@pytest.mark.parametrize(
    ("service", "bucket"),
    [
        ("delivery", "uploads"),
        ("catalog", "delivery"),
        ("supplier-sim", "archive"),
        ("catalog-tiles", "staging"),
    ],
)
def test_a_service_key_cannot_read_outside_its_buckets(settings, service, bucket):
    admin = clients.s3_client(settings)
    key = f"tests/secret-{uuid.uuid4().hex}"
    put(admin, bucket, key)
    try:
        with pytest.raises(S3Error) as err:
            s3_as(settings, service).get_object(bucket, key)
        assert err.value.code == "AccessDenied"
        with pytest.raises(S3Error):
            list(s3_as(settings, service).list_objects(bucket, prefix="tests/"))
    finally:
        admin.remove_object(bucket, key)


def test_each_allowed_action_works(settings):
    admin = clients.s3_client(settings)
    for service, buckets in S3_RIGHTS.items():
        client = s3_as(settings, service)
        for bucket, actions in buckets.items():
            key = f"tests/{service}-{uuid.uuid4().hex}"
            if "Write" in actions:
                put(client, bucket, key)
            else:
                put(admin, bucket, key)
            if "Read" in actions:
                with client.get_object(bucket, key) as r:
                    assert r.read() == b"x"
                assert client.bucket_exists(bucket)  # the services' readiness check
            if "List" in actions:
                assert key in {o.object_name for o in client.list_objects(bucket, prefix="tests/")}
            if "Write" in actions:
                client.remove_object(bucket, key)
            else:
                admin.remove_object(bucket, key)


def test_presigned_urls_carry_the_signers_rights_only(settings):
    """The catalog presigns upload PUTs (allowed) and archive GETs (allowed); a presigned
    PUT into the archive is refused when used."""
    catalog = s3_as(settings, "catalog")
    key = f"tests/upload-{uuid.uuid4().hex}"
    url = catalog.presigned_put_object("uploads", key, expires=timedelta(minutes=5))
    assert http.request("PUT", url, body=b"hello").status == 200
    forged = catalog.presigned_put_object("archive", key, expires=timedelta(minutes=5))
    assert http.request("PUT", forged, body=b"hello").status == 403
    clients.s3_client(settings).remove_object("uploads", key)


# --- ingest archives from staging only -------------------------------------------------


@pytest.fixture(scope="module")
def ingest_service(tmp_path_factory):
    proc = start_service("ingest", PORT, tmp_path_factory.mktemp("ingest-lp"))
    yield proc
    stop_service(proc)


async def test_ingest_refuses_a_delivery_outside_staging(settings, ingest_service, tmp_path: Path):
    """The review's forgery: a `scene-acquired` pointing at a member's upload. Even from a
    principal allowed to announce (here `admin`), ingest dead-letters it with the reason
    and archives nothing."""
    admin = clients.s3_client(settings)
    scene = SimulatedScene(
        mission="SPOT6",
        lon=4.85,
        lat=45.75,
        acquired_at=datetime(2026, 6, 12, 10, 31, 4, tzinfo=UTC),
        size=200,
        job_id=str(uuid.uuid4().int)[:10],
    )
    checksums = write_package(scene, tmp_path / "pkg")
    prefix = f"member-{uuid.uuid4().hex[:6]}/"
    size = 0
    for path in sorted(p for p in (tmp_path / "pkg").rglob("*") if p.is_file()):
        admin.fput_object("uploads", prefix + path.relative_to(tmp_path / "pkg").as_posix(), str(path))
        size += path.stat().st_size
    event = announce(scene, prefix, checksums, size)
    event = event.model_copy(update={"staging": event.staging.model_copy(update={"bucket": "uploads"})})
    record = cloudevents.encode(event, source="/dinamis/forged")
    topics = [SceneIngestedV1.topic(), SceneRejectedV1.topic(), SceneAcquiredV1.topic() + ".dlq"]
    async with EventWatcher(settings.kafka_bootstrap_servers, topics) as w:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth()
        )
        await producer.start()
        try:
            headers = [(k, v.encode()) for k, v in record.headers.items()]
            await producer.send_and_wait(record.topic, record.value, key=record.key, headers=headers)
        finally:
            await producer.stop()
        letters = await w.wait(lambda: w.dead_letters(SceneAcquiredV1.topic(), event.scene_id), 120)
    assert isinstance(letters, list)
    assert letters[0]["dlq_error_code"] == "unsafe-path"
    assert "from the 'staging' bucket only" in letters[0]["dlq_reason"]
    assert not w.events(SceneIngestedV1, event.scene_id)
    rejected = w.events(SceneRejectedV1, event.scene_id)
    assert rejected and rejected[0].reason_code == "unsafe-path"
    assert not [o for o in admin.list_objects("archive", recursive=True) if event.scene_id in o.object_name]
    for o in admin.list_objects("uploads", prefix=prefix, recursive=True):
        admin.remove_object("uploads", o.object_name)


# --- databases --------------------------------------------------------------------


def _without_credentials(url: str) -> str:
    """The same server address with no user, password or auth options."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}/"


async def _mongo_count(url: str) -> int:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient = AsyncMongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        return await client["dinamis"]["organisations"].count_documents({})
    finally:
        await client.close()


async def test_ferretdb_refuses_anonymous_clients_and_wrong_passwords(settings):
    from pymongo.errors import OperationFailure

    assert await _mongo_count(settings.mongo_url) >= 0  # the platform's credentials work
    bare = _without_credentials(settings.mongo_url)
    with pytest.raises(OperationFailure):
        await _mongo_count(bare)
    wrong = bare.replace("://", "://dinamis:not-the-password@") + "?authMethod=PLAIN".replace(
        "Method", "Mechanism"
    )
    with pytest.raises(OperationFailure):
        await _mongo_count(wrong)


async def test_postgresql_refuses_anonymous_clients_and_wrong_passwords(settings):
    from urllib.parse import urlsplit

    import psycopg

    dsn = urlsplit(settings.postgres_dsn.get_secret_value())
    for user, password in (("dinamis", None), ("dinamis", "not-the-password"), ("postgres", None)):
        with pytest.raises(psycopg.OperationalError):
            await psycopg.AsyncConnection.connect(
                host=dsn.hostname,
                port=dsn.port,
                dbname="dinamis",
                user=user,
                password=password,
                connect_timeout=5,
            )
