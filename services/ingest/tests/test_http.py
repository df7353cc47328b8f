"""The supplier push endpoint's checks (no broker: the publisher is replaced)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from dinamis_ingest.app import IngestSettings, create_app
from dinamis_ingest.entrypoints.http import MAX_BODY
from dinamis_shared.cloudevents import encode
from dinamis_shared.events import SceneAcquiredV1
from dinamis_shared.signing import signature
from dinamis_testkit.examples import example_events

SECRET = "s3cr3t"
EVENT = next(e for e in example_events() if isinstance(e, SceneAcquiredV1))
URL = "/v1/suppliers/airbus/deliveries"


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list = []
        self.fail = fail

    async def publish(self, event, **_):
        if self.fail:
            raise ConnectionError("kafka down")
        self.sent.append(event)
        return encode(event, source="/test")


@pytest.fixture
def client():
    app = create_app(IngestSettings(supplier_secrets={"airbus": SecretStr(SECRET)}))
    app.state.container.publisher = Recorder()
    return TestClient(app)  # no `with`: the lifespan (Kafka) is not started


def post(client, body: bytes, ts: str | None = None, sig: str | None = None, url: str = URL):
    ts = ts or str(int(time.time()))
    return client.post(
        url,
        content=body,
        headers={"X-Dinamis-Timestamp": ts, "X-Dinamis-Signature": sig or signature(SECRET, ts, body)},
    )


def test_signed_event_is_published(client):
    r = post(client, EVENT.model_dump_json().encode())
    assert r.status_code == 202 and r.json()["scene_id"] == EVENT.scene_id
    assert client.app.state.container.publisher.sent == [EVENT]


@pytest.mark.parametrize("skew", [-301, 301])
def test_old_or_future_timestamps_are_refused(client, skew):
    r = post(client, EVENT.model_dump_json().encode(), ts=str(int(time.time()) + skew))
    assert r.status_code == 401 and r.json()["code"] == "stale-request"


def test_non_ascii_signature_is_a_401_not_a_crash(client):
    body = EVENT.model_dump_json().encode()
    r = client.post(
        URL,
        content=body,
        headers={
            "X-Dinamis-Timestamp": str(int(time.time())),
            "X-Dinamis-Signature": "sha256=é".encode(),
        },
    )
    assert r.status_code == 401


def test_oversized_body_is_refused_before_reading(client):
    assert post(client, b"x" * (MAX_BODY + 1)).status_code == 413


def test_unauthenticated_request_gets_no_error_detail_about_the_body(client):
    r = client.post(URL, content=b"{}")
    assert r.status_code == 401 and "Fournisseur inconnu" in r.json()["detail"]


def test_a_supplier_cannot_announce_another_suppliers_staging(client):
    foreign = EVENT.model_copy(update={"staging": EVENT.staging.model_copy(update={"prefix": "maxar/x/"})})
    r = post(client, foreign.model_dump_json().encode())
    assert r.status_code == 403 and r.json()["code"] == "foreign-staging"


def test_bus_down_is_a_503_with_retry_after(client):
    client.app.state.container.publisher = Recorder(fail=True)
    r = post(client, EVENT.model_dump_json().encode())
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"
