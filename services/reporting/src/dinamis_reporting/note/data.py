"""What the note shows, computed from the lake: the archive's state, the key figures of
the year against the previous one, and one section per indicator of the catalogue
(the contract's indicators first, in the contract's order, then any other by name).

Everything goes through `Indicators.compute(..., public=True)`: the note is a public
document, so it breaks indicators down by their *public* dimensions only, and every
cell of fewer than the minimum of organisations is suppressed by the engine (never
recomputed here: no measure is summed or averaged in Python). Same archive, same
catalogue → same figures."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from dinamis_reporting.indicators.engine import Indicator, Indicators, Measure, Query, ordered

log = logging.getLogger(__name__)

YEARS_SHOWN = 5  # the by-year tables: the note's year and the four before
MIN_YEAR = 2015  # DINAMIS's first year


@dataclass(frozen=True)
class ArchiveState:
    """The archive the note was computed on (printed in the note; the cache key)."""

    events: int
    files: int
    first_event: datetime | None
    last_event: datetime | None
    fingerprint: str  # of the lake's files (key and etag of each)
    versions: tuple[tuple[str, int], ...]  # (indicator, version)

    @property
    def key(self) -> str:
        text = repr((self.events, self.files, self.last_event, self.fingerprint, self.versions))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def archive_state(con: duckdb.DuckDBPyConnection, indicators: Indicators) -> ArchiveState:
    row = con.execute("SELECT count(*), min(time), max(time) FROM events").fetchone()
    assert row is not None
    files = con.execute("SELECT key, etag FROM archive_files ORDER BY key").fetchall()
    digest = hashlib.sha256()
    for key, etag in files:
        digest.update(f"{key}\t{etag}\n".encode())
    return ArchiveState(
        events=int(row[0]),
        files=len(files),
        first_event=_utc(row[1]),
        last_event=_utc(row[2]),
        fingerprint=digest.hexdigest()[:16],
        versions=tuple((i.name, i.version) for i in ordered(indicators.catalogue)),
    )


def _utc(value: Any) -> datetime | None:
    return value.astimezone(UTC) if isinstance(value, datetime) else None


@dataclass
class Table:
    """One breakdown of an indicator: `dim` is None for the indicator's total."""

    title: str
    dim: str | None
    measures: tuple[Measure, ...]
    rows: list[dict[str, Any]]
    suppressed: int
    privacy: str
    chart: str | None = None  # "years" (a series over years) or "bar" (a breakdown)


@dataclass
class Section:
    indicator: Indicator
    tables: list[Table] = field(default_factory=list)
    remark: str | None = None
    failed: bool = False


@dataclass
class KeyFigure:
    indicator: Indicator
    measure: Measure
    previous: Any  # value of year-1 (None: no data; "s": suppressed)
    current: Any


@dataclass
class NoteData:
    year: int
    generated_at: datetime
    state: ArchiveState
    min_organisations: int
    key_figures: list[KeyFigure]
    sections: list[Section]


def collect(
    con: duckdb.DuckDBPyConnection,
    indicators: Indicators,
    year: int,
    *,
    generated_at: datetime | None = None,
) -> NoteData:
    """Compute every figure of the note for `year` (blocking: run it in a thread)."""
    state = archive_state(con, indicators)
    years = [str(y) for y in range(max(MIN_YEAR, year - YEARS_SHOWN + 1), year + 1)]
    sections: list[Section] = []
    figures: list[KeyFigure] = []
    for ind in ordered(indicators.catalogue):
        try:
            section, key_figures = _section(con, indicators, ind, year, years)
        except duckdb.Error:
            # One indicator's SQL failing must not take the whole note (a public route)
            # down: its chapter says so, the service's log has the error.
            log.exception("note %s: indicator %s failed", year, ind.name)
            section = Section(ind, failed=True)
            section.remark = (
                "Indicateur non calculé : sa requête a échoué sur cette archive (erreur consignée"
                " dans le journal du service)."
            )
            key_figures = []
        sections.append(section)
        figures += key_figures
    return NoteData(
        year=year,
        generated_at=(generated_at or datetime.now(UTC)).astimezone(UTC),
        state=state,
        min_organisations=indicators.min_organisations,
        key_figures=figures,
        sections=sections,
    )


def _section(
    con: duckdb.DuckDBPyConnection, indicators: Indicators, ind: Indicator, year: int, years: list[str]
) -> tuple[Section, list[KeyFigure]]:
    section = Section(ind)
    figures: list[KeyFigure] = []
    public = ind.public_dimensions
    if "year" in public:
        by_year = _table(
            con, indicators, ind, f"Par année, {years[0]} à {years[-1]}", "year", {"year": tuple(years)}
        )
        present = {r["year"] for r in by_year.rows}
        by_year.rows += [_empty(ind, "year", y) for y in years if y not in present]
        by_year.rows.sort(key=lambda r: r["year"])
        by_year.chart = "years"
        section.tables.append(by_year)
        rows = {r["year"]: r for r in by_year.rows}
        for m in ind.measures:
            figures.append(
                KeyFigure(ind, m, _value(rows.get(str(year - 1)), m), _value(rows.get(str(year)), m))
            )
        for dim in public:
            if dim != "year":
                label = DIM_LABELS.get(dim, dim).lower()
                t = _table(con, indicators, ind, f"Par {label}, année {year}", dim, {"year": (str(year),)})
                t.chart = "bar"
                section.tables.append(t)
    else:
        section.remark = (
            "Cet indicateur n'est pas publié par année : les valeurs portent sur toute la période"
            " couverte par l'archive."
        )
        for dim in public:
            t = _table(con, indicators, ind, f"Par {DIM_LABELS.get(dim, dim).lower()}", dim, {})
            t.chart = "bar"
            section.tables.append(t)
        if not public:
            section.tables.append(_table(con, indicators, ind, "Ensemble", None, {}))
    return section, figures


def _table(
    con: duckdb.DuckDBPyConnection,
    indicators: Indicators,
    ind: Indicator,
    title: str,
    dim: str | None,
    filters: dict[str, tuple[str, ...]],
) -> Table:
    query = Query(by=(dim,) if dim else (), filters=filters)
    result = indicators.compute(con.cursor(), ind.name, query, public=True)
    rows = result.rows
    if dim == "category":  # the working group's order of the categories, not the codes'
        order = list(CATEGORY_LABELS)
        rows.sort(key=lambda r: order.index(r["category"]) if r["category"] in order else len(order))
    return Table(title, dim, ind.measures, rows, result.suppressed, ind.privacy)


def _empty(ind: Indicator, dim: str, value: str) -> dict[str, Any]:
    """A year without any fact: shown as "—" (no data), not suppressed."""
    return {dim: value, **{m.name: None for m in ind.measures}, "suppressed": False, "empty": True}


def _value(row: dict[str, Any] | None, m: Measure) -> Any:
    if row is None or row.get("empty"):
        return None
    if row.get("suppressed"):
        return "s"
    return row.get(m.name)


DIM_LABELS = {
    "year": "Année",
    "quarter": "Trimestre",
    "category": "Catégorie",
    "department": "Département",
    "region": "Région",
    "sensor_family": "Famille de capteurs",
    "collection": "Collection",
    "kind": "Type",
    "funding": "Financement",
    "reason": "Motif",
    "status": "Statut",
    "campaign": "Campagne",
    "state": "État",
}
CATEGORY_LABELS = {
    "french-public": "Acteurs publics",
    "contractor": "Prestataires de la commande publique",
    "french-research": "Recherche française",
    "international-research": "Recherche internationale",
    "french-private-rd": "R&D privée française",
}
# Statuses and states the events carry (organisations, requests, coverage cells).
STATUS_LABELS = {
    "pending": "en attente",
    "active": "active",
    "refused": "refusée",
    "suspended": "suspendue",
    "expired": "expirée",
    "submitted": "soumise",
    "under_review": "en instruction",
    "needs_cofinancing": "cofinancement requis",
    "approved": "approuvée",
    "rejected": "rejetée",
    "in_progress": "en cours",
    "fulfilled": "satisfaite",
    "partially_fulfilled": "partiellement satisfaite",
    "cancelled": "annulée",
    "planned": "planifiée",
    "acquired": "acquise",
    "published": "publiée",
}
VALUE_LABELS = {
    "status": STATUS_LABELS,
    "state": STATUS_LABELS,
    "category": CATEGORY_LABELS,
    "kind": {"archive": "Archive", "tasking": "Programmation"},
    "funding": {"quota": "Quota", "cofinancing": "Cofinancement", "co-financing": "Cofinancement"},
    "sensor_family": {"pleiades": "Pléiades", "pleiades-neo": "Pléiades Neo", "spot": "SPOT"},
}


def value_label(dim: str, value: Any) -> str:
    if value is None:
        return "non renseigné"
    return VALUE_LABELS.get(dim, {}).get(str(value), str(value))


def check_year(year: int, today: datetime | None = None) -> None:
    """A note exists for DINAMIS's first year (2015) to next year (a note may be
    prepared ahead of the year's close); raises ValueError otherwise."""
    last = (today or datetime.now(UTC)).year + 1
    if not MIN_YEAR <= year <= last:
        raise ValueError(f"year {year} outside {MIN_YEAR}..{last}")
