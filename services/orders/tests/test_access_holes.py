"""Issue 12, identity and access holes (unit, on the fakes): a deactivation by staff
wins over the referent; a contractor's access ends with its contract or its
commissioning body."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dinamis_orders.domain import organisations as rules
from dinamis_orders.domain.organisations import User, UserUpdate
from dinamis_orders.service import entitlements, membership
from dinamis_shared.auth import Forbidden, Identity, Role
from dinamis_shared.events import OrganisationStatus

from .conftest import OPERATOR


def _update(active: bool, **extra) -> UserUpdate:
    return UserUpdate(
        email="m@labo.example.fr", display_name="Marie", roles=[Role.MEMBER], active=active, **extra
    )


def test_edit_user_rule():
    user = User(user_id="u", organisation_id="o", email="m@labo.example.fr", display_name="M")
    off = rules.edit_user(user, _update(False), by_staff=True)
    assert not off.active and off.deactivated_by_staff
    with pytest.raises(Forbidden) as err:
        rules.edit_user(off, _update(True), by_staff=False)
    assert err.value.code == "deactivated-by-staff" and "personnel" in (err.value.message_fr or "")
    renamed = rules.edit_user(off, _update(False, language="en"), by_staff=False)
    assert not renamed.active and renamed.deactivated_by_staff  # a referent's edit keeps the block
    back = rules.edit_user(off, _update(True), by_staff=True)
    assert back.active and not back.deactivated_by_staff
    by_referent = rules.edit_user(user, _update(False), by_staff=False)
    assert not by_referent.deactivated_by_staff
    assert rules.edit_user(by_referent, _update(True), by_staff=False).active


async def test_a_referent_cannot_reactivate_a_user_staff_deactivated(orders):
    referent = await orders.member_org("org-a", "ref-a")
    await orders.join(referent, "org-a", "usr-m")
    await membership.put_user(orders, OPERATOR, "org-a", "usr-m", _update(False))
    with pytest.raises(Forbidden):
        await membership.put_user(orders, referent, "org-a", "usr-m", _update(True))
    assert (await entitlements.resolve(orders, Identity(sub="usr-m"))).standing == "user-inactive"
    history = await orders.users.history("usr-m")
    assert history[-1]["change"] == "edited by staff" and history[-1]["by"] == OPERATOR.user_id
    await membership.put_user(orders, OPERATOR, "org-a", "usr-m", _update(True))
    assert (await entitlements.resolve(orders, Identity(sub="usr-m"))).standing == "member"
    # Deactivated by its referent: the referent may reactivate.
    await membership.put_user(orders, referent, "org-a", "usr-m", _update(False))
    await membership.put_user(orders, referent, "org-a", "usr-m", _update(True))
    assert (await entitlements.resolve(orders, Identity(sub="usr-m"))).standing == "member"


# --- A. a contractor's access ends with its contract or its commissioning body ------------


async def test_a_contractor_loses_standing_when_its_contract_ends(orders):
    body = await orders.member_org("org-body", "ref-body", "french-public")
    now = orders.now()
    p = await orders.contractor_org(
        body, "org-bet", "ref-bet", now - timedelta(days=1), now + timedelta(days=10)
    )
    assert p.standing == "member" and p.in_good_standing
    assert p.access_until == now + timedelta(days=10)  # before both memberships end
    await membership.require_member(orders, p)
    orders.fake_clock.advance(timedelta(days=10))
    p = await entitlements.resolve(orders, Identity(sub="ref-bet"))
    assert p.standing == "delegation-expired" and not p.in_good_standing
    with pytest.raises(Forbidden) as err:
        await membership.require_member(orders, p)
    assert err.value.code == "delegation-expired" and "contrat" in (err.value.message_fr or "")


async def test_a_contractor_loses_standing_with_its_commissioning_body(orders):
    referent = await orders.member_org("org-body", "ref-body", "french-public")
    now = orders.now()
    far = now + timedelta(days=365 * 4)
    await orders.contractor_org(referent, "org-bet", "ref-bet", now - timedelta(days=1), far)
    p = await entitlements.resolve(orders, Identity(sub="ref-bet"))
    body = await orders.organisation("org-body")
    assert body is not None and p.access_until == body.valid_until < far  # the body's end counts
    await membership.change_status(orders, OPERATOR, "org-body", OrganisationStatus.SUSPENDED, "audit", None)
    p = await entitlements.resolve(orders, Identity(sub="ref-bet"))
    assert p.standing == "commissioning-inactive" and not p.in_good_standing
    decisions = await membership.item_decisions(orders, p, ["item-1"])
    assert decisions["item-1"].code == "commissioning-inactive"


def test_delegation_refusal_rule():
    from dinamis_orders.domain.organisations import Organisation
    from dinamis_shared.events import ContractorDelegation

    now = datetime.now(UTC)
    base = {
        "name": "X",
        "legal_representative": {"name": "Jeanne", "email": "j@x.fr", "title": "Dir"},
        "acceptance": {
            "charter_version": "c",
            "licence_version": "l",
            "accepted_at": now,
            "accepted_by": "u",
        },
        "applied_at": now,
        "status": "active",
        "valid_until": now + timedelta(days=30),
    }
    body = Organisation(organisation_id="body", category="french-public", **base)
    contractor = Organisation(
        organisation_id="bet",
        category="contractor",
        delegation=ContractorDelegation(
            commissioning_organisation_id="body", start=now - timedelta(days=2), end=now + timedelta(days=1)
        ),
        delegation_status="confirmed",
        **base,
    )
    assert rules.delegation_refusal(contractor, body, now) is None
    assert rules.delegation_refusal(contractor, None, now).code == "commissioning-inactive"  # type: ignore[union-attr]
    other = body.model_copy(update={"organisation_id": "other"})
    assert rules.delegation_refusal(contractor, other, now).code == "commissioning-inactive"  # type: ignore[union-attr]
    later = now + timedelta(days=1)
    assert rules.delegation_refusal(contractor, body, later).code == "delegation-expired"  # type: ignore[union-attr]
    earlier = now - timedelta(days=3)
    assert rules.delegation_refusal(contractor, body, earlier).code == "delegation-not-started"  # type: ignore[union-attr]
    assert rules.access_until(contractor, body) == now + timedelta(days=1)
    # B: only a delegation its commissioning body confirmed (and has not ended) counts.
    for status, code in (
        (None, "delegation-unconfirmed"),
        ("unconfirmed", "delegation-unconfirmed"),
        ("ended", "delegation-ended"),
    ):
        declared = contractor.model_copy(update={"delegation_status": status})
        assert rules.delegation_refusal(declared, body, now).code == code  # type: ignore[union-attr]


# --- C. applications: the staff organisation's id is reserved; re-applying takes an active referent


async def test_nobody_applies_as_the_staff_organisation(orders):
    from dinamis_orders.domain.organisations import MembershipError

    stranger = await entitlements.resolve(orders, Identity(sub="usr-stranger"))
    for org_id in ("dinamis", "DINAMIS"):
        with pytest.raises(MembershipError) as err:
            await orders.member_org(org_id, "usr-stranger")
        assert err.value.code == "reserved-identifier" and err.value.http_status == 409
        assert "réservé" in (err.value.message_fr or "")
    assert await orders.organisations.get("dinamis") is None
    assert await orders.user(stranger.user_id) is None


async def test_only_an_active_referent_reapplies_for_a_refused_organisation(orders):
    from dinamis_orders.domain.organisations import MembershipError

    await orders.member_org("org-a", "ref-a")
    await orders.join(OPERATOR, "org-a", "usr-m")
    await orders.join(OPERATOR, "org-a", "usr-off")
    await membership.put_user(orders, OPERATOR, "org-a", "usr-off", _update(False))
    await membership.change_status(orders, OPERATOR, "org-a", OrganisationStatus.SUSPENDED, "x", None)
    # (a refusal: straight into the records, as a refused application would leave it)
    state = await orders.organisations.get("org-a")
    assert state is not None
    await orders.organisations.write(
        "org-a", {**state, "status": "refused"}, expected_rev=state["rev"], by="op", change="refused"
    )
    for sub, code in (
        ("usr-m", "not-the-referent"),
        ("usr-off", "not-the-referent"),
        ("usr-x", "not-the-referent"),
    ):
        with pytest.raises(Forbidden) as err:
            await orders.member_org("org-a", sub)
        assert err.value.code == code
        user = await orders.user(sub)
        assert user is None or Role.REFERENT not in user.roles
    await orders.member_org("org-a", "ref-a")  # the active referent may: applied, then approved
    with pytest.raises(MembershipError) as already:  # active now: nobody applies again
        await orders.member_org("org-a", "ref-a")
    assert already.value.code == "already-exists"
    assert (await entitlements.resolve(orders, Identity(sub="ref-a"))).standing == "member"


def test_check_application_rule():
    from dinamis_orders.domain.organisations import MembershipError

    ref = User(user_id="r", organisation_id="o", email="r@x.fr", display_name="R", roles=[Role.REFERENT])
    rules.check_application("o", staff_organisation_id="staff", applicant=None, previous=None)
    rules.check_application(
        "o", staff_organisation_id="staff", applicant=ref, previous=OrganisationStatus.REFUSED
    )
    with pytest.raises(MembershipError):
        rules.check_application("Staff", staff_organisation_id="staff", applicant=None, previous=None)
    with pytest.raises(Forbidden):
        rules.check_application("p", staff_organisation_id="staff", applicant=ref, previous=None)
    with pytest.raises(MembershipError):
        rules.check_application(
            "o", staff_organisation_id="staff", applicant=ref, previous=OrganisationStatus.ACTIVE
        )
    inactive = ref.model_copy(update={"active": False})
    with pytest.raises(Forbidden):
        rules.check_application(
            "o", staff_organisation_id="staff", applicant=inactive, previous=OrganisationStatus.REFUSED
        )


# --- B. a contractor's delegation is confirmed (or ended) by its commissioning body -----------


def test_contract_rules():
    now = datetime.now(UTC)
    rules.check_contract(now - timedelta(days=9), now + timedelta(days=365 * 5 - 1), now)
    rules.check_contract(now - timedelta(days=9), now - timedelta(days=1), now)  # over: no access, allowed
    for start, end in ((now, now), (now, now - timedelta(days=1)), (now, now + timedelta(days=365 * 5 + 1))):
        with pytest.raises(rules.InvalidContract) as err:
            rules.check_contract(start, end, now)
        assert err.value.http_status == 422 and err.value.code == "invalid-contract"


async def test_a_contractor_has_no_access_until_its_commissioning_body_confirms(orders):
    referent = await orders.member_org("org-body", "ref-body", "french-public")
    now = orders.now()
    end = now + timedelta(days=30)
    p = await orders.contractor_org(
        referent, "org-bet", "ref-bet", now - timedelta(days=1), end, confirm=False
    )
    assert p.standing == "delegation-unconfirmed" and not p.in_good_standing
    assert (await membership.item_decisions(orders, p, ["i"]))["i"].code == "delegation-unconfirmed"
    # The body sees who names it; a plain member of it does not, nor staff confirm, nor another body.
    listed = await membership.list_delegations(orders, referent, "org-body")
    assert [(d["organisation_id"], d["delegation_status"]) for d in listed] == [("org-bet", "unconfirmed")]
    await orders.join(referent, "org-body", "usr-plain")
    plain = await entitlements.resolve(orders, Identity(sub="usr-plain"))
    other = await orders.member_org("org-other", "ref-other", "french-public")
    for who, body in ((plain, "org-body"), (OPERATOR, "org-body"), (other, "org-other"), (other, "org-body")):
        with pytest.raises((Forbidden, rules.DelegationNotFound)):
            await membership.decide_delegation(orders, who, body, "org-bet", confirm=True)
    with pytest.raises(Forbidden):
        await membership.list_delegations(orders, plain, "org-body")
    saved = await membership.decide_delegation(orders, referent, "org-body", "org-bet", confirm=True)
    assert saved["delegation_status"] == "confirmed" and saved["delegation_decided_by"] == "ref-body"
    p = await entitlements.resolve(orders, Identity(sub="ref-bet"))
    assert p.standing == "member" and p.access_until == end
    with pytest.raises(rules.MembershipError) as again:
        await membership.decide_delegation(orders, referent, "org-body", "org-bet", confirm=True)
    assert again.value.code == "delegation-decided"
    history = await orders.organisations.history("org-bet")
    assert history[-1]["change"] == "delegation confirmed by org-body" and history[-1]["by"] == "ref-body"
    assert history[-1]["events"] == ["fr.dinamis.organisation-changed.v1"]
    # The body ends it: no access from now on, the contract end is now.
    orders.fake_clock.advance(timedelta(days=2))
    ended = await membership.decide_delegation(
        orders, referent, "org-body", "org-bet", confirm=False, reason="marché résilié"
    )
    assert ended["delegation_status"] == "ended" and ended["delegation_reason"] == "marché résilié"
    p = await entitlements.resolve(orders, Identity(sub="ref-bet"))
    assert p.standing == "delegation-ended" and p.access_until == orders.now()
    assert (await orders.organisations.history("org-bet"))[-1]["why"] == "marché résilié"
    event = orders.organisations.events[-1]
    assert event.delegation is not None and event.delegation.end == orders.now()  # type: ignore[attr-defined]
    with pytest.raises(rules.MembershipError):
        await membership.decide_delegation(orders, referent, "org-body", "org-bet", confirm=True)


async def test_a_contract_end_is_bounded_when_applying(orders):
    referent = await orders.member_org("org-body", "ref-body", "french-public")
    now = orders.now()
    with pytest.raises(rules.InvalidContract):
        await orders.contractor_org(referent, "org-bet", "ref-bet", now, now + timedelta(days=365 * 100))
    assert await orders.organisations.get("org-bet") is None


# --- D. invitations instead of enrolling a sub without its consent ---------------------------


async def test_a_referent_invites_and_only_the_invitee_binds_their_account(orders):
    from dinamis_orders.domain.organisations import MembershipError, NewInvitation, NotFoundError

    referent = await orders.member_org("org-a", "ref-a")
    with pytest.raises(NotFoundError) as err:  # no more enrolment of any sub without consent
        await membership.put_user(orders, referent, "org-a", "usr-victim", _update(True))
    assert err.value.code == "not-a-user" and "invit" in (err.value.message_fr or "")
    assert await orders.user("usr-victim") is None
    # The victim can still apply for their own organisation.
    await orders.member_org("org-v", "usr-victim")
    body = NewInvitation(email="marie@labo.example.fr", display_name="Marie")
    inv = await membership.invite(orders, referent, "org-a", body)
    assert inv["status"] == "pending" and await orders.user("usr-marie") is None
    with pytest.raises(Forbidden) as wrong:  # somebody else's token
        other = await entitlements.resolve(orders, Identity(sub="usr-eve", email="eve@x.fr"))
        await membership.accept_invitation(orders, other, inv["invitation_id"])
    assert wrong.value.code == "invitation-not-yours"
    with pytest.raises(Forbidden) as already:  # a user of another organisation is never moved
        victim = await entitlements.resolve(orders, Identity(sub="usr-victim", email="marie@labo.example.fr"))
        await membership.accept_invitation(orders, victim, inv["invitation_id"])
    assert already.value.code == "already-a-user"
    assert (await orders.user("usr-victim")).organisation_id == "org-v"  # type: ignore[union-attr]
    marie = await entitlements.resolve(orders, Identity(sub="usr-marie", email="Marie@labo.example.fr"))
    await membership.accept_invitation(orders, marie, inv["invitation_id"])
    p = await entitlements.resolve(orders, Identity(sub="usr-marie"))
    assert p.organisation_id == "org-a" and p.standing == "member" and p.roles == {Role.MEMBER}
    assert (await orders.users.history("usr-marie"))[-1]["change"].startswith("accepted invitation")
    with pytest.raises(MembershipError):
        stranger = await entitlements.resolve(orders, Identity(sub="usr-x"))
        await membership.accept_invitation(orders, stranger, inv["invitation_id"])
    # Revoked or lapsed: nobody accepts.
    inv2 = await membership.invite(orders, referent, "org-a", body)
    await membership.revoke_invitation(orders, referent, "org-a", inv2["invitation_id"])
    inv3 = await membership.invite(orders, referent, "org-a", body)
    orders.fake_clock.advance(timedelta(days=rules.INVITATION_DAYS))
    for closed, code in ((inv2, "invitation-closed"), (inv3, "invitation-expired")):
        with pytest.raises(MembershipError) as lapsed:
            await membership.accept_invitation(orders, stranger, closed["invitation_id"])
        assert lapsed.value.code == code
    with pytest.raises(NotFoundError):
        await membership.accept_invitation(orders, stranger, "inv-nope")
    listed = await membership.list_invitations(orders, referent, "org-a")
    assert sorted(i["status"] for i in listed) == ["accepted", "pending", "revoked"]
