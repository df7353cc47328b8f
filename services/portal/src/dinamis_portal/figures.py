""" "DINAMIS en chiffres" and the working group's dashboard: who may see the dashboard,
what a caller may ask (checked before anything is sent to the reporting), and how an
indicator's result becomes a chart, a table and export links — generically, for whatever
indicators and dimensions the reporting's catalogue lists.

The working group is standing DINAMIS staff (operator or admin) and the `governance` role
of users of the platform's own organisation, as the orders service's records say now
(`GET /v1/me` with the user's token on every request, like the ops console's guard — a
sibling of `ops/guard.py`, which stays staff only: governance users never get `/ops`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request

from dinamis_portal.bootstrap import PortalContainer, get_container
from dinamis_portal.entrypoints.pages import access_token
from dinamis_portal.errors import PortalError, bad_input
from dinamis_portal.i18n import Lang, text
from dinamis_portal.ops.staff import STAFF_ROLES
from dinamis_portal.sessions import Session

GOVERNANCE = "governance"

# The contract's indicators, shown first and in this order; any other the catalogue lists
# follows, by name.
CONTRACT_ORDER = (
    "members_organisations",
    "members_users",
    "acquisitions_requests",
    "acquisitions_turnaround",
    "acquisitions_rejections",
    "coverage_cells",
    "use_products",
    "use_reuse",
    "use_coverage_by_department",
    "quotas",
    "money",
)
# The dimensions the reporting knows, with how a value is checked (the same patterns as
# its engine: a value that does not match is refused here, never sent).
DIMENSIONS: dict[str, re.Pattern[str]] = {
    "year": re.compile(r"^[0-9]{4}\Z"),
    "quarter": re.compile(r"^[0-9]{4}-Q[1-4]\Z"),
    "category": re.compile(r"^[a-z-]{1,40}\Z"),
    "department": re.compile(r"^([0-9]{2,3}|2A|2B)\Z"),
    "region": re.compile(r"^[0-9]{2}\Z"),
    "sensor_family": re.compile(r"^[a-z0-9-]{1,20}\Z"),
    "collection": re.compile(r"^[a-z0-9-]{1,80}\Z"),
    "kind": re.compile(r"^[a-z_-]{1,40}\Z"),
    "funding": re.compile(r"^[a-z_-]{1,40}\Z"),
    "reason": re.compile(r"^[a-z0-9_-]{1,80}\Z"),
    "status": re.compile(r"^[a-z_-]{1,40}\Z"),
    "campaign": re.compile(r"^[A-Za-z0-9._:-]{1,80}\Z"),
    "state": re.compile(r"^[a-z_-]{1,40}\Z"),
}
CATEGORIES = ("french-public", "contractor", "french-research", "international-research", "french-private-rd")
MAX_BY = 3  # breakdowns of more dimensions are for the exports, not a chart
MAX_VALUES = 50  # values of one filter
YEAR_MIN, YEAR_MAX = 2000, 2100


# -- who may see the dashboard ---------------------------------------------------------


@dataclass(frozen=True)
class WorkingGroupMember:
    user_id: str
    roles: frozenset[str]
    token: str = field(repr=False)
    session: Session = field(repr=False)


def working_group_only() -> PortalError:
    return PortalError(
        "this page is for the DINAMIS working group (staff and governance) only",
        code="working-group-only",
        message_fr="page réservée au groupe de travail DINAMIS (équipe et gouvernance)",
        status=403,
    )


def admitted(me: dict[str, Any], staff_organisation: str) -> frozenset[str] | None:
    """The roles that admit this caller (orders' `GET /v1/me` answer), None if none does:
    standing staff with operator/admin, or `governance` held by an active user of the
    platform's own organisation (a member organisation's user is never governance)."""
    principal: dict[str, Any] = me["principal"] if isinstance(me.get("principal"), dict) else {}
    user: dict[str, Any] = me["user"] if isinstance(me.get("user"), dict) else {}
    roles = frozenset(str(r) for r in principal.get("roles") or ())
    if user.get("active") is False or principal.get("standing") == "user-inactive":
        return None
    if principal.get("standing") == "staff" and roles & STAFF_ROLES:
        return roles & (STAFF_ROLES | {GOVERNANCE})
    if (
        principal.get("standing") == GOVERNANCE
        and GOVERNANCE in roles
        and principal.get("organisation_id") == staff_organisation
    ):
        return frozenset({GOVERNANCE})
    return None


async def resolve_working_group(
    container: PortalContainer, session: Session | None
) -> WorkingGroupMember | None:
    """The working-group member behind this session, from orders' answer now; None when
    nobody is logged in; 403 otherwise."""
    if session is None or not session.user:
        return None
    token = await access_token(container, session)
    if token is None:
        return None
    answer = await container.orders.me_now(token)
    me: dict[str, Any] = answer if isinstance(answer, dict) else {}
    roles = admitted(me, container.settings.staff_organisation_id)
    if roles is None:
        raise working_group_only()
    principal = me.get("principal") or {}
    return WorkingGroupMember(
        user_id=str(principal.get("user_id") or ""), roles=roles, token=token, session=session
    )


async def working_group(request: Request) -> WorkingGroupMember:
    container = get_container(request)
    found = await resolve_working_group(container, await container.sessions.load(request))
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(
            status_code=303, headers={"Location": "/connexion?" + urlencode({"retour": target})}
        )
    return found


WorkingGroupDep = Annotated[WorkingGroupMember, Depends(working_group)]


# -- what a caller may ask -------------------------------------------------------------


def ordered(catalogue: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The catalogue, the contract's indicators first (in its order), then the others."""
    rank = {name: i for i, name in enumerate(CONTRACT_ORDER)}
    valid = [i for i in catalogue if isinstance(i.get("name"), str)]
    return sorted(valid, key=lambda i: (rank.get(i["name"], len(rank)), i["name"]))


def parse_year(raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{4}", raw) or not YEAR_MIN <= int(raw) <= YEAR_MAX:
        raise bad_input(
            "bad-year",
            f"année invalide : une année entre {YEAR_MIN} et {YEAR_MAX}",
            f"bad year: a year between {YEAR_MIN} and {YEAR_MAX}",
        )
    return int(raw)


@dataclass
class Choice:
    """A breakdown and filters, checked against what the indicator declares."""

    by: list[str]
    filters: dict[str, list[str]]

    def params(self) -> list[tuple[str, str]]:
        out = [("by", ",".join(self.by))] if self.by else []
        out += [(dim, ",".join(values)) for dim, values in self.filters.items() if values]
        return out


def parse_choice(query: Any, allowed: list[str], *, default_by: list[str] | None = None) -> Choice:
    """`by` (repeated or comma-separated) and one parameter per dimension (repeated or
    comma-separated values) from a query string, each checked: only the `allowed`
    dimensions, only well-formed values, a bounded number of them."""
    by: list[str] = []
    for raw in query.getlist("by"):
        for dim in str(raw).split(","):
            dim = dim.strip()
            if dim and dim not in by:
                by.append(dim)
    if not query.getlist("by") and default_by:
        by = [d for d in default_by if d in allowed]
    for dim in by:
        if dim not in allowed:
            raise bad_input(
                "unknown-dimension",
                f"répartition non disponible pour cet indicateur : {dim[:40]!r}",
                f"breakdown not available for this indicator: {dim[:40]!r}",
            )
    if len(by) > MAX_BY:
        raise bad_input(
            "too-many-dimensions",
            f"au plus {MAX_BY} dimensions à la fois (les exports donnent le reste)",
            f"at most {MAX_BY} dimensions at once (the exports give the rest)",
        )
    filters: dict[str, list[str]] = {}
    for dim in allowed:
        values = [v.strip() for raw in query.getlist(dim) for v in str(raw).split(",") if v.strip()]
        if not values:
            continue
        if len(values) > MAX_VALUES:
            raise bad_input("bad-filter", f"filtre {dim} : trop de valeurs", f"filter {dim}: too many values")
        for value in values:
            if not DIMENSIONS.get(dim, re.compile(r"^\Z")).match(value):
                raise bad_input(
                    "bad-filter",
                    f"valeur invalide pour le filtre {dim} : {value[:40]!r}",
                    f"bad value for filter {dim}: {value[:40]!r}",
                )
        filters[dim] = list(dict.fromkeys(values))
    return Choice(by=by, filters=filters)


# -- a result as a chart, a table, links -----------------------------------------------


def dimension_label(dim: str, lang: Lang) -> str:
    key = f"figures.dim.{dim}"
    try:
        return text(key, lang)
    except KeyError:
        return dim


def value_label(dim: str, value: Any, lang: Lang) -> str:
    if value is None:
        return text("figures.value.none", lang)
    if dim == "category":
        try:
            return text(f"figures.category.{value}", lang)
        except KeyError:
            return str(value)
    return str(value)


def fmt_number(value: Any, lang: Lang) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not value.is_integer():
        shown = f"{value:,.2f}".rstrip("0").rstrip(".")
    else:
        shown = f"{int(value):,}"
    if lang == "fr":
        shown = shown.replace(",", "\u202f").replace(".", ",")
    return shown


def label_of(item: dict[str, Any], key: str, lang: Lang, fallback: str) -> str:
    found = item.get(key)
    if isinstance(found, dict):
        chosen = found.get(lang) or found.get("fr")
        if isinstance(chosen, str) and chosen:
            return chosen
    return fallback


def pick_measure(result: dict[str, Any], hint: str = "") -> dict[str, Any] | None:
    """The measure a chart draws: the first whose name holds `hint`, else the first."""
    measures = [m for m in result.get("measures") or [] if isinstance(m, dict) and m.get("name")]
    if not measures:
        return None
    return next((m for m in measures if hint and hint in str(m["name"])), measures[0])


@dataclass
class Table:
    caption: str
    headers: list[str]
    rows: list[list[dict[str, Any]]]  # cells: {"text", "header" (row header), "suppressed"}
    suppressed: int


@dataclass
class Chart:
    """A dsfr-chart `<bar-chart>`: its attributes as JSON text (rendered escaped into the
    element's attributes: no script, no inline style)."""

    x: str
    y: str
    name: str
    stacked: bool
    unit: str
    empty: bool


def build_table(
    result: dict[str, Any], caption: str, lang: Lang, *, with_organisations: bool = False
) -> Table:
    by = [d for d in result.get("by") or [] if isinstance(d, str)]
    measures = [m for m in result.get("measures") or [] if isinstance(m, dict) and m.get("name")]
    headers = [dimension_label(d, lang) for d in by]
    headers += [label_of(m, "label", lang, str(m["name"])) for m in measures]
    if with_organisations and result.get("privacy") == "organisations":
        headers.append(text("figures.organisations", lang))
    secret = text("figures.secret", lang)
    rows: list[list[dict[str, Any]]] = []
    for row in result.get("rows") or []:
        if not isinstance(row, dict):
            continue
        suppressed = bool(row.get("suppressed"))
        cells: list[dict[str, Any]] = [
            {"text": value_label(d, row.get(d), lang), "header": i == 0, "suppressed": False}
            for i, d in enumerate(by)
        ]
        for m in measures:
            shown = secret if suppressed else fmt_number(row.get(m["name"]), lang)
            cells.append({"text": shown, "header": False, "suppressed": suppressed})
        if with_organisations and result.get("privacy") == "organisations":
            shown = secret if suppressed else fmt_number(row.get("organisations"), lang)
            cells.append({"text": shown, "header": False, "suppressed": suppressed})
        rows.append(cells)
    return Table(caption, headers, rows, int(result.get("suppressed_cells") or 0))


def build_chart(result: dict[str, Any], measure: dict[str, Any] | None, lang: Lang) -> Chart:
    """One bar per value of the first dimension; one series per value of the second (stacked
    bars), else one series. A suppressed cell draws no bar (null), its table says why."""
    by = [d for d in result.get("by") or [] if isinstance(d, str)]
    rows = [r for r in result.get("rows") or [] if isinstance(r, dict)]
    name = str(measure["name"]) if measure else ""
    label = label_of(measure, "label", lang, name) if measure else ""
    unit = str(measure.get("unit") or "") if measure else ""

    def value(row: dict[str, Any]) -> float | None:
        got = row.get(name)
        return None if row.get("suppressed") or not isinstance(got, (int, float)) else float(got)

    if len(by) > 2:  # a chart of three breakdowns is unreadable: the table and exports only
        return Chart(x="[]", y="[]", name="[]", stacked=False, unit=unit, empty=True)
    if not by:
        xs, series, names = [label], [[value(rows[0]) if rows else None]], [label]
    else:
        first = by[0]
        xs_raw = list(dict.fromkeys(r.get(first) for r in rows))
        xs = [value_label(first, v, lang) for v in xs_raw]
        if len(by) >= 2:
            second = by[1]
            groups = list(dict.fromkeys(r.get(second) for r in rows))
            series = []
            for g in groups:
                cells = {r.get(first): value(r) for r in rows if r.get(second) == g}
                series.append([cells.get(x) for x in xs_raw])
            names = [value_label(second, g, lang) for g in groups]
        else:
            cells = {r.get(first): value(r) for r in rows}
            series, names = [[cells.get(x) for x in xs_raw]], [label]
    empty = not any(v is not None for s in series for v in s)
    return Chart(
        x=json.dumps([xs] * len(series), ensure_ascii=False),
        y=json.dumps(series),
        name=json.dumps(names, ensure_ascii=False),
        stacked=len(series) > 1,
        unit=unit,
        empty=empty,
    )


def summary_figures(summary: dict[str, Any], lang: Lang) -> list[dict[str, str]]:
    """The key figures of `GET /v1/summary`, whatever their shape: a list of figures
    (`name`, `label`, `value`, `unit`, `suppressed`), or a mapping name -> value or figure."""
    found = summary.get("figures", summary.get("key_figures"))
    items: list[tuple[str, Any]] = []
    if isinstance(found, list):
        items = [(str(f.get("name") or ""), f) for f in found if isinstance(f, dict)]
    elif isinstance(found, dict):
        items = list(found.items())
    else:
        skip = {"year", "computed_at", "archive", "min_organisations"}
        items = [(k, v) for k, v in summary.items() if k not in skip]
    out = []
    for name, raw in items:
        figure = raw if isinstance(raw, dict) else {"value": raw}
        value = figure.get("value")
        if not (value is None or isinstance(value, (int, float))) or isinstance(value, bool):
            continue
        suppressed = bool(figure.get("suppressed")) or (value is None and "suppressed" in figure)
        label = label_of(figure, "label", lang, "") or label_of(figure, "title", lang, "")
        if not label:
            try:
                label = text(f"figures.summary.{name}", lang)
            except KeyError:
                label = name.replace("_", " ")
        out.append(
            {
                "label": label,
                "value": text("figures.secret", lang) if suppressed else fmt_number(value, lang),
                "unit": str(figure.get("unit") or ""),
                "suppressed": "1" if suppressed else "",
            }
        )
    return out
