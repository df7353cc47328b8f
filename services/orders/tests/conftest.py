"""In-memory fakes of the orders service's ports, and a unit of work built on them
(cosmicpython's FakeUnitOfWork): the use cases run here without any server."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dinamis_orders.adapters.aggregates import AlreadyExists, ConcurrentUpdate, NotFound
from dinamis_orders.domain.acquisition import PENDING, AcquisitionRequest, Change, RequestDraft
from dinamis_orders.domain.organisations import Application, NewInvitation
from dinamis_orders.domain.quota import Balance, EntryKind, QuotaError
from dinamis_orders.service import entitlements, membership
from dinamis_orders.service.context import Orders
from dinamis_orders.service.ports import CatalogueUnavailable, SupplierCancellation
from dinamis_orders.settings import OrdersSettings
from dinamis_shared.auth import Identity, Principal, Role
from dinamis_shared.events import Event, SensorFamily

# Drafts are validated against the wall clock (a tasking window must end in the future):
# the fake clock starts from it, and tests move it from there.
T0 = datetime.now(UTC).replace(microsecond=0)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.current = now

    def __call__(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def _matches(state: dict, query: dict) -> bool:
    for key, want in query.items():
        have: Any = state
        for part in key.split("."):  # MongoDB's dotted paths into sub-documents
            have = have.get(part) if isinstance(have, dict) else None
        if isinstance(want, dict) and "$in" in want:
            if have not in want["$in"]:
                return False
        elif have != want:
            return False
    return True


class FakeAggregates:
    """Versioned states with their history and the events each write carried."""

    def __init__(self) -> None:
        self.states: dict[str, dict] = {}
        self.revisions: dict[str, list[dict]] = defaultdict(list)
        self.events: list[Event] = []
        self.conflicts = 0  # writes to refuse with ConcurrentUpdate (a concurrent writer)

    async def get(self, aggregate_id: str) -> dict | None:
        state = self.states.get(aggregate_id)
        return copy.deepcopy(state) if state else None

    async def require(self, aggregate_id: str, what: str = "objet") -> dict:
        state = await self.get(aggregate_id)
        if state is None:
            raise NotFound(f"{aggregate_id!r} not found")
        return state

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
    ) -> dict:
        current = self.states.get(aggregate_id)
        rev = current["rev"] if current else 0
        if rev != expected_rev or (self.conflicts and expected_rev):
            if expected_rev == 0:
                raise AlreadyExists(f"{aggregate_id!r} already exists")
            self.conflicts = max(0, self.conflicts - 1)
            raise ConcurrentUpdate(f"{aggregate_id!r} changed meanwhile")
        clean = copy.deepcopy({k: v for k, v in state.items() if k != "rev"})
        self.states[aggregate_id] = {**clean, "rev": rev + 1}
        self.revisions[aggregate_id].append(
            {"rev": rev + 1, "by": by, "change": change, "why": why, "events": [e.ce_type() for e in events]}
        )
        self.events.extend(events)
        return {**clean, "rev": rev + 1}

    async def find(
        self, query: dict, *, sort: list | None = None, limit: int = 100, skip: int = 0
    ) -> list[dict]:
        found = [copy.deepcopy(s) for s in self.states.values() if _matches(s, query)]
        for key, direction in reversed(sort or []):
            found.sort(key=lambda s: s.get(key) or "", reverse=direction < 0)
        return found[skip : skip + limit]

    async def history(self, aggregate_id: str) -> list[dict]:
        return list(self.revisions[aggregate_id])


class FakeRequests:
    def __init__(self) -> None:
        self.store = FakeAggregates()

    @property
    def events(self) -> list[Event]:
        return self.store.events

    async def get(self, request_id: str) -> AcquisitionRequest | None:
        state = await self.store.get(request_id)
        return AcquisitionRequest.from_state(state) if state else None

    async def require(self, request_id: str) -> AcquisitionRequest:
        return AcquisitionRequest.from_state(await self.store.require(request_id))

    async def save(self, change: Change) -> AcquisitionRequest:
        r = change.request
        saved = await self.store.write(
            r.request_id,
            r.state(),
            expected_rev=r.rev,
            by=change.by,
            change=change.change,
            why=change.why,
            events=change.events,
        )
        return r.model_copy(update={"rev": saved["rev"]})

    async def pending_over(
        self, bounds: tuple[float, float, float, float], family: SensorFamily
    ) -> list[AcquisitionRequest]:
        minx, miny, maxx, maxy = bounds
        return [
            AcquisitionRequest.from_state(s)
            for s in self.store.states.values()
            if s["status"] in {p.value for p in PENDING}
            and s["sensor_family"] == family.value
            and s["bbox"][0] <= maxx
            and s["bbox"][2] >= minx
            and s["bbox"][1] <= maxy
            and s["bbox"][3] >= miny
        ]

    async def with_status(self, statuses: Sequence[str], limit: int = 500) -> list[AcquisitionRequest]:
        found = await self.store.find({"status": {"$in": list(statuses)}}, limit=limit)
        return [AcquisitionRequest.from_state(s) for s in found]

    async def listing(
        self, *, organisation_id: str | None, statuses: Sequence[str] | None, limit: int, offset: int
    ) -> list[dict]:
        query: dict = {} if organisation_id is None else {"organisation_id": organisation_id}
        if statuses is not None:
            query["status"] = {"$in": list(statuses)}
        return await self.store.find(query, sort=[("submitted_at", 1)], limit=limit, skip=offset)

    async def history(self, request_id: str) -> list[dict]:
        return await self.store.history(request_id)


class FakeQuotas:
    """The ledger's rules (`Balance.apply`) over in-memory balances."""

    def __init__(self) -> None:
        self.balances: dict[str, Balance] = defaultdict(Balance)
        self.entries: list[tuple[str, EntryKind, float, str | None]] = []

    async def balance(self, qid: str) -> Balance:
        return copy.deepcopy(self.balances[qid])

    async def _apply(
        self, qid: str, kind: EntryKind, km2: float, request_id: str | None = None, ref: str | None = None
    ) -> Balance:
        balance = copy.deepcopy(self.balances[qid])
        balance.apply(kind, km2, request_id, ref)
        self.balances[qid] = balance
        self.entries.append((qid, kind, km2, request_id))
        return copy.deepcopy(balance)

    async def allocate(self, qid: str, km2: float, by: str, reason: str) -> Balance:
        return await self._apply(qid, EntryKind.ALLOCATE, km2)

    async def adjust(self, qid: str, km2: float, by: str, reason: str) -> Balance:
        return await self._apply(qid, EntryKind.ADJUST, km2)

    async def reserve(self, qid: str, request_id: str, km2: float, by: str) -> Balance:
        return await self._apply(qid, EntryKind.RESERVE, km2, request_id)

    async def settle(
        self, qid: str, request_id: str, km2: float, kind: EntryKind, by: str, ref: str | None = None
    ) -> Balance:
        return await self._apply(qid, kind, km2, request_id, ref)

    async def release_all(self, qid: str, request_id: str, by: str) -> float:
        held = self.balances[qid].reservations.get(request_id, 0.0)
        if held <= 0:
            return 0.0
        try:
            await self._apply(qid, EntryKind.RELEASE, held, request_id)
        except QuotaError:
            return 0.0
        return held

    async def ledger_entries(self, qid: str, limit: int) -> list[dict]:
        mine = [e for e in self.entries if e[0] == qid][:limit]
        return [
            {"seq": n, "kind": kind.value, "km2": km2, "request_id": rid, "by": None, "reason": None}
            for n, (_, kind, km2, rid) in enumerate(mine, start=1)
        ]

    async def quota_ids_of(self, organisation_id: str) -> list[str]:
        return sorted({e[0] for e in self.entries if e[0].startswith(organisation_id + "|")})


class FakeCatalogue:
    def __init__(self) -> None:
        self.features: list[dict[str, Any]] = []
        self.items: set[tuple[str, str]] = set()
        self.documents: dict[tuple[str, str], dict[str, Any]] = {}
        self.unavailable = False
        self.searches: list[dict[str, Any]] = []

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
        self.searches.append({"start": start, "end": end, "constellation": constellation})
        if self.unavailable:
            raise CatalogueUnavailable("connection refused")
        return self.features[:limit]

    async def item_exists(self, collection: str, item_id: str) -> bool:
        return (collection, item_id) in self.items

    async def item(self, collection: str, item_id: str) -> dict[str, Any] | None:
        """The item as stored in `documents`, else (listed in `items`) a Pléiades Neo
        ortho over Clermont-Ferrand with a PAN and a 6-band MS image, in Lambert-93."""
        if (collection, item_id) in self.documents:
            return copy.deepcopy(self.documents[(collection, item_id)])
        if (collection, item_id) not in self.items:
            return None
        ms = [
            {"name": n, "eo:common_name": c}
            for n, c in [
                ("B0", "blue"),
                ("B1", "green"),
                ("B2", "red"),
                ("B3", "nir"),
                ("B4", "rededge"),
                ("B5", "coastal"),
            ]
        ]
        return {
            "id": item_id,
            "collection": collection,
            "geometry": square(3.05, 45.75, 0.09, 0.05),
            "properties": {"proj:code": "EPSG:2154"},
            "assets": {
                "pan": {"roles": ["data"], "bands": [{"name": "P", "eo:common_name": "pan"}]},
                "ms": {"roles": ["data"], "bands": ms},
            },
        }


class FakeSupplier:
    """Orders placed, and cancelled while not `acquiring` (the ids in that set)."""

    def __init__(self) -> None:
        self.orders: dict[str, dict] = {}
        self.cancelled: set[str] = set()
        self.acquiring: set[str] = set()
        self.down = False

    async def place_order(self, request: dict) -> str:
        if self.down:
            raise ConnectionError("supplier unreachable")
        if request["request_id"] in self.cancelled:
            raise ValueError("order cancelled")
        self.orders[request["request_id"]] = request
        return f"SIM-{request['request_id']}"

    async def cancel_order(self, request_id: str) -> SupplierCancellation:
        if self.down:
            raise ConnectionError("supplier unreachable")
        if request_id in self.acquiring:
            return SupplierCancellation(False, f"SIM-{request_id}", "acquiring")
        self.cancelled.add(request_id)
        return SupplierCancellation(True, f"SIM-{request_id}", "cancelled")


class FakeLicences:
    def __init__(self) -> None:
        self.obtained: dict[str, set[str]] = defaultdict(set)

    async def record(self, item_id: str, organisation_id: str) -> None:
        self.obtained[item_id].add(organisation_id)

    async def obtained_by(self, item_ids: Sequence[str]) -> dict[str, set[str]]:
        return {i: set(self.obtained.get(i, set())) for i in item_ids}


class FakeDailySlots:
    def __init__(self) -> None:
        self.taken: dict[tuple[str, str], list[str]] = defaultdict(list)

    async def take(self, user_id: str, day: str, order_id: str, limit: int) -> bool:
        slots = self.taken[(user_id, day)]
        if order_id in slots:
            return True
        if len(slots) >= limit:
            return False
        slots.append(order_id)
        return True


class FakeOrders(Orders):
    """The unit of work on fakes, with handles on them for the tests."""

    requests: FakeRequests
    ledger: FakeQuotas
    catalogue: FakeCatalogue
    licences: FakeLicences

    @classmethod
    def build(cls, *, supplier: FakeSupplier | None = None, **settings: Any) -> FakeOrders:
        return cls(
            settings=OrdersSettings(**settings),
            organisations=FakeAggregates(),
            users=FakeAggregates(),
            api_keys=FakeAggregates(),
            invitations=FakeAggregates(),
            requests=FakeRequests(),
            product_orders=FakeAggregates(),
            ledger=FakeQuotas(),
            licences=FakeLicences(),
            daily_slots=FakeDailySlots(),
            catalogue=FakeCatalogue(),
            supplier=supplier,
            clock=FakeClock(),
        )

    @property
    def fake_clock(self) -> FakeClock:
        assert isinstance(self.clock, FakeClock)
        return self.clock

    async def member_org(
        self, org: str = "org-labo", user: str = "usr-author", category: str = "french-research", **extra: Any
    ) -> Principal:
        """An approved organisation; returns its referent (who submits requests), as the
        records now entitle them."""
        applicant = await entitlements.resolve(self, Identity(sub=user))
        application = Application(
            organisation_id=org,
            name=f"Labo {org}",
            category=category,
            legal_representative={"name": "Jeanne Martin", "email": "d@labo.example.fr", "title": "Dir"},
            accept_charter="charte-dinamis-2024",
            accept_licence="licence-produits-dinamis-2024",
            referent_email="referent@labo.example.fr",
            referent_name="Paul Referent",
            **extra,
        )
        await membership.apply(self, applicant, application)
        await membership.decide(self, OPERATOR, org, True, None, None)
        return await entitlements.resolve(self, Identity(sub=user))

    async def join(
        self, inviter: Principal, org: str, sub: str, roles: Sequence[Role] = (Role.MEMBER,)
    ) -> Principal:
        """`inviter` invites `sub` into `org`, who accepts with their own token."""
        invitation = await membership.invite(
            self,
            inviter,
            org,
            NewInvitation(email="m@labo.example.fr", display_name="Marie", roles=list(roles)),
        )
        invitee = await entitlements.resolve(self, Identity(sub=sub, email="m@labo.example.fr"))
        await membership.accept_invitation(self, invitee, invitation["invitation_id"])
        return await entitlements.resolve(self, Identity(sub=sub))

    async def contractor_org(
        self,
        body_referent: Principal,
        org: str,
        user: str,
        start: datetime,
        end: datetime,
        *,
        confirm: bool = True,
    ) -> Principal:
        """An approved contractor organisation working for `body_referent`'s organisation
        from `start` to `end`, its delegation confirmed by that referent (unless not
        `confirm`); returns its referent, as the records now entitle them."""
        body = body_referent.organisation_id
        assert body is not None
        applicant = await entitlements.resolve(self, Identity(sub=user))
        application = Application(
            organisation_id=org,
            name=f"Bureau {org}",
            category="contractor",
            legal_representative={"name": "Jeanne Martin", "email": "d@bet.example.fr", "title": "Dir"},
            accept_charter="charte-dinamis-2024",
            accept_licence="licence-produits-dinamis-2024",
            referent_email="referent@bet.example.fr",
            referent_name="Paul Referent",
            commissioning_organisation_id=body,
            contract_start=start,
            contract_end=end,
        )
        await membership.apply(self, applicant, application)
        if confirm:
            await membership.decide_delegation(self, body_referent, body, org, confirm=True)
        await membership.decide(self, OPERATOR, org, True, None, None)
        return await entitlements.resolve(self, Identity(sub=user))


OPERATOR = Principal(user_id="op-paul", organisation_id="dinamis", roles=frozenset({Role.OPERATOR}))


def square(lon: float, lat: float, w: float, h: float | None = None) -> dict:
    h = w if h is None else h
    ring = [[lon, lat], [lon + w, lat], [lon + w, lat + h], [lon, lat + h], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def draft(
    aoi: dict | None = None,
    *,
    kind: str = "tasking",
    start: datetime | None = None,
    days: int = 60,
    **extra: Any,
) -> RequestDraft:
    start = start or datetime.now(UTC) + timedelta(days=1)
    return RequestDraft.model_validate(
        {
            "kind": kind,
            "sensor_family": "pleiades-neo",
            "aoi": aoi or square(3.05, 45.75, 0.09, 0.05),
            "window": {"start": start.isoformat(), "end": (start + timedelta(days=days)).isoformat()},
            "title": "Suivi des haies",
            "justification": "Cartographie des haies pour le projet ANR BOCAGE.",
            **extra,
        }
    )


@pytest.fixture
def orders() -> FakeOrders:
    return FakeOrders.build()


@pytest.fixture
def supplied() -> FakeOrders:
    return FakeOrders.build(supplier=FakeSupplier())


@pytest.fixture
def make_draft():
    return draft


@pytest.fixture
def make_square():
    return square


@pytest.fixture
def operator() -> Principal:
    return OPERATOR
