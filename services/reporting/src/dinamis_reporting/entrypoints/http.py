"""The reporting's HTTP API: the indicators' catalogue, their values (suppressed cells
hidden), CSV and Parquet exports, the public page's key figures, the archive's state.

- `GET /v1/indicators`: the catalogue (every indicator's definition, dimensions, measures);
- `GET /v1/indicators/{name}`: public, breakdowns by the indicator's public dimensions only;
- `GET /v1/wg/indicators/{name}`: the working group's (staff, or the `governance` role,
  in good standing: the orders service's answer for the caller, never a token claim),
  every declared breakdown;
- `?format=json|csv|parquet` (or `Accept: text/csv` / `application/vnd.apache.parquet`);
  CSV headers in French (`lang=fr`, default) or as column names (`lang=en`: the
  machine-readable names); a text cell starting with `=`, `+`, `-`, `@`, a tab or a
  carriage return is prefixed with `'` (no formula runs in a spreadsheet);
- `GET /v1/summary?year=N`: key figures for the public page "DINAMIS en chiffres";
- `GET /v1/archive`: the archive's state (files, events per topic, rejected records,
  last event time) — aggregates only.

No SQL is built from a caller's text: dimensions are checked against the indicator's
declared ones, values against each dimension's pattern, then bound as parameters.
Every output is an aggregate: no personal data (users are counted, never listed)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from dinamis_reporting.archive.layout import REJECTED_PREFIX
from dinamis_reporting.bootstrap import Reporting, ReportingContainer
from dinamis_reporting.indicators.engine import DIMENSIONS, IndicatorError, Result, ordered
from dinamis_reporting.indicators.engine import Query as IndicatorQuery
from dinamis_shared.auth import GOVERNANCE_STANDING, Forbidden, Principal, Role, authenticated_principal
from dinamis_shared.errors import DinamisError

router = APIRouter(prefix="/v1", tags=["reporting"])
RESULTS_KEPT = 512  # indicator results kept (see `compute`)

CSV_TYPE = "text/csv; charset=utf-8"
PARQUET_TYPE = "application/vnd.apache.parquet"

# The dimensions' labels (CSV headers in French, the catalogue).
DIMENSION_LABELS: dict[str, tuple[str, str]] = {
    "year": ("Année", "Year"),
    "quarter": ("Trimestre", "Quarter"),
    "category": ("Catégorie d'organisation", "Organisation category"),
    "department": ("Département", "Department"),
    "region": ("Région", "Region"),
    "sensor_family": ("Famille de capteurs", "Sensor family"),
    "collection": ("Collection", "Collection"),
    "kind": ("Type de demande", "Request kind"),
    "funding": ("Financement", "Funding"),
    "reason": ("Motif", "Reason"),
    "status": ("Statut", "Status"),
    "campaign": ("Campagne", "Campaign"),
    "state": ("État", "State"),
}
assert set(DIMENSION_LABELS) == set(DIMENSIONS)


class BadIndicatorRequest(DinamisError):
    code = "bad-indicator-request"
    http_status = 400


class UnknownIndicator(DinamisError):
    code = "unknown-indicator"
    http_status = 404


class TooManyRows(DinamisError):
    code = "too-many-rows"
    http_status = 400


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


class Lang(StrEnum):
    FR = "fr"
    EN = "en"


def _values(name: str, max_length: int = 400) -> Any:
    return Query(
        max_length=max_length,
        description=f"Filtre {name} : valeurs séparées par des virgules"
        f" / {name} filter: comma-separated values",
    )


class IndicatorParams:
    """The query of an indicator: breakdown, filters, format (typed, documented)."""

    def __init__(
        self,
        by: Annotated[
            str | None,
            Query(
                max_length=200,
                description="Ventilation : dimensions séparées par des virgules (voir le catalogue)"
                " / breakdown: comma-separated dimensions (see the catalogue)",
                examples=["year,category"],
            ),
        ] = None,
        year: Annotated[str | None, _values("year")] = None,
        quarter: Annotated[str | None, _values("quarter")] = None,
        category: Annotated[str | None, _values("category")] = None,
        department: Annotated[str | None, _values("department")] = None,
        region: Annotated[str | None, _values("region")] = None,
        sensor_family: Annotated[str | None, _values("sensor_family")] = None,
        collection: Annotated[str | None, _values("collection", 2000)] = None,
        kind: Annotated[str | None, _values("kind")] = None,
        funding: Annotated[str | None, _values("funding")] = None,
        reason: Annotated[str | None, _values("reason")] = None,
        status: Annotated[str | None, _values("status")] = None,
        campaign: Annotated[str | None, _values("campaign", 2000)] = None,
        state: Annotated[str | None, _values("state")] = None,
        format: Annotated[
            Format | None,
            Query(description="json (défaut), csv ou parquet ; sinon selon Accept"
                  " / json (default), csv or parquet; else from Accept"),
        ] = None,
        lang: Annotated[
            Lang,
            Query(description="En-têtes CSV : fr (libellés, défaut) ou en (noms de colonnes)"
                  " / CSV headers: fr (labels, default) or en (column names)"),
        ] = Lang.FR,
    ) -> None:  # fmt: skip
        dims = tuple(d.strip() for d in (by or "").split(",") if d.strip())
        filters = {
            "year": year, "quarter": quarter, "category": category, "department": department,
            "region": region, "sensor_family": sensor_family, "collection": collection, "kind": kind,
            "funding": funding, "reason": reason, "status": status, "campaign": campaign, "state": state,
        }  # fmt: skip
        chosen = {
            k: tuple(x.strip() for x in v.split(",") if x.strip())
            for k, v in filters.items()
            if v is not None
        }
        self.query = IndicatorQuery(by=dims, filters=chosen)
        self.format = format
        self.lang = lang


def parse_query(by: str | None, filters: dict[str, str | None]) -> IndicatorQuery:
    """A query from a `by` text and filter texts (the note and the portal use it too)."""
    dims = tuple(d.strip() for d in (by or "").split(",") if d.strip())
    chosen = {k: tuple(x.strip() for x in v.split(",") if x.strip()) for k, v in filters.items() if v}
    return IndicatorQuery(by=dims, filters=chosen)


async def compute(reporting: ReportingContainer, name: str, query: IndicatorQuery, *, public: bool) -> Result:
    """An indicator's result, the lake refreshed first (at most every `lake_refresh_s`).
    Results are kept per (indicator, query, audience, lake version): the same question on
    the same archive is computed once; at most `duckdb_threads` computations at a time."""
    refreshed = await reporting.lake.refresh(max_age_s=reporting.settings.lake_refresh_s, wait=False)
    archive = {"events": refreshed.events}
    key = (
        name,
        query.by,
        tuple(sorted(query.filters.items())),
        public,
        reporting.lake.version,
    )
    result = reporting.results.get(key)
    if result is not None:
        reporting.results.move_to_end(key)
    else:
        result = await _compute(reporting, name, query, public=public, archive=archive)
        reporting.results[key] = result
        while len(reporting.results) > RESULTS_KEPT:
            reporting.results.popitem(last=False)
    if len(result.rows) > reporting.settings.max_rows:
        limit = reporting.settings.max_rows
        raise TooManyRows(
            f"the breakdown has {len(result.rows)} rows, more than {limit}: break down by fewer dimensions"
            " or filter",
            message_fr=f"la ventilation compte {len(result.rows)} lignes, plus que {limit} :"
            " ventilez par moins de dimensions ou filtrez",
        )
    return result


async def _compute(
    reporting: ReportingContainer, name: str, query: IndicatorQuery, *, public: bool, archive: dict[str, Any]
) -> Result:
    try:
        async with reporting.computing:
            result = await asyncio.to_thread(  # off the event loop: a large breakdown takes a while
                reporting.indicators.compute,
                reporting.lake.cursor(),
                name,
                query,
                public=public,
                archive=archive,
            )
    except IndicatorError as exc:
        text = str(exc)
        fr, _, en = text.partition(" / ")
        if exc.code == "unknown-indicator":
            raise UnknownIndicator(en or text, message_fr=fr) from None
        raise BadIndicatorRequest(en or text, code=exc.code, message_fr=fr) from None
    return result


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet never runs as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def columns_of(result: Result) -> list[str]:
    return [*result.query.by, *(m.name for m in result.indicator.measures), *(
        ["organisations", "suppressed"] if result.indicator.privacy == "organisations" else [])]  # fmt: skip


def to_csv(result: Result, lang: Lang) -> bytes:
    columns = columns_of(result)
    labels = {m.name: (m.label_fr, m.label_en) for m in result.indicator.measures}
    labels |= DIMENSION_LABELS
    labels |= {
        "organisations": ("Organisations", "Organisations"),
        "suppressed": ("Secret statistique", "Suppressed"),
    }
    header = [labels[c][0] if lang == Lang.FR else c for c in columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in result.rows:
        writer.writerow([safe_cell("" if row.get(c) is None else row.get(c)) for c in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: spreadsheets read UTF-8


def to_parquet(result: Result) -> bytes:
    columns = columns_of(result)
    arrays = {}
    for c in columns:
        values = [row.get(c) for row in result.rows]
        if c in result.query.by:
            arrays[c] = pa.array(values, pa.string())
        elif c == "suppressed":
            arrays[c] = pa.array(values, pa.bool_())
        else:
            try:
                arrays[c] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                arrays[c] = pa.array([None if v is None else str(v) for v in values], pa.string())
    table = pa.table(arrays) if arrays else pa.table({})
    table = table.replace_schema_metadata(
        {
            "dinamis:indicator": result.indicator.name,
            "dinamis:version": str(result.indicator.version),
            "dinamis:computed_at": result.computed_at.isoformat(),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def render(result: Result, params: IndicatorParams, request: Request) -> Any:
    chosen = params.format
    if chosen is None:
        accept = request.headers.get("accept", "")
        chosen = Format.JSON
        if "text/csv" in accept:
            chosen = Format.CSV
        elif PARQUET_TYPE in accept:
            chosen = Format.PARQUET
    if chosen == Format.JSON:
        return result.as_json()
    name = f"{result.indicator.name}-v{result.indicator.version}"
    if chosen == Format.CSV:
        body, media, ext = to_csv(result, params.lang), CSV_TYPE, "csv"
    else:
        body, media, ext = to_parquet(result), PARQUET_TYPE, "parquet"
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{ext}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


EXPORTS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Les valeurs (JSON), ou l'export CSV / Parquet"
        " / the values (JSON), or the CSV / Parquet export",
        "content": {"text/csv": {}, PARQUET_TYPE: {}},
    },
    404: {"description": "Indicateur inconnu (`unknown-indicator`) / unknown indicator"},
    400: {
        "description": "Dimension non disponible (`unknown-dimension`), répétée (`bad-dimension`),"
        " valeur de filtre invalide (`bad-filter`), trop de lignes (`too-many-rows`)"
        " / refused breakdown, filter or size"
    },
}

NamePath = Annotated[str, Path(max_length=64, description="Nom de l'indicateur / indicator name")]


@router.get(
    "/indicators",
    summary="Le catalogue des indicateurs / the indicators' catalogue",
    description="Chaque indicateur : titre, définition (méthode), unité, dimensions, dimensions publiques,"
    " mesures / each indicator: title, definition (method), unit, dimensions, public dimensions, measures.",
)
async def catalogue(reporting: Reporting) -> dict[str, Any]:
    return {
        "indicators": [i.describe() for i in ordered(reporting.indicators.catalogue)],
        "dimensions": {d: {"fr": fr, "en": en} for d, (fr, en) in DIMENSION_LABELS.items()},
        "min_organisations": reporting.indicators.min_organisations,
        "prices_source": reporting.indicators.prices.source,
    }


@router.get(
    "/indicators/{name}",
    summary="Les valeurs publiques d'un indicateur / an indicator's public values",
    description="Ventilations par les dimensions publiques de l'indicateur ; cellules de moins de 3"
    " organisations masquées (secret statistique) / breakdowns by the public dimensions; cells of fewer than"
    " 3 organisations suppressed.",
    responses=EXPORTS,
)
async def indicator(
    reporting: Reporting, request: Request, name: NamePath, params: Annotated[IndicatorParams, Depends()]
) -> Any:
    result = await compute(reporting, name, params.query, public=True)
    return render(result, params, request)


def may_read_working_group(principal: Principal, staff_organisation_id: str) -> bool:
    """Staff (standing `staff`, operator or admin), or the working group (standing
    `governance`: an active user of the platform's own organisation holding the role, the
    only place orders grants it). Decided on the orders service's answer for the caller,
    never on a token claim; a deactivated user ("user-inactive") is refused."""
    if principal.standing == "staff":
        return principal.is_staff
    return (
        principal.standing == GOVERNANCE_STANDING
        and principal.has(Role.GOVERNANCE)
        and principal.organisation_id == staff_organisation_id
    )


async def working_group(
    reporting: Reporting, principal: Annotated[Principal, Depends(authenticated_principal)]
) -> Principal:
    if not may_read_working_group(principal, reporting.settings.staff_organisation_id):
        if principal.has(Role.GOVERNANCE) or principal.is_staff:
            raise principal.refusal()
        raise Forbidden(
            "the working group's indicators are for DINAMIS staff and the governance role",
            code="not-working-group",
            message_fr="les indicateurs détaillés sont réservés à l'équipe DINAMIS et au groupe de travail",
        )
    return principal


@router.get(
    "/wg/indicators/{name}",
    summary="Les valeurs détaillées d'un indicateur (groupe de travail) / an indicator's detailed values"
    " (working group)",
    description="Toutes les dimensions déclarées ; réservé à l'équipe DINAMIS et au rôle `governance` /"
    " every declared dimension; for DINAMIS staff and the `governance` role.",
    responses=EXPORTS,
)
async def wg_indicator(
    reporting: Reporting,
    request: Request,
    name: NamePath,
    params: Annotated[IndicatorParams, Depends()],
    _: Annotated[Principal, Depends(working_group)],
) -> Any:
    result = await compute(reporting, name, params.query, public=False)
    return render(result, params, request)


# The public page's key figures: (key, indicator, measure), each for the year asked.
SUMMARY: tuple[tuple[str, str, str], ...] = (
    ("organisations_active", "members_organisations", "organisations_active"),
    ("organisations_new", "members_organisations", "organisations_new"),
    ("users_active", "members_users", "users_active"),
    ("requests", "acquisitions_requests", "requests"),
    ("approved_km2", "acquisitions_requests", "approved_km2"),
    ("acquired_km2", "acquisitions_requests", "acquired_km2"),
    ("products_ordered", "use_products", "products_ordered"),
    ("downloads", "use_products", "downloads"),
    ("reuse_factor", "use_reuse", "reuse_factor"),
    ("archive_used_share", "use_reuse", "archive_used_share"),
    ("cells_published", "coverage_cells", "cells_published"),
    ("delivered_value_eur", "money", "delivered_value_eur"),
)


@router.get(
    "/summary",
    summary="Les chiffres clés d'une année (page publique) / a year's key figures (public page)",
    description="Chaque chiffre : sa valeur pour l'année (null si masquée par le secret statistique ou"
    " absente), l'indicateur et la mesure dont il vient / each figure: its value for the year (null when"
    " suppressed or absent), the indicator and measure it comes from.",
    responses={400: {"description": "Année invalide / bad year"}},
)
async def summary(
    reporting: Reporting,
    year: Annotated[
        int | None, Query(ge=2000, le=2999, description="Année (défaut : l'année en cours) / year")
    ] = None,
) -> dict[str, Any]:
    year = year or datetime.now(UTC).year
    figures: dict[str, Any] = {}
    cache: dict[str, Result] = {}
    for key, name, measure in SUMMARY:
        if name not in reporting.indicators.catalogue:
            continue
        if name not in cache:
            cache[name] = await compute(
                reporting, name, IndicatorQuery(by=(), filters={"year": (str(year),)}), public=True
            )
        result = cache[name]
        row = result.rows[0] if result.rows else {}
        m = next(m for m in result.indicator.measures if m.name == measure)
        figures[key] = {
            "value": row.get(measure),
            "suppressed": bool(row.get("suppressed", False)),
            "indicator": name,
            "measure": measure,
            "unit": m.unit,
            "label": {"fr": m.label_fr, "en": m.label_en},
        }
    return {"year": year, "figures": figures, "computed_at": datetime.now(UTC).isoformat()}


@router.get(
    "/archive",
    summary="L'état de l'archive des événements / the event archive's state",
    description="Fichiers, événements par topic, enregistrements rejetés, heure du dernier événement ;"
    " réservé à l'équipe DINAMIS et au groupe de travail (les heures d'événements par topic disent"
    " quand une action a eu lieu) / files, events per topic, rejected records, last event time; for"
    " DINAMIS staff and the working group (per-topic event times tell when an action happened).",
)
async def archive(reporting: Reporting, _: Annotated[Principal, Depends(working_group)]) -> dict[str, Any]:
    refreshed = await reporting.lake.refresh(max_age_s=reporting.settings.lake_refresh_s, wait=False)
    rejected = await _rejected(reporting)

    def read() -> dict[str, Any]:
        cur = reporting.lake.cursor()
        files = cur.execute("SELECT count(*), coalesce(sum(n), 0) FROM archive_files").fetchall()[0]
        topics = cur.execute(
            "SELECT topic, count(*), max(time), min(time) FROM events GROUP BY topic ORDER BY topic"
        ).fetchall()
        return {
            "files": int(files[0]),
            "rows": int(files[1]),
            "events": sum(int(t[1]) for t in topics),
            "topics": [
                {
                    "topic": t[0],
                    "events": int(t[1]),
                    "first_event_time": t[3].isoformat() if t[3] else None,
                    "last_event_time": t[2].isoformat() if t[2] else None,
                }
                for t in topics
            ],
            "last_event_time": max((t[2] for t in topics if t[2]), default=None),
        }

    state = await asyncio.to_thread(read)
    if state["last_event_time"] is not None:
        state["last_event_time"] = state["last_event_time"].isoformat()
    return {
        **state,
        "rejected": rejected,
        "refreshed_in_s": round(refreshed.seconds, 3),
        "bucket": reporting.settings.events_bucket,
    }


async def _rejected(reporting: ReportingContainer) -> dict[str, int]:
    """The `rejected/` table's files and records (record counts read from the Parquet
    footers, cached by etag)."""
    cache = reporting.rejected_rows
    objects = await reporting.store.list(REJECTED_PREFIX)
    records = 0
    for obj in objects:
        key = f"{obj.key}@{obj.etag}"
        if key not in cache:
            data = await reporting.store.get(obj.key)
            cache[key] = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
        records += cache[key]
    return {"files": len(objects), "records": records}


__all__ = ["parse_query", "router"]
