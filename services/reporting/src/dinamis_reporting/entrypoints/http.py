"""The reporting's HTTP API: the indicators' catalogue, their values (suppressed cells
hidden), the archive's state.

Public routes answer anyone with the public breakdowns only; the working group's
(staff, or the `governance` role, checked by the orders service on every call)
get every declared breakdown. Every output is an aggregate: no personal data."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from dinamis_reporting.bootstrap import Reporting
from dinamis_reporting.indicators.engine import IndicatorError
from dinamis_reporting.indicators.engine import Query as IndicatorQuery
from dinamis_shared.errors import DinamisError

router = APIRouter(prefix="/v1", tags=["reporting"])


class BadIndicatorRequest(DinamisError):
    code = "bad-indicator-request"
    http_status = 400


class UnknownIndicator(DinamisError):
    code = "unknown-indicator"
    http_status = 404


def parse_query(by: str | None, filters: dict[str, str | None]) -> IndicatorQuery:
    dims = tuple(d.strip() for d in (by or "").split(",") if d.strip())
    chosen = {k: tuple(x.strip() for x in v.split(",") if x.strip()) for k, v in filters.items() if v}
    return IndicatorQuery(by=dims, filters=chosen)


@router.get("/indicators", summary="Le catalogue des indicateurs / the indicators' catalogue")
async def catalogue(reporting: Reporting) -> dict[str, Any]:
    return {"indicators": [i.describe() for i in reporting.indicators.catalogue.values()]}


@router.get("/indicators/{name}", summary="Les valeurs d'un indicateur / an indicator's values")
async def indicator(
    reporting: Reporting,
    name: str,
    by: Annotated[
        str | None, Query(max_length=200, description="Dimensions, séparées par des virgules")
    ] = None,
    year: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=400)] = None,
    sensor_family: Annotated[str | None, Query(max_length=200)] = None,
    region: Annotated[str | None, Query(max_length=400)] = None,
) -> dict[str, Any]:
    query = parse_query(
        by, {"year": year, "category": category, "sensor_family": sensor_family, "region": region}
    )
    await reporting.lake.refresh(max_age_s=reporting.settings.lake_refresh_s)
    try:
        result = await asyncio.to_thread(
            reporting.indicators.compute, reporting.lake.cursor(), name, query, public=True
        )
    except IndicatorError as exc:
        if exc.code == "unknown-indicator":
            raise UnknownIndicator(str(exc)) from None
        raise BadIndicatorRequest(str(exc), code=exc.code) from None
    return result.as_json()
