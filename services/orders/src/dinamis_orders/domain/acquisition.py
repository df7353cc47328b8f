"""Acquisition requests (Appel à Demandes): what a member asks for, and the prices of
co-financing beyond the quota (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from dinamis_shared.events import (
    AcquisitionWindow,
    Identifier,
    OrganisationCategory,
    RequestKind,
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


def cofinancing_price(category: OrganisationCategory, family: SensorFamily, km2: float) -> dict:
    per_km2 = PRICE_TABLE[category][family]
    return {"km2": round(km2, 6), "price_per_km2_eur": per_km2, "amount_eur": round(per_km2 * km2, 2)}


class Cofinancing(BaseModel):
    km2: float
    price_per_km2_eur: float
    amount_eur: float
    confirmed_by: Identifier | None = None
    confirmed_at: AwareDatetime | None = None


def expired(window_end: datetime, grace_days: int, now: datetime) -> bool:
    from datetime import timedelta

    return now > window_end + timedelta(days=grace_days)
