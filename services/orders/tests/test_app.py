"""The orders service's Kafka wiring, driven through FastStream's in-memory test broker
(handlers need MongoDB: only routing and dead-lettering are checked here; the handlers
run against the real stack in tests/integration/test_orders*.py)."""

from dinamis_orders.app import create_app
from dinamis_shared.events import (
    ProductFailedV1,
    ProductReadyV1,
    RequestApprovedV1,
    SceneIngestedV1,
    SceneRejectedV1,
)
from dinamis_testkit.testing import check_subscriptions


async def test_consumes_its_topics_and_dead_letters_malformed_messages():
    await check_subscriptions(
        create_app(),
        {ProductFailedV1, ProductReadyV1, RequestApprovedV1, SceneIngestedV1, SceneRejectedV1},
        handle_examples=False,
    )
