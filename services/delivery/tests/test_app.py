"""The delivery service's wiring: it consumes `delivery-requested` with its own
backpressured consumer (not FastStream's), serves its routes, and subscribes to
nothing else."""

from dinamis_delivery.app import DeliverySettings, create_app
from dinamis_delivery.entrypoints.events import GROUP, TOPIC
from dinamis_shared.events import DeliveryRequestedV1
from dinamis_testkit.testing import subscribed_topics


def test_wiring():
    app = create_app(DeliverySettings())
    assert subscribed_topics(app) == set(), "no FastStream subscriber: the request consumer is its own"
    assert TOPIC.name == DeliveryRequestedV1.topic() and GROUP == "delivery"
    paths = set(app.openapi()["paths"])
    assert {
        "/downloads/{product_id}",
        "/orders/{order_id}/products",
        "/orders/{order_id}/products.meta4",
    } <= paths


def test_pool_size_follows_the_cores(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    assert DeliverySettings().worker_count == 6
    assert DeliverySettings(workers=2).worker_count == 2
