"""The indicators: versioned SQL files over the lake, run by one engine.

Files in `indicators/sql/`, run in name order:
- `base_*.sql`: views the indicators share (the latest state of each organisation, user,
  request...), plain SQL statements separated by `;` — created once per connection;
- `<indicator>.sql`: one indicator, a header of `-- key: value` lines then one SELECT,
  its *facts*: one row per fact (a request, a scene, a download...) with the dimension
  columns the header lists and the columns its measures aggregate.

Header keys: `name`, `version` (an integer, +1 whenever a result can change),
`title_fr`, `title_en`, `definition_fr`, `definition_en` (the method, for the note and
the API), `unit`, `dimensions` (comma-separated), `public_dimensions` (those the public
page may break down by; default: none), `measure` (repeatable: `<name> = <aggregate SQL>
| <unit> | <label_fr> | <label_en>`), `privacy` (`organisations`: the facts have an
`organisation_id` column and every output cell counting fewer than the minimum of
distinct organisations is suppressed; `none`: the facts concern no organisation, e.g.
the coverage cells).

The engine groups the facts by the dimensions asked (only declared ones: no SQL is ever
built from a caller's text), filters them by the values asked (bound parameters), and
applies the suppression: a suppressed cell keeps its dimensions and loses its measures
(`suppressed: true`); when one cell of a breakdown is suppressed, the next smallest of
the same breakdown is too (no recovering it by subtracting from the total), and so on
until every breakdown holds no lone suppressed cell (see `Indicators.suppress`).

The functions and reference tables the SQL uses (areas, grid cells, regions, prices)
are registered by `functions.register`."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb

from dinamis_reporting.indicators import functions

log = logging.getLogger(__name__)
SQL_DIR = Path(__file__).resolve().parent / "sql"
# The indicators every reporting output puts first, in this order, when present.
CONTRACT = (
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


def ordered(catalogue: dict[str, Indicator]) -> list[Indicator]:
    """The catalogue, the contract's indicators first (in its order), then the others by name."""
    first = [catalogue[n] for n in CONTRACT if n in catalogue]
    rest = [catalogue[n] for n in sorted(catalogue) if n not in CONTRACT]
    return first + rest


_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Dimensions an indicator may declare, with how a filter value is checked.
DIMENSIONS: dict[str, re.Pattern[str]] = {
    "year": re.compile(r"^\d{4}$"),
    "quarter": re.compile(r"^\d{4}-Q[1-4]$"),
    "category": re.compile(r"^[a-z-]{1,40}$"),
    "department": re.compile(r"^(\d{2,3}|2A|2B)$"),
    "region": re.compile(r"^\d{2}$"),
    "sensor_family": re.compile(r"^[a-z0-9-]{1,20}$"),
    "collection": re.compile(r"^[a-z0-9-]{1,80}$"),
    "kind": re.compile(r"^[a-z_-]{1,40}$"),
    "funding": re.compile(r"^[a-z_-]{1,40}$"),
    "reason": re.compile(r"^[a-z0-9_-]{1,80}$"),
    "status": re.compile(r"^[a-z_-]{1,40}$"),
    "campaign": re.compile(r"^[A-Za-z0-9._:-]{1,80}$"),
    "state": re.compile(r"^[a-z_-]{1,40}$"),
}


class IndicatorError(ValueError):
    """A caller's request the engine refuses (unknown indicator, dimension or value)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Measure:
    name: str
    expression: str
    unit: str
    label_fr: str
    label_en: str


@dataclass(frozen=True)
class Indicator:
    name: str
    version: int
    title_fr: str
    title_en: str
    definition_fr: str
    definition_en: str
    unit: str
    dimensions: tuple[str, ...]
    public_dimensions: tuple[str, ...]
    measures: tuple[Measure, ...]
    privacy: str
    facts: str  # the SELECT

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "title": {"fr": self.title_fr, "en": self.title_en},
            "definition": {"fr": self.definition_fr, "en": self.definition_en},
            "unit": self.unit,
            "dimensions": list(self.dimensions),
            "public_dimensions": list(self.public_dimensions),
            "measures": [
                {"name": m.name, "unit": m.unit, "label": {"fr": m.label_fr, "en": m.label_en}}
                for m in self.measures
            ],
            "privacy": self.privacy,
        }


def parse_indicator(text: str, origin: str) -> Indicator:
    header: dict[str, str] = {}
    measures: list[Measure] = []
    body: list[str] = []
    for line in text.splitlines():
        m = re.match(r"^--\s*([a-z_]+):\s*(.*)$", line)
        if m and not body:
            key, value = m[1], m[2].strip()
            if key == "measure":
                name, rest = (p.strip() for p in value.split("=", 1))
                expression, unit, label_fr, label_en = (p.strip() for p in rest.split("|"))
                if not _NAME.match(name):
                    raise ValueError(f"{origin}: bad measure name {name!r}")
                measures.append(Measure(name, expression, unit, label_fr, label_en))
            else:
                header[key] = f"{header[key]} {value}" if key in header else value
        elif line.strip() or body:
            body.append(line)
    name = header.get("name", "")
    if not _NAME.match(name):
        raise ValueError(f"{origin}: bad or missing name")

    def dims(key: str) -> tuple[str, ...]:
        out = tuple(d.strip() for d in header.get(key, "").split(",") if d.strip())
        unknown = [d for d in out if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"{origin}: unknown dimension(s) {unknown}")
        return out

    dimensions = dims("dimensions")
    public = dims("public_dimensions")
    if not set(public) <= set(dimensions):
        raise ValueError(f"{origin}: public dimensions must be dimensions")
    privacy = header.get("privacy", "organisations")
    if privacy not in ("organisations", "none"):
        raise ValueError(f"{origin}: privacy is 'organisations' or 'none'")
    if not measures:
        raise ValueError(f"{origin}: no measure")
    return Indicator(
        name=name,
        version=int(header["version"]),
        title_fr=header["title_fr"],
        title_en=header["title_en"],
        definition_fr=header["definition_fr"],
        definition_en=header["definition_en"],
        unit=header.get("unit", ""),
        dimensions=dimensions,
        public_dimensions=public,
        measures=tuple(measures),
        privacy=privacy,
        facts="\n".join(body).strip().rstrip(";"),
    )


@dataclass
class Query:
    """What a caller asks: a breakdown (`by`) and filters (dimension -> allowed values)."""

    by: tuple[str, ...] = ()
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Result:
    indicator: Indicator
    query: Query
    rows: list[dict[str, Any]]
    suppressed: int
    computed_at: datetime
    archive: dict[str, Any]
    min_organisations: int

    def as_json(self) -> dict[str, Any]:
        return {
            **self.indicator.describe(),
            "by": list(self.query.by),
            "filters": {k: list(v) for k, v in self.query.filters.items()},
            "rows": self.rows,
            "suppressed_cells": self.suppressed,
            "min_organisations": self.min_organisations
            if self.indicator.privacy == "organisations"
            else None,
            "computed_at": self.computed_at.isoformat(),
            "archive": self.archive,
        }


class Indicators:
    def __init__(
        self,
        sql_dir: Path = SQL_DIR,
        *,
        min_organisations: int = 3,
        grid_file: Path | None = None,
        prices_file: Path = functions.PRICES_FILE,
    ) -> None:
        if min_organisations < 3:
            raise ValueError("the suppression threshold is never below 3 organisations")
        self.sql_dir = sql_dir
        self.min_organisations = min_organisations
        self.grid_file = grid_file if grid_file is not None else functions.default_grid_file()
        if self.grid_file is None:
            log.warning("no coverage grid file: the coverage indicators will count no cell")
        self.prices_file = prices_file
        self.prices = functions.load_prices(prices_file)

    @cached_property
    def base_sql(self) -> list[str]:
        out = []
        for path in sorted(self.sql_dir.glob("base_*.sql")):
            out += [s.strip() for s in path.read_text().split(";") if s.strip() and not _only_comments(s)]
        return out

    @cached_property
    def catalogue(self) -> dict[str, Indicator]:
        out: dict[str, Indicator] = {}
        for path in sorted(self.sql_dir.glob("*.sql")):
            if path.name.startswith("base_"):
                continue
            ind = parse_indicator(path.read_text(), path.name)
            if ind.name in out:
                raise ValueError(f"indicator {ind.name!r} defined twice")
            out[ind.name] = ind
        return out

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        """Register the functions, create the shared views (idempotent: every base
        statement is CREATE OR REPLACE)."""
        functions.register(con, grid_file=self.grid_file, prices_file=self.prices_file)
        for statement in self.base_sql:
            con.execute(statement)

    def get(self, name: str) -> Indicator:
        ind = self.catalogue.get(name)
        if ind is None:
            raise IndicatorError("unknown-indicator", f"indicateur inconnu / unknown indicator: {name!r}")
        return ind

    def check(self, ind: Indicator, query: Query, *, public: bool) -> None:
        allowed = ind.public_dimensions if public else ind.dimensions
        for dim in (*query.by, *query.filters):
            if dim not in allowed:
                raise IndicatorError(
                    "unknown-dimension",
                    f"dimension non disponible pour {ind.name} : {dim!r} (disponibles : {', '.join(allowed)})"
                    f" / dimension not available for {ind.name}: {dim!r}",
                )
        if len(set(query.by)) != len(query.by):
            raise IndicatorError("bad-dimension", "dimension répétée / repeated dimension")
        for dim, values in query.filters.items():
            if not values or len(values) > 200:
                raise IndicatorError("bad-filter", f"filtre {dim} : 1 à 200 valeurs / 1 to 200 values")
            for v in values:
                if not DIMENSIONS[dim].match(v):
                    raise IndicatorError(
                        "bad-filter", f"valeur invalide pour {dim} / bad value for {dim}: {v!r}"
                    )

    def compute(
        self,
        con: duckdb.DuckDBPyConnection,
        name: str,
        query: Query,
        *,
        public: bool = False,
        archive: dict[str, Any] | None = None,
    ) -> Result:
        ind = self.get(name)
        self.check(ind, query, public=public)
        organisations = ind.privacy == "organisations"
        # Public answers: a filtered dimension is part of the breakdown — the answer never
        # sums cells across filter values, and its suppression is computed on the table of
        # every value, then filtered — so `?region=11,94` or `?region=11` cannot undo what
        # `by=region` suppressed (differencing). The working group's answers filter first.
        strict = public and organisations
        filtered = [d for d in query.filters if d not in query.by] if strict else []
        dims = [*query.by, *filtered]
        select = [f'CAST("{d}" AS VARCHAR) AS "{d}"' for d in dims]
        select += [f'{m.expression} AS "{m.name}"' for m in ind.measures]
        if organisations:
            select.append("count(DISTINCT organisation_id) AS organisations")
            select.append("list(DISTINCT organisation_id) AS _organisation_ids")
        where, params = [], []
        if not strict:  # filtered in SQL
            for dim, values in query.filters.items():
                where.append(f'CAST("{dim}" AS VARCHAR) IN (SELECT unnest(?))')
                params.append(list(values))
        sql = f"WITH facts AS ({ind.facts}) SELECT {', '.join(select)} FROM facts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if dims:
            sql += (
                " GROUP BY "
                + ", ".join(f'"{d}"' for d in dims)
                + " ORDER BY "
                + ", ".join(f'"{d}" NULLS LAST' for d in dims)
            )
        cur = con.execute(sql, params)
        columns = [c[0] for c in cur.description or ()]
        rows = [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in cur.fetchall()]
        suppressed = 0
        if organisations:
            self.suppress(ind, dims, rows)
            if strict:
                wanted = {d: set(v) for d, v in query.filters.items()}
                rows = [r for r in rows if all(r[d] in values for d, values in wanted.items())]
            suppressed = sum(1 for r in rows if r["suppressed"])
            for row in rows:
                row.pop("_organisation_ids", None)  # never in an output
        return Result(ind, query, rows, suppressed, datetime.now(UTC), archive or {}, self.min_organisations)

    def suppress(self, ind: Indicator, dims: list[str], rows: list[dict[str, Any]]) -> int:
        """Primary suppression: a cell counting fewer than `min_organisations` distinct
        organisations. Complementary: within each group of cells that differ by one
        dimension only (whose sum is a cell of a coarser breakdown anyone may ask for),
        the suppressed cells must not be recoverable by subtraction — so a group never
        holds exactly one suppressed cell, nor suppressed cells counting together fewer
        than `min_organisations` organisations: the smallest shown cell of the group is
        suppressed too. Repeated over every dimension until nothing changes (a cell
        suppressed for one dimension's group can leave a lone one in another's)."""
        for row in rows:
            row["suppressed"] = (row.get("organisations") or 0) < self.min_organisations
        changed = bool(dims)
        while changed:
            changed = False
            for dim in dims:
                groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
                for row in rows:
                    groups.setdefault(tuple(row[d] for d in dims if d != dim), []).append(row)
                for cells in groups.values():
                    hidden = [r for r in cells if r["suppressed"]]
                    shown = [r for r in cells if not r["suppressed"]]
                    if not hidden or not shown:
                        continue
                    # distinct organisations: one counted in two hidden cells is one
                    together = len(set().union(*(set(r.get("_organisation_ids") or ()) for r in hidden)))
                    if len(hidden) == 1 or together < self.min_organisations:
                        smallest = min(
                            shown,
                            key=lambda r: (r.get("organisations") or 0, [str(r[d]) for d in dims]),
                        )
                        smallest["suppressed"] = True
                        changed = True
        n = 0
        small = [m.name for m in ind.measures if m.unit == "organisations"]
        for row in rows:
            if row["suppressed"]:
                n += 1
                for m in ind.measures:
                    row[m.name] = None
                row["organisations"] = None
            else:
                # a count of organisations under the threshold inside a shown cell (e.g. one
                # suspended body among five) is hidden too: it would single them out
                for name in small:
                    value = row.get(name)
                    if isinstance(value, int | float) and 0 < value < self.min_organisations:
                        row[name] = None
        return n


def _only_comments(statement: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in statement.splitlines())


def _plain(value: Any) -> Any:
    """JSON-ready values: decimals to float, times to ISO text."""
    if isinstance(value, date):  # dates and datetimes
        return value.isoformat()
    if hasattr(value, "is_finite"):  # Decimal
        return float(value)
    if isinstance(value, float):
        return round(value, 6)
    return value
