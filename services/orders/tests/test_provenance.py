"""`was_issued`: does orders' outbox hold this event (same id, type and data)? With a
fake of our own `EmittedEvents` port."""

from __future__ import annotations

from datetime import UTC, datetime

from dinamis_orders.service.provenance import was_issued
from dinamis_shared.events import DeliveryRequestedV1, UserChangedV1

EVENT = UserChangedV1(
    user_id="usr-1",
    revision=3,
    organisation_id="org-1",
    email="marie@labo.example.fr",
    display_name="Marie",
    roles=["member"],
    active=True,
    changed_by="ref-1",
    changed_at=datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC),
)


class Outbox:
    """Events by (aggregate id, event id), as the relay recorded them."""

    def __init__(self, *entries: tuple[str, str, UserChangedV1]) -> None:
        self.entries = {
            (agg, eid): {"id": eid, "type": e.ce_type(), "payload": e.model_dump_json()}
            for agg, eid, e in entries
        }

    async def emitted(self, aggregate_id: str, event_id: str) -> dict | None:
        return self.entries.get((aggregate_id, event_id))


STORES = {"user_id": Outbox(("usr-1", "ev-1", EVENT))}


async def test_the_event_as_emitted_is_issued_whatever_the_json_spelling() -> None:
    data = EVENT.model_dump(mode="json")
    assert await was_issued(STORES, "ev-1", EVENT.ce_type(), data)
    # Same values, another spelling of the date: the model reads both the same.
    respelled = {**data, "changed_at": "2026-11-01T12:00:00.123456+00:00"}
    assert await was_issued(STORES, "ev-1", EVENT.ce_type(), respelled)


async def test_anything_else_is_not() -> None:
    data = EVENT.model_dump(mode="json")
    cases = [
        ("ev-2", EVENT.ce_type(), data),  # another id
        ("ev-1", EVENT.ce_type(), {**data, "revision": 999999}),
        ("ev-1", EVENT.ce_type(), {**data, "email": "attaquant@exemple.com"}),
        ("ev-1", EVENT.ce_type(), {**data, "extra": 1}),  # the model forbids extra fields
        ("ev-1", EVENT.ce_type(), {**data, "user_id": "usr-2"}),  # another aggregate
        ("ev-1", EVENT.ce_type(), {**data, "user_id": 1}),
        ("ev-1", DeliveryRequestedV1.ce_type(), data),  # another type: another store, no order_id
        ("ev-1", "dinamis.unknown.v1", data),
        ("ev-1", "dinamis.scene-ingested.v1", data),  # not an orders event: no store for it
    ]
    for event_id, ce_type, body in cases:
        assert not await was_issued(STORES, event_id, ce_type, body), (event_id, ce_type, body)
