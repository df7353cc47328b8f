"""The catalog service's Kafka wiring, driven through FastStream's in-memory test broker."""

from dinamis_catalog.app import create_app
from dinamis_shared.events import SceneIngestedV1
from dinamis_testkit.testing import check_subscriptions


async def test_consumes_its_topics_and_dead_letters_malformed_messages():
    # Indexing itself needs PostgreSQL: see tests/integration/test_catalog.py.
    await check_subscriptions(create_app(), {SceneIngestedV1}, handle_examples=False)
