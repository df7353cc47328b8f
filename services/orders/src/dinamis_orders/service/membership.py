"""Use cases of membership: apply, decide, suspend, manage users, API keys, access checks."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from dinamis_orders.domain import organisations as rules
from dinamis_orders.domain.organisations import (
    Acceptance,
    Application,
    Decision,
    DelegationStatus,
    Invitation,
    NewInvitation,
    Organisation,
    User,
    UserUpdate,
)
from dinamis_orders.service import entitlements
from dinamis_orders.service.context import Orders
from dinamis_shared.auth import Forbidden, Identity, Principal, Role, Unauthenticated
from dinamis_shared.events import ContractorDelegation, OrganisationCategory, OrganisationStatus

log = logging.getLogger(__name__)


# The orders service itself acting on a schedule (membership expiry): never a caller.
SYSTEM = Principal(
    user_id="orders", organisation_id="dinamis", roles=frozenset({Role.OPERATOR}), standing="staff"
)


def _state(model: Organisation | User) -> dict:
    return model.model_dump(mode="json")


async def apply(orders: Orders, principal: Principal, application: Application) -> dict:
    """The legal representative (or their delegate) applies for their organisation and
    becomes its referent. The caller must be unknown to the platform (no user record),
    or an active referent of a refused application re-applying for the same organisation
    (a new revision of the same record). Staff do not apply; the staff organisation's
    identifier is reserved (`rules.check_application`)."""
    now = orders.now()
    org_id = application.organisation_id or f"org-{secrets.token_hex(5)}"
    if principal.organisation_id == orders.settings.staff_organisation_id or principal.is_staff:
        raise Forbidden(
            "DINAMIS staff do not apply for membership",
            message_fr="le personnel DINAMIS ne demande pas d'adhésion",
        )
    previous = await orders.organisations.get(org_id)
    rules.check_application(
        org_id,
        staff_organisation_id=orders.settings.staff_organisation_id,
        applicant=await orders.user(principal.user_id),
        previous=OrganisationStatus(previous["status"]) if previous else None,
    )
    if application.category is OrganisationCategory.CONTRACTOR:
        body = await orders.organisation(application.commissioning_organisation_id or "")
        if body is None or body.category is not OrganisationCategory.FRENCH_PUBLIC or not body.is_active(now):
            raise rules.MembershipError(
                "the commissioning body must be an active French public body member",
                message_fr="l'organisme commanditaire doit être un organisme public français adhérent actif",
            )
    delegation = None
    if application.category is OrganisationCategory.CONTRACTOR:
        rules.check_contract(application.contract_start, application.contract_end, now)  # type: ignore[arg-type]
        delegation = ContractorDelegation(
            commissioning_organisation_id=application.commissioning_organisation_id,  # type: ignore[arg-type]
            start=application.contract_start,  # type: ignore[arg-type]
            end=application.contract_end,  # type: ignore[arg-type]
        )
    org = Organisation(
        organisation_id=org_id,
        name=application.name,
        category=application.category,
        country=application.country,
        siret=application.siret,
        department=application.department,
        legal_representative=application.legal_representative,
        acceptance=Acceptance(
            charter_version=application.accept_charter,
            licence_version=application.accept_licence,
            accepted_at=now,
            accepted_by=principal.user_id,
        ),
        justification=application.justification,
        delegation=delegation,
        delegation_status=DelegationStatus.UNCONFIRMED if delegation else None,
        applied_at=now,
    )
    referent = User(
        user_id=principal.user_id,
        organisation_id=org.organisation_id,
        email=application.referent_email,
        display_name=application.referent_name,
        roles=[Role.REFERENT, Role.MEMBER],
    )
    rev = previous["rev"] if previous else 0
    saved = await orders.organisations.write(
        org.organisation_id,
        _state(org),
        expected_rev=rev,
        by=principal.user_id,
        change="applied",
        events=[org.changed_event(rev + 1, principal.user_id, now)],
    )
    await save_user(orders, referent, principal.user_id, now, change="referent of the application")
    return saved


async def save_user(
    orders: Orders, user: User, by: str, now: datetime, change: str, rev: int | None = None
) -> dict:
    """Write a user; `rev` is the revision the caller checked (a concurrent change fails)."""
    if rev is None:
        current = await orders.users.get(user.user_id)
        rev = current["rev"] if current else 0
    return await orders.users.write(
        user.user_id,
        _state(user),
        expected_rev=rev,
        by=by,
        change=change,
        events=[user.changed_event(rev + 1, by, now)],
    )


async def _transition(orders: Orders, org_id: str, by: str, change: str, fn) -> dict:
    state = await orders.organisations.require(org_id, "organisation")
    org = Organisation.model_validate({k: v for k, v in state.items() if k != "rev"})
    now = orders.now()
    new = fn(org, now)
    return await orders.organisations.write(
        org_id,
        _state(new),
        expected_rev=state["rev"],
        by=by,
        change=change,
        why=new.reason,
        events=[new.changed_event(state["rev"] + 1, by, now)],
    )


async def decide(
    orders: Orders,
    operator: Principal,
    org_id: str,
    approve: bool,
    reason: str | None,
    valid_until: datetime | None,
) -> dict:
    if approve:
        return await _transition(
            orders,
            org_id,
            operator.user_id,
            "approved",
            lambda org, now: rules.approve(org, operator.user_id, now, valid_until),
        )
    if not reason:
        raise rules.MembershipError("a refusal needs a reason", message_fr="un refus doit être motivé")
    return await _transition(
        orders,
        org_id,
        operator.user_id,
        "refused",
        lambda org, now: rules.refuse(org, operator.user_id, now, reason),
    )


async def change_status(
    orders: Orders,
    operator: Principal,
    org_id: str,
    status: OrganisationStatus,
    reason: str,
    valid_until: datetime | None,
) -> dict:
    return await _transition(
        orders,
        org_id,
        operator.user_id,
        f"status {status}",
        lambda org, now: rules.change_status(org, status, operator.user_id, now, reason, valid_until),
    )


async def check_manages(orders: Orders, principal: Principal, org_id: str) -> None:
    """Staff, or an active referent of `org_id` — by the token *and* by the user's record
    (a referent demoted or deactivated by another referent loses the right at once)."""
    if principal.is_staff:
        return
    refused = Forbidden(
        "only the organisation's referent (or DINAMIS staff) manages its users",
        message_fr="seul le référent de l'organisation (ou le personnel DINAMIS) gère ses utilisateurs",
    )
    if principal.organisation_id != org_id or Role.REFERENT not in principal.roles:
        raise refused
    record = await orders.user(principal.user_id)
    if (
        record is None
        or not record.active
        or record.organisation_id != org_id
        or Role.REFERENT not in record.roles
    ):
        raise refused


async def put_user(
    orders: Orders, principal: Principal, org_id: str, user_id: str, update: UserUpdate
) -> dict:
    """A referent adds, edits, activates or deactivates a user of their own organisation.

    DINAMIS staff are users of the platform's own organisation (`staff_organisation_id`,
    not a member body): only admins manage them, and only there are the operator and
    admin roles granted (notify finds operators to alert through these records)."""
    staff_org = orders.settings.staff_organisation_id
    granted = set(update.roles)
    if org_id == staff_org:
        if Role.ADMIN not in principal.roles:
            raise Forbidden(
                "only admins manage DINAMIS staff accounts",
                message_fr="seuls les administrateurs gèrent les comptes du personnel DINAMIS",
            )
        entitlements.check_staff_change(principal, user_id, list(granted), update.active)
    else:
        await check_manages(orders, principal, org_id)
        await orders.organisations.require(org_id, "organisation")
        if granted - {Role.MEMBER, Role.REFERENT}:
            raise Forbidden(
                "members of an organisation hold only the member and referent roles",
                message_fr="les membres d'une organisation n'ont que les rôles member et referent",
            )
    current = await orders.users.get(user_id)
    existing = User.model_validate({k: v for k, v in current.items() if k != "rev"}) if current else None
    if existing is not None and existing.organisation_id != org_id:
        raise Forbidden(
            "this user belongs to another organisation",
            message_fr="cet utilisateur appartient à une autre organisation",
        )
    if existing is None and org_id != staff_org:  # a person joins by accepting an invitation
        raise rules.NotFoundError(
            f"{user_id!r} is not a user of {org_id!r}: invite them"
            f" (POST /v1/organisations/{org_id}/invitations)",
            code="not-a-user",
            message_fr=(
                f"{user_id!r} n'est pas utilisateur de {org_id!r} : invitez cette personne "
                f"(POST /v1/organisations/{org_id}/invitations)"
            ),
        )
    if existing is None:
        user = User(user_id=user_id, organisation_id=org_id, **update.model_dump())
    else:  # a deactivation by staff is lifted only by staff
        user = rules.edit_user(existing, update, by_staff=principal.is_staff)
    return await save_user(
        orders,
        user,
        principal.user_id,
        orders.now(),
        change="edited by staff" if principal.is_staff else "edited by referent",
        rev=current["rev"] if current else 0,
    )


# --- contractors' delegations, as their commissioning body sees them -------------------------

DELEGATION_FIELDS = (
    "organisation_id",
    "name",
    "category",
    "siret",
    "legal_representative",
    "status",
    "delegation",
    "delegation_status",
    "delegation_decided_by",
    "delegation_decided_at",
    "delegation_reason",
    "applied_at",
)


def _delegation_view(state: dict) -> dict:
    view = {k: state.get(k) for k in DELEGATION_FIELDS}
    view["delegation_status"] = view["delegation_status"] or DelegationStatus.UNCONFIRMED.value
    return view


async def list_delegations(orders: Orders, principal: Principal, body_id: str) -> list[dict]:
    """The contractors that name `body_id` as their commissioning body (whatever their
    status): for its active referents, and staff."""
    await check_manages(orders, principal, body_id)
    found = await orders.organisations.find({"delegation.commissioning_organisation_id": body_id}, limit=1000)
    return [_delegation_view(s) for s in found]


async def decide_delegation(
    orders: Orders,
    principal: Principal,
    body_id: str,
    contractor_id: str,
    confirm: bool,
    reason: str | None = None,
) -> dict:
    """An active referent of the commissioning body confirms a contractor's delegation,
    or ends it (staff may end one too, never confirm: only the body vouches for its
    contract). The contractor's record changes (history, `organisation-changed`)."""
    await check_manages(orders, principal, body_id)
    if confirm and principal.is_staff:
        raise Forbidden(
            "only a referent of the commissioning body confirms its contractors",
            code="not-the-commissioning-body",
            message_fr="seul un référent de l'organisme commanditaire confirme ses prestataires",
        )
    state = await orders.organisations.get(contractor_id)
    if state is None:
        raise rules.DelegationNotFound(
            f"no contractor delegation of {contractor_id!r} names {body_id!r}",
            message_fr=f"aucune délégation de {contractor_id!r} ne désigne {body_id!r}",
        )
    contractor = Organisation.model_validate({k: v for k, v in state.items() if k != "rev"})
    now = orders.now()
    by = principal.user_id
    if confirm:
        new = rules.confirm_delegation(contractor, body_id, by, now)
        change = f"delegation confirmed by {body_id}"
    else:
        why = reason or "fin de la délégation / delegation ended"
        new = rules.end_delegation(contractor, body_id, by, now, why)
        change = "delegation ended by staff" if principal.is_staff else f"delegation ended by {body_id}"
    saved = await orders.organisations.write(
        contractor_id,
        _state(new),
        expected_rev=state["rev"],
        by=by,
        change=change,
        why=new.delegation_reason,
        events=[new.changed_event(state["rev"] + 1, by, now)],
    )
    return _delegation_view(saved)


# --- invitations ------------------------------------------------------------------------------


async def invite(orders: Orders, principal: Principal, org_id: str, body: NewInvitation) -> dict:
    """A referent (or staff) invites someone, by e-mail, to become a user of the
    organisation. Nothing binds any account until the invitee accepts with their own
    token; the invitation (its id is the secret) is handed to them by the referent."""
    if org_id == orders.settings.staff_organisation_id:
        raise Forbidden(
            "staff accounts are made by admins (PUT /v1/organisations/dinamis/users/{sub})",
            message_fr="les comptes du personnel sont créés par les administrateurs",
        )
    await check_manages(orders, principal, org_id)
    await orders.organisations.require(org_id, "organisation")
    if set(body.roles) - {Role.MEMBER, Role.REFERENT}:
        raise Forbidden(
            "members of an organisation hold only the member and referent roles",
            message_fr="les membres d'une organisation n'ont que les rôles member et referent",
        )
    now = orders.now()
    invitation = Invitation(
        invitation_id=f"inv-{secrets.token_hex(16)}",
        organisation_id=org_id,
        **body.model_dump(),
        invited_by=principal.user_id,
        invited_at=now,
        expires_at=now + timedelta(days=rules.INVITATION_DAYS),
    )
    return await orders.invitations.write(
        invitation.invitation_id,
        invitation.model_dump(mode="json"),
        expected_rev=0,
        by=principal.user_id,
        change="invited",
    )


async def list_invitations(orders: Orders, principal: Principal, org_id: str) -> list[dict]:
    await check_manages(orders, principal, org_id)
    return await orders.invitations.find({"organisation_id": org_id}, limit=1000)


def _no_invitation(invitation_id: str) -> rules.NotFoundError:
    return rules.NotFoundError(
        f"no invitation {invitation_id!r}", message_fr=f"invitation {invitation_id!r} introuvable"
    )


async def revoke_invitation(orders: Orders, principal: Principal, org_id: str, invitation_id: str) -> dict:
    await check_manages(orders, principal, org_id)
    state = await orders.invitations.get(invitation_id)
    if state is None or state["organisation_id"] != org_id:
        raise _no_invitation(invitation_id)
    if state["status"] != rules.InvitationStatus.PENDING.value:
        return state
    return await orders.invitations.write(
        invitation_id,
        {**state, "status": rules.InvitationStatus.REVOKED.value},
        expected_rev=state["rev"],
        by=principal.user_id,
        change="revoked",
    )


async def accept_invitation(orders: Orders, principal: Principal, invitation_id: str) -> dict:
    """The invitee, with their own login token, becomes a user of the organisation."""
    if principal.via != "jwt":
        raise Forbidden(
            "an invitation is accepted with a login token",
            message_fr="une invitation s'accepte avec un jeton de connexion",
        )
    existing = await orders.user(principal.user_id)
    rules.not_a_user_yet(existing)
    state = await orders.invitations.get(invitation_id)
    if state is None:
        raise _no_invitation(invitation_id)
    invitation = Invitation.model_validate({k: v for k, v in state.items() if k != "rev"})
    now = orders.now()
    accepted, user = rules.accept_invitation(invitation, principal.user_id, principal.email, existing, now)
    await orders.invitations.write(
        invitation_id,
        accepted.model_dump(mode="json"),
        expected_rev=state["rev"],
        by=principal.user_id,
        change="accepted",
    )
    return await save_user(
        orders, user, principal.user_id, now, change=f"accepted invitation {invitation_id}", rev=0
    )


# --- API keys ------------------------------------------------------------------------------


def _digest(secret: str) -> str:
    # Secrets are 256-bit random values: a plain SHA-256 is enough (nothing to brute-force).
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_api_key(orders: Orders, principal: Principal, name: str) -> dict:
    if principal.via != "jwt":
        raise Forbidden(
            "API keys are created with a login token, not another API key",
            message_fr="une clé d'API se crée avec un jeton de connexion, pas une autre clé",
        )
    record = await orders.user(principal.user_id)
    if record is None or not record.active or record.organisation_id != principal.organisation_id:
        raise Forbidden(
            "API keys are for registered, active users",
            message_fr="les clés d'API sont réservées aux utilisateurs enregistrés et actifs",
        )
    access_key = "dk_" + secrets.token_hex(10)
    secret_key = secrets.token_urlsafe(32)
    state = {
        "access_key": access_key,
        "name": name,
        "user_id": principal.user_id,
        "organisation_id": principal.organisation_id,
        "roles": sorted(r.value for r in principal.roles),
        "secret_sha256": _digest(secret_key),
        "created_at": orders.now().isoformat(),
        "revoked_at": None,
    }
    await orders.api_keys.write(access_key, state, expected_rev=0, by=principal.user_id, change="created")
    return {
        "access_key": access_key,
        "secret_key": secret_key,
        "name": name,
        "created_at": state["created_at"],
    }


def _public_key(state: dict) -> dict:
    return {
        k: state[k]
        for k in ("access_key", "name", "user_id", "organisation_id", "roles", "created_at", "revoked_at")
    }


async def list_api_keys(orders: Orders, principal: Principal) -> list[dict]:
    return [_public_key(s) for s in await orders.api_keys.find({"user_id": principal.user_id})]


async def revoke_api_key(orders: Orders, principal: Principal, access_key: str) -> dict:
    # Someone else's key answers exactly as a key that does not exist: no oracle for
    # which access-key ids are in use.
    state = await orders.api_keys.get(access_key)
    if state is None or (state["user_id"] != principal.user_id and not principal.is_staff):
        raise rules.NotFoundError(
            f"API key {access_key!r} not found", message_fr=f"clé d'API {access_key!r} introuvable"
        )
    if state["revoked_at"] is None:
        state = await orders.api_keys.write(
            access_key,
            {**state, "revoked_at": orders.now().isoformat()},
            expected_rev=state["rev"],
            by=principal.user_id,
            change="revoked",
        )
    return _public_key(state)


async def verify_api_key(orders: Orders, access_key: str, secret_key: str) -> Principal:
    state = await orders.api_keys.get(access_key) if access_key.startswith("dk_") else None
    expected = state["secret_sha256"] if state else _digest("")
    match = hmac.compare_digest(expected, _digest(secret_key))
    if state is None or not match or state["revoked_at"] is not None:
        raise Unauthenticated(
            "unknown or revoked API key", code="invalid-api-key", message_fr="clé d'API inconnue ou révoquée"
        )
    # The key acts with the roles its owner still has today (and no more than it was
    # created with), only while the owner is active, with the owner's current standing
    # (the caller's gate refuses it while their organisation is suspended).
    user = await orders.user(state["user_id"])
    if user is None or not user.active or user.organisation_id != state["organisation_id"]:
        raise Unauthenticated(
            "the API key's owner is no longer an active user",
            code="invalid-api-key",
            message_fr="le titulaire de la clé d'API n'est plus un utilisateur actif",
        )
    owner = await entitlements.resolve(orders, Identity(sub=state["user_id"]))
    return owner.model_copy(
        update={
            "roles": owner.roles & frozenset(Role(r) for r in state["roles"]),
            "via": "api-key",
            "key_id": access_key,
        }
    )


# --- access -------------------------------------------------------------------------------


async def require_member(orders: Orders, principal: Principal, staff_ok: bool = True) -> Decision:
    """Refuse (403, with the reason) unless the caller is an active member (or staff, when
    `staff_ok`: staff act on the platform, but ask for imagery only through a member body)."""
    org, user = await orders.standing_of(principal)
    as_member = principal if staff_ok else principal.model_copy(update={"roles": frozenset()})
    commissioning = await orders.commissioning_of(org)
    decision = rules.member_standing(as_member, org, user, orders.now(), commissioning)
    if not decision.allowed:
        fr, _, en = decision.reason.partition(" / ")
        raise Forbidden(en or fr, code=decision.code, message_fr=fr)
    return decision


async def item_decisions(orders: Orders, principal: Principal, item_ids: list[str]) -> dict[str, Decision]:
    """May the caller read each item? (Used by the catalog's signing endpoint and product orders.)"""
    now = orders.now()
    org, user = await orders.standing_of(principal)
    commissioning = await orders.commissioning_of(org)
    obtained = await orders.licences.obtained_by(item_ids)
    return {
        item_id: rules.may_read_item(principal, org, user, commissioning, obtained[item_id], now)
        for item_id in item_ids
    }


async def record_item_obtained(orders: Orders, item_id: str, organisation_id: str) -> None:
    """A scene acquired for an organisation's request is licensed to that organisation."""
    await orders.licences.record(item_id, organisation_id)


async def expire_memberships(orders: Orders) -> int:
    """Memberships past their `valid_until` become `expired` (and say so on the bus)."""
    now = orders.now()
    expired = 0
    for state in await orders.organisations.find({"status": OrganisationStatus.ACTIVE.value}, limit=5000):
        until = state.get("valid_until")
        if until and datetime.fromisoformat(until) <= now:
            try:
                await change_status(
                    orders,
                    SYSTEM,
                    state["organisation_id"],
                    OrganisationStatus.EXPIRED,
                    "fin de la période d'adhésion / membership period over",
                    None,
                )
                expired += 1
            except Exception:  # changed meanwhile, or a bad record: the others still expire
                log.exception("could not expire %s", state["organisation_id"])
                continue
    return expired
