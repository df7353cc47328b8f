"""Entitlements come from the records, never from claims: unknown subs, deactivated
users, suspended organisations, staff only in the platform's own organisation, the
end of the membership or contract."""

from datetime import timedelta

import pytest

from dinamis_orders.domain.organisations import UserUpdate
from dinamis_orders.service import entitlements, membership
from dinamis_shared.auth import Identity, Role
from dinamis_shared.events import OrganisationStatus

from .conftest import OPERATOR


async def test_an_unknown_sub_has_no_organisation_and_no_role(orders):
    p = await entitlements.resolve(orders, Identity(sub="stranger", email="s@x.fr"))
    assert (p.organisation_id, p.roles, p.standing, p.in_good_standing) == (
        None,
        frozenset(),
        "not-a-member",
        False,
    )
    assert p.email == "s@x.fr"


async def test_member_then_suspended_then_deactivated(orders):
    referent = await orders.member_org("org-a", "ref-a")
    assert referent.standing == "member" and referent.organisation_id == "org-a"
    assert referent.access_until is not None and referent.access_until > orders.now()
    await membership.change_status(orders, OPERATOR, "org-a", OrganisationStatus.SUSPENDED, "audit", None)
    p = await entitlements.resolve(orders, Identity(sub="ref-a"))
    assert p.standing == "organisation-suspended" and not p.in_good_standing
    await membership.change_status(orders, OPERATOR, "org-a", OrganisationStatus.ACTIVE, "ok", None)
    update = UserUpdate(email="ref@labo.example.fr", display_name="R", roles=[Role.REFERENT], active=False)
    await membership.put_user(orders, OPERATOR, "org-a", "ref-a", update)
    assert (await entitlements.resolve(orders, Identity(sub="ref-a"))).standing == "user-inactive"


async def test_staff_only_in_the_platform_organisation_and_demotion_bites(orders):
    await entitlements.ensure_staff(orders, "op-1", "op@dinamis.fr", "Op", [Role.OPERATOR])
    p = await entitlements.resolve(orders, Identity(sub="op-1"))
    assert p.is_staff and p.standing == "staff" and p.organisation_id == "dinamis"
    await entitlements.ensure_staff(orders, "op-1", "op@dinamis.fr", "Op", [Role.OPERATOR], active=False)
    p = await entitlements.resolve(orders, Identity(sub="op-1"))
    assert not p.is_staff and p.standing == "user-inactive"
    with pytest.raises(ValueError):
        await entitlements.ensure_staff(orders, "op-2", "op@dinamis.fr", "Op", [Role.MEMBER])
    await orders.member_org("org-b", "ref-b")
    with pytest.raises(ValueError, match="not staff"):
        await entitlements.ensure_staff(orders, "ref-b", "r@b.fr", "R", [Role.ADMIN])


async def test_access_until_is_the_earliest_of_membership_and_contract(orders):
    await orders.member_org("org-body", "ref-body")
    now = orders.now()
    p = entitlements.entitlements_of("dinamis", "x", None, None, now)
    assert p.access_until is None
    body = await orders.organisation("org-body")
    assert body is not None
    from dinamis_shared.events import ContractorDelegation

    contractor = body.model_copy(
        update={
            "delegation": ContractorDelegation(
                commissioning_organisation_id="org-body",
                start=now - timedelta(days=1),
                end=now + timedelta(days=3),
            )
        }
    )
    user = await orders.user("ref-body")
    p = entitlements.entitlements_of("dinamis", "ref-body", user, contractor, now)
    assert p.access_until == now + timedelta(days=3)


# --- the working group (issue 16): role `governance` -----------------------------------


async def test_a_governance_user_of_the_platform_is_the_working_group_never_staff(orders):
    await entitlements.ensure_staff(orders, "gov-1", "gt@dinamis.fr", "GT", [Role.GOVERNANCE])
    p = await entitlements.resolve(orders, Identity(sub="gov-1"))
    assert (p.standing, p.roles, p.is_staff, p.in_good_standing) == (
        "governance",
        frozenset({Role.GOVERNANCE}),
        False,
        False,
    )
    assert p.reason == "groupe de travail DINAMIS / DINAMIS working group"
    refusal = p.refusal()  # what every ordering or staff route answers
    assert (refusal.http_status, refusal.code) == (403, "governance")


async def test_governance_with_an_operator_role_is_staff(orders):
    await entitlements.ensure_staff(orders, "gov-op", "o@dinamis.fr", "O", [Role.OPERATOR, Role.GOVERNANCE])
    p = await entitlements.resolve(orders, Identity(sub="gov-op"))
    assert p.standing == "staff" and p.is_staff and Role.GOVERNANCE in p.roles


async def test_governance_outside_the_platform_organisation_is_stripped(orders):
    from dinamis_orders.domain.organisations import Organisation, User

    await orders.member_org("org-gov", "ref-gov")
    org = await orders.organisation("org-gov")
    assert isinstance(org, Organisation)
    user = User(
        user_id="u-gov",
        organisation_id="org-gov",
        email="u@labo.example.fr",
        display_name="U",
        roles=[Role.MEMBER, Role.GOVERNANCE, Role.ADMIN],
    )
    p = entitlements.entitlements_of("dinamis", "u-gov", user, org, orders.now())
    assert (p.standing, p.roles) == ("member", frozenset({Role.MEMBER}))
    # and with no other role: a plain member, not the working group
    user = user.model_copy(update={"roles": [Role.GOVERNANCE]})
    p = entitlements.entitlements_of("dinamis", "u-gov", user, org, orders.now())
    assert (p.standing, p.roles) == ("member", frozenset())
    # a deactivated governance user keeps nothing either
    inactive = user.model_copy(update={"active": False, "organisation_id": "dinamis"})
    p = entitlements.entitlements_of("dinamis", "u-gov", inactive, None, orders.now())
    assert (p.standing, p.roles) == ("user-inactive", frozenset())


async def test_a_referent_cannot_grant_governance(orders):
    referent = await orders.member_org("org-ref", "ref-ref")
    update = UserUpdate(email="ref@labo.example.fr", display_name="R", roles=[Role.GOVERNANCE], active=True)
    with pytest.raises(Exception, match="member and referent"):
        await membership.put_user(orders, referent, "org-ref", "ref-ref", update)
