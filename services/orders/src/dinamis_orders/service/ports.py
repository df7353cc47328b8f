"""What the use cases need from the world, as small protocols. The adapters (MongoDB,
HTTP) implement them in `adapters/`; the unit tests, with in-memory fakes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from dinamis_orders.domain.acquisition import AcquisitionRequest, Change
from dinamis_orders.domain.quota import Balance, EntryKind
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import Event, SensorFamily


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class Aggregates(Protocol):
    """Versioned aggregates (organisations, users, API keys, product orders): every write
    is a new revision carrying the events it implies (the outbox)."""

    async def get(self, aggregate_id: str) -> dict | None: ...

    async def require(self, aggregate_id: str, what: str = "objet") -> dict: ...

    async def write(
        self,
        aggregate_id: str,
        state: dict,
        *,
        expected_rev: int,
        by: str,
        change: str,
        why: str | None = None,
        events: Sequence[Event] = (),
    ) -> dict: ...

    async def find(
        self, query: dict, *, sort: list | None = None, limit: int = 100, skip: int = 0
    ) -> list[dict]: ...

    async def history(self, aggregate_id: str) -> list[dict]: ...


class RequestStore(Protocol):
    """Acquisition requests, by named queries."""

    async def get(self, request_id: str) -> AcquisitionRequest | None: ...

    async def require(self, request_id: str) -> AcquisitionRequest: ...

    async def save(self, change: Change) -> AcquisitionRequest:
        """Store the change's request as the revision after the one it was read at, with
        its events; ConcurrentUpdate if another writer got there first."""
        ...

    async def pending_over(
        self, bounds: tuple[float, float, float, float], family: SensorFamily
    ) -> list[AcquisitionRequest]:
        """Pending or in-progress requests for `family` whose bounding box meets `bounds`."""
        ...

    async def with_status(self, statuses: Sequence[str], limit: int = 500) -> list[AcquisitionRequest]: ...

    async def listing(
        self, *, organisation_id: str | None, statuses: Sequence[str] | None, limit: int, offset: int
    ) -> list[dict]:
        """Stored states, oldest submission first (for the API's lists)."""
        ...

    async def history(self, request_id: str) -> list[dict]: ...


class Quotas(Protocol):
    """The quota ledger (append-only; `domain/quota.py` holds its rules)."""

    async def balance(self, qid: str) -> Balance: ...

    async def allocate(self, qid: str, km2: float, by: str, reason: str) -> Balance: ...

    async def adjust(self, qid: str, km2: float, by: str, reason: str) -> Balance: ...

    async def reserve(self, qid: str, request_id: str, km2: float, by: str) -> Balance: ...

    async def settle(
        self, qid: str, request_id: str, km2: float, kind: EntryKind, by: str, ref: str | None = None
    ) -> Balance: ...

    async def release_all(self, qid: str, request_id: str, by: str) -> float: ...

    async def ledger_entries(self, qid: str, limit: int) -> list[dict]:
        """The quota's entries, oldest first (kind, km², request, by, reason, at, seq and the
        balance after each)."""
        ...

    async def quota_ids_of(self, organisation_id: str) -> list[str]:
        """The quota ids of an organisation that have at least one entry."""
        ...


class CatalogueUnavailable(DinamisError):
    """The catalogue did not answer (overlap checks say so instead of failing; placing a
    product order answers 503: the caller may try again)."""

    code = "catalogue-unavailable"
    http_status = 503
    permanent = False  # an outage: a consumer would retry it, never dead-letter it

    def __init__(self, detail: str) -> None:
        # The cause (an address, a status) stays in the logs, never in the answer.
        self.detail = detail
        super().__init__(
            "the catalogue is unavailable, try again shortly",
            message_fr="le catalogue est momentanément indisponible, réessayez dans un instant",
        )


class Catalogue(Protocol):
    async def footprints(
        self,
        aoi: dict,
        start: datetime,
        end: datetime,
        *,
        constellation: str,
        max_cloud_cover: float,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Catalogue items (id, geometry) over `aoi` in [start, end]; CatalogueUnavailable."""
        ...

    async def item_exists(self, collection: str, item_id: str) -> bool: ...

    async def item(self, collection: str, item_id: str) -> dict[str, Any] | None:
        """The STAC item, or None when the catalogue does not have it."""
        ...


@dataclass(frozen=True)
class SupplierCancellation:
    """The supplier's answer to a cancellation: `cancelled` (nothing acquired, nothing
    will be; also when no order was ever placed: a later order for it is refused), or
    not, because it is already acquiring (`order_id`, `status` say what it has)."""

    cancelled: bool
    order_id: str | None = None
    status: str | None = None


class Supplier(Protocol):
    async def place_order(self, request: dict) -> str:
        """Place (idempotently, keyed by the request id) an order; return the supplier's order id."""
        ...

    async def cancel_order(self, request_id: str) -> SupplierCancellation:
        """Cancel the order for `request_id` if it is not acquiring yet (idempotent)."""
        ...


class Licences(Protocol):
    """Which organisations obtained each catalogue item (through their requests)."""

    async def record(self, item_id: str, organisation_id: str) -> None: ...

    async def obtained_by(self, item_ids: Sequence[str]) -> dict[str, set[str]]: ...


class DailySlots(Protocol):
    async def take(self, user_id: str, day: str, order_id: str, limit: int) -> bool:
        """Take one of the user's `limit` slots of the day; False when all are taken."""
        ...
