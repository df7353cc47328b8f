"""Acquisition requests (Appel à Demandes): what a member asks for, the prices of
co-financing beyond the quota, and the request itself with its behaviour (pure).

`AcquisitionRequest`'s methods take the time (`now`) and whoever acts, and return a
`Change`: the new state, the events it implies, and how the history names it. They do
no I/O: the use cases load a request, call one method, and store the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from shapely.geometry import box, shape

from dinamis_orders.domain.aoi import Aoi, covered_share
from dinamis_orders.domain.quota import period_of, quota_id
from dinamis_orders.domain.requests import (
    FINAL,
    Action,
    Actor,
    InvalidTransition,
    RequestState,
    public_status,
    transition,
)
from dinamis_shared.auth import Forbidden, Principal
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import (
    AcquisitionWindow,
    Event,
    GeoJSONGeometry,
    Identifier,
    OrganisationCategory,
    RequestApprovedV1,
    RequestKind,
    RequestRejectedV1,
    RequestSubmittedV1,
    RequestUpdatedV1,
    SensorFamily,
)


class Priority(StrEnum):
    STANDARD = "standard"
    HIGH = "high"
    URGENT = "urgent"


class RequestDraft(BaseModel):
    """`POST /v1/requests` and `/v1/requests/quote`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    kind: RequestKind
    sensor_family: SensorFamily
    aoi: dict = Field(description="GeoJSON Polygon or MultiPolygon, WGS84.")
    window: AcquisitionWindow = Field(description="Acquisition window (tasking) or archive date range.")
    title: str = Field(min_length=3, max_length=200)
    justification: str = Field(min_length=20, max_length=8000, description="The project the imagery serves.")
    max_cloud_cover: float = Field(default=20.0, ge=0, le=100)
    max_incidence_deg: float = Field(default=30.0, ge=0, le=60)
    priority: Priority = Priority.STANDARD
    supplier_scene_ids: list[Identifier] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _coherent(self) -> RequestDraft:
        if self.supplier_scene_ids and self.kind is not RequestKind.ARCHIVE:
            raise ValueError(
                "des identifiants de scènes fournisseur ne valent que pour une demande d'archive"
                " / supplier scene ids are for archive requests only"
            )
        if (self.window.end - self.window.start).days > 366:
            raise ValueError("fenêtre de plus d'un an / window longer than one year")
        if self.kind is RequestKind.TASKING and self.window.end <= datetime.now(UTC):
            raise ValueError(
                "une programmation vise une fenêtre future / tasking needs a window ending in the future"
            )
        return self


class QuoteDraft(RequestDraft):
    """`POST /v1/requests/quote`: a draft being written. The quote does not depend on the
    title and justification, so they may still be missing (a form quoting as it is filled)."""

    title: str = Field(default="(devis)", min_length=3, max_length=200)
    justification: str = Field(
        default="(devis : justification pas encore écrite)", min_length=20, max_length=8000
    )


# Co-financing price per km² (EUR, excl. VAT) by organisation category and sensor family,
# beyond the quota. Configurable through `PRICE_TABLE` in production deployments.
PRICE_TABLE: dict[OrganisationCategory, dict[SensorFamily, float]] = {
    OrganisationCategory.FRENCH_RESEARCH: {
        SensorFamily.PLEIADES: 3.5,
        SensorFamily.PLEIADES_NEO: 6.0,
        SensorFamily.SPOT: 0.9,
    },
    OrganisationCategory.FRENCH_PUBLIC: {
        SensorFamily.PLEIADES: 3.5,
        SensorFamily.PLEIADES_NEO: 6.0,
        SensorFamily.SPOT: 0.9,
    },
    OrganisationCategory.FRENCH_PRIVATE_RD: {
        SensorFamily.PLEIADES: 7.0,
        SensorFamily.PLEIADES_NEO: 12.0,
        SensorFamily.SPOT: 1.8,
    },
    OrganisationCategory.INTERNATIONAL_RESEARCH: {
        SensorFamily.PLEIADES: 5.0,
        SensorFamily.PLEIADES_NEO: 9.0,
        SensorFamily.SPOT: 1.3,
    },
    OrganisationCategory.CONTRACTOR: {
        SensorFamily.PLEIADES: 7.0,
        SensorFamily.PLEIADES_NEO: 12.0,
        SensorFamily.SPOT: 1.8,
    },
}


def cofinancing_price(category: OrganisationCategory, family: SensorFamily, km2: float) -> Cofinancing:
    """The offer for co-financing `km2` beyond the quota."""
    per_km2 = PRICE_TABLE[category][family]
    return Cofinancing(km2=round(km2, 6), price_per_km2_eur=per_km2, amount_eur=round(per_km2 * km2, 2))


class Cofinancing(BaseModel):
    """What the organisation pays for the area beyond its quota, once it confirms."""

    model_config = ConfigDict(frozen=True)

    km2: float
    price_per_km2_eur: float
    amount_eur: float
    confirmed_by: Identifier | None = None
    confirmed_at: AwareDatetime | None = None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    def confirm(self, by: str, now: datetime) -> Cofinancing:
        return self.model_copy(update={"confirmed_by": by, "confirmed_at": now})


def expired(window_end: datetime, grace_days: int, now: datetime) -> bool:
    return now > window_end + timedelta(days=grace_days)


def quota_period(draft: RequestDraft, now: datetime) -> str:
    """Tasking spends the quota of the period it acquires in; an archive order, today's."""
    when = draft.window.start if draft.kind is RequestKind.TASKING else now
    return period_of(draft.sensor_family, max(when, now))


MIN_ACQUIRED_SHARE = 0.01  # below this, an expired request acquired nothing worth keeping
WINDOW_OVER = "fenêtre d'acquisition terminée / acquisition window over"
# Requests other requests over the same ground are warned about.
PENDING = (
    RequestState.SUBMITTED,
    RequestState.UNDER_REVIEW,
    RequestState.NEEDS_COFINANCING,
    RequestState.APPROVED,
    RequestState.CANCELLING,
    RequestState.IN_PROGRESS,
)
# Requests the supplier may still deliver for (the expiry pass looks at them).
LIVE = (RequestState.IN_PROGRESS, RequestState.APPROVED, RequestState.CANCELLING)
CANCELLATION_ASKED = (
    "annulation demandée : le quota reste réservé jusqu'à la confirmation du fournisseur"
    " / cancellation asked: the quota stays reserved until the supplier confirms"
)
QUOTA_FELL = "quota disponible en baisse : nouveau co-financement à confirmer / quota fell: confirm again"
# An operator answered a request with imagery the catalogue already holds (`propose_scenes`).
COVERED_BY_CATALOGUE = "covered-by-catalogue"
SCENES_PROPOSED = (
    "la zone est déjà couverte par des scènes du catalogue, proposées à la place"
    " / the area is already covered by catalogue scenes, proposed instead"
)
MAX_PROPOSED = 50


class ProposedScene(BaseModel):
    """A catalogue item an operator proposes instead of a new acquisition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    collection: Identifier
    item_id: Identifier


class InvalidProposal(DinamisError):
    code = "invalid-proposal"
    http_status = 422


@dataclass(frozen=True)
class Change:
    """One change of a request: its new state, the events it implies, and its history entry."""

    request: AcquisitionRequest
    events: list[Event]
    change: str
    why: str | None = None
    by: str = "orders"


@dataclass(frozen=True)
class ApprovalPlan:
    """How an approval splits the area between the quota and co-financing."""

    reserve_km2: float
    cofinanced_km2: float = 0.0
    # The quota fell below what the confirmed co-financing covers: offer this excess again.
    reoffer_km2: float | None = None


@dataclass(frozen=True)
class SceneProgress:
    change: Change
    consume_km2: float  # quota newly consumed by the ground this scene covers


class AcquisitionRequest(BaseModel):
    """An acquisition request as stored: the draft's fields, and its progress.

    Fields the model does not name (title, justification, cloud cover...) are kept as
    they came. Only fields ever set are stored (`state()`), so the stored document keeps
    its shape across versions."""

    model_config = ConfigDict(extra="allow", frozen=True)

    request_id: Identifier
    organisation_id: Identifier
    submitted_by: Identifier
    kind: RequestKind
    sensor_family: SensorFamily
    aoi: dict
    bbox: list[float]
    area_km2: float
    window: AcquisitionWindow
    status: RequestState
    quota_period: str
    submitted_at: str
    reserved_km2: float = 0.0
    cofinancing: Cofinancing | None = None
    covered_share: float = 0.0
    consumed_km2: float = 0.0
    scenes: list[str] = Field(default_factory=list)
    scene_footprints: list[dict] = Field(default_factory=list)
    supplier_order_id: str | None = None
    cofinanced_km2: float = 0.0
    approved_by: str | None = None
    approved_at: str | None = None
    last_reason: str | None = None
    # Set when an operator closed the request with catalogue scenes instead (`propose_scenes`).
    rejection_code: str | None = None
    proposed_items: list[ProposedScene] = Field(default_factory=list)
    rev: int = 0

    # --- reading -----------------------------------------------------------------------

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AcquisitionRequest:
        return cls.model_validate(state)

    def state(self) -> dict[str, Any]:
        """The stored document (without `rev`)."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"rev"})

    @property
    def quota_id(self) -> str:
        return quota_id(self.organisation_id, self.sensor_family, self.quota_period)

    @property
    def holds_quota(self) -> bool:
        """Whether the ledger may still hold a reservation to give back after this state."""
        return self.status in FINAL and self.status is not RequestState.REJECTED

    def actor(self, principal: Principal) -> Actor:
        """Staff act as operators; the author as the author; anyone else is refused."""
        self.check_visible(principal)
        if principal.is_staff:
            return Actor.OPERATOR
        if principal.user_id == self.submitted_by and principal.organisation_id == self.organisation_id:
            return Actor.AUTHOR
        raise Forbidden("not your request", message_fr="cette demande ne vous appartient pas")

    def check_visible(self, principal: Principal) -> None:
        if not principal.is_staff and principal.organisation_id != self.organisation_id:
            raise Forbidden("another organisation's request", message_fr="demande d'une autre organisation")

    def shortfall(self, available_km2: float) -> float:
        """The area beyond the quota still available."""
        return max(0.0, round(self.area_km2 - available_km2, 6))

    def window_over(self, now: datetime, grace_days: int) -> bool:
        return expired(self.window.end, grace_days, now)

    # --- behaviour ---------------------------------------------------------------------

    @classmethod
    def submit(
        cls,
        request_id: str,
        principal: Principal,
        draft: RequestDraft,
        aoi: Aoi,
        now: datetime,
    ) -> Change:
        request = cls.model_validate(
            {
                "request_id": request_id,
                "organisation_id": principal.member_organisation,
                "submitted_by": principal.user_id,
                **draft.model_dump(mode="json", exclude={"aoi"}),
                "aoi": aoi.geojson(),
                "bbox": [round(v, 9) for v in aoi.geometry.bounds],
                "area_km2": aoi.area_km2,
                "aoi_warnings": aoi.warning_dicts(),
                "status": RequestState.SUBMITTED.value,
                "quota_period": quota_period(draft, now),
                "reserved_km2": 0.0,
                "cofinancing": None,
                "covered_share": 0.0,
                "consumed_km2": 0.0,
                "scenes": [],
                "supplier_order_id": None,
                "submitted_at": now.isoformat(),
            }
        )
        submitted = RequestSubmittedV1(
            request_id=request_id,
            organisation_id=principal.member_organisation,
            submitted_by=principal.user_id,
            kind=draft.kind,
            sensor_family=draft.sensor_family,
            aoi=GeoJSONGeometry.model_validate(request.aoi),
            area_km2=aoi.area_km2,
            window=draft.window,
            submitted_at=now,
        )
        updated = request._updated(None, principal.user_id, now)
        return Change(request, [submitted, updated], "submitted", by=principal.user_id)

    def start_review(self, actor: Actor, by: str, now: datetime, reason: str | None = None) -> Change:
        return self._move(Action.START_REVIEW, actor, by, now, reason)

    def reject(self, actor: Actor, by: str, now: datetime, reason: str | None) -> Change:
        change = self._move(Action.REJECT, actor, by, now, reason)
        rejected = RequestRejectedV1(
            request_id=self.request_id,
            organisation_id=self.organisation_id,
            rejected_by=by,
            reason=reason or "",
            rejected_at=now,
        )
        return Change(change.request, [rejected, *change.events], change.change, change.why, by)

    def propose_scenes(
        self, items: list[ProposedScene], actor: Actor, by: str, now: datetime, reason: str | None = None
    ) -> Change:
        """The catalogue already covers the area: the request is closed as rejected (code
        `covered-by-catalogue`), the proposed items kept on it for the member to order
        instead. Same transition and event as a rejection (`request-rejected`), the reason
        saying why."""
        unique = list(dict.fromkeys(items))
        if not unique or len(unique) > MAX_PROPOSED:
            raise InvalidProposal(
                f"propose 1 to {MAX_PROPOSED} catalogue scenes",
                message_fr=f"proposez de 1 à {MAX_PROPOSED} scènes du catalogue",
            )
        target = transition(self.status, Action.REJECT, actor)
        why = reason or SCENES_PROPOSED
        new = self._with(
            status=target,
            last_reason=why,
            rejection_code=COVERED_BY_CATALOGUE,
            proposed_items=[i.model_dump() for i in unique],
        )
        rejected = RequestRejectedV1(
            request_id=self.request_id,
            organisation_id=self.organisation_id,
            rejected_by=by,
            reason=why,
            rejected_at=now,
        )
        listed = ", ".join(i.item_id for i in unique)
        events: list[Event] = [rejected, new._updated(self.status, by, now, why)]
        return Change(new, events, "propose_scenes", f"{why} ({listed})", by)

    def cancel(self, actor: Actor, by: str, now: datetime, reason: str | None = None) -> Change:
        """Cancelled at once before approval; once approved, the supplier order may have
        been placed: `cancelling` (quota still reserved, no event: the contract has no
        such state) until the supplier confirms (`confirm_cancellation`)."""
        target = transition(self.status, Action.CANCEL, actor)
        if target is not RequestState.CANCELLING:
            return self._move(Action.CANCEL, actor, by, now, reason)
        new = self._with(status=target, last_reason=reason, cancellation_requested_by=by)
        return Change(new, [], "cancellation requested", reason or CANCELLATION_ASKED, by)

    def confirm_cancellation(self, actor: Actor, by: str, now: datetime, why: str) -> Change:
        """The supplier (or an operator, for orders placed by hand) confirmed that nothing
        is acquired: cancelled, the quota may be given back."""
        return self._move(Action.CONFIRM_CANCELLATION, actor, by, now, why)

    def require_cofinancing(
        self, offer: Cofinancing, actor: Actor, by: str, now: datetime, reason: str | None
    ) -> Change:
        return self._move(Action.REQUIRE_COFINANCING, actor, by, now, reason, cofinancing=offer)

    def reoffer_cofinancing(self, offer: Cofinancing, by: str, now: datetime) -> Change:
        """The quota shrank since the confirmation: the new excess is to confirm again."""
        new = self._with(cofinancing=offer, last_reason=QUOTA_FELL)
        return Change(
            new, [new._updated(self.status, by, now, QUOTA_FELL)], "cofinancing re-offered", QUOTA_FELL, by
        )

    def confirm_cofinancing(self, by: str, now: datetime) -> Change:
        if self.status is not RequestState.NEEDS_COFINANCING or self.cofinancing is None:
            raise InvalidTransition(
                "no co-financing awaits confirmation",
                message_fr="aucun co-financement en attente de confirmation",
            )
        confirmed = self.cofinancing.confirm(by, now)
        new = self._with(cofinancing=confirmed)
        return Change(new, [], "cofinancing confirmed", f"{confirmed.amount_eur} EUR", by)

    def check(self, action: Action, actor: Actor) -> None:
        """Refuse (InvalidTransition, TransitionForbidden) an action not possible now."""
        transition(self.status, action, actor)

    def overlap_with(self, geometry: Any) -> Overlap | None:
        """How much of `geometry` this request's AOI covers, if any."""
        if not box(*self.bbox).intersects(geometry):
            return None
        share = covered_share(geometry, [shape(self.aoi)])
        if share <= 0:
            return None
        return Overlap(self.request_id, self.organisation_id, self.status.value, share)

    def plan_approval(self, available_km2: float) -> ApprovalPlan:
        """Reserve the whole area, or (co-financing confirmed) what the quota does not
        cover; a shortfall grown beyond the confirmed co-financing is offered again."""
        if self.cofinancing is None or not self.cofinancing.confirmed:
            return ApprovalPlan(reserve_km2=self.area_km2)
        cofinanced = self.shortfall(available_km2)
        if cofinanced > self.cofinancing.km2 + 1e-6:
            return ApprovalPlan(reserve_km2=0.0, reoffer_km2=cofinanced)
        return ApprovalPlan(reserve_km2=round(self.area_km2 - cofinanced, 6), cofinanced_km2=cofinanced)

    def approve(
        self, actor: Actor, by: str, now: datetime, plan: ApprovalPlan, reason: str | None = None
    ) -> Change:
        """Approved once the quota holds `plan.reserve_km2`: the supplier may be asked. The
        operator's reason, if any, goes to the history and `request-updated`."""
        target = transition(self.status, Action.APPROVE, actor)
        new = self._with(
            status=target,
            reserved_km2=plan.reserve_km2,
            cofinanced_km2=plan.cofinanced_km2,
            approved_by=by,
            approved_at=now.isoformat(),
        )
        approved = RequestApprovedV1(
            request_id=self.request_id,
            organisation_id=self.organisation_id,
            approved_by=by,
            kind=self.kind,
            sensor_family=self.sensor_family,
            aoi=GeoJSONGeometry.model_validate(self.aoi),
            area_km2=self.area_km2,
            quota_period=self.quota_period,
            reserved_km2=plan.reserve_km2,
            cofinanced_km2=plan.cofinanced_km2,
            window=self.window,
            approved_at=now,
        )
        return Change(new, [approved, new._updated(self.status, by, now, reason)], "approve", reason, by)

    def start_acquisition(
        self, supplier_order_id: str, now: datetime, actor: Actor = Actor.SYSTEM, by: str = "orders"
    ) -> Change:
        """The supplier has the order (placed by the platform, or by an operator by hand)."""
        target = transition(self.status, Action.START_ACQUISITION, actor)
        new = self._with(status=target, supplier_order_id=supplier_order_id)
        return Change(new, [new._updated(self.status, by, now)], "start_acquisition", by=by)

    def record_scene(
        self, scene_id: str, footprint: dict, fulfilled_share: float, now: datetime
    ) -> SceneProgress | None:
        """A scene acquired for this request: the covered share grows, the quota for the
        newly covered ground is consumed, and the request is fulfilled past
        `fulfilled_share`. None when there is nothing to record (a redelivered scene, or
        a request no longer in progress)."""
        if scene_id in self.scenes or self.status is not RequestState.IN_PROGRESS:
            return None
        footprints = [shape(footprint)] + [shape(g) for g in self.scene_footprints]
        share = covered_share(shape(self.aoi), footprints)
        covered_km2 = min(self.reserved_km2, round(share * self.area_km2, 6))
        consume = round(covered_km2 - self.consumed_km2, 6)
        status: RequestState = self.status
        if share >= fulfilled_share:
            status = transition(RequestState.IN_PROGRESS, Action.FULFIL, Actor.SYSTEM)
        new = self._with(
            status=status,
            scenes=[*self.scenes, scene_id],
            covered_share=share,
            scene_footprints=[*self.scene_footprints, footprint],
            consumed_km2=round(self.consumed_km2 + max(consume, 0.0), 6),
        )
        change = Change(new, [new._updated(self.status, "orders", now)], f"scene {scene_id}")
        return SceneProgress(change, max(consume, 0.0))

    def expire(self, now: datetime) -> Change:
        """The window (and its grace) is over: what was acquired is kept (partially
        fulfilled), otherwise the request expired."""
        acquired = self.covered_share >= MIN_ACQUIRED_SHARE and self.status is RequestState.IN_PROGRESS
        action = Action.FULFIL_PARTIALLY if acquired else Action.EXPIRE
        target = transition(self.status, action, Actor.SYSTEM)
        new = self._with(status=target)
        events: list[Event] = [new._updated(self.status, "orders", now, "acquisition window over")]
        return Change(new, events, action.value, WINDOW_OVER)

    # --- helpers -----------------------------------------------------------------------

    def _with(self, **changes: Any) -> AcquisitionRequest:
        # Validated again: a copy with a dict where a model belongs would not serialise.
        return type(self).model_validate({**self.model_dump(exclude_unset=True), **changes})

    def _move(
        self, action: Action, actor: Actor, by: str, now: datetime, reason: str | None, **changes: Any
    ) -> Change:
        target = transition(self.status, action, actor)
        new = self._with(status=target, last_reason=reason, **changes)
        return Change(new, [new._updated(self.status, by, now, reason)], action.value, reason, by)

    def _updated(
        self, previous: RequestState | None, by: str, at: datetime, reason: str | None = None
    ) -> RequestUpdatedV1:
        return RequestUpdatedV1(
            request_id=self.request_id,
            organisation_id=self.organisation_id,
            submitted_by=self.submitted_by,
            status=public_status(self.status),
            previous_status=None if previous is None else public_status(previous),
            changed_by=by,
            changed_at=at,
            reason=reason,
            covered_share=self.covered_share,
        )


@dataclass
class Overlap:
    """Another pending request over the same ground."""

    request_id: str | None
    organisation_id: str | None
    status: str
    share: float

    def shown_to(self, principal: Principal) -> dict[str, Any]:
        """Other organisations' requests are shown as such, without their ids."""
        if principal.is_staff or self.organisation_id == principal.organisation_id:
            return {
                "request_id": self.request_id,
                "status": self.status,
                "share": self.share,
                "organisation_id": self.organisation_id,
            }
        return {
            "request_id": None,
            "organisation_id": None,
            "status": self.status,
            "share": self.share,
            "other_organisation": True,
        }


def catalogue_window(draft: RequestDraft, now: datetime) -> tuple[datetime, datetime]:
    """The dates of catalogue imagery that overlaps a draft: for future imagery (tasking),
    the last year's."""
    start, end = draft.window.start, draft.window.end
    if draft.kind is RequestKind.TASKING:
        start = min(start, now) - timedelta(days=365)
    return start, end


def constellation(family: SensorFamily) -> str:
    return {
        SensorFamily.PLEIADES: "pleiades",
        SensorFamily.PLEIADES_NEO: "pleiades-neo",
        SensorFamily.SPOT: "spot",
    }[family]
