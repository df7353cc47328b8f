"""The console's pipeline adapters on the real stack (Kafka with its ACLs, FerretDB,
S3, the `dinamis-ingest` service running as its own process): a real dead letter —
a delivery whose staged package misses a file, rejected by ingest — browsed through the
portal's Kafka adapter as the portal's principal, the cause fixed, the dead letter
replayed with its exact bytes and headers, ingested once; the replay claim in MongoDB
refuses a second replay (two at once too); consumer lag read for the services' groups."""

from __future__ import annotations

import asyncio
import json

import pytest

from dinamis_portal.ops.kafka_admin import DLQ_TOPICS, GROUP_TOPICS
from dinamis_portal.ops.pipeline import DeadLetter, MongoReplayClaims, replay_of
from dinamis_shared import clients
from dinamis_shared.events import SceneAcquiredV1, SceneIngestedV1, SceneRejectedV1
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher
from tests.integration.ops_pipeline_support import DLQ, broken_delivery, find_letter, fix, portal_bus
from tests.integration.scenes import publish
from tests.ports import free_port

TOPICS = [SceneIngestedV1.topic(), SceneRejectedV1.topic(), SceneAcquiredV1.topic(), DLQ]


@pytest.fixture(scope="module")
def ingest_service(tmp_path_factory):
    proc = start_service("ingest", free_port(), tmp_path_factory.mktemp("ingest"))
    yield proc
    stop_service(proc)


@pytest.fixture(scope="module")
def s3(settings):
    return clients.s3_client(settings)


@pytest.fixture
async def claims(settings):
    client = clients.mongo_client(settings)
    yield MongoReplayClaims(client[settings.mongo_database])
    await client.close()


async def test_a_real_dead_letter_browsed_fixed_replayed_once(settings, s3, ingest_service, claims, tmp_path):
    bus = portal_bus()
    broken = broken_delivery(s3, tmp_path)
    async with EventWatcher(settings.kafka_bootstrap_servers, TOPICS) as watcher:
        await publish(settings, broken.event)
        await watcher.wait(lambda: watcher.dead_letters(SceneAcquiredV1.topic(), broken.scene_id), 120)

        # browsed through the portal's adapter, as the portal's principal
        record = await find_letter(bus, broken.scene_id)
        assert record is not None, "the dead letter is listed"
        letter = DeadLetter(record)
        assert (letter.code, letter.group) == ("missing-file", "ingest")
        assert letter.event_type == SceneAcquiredV1.ce_type() and letter.subject == broken.scene_id
        assert letter.original.startswith(SceneAcquiredV1.topic() + ":") and letter.failed_at
        assert json.loads(record.value)["scene_id"] == broken.scene_id
        again = await bus.read(record.topic, record.partition, record.offset)
        assert again == record
        assert await bus.read(record.topic, record.partition, 10**12) is None
        assert (await bus.dlq_sizes())[DLQ] >= 1

        # the cause fixed, replayed once: the exact bytes and the original headers
        fix(s3, broken)
        ref = record.ref
        assert await claims.claim(ref, 0, False, "op-1") == 1
        topic, key, value, headers = replay_of(letter, "ops@dinamis.test")
        partition, offset = await bus.publish(topic, key, value, headers)
        (ingested,) = await watcher.wait(lambda: watcher.events(SceneIngestedV1, broken.scene_id), 180)
        assert ingested.scene_id == broken.scene_id
        replayed = [
            (h, v)
            for t, h, k, v in watcher.records
            if t == SceneAcquiredV1.topic() and k == broken.scene_id.encode()
        ]
        assert len(replayed) == 2 and replayed[1][1] == record.value, "the same bytes"
        names = dict(replayed[1][0])
        assert names["dinamis_replay_of"] in (
            f"{ref} by ops@dinamis.test",
            f"{ref} by ops@dinamis.test".encode(),
        )
        assert not [n for n in names if n.startswith("dlq_")]
        assert names["ce_id"] == dict(replayed[0][0])["ce_id"]

        # a second replay is refused by the claim; two operators at once: one wins
        assert await claims.claim(ref, 0, False, "op-2") is None
        both = await asyncio.gather(claims.claim(ref, 1, True, "op-1"), claims.claim(ref, 1, True, "op-2"))
        assert sorted(both, key=str) == [2, None]
        assert (await claims.counts([ref, "nothing:0:0"])) == {ref: 2}
        await claims.release(ref, 2)
        assert (await claims.counts([ref]))[ref] == 1

        await asyncio.sleep(3)  # nothing more comes: processed once
        assert len(watcher.events(SceneIngestedV1, broken.scene_id)) == 1
        assert len(watcher.dead_letters(SceneAcquiredV1.topic(), broken.scene_id)) == 1
    assert (partition, offset) >= (0, 0)


async def test_lag_of_the_services_groups_is_read_without_joining_them(settings, s3, ingest_service):
    bus = portal_bus()
    lags = await bus.lags()
    assert {(lag.group, lag.topic) for lag in lags} == set(GROUP_TOPICS)
    ingest = next(lag for lag in lags if lag.group == "ingest")
    assert ingest.partitions >= 1 and ingest.end >= 1
    assert ingest.committed is not None and ingest.lag >= 0, "ingest consumed: it committed offsets"
    assert all(lag.lag >= 0 for lag in lags)
    sizes = await bus.dlq_sizes()
    assert set(sizes) == set(DLQ_TOPICS)
