"""Quota arithmetic (pure): per organisation x sensor family x period, in km².

A ledger of entries — allocate, reserve (on approval), consume (on acquisition),
release (what was never acquired), adjust (operator, with a reason) — from which
the balance is derived. Available = allocated - reserved - consumed, never negative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from dinamis_shared.errors import DinamisError
from dinamis_shared.events import SensorFamily


class EntryKind(StrEnum):
    ALLOCATE = "allocate"
    RESERVE = "reserve"
    CONSUME = "consume"
    RELEASE = "release"
    ADJUST = "adjust"


class QuotaError(DinamisError):
    http_status = 409


class InsufficientQuota(QuotaError):
    """Beyond the quota: the excess needs co-financing."""

    code = "insufficient-quota"

    def __init__(self, requested: float, available: float) -> None:
        self.requested, self.available = requested, available
        self.shortfall = round(requested - available, 6)
        super().__init__(
            f"Quota insuffisant : {requested:g} km² demandés, {available:g} km² disponibles "
            f"(co-financement nécessaire pour {self.shortfall:g} km²) / insufficient quota: "
            f"{requested:g} km² requested, {available:g} km² available"
        )


def quota_id(organisation_id: str, family: SensorFamily, period: str) -> str:
    """The ledger key of an organisation's quota for a sensor family and period."""
    return f"{organisation_id}|{family.value}|{period}"


def period_of(family: SensorFamily, when: datetime) -> str:
    """Quarters for Pléiades and Pléiades Neo, years for SPOT 6/7."""
    if family is SensorFamily.SPOT:
        return f"{when.year}"
    return f"{when.year}-Q{(when.month - 1) // 3 + 1}"


def check_area(km2: float) -> float:
    if not isinstance(km2, int | float) or isinstance(km2, bool) or not math.isfinite(km2) or km2 <= 0:
        raise QuotaError(f"surface invalide / invalid area: {km2!r}", code="invalid-area")
    return round(float(km2), 6)


@dataclass
class Balance:
    allocated: float = 0.0
    reserved: float = 0.0
    consumed: float = 0.0
    reservations: dict[str, float] = field(default_factory=dict)  # request id -> km² still reserved
    # References of consumptions already applied (e.g. "<request>|<scene>"): the same
    # delivered scene counted twice (a retry after a crash) consumes once.
    refs: set[str] = field(default_factory=set)

    @property
    def available(self) -> float:
        return round(self.allocated - self.reserved - self.consumed, 6)

    def apply(
        self, kind: EntryKind, km2: float, request_id: str | None = None, ref: str | None = None
    ) -> None:
        """Apply one ledger entry, or refuse it (the balance is left unchanged)."""
        if ref is not None and ref in self.refs:
            return  # idempotent: this consumption is already in the ledger
        if kind in (EntryKind.RESERVE, EntryKind.CONSUME, EntryKind.RELEASE) and request_id is None:
            raise QuotaError(f"a {kind} entry names its request", code="request-required")
        rid = request_id or ""
        if kind is EntryKind.ALLOCATE:
            self.allocated = round(self.allocated + check_area(km2), 6)
        elif kind is EntryKind.ADJUST:  # may lower the allocation, never below what is committed
            new = round(self.allocated + km2, 6)
            if new < self.reserved + self.consumed:
                raise QuotaError(
                    "l'ajustement rendrait le solde négatif / adjustment would make the balance negative",
                    code="negative-balance",
                )
            self.allocated = new
        elif kind is EntryKind.RESERVE:
            km2 = check_area(km2)
            if rid in self.reservations:
                return  # idempotent: the same approval twice reserves once
            if km2 > self.available:
                raise InsufficientQuota(km2, self.available)
            self.reserved = round(self.reserved + km2, 6)
            self.reservations[rid] = km2
        elif kind in (EntryKind.CONSUME, EntryKind.RELEASE):
            km2 = check_area(km2)
            held = self.reservations.get(rid, 0.0)
            if km2 > held + 1e-9:
                raise QuotaError(
                    f"{km2:g} km² > {held:g} km² réservés / reserved for {request_id}", code="not-reserved"
                )
            self.reserved = round(self.reserved - km2, 6)
            if kind is EntryKind.CONSUME:
                self.consumed = round(self.consumed + km2, 6)
            left = round(held - km2, 6)
            if left > 0:
                self.reservations[rid] = left
            else:
                self.reservations.pop(rid, None)
            if ref is not None:
                self.refs.add(ref)
