"""Activity simulator: years of DINAMIS activity at real volumes, as the services' events.

    dinamis activity simulate                                  # 2022-2026, ~450 organisations
    dinamis activity simulate --years 2025-2026 --organisations 120 --publish
    dinamis activity simulate --years 2026 --organisations 60 --out activity.jsonl

What it makes (deterministic for a given `--seed`, `--years`, `--organisations`):
- organisations of the five categories (public bodies and research the most, contractors
  with a commissioning public body and a delegation period, a few private R&D and
  international research), seated in real departments (`dinamis_shared.departments`,
  weighted towards the populous ones; international research: seat abroad); applied,
  approved or refused, renewed, suspended, expired (`organisation-changed`);
- their users, counted only: synthetic `user-<n>@<organisation>.example`, never a real
  name or address (`user-changed`);
- quota allocations each period (Pléiades and Pléiades Neo quarterly, SPOT 6/7 yearly)
  and every ledger movement: reserve on approval, consume on acquisition, release at the
  close (`quota-changed`, with the balance after it);
- acquisition requests (archive and tasking, Pléiades / Pléiades Neo / SPOT 6/7) over AOIs
  inside real French departments (IGN Admin Express outlines, data/), reviewed, approved
  (on quota, with co-financing when the quota falls short), rejected with a reason or
  cancelled; every transition as `request-updated`, with `covered_share` as scenes come;
- the scenes of the approved requests (`scene-acquired` then `scene-ingested` with a
  real-looking STAC item incl. `eo:cloud_cover`, a few `scene-rejected` and redelivered);
- the yearly SPOT 6/7 coverage of metropolitan France (~240 cells a year, campaign
  `france-<year>`, April to September), a few deliveries rejected and cloudy cells
  re-tasked;
- product orders on the archive (`delivery-requested`), products built or failed
  (`product-ready`, `product-failed`) and downloaded (`product-downloaded`).

Every event is a contract model (validated when built), keyed by its aggregate, with
`ce_time` = its simulated time and an id derived from the seed and the event's place in
its aggregate's history: a re-run publishes the same ids, so the archive (idempotent by
id) does not grow. The CloudEvents source is `/dinamis/sim/<producer>`, so simulated
events are never mistaken for a service's own.

The simulator publishes the events directly: it stands for the services' own output at
volumes the services cannot be driven to in a test or a demo."""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, TextIO

import shapely
from shapely.geometry import box, shape
from shapely.prepared import prep

from dinamis_shared import cloudevents
from dinamis_shared.departments import DEPARTMENTS
from dinamis_shared.events import (
    AcquisitionWindow,
    ContractorDelegation,
    DeliveryRequestedV1,
    Event,
    GeoJSONGeometry,
    OrganisationCategory,
    OrganisationChangedV1,
    OrganisationStatus,
    ProductDownloadedV1,
    ProductFailedV1,
    ProductFailureReason,
    ProductReadyV1,
    ProductSpec,
    QuotaChangedV1,
    QuotaMovement,
    RejectionReason,
    RequestApprovedV1,
    RequestKind,
    RequestRejectedV1,
    RequestStatus,
    RequestSubmittedV1,
    RequestUpdatedV1,
    SceneAcquiredV1,
    SceneIngestedV1,
    SceneRejectedV1,
    StagingLocation,
    UserChangedV1,
)
from dinamis_shared.missions import Mission, SensorFamily, mission_info
from dinamis_shared.stac import EXTENSIONS
from dinamis_sim.coverage import coverage_cells

SOURCE_PREFIX = "/dinamis/sim/"
ID_NAMESPACE = uuid.UUID("6f0c3f5e-2b1d-4c8a-9d57-0d1a5e7c2b11")
STAC_VERSION = "1.1.0"

# Shares of the organisations by category (DINAMIS: public bodies and research the most).
CATEGORY_SHARES: dict[OrganisationCategory, float] = {
    OrganisationCategory.FRENCH_PUBLIC: 0.44,
    OrganisationCategory.FRENCH_RESEARCH: 0.30,
    OrganisationCategory.CONTRACTOR: 0.15,
    OrganisationCategory.FRENCH_PRIVATE_RD: 0.07,
    OrganisationCategory.INTERNATIONAL_RESEARCH: 0.04,
}
# Mean users, requests a year and orders a year per organisation, by category.
USERS_MEAN = {"french-public": 5.0, "french-research": 8.0, "contractor": 3.0, "french-private-rd": 3.0}
REQUESTS_A_YEAR = {"french-public": 1.3, "french-research": 1.8, "contractor": 1.5, "french-private-rd": 1.0}
ORDERS_A_YEAR = {"french-public": 5.0, "french-research": 8.0, "contractor": 4.0, "french-private-rd": 3.0}
DEFAULT_RATE_KEY = "french-private-rd"  # international research: like private R&D
# Quota allocated per period (km²): Pléiades and Pléiades Neo a quarter, SPOT 6/7 a year.
QUOTA_KM2: dict[SensorFamily, dict[str, float]] = {
    SensorFamily.PLEIADES: {"french-public": 300, "french-research": 500, "contractor": 200},
    SensorFamily.PLEIADES_NEO: {"french-public": 120, "french-research": 200, "contractor": 80},
    SensorFamily.SPOT: {"french-public": 3000, "french-research": 4000, "contractor": 2000},
}
QUOTA_OTHER = {SensorFamily.PLEIADES: 150.0, SensorFamily.PLEIADES_NEO: 60.0, SensorFamily.SPOT: 1500.0}
FAMILY_SHARES = {SensorFamily.PLEIADES: 0.45, SensorFamily.PLEIADES_NEO: 0.2, SensorFamily.SPOT: 0.35}
FAMILY_MISSIONS = {
    SensorFamily.PLEIADES: (Mission.PHR1A, Mission.PHR1B),
    SensorFamily.PLEIADES_NEO: (Mission.PNEO3, Mission.PNEO4),
    SensorFamily.SPOT: (Mission.SPOT6, Mission.SPOT7),
}
# Departments weighted by population (roughly): the seats of organisations are there.
DEPARTMENT_WEIGHTS = {
    "75": 12, "69": 7, "13": 7, "31": 6, "33": 5, "34": 5, "35": 4, "44": 4, "59": 5, "67": 4,
    "38": 4, "06": 3, "92": 4, "94": 2, "91": 3, "78": 2, "63": 2, "21": 2, "54": 2, "29": 2,
    "76": 2, "45": 2, "37": 2, "86": 2, "87": 1.5, "25": 1.5, "49": 1.5, "30": 1.5, "64": 1.5,
}  # fmt: skip
REFUSAL_REASONS = (
    "Organisme hors du périmètre des bénéficiaires / organisation outside the eligible scope",
    "Pièces justificatives incomplètes / incomplete supporting documents",
)
REJECTION_REASONS = (
    "Emprise hors du territoire couvert / AOI outside the covered territory",
    "Besoin couvert par l'archive existante / already covered by the existing archive",
    "Usage commercial non éligible / commercial use not eligible",
    "Demande en doublon / duplicate request",
    "Fenêtre d'acquisition irréalisable / acquisition window not feasible",
)
STAFF = tuple(f"staff-{n}" for n in range(1, 5))


@dataclass(frozen=True)
class SimRecord:
    """One event as it goes on the bus (CloudEvents binary mode), with its simulated time."""

    time: datetime
    topic: str
    key: str
    headers: dict[str, str]
    value: bytes

    def as_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "key": self.key, "headers": self.headers, "value": self.value.decode()}


@dataclass
class Org:
    id: str
    n: int
    category: OrganisationCategory
    department: str | None
    applied_at: datetime
    active: list[tuple[datetime, datetime]] = field(default_factory=list)  # active intervals
    revision: int = 0
    users: list[tuple[str, datetime, datetime | None]] = field(default_factory=list)  # id, from, until
    scenes: list[tuple[datetime, str, str, float]] = field(default_factory=list)  # ingested, item, coll, lon

    @property
    def rate_key(self) -> str:
        return self.category.value if self.category.value in USERS_MEAN else DEFAULT_RATE_KEY

    def is_active(self, when: datetime) -> bool:
        return any(a <= when < b for a, b in self.active)

    def users_at(self, when: datetime) -> list[str]:
        return [u for u, a, b in self.users if a <= when and (b is None or when < b)]


@dataclass
class Ledger:
    seq: int = 0
    allocated: float = 0.0
    reserved: float = 0.0
    consumed: float = 0.0


@dataclass(frozen=True)
class Scene:
    scene_id: str
    item_id: str
    collection: str
    ingested_at: datetime
    footprint: GeoJSONGeometry
    size_bytes: int


def _apply(ledger: Ledger, movement: QuotaMovement, km2: float) -> None:
    if movement is QuotaMovement.ALLOCATE:
        ledger.allocated += km2
    elif movement is QuotaMovement.RESERVE:
        ledger.reserved += km2
    elif movement is QuotaMovement.CONSUME:
        ledger.reserved = max(0.0, ledger.reserved - km2)
        ledger.consumed += km2
    elif movement is QuotaMovement.RELEASE:
        ledger.reserved = max(0.0, ledger.reserved - km2)
    ledger.seq += 1


@cache
def _departments() -> dict[str, tuple[shapely.Geometry, Any]]:
    doc = json.loads(
        resources.files("dinamis_sim.data").joinpath("departements-version-simplifiee.geojson").read_text()
    )
    out = {}
    for feature in doc["features"]:
        geom = shape(feature["geometry"])
        out[feature["properties"]["code"]] = (geom, prep(geom))
    return out


def metropolitan_departments() -> list[str]:
    """The departments the simulator seats organisations in and draws AOIs over (those
    with an outline in data/: metropolitan France)."""
    return sorted(code for code in _departments() if code in DEPARTMENTS)


def parse_years(text: str) -> tuple[int, ...]:
    """`2022-2026`, `2025,2026` or `2026`."""
    years: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        a, b = int(lo), int(hi or lo)
        if not 2000 <= a <= b <= 2100:
            raise ValueError(f"bad years {part!r}")
        years.update(range(a, b + 1))
    if not years or max(years) - min(years) + 1 != len(years):
        raise ValueError("years must be consecutive")
    return tuple(sorted(years))


def _ring(lon: float, lat: float, half_km: float, half_km_y: float | None = None) -> list[list[float]]:
    dy = (half_km_y if half_km_y is not None else half_km) / 111.32
    dx = half_km / (111.32 * math.cos(math.radians(lat)))
    x0, y0, x1, y1 = round(lon - dx, 6), round(lat - dy, 6), round(lon + dx, 6), round(lat + dy, 6)
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def _square(lon: float, lat: float, side_km: float) -> GeoJSONGeometry:
    return GeoJSONGeometry(type="Polygon", coordinates=[_ring(lon, lat, side_km / 2)])


class ActivitySimulator:
    def __init__(
        self, years: Iterable[int] = range(2022, 2027), organisations: int = 450, seed: int = 1
    ) -> None:
        self.years = tuple(sorted(years))
        if not self.years:
            raise ValueError("no year to simulate")
        if organisations < 1:
            raise ValueError("at least one organisation")
        self.n_orgs = organisations
        self.seed = seed
        self.rng = random.Random(seed)
        self.start = datetime(self.years[0], 1, 1, tzinfo=UTC)
        self.end = datetime(self.years[-1] + 1, 1, 1, tzinfo=UTC)
        self.tag = f"sim{seed}"
        # Ids differ between runs of other years or sizes (same seed, other content).
        self._run = f"{seed}|{self.years[0]}-{self.years[-1]}|{organisations}"
        self._events: list[tuple[datetime, int, str, Event]] = []
        self._per_aggregate: dict[tuple[str, str], int] = defaultdict(int)
        self.orgs: list[Org] = []
        self.ledgers: dict[tuple[str, SensorFamily, str], Ledger] = {}
        self.scenes: list[Scene] = []
        self.coverage: dict[int, list[Scene]] = defaultdict(list)
        self._n: dict[str, int] = defaultdict(int)
        self._by_item: dict[str, Scene] = {}
        self._moves: list[tuple] = []
        weights = [DEPARTMENT_WEIGHTS.get(code, 0.6) for code in metropolitan_departments()]
        self._dept_codes = metropolitan_departments()
        self._dept_weights = weights

    # --- helpers ---------------------------------------------------------------------

    def _next(self, kind: str) -> int:
        self._n[kind] += 1
        return self._n[kind]

    def _emit(self, when: datetime, event: Event) -> None:
        """Record an event at its simulated time, with an id derived from the run (seed,
        years, size), the topic, the aggregate and the event's rank in its history."""
        agg = (event.topic(), event.key())
        self._per_aggregate[agg] += 1
        event_id = str(uuid.uuid5(ID_NAMESPACE, f"{self._run}|{agg[0]}|{agg[1]}|{self._per_aggregate[agg]}"))
        self._events.append((when, len(self._events), event_id, event))

    def _between(self, a: datetime, b: datetime) -> datetime:
        if b <= a:
            return a
        return (a + (b - a) * self.rng.random()).replace(microsecond=0)

    def _office(self, when: datetime) -> datetime:
        """During office hours (UTC, roughly 8 h to 18 h in Paris): the same day, or the
        next one when that would be earlier than `when` (time never goes back)."""
        out = when.replace(
            hour=self.rng.randint(7, 16), minute=self.rng.randint(0, 59), second=0, microsecond=0
        )
        return out if out >= when else out + timedelta(days=1)

    def _days(self, lo: float, hi: float) -> timedelta:
        return timedelta(days=self.rng.uniform(lo, hi))

    def _poisson(self, lam: float) -> int:
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def _sha(self, what: str) -> str:
        return hashlib.sha256(f"{self.seed}|{what}".encode()).hexdigest()

    def _pick_department(self) -> str:
        return self.rng.choices(self._dept_codes, self._dept_weights)[0]

    def _point_in(self, department: str) -> tuple[float, float]:
        geom, prepared = _departments()[department]
        x0, y0, x1, y1 = geom.bounds
        for _ in range(200):
            lon, lat = self.rng.uniform(x0, x1), self.rng.uniform(y0, y1)
            if prepared.contains(shapely.Point(lon, lat)):
                return round(lon, 5), round(lat, 5)
        c = geom.representative_point()
        return round(c.x, 5), round(c.y, 5)

    def _aoi(self, department: str, area_km2: float) -> tuple[GeoJSONGeometry, float]:
        """A square AOI inside the department (shrunk until it fits: a small department
        gets a smaller AOI than asked)."""
        _, prepared = _departments()[department]
        side = math.sqrt(area_km2)
        while True:
            for _ in range(10):
                lon, lat = self._point_in(department)
                ring = _ring(lon, lat, side / 2)
                if prepared.contains(box(ring[0][0], ring[0][1], ring[2][0], ring[2][1])):
                    return GeoJSONGeometry(type="Polygon", coordinates=[ring]), round(side * side, 2)
            side *= 0.7  # terminates: a small enough square around an inner point fits

    # --- the simulation ----------------------------------------------------------------

    def run(self) -> list[SimRecord]:
        """Simulate; the records in time order (ties: the order they were made in)."""
        if not self._events:
            self._organisations()
            self._quotas_and_requests()
            self._coverages()
            self._orders()
            self._ledgers()
        out = []
        for when, _, event_id, event in sorted(self._events, key=lambda e: (e[0], e[1])):
            if when >= self.end:
                continue
            record = cloudevents.encode(
                event,
                source=SOURCE_PREFIX + event.PRODUCER,
                event_id=event_id,
                time=when,
                traceparent=f"00-{event_id.replace('-', '')}-{self._sha(event_id)[:16]}-01",
            )
            out.append(SimRecord(when, record.topic, record.key.decode(), record.headers, record.value))
        return out

    def _organisations(self) -> None:
        categories = list(CATEGORY_SHARES)
        shares = list(CATEGORY_SHARES.values())
        n = self.n_orgs
        # Every category present (the working group's breakdowns), then by share.
        cats = categories[: min(n, len(categories))]
        cats += self.rng.choices(categories, shares, k=n - len(cats))
        self.rng.shuffle(cats)
        span = self.end - self.start
        public: list[Org] = []
        for k, category in enumerate(cats, start=1):
            # 40 % were members when the history starts (they re-apply in its first
            # quarter), the others join over the years, more in the early ones.
            if self.rng.random() < 0.4:
                applied = self._between(self.start, self.start + timedelta(days=80))
            else:
                applied = self.start + span * (self.rng.random() ** 1.3)
            dept = (
                None if category is OrganisationCategory.INTERNATIONAL_RESEARCH else self._pick_department()
            )
            org = Org(f"{self.tag}-org-{k:04d}", k, category, dept, self._office(applied))
            self.orgs.append(org)
            if category is OrganisationCategory.FRENCH_PUBLIC:
                public.append(org)
        for org in sorted(self.orgs, key=lambda o: o.applied_at):
            self._organisation_life(org, public)

    def _org_event(self, org: Org, when: datetime, status: OrganisationStatus, **kw: Any) -> None:
        org.revision += 1
        self._emit(
            when,
            OrganisationChangedV1(
                organisation_id=org.id,
                revision=org.revision,
                name=f"Organisation simulée {org.n:04d}",
                category=org.category,
                status=status,
                department=org.department,
                changed_at=when,
                **kw,
            ),
        )

    def _organisation_life(self, org: Org, public: list[Org]) -> None:
        applicant = f"{self.tag}-user-{self._next('user'):05d}"
        self._org_event(org, org.applied_at, OrganisationStatus.PENDING, changed_by=applicant)
        decided = self._office(org.applied_at + self._days(1, 21))
        staff = self.rng.choice(STAFF)
        if self.rng.random() < 0.06:
            self._org_event(
                org,
                decided,
                OrganisationStatus.REFUSED,
                changed_by=staff,
                reason=self.rng.choice(REFUSAL_REASONS),
            )
            return
        contractor = org.category is OrganisationCategory.CONTRACTOR
        commissioner = [o for o in public if o.applied_at < org.applied_at] or public
        start = decided
        # A membership lasts 3 years; a contractor's, its delegation (1 to 3 years).
        while start < self.end:
            if contractor and commissioner:
                until = start + self._days(365, 3 * 365)
                delegation = ContractorDelegation(
                    commissioning_organisation_id=self.rng.choice(commissioner).id, start=start, end=until
                )
            else:
                until, delegation = start + timedelta(days=3 * 365), None
            self._org_event(
                org,
                start,
                OrganisationStatus.ACTIVE,
                changed_by=staff,
                valid_until=until,
                delegation=delegation,
            )
            self._org_users(org, start, until)
            end = until
            # A few are suspended (half of them reinstated a few weeks later).
            if self.rng.random() < 0.05:
                suspended = self._office(self._between(start + timedelta(days=30), until))
                if suspended < self.end:
                    self._org_event(
                        org,
                        suspended,
                        OrganisationStatus.SUSPENDED,
                        changed_by=self.rng.choice(STAFF),
                        valid_until=until,
                        delegation=delegation,
                        reason="Usage non conforme à la licence signalé / licence breach reported",
                    )
                    org.active.append((start, suspended))
                    if self.rng.random() < 0.5:
                        return
                    start = self._office(suspended + self._days(14, 60))
                    continue
            org.active.append((start, end))
            if end >= self.end:
                return
            if self.rng.random() < 0.7:  # renewed
                start = end
                continue
            self._org_event(
                org,
                end,
                OrganisationStatus.EXPIRED,
                changed_by="system",
                valid_until=end,
                delegation=delegation,
            )
            return

    def _org_users(self, org: Org, start: datetime, end: datetime) -> None:
        """Users, counted only: synthetic ids and `user-<n>@<organisation>.example`."""
        if org.users:
            return
        mean = USERS_MEAN.get(org.rate_key, 3.0)
        count = 1 + self._poisson(mean - 1)
        for k in range(count):
            n = self._next("user")
            uid = f"{self.tag}-user-{n:05d}"
            added = start if k == 0 else self._office(self._between(start, min(end, self.end)))
            roles: list[Any] = ["referent", "member"] if k == 0 else ["member"]
            until = None
            base: dict[str, Any] = dict(
                user_id=uid,
                organisation_id=org.id,
                email=f"user-{n}@{org.id}.example",
                display_name=f"Utilisateur {n}",
                language="fr" if org.category is not OrganisationCategory.INTERNATIONAL_RESEARCH else "en",
                roles=roles,
            )
            self._emit(
                added, UserChangedV1(revision=1, active=True, changed_by=uid, changed_at=added, **base)
            )
            if k > 0 and self.rng.random() < 0.12:
                until = self._office(self._between(added, min(end, self.end)))
                self._emit(
                    until,
                    UserChangedV1(
                        revision=2, active=False, changed_by=org.users[0][0], changed_at=until, **base
                    ),
                )
            org.users.append((uid, added, until))

    # --- quotas and acquisition requests -------------------------------------------------

    def _periods(self) -> list[tuple[SensorFamily, str, datetime]]:
        out = []
        for year in self.years:
            out.append((SensorFamily.SPOT, str(year), datetime(year, 1, 1, tzinfo=UTC)))
            for q in range(4):
                start = datetime(year, 3 * q + 1, 1, tzinfo=UTC)
                out.append((SensorFamily.PLEIADES, f"{year}-Q{q + 1}", start))
                out.append((SensorFamily.PLEIADES_NEO, f"{year}-Q{q + 1}", start))
        return out

    @staticmethod
    def _period_of(family: SensorFamily, when: datetime) -> str:
        if family is SensorFamily.SPOT:
            return str(when.year)
        return f"{when.year}-Q{(when.month - 1) // 3 + 1}"

    def _quota(
        self,
        org: Org,
        family: SensorFamily,
        period: str,
        when: datetime,
        movement: QuotaMovement,
        km2: float,
        request_id: str | None = None,
        by: str = "system",
    ) -> None:
        """A ledger movement: applied to the planning ledger now (what the reviewer sees
        when deciding), emitted by `_ledgers` in time order with the balance after it."""
        ledger = self.ledgers.setdefault((org.id, family, period), Ledger())
        km2 = round(km2, 3)
        _apply(ledger, movement, km2)
        self._moves.append((when, len(self._moves), org.id, family, period, movement, km2, request_id, by))

    def _ledgers(self) -> None:
        ledgers: dict[tuple[str, SensorFamily, str], Ledger] = {}
        for when, _, org_id, family, period, movement, km2, request_id, by in sorted(
            self._moves, key=lambda m: (m[0], m[1])
        ):
            ledger = ledgers.setdefault((org_id, family, period), Ledger())
            _apply(ledger, movement, km2)
            self._emit(
                when,
                QuotaChangedV1(
                    organisation_id=org_id,
                    sensor_family=family,
                    period=period,
                    seq=ledger.seq,
                    movement=movement,
                    km2=km2,
                    allocated_km2=round(ledger.allocated, 3),
                    reserved_km2=round(ledger.reserved, 3),
                    consumed_km2=round(ledger.consumed, 3),
                    request_id=request_id,
                    changed_by=by,
                    changed_at=when,
                ),
            )

    def _allocate(self, org: Org, family: SensorFamily, period: str, when: datetime) -> None:
        if (org.id, family, period) in self.ledgers:
            return
        km2 = QUOTA_KM2[family].get(org.category.value, QUOTA_OTHER[family])
        self._quota(org, family, period, when, QuotaMovement.ALLOCATE, km2, by="system")

    def _quotas_and_requests(self) -> None:
        for family, period, start in self._periods():
            for org in self.orgs:
                if org.is_active(start):
                    self._allocate(org, family, period, start)
        for org in self.orgs:
            for year in self.years:
                lam = REQUESTS_A_YEAR.get(org.rate_key, 1.0)
                for _ in range(self._poisson(lam)):
                    when = self._office(
                        self._between(datetime(year, 1, 1, tzinfo=UTC), datetime(year, 12, 31, tzinfo=UTC))
                    )
                    users = org.users_at(when)
                    if org.is_active(when) and users:
                        self._request(org, self.rng.choice(users), when)

    def _update(
        self,
        org: Org,
        rid: str,
        by_user: str,
        when: datetime,
        status: RequestStatus,
        previous: RequestStatus | None,
        changed_by: str,
        reason: str | None = None,
        covered: float | None = None,
    ) -> None:
        self._emit(
            when,
            RequestUpdatedV1(
                request_id=rid,
                organisation_id=org.id,
                submitted_by=by_user,
                status=status,
                previous_status=previous,
                changed_by=changed_by,
                changed_at=when,
                reason=reason,
                covered_share=covered,
            ),
        )

    def _request(self, org: Org, user: str, submitted: datetime) -> None:
        rng = self.rng
        families = list(FAMILY_SHARES)
        family = rng.choices(families, list(FAMILY_SHARES.values()))[0]
        kind = RequestKind.TASKING if rng.random() < 0.4 else RequestKind.ARCHIVE
        dept = org.department if org.department and rng.random() < 0.75 else self._pick_department()
        if family is SensorFamily.SPOT:
            wanted = min(5000.0, rng.lognormvariate(math.log(800), 0.7))
        else:
            wanted = min(1500.0, rng.lognormvariate(math.log(90 if kind is RequestKind.ARCHIVE else 60), 0.8))
        aoi, area = self._aoi(dept, max(4.0, wanted))
        rid = f"{self.tag}-req-{self._next('request'):05d}"
        if kind is RequestKind.ARCHIVE:
            window = AcquisitionWindow(start=submitted - self._days(365, 4 * 365), end=submitted)
        else:
            begin = submitted + self._days(7, 30)
            window = AcquisitionWindow(start=begin, end=begin + self._days(60, 180))
        self._emit(
            submitted,
            RequestSubmittedV1(
                request_id=rid,
                organisation_id=org.id,
                submitted_by=user,
                kind=kind,
                sensor_family=family,
                aoi=aoi,
                area_km2=area,
                window=window,
                submitted_at=submitted,
            ),
        )
        self._update(org, rid, user, submitted, RequestStatus.SUBMITTED, None, user)
        staff = rng.choice(STAFF)
        review = self._office(submitted + self._days(0.2, 3))
        self._update(org, rid, user, review, RequestStatus.UNDER_REVIEW, RequestStatus.SUBMITTED, staff)
        decided = self._office(review + self._days(1, 20))
        roll = rng.random()
        if roll < 0.04:
            self._update(
                org, rid, user, decided, RequestStatus.CANCELLED, RequestStatus.UNDER_REVIEW, user,
                reason="Annulée par le demandeur / cancelled by the requester",
            )  # fmt: skip
            return
        if roll < 0.16:
            reason = rng.choice(REJECTION_REASONS)
            self._emit(
                decided,
                RequestRejectedV1(
                    request_id=rid,
                    organisation_id=org.id,
                    rejected_by=staff,
                    reason=reason,
                    rejected_at=decided,
                ),
            )
            self._update(
                org, rid, user, decided, RequestStatus.REJECTED, RequestStatus.UNDER_REVIEW, staff, reason
            )
            return
        period = self._period_of(family, decided)
        self._allocate(org, family, period, decided)
        ledger = self.ledgers[(org.id, family, period)]
        available = max(0.0, ledger.allocated - ledger.reserved - ledger.consumed)
        previous = RequestStatus.UNDER_REVIEW
        cofinanced = 0.0
        if area > available:
            # Quota short: co-financing asked; most find it, the others give up.
            self._update(org, rid, user, decided, RequestStatus.NEEDS_COFINANCING, previous, staff)
            previous = RequestStatus.NEEDS_COFINANCING
            decided = self._office(decided + self._days(5, 30))
            if rng.random() < 0.3:
                self._update(
                    org, rid, user, decided, RequestStatus.CANCELLED, previous, user,
                    reason="Co-financement non obtenu / co-financing not found",
                )  # fmt: skip
                return
            cofinanced = round(area - available, 2)
        reserved = round(area - cofinanced, 2)
        self._emit(
            decided,
            RequestApprovedV1(
                request_id=rid,
                organisation_id=org.id,
                approved_by=staff,
                kind=kind,
                sensor_family=family,
                aoi=aoi,
                area_km2=area,
                quota_period=period,
                reserved_km2=reserved,
                cofinanced_km2=cofinanced,
                window=window,
                approved_at=decided,
            ),
        )
        if reserved > 0:
            self._quota(org, family, period, decided, QuotaMovement.RESERVE, reserved, rid, staff)
        self._update(org, rid, user, decided, RequestStatus.APPROVED, previous, staff)
        self._acquire(org, rid, user, kind, family, aoi, area, reserved, period, window, decided)

    def _acquire(
        self,
        org: Org,
        rid: str,
        user: str,
        kind: RequestKind,
        family: SensorFamily,
        aoi: GeoJSONGeometry,
        area: float,
        reserved: float,
        period: str,
        window: AcquisitionWindow,
        approved: datetime,
    ) -> None:
        rng = self.rng
        ring = aoi.coordinates[0]
        lon = (ring[0][0] + ring[2][0]) / 2
        lat = (ring[0][1] + ring[2][1]) / 2
        swath_km = mission_info(FAMILY_MISSIONS[family][0]).swath_m / 1000
        if kind is RequestKind.ARCHIVE:
            n = 1 + min(3, int(area / (swath_km * swath_km * 0.8)))
            complete = rng.random() < 0.92
            deliveries = sorted(approved + self._days(0.5, 10) for _ in range(n))
            acquired = [self._between(window.start, window.end) for _ in range(n)]
        else:
            # Tasked from the approval on (the window may have opened meanwhile).
            first = max(window.start, approved + timedelta(days=1))
            if rng.random() < 0.12 or first >= window.end:  # nothing acquired in the window
                end = max(window.end, approved + timedelta(hours=1))
                self._update(
                    org, rid, user, end, RequestStatus.EXPIRED, RequestStatus.APPROVED, "system",
                    reason="Fenêtre échue sans acquisition / window ended without an acquisition",
                )  # fmt: skip
                if reserved > 0:
                    self._quota(org, family, period, end, QuotaMovement.RELEASE, reserved, rid)
                return
            n = rng.randint(1, 5)
            complete = rng.random() < 0.7
            acquired = sorted(self._between(first, window.end) for _ in range(n))
            deliveries = [a + self._days(0.3, 3) for a in acquired]
        final = 1.0 if complete else round(rng.uniform(0.4, 0.92), 3)
        weights = [rng.uniform(0.5, 1.5) for _ in range(n)]
        scenes: list[tuple[Scene, float]] = []
        for acq, delivered, w in zip(acquired, deliveries, weights, strict=True):
            mission = rng.choice(FAMILY_MISSIONS[family])
            jitter = swath_km / 3 / 111.32
            footprint = _square(
                lon + rng.uniform(-jitter, jitter), lat + rng.uniform(-jitter, jitter), swath_km
            )
            scene = self._scene(mission, acq, delivered, footprint, f"{family.value}-ortho", rid, None)
            if scene is not None:
                scenes.append((scene, final * w / sum(weights)))
        scenes.sort(key=lambda s: s[0].ingested_at)
        covered, consumed, status = 0.0, 0.0, RequestStatus.APPROVED
        for k, (scene, share) in enumerate(scenes):
            org.scenes.append((scene.ingested_at, scene.item_id, scene.collection, lon))
            covered = min(final, covered + share) if k < len(scenes) - 1 else final
            self._update(
                org, rid, user, scene.ingested_at, RequestStatus.IN_PROGRESS, status, "system",
                covered=round(covered, 3),
            )  # fmt: skip
            status = RequestStatus.IN_PROGRESS
            use = round(min(reserved - consumed, reserved * share), 3) if reserved else 0.0
            if use > 0:
                self._quota(org, family, period, scene.ingested_at, QuotaMovement.CONSUME, use, rid)
                consumed += use
        last = scenes[-1][0].ingested_at if scenes else approved
        if kind is RequestKind.TASKING and not complete:
            close_at = max(window.end, last + timedelta(hours=1))  # partial: at the window's end
        else:
            close_at = last + self._days(0.1, 2)
        if status is RequestStatus.APPROVED:  # every delivery failed: nothing acquired
            self._update(org, rid, user, close_at, RequestStatus.EXPIRED, status, "system")
        else:
            done = RequestStatus.FULFILLED if complete else RequestStatus.PARTIALLY_FULFILLED
            self._update(org, rid, user, close_at, done, status, "system", covered=round(covered, 3))
        left = round(reserved - consumed, 3)
        if left > 0.001:
            self._quota(org, family, period, close_at, QuotaMovement.RELEASE, left, rid)

    def _scene(
        self,
        mission: Mission,
        acquired: datetime,
        delivered: datetime,
        footprint: GeoJSONGeometry,
        collection: str,
        request_id: str | None,
        campaign: str | None,
        cloud: float | None = None,
    ) -> Scene | None:
        """A delivery: acquired, then ingested (or, 3 %, rejected and delivered again)."""
        rng = self.rng
        n = self._next("scene")
        scene_id = f"{mission.value}-{acquired:%Y%m%d%H%M%S}-{n:06d}"
        for attempt in (1, 2):
            product = f"DS_{mission.value}_{acquired:%Y%m%d%H%M%S}_{n:06d}_{attempt}"
            staging = StagingLocation(prefix=f"airbus/{scene_id}-{attempt}/")
            size = (
                rng.randint(400, 4000) * 1_000_000
                if "spot" in collection
                else rng.randint(200, 2500) * 1_000_000
            )
            self._emit(
                delivered,
                SceneAcquiredV1(
                    scene_id=scene_id,
                    supplier="airbus",
                    mission=mission.value,
                    supplier_product_id=product,
                    staging=staging,
                    acquisition_request_id=request_id,
                    campaign=campaign,
                    announced_size_bytes=size,
                    delivered_at=delivered,
                ),
            )
            done = delivered + timedelta(minutes=rng.uniform(6, 45))
            if attempt == 1 and rng.random() < 0.03:
                code = rng.choice(
                    [
                        RejectionReason.CHECKSUM_MISMATCH,
                        RejectionReason.MISSING_FILE,
                        RejectionReason.CORRUPT_RASTER,
                    ]
                )
                self._emit(
                    done,
                    SceneRejectedV1(
                        scene_id=scene_id,
                        supplier="airbus",
                        supplier_product_id=product,
                        staging=staging,
                        reason_code=code,
                        reason=f"Livraison inutilisable ({code.value}) / unusable delivery ({code.value})",
                        acquisition_request_id=request_id,
                    ),
                )
                delivered = done + self._days(1, 5)
                continue
            item = self._item(scene_id, mission, collection, acquired, done, footprint, size, cloud)
            self._emit(
                done,
                SceneIngestedV1(
                    scene_id=scene_id,
                    version=1,
                    collection=collection,
                    item=item,
                    archive_prefix=f"{collection}/{scene_id}/v1/",
                    manifest_sha256=self._sha(f"manifest|{scene_id}"),
                    acquisition_request_id=request_id,
                ),
            )
            scene = Scene(scene_id, scene_id, collection, done, footprint, size)
            self.scenes.append(scene)
            return scene
        return None

    def _item(
        self,
        scene_id: str,
        mission: Mission,
        collection: str,
        acquired: datetime,
        created: datetime,
        footprint: GeoJSONGeometry,
        size: int,
        cloud: float | None,
    ) -> dict[str, Any]:
        rng = self.rng
        info = mission_info(mission)
        ring = footprint.coordinates[0]
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        epsg = 32600 + int((sum(lons[:4]) / 4 + 180) // 6) + 1
        href = f"http://127.0.0.1:8333/archive/{collection}/{scene_id}/v1"
        cloud = round(rng.betavariate(0.8, 6) * 60, 1) if cloud is None else cloud
        return {
            "type": "Feature",
            "stac_version": STAC_VERSION,
            "stac_extensions": [EXTENSIONS[k] for k in ("eo", "proj", "view", "sat", "processing", "file")],
            "id": scene_id,
            "collection": collection,
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "bbox": [min(lons), min(lats), max(lons), max(lats)],
            "properties": {
                "datetime": acquired.isoformat().replace("+00:00", "Z"),
                "created": created.isoformat().replace("+00:00", "Z"),
                "platform": info.platform,
                "constellation": info.constellation,
                "instruments": [info.instrument.lower()],
                "gsd": info.pan_gsd_m,
                "eo:cloud_cover": cloud,
                "eo:snow_cover": 0.0,
                "view:incidence_angle": round(rng.uniform(2, 28), 2),
                "view:off_nadir": round(rng.uniform(1, 25), 2),
                "view:azimuth": round(rng.uniform(0, 360), 2),
                "view:sun_azimuth": round(rng.uniform(140, 200), 2),
                "view:sun_elevation": round(rng.uniform(20, 65), 2),
                "sat:platform_international_designator": info.cospar_id,
                "sat:orbit_state": "descending",
                "processing:level": "ortho",
                "processing:lineage": "Airbus DIMAP v2 ORTHO PMS, converted to Cloud-Optimised GeoTIFF by"
                " DINAMIS ingest",
                "processing:software": {"dinamis-ingest": "0.1.0"},
                "dinamis:version": 1,
                "dinamis:supplier_product_id": f"DS_{scene_id}",
                "proj:code": f"EPSG:{epsg}",
            },
            "links": [{"rel": "collection", "href": f"http://127.0.0.1:8102/collections/{collection}"}],
            "assets": {
                "pan": {
                    "href": f"{href}/pan.tif",
                    "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                    "roles": ["data"],
                    "file:size": size * 2 // 5,
                    "file:checksum": "1220" + self._sha(f"pan|{scene_id}"),
                    "gsd": info.pan_gsd_m,
                },
                "ms": {
                    "href": f"{href}/ms.tif",
                    "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                    "roles": ["data"],
                    "file:size": size * 3 // 5,
                    "file:checksum": "1220" + self._sha(f"ms|{scene_id}"),
                    "gsd": info.ms_gsd_m,
                },
            },
        }

    # --- the yearly coverage -------------------------------------------------------------

    def _coverages(self) -> None:
        for year in self.years:
            campaign = f"france-{year}"
            collection = f"spot-6-7-{campaign}"
            for cell in coverage_cells(year):
                acquired = cell.acquired_at + timedelta(hours=self.rng.uniform(-72, 72))
                for attempt in range(3):  # re-tasked when too cloudy
                    cloudy = attempt < 2 and self.rng.random() < 0.06
                    cloud = round(self.rng.uniform(15, 40), 1) if cloudy else round(self.rng.uniform(0, 8), 1)
                    mission = self.rng.choice(FAMILY_MISSIONS[SensorFamily.SPOT])
                    delivered = acquired + self._days(0.5, 4)
                    scene = self._scene(
                        mission,
                        acquired,
                        delivered,
                        _square(cell.lon, cell.lat, 60),
                        collection,
                        None,
                        campaign,
                        cloud,
                    )
                    if scene is not None and not cloudy:
                        self.coverage[year].append(scene)
                        break
                    acquired = acquired + self._days(20, 50)

    # --- product orders and downloads --------------------------------------------------

    def _orders(self) -> None:
        rng = self.rng
        all_scenes = sorted(self.scenes, key=lambda s: s.ingested_at)
        times = [s.ingested_at for s in all_scenes]
        cover_all = sorted((s for y in self.years for s in self.coverage[y]), key=lambda s: s.ingested_at)
        cover_times = [s.ingested_at for s in cover_all]
        self._by_item = {s.item_id: s for s in self.scenes}
        for org in self.orgs:
            own = sorted(org.scenes)
            for year in self.years:
                for _ in range(self._poisson(ORDERS_A_YEAR.get(org.rate_key, 3.0))):
                    when = self._office(
                        self._between(datetime(year, 1, 1, tzinfo=UTC), datetime(year, 12, 31, tzinfo=UTC))
                    )
                    users = org.users_at(when)
                    if not org.is_active(when) or not users:
                        continue
                    available = bisect.bisect_left(times, when)
                    if available == 0:
                        continue
                    mine = [s for s in own if s[0] < when]
                    upto = bisect.bisect_left(cover_times, when)
                    cover = cover_all[max(0, upto - 240) : upto]  # the latest coverage
                    products = []
                    order_id = f"{self.tag}-ord-{self._next('order'):06d}"
                    for k in range(1, 1 + min(4, 1 + self._poisson(0.8))):
                        roll = rng.random()
                        if roll < 0.5 and mine:
                            _, item_id, collection, _ = rng.choice(mine)
                        elif roll < 0.85 and cover:
                            s = rng.choice(cover)
                            item_id, collection = s.item_id, s.collection
                        else:
                            s = all_scenes[rng.randrange(available)]
                            item_id, collection = s.item_id, s.collection
                        products.append(
                            ProductSpec(
                                product_id=f"{order_id}-p{k}",
                                collection=collection,
                                item_id=item_id,
                                crs=rng.choice(["EPSG:2154", "EPSG:2154", "native"]),
                                pansharpen=rng.random() < 0.3,
                            )
                        )
                    self._order(org, rng.choice(users), when, order_id, products)

    def _order(self, org: Org, user: str, when: datetime, order_id: str, products: list[ProductSpec]) -> None:
        rng = self.rng
        self._emit(
            when,
            DeliveryRequestedV1(
                order_id=order_id, organisation_id=org.id, user_id=user, products=products, requested_at=when
            ),
        )
        for spec in products:
            done = when + timedelta(minutes=rng.uniform(2, 40))
            if rng.random() < 0.03:
                self._emit(
                    done,
                    ProductFailedV1(
                        order_id=order_id,
                        product_id=spec.product_id,
                        organisation_id=org.id,
                        user_id=user,
                        item_id=spec.item_id,
                        reason_code=ProductFailureReason.SOURCE_UNREADABLE,
                        reason="Source illisible / source unreadable",
                    ),
                )
                continue
            scene = self._by_item[spec.item_id]
            size = max(1, scene.size_bytes // rng.randint(2, 12))
            self._emit(
                done,
                ProductReadyV1(
                    order_id=order_id,
                    product_id=spec.product_id,
                    organisation_id=org.id,
                    user_id=user,
                    item_id=spec.item_id,
                    object_key=f"{org.id}/{order_id}/{spec.product_id}.tif",
                    size_bytes=size,
                    sha256=self._sha(f"product|{spec.product_id}"),
                    crs=spec.crs,
                    footprint=scene.footprint,
                    expires_at=done + timedelta(days=30),
                ),
            )
            downloads = rng.choices([0, 1, 2, 3], [0.12, 0.55, 0.22, 0.11])[0]
            colleagues = org.users_at(done) or [user]
            for _ in range(downloads):
                at = done + timedelta(minutes=rng.uniform(5, 60 * 24 * 20))
                self._emit(
                    at,
                    ProductDownloadedV1(
                        product_id=spec.product_id,
                        order_id=order_id,
                        organisation_id=org.id,
                        user_id=user if rng.random() < 0.8 else rng.choice(colleagues),
                        item_id=spec.item_id,
                        collection=spec.collection,
                        size_bytes=size,
                        downloaded_at=at,
                    ),
                )


def simulate(
    years: Iterable[int] = range(2022, 2027), organisations: int = 450, seed: int = 1
) -> list[SimRecord]:
    return ActivitySimulator(years, organisations, seed).run()


def write_jsonl(records: Iterable[SimRecord], out: TextIO) -> int:
    n = 0
    for record in records:
        out.write(json.dumps(record.as_json(), ensure_ascii=False, separators=(",", ":")) + "\n")
        n += 1
    return n


def read_jsonl(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.strip():
            yield json.loads(line)


def summary(records: Iterable[SimRecord]) -> dict[str, Any]:
    """Counts by topic, and the time span."""
    by_topic: dict[str, int] = defaultdict(int)
    first = last = None
    for r in records:
        by_topic[r.topic] += 1
        first = r.time if first is None or r.time < first else first
        last = r.time if last is None or r.time > last else last
    return {
        "events": sum(by_topic.values()),
        "by_topic": dict(sorted(by_topic.items())),
        "first": first.isoformat() if first else None,
        "last": last.isoformat() if last else None,
    }


async def publish(records: list[SimRecord], settings: Any, *, chunk: int = 5_000) -> dict[str, Any]:
    """Publish on the bus, batched (aiokafka's producer batches per partition), acks=all
    and idempotent; returns once every record is acknowledged, with the rate."""
    import time

    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="dinamis-activity-sim",
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        **settings.kafka_auth(),
    )
    await producer.start()
    t0 = time.perf_counter()
    try:
        for i in range(0, len(records), chunk):
            futures = [
                await producer.send(
                    r.topic,
                    value=r.value,
                    key=r.key.encode(),
                    headers=[(k, v.encode()) for k, v in r.headers.items()],
                )
                for r in records[i : i + chunk]
            ]
            for f in futures:
                await f
        seconds = time.perf_counter() - t0
    finally:
        await producer.stop()
    return {
        "published": len(records),
        "seconds": round(seconds, 3),
        "events_per_s": round(len(records) / seconds, 1) if seconds else None,
    }
