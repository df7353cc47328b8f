"""The ops console's frame: its home, the operators' journal, the announcement and the
maintenance mode. Every route depends on `StaffDep`/`StaffPost` (ops/guard.py): a
non-staff user gets 403 before anything is read; tests/integration/test_portal_ops.py
checks it on every `/ops` route of the app."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, time
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from dinamis_portal.bootstrap import PortalContainer, PortalDep
from dinamis_portal.entrypoints.pages import render
from dinamis_portal.errors import bad_input
from dinamis_portal.ops.audit import OpsAudit
from dinamis_portal.ops.frame import BASE, done, field, ops_context
from dinamis_portal.ops.guard import StaffDep, StaffPost
from dinamis_portal.ops.notices import SEVERITIES, Announcement, Maintenance, NoticeStore

router = APIRouter(include_in_schema=False)
JOURNAL_PAGE = 50


def audit_of(container: PortalContainer) -> OpsAudit:
    found = container.ops_audit
    assert found is not None, "the journal is wired in bootstrap"
    return found


def notices_of(container: PortalContainer) -> NoticeStore:
    found = container.notices
    assert found is not None, "the notices store is wired in bootstrap"
    return found


@router.get(BASE)
async def home(request: Request, container: PortalDep, staff: StaffDep) -> Response:
    context = await ops_context(request, container, staff, "home")
    context.update(recent=await audit_of(container).entries(limit=10))
    return render(request, "ops/home.html.j2", context)


@router.get(f"{BASE}/journal")
async def journal(request: Request, container: PortalDep, staff: StaffDep) -> Response:
    q = request.query_params
    before = _cursor(q.get("avant", ""), q.get("apres_id", ""))
    filters = {k: (q.get(k) or "").strip()[:320] for k in ("action", "operateur", "cible")}
    entries = await audit_of(container).entries(
        action=filters["action"] or None,
        actor=filters["operateur"] or None,
        target=filters["cible"] or None,
        before=before,
        limit=JOURNAL_PAGE + 1,
    )
    context = await ops_context(request, container, staff, "journal")
    shown = entries[:JOURNAL_PAGE]
    # The next page starts after the last entry shown (its time and id: none is skipped).
    older = (
        {"avant": shown[-1].at.isoformat(), "apres_id": shown[-1].id} if len(entries) > JOURNAL_PAGE else None
    )
    context.update(entries=shown, filters=filters, older=older)
    return render(request, "ops/journal.html.j2", context)


def _cursor(at: str, entry_id: str) -> tuple[datetime, str] | None:
    if not at:
        return None
    try:
        when = datetime.fromisoformat(at)
    except ValueError as exc:
        raise bad_input("bad-date", "date « avant » illisible", "unreadable 'avant' date") from exc
    return (when if when.tzinfo else when.replace(tzinfo=UTC)), entry_id[:64] or "~"


@router.get(f"{BASE}/annonces")
async def notices_page(request: Request, container: PortalDep, staff: StaffDep) -> Response:
    context = await ops_context(request, container, staff, "announcements")
    context.update(site=await notices_of(container).current(fresh=True), severities=SEVERITIES)
    return render(request, "ops/announcements.html.j2", context)


def _until(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        day = datetime.fromisoformat(raw).date()
    except ValueError as exc:
        raise bad_input(
            "bad-date", "date de fin illisible (AAAA-MM-JJ)", "unreadable end date (YYYY-MM-DD)"
        ) from exc
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _action(form: FormData, allowed: tuple[str, ...]) -> str:
    action = field(form, "action", 20)
    if action not in allowed:
        raise bad_input("bad-action", "action inconnue", "unknown action")
    return action


@router.post(f"{BASE}/annonces")
async def set_announcement(request: Request, container: PortalDep, staff: StaffPost) -> Response:
    form = await request.form()
    store = notices_of(container)
    action = _action(form, ("publish", "withdraw"))
    previous = (await store.current(fresh=True)).announcement
    was = asdict(previous) if previous else None
    if action == "withdraw":
        await store.set_announcement(None, staff.user_id)
        await audit_of(container).record(
            staff, "announcement.withdraw", "site:announcement", details={"withdrawn": _json(was)}
        )
        return done(f"{BASE}/annonces", "announcement-withdrawn")
    text_fr = field(form, "text_fr", 1000)
    if not text_fr:
        raise bad_input(
            "text-required", "le texte français de l'annonce est obligatoire", "the French text is required"
        )
    severity = field(form, "severity", 20)
    if severity not in SEVERITIES:
        raise bad_input("bad-severity", "type d'annonce inconnu", "unknown announcement kind")
    until = _until(field(form, "until", 10))
    announcement = Announcement(text_fr, field(form, "text_en", 1000), severity, until)
    await store.set_announcement(announcement, staff.user_id)
    await audit_of(container).record(
        staff,
        "announcement.set",
        "site:announcement",
        details={"announcement": _json(asdict(announcement)), "previous": _json(was)},
    )
    return done(f"{BASE}/annonces", "announcement")


@router.post(f"{BASE}/maintenance")
async def set_maintenance(request: Request, container: PortalDep, staff: StaffPost) -> Response:
    form = await request.form()
    store = notices_of(container)
    on = _action(form, ("start", "stop")) == "start"
    maintenance = (
        Maintenance(True, field(form, "message_fr", 1000), field(form, "message_en", 1000), datetime.now(UTC))
        if on
        else Maintenance()
    )
    await store.set_maintenance(maintenance, staff.user_id)
    await audit_of(container).record(
        staff,
        "maintenance.start" if on else "maintenance.end",
        "site:maintenance",
        reason=maintenance.message_fr,
        details={"message_en": maintenance.message_en} if maintenance.message_en else {},
    )
    return done(f"{BASE}/annonces", "maintenance-on" if on else "maintenance-off")


def _json(value: Any) -> Any:
    """Dates as ISO text (the journal's details are shown as JSON)."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value.isoformat() if isinstance(value, datetime) else value
