"""The console's memberships and quotas sections with a fake of the orders service
(`ops_members_api.OpsMembersApi`): the pages, the decisions and their forms (a reason
required, bad input refused in French, never a 500), orders' refusals shown with their
code, every POST journaled (refused ones too), the CSV exports (French headers, formula
injection neutralised)."""

from __future__ import annotations

import copy
import csv
import io
import re
from typing import Any

import pytest

from dinamis_portal.entrypoints.ops_quotas import number_cell, safe_cell, trend_chart
from dinamis_portal.organisation_api import Refused

PENDING = {
    "organisation_id": "labo-attente",
    "name": "Laboratoire en attente",
    "category": "contractor",
    "country": "FR",
    "siret": "12345678901234",
    "department": "69",
    "legal_representative": {"name": "Jeanne Martin", "email": "dir@labo.fr", "title": "Directrice"},
    "acceptance": {
        "charter_version": "charte-dinamis-2024",
        "licence_version": "licence-produits-dinamis-2024",
        "accepted_at": "2026-11-20T10:15:00+00:00",
        "accepted_by": "kc-sub-jeanne",
    },
    "justification": "<script>alert(1)</script> Suivi des haies",
    "status": "pending",
    "delegation": {
        "commissioning_organisation_id": "mairie-lyon",
        "start": "2026-01-01T00:00:00+00:00",
        "end": "2027-12-31T00:00:00+00:00",
    },
    "delegation_status": "unconfirmed",
    "applied_at": "2026-11-20T10:15:00+00:00",
}
ACTIVE = {
    **PENDING,
    "organisation_id": "mairie-lyon",
    "name": "Mairie de Lyon",
    "category": "french-public",
    "status": "active",
    "delegation": None,
    "delegation_status": None,
    "justification": None,
    "applied_at": "2025-01-01T00:00:00+00:00",
    "valid_until": "2028-01-01T00:00:00+00:00",
}


class FakeOpsMembers:
    """Orders as the console sees it: staff decide, admins manage staff (from `admin`),
    transitions as orders allows them; `refuse_next` makes the next write a refusal."""

    def __init__(self) -> None:
        self.orgs = {o["organisation_id"]: copy.deepcopy(o) for o in (PENDING, ACTIVE)}
        self.admin = False
        self.calls: list[tuple[str, Any]] = []
        self.refuse_next: Refused | None = None
        self.accounts = [
            {
                "user_id": "sub-1",
                "email": "op@dinamis.fr",
                "display_name": "Op",
                "roles": ["operator"],
                "active": True,
            }
        ]
        self.quota_rows = [
            {
                "quota_id": "mairie-lyon|pleiades|2026-Q4",
                "organisation_id": "mairie-lyon",
                "organisation_name": '=HYPERLINK("http://evil")',
                "organisation_status": "active",
                "family": "pleiades",
                "period": "2026-Q4",
                "allocated_km2": 400.0,
                "reserved_km2": 50.0,
                "consumed_km2": 100.0,
                "available_km2": 250.0,
            }
        ]
        self.entries = [
            {
                "seq": 1,
                "kind": "allocate",
                "km2": 500.0,
                "request_id": None,
                "by": "op",
                "reason": "dotation",
                "at": "2026-10-01T00:00:00+00:00",
                "balance_after": {"allocated": 500.0, "reserved": 0.0, "consumed": 0.0, "available": 500.0},
            },
            {
                "seq": 2,
                "kind": "adjust",
                "km2": -100.0,
                "request_id": None,
                "by": "op",
                "reason": "@SUM(A1) -correction",
                "at": "2026-10-02T00:00:00+00:00",
                "balance_after": {"allocated": 400.0, "reserved": 0.0, "consumed": 0.0, "available": 400.0},
            },
        ]

    def _write(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.refuse_next is not None:
            refusal, self.refuse_next = self.refuse_next, None
            raise refusal

    def _org(self, org_id: str) -> dict[str, Any]:
        if org_id not in self.orgs:
            raise Refused(404, "not-found", "organisation introuvable")
        return self.orgs[org_id]

    async def organisations(self, token, status=None):
        return [copy.deepcopy(o) for o in self.orgs.values() if status is None or o["status"] == status]

    async def organisation(self, token, org_id):
        return copy.deepcopy(self._org(org_id))

    async def history(self, token, org_id):
        self._org(org_id)
        return [
            {
                "rev": 1,
                "at": "2026-11-20T10:15:00+00:00",
                "by": "kc-sub-jeanne",
                "change": "applied",
                "why": None,
            }
        ]

    async def users(self, token, org_id):
        self._org(org_id)
        return [
            {
                "user_id": "kc-sub-jeanne",
                "email": "ref@labo.fr",
                "display_name": "Paul Référent",
                "roles": ["referent", "member"],
                "active": True,
            }
        ]

    async def delegations(self, token, org_id):
        self._org(org_id)
        if org_id != "mairie-lyon":
            return []
        return [
            {
                **{k: PENDING[k] for k in ("organisation_id", "name", "status", "delegation")},
                "delegation_status": "unconfirmed",
            }
        ]

    async def decide(self, token, org_id, body):
        self._write("decide", org_id, body)
        org = self._org(org_id)
        if org["status"] != "pending":
            raise Refused(409, "membership", "seule une demande en attente peut être approuvée")
        org["status"] = "active" if body["decision"] == "approve" else "refused"
        return org

    async def set_status(self, token, org_id, body):
        self._write("set_status", org_id, body)
        self._org(org_id)["status"] = body["status"]
        return self.orgs[org_id]

    async def staff(self, token):
        return {"staff": copy.deepcopy(self.accounts), "may_manage": self.admin}

    async def put_staff(self, token, user_id, body):
        self._write("put_staff", user_id, body)
        if not self.admin:
            raise Refused(
                403, "admin-only", "seuls les administrateurs gèrent les comptes du personnel DINAMIS"
            )
        self.accounts.append({"user_id": user_id, **body})
        return body

    async def quotas(self, token, filters):
        self.calls.append(("quotas", filters))
        return copy.deepcopy(self.quota_rows)

    async def ledger(self, token, org_id, family, period):
        self._org(org_id)
        return {
            "quota_id": f"{org_id}|{family}|{period}",
            "allocated_km2": 400.0,
            "reserved_km2": 50.0,
            "consumed_km2": 100.0,
            "available_km2": 250.0,
            "entries": copy.deepcopy(self.entries),
        }

    async def allocate(self, token, org_id, family, period, body):
        self._write("allocate", org_id, family, period, body)
        return {}


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
async def console(portal):
    fake = FakeOpsMembers()
    portal.app.state.container.ops_members = fake
    portal.orders.standing = "staff"
    await portal.login()
    portal.token = csrf((await portal.client.get("/ops/adhesions")).text)
    portal.fake = fake
    return portal


async def test_the_list_shows_pending_applications_first_and_filters(console):
    page = (await console.client.get("/ops/adhesions")).text
    pending = page.split('id="demandes-en-attente"')[1].split("</table>")[0]
    assert "labo-attente" in pending and "mairie-lyon" not in pending
    only = (await console.client.get("/ops/adhesions?statut=active&categorie=french-public")).text
    assert 'data-organisation="mairie-lyon"' in only.split('id="organisations"')[1]
    for bad in ("statut=%24ne", "categorie=x"):
        r = await console.client.get(f"/ops/adhesions?{bad}")
        assert r.status_code == 400 and r.json()["detail"].startswith(("statut", "catégorie"))


async def test_an_application_shows_its_evidence_and_is_escaped(console):
    r = await console.client.get("/ops/adhesions/labo-attente")
    assert r.status_code == 200
    evidence = r.text.split('id="preuve-acceptation"')[1].split("</dl>")[0]
    assert "charte-dinamis-2024" in evidence and "licence-produits-dinamis-2024" in evidence
    assert "kc-sub-jeanne" in evidence and "20 novembre 2026, 10:15 UTC" in evidence
    assert "12345678901234" in r.text and "Jeanne Martin, Directrice" in r.text
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text
    contract = r.text.split('id="contrat"')[1].split("</dl>")[0]
    assert "mairie-lyon" in contract and "non confirmée" in contract
    assert 'id="form-approuver"' in r.text and 'id="form-refuser"' in r.text
    body = (await console.client.get("/ops/adhesions/mairie-lyon")).text
    assert 'data-contractor="labo-attente"' in body and 'id="form-statut"' in body
    assert (await console.client.get("/ops/adhesions/inconnue")).status_code == 404
    assert (await console.client.get("/ops/adhesions/..%2F..%2Fstaff")).status_code == 404


async def test_approve_and_refuse_are_sent_to_orders_and_journaled(console):
    r = await console.client.post(
        "/ops/adhesions/labo-attente/decision",
        data={"csrf_token": console.token, "decision": "approve", "valid_until": "2029-06-30"},
    )
    assert (
        r.status_code == 303
        and r.headers["location"] == "/ops/adhesions/labo-attente?fait=membership-approved"
    )
    name, (org, body) = console.fake.calls[-1]
    assert (name, org, body["decision"], body["valid_until"]) == (
        "decide",
        "labo-attente",
        "approve",
        "2029-06-30T23:59:59+00:00",
    )
    entry = console.audit.recorded[-1]
    assert (entry.action, entry.target, entry.outcome) == (
        "membership.approve",
        "organisation:labo-attente",
        "done",
    )
    # approving again: orders refuses; the page shows it, the journal keeps it
    r = await console.client.post(
        "/ops/adhesions/labo-attente/decision",
        data={"csrf_token": console.token, "decision": "refuse", "reason": "doublon"},
    )
    assert r.status_code == 409 and "seule une demande en attente" in r.text and 'id="refus"' in r.text
    entry = console.audit.recorded[-1]
    assert (entry.action, entry.outcome, entry.details["code"], entry.reason) == (
        "membership.refuse",
        "refused",
        "membership",
        "doublon",
    )


async def test_a_refusal_needs_a_reason_and_bad_input_is_french_never_500(console):
    before = len(console.fake.calls)
    cases = [
        ("/ops/adhesions/labo-attente/decision", {"decision": "refuse", "reason": "  "}, "reason-required"),
        ("/ops/adhesions/labo-attente/decision", {"decision": "peut-être"}, "bad-decision"),
        (
            "/ops/adhesions/labo-attente/decision",
            {"decision": "approve", "valid_until": "31/12/2029"},
            "bad-date",
        ),
        ("/ops/adhesions/mairie-lyon/statut", {"status": "suspended"}, "reason-required"),
        ("/ops/adhesions/mairie-lyon/statut", {"status": "pending", "reason": "x"}, "bad-status"),
    ]
    for path, data, code in cases:
        r = await console.client.post(path, data={"csrf_token": console.token, **data})
        assert r.status_code == 400, (path, data, r.status_code)
        assert console.audit.recorded[-1].details["code"] == code
        assert console.audit.recorded[-1].outcome == "refused"
    assert len(console.fake.calls) == before  # orders never asked
    r = await console.client.post(
        "/ops/adhesions/a%20b/statut", data={"csrf_token": console.token, "status": "active", "reason": "ok"}
    )
    assert r.status_code == 400 and r.json()["code"] == "bad-organisation"


async def test_suspend_reinstate_renew_go_to_orders_with_the_reason(console):
    for status in ("suspended", "active"):
        r = await console.client.post(
            "/ops/adhesions/mairie-lyon/statut",
            data={
                "csrf_token": console.token,
                "status": status,
                "reason": "impayé de charte",
                "valid_until": "2030-01-31",
            },
        )
        assert r.status_code == 303 and r.headers["location"].endswith("fait=membership-status")
        assert console.fake.calls[-1] == (
            "set_status",
            (
                "mairie-lyon",
                {"status": status, "reason": "impayé de charte", "valid_until": "2030-01-31T23:59:59+00:00"},
            ),
        )
        entry = console.audit.recorded[-1]
        assert (entry.action, entry.reason, entry.details["status"]) == (
            "membership.status",
            "impayé de charte",
            status,
        )
    page = (await console.client.get("/ops/adhesions/mairie-lyon?fait=membership-status")).text
    assert "Le statut de l&#39;adhésion est changé." in page or "Le statut de l'adhésion est changé." in page


async def test_staff_accounts_read_only_for_operators_and_orders_refuses_them(console):
    page = (await console.client.get("/ops/adhesions/personnel")).text
    assert 'id="lecture-seule"' in page and 'id="form-personnel"' not in page
    r = await console.client.post(
        "/ops/adhesions/personnel",
        data={
            "csrf_token": console.token,
            "user_id": "kc-new",
            "email": "n@d.fr",
            "display_name": "N",
            "roles": "admin",
            "active": "on",
        },
    )
    assert r.status_code == 403 and "administrateurs" in r.text
    entry = console.audit.recorded[-1]
    assert (entry.action, entry.target, entry.outcome, entry.details["code"]) == (
        "staff.save",
        "staff:kc-new",
        "refused",
        "admin-only",
    )


async def test_an_admin_adds_a_staff_account_and_bad_input_is_refused(console):
    console.fake.admin = True
    page = (await console.client.get("/ops/adhesions/personnel")).text
    assert 'id="form-personnel"' in page and 'id="lecture-seule"' not in page
    data = {
        "csrf_token": console.token,
        "user_id": "kc-new",
        "email": "n@d.fr",
        "display_name": "Nouvelle",
        "active": "on",
    }
    r = await console.client.post(
        "/ops/adhesions/personnel", data={**data, "roles": ["operator", "admin", "member"]}
    )
    assert r.status_code == 303 and r.headers["location"] == "/ops/adhesions/personnel?fait=staff-saved"
    assert console.fake.calls[-1] == (
        "put_staff",
        (
            "kc-new",
            {"email": "n@d.fr", "display_name": "Nouvelle", "roles": ["admin", "operator"], "active": True},
        ),
    )
    assert console.audit.recorded[-1].action == "staff.save" and console.audit.recorded[-1].outcome == "done"
    # deactivate: no "active" box ticked
    await console.client.post("/ops/adhesions/personnel", data={**data, "roles": "operator", "active": ""})
    assert console.fake.calls[-1][1][1]["active"] is False
    for bad, code in (
        ({"roles": "member"}, "roles-required"),
        ({"roles": "operator", "user_id": "a b/.."}, "bad-sub"),
        ({"roles": "operator", "email": "pas-un-courriel"}, "bad-account"),
    ):
        r = await console.client.post("/ops/adhesions/personnel", data={**data, **bad})
        assert r.status_code == 400 and 'id="refus"' in r.text, bad
        assert console.audit.recorded[-1].details["code"] == code


async def test_quotas_table_chart_and_ledger(console):
    r = await console.client.get("/ops/quotas?famille=pleiades&periode=2026-q4")
    assert r.status_code == 200
    assert console.fake.calls[-1] == (
        "quotas",
        {"organisation_id": "", "family": "pleiades", "period": "2026-Q4"},
    )
    assert 'data-quota="mairie-lyon/pleiades/2026-Q4"' in r.text and "<svg" in r.text
    assert 'href="/ops/quotas/export.csv?famille=pleiades&amp;periode=2026-Q4"' in r.text
    for bad in ("famille=landsat", "periode=2026-Q5", "organisation=%24where"):
        assert (await console.client.get(f"/ops/quotas?{bad}")).status_code == 400
    ledger = await console.client.get("/ops/quotas/mairie-lyon/pleiades/2026-Q4")
    assert ledger.status_code == 200
    assert (
        'data-seq="2" data-kind="adjust" data-km2="-100.0"' in ledger.text
        and "@SUM(A1) -correction" in ledger.text
    )
    assert 'id="evolution-quota"' in ledger.text and "<polyline" in ledger.text
    assert (await console.client.get("/ops/quotas/mairie-lyon/landsat/2026")).status_code == 400
    assert (await console.client.get("/ops/quotas/inconnue/pleiades/2026")).status_code == 404


def test_the_trend_chart_follows_the_ledger():
    chart = trend_chart(FakeOpsMembers().entries)
    assert chart is not None and trend_chart([]) is None
    # allocated 500 then 400: the second step is lower (larger y) than the first
    ys = [float(p.split(",")[1]) for p in chart["allocated"].split()]
    assert ys[0] == ys[1] < ys[2] == ys[3]
    assert chart["ticks"][-1]["value"] == 500.0


async def test_allocation_and_adjustment_need_a_reason_and_are_journaled(console):
    data = {
        "csrf_token": console.token,
        "organisation": "mairie-lyon",
        "family": "pleiades",
        "period": "2026-Q4",
    }
    r = await console.client.post(
        "/ops/quotas", data={**data, "kind": "allocate", "km2": "1 250,5", "reason": "dotation T4"}
    )
    assert (
        r.status_code == 303
        and r.headers["location"] == "/ops/quotas/mairie-lyon/pleiades/2026-Q4?fait=quota-allocate"
    )
    assert console.fake.calls[-1] == (
        "allocate",
        ("mairie-lyon", "pleiades", "2026-Q4", {"km2": 1250.5, "reason": "dotation T4", "adjustment": False}),
    )
    entry = console.audit.recorded[-1]
    assert (entry.action, entry.target, entry.reason, entry.details["km2"]) == (
        "quota.allocate",
        "quota:mairie-lyon/pleiades/2026-Q4",
        "dotation T4",
        1250.5,
    )
    r = await console.client.post(
        "/ops/quotas",
        data={**data, "kind": "adjust", "km2": "-50", "reason": "correction", "from_ledger": "1"},
    )
    assert r.status_code == 303 and console.fake.calls[-1][1][3]["adjustment"] is True
    writes = lambda: [c for c in console.fake.calls if c[0] != "quotas"]  # noqa: E731
    calls = len(writes())
    for bad, code in (
        ({"kind": "allocate", "km2": "10", "reason": ""}, "reason-required"),
        ({"kind": "allocate", "km2": "-10", "reason": "x"}, "bad-area"),
        ({"kind": "allocate", "km2": "nan", "reason": "x"}, "bad-area"),
        ({"kind": "allocate", "km2": "1e308", "reason": "x"}, "bad-area"),
        ({"kind": "allocate", "km2": "0", "reason": "x"}, "bad-area"),
        ({"kind": "allocate", "km2": "douze", "reason": "x"}, "bad-area"),
        ({"kind": "donner", "km2": "10", "reason": "x"}, "bad-kind"),
        ({"kind": "allocate", "km2": "10", "reason": "x", "period": "2026-Q7"}, "bad-period"),
        ({"kind": "allocate", "km2": "10", "reason": "x", "family": "landsat"}, "bad-family"),
        ({"kind": "allocate", "km2": "10", "reason": "x", "organisation": "../x"}, "bad-organisation"),
    ):
        r = await console.client.post("/ops/quotas", data={**data, **bad})
        assert r.status_code == 400 and 'id="refus"' in r.text, bad
        assert (
            console.audit.recorded[-1].details["code"] == code
            and console.audit.recorded[-1].outcome == "refused"
        )
    assert len(writes()) == calls
    # orders refuses (below what is committed): shown on the ledger, journaled with its code
    console.fake.refuse_next = Refused(409, "negative-balance", "l'ajustement rendrait le solde négatif")
    r = await console.client.post(
        "/ops/quotas", data={**data, "kind": "adjust", "km2": "-9000", "reason": "erreur", "from_ledger": "1"}
    )
    assert r.status_code == 409 and "solde négatif" in r.text and 'id="journal-quota"' in r.text
    assert console.audit.recorded[-1].details["code"] == "negative-balance"
    # orders down: "failed", a page, never a 500
    console.fake.refuse_next = Refused(503, "orders-unavailable", "le service ne répond pas")
    r = await console.client.post("/ops/quotas", data={**data, "kind": "allocate", "km2": "5", "reason": "x"})
    assert r.status_code == 503 and console.audit.recorded[-1].outcome == "failed"


def _csv(response) -> list[list[str]]:
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment;")
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:]), delimiter=";"))


async def test_csv_exports_have_french_headers_and_defuse_formulas(console):
    rows = _csv(await console.client.get("/ops/quotas/export.csv?famille=pleiades&lang=en"))
    assert rows[0] == [
        "Organisation",
        "Nom de l'organisation",
        "Statut de l'adhésion",
        "Famille de capteurs",
        "Période",
        "Alloué (km²)",
        "Réservé (km²)",
        "Consommé (km²)",
        "Disponible (km²)",
    ]
    assert rows[1] == [
        "mairie-lyon",
        '\'=HYPERLINK("http://evil")',
        "active",
        "pleiades",
        "2026-Q4",
        "400",
        "50",
        "100",
        "250",
    ]
    assert console.audit.recorded[-1].action == "quota.export"
    ledger = _csv(await console.client.get("/ops/quotas/mairie-lyon/pleiades/2026-Q4/export.csv"))
    assert ledger[0][:3] == ["N°", "Date (UTC)", "Mouvement"] and ledger[0][5] == "Motif"
    assert ledger[2][1:6] == ["2026-10-02T00:00:00+00:00", "ajustement", "-100", "", "'@SUM(A1) -correction"]
    for cell in (c for row in ledger[1:] + rows[1:] for c in row):
        assert not cell.startswith(("=", "+", "@")), cell
        assert not cell.startswith("-") or re.fullmatch(r"-\d+(,\d+)?", cell), cell  # only our own numbers
    assert (await console.client.get("/ops/quotas/export.csv?periode=x")).status_code == 400


@pytest.mark.parametrize(
    "value, shown",
    [
        ("=1+1", "'=1+1"),
        ("+33 6", "'+33 6"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("ok", "ok"),
        (None, ""),
    ],
)
def test_safe_cell(value, shown):
    assert safe_cell(value) == shown


def test_number_cell():
    assert [number_cell(v) for v in (12.5, -100.0, "x", float("inf"), 0)] == ["12,5", "-100", "", "", "0"]


@pytest.mark.parametrize(
    "path",
    [
        "/ops/adhesions",
        "/ops/adhesions/labo-attente",
        "/ops/adhesions/mairie-lyon",
        "/ops/adhesions/personnel",
        "/ops/quotas",
        "/ops/quotas/mairie-lyon/pleiades/2026-Q4",
    ],
)
async def test_every_page_in_english_too(console, path):
    console.fake.admin = True
    r = await console.client.get(path + "?lang=en")
    assert r.status_code == 200 and '<html lang="en"' in r.text
    main = r.text.split("<main")[1].split("</main>")[0]
    assert not re.search(r"\{[a-z_]+\}|\{\{", main), path  # no text left unformatted


async def test_staff_roles_are_named_in_french_read_only(console):
    page = (await console.client.get("/ops/adhesions/personnel")).text
    row = page.split('data-staff="sub-1"')[1].split("</tr>")[0]
    assert "opérateur" in row and "operator" not in row.replace('data-staff="sub-1"', "")


async def test_an_admin_grants_the_governance_role_named_in_french(console):
    """Issue 16: the working group's role is offered on the staff page and sent to orders."""
    console.fake.admin = True
    page = (await console.client.get("/ops/adhesions/personnel")).text
    form = page.split('id="form-personnel"')[1]
    assert 'value="governance"' in form and "Groupe de travail (gouvernance)" in form
    data = {
        "csrf_token": console.token,
        "user_id": "kc-gt",
        "email": "gt@d.fr",
        "display_name": "Membre du GT",
        "roles": "governance",
        "active": "on",
    }
    r = await console.client.post("/ops/adhesions/personnel", data=data)
    assert r.status_code == 303
    assert console.fake.calls[-1] == (
        "put_staff",
        (
            "kc-gt",
            {"email": "gt@d.fr", "display_name": "Membre du GT", "roles": ["governance"], "active": True},
        ),
    )
