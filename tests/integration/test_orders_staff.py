"""The orders service's staff-only routes on the real stack (FerretDB, Kafka): staff
accounts managed by admins only (no self lock-out), listed by operators, refused to
members; the quotas of every organisation, refused to members."""

from __future__ import annotations

import pytest

from tests.integration.orders_api import Caller, new_member_org, orders_alone, orders_api, uid
from tests.ports import free_port

PORT = free_port()
API = orders_api(PORT)


@pytest.fixture(scope="module")
def orders(tmp_path_factory, keyfile):
    with orders_alone(PORT, tmp_path_factory.mktemp("orders-staff"), keyfile) as proc:
        yield proc


def test_admins_manage_staff_accounts_operators_only_read_members_are_refused(keyfile, orders):
    admin = Caller.staff(keyfile, role="admin", api=API)
    operator = Caller.staff(keyfile, api=API)
    referent, member = new_member_org(keyfile, operator)
    newcomer = Caller(keyfile, uid("kc"), "dinamis", ["admin"], api=API)  # claims are ignored
    assert newcomer.call("GET", "/staff").status_code == 403

    body = {"email": "recrue@dinamis.example.fr", "display_name": "Recrue", "roles": ["operator"]}
    r = admin.call("PUT", f"/staff/{newcomer.user}", json=body)
    assert r.status_code == 200 and r.json()["roles"] == ["operator"], r.text
    me = newcomer.call("GET", "/me").json()["principal"]
    assert me["standing"] == "staff" and me["roles"] == ["operator"]

    listed = operator.call("GET", "/staff").json()
    assert listed["may_manage"] is False
    assert newcomer.user in {s["user_id"] for s in listed["staff"]}
    assert admin.call("GET", "/staff").json()["may_manage"] is True

    for caller in (operator, newcomer, referent, member):  # operators and members: refused
        r = caller.call("PUT", f"/staff/{uid('kc')}", json={**body, "roles": ["admin"]})
        assert r.status_code == 403, r.text
    r = operator.call("PUT", f"/staff/{newcomer.user}", json={**body, "roles": ["admin"]})
    assert r.status_code == 403 and r.json()["code"] == "admin-only"
    for caller in (referent, member):
        assert caller.call("GET", "/staff").status_code == 403
        assert caller.call("GET", "/quotas").status_code == 403

    # an admin cannot remove their own admin role, nor deactivate themselves
    mine = {"email": "admin@dinamis.example.fr", "display_name": "Admin"}
    for change in ({"roles": ["operator"]}, {"roles": ["admin"], "active": False}):
        r = admin.call(
            "PUT", f"/staff/{admin.user}", json={**mine, **change}, headers={"Accept-Language": "fr"}
        )
        assert r.status_code == 403 and r.json()["code"] == "self-lockout", r.text
        assert "administrateur" in r.json()["detail"]
    r = admin.call("PUT", f"/organisations/dinamis/users/{admin.user}", json={**mine, "roles": ["operator"]})
    assert r.status_code == 403 and r.json()["code"] == "self-lockout", r.text
    assert admin.call("GET", "/me").json()["principal"]["roles"] == ["admin"]

    # a member never becomes staff; bad input is a 422 problem
    r = admin.call("PUT", f"/staff/{member.user}", json=body)
    assert r.status_code == 403 and r.json()["code"] == "member-not-staff"
    r = admin.call("PUT", f"/staff/{uid('kc')}", json={**body, "roles": ["member"]})
    assert r.status_code == 422

    # deactivated: no longer staff, at once
    r = admin.call("PUT", f"/staff/{newcomer.user}", json={**body, "active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert newcomer.call("GET", "/staff").status_code == 403


def test_staff_list_every_organisations_quotas(keyfile, orders):
    operator = Caller.staff(keyfile, api=API)
    referent, _ = new_member_org(keyfile, operator)
    other, _ = new_member_org(keyfile, operator)
    for org, family, period, km2 in (
        (referent.org, "pleiades", "2026-Q3", 300),
        (other.org, "spot-6-7", "2026", 90),
    ):
        r = operator.call("POST", f"/quotas/{org}/{family}/{period}", json={"km2": km2, "reason": "dotation"})
        assert r.status_code == 200, r.text
    found = operator.call("GET", "/quotas").json()["quotas"]
    mine = {(q["organisation_id"], q["family"], q["period"], q["allocated_km2"]) for q in found}
    assert {(referent.org, "pleiades", "2026-Q3", 300.0), (other.org, "spot-6-7", "2026", 90.0)} <= mine
    filtered = operator.call("GET", "/quotas", params={"organisation_id": other.org}).json()["quotas"]
    assert [(q["family"], q["organisation_name"]) for q in filtered] == [("spot-6-7", f"Labo {other.org}")]
    assert operator.call("GET", "/quotas", params={"period": "2026-Q9"}).status_code == 422
