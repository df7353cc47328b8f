"""The yearly coverage board (`/ops/couverture`): the campaign's cells on a map and in a
table, the progress overall and by region, the season's target line (a server-side SVG),
the operators' actions (plan a campaign, re-task a rejected or too-cloudy cell: both
journaled) and the live stream of the cells' changes. Staff only: every route depends on
`StaffDep`/`StaffPost` (the stream's guard runs before the stream starts)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response, StreamingResponse

from dinamis_portal.bootstrap import PortalContainer, PortalDep
from dinamis_portal.coverage import texts  # noqa: F401  (registers the texts)
from dinamis_portal.coverage.board import CoverageBoard
from dinamis_portal.coverage.state import (
    RETASKABLE,
    STATES,
    campaign_of_year,
    chart_svg_data,
    progress,
    progress_by_region,
    season,
)
from dinamis_portal.entrypoints.pages import render
from dinamis_portal.errors import PortalError
from dinamis_portal.ops.audit import OpsAudit
from dinamis_portal.ops.frame import BASE, done, done_notices, ops_context, required_reason
from dinamis_portal.ops.guard import StaffDep, StaffPost, resolve_staff
from dinamis_portal.ops.staff import Staff
from dinamis_portal.sessions import hash_id
from dinamis_portal.streams import take_slot

router = APIRouter(include_in_schema=False)
PATH = f"{BASE}/couverture"
done_notices("coverage-planned", "coverage-retasked")
# The symbol of each state: the map and the legend never rely on colour alone.
SYMBOLS = {
    "planned": "○",
    "acquired": "◐",
    "ingested": "◉",
    "published": "●",
    "rejected": "✕",
    "too-cloudy": "☁",
    "re-tasked": "↻",
}
OPEN_STREAMS: dict[str, int] = {}


def board_of(container: PortalContainer) -> CoverageBoard:
    found = container.coverage
    assert found is not None, "the coverage board is wired in bootstrap"
    return found


def audit_of(container: PortalContainer) -> OpsAudit:
    found = container.ops_audit
    assert found is not None, "the journal is wired in bootstrap"
    return found


def year_of(raw: str) -> int:
    if not re.fullmatch(r"20[2-9][0-9]", raw or ""):
        raise PortalError(
            "no such campaign year", code="not-found", message_fr="année de campagne inconnue", status=404
        )
    return int(raw)


def cell_of(board: CoverageBoard, raw: str) -> int:
    if not re.fullmatch(r"[0-9]{1,4}", raw or "") or int(raw) not in board.grid.cells:
        raise PortalError("no such cell", code="not-found", message_fr="maille inconnue", status=404)
    return int(raw)


def public_cell(doc: dict[str, Any]) -> dict[str, Any]:
    """What the page and the stream show of a cell (never the raw document)."""
    return {
        "cell": doc.get("cell"),
        "state": doc.get("state"),
        "region": doc.get("region"),
        "cloud": doc.get("cloud"),
        "reason_code": doc.get("reason_code"),
        "reason": doc.get("reason"),
        "scene_id": doc.get("scene_id"),
        "acquired_at": doc.get("acquired_at"),
        "ingested_at": doc.get("ingested_at"),
        "published_at": doc.get("published_at"),
        "rev": doc.get("rev"),
    }


@router.get(PATH)
async def coverage_home(request: Request, container: PortalDep, staff: StaffDep) -> Response:
    year = datetime.now(UTC).year
    lang = request.query_params.get("lang")
    suffix = f"?lang={lang}" if lang in ("fr", "en") else ""
    return RedirectResponse(f"{PATH}/{year}{suffix}", status_code=303)


async def board_context(
    request: Request, container: PortalContainer, staff: Any, year: int
) -> dict[str, Any]:
    board = board_of(container)
    campaign = campaign_of_year(year)
    cells = await board.store.cells(campaign)
    grid = board.grid
    q = request.query_params
    state = q.get("etat") or ""
    state = state if state in STATES else ""
    region = q.get("region") or ""
    region = region if region in grid.regions else ""
    shown = [
        c
        for c in cells
        if (not state or c.get("state") == state) and (not region or c.get("region") == region)
    ]
    counts = {s: sum(1 for c in cells if c.get("state") == s) for s in STATES}
    today = datetime.now(UTC).date()
    start, end = season(year)
    context = await ops_context(request, container, staff, "coverage")
    context.update(
        year=year,
        campaign=campaign,
        planned=bool(cells),
        total_grid=len(grid.cells),
        cells=cells,
        shown=shown,
        counts=counts,
        states=STATES,
        symbols=SYMBOLS,
        regions=grid.regions,
        filters={"etat": state, "region": region},
        overall=progress(cells),
        by_region=progress_by_region(cells, grid.regions),
        chart=chart_svg_data(cells, year, today),
        season_start=start,
        season_end=end,
        retaskable=RETASKABLE,
        years=[year - 1, year + 1],
        board_data=json.dumps(
            {
                "cells": {str(c["cell"]): public_cell(c) for c in cells},
                "rev": max((int(c.get("rev") or 0) for c in cells), default=0),
                "stream": f"{PATH}/{year}/flux",
                "summary": f"{PATH}/{year}/synthese",
                "grid": "/static/app/basemap/grille-couverture.geojson",
                "regions": "/static/app/basemap/regions-version-simplifiee.geojson",
                "symbols": SYMBOLS,
            },
            ensure_ascii=True,
        ).replace("<", "\\u003c"),
        day=lambda value: _day(value),
    )
    return context


def _day(value: Any) -> str:
    if not value:
        return ""
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return ""


@router.get(PATH + "/{year}")
async def coverage_board(request: Request, year: str, container: PortalDep, staff: StaffDep) -> Response:
    context = await board_context(request, container, staff, year_of(year))
    return render(request, "ops/coverage/board.html.j2", context)


@router.get(PATH + "/{year}/synthese")
async def coverage_summary(request: Request, year: str, container: PortalDep, staff: StaffDep) -> Response:
    """The progress and the chart (a fragment, fetched again by the page on changes)."""
    context = await board_context(request, container, staff, year_of(year))
    return render(request, "ops/coverage/_summary.html.j2", context)


@router.post(PATH + "/{year}/planifier")
async def plan_campaign(request: Request, year: str, container: PortalDep, staff: StaffPost) -> Response:
    y = year_of(year)
    campaign = campaign_of_year(y)
    created = await board_of(container).plan(campaign, y, staff.actor())
    await audit_of(container).record(
        staff, "coverage.plan", f"campaign:{campaign}", details={"year": y, "cells_created": created}
    )
    return done(f"{PATH}/{y}", "coverage-planned")


@router.post(PATH + "/{year}/mailles/{cell}/reprogrammer")
async def retask_cell(
    request: Request, year: str, cell: str, container: PortalDep, staff: StaffPost
) -> Response:
    y = year_of(year)
    board = board_of(container)
    number = cell_of(board, cell)
    campaign = campaign_of_year(y)
    form = await request.form()
    target = f"cell:{campaign}:{number}"
    audit = audit_of(container)
    try:
        reason = required_reason(form)
    except PortalError as exc:
        await audit.record(staff, "coverage.retask", target, outcome="refused", details={"code": exc.code})
        raise
    before = await board.store.cell(campaign, number)
    changed = await board.retask(campaign, number, staff.actor(), reason)
    if changed is None:
        state = (before or {}).get("state")
        await audit.record(
            staff,
            "coverage.retask",
            target,
            reason=reason,
            outcome="refused",
            details={"code": "not-retaskable", "state": state},
        )
        raise PortalError(
            "only a rejected or too cloudy cell can be re-tasked",
            code="not-retaskable",
            message_fr="seule une maille rejetée ou trop nuageuse peut être reprogrammée",
            status=409,
        )
    await audit.record(
        staff,
        "coverage.retask",
        target,
        reason=reason,
        details={"from": (before or {}).get("state"), "scene_id": (before or {}).get("scene_id")},
    )
    return done(f"{PATH}/{y}", "coverage-retasked", maille=str(number))


@router.get(PATH + "/{year}/mailles/{cell}")
async def coverage_row(
    request: Request, year: str, cell: str, container: PortalDep, staff: StaffDep
) -> Response:
    """One cell's table row (a fragment: the page fetches it when the cell changes)."""
    y = year_of(year)
    board = board_of(container)
    number = cell_of(board, cell)
    doc = await board.store.cell(campaign_of_year(y), number)
    if doc is None:
        raise PortalError("no such cell", code="not-found", message_fr="maille inconnue", status=404)
    context = await ops_context(request, container, staff, "coverage")
    context.update(
        c=doc, year=y, regions=board.grid.regions, symbols=SYMBOLS, retaskable=RETASKABLE, day=_day
    )
    return render(request, "ops/coverage/_row.html.j2", context)


# --- the live stream ---------------------------------------------------------------------


@router.get(PATH + "/{year}/flux")
async def coverage_stream(request: Request, year: str, container: PortalDep, staff: StaffDep) -> Response:
    """The cells' changes (Server-Sent Events `cell`, id = the change's revision): a
    heartbeat, a bounded life (the browser reconnects with `Last-Event-ID`), a few per
    session. The guard (`StaffDep`) has run before anything is streamed."""
    y = year_of(year)
    board = board_of(container)
    settings = board.settings
    raw = request.headers.get("last-event-id") or request.query_params.get("depuis") or ""
    since = int(raw) if re.fullmatch(r"[0-9]{1,18}", raw.strip()) else None  # within BSON's int64
    key = hash_id(staff.session.id)
    slot = take_slot(
        OPEN_STREAMS,
        ((key, settings.coverage_streams_per_session), ("process", settings.coverage_streams_max)),
    )
    campaign = campaign_of_year(y)
    store = container.sessions.store

    async def body() -> AsyncIterator[str]:
        try:
            async for part in stream_changes(
                board,
                campaign,
                since,
                poll_s=settings.coverage_stream_poll_s,
                heartbeat_s=settings.coverage_stream_heartbeat_s,
                max_s=settings.coverage_stream_max_s,
                alive=lambda: _alive(store, key, container, staff),
            ):
                yield part
        finally:
            slot.release()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(slot.release),
    )


async def _alive(store: Any, key: str, container: PortalContainer, staff: Staff) -> bool:
    """The session still open, and its user still staff in orders' records now."""
    record = await store.get(key)
    if record is None:
        return False
    ends = record["expires_at"]
    ends = ends if ends.tzinfo else ends.replace(tzinfo=UTC)
    if ends <= datetime.now(UTC):
        return False
    try:
        return await resolve_staff(container, staff.session) is not None
    except PortalError:
        return False


async def stream_changes(
    board: CoverageBoard,
    campaign: str,
    since: int | None,
    *,
    poll_s: float,
    heartbeat_s: float,
    max_s: float,
    alive: Any,
) -> AsyncIterator[str]:
    """The stream's events: `retry`, then every cell whose revision is above `since`
    (at start: the latest revision, when the page did not say), a heartbeat comment when
    quiet; ends after `max_s` or when the session is over (`session-ended`)."""
    yield "retry: 3000\n\n"
    started = time.monotonic()
    quiet_since = checked = started
    if since is None:
        cells = await board.store.cells(campaign)
        since = max((int(c.get("rev") or 0) for c in cells), default=0)
    while time.monotonic() - started < max_s:
        changed = await board.store.changed_since(campaign, since)
        for doc in changed:
            since = max(since, int(doc.get("rev") or 0))
            yield f"id: {since}\nevent: cell\ndata: {json.dumps(public_cell(doc), ensure_ascii=True)}\n\n"
        now = time.monotonic()
        if now - checked >= heartbeat_s:  # busy or quiet: the login and the staff standing
            checked = now
            if not await alive():
                yield "event: session-ended\ndata: {}\n\n"
                return
        if changed:
            quiet_since = now
        elif now - quiet_since >= heartbeat_s:
            yield ": heartbeat\n\n"
            quiet_since = now
        await asyncio.sleep(poll_s)
