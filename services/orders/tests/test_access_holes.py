"""Issue 12, identity and access holes (unit, on the fakes): a deactivation by staff
wins over the referent."""

from __future__ import annotations

import pytest

from dinamis_orders.domain import organisations as rules
from dinamis_orders.domain.organisations import User, UserUpdate
from dinamis_orders.service import entitlements, membership
from dinamis_shared.auth import Forbidden, Identity, Role

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
    await membership.put_user(orders, referent, "org-a", "usr-m", _update(True))
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
