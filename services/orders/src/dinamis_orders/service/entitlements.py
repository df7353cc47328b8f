"""What a caller may do now, from the orders service's records: the one authority.

A token says only who the caller is (`Identity`: `sub`, e-mail). The user record keyed
by that `sub` says the rest: its organisation and that organisation's status and end,
the user's active flag and roles, staff (a user of the platform's own organisation —
the only place the operator and admin roles exist), a contractor's delegation window.
The orders service's routes resolve it here, in process; every other service asks
`POST /v1/access/whoami` through `dinamis_shared.auth.OrdersEntitlements`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dinamis_orders.domain import organisations as rules
from dinamis_orders.domain.organisations import Organisation, User
from dinamis_orders.service.context import Orders
from dinamis_shared.auth import (
    GOVERNANCE_STANDING,
    STAFF_ORGANISATION_ROLES,
    STAFF_ROLES,
    EntitlementsResolver,
    Forbidden,
    Identity,
    Principal,
    Role,
)


def entitlements_of(
    staff_organisation_id: str,
    user_id: str,
    user: User | None,
    org: Organisation | None,
    now: datetime,
    *,
    email: str | None = None,
    commissioning: Organisation | None = None,
) -> Principal:
    """The pure decision: a user record (or none), its organisation and (a contractor's)
    commissioning body -> a Principal."""
    if user is None:
        return Principal(
            user_id=user_id,
            email=email,
            standing="not-a-member",
            reason="inconnu de DINAMIS : demandez une adhésion ou une invitation"
            " / unknown to DINAMIS: apply for membership or ask for an invitation",
        )
    roles = frozenset(user.roles)
    base: dict[str, Any] = {
        "user_id": user_id,
        "organisation_id": user.organisation_id,
        "email": email or str(user.email),
    }
    if not user.active:
        return Principal(
            **base,
            roles=roles - STAFF_ORGANISATION_ROLES,
            standing="user-inactive",
            reason="compte désactivé / account deactivated",
        )
    if user.organisation_id == staff_organisation_id:
        if roles & STAFF_ROLES:
            return Principal(
                **base, roles=roles, standing="staff", reason="personnel DINAMIS / DINAMIS staff"
            )
        if Role.GOVERNANCE in roles:  # the working group: reads the reporting, never orders nor operates
            return Principal(
                **base,
                roles=roles,
                standing=GOVERNANCE_STANDING,
                reason="groupe de travail DINAMIS / DINAMIS working group",
            )
        return Principal(**base, roles=roles, standing="not-a-member", reason="aucun rôle / no role")
    # operator, admin and governance exist only in the platform's own organisation
    roles = roles - STAFF_ORGANISATION_ROLES
    as_member = Principal(**base, roles=roles)
    decision = rules.member_standing(as_member, org, user, now, commissioning)
    until = rules.access_until(org, commissioning)
    return Principal(**base, roles=roles, standing=decision.code, reason=decision.reason, access_until=until)


async def resolve(orders: Orders, identity: Identity) -> Principal:
    """The current entitlements of `identity.sub` (no cache: the records are right here)."""
    user = await orders.user(identity.sub)
    org = None
    if user is not None and user.organisation_id != orders.settings.staff_organisation_id:
        org = await orders.organisation(user.organisation_id)
    return entitlements_of(
        orders.settings.staff_organisation_id,
        identity.sub,
        user,
        org,
        orders.now(),
        email=identity.email,
        commissioning=await orders.commissioning_of(org),
    )


def local_entitlements(orders: Orders) -> EntitlementsResolver:
    async def entitlements(identity: Identity, credentials: dict[str, str]) -> Principal:
        return await resolve(orders, identity)

    return entitlements


async def ensure_staff(
    orders: Orders,
    user_id: str,
    email: str,
    display_name: str,
    roles: list[Role],
    *,
    by: str = "bootstrap",
    active: bool = True,
) -> dict:
    """Create or update a DINAMIS staff account (a user of the platform's own organisation).

    The first admin comes from here (`python -m dinamis_orders.staff`, run by whoever
    operates the database); later ones are added by admins through
    `PUT /v1/organisations/dinamis/users/{sub}`."""
    from dinamis_orders.service.membership import save_user

    if not set(roles) <= STAFF_ORGANISATION_ROLES:
        raise ValueError("staff hold the operator, admin and/or governance roles")
    user = User(
        user_id=user_id,
        organisation_id=orders.settings.staff_organisation_id,
        email=email,
        display_name=display_name,
        language="fr",
        roles=roles,
        active=active,
    )
    current = await orders.users.get(user_id)
    if current is not None and current["organisation_id"] != orders.settings.staff_organisation_id:
        raise ValueError(f"{user_id} is a user of {current['organisation_id']}, not staff")
    return await save_user(
        orders, user, by, orders.now(), change="staff account", rev=current["rev"] if current else 0
    )


# --- staff accounts and the quotas table, for the ops console ---------------------------


def self_lockout() -> Forbidden:
    return Forbidden(
        "an admin cannot remove their own admin role nor deactivate themselves",
        code="self-lockout",
        message_fr=(
            "un administrateur ne peut ni retirer son propre rôle d'administrateur ni désactiver "
            "son propre compte"
        ),
    )


def check_staff_change(principal: Principal, user_id: str, roles: list[Role], active: bool) -> None:
    """Admins only (from the records: `principal` is what they entitle the caller to), and
    never a change that locks the caller out."""
    if Role.ADMIN not in principal.roles:
        raise Forbidden(
            "only admins manage DINAMIS staff accounts",
            code="admin-only",
            message_fr="seuls les administrateurs gèrent les comptes du personnel DINAMIS",
        )
    if user_id == principal.user_id and (Role.ADMIN not in roles or not active):
        raise self_lockout()


async def list_staff(orders: Orders) -> list[dict]:
    found = await orders.users.find({"organisation_id": orders.settings.staff_organisation_id}, limit=1000)
    return sorted(found, key=lambda u: (not u.get("active", True), str(u.get("email", ""))))


async def put_staff(
    orders: Orders,
    principal: Principal,
    user_id: str,
    email: str,
    display_name: str,
    roles: list[Role],
    *,
    active: bool,
) -> dict:
    """An admin adds or edits a staff account (`ensure_staff`, named after them)."""
    check_staff_change(principal, user_id, roles, active)
    current = await orders.users.get(user_id)
    if current is not None and current["organisation_id"] != orders.settings.staff_organisation_id:
        raise Forbidden(
            f"{user_id} is a user of a member organisation: they cannot be staff",
            code="member-not-staff",
            message_fr=(
                f"{user_id} est utilisateur d'une organisation adhérente : il ne peut pas être membre "
                "du personnel"
            ),
        )
    return await ensure_staff(
        orders, user_id, email, display_name, sorted(set(roles)), by=principal.user_id, active=active
    )


async def all_quotas(
    orders: Orders,
    organisation_id: str | None,
    family: Any | None,
    period: str | None,
    limit: int,
) -> list[dict]:
    """Every quota with a ledger entry (organisation by organisation, as the ledger keeps
    them), its balance, and the organisation's name and status."""
    query: dict[str, Any] = {"organisation_id": organisation_id} if organisation_id else {}
    out: list[dict] = []
    for org in await orders.organisations.find(query, limit=2000):
        for qid in await orders.ledger.quota_ids_of(org["organisation_id"]):
            _, fam, per = qid.rsplit("|", 2)
            if (family is not None and fam != family.value) or (period is not None and per != period):
                continue
            b = await orders.ledger.balance(qid)
            out.append(
                {
                    "quota_id": qid,
                    "organisation_id": org["organisation_id"],
                    "organisation_name": org.get("name"),
                    "organisation_status": org.get("status"),
                    "family": fam,
                    "period": per,
                    "allocated_km2": b.allocated,
                    "reserved_km2": b.reserved,
                    "consumed_km2": b.consumed,
                    "available_km2": b.available,
                }
            )
            if len(out) >= limit:
                return out
    return out
