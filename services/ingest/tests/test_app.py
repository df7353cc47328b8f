"""The ingest service's Kafka wiring, driven through FastStream's in-memory test broker."""

from dinamis_ingest.app import create_app
from dinamis_shared.events import SceneAcquiredV1
from dinamis_testkit.testing import check_subscriptions


async def test_consumes_its_topics_and_dead_letters_malformed_messages():
    # The pipeline itself needs the real object store: see tests/integration/test_ingest.py.
    await check_subscriptions(create_app(), {SceneAcquiredV1}, handle_examples=False)
