"""Membership application data (issue 14, issue 16): the department of the seat and the
charter and licence acceptance (versions, time, who) are recorded by orders; the terms
an application form shows come from orders."""

from __future__ import annotations

import pydantic
import pytest

from dinamis_orders.domain.organisations import CHARTER_VERSION, LICENCE_VERSION, Application
from dinamis_orders.entrypoints.http_membership import list_quotas, membership_terms, quota_ledger
from dinamis_orders.service import entitlements, membership
from dinamis_shared.auth import Forbidden, Identity
from dinamis_shared.departments import DEPARTMENTS
from dinamis_shared.events import SensorFamily


def application(**changes) -> Application:
    body = {
        "organisation_id": "org-dept",
        "name": "Laboratoire du Rhône",
        "category": "french-research",
        "legal_representative": {"name": "Jeanne Martin", "email": "d@labo.example.fr", "title": "Dir"},
        "accept_charter": CHARTER_VERSION,
        "accept_licence": LICENCE_VERSION,
        "referent_email": "referent@labo.example.fr",
        "referent_name": "Paul Referent",
        "department": "69",
        **changes,
    }
    return Application.model_validate(body)


async def test_the_department_and_acceptance_are_recorded(orders):
    applicant = await entitlements.resolve(orders, Identity(sub="usr-dept"))
    saved = await membership.apply(orders, applicant, application(department="2a"))
    record = await orders.organisations.require("org-dept")
    assert saved["department"] == record["department"] == "2A"  # INSEE codes are upper case
    acceptance = record["acceptance"]
    assert (acceptance["charter_version"], acceptance["licence_version"]) == (
        CHARTER_VERSION,
        LICENCE_VERSION,
    )
    stamp = orders.now().isoformat().replace("+00:00", "Z")
    assert acceptance["accepted_by"] == "usr-dept" and acceptance["accepted_at"] == stamp
    assert record["applied_at"] == stamp


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"department": "00"}, "département inconnu"),
        ({"department": "69<script>"}, "department"),
        ({"department": "20"}, "département inconnu"),  # Corsica is 2A/2B since 1976
        (
            {
                "department": "69",
                "country": "BE",
                "category": "international-research",
                "justification": "x" * 30,
            },
            "siège en France",
        ),
        ({"accept_charter": "charte-2019"}, "doivent être acceptées"),
    ],
)
def test_bad_departments_and_old_terms_are_refused_in_french(changes, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        application(**changes)


def test_a_department_is_optional_abroad_and_on_older_clients():
    assert application(department=None).department is None
    abroad = application(
        department=None, country="BE", category="international-research", justification="x" * 30
    )
    assert abroad.department is None


async def test_the_terms_are_what_an_application_must_accept():
    terms = await membership_terms()
    assert terms["charter_version"] == CHARTER_VERSION and terms["licence_version"] == LICENCE_VERSION
    assert "french-public" in terms["categories"] and "contractor" in terms["categories"]
    codes = [d["code"] for d in terms["departments"]]
    assert len(codes) == len(DEPARTMENTS) == 107 and {"01", "2A", "2B", "95", "974", "976"} <= set(codes)
    assert {"code": "69", "name": "Rhône"} in terms["departments"]


async def test_an_organisation_sees_its_quotas_and_their_ledger_and_no_one_elses(orders):
    referent = await orders.member_org("org-q", "ref-q")
    other = await orders.member_org("org-other", "ref-other")
    await orders.ledger.allocate("org-q|pleiades|2026-Q4", 500.0, "op", "dotation annuelle")
    await orders.ledger.adjust("org-q|pleiades|2026-Q4", -100.0, "op", "correction")
    await orders.ledger.allocate("org-other|spot|2026", 50.0, "op", "dotation")
    listed = await list_quotas(orders, referent, "org-q")
    assert [(q["family"], q["period"], q["allocated_km2"]) for q in listed["quotas"]] == [
        ("pleiades", "2026-Q4", 400.0)
    ]
    ledger = await quota_ledger(orders, referent, "org-q", SensorFamily.PLEIADES, "2026-Q4", 500)
    assert ledger["available_km2"] == 400.0
    assert [(e["kind"], e["km2"]) for e in ledger["entries"]] == [("allocate", 500.0), ("adjust", -100.0)]
    for call in (
        list_quotas(orders, other, "org-q"),
        quota_ledger(orders, other, "org-q", SensorFamily.PLEIADES, "2026-Q4", 5),
    ):
        with pytest.raises(Forbidden):
            await call


async def test_every_organisation_changed_event_carries_the_department(orders):
    """Issue 16: the reporting breaks figures down by department: the application's
    department travels on every `organisation-changed` (applied, approved, suspended)."""
    from dinamis_shared.events import OrganisationChangedV1, OrganisationStatus

    from .conftest import OPERATOR

    await orders.member_org("org-lyon", "usr-lyon", department="69")
    await orders.member_org(
        "org-abroad",
        "usr-abroad",
        category="international-research",
        country="DE",
        justification="Projet de recherche sur la forêt tempérée",
    )
    await membership.change_status(orders, OPERATOR, "org-lyon", OrganisationStatus.SUSPENDED, "impayé", None)
    events = [e for e in orders.organisations.events if isinstance(e, OrganisationChangedV1)]
    lyon = [(e.status.value, e.department) for e in events if e.organisation_id == "org-lyon"]
    abroad = [e.department for e in events if e.organisation_id == "org-abroad"]
    assert lyon == [("pending", "69"), ("active", "69"), ("suspended", "69")]
    assert abroad == [None, None]
