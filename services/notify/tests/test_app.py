"""The notify service's Kafka wiring, driven through FastStream's in-memory test broker
(routing and dead-lettering only: the handler needs MongoDB, see tests/integration)."""

from dinamis_notify.app import create_app
from dinamis_notify.entrypoints.events import CONSUMED
from dinamis_testkit.testing import check_subscriptions


async def test_consumes_its_topics_and_dead_letters_malformed_messages():
    await check_subscriptions(create_app(), set(CONSUMED), handle_examples=False)
