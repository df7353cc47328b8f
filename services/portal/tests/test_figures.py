""" "DINAMIS en chiffres" and the working group's dashboard with fakes of the portal's own
ports (reporting_api.ReportingApi, upstream.Orders): who gets the dashboard (staff,
governance, nobody else — and governance never gets /ops), suppressed cells shown as
such, the parameters sent to the reporting, exports relayed with their headers, bad
parameters refused before anything is asked."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from dinamis_portal.entrypoints.auth import api_routes, depends_on
from dinamis_portal.errors import PortalError
from dinamis_portal.figures import admitted, build_chart, fmt_number, parse_year, working_group
from dinamis_portal.reporting_api import Download, HttpReportingApi, Refused

ORGS = {
    "name": "members_organisations",
    "version": 1,
    "title": {"fr": "Organisations adhérentes", "en": "Member organisations"},
    "definition": {"fr": "Organisations approuvées.", "en": "Organisations approved."},
    "unit": "organisations",
    "dimensions": ["year", "category", "department"],
    "public_dimensions": ["year", "category"],
    "measures": [
        {
            "name": "organisations_active",
            "unit": "organisations",
            "label": {"fr": "Organisations actives", "en": "Active organisations"},
        }
    ],
    "privacy": "organisations",
}
CUSTOM = {
    "name": "a_custom_indicator",
    "title": {"fr": "Indicateur maison", "en": "Home-made indicator"},
    "dimensions": ["quarter", "collection"],
    "public_dimensions": [],
    "measures": [{"name": "things", "unit": "", "label": {"fr": "Choses", "en": "Things"}}],
    "privacy": "none",
}
USERS = {**ORGS, "name": "members_users", "title": {"fr": "Utilisateurs", "en": "Users"}}


def orgs_result(by: list[str]) -> dict[str, Any]:
    rows = [
        {"category": "french-public", "organisations_active": 5, "organisations": 5, "suppressed": False},
        {"category": "french-research", "organisations_active": 4, "organisations": 4, "suppressed": False},
        {"category": "contractor", "organisations_active": None, "organisations": None, "suppressed": True},
    ]
    if "year" in by:
        for row in rows:
            row["year"] = "2061"
    return {**ORGS, "by": by, "filters": {}, "rows": rows, "suppressed_cells": 1, "min_organisations": 3}


class FakeReporting:
    def __init__(self) -> None:
        self.indicators = [USERS, CUSTOM, ORGS]  # not in the contract's order: the portal orders them
        self.calls: list[tuple[str, str, list[tuple[str, str]], str | None]] = []
        self.summary_answer: dict[str, Any] | Refused = {
            "year": 2061,
            "figures": [
                {
                    "name": "organisations",
                    "label": {"fr": "Organisations adhérentes", "en": "Member organisations"},
                    "value": 1234,
                },
                {
                    "name": "km2_acquired",
                    "label": {"fr": "Km² acquis", "en": "Km² acquired"},
                    "value": 2500.5,
                    "unit": "km²",
                },
                {
                    "name": "secret",
                    "label": {"fr": "Une case secrète", "en": "A secret cell"},
                    "value": None,
                    "suppressed": True,
                },
            ],
        }
        self.export_answer: Download | Refused = Download(
            b"category,organisations_active\r\nfrench-public,5\r\n", "text/csv", "members_organisations.csv"
        )

    async def catalogue(self) -> list[dict[str, Any]]:
        self.calls.append(("catalogue", "", [], None))
        return self.indicators

    async def summary(self, year: int) -> dict[str, Any] | Refused:
        self.calls.append(("summary", str(year), [], None))
        return self.summary_answer

    async def indicator(
        self, name: str, params: list[tuple[str, str]], token: str | None
    ) -> dict[str, Any] | Refused:
        self.calls.append(("indicator", name, params, token))
        if name != "members_organisations":
            return Refused(404, "unknown-indicator", "indicateur inconnu")
        by = dict(params).get("by", "").split(",")
        return orgs_result([b for b in by if b])

    async def export(
        self, name: str, params: list[tuple[str, str]], fmt: str, token: str | None
    ) -> Download | Refused:
        self.calls.append(("export", f"{name}.{fmt}", params, token))
        return self.export_answer

    async def note(self, year: int, token: str) -> Download | Refused:
        self.calls.append(("note", str(year), [], token))
        return Download(b"%PDF-1.7 fake", "application/pdf", f"dinamis-note-{year}.pdf")


class Me:
    """Orders' `GET /v1/me` answer of the moment (the fake of upstream.Orders)."""

    def __init__(self) -> None:
        self.principal: dict[str, Any] = {
            "user_id": "sub-1",
            "organisation_id": "labo-1",
            "standing": "member",
            "roles": ["member"],
        }
        self.user: dict[str, Any] = {"display_name": "Marie Curie", "active": True}
        self.calls = 0

    def set(self, **principal: Any) -> None:
        self.principal = {"user_id": "sub-1", **principal}

    async def me(self, token: str) -> dict[str, Any] | None:
        return {"principal": dict(self.principal), "user": dict(self.user), "organisation": {"name": "X"}}

    async def me_now(self, token: str) -> dict[str, Any] | None:
        self.calls += 1
        return await self.me(token)


@pytest.fixture
async def figures(portal):
    reporting = FakeReporting()
    me = Me()
    portal.app.state.container.reporting = reporting
    portal.app.state.container.orders = me
    portal.reporting = reporting
    portal.me = me
    return portal


GOVERNANCE = {"organisation_id": "dinamis", "standing": "governance", "roles": ["governance"]}
OPERATOR = {"organisation_id": "dinamis", "standing": "staff", "roles": ["operator"]}


def texts(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


# -- who gets the dashboard --------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "active", "expected"),
    [
        (OPERATOR, True, {"operator"}),
        (
            {"organisation_id": "dinamis", "standing": "staff", "roles": ["admin", "governance"]},
            True,
            {"admin", "governance"},
        ),
        (GOVERNANCE, True, {"governance"}),
        (GOVERNANCE, False, None),  # deactivated
        ({**GOVERNANCE, "standing": "user-inactive"}, True, None),
        ({**GOVERNANCE, "organisation_id": "labo-1"}, True, None),  # a member organisation's user
        ({**GOVERNANCE, "standing": "not-a-member"}, True, None),  # orders does not say governance
        ({"organisation_id": "labo-1", "standing": "member", "roles": ["member", "referent"]}, True, None),
        (
            {"organisation_id": "labo-1", "standing": "member", "roles": ["operator"]},
            True,
            None,
        ),  # not staff standing
        ({"organisation_id": "dinamis", "standing": "not-a-member", "roles": []}, True, None),
        ({}, True, None),
    ],
)
def test_who_is_admitted_to_the_working_group(principal, active, expected):
    got = admitted({"principal": principal, "user": {"active": active}}, "dinamis")
    assert (set(got) if got is not None else None) == expected


def test_every_working_group_route_depends_on_the_guard(figures):
    routes = [r for r in api_routes(figures.app.routes) if r.path.startswith("/groupe-de-travail")]
    assert {r.path for r in routes} == {
        "/groupe-de-travail",
        "/groupe-de-travail/export/{filename}",
        "/groupe-de-travail/note/{filename}",
    }
    for route in routes:
        assert isinstance(route, APIRoute)
        assert depends_on(route.dependant, working_group), route.path


WG_PATHS = (
    "/groupe-de-travail",
    "/groupe-de-travail/export/members_organisations.csv",
    "/groupe-de-travail/note/2061.pdf",
)


async def test_nobody_logged_in_is_sent_to_the_login(figures):
    for path in WG_PATHS:
        response = await figures.client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/connexion?retour=%2Fgroupe-de-travail"), path
    assert [c for c in figures.reporting.calls if c[0] != "catalogue"] == []


@pytest.mark.parametrize(
    "principal",
    [
        {"organisation_id": "labo-1", "standing": "member", "roles": ["member", "referent"]},
        {**GOVERNANCE, "organisation_id": "labo-1", "standing": "member"},
        {"organisation_id": "dinamis", "standing": "not-a-member", "roles": []},
    ],
)
async def test_a_member_gets_403_and_nothing_is_asked_of_the_reporting(figures, principal):
    await figures.login()
    figures.me.set(**principal)
    for path in WG_PATHS:
        response = await figures.client.get(path)
        assert response.status_code == 403, path
        assert response.json()["code"] == "working-group-only"
    assert figures.reporting.calls == []


async def test_a_deactivated_governance_user_is_refused_on_the_next_request(figures):
    await figures.login()
    figures.me.set(**GOVERNANCE)
    assert (await figures.client.get("/groupe-de-travail")).status_code == 200
    figures.me.user["active"] = False
    assert (await figures.client.get("/groupe-de-travail")).status_code == 403


@pytest.mark.parametrize("principal", [OPERATOR, GOVERNANCE])
async def test_staff_and_governance_get_the_dashboard_with_their_token(figures, principal):
    await figures.login()
    figures.me.set(**principal)
    calls_before = figures.me.calls
    response = await figures.client.get(
        "/groupe-de-travail", params={"indicateur": "members_organisations", "by": ["year", "category"]}
    )
    assert response.status_code == 200, response.text[:300]
    assert figures.me.calls == calls_before + 1  # asked of orders on this very request
    name, params, token = next((c[1], c[2], c[3]) for c in figures.reporting.calls if c[0] == "indicator")
    assert name == "members_organisations" and params == [("by", "year,category")]
    assert token == figures.identity.access_token if hasattr(figures.identity, "access_token") else token
    assert token  # the user's token goes to the working group's route
    page = response.text
    assert "secret statistique (moins de 3 organisations)" in page
    assert 'href="/groupe-de-travail/export/members_organisations.csv?by=year%2Ccategory"' in page
    assert 'href="/groupe-de-travail/export/members_organisations.parquet?by=year%2Ccategory"' in page
    assert 'href="/groupe-de-travail/note/2061.pdf"' not in page  # no year filter: this year
    assert re.search(r'href="/groupe-de-travail/note/\d{4}\.pdf"', page)


async def test_governance_users_never_get_the_ops_console(figures):
    await figures.login()
    figures.me.set(**GOVERNANCE)
    for path in ("/ops", "/ops/journal", "/ops/annonces", "/ops/demandes", "/ops/quotas", "/ops/chaine"):
        response = await figures.client.get(path)
        assert response.status_code == 403, path
        assert response.json()["code"] == "staff-only"
    home = await figures.client.get("/", headers={"Accept": "text/html"})
    assert 'href="/groupe-de-travail"' in home.text and 'href="/ops"' not in home.text


async def test_the_dashboard_lists_the_catalogue_generically_contract_first(figures):
    await figures.login()
    figures.me.set(**OPERATOR)
    page = (await figures.client.get("/groupe-de-travail", params={"lang": "en"})).text
    options = re.findall(
        r'<option value="([a-z_]+)"(?: selected)?>', page.split('id="indicateur"')[1].split("</select>")[0]
    )
    assert options == ["members_organisations", "members_users", "a_custom_indicator"]
    # the custom indicator's own dimensions are offered when it is chosen
    page = (await figures.client.get("/groupe-de-travail", params={"indicateur": "a_custom_indicator"})).text
    assert 'id="by-quarter"' in page and 'id="by-collection"' in page and 'id="by-category"' not in page
    # its values are refused by the (fake) reporting: the refusal is shown, not a 500
    assert "Data not available" in page and "unknown-indicator" in page  # English: remembered


# -- the public page -------------------------------------------------------------------------


async def test_the_public_page_needs_no_login_and_shows_suppressed_cells_as_such(figures):
    response = await figures.client.get(
        "/chiffres", params={"annee": "2061"}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 200
    page = response.text
    # asked: the year's key figures, organisations by category for that year (public route: no token)
    assert ("summary", "2061", [], None) in figures.reporting.calls
    assert (
        "indicator",
        "members_organisations",
        [("by", "category"), ("year", "2061")],
        None,
    ) in figures.reporting.calls
    words = texts(page)
    assert "Organisations adhérentes 1 234" not in words  # value first, label under it
    assert "1\u202f234" in page and "2\u202f500,5" in page
    table = page.split('id="table-organisations-members_organisations"')[1].split("</table>")[0]
    cells = [html.unescape(c) for c in re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", table)]
    assert cells == [
        "Catégorie d'organisation",
        "Organisations actives",
        "Acteurs publics français",
        "5",
        "Recherche française",
        "4",
        "Prestataires de la commande publique",
        "secret statistique (moins de 3 organisations)",
    ]
    assert "<caption>Organisations adhérentes par catégorie, année 2061</caption>" in page
    chart = re.search(r"<bar-chart ([^>]*)>", page).group(1)
    attrs = dict(re.findall(r'([a-z-]+)="([^"]*)"', chart))
    assert json.loads(html.unescape(attrs["y"])) == [[5, 4, None]]  # the secret cell draws no bar
    assert json.loads(html.unescape(attrs["x"])) == [
        ["Acteurs publics français", "Recherche française", "Prestataires de la commande publique"]
    ]
    assert 'href="/chiffres/export/members_organisations.csv?by=category&amp;year=2061"' in page
    # the indicators the reporting does not publish yet are said to be missing
    assert "Pas encore publiés" in page and "Produits téléchargés par année" in words
    # a secret key figure
    assert "Une case secrète" in words


async def test_the_public_page_in_english(figures):
    page = (await figures.client.get("/chiffres", params={"annee": "2061", "lang": "en"})).text
    assert '<html lang="en"' in page
    assert "statistical confidentiality (fewer than 3 organisations)" in page
    assert "French public bodies" in page and "DINAMIS in figures" in page


async def test_the_public_page_without_a_summary_says_so(figures):
    figures.reporting.summary_answer = Refused(404, "not-available", "non disponible")
    page = (await figures.client.get("/chiffres", params={"annee": "2061"})).text
    assert "Les chiffres clés de l'année ne sont pas disponibles : non disponible" in html.unescape(page)
    assert "<bar-chart" in page


async def test_the_pages_hold_no_inline_script_or_style(figures):
    await figures.login()
    figures.me.set(**OPERATOR)
    for path in ("/chiffres?annee=2061", "/groupe-de-travail?by=category"):
        page = (await figures.client.get(path)).text
        assert not re.search(r"<script(?![^>]*\b(src|type=\"application/[a-z+]*json\")=?)[^>]*>", page), path
        assert " style=" not in page and "<style" not in page, path
        assert '<script src="/static/vendor/dsfr-chart.js" defer></script>' in page


# -- exports ------------------------------------------------------------------------------------


async def test_a_public_csv_is_relayed_with_its_headers_and_no_token(figures):
    response = await figures.client.get(
        "/chiffres/export/members_organisations.csv", params={"by": "category", "year": "2061"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="members_organisations.csv"'
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == b"category,organisations_active\r\nfrench-public,5\r\n"
    assert figures.reporting.calls[-1] == (
        "export",
        "members_organisations.csv",
        [("by", "category"), ("year", "2061")],
        None,
    )


async def test_a_public_export_cannot_ask_a_working_group_breakdown(figures):
    response = await figures.client.get(
        "/chiffres/export/members_organisations.csv", params={"by": "department"}
    )
    assert response.status_code == 400 and response.json()["code"] == "unknown-dimension"
    assert not [c for c in figures.reporting.calls if c[0] == "export"]


async def test_working_group_exports_and_note_carry_the_users_token(figures):
    await figures.login()
    figures.me.set(**GOVERNANCE)
    figures.reporting.export_answer = Download(
        b"PAR1...PAR1", "application/vnd.apache.parquet", "members_organisations.parquet"
    )
    response = await figures.client.get(
        "/groupe-de-travail/export/members_organisations.parquet", params={"by": "department"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    assert response.headers["cache-control"] == "private, no-store"
    call = figures.reporting.calls[-1]
    assert call[:3] == ("export", "members_organisations.parquet", [("by", "department")]) and call[3]
    note = await figures.client.get("/groupe-de-travail/note/2061.pdf")
    assert note.status_code == 200 and note.content.startswith(b"%PDF")
    assert note.headers["content-disposition"] == 'attachment; filename="dinamis-note-2061.pdf"'
    assert figures.reporting.calls[-1][:2] == ("note", "2061") and figures.reporting.calls[-1][3]


async def test_a_refused_export_is_the_reportings_refusal(figures):
    figures.reporting.export_answer = Refused(
        501, "format-not-available", "format non disponible (application/json)"
    )
    response = await figures.client.get("/chiffres/export/members_organisations.csv")
    assert response.status_code == 501 and response.json()["code"] == "format-not-available"


# -- bad parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/chiffres", {"annee": "20x1"}, 400, "bad-year"),
        ("/chiffres", {"annee": "1789"}, 400, "bad-year"),
        ("/chiffres/export/members_organisations.csv", {"year": "2061' OR 1=1"}, 400, "bad-filter"),
        ("/chiffres/export/members_organisations.csv", {"category": "DROP TABLE"}, 400, "bad-filter"),
        ("/chiffres/export/members_organisations.csv", {"by": "organisation_id"}, 400, "unknown-dimension"),
        ("/chiffres/export/members_organisations.xlsx", {}, 404, "not-found"),
        ("/chiffres/export/..%2F..%2Fetc%2Fpasswd.csv", {}, 404, "not-found"),
        ("/chiffres/export/Members.csv", {}, 404, "not-found"),
        ("/chiffres/export/not_in_catalogue.csv", {}, 404, "unknown-indicator"),
        ("/groupe-de-travail", {"indicateur": "../admin"}, 400, "unknown-indicator"),
        ("/groupe-de-travail", {"by": "year,category,department,year2"}, 400, "unknown-dimension"),
        (
            "/groupe-de-travail",
            {"by": ["year", "category", "department", "quarter"]},
            400,
            "unknown-dimension",
        ),
        ("/groupe-de-travail", {"department": "7500"}, 400, "bad-filter"),
        ("/groupe-de-travail", {"year": ",".join(str(2000 + i) for i in range(60))}, 400, "bad-filter"),
        ("/groupe-de-travail", {"annee_note": "abcd"}, 400, "bad-year"),
        ("/groupe-de-travail/note/2061.exe", {}, 404, "not-found"),
        ("/groupe-de-travail/note/99999.pdf", {}, 400, "bad-year"),
    ],
)
async def test_bad_parameters_are_refused_before_asking(figures, path, params, status, code):
    await figures.login()
    figures.me.set(**OPERATOR)
    response = await figures.client.get(path, params=params)
    assert response.status_code == status, response.text[:300]
    assert response.json()["code"] == code
    assert not [c for c in figures.reporting.calls if c[0] in ("indicator", "export", "note")]


async def test_too_many_dimensions_at_once(figures):
    figures.reporting.indicators = [{**ORGS, "dimensions": ["year", "category", "department", "quarter"]}]
    await figures.login()
    figures.me.set(**OPERATOR)
    response = await figures.client.get(
        "/groupe-de-travail", params={"by": "year,category,department,quarter"}
    )
    assert response.status_code == 400 and response.json()["code"] == "too-many-dimensions"


# -- pure pieces --------------------------------------------------------------------------------


def test_two_breakdowns_make_stacked_series():
    result = {
        "by": ["year", "sensor_family"],
        "measures": [{"name": "km2", "label": {"fr": "Km²"}}],
        "rows": [
            {"year": "2060", "sensor_family": "pleiades", "km2": 10.0, "suppressed": False},
            {"year": "2060", "sensor_family": "spot", "km2": 4.0, "suppressed": False},
            {"year": "2061", "sensor_family": "pleiades", "km2": 7.5, "suppressed": False},
            {"year": "2061", "sensor_family": "spot", "km2": None, "suppressed": True},
        ],
    }
    chart = build_chart(result, result["measures"][0], "fr")
    assert json.loads(chart.x) == [["2060", "2061"], ["2060", "2061"]]
    assert json.loads(chart.y) == [[10.0, 7.5], [4.0, None]]
    assert json.loads(chart.name) == ["pleiades", "spot"] and chart.stacked


def test_numbers_in_french_and_english():
    assert fmt_number(1234567, "fr") == "1\u202f234\u202f567"
    assert fmt_number(2500.5, "fr") == "2\u202f500,5"
    assert fmt_number(2500.5, "en") == "2,500.5"
    assert fmt_number(None, "fr") == ""


def test_years():
    assert parse_year(None, 2030) == 2030 and parse_year("2061", 2030) == 2061
    for bad in ("2101", "1999", "２０２０", "2020\n", "-2020"):
        with pytest.raises(PortalError):
            parse_year(bad, 2030)


# -- the HTTP adapter ----------------------------------------------------------------------------


async def test_the_adapter_never_relays_json_as_a_csv_and_sends_the_token():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.params.get("format") == "csv" and "wg" in request.url.path:
            return httpx.Response(
                200, content=b"a,b\r\n1,2\r\n", headers={"content-type": "text/csv; charset=utf-8"}
            )
        return httpx.Response(200, json={"rows": []})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        api = HttpReportingApi("http://reporting.test/", http)
        public = await api.export("members_organisations", [("by", "year")], "csv", None)
        assert isinstance(public, Refused) and public.code == "format-not-available"
        wg = await api.export("members_organisations", [("by", "year")], "csv", "tok")
        assert isinstance(wg, Download) and wg.content == b"a,b\r\n1,2\r\n"
    assert (
        seen[0].url.path == "/v1/indicators/members_organisations" and "authorization" not in seen[0].headers
    )
    assert seen[1].url.path == "/v1/wg/indicators/members_organisations"
    assert seen[1].headers["authorization"] == "Bearer tok"
    assert seen[1].url.params.get("by") == "year" and seen[1].url.params.get("format") == "csv"


async def test_the_years_with_figures_are_offered(figures):
    page = (await figures.client.get("/chiffres")).text
    select = page.split('id="annee"')[1].split("</select>")[0]
    assert '<option value="2061">' in select  # the fake's figures are of 2061 (by=year)
    assert ("indicator", "members_organisations", [("by", "year")], None) in figures.reporting.calls
