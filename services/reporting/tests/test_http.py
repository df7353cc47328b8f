"""The reporting's HTTP API on the scripted scenario (an in-memory store, the real lake
and engine; the caller's principal is the orders' answer, here given directly)."""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import io
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dinamis_reporting.archive.consumer import ArchiveConsumer
from dinamis_reporting.archive.writer import ArchiveWriter
from dinamis_reporting.bootstrap import ReportingContainer
from dinamis_reporting.entrypoints import http
from dinamis_reporting.entrypoints.http import safe_cell
from dinamis_reporting.indicators.engine import Indicators
from dinamis_reporting.lake import Lake
from dinamis_reporting.settings import ReportingSettings
from dinamis_shared.auth import Principal, Role, authenticated_principal
from dinamis_shared.health import install_problem_handlers


def _load_indicator_tests() -> Any:
    """The scenario helpers of test_indicators (same directory)."""
    path = Path(__file__).with_name("test_indicators.py")
    spec = importlib.util.spec_from_file_location("reporting_indicator_tests", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


T = _load_indicator_tests()


class Caller:
    principal: Principal | None = None


@pytest.fixture(scope="module")
def client() -> Any:
    store = T.MemoryStore()
    # The scenario, and one record that is no event (archived in `rejected/`).
    bad = T.Record("dinamis.quota-changed.v1", 0, 9999, b"x", b"{oops", [], 1_700_000_000_000)
    asyncio.run(ArchiveWriter(store).write([*T.records(), bad]))
    settings = ReportingSettings(lake_refresh_s=0, max_rows=40)
    lake = Lake(store, ":memory:")
    indicators = Indicators()
    indicators.prepare(lake.con)
    writer = ArchiveWriter(store)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(http.router)
    app.state.container = ReportingContainer(
        settings=settings,
        store=store,
        writer=writer,
        consumer=ArchiveConsumer(writer, settings),
        lake=lake,
        indicators=indicators,
    )
    caller = Caller()

    async def principal() -> Principal:
        if caller.principal is None:
            from dinamis_shared.auth import Unauthenticated

            raise Unauthenticated("no credentials")
        return caller.principal

    app.dependency_overrides[authenticated_principal] = principal
    with TestClient(app) as c:
        c.caller = caller  # type: ignore[attr-defined]
        yield c


def test_catalogue(client: TestClient) -> None:
    doc = client.get("/v1/indicators").json()
    names = [i["name"] for i in doc["indicators"]]
    assert "members_organisations" in names and "money" in names
    assert doc["dimensions"]["region"] == {"fr": "Région", "en": "Region"}
    assert doc["min_organisations"] == 3


def test_public_indicator_json(client: TestClient) -> None:
    doc = client.get("/v1/indicators/use_products", params={"by": "year", "year": "2025,2026"}).json()
    assert [(r["year"], r["products_ordered"], r["downloads"]) for r in doc["rows"]] == [
        ("2025", 5, 4),
        ("2026", 3, 4),
    ]
    assert doc["by"] == ["year"] and doc["filters"] == {"year": ["2025", "2026"]}


def test_problems(client: TestClient) -> None:
    r = client.get("/v1/indicators/nope")
    assert r.status_code == 404 and r.json()["code"] == "unknown-indicator"
    assert r.headers["content-type"].startswith("application/problem+json")
    r = client.get("/v1/indicators/members_organisations", params={"by": "department"})
    assert r.status_code == 400 and r.json()["code"] == "unknown-dimension"  # not a public dimension
    r = client.get("/v1/indicators/members_organisations", params={"year": "2025) OR (1=1"})
    assert r.status_code == 400 and r.json()["code"] == "bad-filter"
    r = client.get("/v1/indicators/members_organisations", params={"by": "year,year"})
    assert r.status_code == 400 and r.json()["code"] == "bad-dimension"
    r = client.get("/v1/indicators/members_organisations", params={"format": "xlsx"})
    assert r.status_code in (400, 422)
    r = client.get("/v1/indicators/" + "x" * 100)
    assert r.status_code in (400, 404, 422)
    r = client.get("/v1/summary", params={"year": "abc"})
    assert r.status_code in (400, 422)


def test_hostile_filters(client: TestClient) -> None:
    url = "/v1/indicators/use_products"
    years = ",".join(str(2000 + i) for i in range(80))  # 80 values, within 400 characters
    r = client.get(url, params={"year": years, "by": "year"})
    assert r.status_code == 200 and [row["year"] for row in r.json()["rows"]] == ["2025", "2026"]
    for params, code in (
        ({"category": "french-public\u0000"}, "bad-filter"),
        ({"category": "é" * 10}, "bad-filter"),
        ({"region": "../../etc"}, "bad-filter"),
        ({"by": "year;DROP TABLE raw_events"}, "unknown-dimension"),
        ({"by": "organisation_id"}, "unknown-dimension"),  # never a dimension
    ):
        r = client.get(url, params=params)
        assert r.status_code == 400 and r.json()["code"] == code, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get(url, params={"year": "x" * 401}).status_code == 422  # longer than declared


def test_row_limit(client: TestClient) -> None:
    client.caller.principal = Principal(user_id="op", roles=frozenset({Role.OPERATOR}), standing="staff")  # type: ignore[attr-defined]
    # members_organisations by year, category, department: one row per organisation and
    # year: 2025 A, B, C, E; 2026 A, B, C, D, E = 9 rows, under the limit (40).
    r = client.get("/v1/wg/indicators/members_organisations", params={"by": "year,category,department"})
    assert r.status_code == 200 and len(r.json()["rows"]) == 9
    settings = client.app.state.container.settings  # type: ignore[attr-defined]
    settings.max_rows = 3
    try:
        r = client.get("/v1/wg/indicators/members_organisations", params={"by": "year,category,department"})
        assert r.status_code == 400 and r.json()["code"] == "too-many-rows"
    finally:
        settings.max_rows = 40


def test_working_group_route(client: TestClient) -> None:
    caller = client.caller  # type: ignore[attr-defined]
    params = {"by": "department", "year": "2026"}
    caller.principal = None
    assert client.get("/v1/wg/indicators/members_organisations", params=params).status_code == 401
    caller.principal = Principal(
        user_id="m", organisation_id="o", roles=frozenset({Role.MEMBER}), standing="member"
    )
    r = client.get("/v1/wg/indicators/members_organisations", params=params)
    assert r.status_code == 403 and r.json()["code"] == "not-working-group"
    # The governance role of a suspended user: refused with its standing.
    caller.principal = Principal(
        user_id="g", organisation_id="o", roles=frozenset({Role.GOVERNANCE}), standing="user-inactive"
    )
    assert client.get("/v1/wg/indicators/members_organisations", params=params).status_code == 403
    # A governance user of the platform's organisation: orders says standing "governance",
    # allowed; the same role with any other standing, or of another organisation: refused.
    caller.principal = Principal(
        user_id="g", organisation_id="o", roles=frozenset({Role.GOVERNANCE}), standing="governance"
    )
    assert client.get("/v1/wg/indicators/members_organisations", params=params).status_code == 403
    caller.principal = Principal(
        user_id="g", organisation_id="dinamis", roles=frozenset({Role.GOVERNANCE}), standing="not-a-member"
    )
    assert client.get("/v1/wg/indicators/members_organisations", params=params).status_code == 403
    caller.principal = Principal(
        user_id="g", organisation_id="dinamis", roles=frozenset({Role.GOVERNANCE}), standing="governance"
    )
    assert client.get("/v1/wg/indicators/members_organisations", params=params).status_code == 200
    # the standing without the role (never given by orders) is not enough
    caller.principal = Principal(user_id="g", organisation_id="dinamis", standing="governance")
    assert client.get("/v1/wg/indicators/members_organisations", params=params).status_code == 403
    # An operator whose account is deactivated keeps no staff standing.
    caller.principal = Principal(
        user_id="op", organisation_id="dinamis", roles=frozenset({Role.OPERATOR}), standing="user-inactive"
    )
    assert client.get("/v1/wg/indicators/members_organisations", params=params).status_code == 403
    caller.principal = Principal(
        user_id="g", organisation_id="o", roles=frozenset({Role.GOVERNANCE}), standing="member"
    )  # a member organisation's user with the role (orders strips it there): refused
    assert client.get("/v1/wg/indicators/members_organisations", params=params).status_code == 403
    caller.principal = Principal(
        user_id="g", organisation_id="dinamis", roles=frozenset({Role.GOVERNANCE}), standing="governance"
    )
    r = client.get("/v1/wg/indicators/members_organisations", params=params)
    assert r.status_code == 200
    assert [row["department"] for row in r.json()["rows"]] == ["13", "31", "33", "69", "75"]


def test_csv_export(client: TestClient) -> None:
    r = client.get("/v1/indicators/use_products", params={"by": "year", "year": "2025", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="use_products-v1.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Année", "Commandes", "Produits commandés"]
    assert rows[1][:3] == ["2025", "3", "5"]
    r = client.get(
        "/v1/indicators/use_products",
        params={"by": "year", "year": "2025", "lang": "en"},
        headers={"Accept": "text/csv"},
    )
    assert next(iter(csv.reader(io.StringIO(r.content.decode("utf-8-sig")))))[:2] == ["year", "orders"]


def test_csv_cells_never_run_as_formulas() -> None:
    assert safe_cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    for text in ("+1", "-1+1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(text) == "'" + text
    assert safe_cell("2025") == "2025" and safe_cell(-3) == -3 and safe_cell(None) is None


def test_parquet_export(client: TestClient) -> None:
    # the working group's answer (filters applied first): the public one suppresses 2025,
    # the lone shown cell of the year table beside a suppressed 2026
    client.caller.principal = Principal(user_id="op", roles=frozenset({Role.OPERATOR}), standing="staff")  # type: ignore[attr-defined]
    r = client.get("/v1/wg/indicators/quotas", params={"year": "2025", "format": "parquet"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(r.content))
    assert table.to_pylist()[0]["allocated_km2"] == 350.0
    assert table.schema.metadata[b"dinamis:indicator"] == b"quotas"


def test_summary(client: TestClient) -> None:
    doc = client.get("/v1/summary", params={"year": 2025}).json()
    assert doc["year"] == 2025
    # 2025: 3 active organisations (A, B, C), 4 requests, 5 products ordered.
    assert doc["figures"]["organisations_active"]["value"] == 3
    assert doc["figures"]["requests"]["value"] == 4
    assert doc["figures"]["products_ordered"]["value"] == 5
    assert doc["figures"]["cells_published"]["value"] == 2


def test_archive_state(client: TestClient) -> None:
    client.caller.principal = None  # type: ignore[attr-defined]
    assert client.get("/v1/archive").status_code == 401  # the working group's only
    client.caller.principal = Principal(user_id="op", roles=frozenset({Role.OPERATOR}), standing="staff")  # type: ignore[attr-defined]
    doc = client.get("/v1/archive").json()
    by_topic = {t["topic"]: t["events"] for t in doc["topics"]}
    assert by_topic["dinamis.organisation-changed.v1"] == 9
    assert by_topic["dinamis.quota-changed.v1"] == 8
    assert doc["events"] == len(T.records())
    assert doc["rejected"] == {"files": 1, "records": 1}
    assert doc["last_event_time"].startswith("2026-06-01")  # u2 deactivated, the scenario's last event
