"""Issue 16: each signed URL `GET /downloads/{product_id}` issues is one
`product-downloaded` event, written to the outbox before the 307; refusals record
nothing; the relay publishes each with its stored id and never loses one. Fakes of our
own ports (records, outbox, publisher); the route is called as FastAPI calls it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from dinamis_delivery.entrypoints.http import download, order_metalink
from dinamis_delivery.service.downloads import DownloadRelay
from dinamis_shared.auth import Principal, Role
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import ProductDownloadedV1

LATER = datetime.now(UTC) + timedelta(days=10)


def record(**changes) -> dict:
    return {
        "_id": "key-1",
        "order_id": "ORD-1",
        "organisation_id": "org-a",
        "item_id": "PHR1A_20260701",
        "collection": "pleiades",
        "status": "ready",
        "bucket": "products",
        "object_key": "org-a/ORD-1/P1.tif",
        "size_bytes": 123456,
        "expires_at": LATER,
        "product_ids": ["P1"],
        **changes,
    }


class Records:
    def __init__(self, *records: dict) -> None:
        self.records = records

    async def by_product_id(self, product_id: str) -> dict | None:
        return next((r for r in self.records if product_id in r["product_ids"]), None)

    async def of_order(self, order_id: str) -> list[dict]:
        return [r for r in self.records if r["order_id"] == order_id]


class Outbox:
    def __init__(self) -> None:
        self.kept: dict[str, ProductDownloadedV1] = {}
        self.n = 0

    async def record(self, event: ProductDownloadedV1) -> str:
        self.n += 1
        self.kept[f"ev-{self.n}"] = event
        return f"ev-{self.n}"

    async def pending(self, limit: int = 500) -> list[tuple[str, ProductDownloadedV1]]:
        return list(self.kept.items())[:limit]

    async def sent(self, event_id: str) -> None:
        del self.kept[event_id]


class Presigner:
    def presigned_get_object(self, bucket: str, key: str, expires: timedelta) -> str:
        return f"https://s3.example/{bucket}/{key}?sig"


class Publisher:
    def __init__(self, fail: int = 0) -> None:
        self.published: list[tuple[str, ProductDownloadedV1]] = []
        self.fail = fail

    async def publish(self, event, *, event_id=None):
        if self.fail:
            self.fail -= 1
            raise ConnectionError("kafka down")
        self.published.append((event_id, event))


def world(*records: dict) -> SimpleNamespace:
    outbox = Outbox()
    delivery = SimpleNamespace(
        settings=SimpleNamespace(download_url_ttl_s=900),
        presigner=Presigner(),
        records=Records(*records),
        downloads=outbox,
        download_relay=DownloadRelay(outbox, Publisher()),  # type: ignore[arg-type]
    )
    return SimpleNamespace(
        request=SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(container=delivery))), outbox=outbox
    )


def member(org: str = "org-a", user: str = "u1", **extra) -> Principal:
    return Principal(user_id=user, organisation_id=org, standing="member", **extra)


async def test_each_signed_url_is_one_download_event():
    w = world(record())
    first = await download("P1", w.request, member())  # type: ignore[arg-type]
    again = await download("P1", w.request, member(user="u2"))  # type: ignore[arg-type]
    assert first.status_code == again.status_code == 307
    assert first.headers["location"] == "https://s3.example/products/org-a/ORD-1/P1.tif?sig"
    events = list(w.outbox.kept.values())
    assert [(e.product_id, e.order_id, e.organisation_id, e.user_id) for e in events] == [
        ("P1", "ORD-1", "org-a", "u1"),
        ("P1", "ORD-1", "org-a", "u2"),
    ]
    assert (events[0].item_id, events[0].collection, events[0].size_bytes) == (
        "PHR1A_20260701",
        "pleiades",
        123456,
    )
    assert abs((events[0].downloaded_at - datetime.now(UTC)).total_seconds()) < 5
    assert w.request.app.state.container.download_relay.wakeup.is_set()


async def test_staff_downloads_count_for_the_ordering_organisation():
    w = world(record())
    operator = Principal(
        user_id="op-1", organisation_id="dinamis", roles=frozenset({Role.OPERATOR}), standing="staff"
    )
    await download("P1", w.request, operator)  # type: ignore[arg-type]
    (event,) = w.outbox.kept.values()
    assert (event.organisation_id, event.user_id) == ("org-a", "op-1")


@pytest.mark.parametrize(
    ("records", "principal", "status"),
    [
        ((), member(), 404),  # unknown product
        ((record(),), member(org="org-b"), 403),  # another organisation's
        ((record(),), member(access_until=datetime.now(UTC) - timedelta(days=1)), 403),  # access ended
        ((record(status="expired"),), member(), 410),
        ((record(expires_at=datetime.now(UTC) - timedelta(minutes=1)),), member(), 410),
        ((record(status="failed", reason="x"),), member(), 409),
    ],
)
async def test_a_refusal_records_nothing(records, principal, status):
    w = world(*records)
    with pytest.raises(DinamisError) as refused:
        await download("P1", w.request, principal)  # type: ignore[arg-type]
    assert refused.value.http_status == status
    assert w.outbox.kept == {}


async def test_a_record_without_size_still_downloads_uncounted():
    w = world(record(size_bytes=None))
    answer = await download("P1", w.request, member())  # type: ignore[arg-type]
    assert answer.status_code == 307 and w.outbox.kept == {}


async def test_the_metalink_counts_nothing():
    w = world(record(sha256="0" * 64))
    answer = await order_metalink("ORD-1", w.request, member())  # type: ignore[arg-type]
    assert answer.status_code == 200 and b"<url>" in answer.body
    assert w.outbox.kept == {}


async def test_the_relay_publishes_each_once_with_its_id_and_loses_none_on_an_outage():
    outbox = Outbox()
    e1 = ProductDownloadedV1(
        product_id="P1",
        order_id="ORD-1",
        organisation_id="org-a",
        user_id="u1",
        item_id="i1",
        size_bytes=10,
        downloaded_at=datetime(2026, 7, 1, tzinfo=UTC),
    )
    await outbox.record(e1)
    await outbox.record(e1.model_copy(update={"user_id": "u2"}))
    publisher = Publisher(fail=1)
    relay = DownloadRelay(outbox, publisher)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await relay.relay_once()
    assert list(outbox.kept) == ["ev-1", "ev-2"]  # nothing lost
    assert await relay.relay_once() == 2
    assert [(i, e.user_id) for i, e in publisher.published] == [("ev-1", "u1"), ("ev-2", "u2")]
    assert outbox.kept == {} and await relay.relay_once() == 0
