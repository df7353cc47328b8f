"""The staff-only routes of the ops console: staff accounts (listed by operators,
managed by admins only, never a self lock-out) and the quotas of every organisation."""

from __future__ import annotations

import pytest

from dinamis_orders.domain.organisations import UserUpdate
from dinamis_orders.entrypoints.http_staff import StaffAccount, all_quotas, list_staff, put_staff
from dinamis_orders.service import entitlements, membership
from dinamis_shared.auth import Forbidden, Identity, Role
from dinamis_shared.events import SensorFamily


async def _staff(orders, sub: str, *roles: Role):
    await entitlements.ensure_staff(orders, sub, f"{sub}@dinamis.example.fr", sub, list(roles))
    return await entitlements.resolve(orders, Identity(sub=sub))


def _account(*roles: str, active: bool = True, email: str = "new@dinamis.example.fr") -> StaffAccount:
    return StaffAccount(email=email, display_name="Nouvelle Recrue", roles=list(roles), active=active)


async def test_an_admin_adds_a_staff_member_who_then_is_staff(orders):
    admin = await _staff(orders, "adm-1", Role.ADMIN)
    saved = await put_staff(orders, admin, "kc-sub-new", _account("operator"))
    assert saved["organisation_id"] == "dinamis" and saved["roles"] == ["operator"]
    newcomer = await entitlements.resolve(orders, Identity(sub="kc-sub-new"))
    assert newcomer.standing == "staff" and newcomer.roles == {Role.OPERATOR}
    history = await orders.users.history("kc-sub-new")
    assert history[-1]["by"] == "adm-1"
    # roles changed, then deactivated: no longer staff
    await put_staff(orders, admin, "kc-sub-new", _account("operator", "admin"))
    assert (await entitlements.resolve(orders, Identity(sub="kc-sub-new"))).roles == {
        Role.OPERATOR,
        Role.ADMIN,
    }
    await put_staff(orders, admin, "kc-sub-new", _account("operator", active=False))
    gone = await entitlements.resolve(orders, Identity(sub="kc-sub-new"))
    assert gone.standing == "user-inactive" and not gone.is_staff
    listed = await list_staff(orders, admin)
    assert listed["may_manage"] is True
    assert [(s["user_id"], s["active"]) for s in listed["staff"]] == [("adm-1", True), ("kc-sub-new", False)]


async def test_an_operator_lists_staff_but_cannot_manage_them(orders):
    operator = await _staff(orders, "op-1", Role.OPERATOR)
    listed = await list_staff(orders, operator)
    assert listed["may_manage"] is False and [s["user_id"] for s in listed["staff"]] == ["op-1"]
    with pytest.raises(Forbidden) as refused:
        await put_staff(orders, operator, "kc-x", _account("admin"))
    assert refused.value.code == "admin-only" and "administrateurs" in refused.value.message_fr
    assert await orders.users.get("kc-x") is None
    # nor through the organisation's users route
    with pytest.raises(Forbidden):
        await membership.put_user(
            orders,
            operator,
            "dinamis",
            "kc-x",
            UserUpdate(email="x@d.fr", display_name="X", roles=[Role.ADMIN]),
        )


@pytest.mark.parametrize("change", [{"roles": ["operator"]}, {"roles": ["admin"], "active": False}])
async def test_an_admin_cannot_lock_themselves_out(orders, change):
    admin = await _staff(orders, "adm-2", Role.ADMIN, Role.OPERATOR)
    with pytest.raises(Forbidden) as refused:
        await put_staff(orders, admin, "adm-2", _account(*change["roles"], active=change.get("active", True)))
    assert refused.value.code == "self-lockout"
    update = UserUpdate(
        email="adm-2@d.fr",
        display_name="A",
        roles=[Role(r) for r in change["roles"]],
        active=change.get("active", True),
    )
    with pytest.raises(Forbidden) as again:
        await membership.put_user(orders, admin, "dinamis", "adm-2", update)
    assert again.value.code == "self-lockout"
    assert (await entitlements.resolve(orders, Identity(sub="adm-2"))).roles == {Role.ADMIN, Role.OPERATOR}
    # keeping the admin role while changing the rest is fine
    await put_staff(orders, admin, "adm-2", _account("admin", email="adm-2@dinamis.example.fr"))


async def test_members_are_refused_and_never_become_staff(orders):
    admin = await _staff(orders, "adm-3", Role.ADMIN)
    referent = await orders.member_org("org-m", "ref-m")
    with pytest.raises(Forbidden):  # the route dependency refuses members; the use case too
        await put_staff(orders, referent, "kc-y", _account("operator"))
    with pytest.raises(Forbidden) as refused:
        await put_staff(orders, admin, "ref-m", _account("operator"))
    assert refused.value.code == "member-not-staff"
    assert (await entitlements.resolve(orders, Identity(sub="ref-m"))).standing == "member"


async def test_staff_see_every_organisations_quotas_with_filters(orders):
    operator = await _staff(orders, "op-q", Role.OPERATOR)
    await orders.member_org("org-a", "ref-a")
    await orders.member_org("org-b", "ref-b")
    await orders.ledger.allocate("org-a|pleiades|2026-Q4", 500.0, "op", "dotation")
    await orders.ledger.allocate("org-a|spot|2026", 80.0, "op", "dotation")
    await orders.ledger.allocate("org-b|pleiades|2026-Q4", 20.0, "op", "dotation")
    found = (await all_quotas(orders, operator, None, None, None, 500))["quotas"]
    assert sorted((q["organisation_id"], q["family"], q["period"], q["available_km2"]) for q in found) == [
        ("org-a", "pleiades", "2026-Q4", 500.0),
        ("org-a", "spot", "2026", 80.0),
        ("org-b", "pleiades", "2026-Q4", 20.0),
    ]
    assert found[0]["organisation_name"] == "Labo org-a" and found[0]["organisation_status"] == "active"
    only = (await all_quotas(orders, operator, None, SensorFamily.PLEIADES, "2026-Q4", 500))["quotas"]
    assert sorted(q["organisation_id"] for q in only) == ["org-a", "org-b"]
    assert [
        q["family"] for q in (await all_quotas(orders, operator, "org-a", None, "2026", 500))["quotas"]
    ] == ["spot"]
    assert len((await all_quotas(orders, operator, None, None, None, 1))["quotas"]) == 1


async def test_admins_appoint_the_working_group_who_get_no_staff_route(orders):
    """Issue 16: `governance` (the working group) is granted by admins through the staff
    registry, is shown by `/v1/me`, and opens no staff route (the Staff dependency)."""
    from dinamis_orders.entrypoints.deps import Staff  # noqa: F401 (the dependency the routes use)
    from dinamis_orders.entrypoints.http_membership import me
    from dinamis_shared.auth import current_principal

    admin = await _staff(orders, "adm-gov", Role.ADMIN)
    operator = await _staff(orders, "op-gov", Role.OPERATOR)
    with pytest.raises(Forbidden) as refused:
        await put_staff(orders, operator, "kc-gt", _account("governance"))
    assert refused.value.code == "admin-only"
    saved = await put_staff(orders, admin, "kc-gt", _account("governance"))
    assert saved["roles"] == ["governance"] and saved["organisation_id"] == "dinamis"
    events = [e for e in orders.users.events if getattr(e, "user_id", None) == "kc-gt"]
    assert [e.roles for e in events] == [["governance"]]
    member = await entitlements.resolve(orders, Identity(sub="kc-gt"))
    shown = await me(orders, member)
    assert shown["principal"]["standing"] == "governance"
    assert shown["standing"] == {
        "allowed": False,
        "code": "governance",
        "reason": "groupe de travail DINAMIS / DINAMIS working group",
    }

    class Req:  # current_principal reads the principal the guard already authenticated
        state = type("S", (), {"preauthenticated_principal": member})()

    with pytest.raises(Forbidden) as refused:
        await current_principal(Req())  # type: ignore[arg-type]
    assert (refused.value.http_status, refused.value.code) == (403, "governance")
