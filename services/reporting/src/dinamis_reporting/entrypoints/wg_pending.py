"""The working group's indicator route, `GET /v1/wg/indicators/{name}` (JSON, or CSV with
`?format=csv`) — a MINIMAL version written by the portal's helper so that the portal's
dashboard can be tested against the real service (docs/portal-figures.md).

The contract gives this route to `entrypoints/http.py` (the indicators' owner): when
http.py has it, delete this module and its line in app.py. Same contract: every declared
dimension, for standing staff (operator/admin) or the `governance` role of a user of the
platform's own organisation, as the orders service says on this request; cells of fewer
than 3 organisations suppressed by the engine; no SQL from the caller's text (the engine
checks dimensions and values and binds them)."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from dinamis_reporting.bootstrap import Reporting
from dinamis_reporting.entrypoints.http import BadIndicatorRequest, UnknownIndicator, parse_query
from dinamis_reporting.indicators.engine import DIMENSIONS, IndicatorError
from dinamis_shared.auth import AuthenticatedPrincipal, Forbidden, Principal, Role

router = APIRouter(prefix="/v1", tags=["reporting"])

STAFF_ORGANISATION = "dinamis"  # orders' staff_organisation_id
MAX_FILTER = 400


def working_group(principal: AuthenticatedPrincipal) -> Principal:
    if principal.standing == "staff" and principal.is_staff:
        return principal
    if (
        Role.GOVERNANCE in principal.roles
        and principal.organisation_id == STAFF_ORGANISATION
        and principal.standing != "user-inactive"
    ):
        return principal
    raise Forbidden(
        "the working group's indicators are for DINAMIS staff and governance only",
        code="working-group-only",
        message_fr="indicateurs réservés au groupe de travail DINAMIS (équipe et gouvernance)",
    )


WorkingGroup = Annotated[Principal, Depends(working_group)]


@router.get(
    "/wg/indicators/{name}",
    summary="Un indicateur, toutes dimensions (groupe de travail) / an indicator, every dimension",
)
async def wg_indicator(
    reporting: Reporting,
    name: str,
    request: Request,
    member: WorkingGroup,
    by: Annotated[str | None, Query(max_length=200)] = None,
    format: Annotated[str | None, Query(pattern="^(json|csv)$")] = None,
) -> Any:
    filters: dict[str, str | None] = {}
    for dim in DIMENSIONS:
        value = request.query_params.get(dim)
        if value is not None and len(value) > MAX_FILTER:
            raise BadIndicatorRequest(f"filtre {dim} trop long / filter {dim} too long")
        filters[dim] = value
    query = parse_query(by, filters)
    await reporting.lake.refresh(max_age_s=reporting.settings.lake_refresh_s)
    try:
        result = await asyncio.to_thread(
            reporting.indicators.compute, reporting.lake.cursor(), name, query, public=False
        )
    except IndicatorError as exc:
        if exc.code == "unknown-indicator":
            raise UnknownIndicator(str(exc)) from None
        raise BadIndicatorRequest(str(exc), code=exc.code) from None
    body = result.as_json()
    if format != "csv":
        return body
    columns = [*query.by, *(m.name for m in result.indicator.measures)]
    if result.indicator.privacy == "organisations":
        columns.append("organisations")
    columns.append("suppressed")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in body["rows"]:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{result.indicator.name}.csv"'},
    )
