"""Did this service issue an event? The answer consumers ask for before acting on one
(`dinamis_shared.provenance`), from the outbox kept in each aggregate's revisions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import ValidationError

from dinamis_shared.topics import BY_CE_TYPE


class EmittedEvents(Protocol):
    async def emitted(self, aggregate_id: str, event_id: str) -> dict | None: ...


class AnyOf:
    """Several stores answering for one aggregate field: an `organisation_id` event was
    emitted by the organisation's revisions (`organisation-changed`) or by one of its
    quota ledgers (`quota-changed`)."""

    def __init__(self, *stores: EmittedEvents) -> None:
        self.stores = stores

    async def emitted(self, aggregate_id: str, event_id: str) -> dict | None:
        for store in self.stores:
            if (entry := await store.emitted(aggregate_id, event_id)) is not None:
                return entry
        return None


async def was_issued(
    stores: Mapping[str, EmittedEvents], event_id: str, ce_type: str, data: dict[str, Any]
) -> bool:
    """True when an aggregate of this service emitted event `event_id` of type `ce_type`
    with exactly this data. `stores` maps an event's aggregate field (`AGGREGATE`:
    `order_id`, `user_id`...) to the store of that aggregate."""
    model = BY_CE_TYPE.get(ce_type)
    if model is None or model.AGGREGATE not in stores:
        return False
    aggregate_id = data.get(model.AGGREGATE)
    if not isinstance(aggregate_id, str):
        return False
    entry = await stores[model.AGGREGATE].emitted(aggregate_id, event_id)
    if entry is None or entry.get("type") != ce_type:
        return False
    try:  # compared as the event model reads them (field order, number and date formats)
        claimed = model.model_validate(data).model_dump(mode="json")
        stored = model.model_validate_json(entry["payload"]).model_dump(mode="json")
    except ValidationError:
        return False
    return claimed == stored
