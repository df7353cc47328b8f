"""Use case: the quote before submitting (area, quota impact, co-financing, overlaps)."""

from __future__ import annotations

import logging

from shapely.geometry import shape

from dinamis_orders.domain.acquisition import (
    Overlap,
    RequestDraft,
    catalogue_window,
    cofinancing_price,
    constellation,
    quota_period,
)
from dinamis_orders.domain.aoi import Aoi, AoiWarning, covered_share, request_aoi
from dinamis_orders.domain.quota import quota_id
from dinamis_orders.service import membership
from dinamis_orders.service.context import Orders
from dinamis_orders.service.ports import CatalogueUnavailable
from dinamis_shared.auth import Principal
from dinamis_shared.events import SensorFamily

log = logging.getLogger(__name__)


async def catalogue_overlap(orders: Orders, aoi: Aoi, draft: RequestDraft) -> dict:
    """Share of the AOI already covered by catalogue imagery matching the constraints."""
    start, end = catalogue_window(draft, orders.now())
    try:
        features = await orders.catalogue.footprints(
            aoi.geojson(),
            start,
            end,
            constellation=constellation(draft.sensor_family),
            max_cloud_cover=draft.max_cloud_cover,
        )
    except CatalogueUnavailable as exc:
        log.warning("catalogue unavailable for overlap check: %s", exc.detail)
        return {
            "share": None,
            "items": [],
            "unavailable": "catalogue injoignable / catalogue unreachable",
        }
    footprints = [shape(f["geometry"]) for f in features if f.get("geometry")]
    return {"share": covered_share(aoi.geometry, footprints), "items": [f["id"] for f in features[:20]]}


async def pending_overlap(
    orders: Orders, aoi: Aoi, family: SensorFamily, exclude: str | None = None
) -> list[Overlap]:
    """Other pending or in-progress requests for the same sensor over the same ground."""
    found = []
    for other in await orders.requests.pending_over(aoi.geometry.bounds, family):
        if other.request_id == exclude:
            continue
        overlap = other.overlap_with(aoi.geometry)
        if overlap is not None:
            found.append(overlap)
    return sorted(found, key=lambda o: -o.share)


# How overlap warnings name another request's state, for people (French, English).
STATUS_WORDS = {
    "submitted": ("déposée", "submitted"),
    "under_review": ("en cours d'examen", "under review"),
    "needs_cofinancing": ("co-financement à confirmer", "co-financing to confirm"),
    "approved": ("acceptée", "approved"),
    "cancelling": ("annulation en cours", "being cancelled"),
    "in_progress": ("acquisition en cours", "being acquired"),
}


def status_words(status: str) -> tuple[str, str]:
    return STATUS_WORDS.get(status, (status, status))


async def quote(orders: Orders, principal: Principal, draft: RequestDraft) -> dict:
    """Area, quota impact, co-financing needed and overlap warnings, before submitting."""
    await membership.require_member(orders, principal, staff_ok=False)
    aoi = request_aoi(draft.aoi, draft.sensor_family, orders.settings.max_request_km2)
    org = await orders.organisation(principal.member_organisation)
    period = quota_period(draft, orders.now())
    balance = await orders.ledger.balance(
        quota_id(principal.member_organisation, draft.sensor_family, period)
    )
    shortfall = max(0.0, round(aoi.area_km2 - balance.available, 6))
    catalogue = await catalogue_overlap(orders, aoi, draft)
    pending = [o.shown_to(principal) for o in await pending_overlap(orders, aoi, draft.sensor_family)]
    warnings = list(aoi.warnings)
    if catalogue["share"]:
        warnings.append(
            AoiWarning(
                "catalogue-overlap",
                f"{catalogue['share']:.0%} de la zone déjà couverte par le catalogue",
                f"{catalogue['share']:.0%} of the AOI already in the catalogue",
            )
        )
    for other in pending:
        fr, en = status_words(other["status"])
        warnings.append(
            AoiWarning(
                "request-overlap",
                f"{other['share']:.0%} de la zone déjà demandée"
                f" ({other['request_id'] or 'autre organisme'}, {fr})",
                f"{other['share']:.0%} of the AOI already requested"
                f" ({other['request_id'] or 'another organisation'}, {en})",
            )
        )
    category = org.category if org else None
    return {
        "area_km2": aoi.area_km2,
        "aoi": aoi.geojson(),
        "quota": {
            "period": period,
            "available_km2": balance.available,
            "after_km2": round(max(0.0, balance.available - aoi.area_km2), 6),
        },
        "cofinancing": cofinancing_price(category, draft.sensor_family, shortfall).model_dump(
            exclude_unset=True
        )
        if shortfall and category
        else None,
        "overlaps": {"catalogue": catalogue, "requests": pending},
        "warnings": [w.as_dict() for w in warnings],
    }
