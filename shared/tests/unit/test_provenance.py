"""Consumers confirm orders' events with orders (`dinamis_shared.provenance`), without
servers: the identity provider and the orders service are httpx mock transports (our
own ports); the consume policy's dead letters are recorded by a fake writer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import ConsumerRecord

from dinamis_shared import cloudevents
from dinamis_shared.bus import ConsumePolicy, Outcome, dead_letter_headers
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.events import SceneAcquiredV1, StagingLocation, UserChangedV1
from dinamis_shared.provenance import (
    VERIFY_PATH,
    IssuedEvents,
    NotIssued,
    ServiceTokens,
    Unavailable,
    issued_events_from_settings,
)
from dinamis_shared.settings import ServiceSettings

TOKEN_URL = "https://idp.example.fr/token"
ORDERS = "https://orders.example.fr"
USER_CHANGED = UserChangedV1(
    user_id="usr-1",
    revision=3,
    organisation_id="org-1",
    email="marie@labo.example.fr",
    display_name="Marie",
    roles=["member"],
    active=True,
    changed_by="ref-1",
    changed_at=datetime(2026, 11, 1, tzinfo=UTC),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class IdentityProvider:
    """Issues tokens `t1`, `t2`... to `service-delivery` / `s3cret`, valid 300 s."""

    def __init__(self) -> None:
        self.issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url == TOKEN_URL
        assert request.headers["authorization"] == httpx.BasicAuth("service-delivery", "s3cret")._auth_header
        assert b"grant_type=client_credentials" in request.content
        self.issued += 1
        return httpx.Response(200, json={"access_token": f"t{self.issued}", "expires_in": 300})


class Orders:
    """Knows the events in `issued` (id -> (type, data)); answers 401 to tokens in `stale`."""

    def __init__(self, issued: Mapping[str, tuple[str, dict]], status: int | None = None) -> None:
        self.issued, self.status = dict(issued), status
        self.stale: set[str] = set()
        self.calls: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url == ORDERS + VERIFY_PATH
        body = json.loads(request.content)
        self.calls.append({"auth": request.headers["authorization"], **body})
        if self.status is not None:
            return httpx.Response(self.status)
        if request.headers["authorization"].removeprefix("Bearer ") in self.stale:
            return httpx.Response(401)
        if self.issued.get(body["id"]) == (body["type"], body["data"]):
            return httpx.Response(200, json={"issued": True, "id": body["id"]})
        return httpx.Response(404, json={"code": "not-issued"})


def checker(orders: Orders, idp: IdentityProvider | None = None, clock: Clock | None = None) -> IssuedEvents:
    tokens = ServiceTokens(
        TOKEN_URL,
        "service-delivery",
        "s3cret",
        client=httpx.AsyncClient(transport=httpx.MockTransport(idp or IdentityProvider())),
        clock=clock or Clock(),
    )
    return IssuedEvents(ORDERS, tokens, client=httpx.AsyncClient(transport=httpx.MockTransport(orders)))


def envelope(event=USER_CHANGED, event_id: str = "ev-1") -> Envelope:
    return Envelope(
        event=event,
        id=event_id,
        source="/dinamis/orders",
        type=event.ce_type(),
        time=None,
        subject=None,
        traceparent=None,
    )


def issued(env: Envelope) -> dict[str, tuple[str, dict]]:
    return {env.id: (env.type, env.event.model_dump(mode="json"))}


async def test_an_issued_event_is_confirmed_once_then_cached() -> None:
    real = envelope()
    orders = Orders(issued(real))
    check = checker(orders)
    await check.confirm(real)
    await check.confirm(real)
    assert len(orders.calls) == 1 and orders.calls[0]["auth"] == "Bearer t1"
    # The cache holds what was confirmed, not the id: the same id with other data is asked
    # about again, and refused.
    with pytest.raises(NotIssued):
        await check.confirm(envelope(USER_CHANGED.model_copy(update={"revision": 999999})))
    assert len(orders.calls) == 2


@pytest.mark.parametrize(
    "forged",
    [
        envelope(USER_CHANGED.model_copy(update={"revision": 999999})),
        envelope(USER_CHANGED.model_copy(update={"email": "attaquant@exemple.com"})),
        envelope(event_id="ev-2"),
    ],
)
async def test_anything_else_is_not_issued(forged: Envelope) -> None:
    check = checker(Orders(issued(envelope())))
    with pytest.raises(NotIssued) as refused:
        await check.confirm(forged)
    assert refused.value.code == "not-issued" and refused.value.permanent


async def test_events_of_other_producers_are_not_asked_about() -> None:
    orders = Orders({})
    acquired = SceneAcquiredV1(
        scene_id="PNEO4-20260612-0001",
        supplier="airbus",
        mission="PNEO4",
        supplier_product_id="5881313101",
        staging=StagingLocation(bucket="staging", prefix="airbus/PNEO4-20260612-0001/"),
        checksums={"IMG.TIF": "ab" * 32},
        announced_size_bytes=1024,
        delivered_at=datetime(2026, 6, 12, tzinfo=UTC),
    )
    await checker(orders).confirm(envelope(acquired))
    assert orders.calls == []


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_an_orders_outage_is_retried_not_dead_lettered(status: int) -> None:
    with pytest.raises(Unavailable) as failed:
        await checker(Orders({}, status=status)).confirm(envelope())
    assert not failed.value.permanent


async def test_the_token_is_reused_until_it_nearly_expires_and_renewed_when_refused() -> None:
    real, later = envelope(), envelope(event_id="ev-2")
    orders = Orders({**issued(real), **issued(later)})
    idp, clock = IdentityProvider(), Clock()
    check = checker(orders, idp, clock)
    await check.confirm(real)
    clock.now += 300 - 30  # within the 30 s margin: a new token
    await check.confirm(later)
    assert [c["auth"] for c in orders.calls] == ["Bearer t1", "Bearer t2"]
    # Orders refuses the current token (keys rotated): one new token, one more try.
    orders.stale.add("t2")
    check._confirmed.clear()
    await check.confirm(real)
    assert [c["auth"] for c in orders.calls][-2:] == ["Bearer t2", "Bearer t3"] and idp.issued == 3


def test_no_checker_where_nothing_comes_from_orders_or_for_orders_itself(monkeypatch) -> None:
    monkeypatch.setenv("DINAMIS_AUTH_TOKEN_URL", TOKEN_URL)
    settings = ServiceSettings(environment="development")
    assert issued_events_from_settings(settings, [SceneAcquiredV1]) is None
    assert isinstance(issued_events_from_settings(settings, [UserChangedV1]), IssuedEvents)
    off = ServiceSettings(environment="development", verify_event_issuer=False)
    assert issued_events_from_settings(off, [UserChangedV1]) is None


# --- through the consume policy ----------------------------------------------------


class FakeDeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[ConsumerRecord, BaseException]] = []

    async def write(self, record: ConsumerRecord, error: BaseException) -> Mapping[str, str]:
        self.letters.append((record, error))
        return dead_letter_headers(record, error, "unit")


def record_of(event_id: str, event=USER_CHANGED) -> ConsumerRecord:
    wire = cloudevents.encode(event, source="/dinamis/orders", event_id=event_id)
    return ConsumerRecord(
        topic=UserChangedV1.topic(),
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=wire.key,
        value=wire.value,
        checksum=None,
        serialized_key_size=len(wire.key),
        serialized_value_size=len(wire.value),
        headers=[(k, v.encode()) for k, v in wire.headers.items()],
    )


async def test_the_policy_dead_letters_a_forged_event_without_calling_the_handler() -> None:
    real = envelope()
    handled: list[Envelope] = []

    async def handler(env: Envelope) -> None:
        handled.append(env)

    dlq = FakeDeadLetters()
    policy = ConsumePolicy("unit", {UserChangedV1: handler}, dlq, issued=checker(Orders(issued(real))))
    forged = USER_CHANGED.model_copy(update={"revision": 999999})
    verdict = await policy.handle(record_of("ev-1", forged))
    assert verdict.outcome is Outcome.DEAD_LETTERED and handled == []
    assert isinstance(dlq.letters[0][1], NotIssued)
    verdict = await policy.handle(record_of("ev-1"))
    assert verdict.outcome is Outcome.HANDLED and handled[0].event == USER_CHANGED
