"""Acquisition requests in MongoDB: the aggregate store's revisions, and named queries
over its view (the bounding-box overlap, statuses, listings)."""

from __future__ import annotations

from collections.abc import Sequence

from dinamis_orders.adapters.aggregates import AggregateStore
from dinamis_orders.domain.acquisition import PENDING, AcquisitionRequest, Change
from dinamis_shared.events import SensorFamily


class MongoRequests:
    def __init__(self, store: AggregateStore) -> None:
        self.store = store

    async def get(self, request_id: str) -> AcquisitionRequest | None:
        state = await self.store.get(request_id)
        return AcquisitionRequest.from_state(state) if state else None

    async def require(self, request_id: str) -> AcquisitionRequest:
        return AcquisitionRequest.from_state(await self.store.require(request_id, "demande"))

    async def save(self, change: Change) -> AcquisitionRequest:
        request = change.request
        saved = await self.store.write(
            request.request_id,
            request.state(),
            expected_rev=request.rev,
            by=change.by,
            change=change.change,
            why=change.why,
            events=change.events,
        )
        return request.model_copy(update={"rev": saved["rev"]})

    async def pending_over(
        self, bounds: tuple[float, float, float, float], family: SensorFamily
    ) -> list[AcquisitionRequest]:
        minx, miny, maxx, maxy = bounds
        query = {
            "status": {"$in": [s.value for s in PENDING]},
            "sensor_family": family.value,
            "bbox.0": {"$lte": maxx},
            "bbox.2": {"$gte": minx},
            "bbox.1": {"$lte": maxy},
            "bbox.3": {"$gte": miny},
        }
        return [AcquisitionRequest.from_state(s) for s in await self.store.find(query, limit=500)]

    async def with_status(self, statuses: Sequence[str], limit: int = 500) -> list[AcquisitionRequest]:
        query = {"status": {"$in": list(statuses)}}
        return [AcquisitionRequest.from_state(s) for s in await self.store.find(query, limit=limit)]

    async def listing(
        self, *, organisation_id: str | None, statuses: Sequence[str] | None, limit: int, offset: int
    ) -> list[dict]:
        query: dict = {} if organisation_id is None else {"organisation_id": organisation_id}
        if statuses is not None:
            query["status"] = statuses[0] if len(statuses) == 1 else {"$in": list(statuses)}
        return await self.store.find(query, sort=[("submitted_at", 1)], limit=limit, skip=offset)

    async def history(self, request_id: str) -> list[dict]:
        return await self.store.history(request_id)
