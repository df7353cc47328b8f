"""Organisations, their users and who may read what (pure rules, no I/O).

Membership (adhésion): an organisation applies through its legal representative, who
accepts the charter and the product licence (versions and time stored); an operator
approves or refuses with a reason; a referent manages the organisation's users; an
operator suspends, reinstates or lets it expire. A contractor organisation works for a
commissioning public body during a contract period and sees only the imagery that body
obtained, only during that period.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from dinamis_shared.auth import GOVERNANCE_STANDING, Forbidden, Principal, Role
from dinamis_shared.departments import DEPARTMENTS
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import (
    ContractorDelegation,
    Identifier,
    OrganisationCategory,
    OrganisationChangedV1,
    OrganisationStatus,
    UserChangedV1,
)

CHARTER_VERSION = "charte-dinamis-2024"
LICENCE_VERSION = "licence-produits-dinamis-2024"
MEMBERSHIP_YEARS = 3  # an approved membership runs this long unless the operator says otherwise
MAX_CONTRACT_YEARS = 5  # a contract declared by a contractor ends at most this far ahead


class DelegationStatus(StrEnum):
    """A contractor's delegation as its commissioning body sees it: declared by the
    contractor (unconfirmed: no access through it), confirmed by a referent of the body,
    or ended by the body (or staff)."""

    UNCONFIRMED = "unconfirmed"
    CONFIRMED = "confirmed"
    ENDED = "ended"


class MembershipError(DinamisError):
    code = "membership"
    http_status = 409


class InvalidContract(DinamisError):
    code = "invalid-contract"
    http_status = 422


class NotFoundError(DinamisError):
    code = "not-found"
    http_status = 404


class DelegationNotFound(DinamisError):
    code = "delegation-not-found"
    http_status = 404


class LegalRepresentative(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=200)
    email: EmailStr
    title: str = Field(min_length=2, max_length=200, description="e.g. 'Directeur d'unité'")


class Acceptance(BaseModel):
    charter_version: str
    licence_version: str
    accepted_at: AwareDatetime
    accepted_by: Identifier


class Organisation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: Identifier
    name: str
    category: OrganisationCategory
    country: str = "FR"
    siret: str | None = None
    # INSEE code of the department (or overseas collectivity) of the organisation's seat,
    # recorded at application (None on records older than it, and abroad).
    department: str | None = None
    legal_representative: LegalRepresentative
    acceptance: Acceptance
    justification: str | None = None
    status: OrganisationStatus = OrganisationStatus.PENDING
    valid_until: AwareDatetime | None = None
    delegation: ContractorDelegation | None = None
    # The commissioning body's say on the delegation (None on records older than it:
    # unconfirmed), who said it and when.
    delegation_status: DelegationStatus | None = None
    delegation_decided_by: Identifier | None = None
    delegation_decided_at: AwareDatetime | None = None
    delegation_reason: str | None = None
    reason: str | None = None
    applied_at: AwareDatetime
    decided_at: AwareDatetime | None = None
    decided_by: Identifier | None = None

    def is_active(self, now: datetime) -> bool:
        return self.status is OrganisationStatus.ACTIVE and (
            self.valid_until is None or self.valid_until > now
        )

    def changed_event(self, revision: int, by: str, at: datetime) -> OrganisationChangedV1:
        return OrganisationChangedV1(
            organisation_id=self.organisation_id,
            revision=revision,
            name=self.name,
            category=self.category,
            status=self.status,
            valid_until=self.valid_until,
            delegation=self.delegation,
            department=self.department,
            changed_by=by,
            changed_at=at,
            reason=self.reason,
        )


class Application(BaseModel):
    """`POST /v1/organisations`: what the legal representative submits."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    organisation_id: Identifier | None = Field(
        default=None, description="The identifier asked for (default: one is chosen)."
    )
    name: str = Field(min_length=2, max_length=300)
    category: OrganisationCategory
    country: str = Field(default="FR", pattern=r"^[A-Z]{2}$")
    siret: str | None = Field(default=None, pattern=r"^\d{14}$")
    department: str | None = Field(
        default=None,
        max_length=3,
        description="INSEE code of the department (or overseas collectivity) of the seat, e.g. '69',"
        " '2A', '974' (`GET /v1/membership/terms` lists them). Organisations in France give it;"
        " it is refused abroad.",
    )
    legal_representative: LegalRepresentative
    accept_charter: str = Field(description=f"The charter version accepted: must be {CHARTER_VERSION!r}.")
    accept_licence: str = Field(description=f"The product licence version accepted: {LICENCE_VERSION!r}.")
    justification: str | None = Field(default=None, max_length=4000)
    commissioning_organisation_id: Identifier | None = None
    contract_start: AwareDatetime | None = None
    contract_end: AwareDatetime | None = None
    referent_email: EmailStr
    referent_name: str = Field(min_length=2, max_length=200)

    @model_validator(mode="after")
    def _coherent(self) -> Application:
        if self.accept_charter != CHARTER_VERSION or self.accept_licence != LICENCE_VERSION:
            raise ValueError(
                f"la charte {CHARTER_VERSION!r} et la licence {LICENCE_VERSION!r} doivent être acceptées"
                f" / the charter {CHARTER_VERSION!r} and licence {LICENCE_VERSION!r} must be accepted"
            )
        contractor = self.category is OrganisationCategory.CONTRACTOR
        contract = (self.commissioning_organisation_id, self.contract_start, self.contract_end)
        if contractor and None in contract:
            raise ValueError(
                "un prestataire indique l'organisme commanditaire et la période du contrat / a contractor"
                " gives its commissioning body and contract period"
            )
        if not contractor and any(v is not None for v in contract):
            raise ValueError(
                "seul un prestataire a un commanditaire / only contractors have a commissioning body"
            )
        if contractor and self.contract_end <= self.contract_start:  # type: ignore[operator]
            raise ValueError("fin de contrat avant son début / contract ends before it starts")
        if self.category in (
            OrganisationCategory.FRENCH_PRIVATE_RD,
            OrganisationCategory.INTERNATIONAL_RESEARCH,
        ) and (not self.justification or len(self.justification) < 20):
            raise ValueError(
                "une justification (projet de R&D ou de recherche) d'au moins 20 caractères est requise"
                " / a justification (R&D or research project) of at least 20 characters is required"
            )
        if self.department is not None:
            self.department = self.department.upper()
            if self.department not in DEPARTMENTS:
                raise ValueError(
                    f"département inconnu {self.department!r} (code INSEE attendu, ex. '69', '2A', '974')"
                    f" / unknown department {self.department!r} (an INSEE code, e.g. '69', '2A', '974')"
                )
            if self.country != "FR":
                raise ValueError(
                    "un département n'est indiqué que pour un siège en France / a department is only"
                    " given for a seat in France"
                )
        if self.category is not OrganisationCategory.INTERNATIONAL_RESEARCH and self.country != "FR":
            raise ValueError(
                "seule la recherche européenne/internationale peut être hors de France / only"
                " European/international research may be outside France"
            )
        return self


class User(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Identifier
    organisation_id: Identifier
    email: EmailStr
    display_name: str = Field(min_length=1, max_length=200)
    language: str = Field(default="fr", pattern=r"^(fr|en)$")
    roles: list[Role] = Field(default_factory=lambda: [Role.MEMBER])
    active: bool = True
    # Deactivated by DINAMIS staff: only staff lift it (a referent cannot reactivate).
    deactivated_by_staff: bool = False

    def changed_event(self, revision: int, by: str, at: datetime) -> UserChangedV1:
        return UserChangedV1(
            user_id=self.user_id,
            revision=revision,
            organisation_id=self.organisation_id,
            email=str(self.email),
            display_name=self.display_name,
            language=self.language,  # type: ignore[arg-type]
            roles=[r.value for r in self.roles],
            active=self.active,
            changed_by=by,
            changed_at=at,
        )


class UserUpdate(BaseModel):
    """`PUT /v1/organisations/{org}/users/{user}` by the organisation's referent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr
    display_name: str = Field(min_length=1, max_length=200)
    language: str = Field(default="fr", pattern=r"^(fr|en)$")
    roles: list[Role] = Field(default_factory=lambda: [Role.MEMBER], min_length=1, max_length=2)
    active: bool = True


# Never an applicant's: the platform's own organisation (staff), whatever the case.
RESERVED_ORGANISATION_IDS = frozenset({"dinamis"})


def check_application(
    org_id: str,
    *,
    staff_organisation_id: str,
    applicant: User | None,
    previous: OrganisationStatus | None,
) -> None:
    """May `applicant` (their user record, or None: unknown to the platform) apply for
    `org_id`, whose current status is `previous` (None: never applied)? A reserved
    identifier never; a user of another organisation never; an organisation that already
    applied only after a refusal, and then only by an active referent of it."""
    reserved = RESERVED_ORGANISATION_IDS | {staff_organisation_id}
    if org_id.casefold() in {r.casefold() for r in reserved}:
        raise MembershipError(
            f"the identifier {org_id!r} is reserved",
            code="reserved-identifier",
            message_fr=f"l'identifiant {org_id!r} est réservé",
        )
    if applicant is not None and applicant.organisation_id != org_id:
        raise Forbidden(
            f"you are already a user of {applicant.organisation_id!r}",
            code="already-a-user",
            message_fr=f"vous êtes déjà utilisateur de {applicant.organisation_id!r}",
        )
    if previous is None:
        return
    if previous is not OrganisationStatus.REFUSED:
        raise MembershipError(
            f"organisation {org_id!r} has already applied ({previous})",
            code="already-exists",
            message_fr=f"{org_id!r} a déjà une adhésion ({previous})",
        )
    if applicant is None or not applicant.active or Role.REFERENT not in applicant.roles:
        raise Forbidden(
            "only an active referent of a refused application applies again",
            code="not-the-referent",
            message_fr="seul un référent actif d'une demande refusée la renouvelle",
        )


def check_contract(start: datetime, end: datetime, now: datetime) -> None:
    """A declared contract: it ends after it starts, and at most `MAX_CONTRACT_YEARS`
    from now (an end already past is allowed: it gives no access)."""
    if end <= start:
        raise InvalidContract(
            "the contract ends before it starts", message_fr="le contrat se termine avant de commencer"
        )
    if end > now + timedelta(days=365 * MAX_CONTRACT_YEARS):
        raise InvalidContract(
            f"a contract ends at most {MAX_CONTRACT_YEARS} years from now",
            message_fr=f"un contrat se termine au plus tard dans {MAX_CONTRACT_YEARS} ans",
        )


def _delegation_of(contractor: Organisation, body_id: str) -> ContractorDelegation:
    d = contractor.delegation
    if d is None or d.commissioning_organisation_id != body_id:
        raise DelegationNotFound(
            f"no contractor delegation of {contractor.organisation_id!r} names {body_id!r}",
            message_fr=f"aucune délégation de {contractor.organisation_id!r} ne désigne {body_id!r}",
        )
    return d


def confirm_delegation(contractor: Organisation, body_id: str, by: str, now: datetime) -> Organisation:
    """A referent of the commissioning body confirms the contract the contractor declared."""
    d = _delegation_of(contractor, body_id)
    status = contractor.delegation_status or DelegationStatus.UNCONFIRMED
    if status != DelegationStatus.UNCONFIRMED:
        raise MembershipError(
            f"this delegation is already {status}",
            code="delegation-decided",
            message_fr="cette délégation est déjà "
            + ("confirmée" if status == DelegationStatus.CONFIRMED else "terminée"),
        )
    if d.end <= now:
        raise MembershipError(
            "this contract is already over", code="delegation-over", message_fr="ce contrat est déjà terminé"
        )
    return contractor.model_copy(
        update={
            "delegation_status": DelegationStatus.CONFIRMED,
            "delegation_decided_by": by,
            "delegation_decided_at": now,
            "delegation_reason": None,
        }
    )


def end_delegation(
    contractor: Organisation, body_id: str, by: str, now: datetime, reason: str
) -> Organisation:
    """The commissioning body (or staff) ends a delegation, or turns down one it never
    confirmed: no access through it from now on; the contract end becomes now if later."""
    d = _delegation_of(contractor, body_id)
    if contractor.delegation_status == DelegationStatus.ENDED:
        raise MembershipError(
            "this delegation is already ended",
            code="delegation-decided",
            message_fr="cette délégation est déjà terminée",
        )
    delegation = d
    if d.start < now < d.end:
        delegation = ContractorDelegation(commissioning_organisation_id=body_id, start=d.start, end=now)
    return contractor.model_copy(
        update={
            "delegation": delegation,
            "delegation_status": DelegationStatus.ENDED,
            "delegation_decided_by": by,
            "delegation_decided_at": now,
            "delegation_reason": reason,
        }
    )


INVITATION_DAYS = 14  # an invitation not accepted by then lapses


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


class NewInvitation(BaseModel):
    """`POST /v1/organisations/{org}/invitations` by the organisation's referent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr
    display_name: str = Field(min_length=1, max_length=200)
    language: str = Field(default="fr", pattern=r"^(fr|en)$")
    roles: list[Role] = Field(default_factory=lambda: [Role.MEMBER], min_length=1, max_length=2)


class Invitation(BaseModel):
    """A person invited (by e-mail) to become a user of an organisation: no user record
    binds anyone until the invitee accepts with their own token."""

    model_config = ConfigDict(extra="forbid")

    invitation_id: str
    organisation_id: Identifier
    email: EmailStr
    display_name: str
    language: str = "fr"
    roles: list[Role]
    status: InvitationStatus = InvitationStatus.PENDING
    invited_by: Identifier
    invited_at: AwareDatetime
    expires_at: AwareDatetime
    accepted_by: Identifier | None = None
    accepted_at: AwareDatetime | None = None


def not_a_user_yet(existing: User | None) -> None:
    """Only someone without a user record accepts an invitation (or applies): nobody is
    moved from one organisation to another."""
    if existing is not None:
        raise Forbidden(
            f"you are already a user of {existing.organisation_id!r}",
            code="already-a-user",
            message_fr=f"vous êtes déjà utilisateur de {existing.organisation_id!r}",
        )


def accept_invitation(
    invitation: Invitation, user_id: str, token_email: str | None, existing: User | None, now: datetime
) -> tuple[Invitation, User]:
    """The invitee accepts with their own token: they become a user of the organisation
    (never moved from another: a sub that already has a user record cannot accept)."""
    not_a_user_yet(existing)
    if invitation.status != InvitationStatus.PENDING:
        raise MembershipError(
            f"this invitation is {invitation.status}",
            code="invitation-closed",
            message_fr="cette invitation a déjà été acceptée ou retirée",
        )
    if now >= invitation.expires_at:
        raise MembershipError(
            "this invitation has lapsed", code="invitation-expired", message_fr="cette invitation a expiré"
        )
    if token_email is not None and token_email.casefold() != str(invitation.email).casefold():
        raise Forbidden(
            "this invitation was sent to another e-mail address",
            code="invitation-not-yours",
            message_fr="cette invitation a été envoyée à une autre adresse électronique",
        )
    user = User(
        user_id=user_id,
        organisation_id=invitation.organisation_id,
        email=invitation.email,
        display_name=invitation.display_name,
        language=invitation.language,
        roles=invitation.roles,
    )
    accepted = invitation.model_copy(
        update={"status": InvitationStatus.ACCEPTED, "accepted_by": user_id, "accepted_at": now}
    )
    return accepted, user


def edit_user(user: User, update: UserUpdate, *, by_staff: bool) -> User:
    """`user` as `update` makes it. A deactivation by staff is lifted only by staff; a
    referent editing such a user leaves them inactive unless they ask to reactivate
    (then Forbidden)."""
    blocked = user.deactivated_by_staff and not by_staff
    if blocked and update.active:
        raise Forbidden(
            "this user was deactivated by DINAMIS staff: only staff can reactivate them",
            code="deactivated-by-staff",
            message_fr=(
                "cet utilisateur a été désactivé par le personnel DINAMIS : seul le personnel "
                "peut le réactiver"
            ),
        )
    flag = (not update.active) if by_staff else user.deactivated_by_staff
    return User(
        user_id=user.user_id,
        organisation_id=user.organisation_id,
        **update.model_dump(),
        deactivated_by_staff=flag,
    )


def approve(org: Organisation, by: str, now: datetime, valid_until: datetime | None) -> Organisation:
    if org.status is not OrganisationStatus.PENDING:
        raise MembershipError(
            f"only a pending application can be approved (this one is {org.status})",
            message_fr=f"seule une demande en attente peut être approuvée (celle-ci : {org.status})",
        )
    until = valid_until or now + timedelta(days=365 * MEMBERSHIP_YEARS)
    if until <= now:
        raise MembershipError("valid_until is in the past", message_fr="la date de fin est passée")
    return org.model_copy(
        update={
            "status": OrganisationStatus.ACTIVE,
            "valid_until": until,
            "decided_at": now,
            "decided_by": by,
            "reason": None,
        }
    )


def refuse(org: Organisation, by: str, now: datetime, reason: str) -> Organisation:
    if org.status is not OrganisationStatus.PENDING:
        raise MembershipError(
            f"only a pending application can be refused (this one is {org.status})",
            message_fr=f"seule une demande en attente peut être refusée (celle-ci : {org.status})",
        )
    return org.model_copy(
        update={"status": OrganisationStatus.REFUSED, "decided_at": now, "decided_by": by, "reason": reason}
    )


# Operator changes of an existing membership: which statuses each may start from.
STATUS_CHANGES: dict[OrganisationStatus, set[OrganisationStatus]] = {
    OrganisationStatus.SUSPENDED: {OrganisationStatus.ACTIVE},
    OrganisationStatus.ACTIVE: {OrganisationStatus.SUSPENDED, OrganisationStatus.EXPIRED},  # reinstate/renew
    OrganisationStatus.EXPIRED: {OrganisationStatus.ACTIVE, OrganisationStatus.SUSPENDED},
}


def change_status(
    org: Organisation,
    target: OrganisationStatus,
    by: str,
    now: datetime,
    reason: str,
    valid_until: datetime | None = None,
) -> Organisation:
    allowed_from = STATUS_CHANGES.get(target, set())
    if org.status not in allowed_from:
        raise MembershipError(
            f"cannot go from {org.status} to {target}",
            message_fr=f"passage de « {org.status} » à « {target} » impossible",
        )
    update: dict = {"status": target, "reason": reason, "decided_at": now, "decided_by": by}
    if target is OrganisationStatus.ACTIVE:
        update["valid_until"] = valid_until or max(org.valid_until or now, now + timedelta(days=365))
    return org.model_copy(update=update)


# --- access decisions --------------------------------------------------------------------


class Decision(BaseModel):
    allowed: bool
    code: str
    reason: str


def _no(code: str, fr: str, en: str) -> Decision:
    return Decision(allowed=False, code=code, reason=f"{fr} / {en}")


def delegation_refusal(
    org: Organisation, commissioning: Organisation | None, now: datetime
) -> Decision | None:
    """Why a contractor may not act now (None: its delegation runs and its commissioning
    body is an active member). A contractor has access only through its delegation."""
    d = org.delegation
    if org.delegation_status == DelegationStatus.ENDED:
        return _no(
            "delegation-ended",
            "contrat de prestation terminé par l'organisme commanditaire",
            "contract ended by the commissioning body",
        )
    if d is None or now >= d.end:
        return _no("delegation-expired", "contrat de prestation terminé", "contract ended")
    if now < d.start:
        return _no(
            "delegation-not-started", "contrat de prestation pas encore commencé", "contract not started"
        )
    if org.delegation_status != DelegationStatus.CONFIRMED:
        return _no(
            "delegation-unconfirmed",
            "contrat de prestation pas encore confirmé par un référent de l'organisme commanditaire",
            "contract not yet confirmed by a referent of the commissioning body",
        )
    if (
        commissioning is None
        or commissioning.organisation_id != d.commissioning_organisation_id
        or not commissioning.is_active(now)
    ):
        return _no(
            "commissioning-inactive",
            "l'organisme commanditaire n'est plus adhérent",
            "the commissioning body is no longer a member",
        )
    return None


def member_standing(
    principal: Principal,
    org: Organisation | None,
    user: User | None,
    now: datetime,
    commissioning: Organisation | None = None,
) -> Decision:
    """May this caller act as a member of their organisation right now? A contractor also
    needs its delegation running and its commissioning body (`commissioning`) active."""
    if principal.is_staff:
        return Decision(allowed=True, code="staff", reason="personnel DINAMIS / DINAMIS staff")
    if principal.standing == GOVERNANCE_STANDING:  # reads the reporting; never orders
        return _no(GOVERNANCE_STANDING, "groupe de travail DINAMIS", "DINAMIS working group")
    if org is None:
        return _no("not-a-member", "organisation inconnue de DINAMIS", "organisation unknown to DINAMIS")
    if org.status is OrganisationStatus.SUSPENDED:
        return _no("organisation-suspended", "organisation suspendue", "organisation suspended")
    if org.status is OrganisationStatus.PENDING:
        return _no("organisation-pending", "adhésion en attente de validation", "membership not yet approved")
    if not org.is_active(now):
        return _no("organisation-inactive", "adhésion expirée ou refusée", "membership expired or refused")
    if user is None or not user.active:
        return _no(
            "user-inactive", "compte non activé par le référent", "account not activated by the referent"
        )
    if org.category is OrganisationCategory.CONTRACTOR:
        refusal = delegation_refusal(org, commissioning, now)
        if refusal is not None:
            return refusal
    return Decision(allowed=True, code="member", reason="membre / member")


def access_until(org: Organisation | None, commissioning: Organisation | None) -> datetime | None:
    """The earliest of the membership end, the contract end and (for a contractor) the
    commissioning body's membership end."""
    ends = []
    if org is not None:
        ends.append(org.valid_until)
        if org.delegation is not None:
            ends.append(org.delegation.end)
            if commissioning is not None:
                ends.append(commissioning.valid_until)
    known = [e for e in ends if e is not None]
    return min(known) if known else None


def may_read_item(
    principal: Principal,
    org: Organisation | None,
    user: User | None,
    commissioning_org: Organisation | None,
    item_obtained_by: set[str],
    now: datetime,
) -> Decision:
    """May the caller read (sign URLs of, order products from) an item?

    Members of an active organisation read the whole catalogue. A contractor reads only
    items obtained by its commissioning body, while its delegation runs and that body's
    own membership is active."""
    standing = member_standing(principal, org, user, now, commissioning_org)
    if not standing.allowed or principal.is_staff:
        return standing
    assert org is not None
    if org.category is not OrganisationCategory.CONTRACTOR:
        return standing
    assert org.delegation is not None  # member_standing checked the delegation
    if org.delegation.commissioning_organisation_id not in item_obtained_by:
        return _no(
            "not-licensed",
            "image non acquise par l'organisme commanditaire",
            "item not obtained by the commissioning body",
        )
    return Decision(allowed=True, code="contractor", reason="prestataire sous délégation / contractor")
