"""The console's quotas section (`/ops/quotas`): every organisation's quotas (sensor
family x period) in a table and a chart, one quota's ledger (every movement and its
reason, and its evolution as a chart), the allocation and adjustment form (a reason
required), and CSV exports of both (French headers, safe against formula injection).

Orders keeps the ledger and decides each movement (staff only, never below what is
committed) with the operator's own token; every movement asked for, and every export,
is written to the operators' journal, refused ones with orders' code."""

from __future__ import annotations

import csv
import io
import math
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from dinamis_portal.bootstrap import PortalContainer, PortalDep
from dinamis_portal.entrypoints.ops_members import api_of, journal, refusal_of, status_of
from dinamis_portal.entrypoints.organisation import km2_text, quota_chart
from dinamis_portal.entrypoints.pages import render
from dinamis_portal.errors import PortalError, bad_input
from dinamis_portal.i18n import Lang, text
from dinamis_portal.ops import members_texts  # noqa: F401  (registers the texts)
from dinamis_portal.ops.frame import BASE, done, done_notices, field, ops_context, required_reason
from dinamis_portal.ops.guard import StaffDep, StaffPost
from dinamis_portal.ops.staff import Staff
from dinamis_portal.organisation_api import SAFE_ID, Refused

router = APIRouter(include_in_schema=False)
PATH = f"{BASE}/quotas"
FAMILIES = ("pleiades", "pleiades-neo", "spot-6-7")
PERIOD = re.compile(r"^[0-9]{4}(-Q[1-4])?\Z")
CHART_MAX = 40  # bars drawn; the table lists every quota
MAX_KM2 = 10_000_000.0  # more than France: a typo, refused before orders is asked
TREND_W, TREND_H, TREND_PAD = 640, 220, 48
LABEL_EXTRA = 150  # px added to the members' chart label column

done_notices("quota-allocate", "quota-adjust")


def family_label(family: str, lang: Lang) -> str:
    return text(f"family.{family}", lang) if family in FAMILIES else family


def _filters(request: Request) -> dict[str, str]:
    q = request.query_params
    found = {
        "organisation_id": (q.get("organisation") or "").strip(),
        "family": (q.get("famille") or "").strip(),
        "period": (q.get("periode") or "").strip().upper(),
    }
    if found["organisation_id"] and not SAFE_ID.match(found["organisation_id"]):
        raise bad_input("bad-organisation", "identifiant d'organisation invalide", "invalid organisation id")
    if found["family"] and found["family"] not in FAMILIES:
        raise bad_input("bad-family", "famille de capteurs inconnue", "unknown sensor family")
    if found["period"] and not PERIOD.match(found["period"]):
        raise bad_input(
            "bad-period", "période invalide (AAAA ou AAAA-Q1 à Q4)", "invalid period (YYYY or YYYY-Q1..Q4)"
        )
    return found


def _quota_key(org_id: str, family: str, period: str) -> tuple[str, str, str]:
    if not SAFE_ID.match(org_id or ""):
        raise bad_input("bad-organisation", "identifiant d'organisation invalide", "invalid organisation id")
    if family not in FAMILIES:
        raise bad_input("bad-family", "famille de capteurs inconnue", "unknown sensor family")
    if not PERIOD.match(period or ""):
        raise bad_input(
            "bad-period", "période invalide (AAAA ou AAAA-Q1 à Q4)", "invalid period (YYYY or YYYY-Q1..Q4)"
        )
    return org_id, family, period


def quota_target(org_id: str, family: str, period: str) -> str:
    """How the journal names a quota (characters its exact filter accepts)."""
    return f"quota:{org_id}/{family}/{period}"


def wide_chart(quotas: list[dict[str, Any]], label: Any) -> dict[str, Any]:
    """The members' quota chart (`quota_chart`) with a wider label column: the console's
    labels name the organisation too."""
    chart = quota_chart(quotas, label)
    for bar in chart["bars"]:
        for part in bar["parts"]:
            part["x"] = round(part["x"] + LABEL_EXTRA, 2)
        bar["end"] = round(bar["end"] + LABEL_EXTRA, 2)
    chart["width"] += LABEL_EXTRA
    return chart


def ledger_path(org_id: str, family: str, period: str) -> str:
    return f"{PATH}/{quote(org_id, safe='')}/{family}/{period}"


# --- the table across organisations ------------------------------------------------------


@router.get(PATH)
async def quotas_page(request: Request, container: PortalDep, staff: StaffDep) -> Response:
    return await _quotas_page(request, container, staff)


async def _quotas_page(
    request: Request,
    container: PortalContainer,
    staff: Staff,
    refusal: Refused | PortalError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    filters = _filters(request)
    context = await ops_context(request, container, staff, "quotas")
    lang: Lang = context["lang"]
    quotas: list[dict[str, Any]] = []
    try:
        quotas = await api_of(container).quotas(staff.token, filters)
    except Refused as exc:
        context["refusal"] = refusal_of(exc)
    if refusal is not None:
        context["refusal"] = refusal_of(refusal)
    quotas.sort(key=lambda q: (str(q.get("organisation_id")), str(q.get("family")), str(q.get("period"))))

    def label(q: dict[str, Any]) -> str:
        return f"{q.get('organisation_id')} · {family_label(str(q.get('family')), lang)} {q.get('period')}"

    context.update(
        quotas=quotas,
        chart=wide_chart(quotas[:CHART_MAX], label) if quotas else None,
        chart_more=len(quotas) > CHART_MAX,
        chart_max=CHART_MAX,
        filters=filters,
        families=FAMILIES,
        family_label=lambda f: family_label(f, lang),
        export_query=_query(filters),
        form=form
        or {
            "organisation": filters["organisation_id"],
            "family": filters["family"],
            "period": filters["period"],
        },
        km2=lambda v: km2_text(v, lang),
    )
    return render(request, "ops/quotas/list.html.j2", context, status=status_of(refusal) if refusal else 200)


def _query(filters: dict[str, str]) -> str:
    names = {"organisation_id": "organisation", "family": "famille", "period": "periode"}
    parts = [f"{names[k]}={quote(v, safe='')}" for k, v in filters.items() if v]
    return ("?" + "&".join(parts)) if parts else ""


# --- one quota's ledger ----------------------------------------------------------------


@router.get(PATH + "/{org_id}/{family}/{period}")
async def ledger_page(
    request: Request, container: PortalDep, staff: StaffDep, org_id: str, family: str, period: str
) -> Response:
    return await _ledger_page(request, container, staff, *_quota_key(org_id, family, period))


async def _ledger_page(
    request: Request,
    container: PortalContainer,
    staff: Staff,
    org_id: str,
    family: str,
    period: str,
    refusal: Refused | PortalError | None = None,
) -> Response:
    try:
        ledger = await api_of(container).ledger(staff.token, org_id, family, period)
    except Refused as exc:
        raise exc.as_error() from exc
    context = await ops_context(request, container, staff, "quotas")
    lang: Lang = context["lang"]
    if refusal is not None:
        context["refusal"] = refusal_of(refusal)
    quota = {**ledger, "organisation_id": org_id, "family": family, "period": period}
    context.update(
        quota=quota,
        entries=list(ledger.get("entries") or []),
        chart=quota_chart([quota], lambda q: f"{family_label(family, lang)} {period}"),
        trend=trend_chart(list(ledger.get("entries") or [])),
        chart_more=False,
        family_name=family_label(family, lang),
        path=ledger_path(org_id, family, period),
        families=FAMILIES,
        family_label=lambda f: family_label(f, lang),
        form={"organisation": org_id, "family": family, "period": period},
        km2=lambda v: km2_text(v, lang),
    )
    return render(
        request, "ops/quotas/ledger.html.j2", context, status=status_of(refusal) if refusal else 200
    )


def trend_chart(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Allocated and available after each movement, as two step lines (server-side SVG,
    attributes only): x = the movement's rank, y = km² to the scale of the largest."""
    if not entries:
        return None
    points = []
    for e in entries:
        after = e.get("balance_after") or {}
        points.append((float(after.get("allocated") or 0), float(after.get("available") or 0)))
    top = max([max(a, v) for a, v in points] + [1.0])
    inner_w, inner_h = TREND_W - 2 * TREND_PAD, TREND_H - 2 * TREND_PAD
    step = inner_w / max(len(points), 1)

    def y(value: float) -> float:
        return round(TREND_PAD + inner_h * (1 - max(value, 0.0) / top), 2)

    def line(index: int) -> str:
        coords: list[str] = []
        for i, values in enumerate(points):
            x0, x1 = round(TREND_PAD + i * step, 2), round(TREND_PAD + (i + 1) * step, 2)
            coords += [f"{x0},{y(values[index])}", f"{x1},{y(values[index])}"]
        return " ".join(coords)

    ticks = [{"y": y(top * f), "value": top * f} for f in (0.0, 0.5, 1.0)]
    marks = [
        {"x": round(TREND_PAD + (i + 0.5) * step, 2), "seq": e.get("seq")}
        for i, e in enumerate(entries)
        if len(entries) <= 24 or i % math.ceil(len(entries) / 24) == 0
    ]
    return {
        "width": TREND_W,
        "height": TREND_H,
        "pad": TREND_PAD,
        "right": TREND_W - TREND_PAD,
        "bottom": TREND_H - TREND_PAD,
        "allocated": line(0),
        "available": line(1),
        "ticks": ticks,
        "marks": marks,
    }


# --- allocate, adjust ------------------------------------------------------------------


def parse_km2(raw: str) -> float:
    try:
        value = float(raw.replace("\u202f", "").replace(" ", "").replace(",", "."))
    except ValueError as exc:
        raise bad_input("bad-area", "surface illisible (km², ex. 250 ou 12,5)", "unreadable area") from exc
    if not math.isfinite(value) or value == 0 or abs(value) > MAX_KM2:
        raise bad_input("bad-area", "surface invalide : non nulle, au plus 10 000 000 km²", "invalid area")
    return round(value, 6)


@router.post(PATH)
async def allocate(request: Request, container: PortalDep, staff: StaffPost) -> Response:
    form = await request.form()
    org_id, family, period = (
        field(form, "organisation", 200),
        field(form, "family", 20),
        field(form, "period", 7).upper(),
    )
    kind = field(form, "kind", 10)
    reason = field(form, "reason", 2000)
    target = quota_target(org_id, family, period)
    action = "quota.adjust" if kind == "adjust" else "quota.allocate"
    details: dict[str, Any] = {"km2": field(form, "km2", 40), "kind": kind}
    on_ledger = bool(field(form, "from_ledger", 3))
    try:
        _quota_key(org_id, family, period)
        if kind not in ("allocate", "adjust"):
            raise bad_input("bad-kind", "mouvement inconnu (allocation ou ajustement)", "unknown movement")
        km2 = parse_km2(field(form, "km2", 40))
        details["km2"] = km2
        if kind == "allocate" and km2 < 0:
            raise bad_input(
                "bad-area",
                "une allocation est positive : un retrait est un ajustement",
                "allocations are positive",
            )
        body = {"km2": km2, "reason": required_reason(form), "adjustment": kind == "adjust"}
        await api_of(container).allocate(staff.token, org_id, family, period, body)
    except (Refused, PortalError) as exc:
        await journal(container, staff, action, target, reason, details, exc)
        kept = {
            k: field(form, k, 2000) for k in ("organisation", "family", "period", "km2", "kind", "reason")
        }
        if on_ledger and SAFE_ID.match(org_id) and family in FAMILIES and PERIOD.match(period):
            return await _ledger_page(request, container, staff, org_id, family, period, exc)
        return await _quotas_page(request, container, staff, exc, kept)
    await journal(container, staff, action, target, reason, details)
    return done(ledger_path(org_id, family, period), f"quota-{kind}")


# --- CSV exports -----------------------------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A text cell a spreadsheet will not run: one starting with = + - @ (or a tab, a
    carriage return) is prefixed with a quote (OWASP's CSV injection advice)."""
    shown = "" if value is None else str(value)
    return "'" + shown if shown.startswith(FORMULA_START) else shown


def number_cell(value: Any) -> str:
    """A number the portal formats itself (never the upstream's text): French decimal
    comma; a negative adjustment stays a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(number):
        return ""
    return f"{number:.6f}".rstrip("0").rstrip(".").replace(".", ",")


def csv_response(headers: list[str], rows: list[list[str]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_cell(h) for h in headers])
    writer.writerows(rows)
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM: spreadsheets then read UTF-8 (accents, km²)
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(PATH + "/export.csv")
async def export_quotas(request: Request, container: PortalDep, staff: StaffDep) -> Response:
    filters = _filters(request)
    try:
        quotas = await api_of(container).quotas(staff.token, filters)
    except Refused as exc:
        await journal(container, staff, "quota.export", "quotas", "", dict(filters), exc)
        raise exc.as_error() from exc
    quotas.sort(key=lambda q: (str(q.get("organisation_id")), str(q.get("family")), str(q.get("period"))))
    t = lambda key: text(key, "fr")  # noqa: E731  (French headers, whatever the page language)
    headers = [t(f"opsq.csv.{k}") for k in ("org", "org_name", "org_status", "family", "period")] + [
        t(f"opsq.csv.{k}") for k in ("allocated", "reserved", "consumed", "available")
    ]
    rows = [
        [
            safe_cell(q.get(k))
            for k in ("organisation_id", "organisation_name", "organisation_status", "family", "period")
        ]
        + [number_cell(q.get(f"{k}_km2")) for k in ("allocated", "reserved", "consumed", "available")]
        for q in quotas
    ]
    await journal(container, staff, "quota.export", "quotas", "", {**filters, "rows": len(rows)})
    return csv_response(headers, rows, f"quotas-dinamis-{datetime.now():%Y%m%d}.csv")


@router.get(PATH + "/{org_id}/{family}/{period}/export.csv")
async def export_ledger(
    request: Request, container: PortalDep, staff: StaffDep, org_id: str, family: str, period: str
) -> Response:
    org_id, family, period = _quota_key(org_id, family, period)
    target = quota_target(org_id, family, period)
    try:
        ledger = await api_of(container).ledger(staff.token, org_id, family, period)
    except Refused as exc:
        await journal(container, staff, "quota.export", target, "", {}, exc)
        raise exc.as_error() from exc
    t = lambda key: text(key, "fr")  # noqa: E731
    headers = [
        t(f"opsq.csv.{k}") for k in ("seq", "at", "kind", "km2", "request", "reason", "by", "available_after")
    ]
    rows = []
    for e in ledger.get("entries") or []:
        kind = str(e.get("kind") or "")
        rows.append(
            [
                number_cell(e.get("seq")),
                safe_cell(e.get("at")),
                safe_cell(
                    text(f"kind.{kind}", "fr")
                    if kind in ("allocate", "adjust", "reserve", "consume", "release")
                    else kind
                ),
                number_cell(e.get("km2")),
                safe_cell(e.get("request_id")),
                safe_cell(e.get("reason")),
                safe_cell(e.get("by")),
                number_cell((e.get("balance_after") or {}).get("available")),
            ]
        )
    await journal(container, staff, "quota.export", target, "", {"rows": len(rows)})
    return csv_response(headers, rows, f"quota-{org_id}-{family}-{period}.csv")


# The memberships and quotas sections, as one router for the app's list.
from dinamis_portal.entrypoints import ops_members  # noqa: E402

members_and_quotas = APIRouter(include_in_schema=False)
members_and_quotas.include_router(ops_members.router)
members_and_quotas.include_router(router)
