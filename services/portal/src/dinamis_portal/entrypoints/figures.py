""" "DINAMIS en chiffres" (`/chiffres`, public) and the working group's dashboard
(`/groupe-de-travail`, staff and governance): the reporting's figures as dsfr-chart bar
charts, each with its accessible table and its CSV link, the exports and the year's note
relayed with the user's token. docs/portal-figures.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from dinamis_portal.bootstrap import PortalContainer, PortalDep
from dinamis_portal.entrypoints.pages import page_context, render
from dinamis_portal.errors import PortalError, bad_input
from dinamis_portal.figures import (
    CATEGORIES,
    WorkingGroupDep,
    build_chart,
    build_table,
    dimension_label,
    label_of,
    ordered,
    parse_choice,
    parse_year,
    pick_measure,
    summary_figures,
    value_label,
)
from dinamis_portal.figures_texts import register_texts
from dinamis_portal.i18n import Lang
from dinamis_portal.reporting_api import INDICATOR_NAME, Download, Refused, ReportingApi

register_texts()
router = APIRouter(include_in_schema=False)
PUBLIC = "/chiffres"
WG = "/groupe-de-travail"

# The public page's charts: (key, indicator, breakdown, measure hint, filtered by the year).
PUBLIC_CHARTS = (
    ("organisations", "members_organisations", ("category",), "", True),
    ("acquired", "acquisitions_requests", ("year", "sensor_family"), "acquired", False),
    ("downloads", "use_products", ("year",), "download", False),
    ("coverage", "coverage_cells", ("year",), "published", False),
)


def reporting_of(container: PortalContainer) -> ReportingApi:
    found = container.reporting
    assert found is not None, "the reporting is wired in bootstrap"
    return found


def _this_year() -> int:
    return datetime.now(UTC).year


def _years(chosen: int, known: set[int] | None = None) -> list[int]:
    now = _this_year()
    return sorted({*range(now - 5, now + 1), chosen, *(known or set())}, reverse=True)


async def _data_years(reporting: ReportingApi, catalogue: list[dict[str, Any]]) -> set[int]:
    """The years the figures hold: the first indicator publicly broken down by year, by
    year (years outside the last six are offered when there are figures for them)."""
    found = next((i for i in catalogue if "year" in (i.get("public_dimensions") or [])), None)
    if found is None:
        return set()
    answer = await reporting.indicator(found["name"], [("by", "year")], None)
    if isinstance(answer, Refused):
        return set()
    years = {str(r.get("year")) for r in answer.get("rows") or [] if isinstance(r, dict)}
    return {int(y) for y in years if y.isascii() and y.isdigit() and len(y) == 4}


def _query(params: list[tuple[str, str]]) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


async def _catalogue(reporting: ReportingApi) -> tuple[list[dict[str, Any]], PortalError | None]:
    try:
        return ordered(await reporting.catalogue()), None
    except PortalError as exc:
        return [], exc


def _refusal(refused: Refused, lang: Lang) -> dict[str, str]:
    return {"code": refused.code, "detail": refused.detail, "status": str(refused.status)}


def _panel(
    key: str,
    indicator: dict[str, Any],
    result: dict[str, Any] | Refused,
    measure_hint: str,
    caption: str,
    export_base: str,
    params: list[tuple[str, str]],
    lang: Lang,
    *,
    with_organisations: bool = False,
) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "key": key,
        "name": indicator["name"],
        "title": label_of(indicator, "title", lang, indicator["name"]),
        "definition": label_of(indicator, "definition", lang, ""),
        "caption": caption,
        "csv": f"{export_base}/{indicator['name']}.csv" + (f"?{_query(params)}" if params else ""),
        "parquet": f"{export_base}/{indicator['name']}.parquet" + (f"?{_query(params)}" if params else ""),
    }
    if isinstance(result, Refused):
        panel["refused"] = _refusal(result, lang)
        return panel
    measure = pick_measure(result, measure_hint)
    panel["chart"] = build_chart(result, measure, lang)
    panel["table"] = build_table(result, caption, lang, with_organisations=with_organisations)
    panel["measure"] = label_of(measure, "label", lang, str(measure["name"])) if measure else ""
    return panel


@router.get(PUBLIC)
async def public_figures(request: Request, container: PortalDep) -> Response:
    context = await page_context(request, container, "figures")
    lang: Lang = context["lang"]
    t = context["t"]
    year = parse_year(request.query_params.get("annee"), _this_year())
    reporting = reporting_of(container)
    catalogue, down = await _catalogue(reporting)
    summary: list[dict[str, str]] = []
    summary_refused: dict[str, str] | None = None
    if down is None:
        answer = await reporting.summary(year)
        if isinstance(answer, Refused):
            summary_refused = _refusal(answer, lang)
        else:
            summary = summary_figures(answer, lang)
    by_name = {i["name"]: i for i in catalogue}
    panels, missing = [], []
    for key, name, by, hint, per_year in PUBLIC_CHARTS:
        indicator = by_name.get(name)
        public = set(indicator.get("public_dimensions") or []) if indicator else set()
        dims = [d for d in by if d in public]
        if indicator is None or not dims:
            missing.append(t(f"figures.chart.{key}.title"))
            continue
        params: list[tuple[str, str]] = [("by", ",".join(dims))]
        if per_year and "year" in public:
            params.append(("year", str(year)))
        result = await reporting.indicator(name, params, None)
        caption = t(f"figures.chart.{key}.caption", year=year)
        panels.append(_panel(key, indicator, result, hint, caption, f"{PUBLIC}/export", params, lang))
    context.update(
        year=year,
        years=_years(year, await _data_years(reporting, catalogue) if down is None else set()),
        summary=summary,
        summary_refused=summary_refused,
        down=down is not None,
        panels=panels,
        missing=missing,
    )
    return render(request, "figures/public.html.j2", context)


@router.get(f"{PUBLIC}/export/{{filename}}")
async def public_export(filename: str, request: Request, container: PortalDep) -> Response:
    name, fmt = _split(filename)
    reporting = reporting_of(container)
    indicator = await _indicator(reporting, name)
    choice = parse_choice(request.query_params, list(indicator.get("public_dimensions") or []))
    found = await reporting.export(name, choice.params(), fmt, None)
    return _relay(found, "public, max-age=300")


@router.get(WG)
async def dashboard(request: Request, container: PortalDep, member: WorkingGroupDep) -> Response:
    context = await page_context(request, container, "working-group")
    lang: Lang = context["lang"]
    t = context["t"]
    q = request.query_params
    reporting = reporting_of(container)
    catalogue, down = await _catalogue(reporting)
    if down is not None:
        raise down
    if not catalogue:
        context.update(catalogue=[], panel=None, form=None, note=None)
        return render(request, "figures/dashboard.html.j2", context)
    names = [i["name"] for i in catalogue]
    asked = q.get("indicateur") or names[0]
    if asked not in names:
        raise bad_input(
            "unknown-indicator",
            f"indicateur inconnu du catalogue : {asked[:60]!r}",
            f"indicator not in the catalogue: {asked[:60]!r}",
        )
    indicator = catalogue[names.index(asked)]
    allowed = [d for d in indicator.get("dimensions") or [] if isinstance(d, str)]
    choice = parse_choice(q, allowed, default_by=["year"])
    note_year = parse_year(q.get("annee_note"), _first_year(choice.filters) or _this_year())
    params = choice.params()
    result = await reporting.indicator(asked, params, member.token)
    caption = t("figures.wg.caption", title=label_of(indicator, "title", lang, asked))
    panel = _panel(
        "wg", indicator, result, "", caption, f"{WG}/export", params, lang, with_organisations=True
    )
    form = {
        "dimensions": [
            {
                "name": d,
                "label": dimension_label(d, lang),
                "by": d in choice.by,
                "value": ",".join(choice.filters.get(d, [])),
                "choices": [{"value": c, "label": value_label("category", c, lang)} for c in CATEGORIES]
                if d == "category"
                else [],
            }
            for d in allowed
        ],
    }
    context.update(
        catalogue=[
            {
                "name": i["name"],
                "title": label_of(i, "title", lang, i["name"]),
                "selected": i["name"] == asked,
            }
            for i in catalogue
        ],
        indicator=asked,
        panel=panel,
        form=form,
        note={"year": note_year, "href": f"{WG}/note/{note_year}.pdf", "years": _years(note_year)},
    )
    return render(request, "figures/dashboard.html.j2", context)


@router.get(f"{WG}/export/{{filename}}")
async def wg_export(
    filename: str, request: Request, container: PortalDep, member: WorkingGroupDep
) -> Response:
    name, fmt = _split(filename)
    reporting = reporting_of(container)
    indicator = await _indicator(reporting, name)
    choice = parse_choice(request.query_params, list(indicator.get("dimensions") or []))
    found = await reporting.export(name, choice.params(), fmt, member.token)
    return _relay(found, "private, no-store")


@router.get(f"{WG}/note/{{filename}}")
async def wg_note(filename: str, container: PortalDep, member: WorkingGroupDep) -> Response:
    stem, _, suffix = filename.rpartition(".")
    if suffix != "pdf":
        raise _not_found()
    year = parse_year(stem, _this_year())
    found = await reporting_of(container).note(year, member.token)
    return _relay(found, "private, no-store")


def _first_year(filters: dict[str, list[str]]) -> int | None:
    years = filters.get("year") or []
    return int(years[0]) if years else None


def _split(filename: str) -> tuple[str, str]:
    name, _, fmt = filename.rpartition(".")
    if fmt not in ("csv", "parquet") or not INDICATOR_NAME.match(name):
        raise _not_found()
    return name, fmt


def _not_found() -> PortalError:
    return PortalError("no such export", code="not-found", message_fr="export introuvable", status=404)


async def _indicator(reporting: ReportingApi, name: str) -> dict[str, Any]:
    for indicator in await reporting.catalogue():
        if indicator.get("name") == name:
            return indicator
    raise PortalError(
        "unknown indicator", code="unknown-indicator", message_fr="indicateur inconnu", status=404
    )


def _relay(found: Download | Refused, cache: str) -> Response:
    if isinstance(found, Refused):
        status = found.status if 400 <= found.status < 600 else 502
        raise PortalError(found.detail, code=found.code, message_fr=found.detail, status=status)
    # The file name is ours (a checked indicator name or a year), never the reporting's.
    return Response(
        found.content,
        media_type=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{found.filename}"', "Cache-Control": cache},
    )
