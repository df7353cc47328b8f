"""HTTP routes: organisations and their users, API keys, access decisions.

Every route says who may call it. Errors are RFC 9457 problem details, French first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dinamis_orders.domain.organisations import (
    CHARTER_VERSION,
    LICENCE_VERSION,
    Application,
    NewInvitation,
    UserUpdate,
    member_standing,
)
from dinamis_orders.domain.quota import quota_id
from dinamis_orders.entrypoints.deps import OrdersDep, OwnOrganisationReader, Staff, own_or_staff
from dinamis_orders.service import membership
from dinamis_shared.auth import AuthenticatedPrincipal, CurrentPrincipal
from dinamis_shared.departments import DEPARTMENTS
from dinamis_shared.events import Identifier, OrganisationCategory, OrganisationStatus, SensorFamily

router = APIRouter(prefix="/v1", tags=["membership"])


@router.get("/membership/terms")
async def membership_terms() -> dict:
    """Public: what an application must carry — the charter and licence versions to accept
    (`accept_charter`, `accept_licence`), the categories, and the departments (INSEE codes)
    of `department`. Application forms show these, so what is accepted is what is recorded."""
    return {
        "charter_version": CHARTER_VERSION,
        "licence_version": LICENCE_VERSION,
        "categories": [c.value for c in OrganisationCategory],
        "departments": [{"code": code, "name": name} for code, name in DEPARTMENTS.items()],
    }


@router.post("/organisations", status_code=201)
async def apply(orders: OrdersDep, principal: AuthenticatedPrincipal, application: Application) -> dict:
    """Apply for membership (adhésion). Caller: the organisation's legal representative or their
    delegate, not yet a user of any organisation (or the referent of a refused application of the
    same organisation); they become its referent."""
    return await membership.apply(orders, principal, application)


@router.get("/organisations")
async def list_organisations(
    orders: OrdersDep,
    principal: CurrentPrincipal,
    status: OrganisationStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict:
    """Staff: every organisation (filter by status, e.g. the pending applications). Others: their own."""
    query: dict = {} if principal.is_staff else {"organisation_id": principal.organisation_id}
    if status is not None:
        query["status"] = status.value
    return {"organisations": await orders.organisations.find(query, limit=limit, skip=offset)}


@router.get("/organisations/{org_id}")
async def get_organisation(orders: OrdersDep, principal: OwnOrganisationReader, org_id: Identifier) -> dict:
    """Active users of that organisation (also while it is pending, suspended or expired), and staff."""
    own_or_staff(principal, org_id)
    return await orders.organisations.require(org_id, "organisation")


@router.get("/organisations/{org_id}/history")
async def organisation_history(
    orders: OrdersDep, principal: OwnOrganisationReader, org_id: Identifier
) -> dict:
    """Active users of that organisation (whatever its status), and staff: every change, who
    made it, when and why."""
    own_or_staff(principal, org_id)
    await orders.organisations.require(org_id, "organisation")
    return {"history": await orders.organisations.history(org_id)}


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "refuse"]
    reason: str | None = Field(default=None, max_length=4000)
    valid_until: AwareDatetime | None = None


@router.post("/organisations/{org_id}/decision")
async def decide(orders: OrdersDep, operator: Staff, org_id: Identifier, body: DecisionBody) -> dict:
    """Operators and admins: approve a pending application, or refuse it with a reason."""
    return await membership.decide(
        orders, operator, org_id, body.decision == "approve", body.reason, body.valid_until
    )


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "suspended", "expired"]
    reason: str = Field(min_length=3, max_length=4000)
    valid_until: AwareDatetime | None = None


@router.post("/organisations/{org_id}/status")
async def change_status(orders: OrdersDep, operator: Staff, org_id: Identifier, body: StatusBody) -> dict:
    """Operators and admins: suspend, reinstate/renew or expire a membership, with a reason."""
    return await membership.change_status(
        orders, operator, org_id, OrganisationStatus(body.status), body.reason, body.valid_until
    )


@router.get("/organisations/{org_id}/users")
async def list_users(orders: OrdersDep, principal: CurrentPrincipal, org_id: Identifier) -> dict:
    """The organisation's referents, and staff."""
    await membership.check_manages(orders, principal, org_id)
    return {"users": await orders.users.find({"organisation_id": org_id}, limit=1000)}


@router.put("/organisations/{org_id}/users/{user_id}")
async def put_user(
    orders: OrdersDep, principal: CurrentPrincipal, org_id: Identifier, user_id: Identifier, body: UserUpdate
) -> dict:
    """The organisation's referents (roles member/referent only), and staff: add, edit,
    activate or deactivate a user."""
    return await membership.put_user(orders, principal, org_id, user_id, body)


@router.post("/organisations/{org_id}/invitations", status_code=201)
async def invite(
    orders: OrdersDep, principal: CurrentPrincipal, org_id: Identifier, body: NewInvitation
) -> dict:
    """The organisation's referents (roles member/referent only), and staff: invite someone by
    e-mail. The answer's `invitation_id` is what the invitee accepts with (valid 14 days)."""
    return await membership.invite(orders, principal, org_id, body)


@router.get("/organisations/{org_id}/invitations")
async def list_invitations(orders: OrdersDep, principal: CurrentPrincipal, org_id: Identifier) -> dict:
    """The organisation's referents, and staff."""
    return {"invitations": await membership.list_invitations(orders, principal, org_id)}


@router.delete("/organisations/{org_id}/invitations/{invitation_id}")
async def revoke_invitation(
    orders: OrdersDep, principal: CurrentPrincipal, org_id: Identifier, invitation_id: Identifier
) -> dict:
    """The organisation's referents, and staff: withdraw an invitation not yet accepted."""
    return await membership.revoke_invitation(orders, principal, org_id, invitation_id)


@router.post("/invitations/{invitation_id}/accept")
async def accept_invitation(
    orders: OrdersDep, principal: AuthenticatedPrincipal, invitation_id: Identifier
) -> dict:
    """The invitee, with their own login token, not yet a user of any organisation (the
    token's e-mail, when it has one, must be the invited address): become a user."""
    return await membership.accept_invitation(orders, principal, invitation_id)


@router.get("/organisations/{org_id}/delegations")
async def list_delegations(orders: OrdersDep, principal: CurrentPrincipal, org_id: Identifier) -> dict:
    """The organisation's active referents, and staff: the contractors that declared it as
    their commissioning body, with their contract and its status (unconfirmed, confirmed,
    ended)."""
    return {"delegations": await membership.list_delegations(orders, principal, org_id)}


@router.post("/organisations/{org_id}/delegations/{contractor_id}/confirm")
async def confirm_delegation(
    orders: OrdersDep, principal: CurrentPrincipal, org_id: Identifier, contractor_id: Identifier
) -> dict:
    """The commissioning body's active referents only (not staff): confirm the contract a
    contractor declared. Until then the contractor has no access through it."""
    return await membership.decide_delegation(orders, principal, org_id, contractor_id, confirm=True)


class EndDelegationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=4000)


@router.post("/organisations/{org_id}/delegations/{contractor_id}/end")
async def end_delegation(
    orders: OrdersDep,
    principal: CurrentPrincipal,
    org_id: Identifier,
    contractor_id: Identifier,
    body: EndDelegationBody,
) -> dict:
    """The commissioning body's active referents, and staff: end a contractor's delegation
    (or turn down one never confirmed), with a reason. Its access through it ends now."""
    return await membership.decide_delegation(
        orders, principal, org_id, contractor_id, confirm=False, reason=body.reason
    )


@router.get("/me")
async def me(orders: OrdersDep, principal: AuthenticatedPrincipal) -> dict:
    """Anyone authenticated: who the platform thinks you are, and whether you may use it now."""
    org, user = await orders.standing_of(principal)
    return {
        "principal": principal.model_dump(mode="json"),
        "organisation": org.model_dump(mode="json") if org else None,
        "user": user.model_dump(mode="json") if user else None,
        "standing": member_standing(
            principal, org, user, orders.now(), await orders.commissioning_of(org)
        ).model_dump(),
    }


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)


@router.post("/api-keys", status_code=201)
async def create_api_key(orders: OrdersDep, principal: CurrentPrincipal, body: NewKey) -> dict:
    """Active members (with a login token): create an API key. The secret is shown once."""
    await membership.require_member(orders, principal)
    return await membership.create_api_key(orders, principal, body.name)


@router.get("/api-keys")
async def list_api_keys(orders: OrdersDep, principal: CurrentPrincipal) -> dict:
    """Anyone authenticated: their own keys (never the secrets)."""
    return {"api_keys": await membership.list_api_keys(orders, principal)}


@router.delete("/api-keys/{access_key}")
async def revoke_api_key(
    orders: OrdersDep, principal: AuthenticatedPrincipal, access_key: Identifier
) -> dict:
    """The key's owner (whatever their standing: revoking only takes access away), and staff."""
    return await membership.revoke_api_key(orders, principal, access_key)


class KeyPair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_key: str = Field(max_length=200)
    secret_key: str = Field(max_length=200)


@router.post("/api-keys/verify")
async def verify_api_key(orders: OrdersDep, body: Annotated[KeyPair, Body()]) -> dict:
    """Other services (and anyone holding a key pair): the principal a key stands for, or 401.
    Knowing a valid pair is the credential itself, so this reveals nothing more."""
    principal = await membership.verify_api_key(orders, body.access_key, body.secret_key)
    return principal.model_dump(mode="json")


class ItemsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[Identifier] = Field(min_length=1, max_length=1000)


@router.post("/access/items")
async def item_access(orders: OrdersDep, principal: AuthenticatedPrincipal, body: ItemsQuery) -> dict:
    """Anyone authenticated, about themselves: may I read these catalogue items? The catalog's
    signing endpoint forwards its caller's credentials here, so decisions come from the
    current membership state, never from a copy."""
    decisions = await membership.item_decisions(orders, principal, body.item_ids)
    return {"decisions": {k: v.model_dump() for k, v in decisions.items()}}


@router.post("/access/whoami")
async def whoami(principal: AuthenticatedPrincipal) -> dict:
    """Anyone authenticated, about themselves: what the records entitle them to now
    (organisation, roles, standing, staff, `access_until`). Every other service asks
    this through `dinamis_shared.auth.OrdersEntitlements`, forwarding its caller's own
    credentials, so it can neither be asked about someone else nor enumerate users."""
    return principal.model_dump(mode="json")


# --- quotas: what an organisation holds and every movement (the portal's "Mon organisation")

LedgerPeriod = Annotated[str, Path(pattern=r"^\d{4}(-Q[1-4])?$", description="'2026-Q3' or '2026'")]


def _balance_view(state: dict) -> dict:
    return {f"{k}_km2": state[k] for k in ("allocated", "reserved", "consumed", "available")}


@router.get("/quotas/{org_id}", tags=["quotas"])
async def list_quotas(orders: OrdersDep, principal: CurrentPrincipal, org_id: Identifier) -> dict:
    """Members of that organisation, and staff: every quota it holds (sensor family x period,
    those with at least one ledger entry) and its balance."""
    own_or_staff(principal, org_id)
    quotas = []
    for qid in await orders.ledger.quota_ids_of(org_id):
        _, family, period = qid.rsplit("|", 2)
        b = await orders.ledger.balance(qid)
        quotas.append(
            {
                "quota_id": qid,
                "family": family,
                "period": period,
                **_balance_view(
                    {
                        "allocated": b.allocated,
                        "reserved": b.reserved,
                        "consumed": b.consumed,
                        "available": b.available,
                    }
                ),
            }
        )
    return {"quotas": quotas}


@router.get("/quotas/{org_id}/{family}/{period}/ledger", tags=["quotas"])
async def quota_ledger(
    orders: OrdersDep,
    principal: CurrentPrincipal,
    org_id: Identifier,
    family: SensorFamily,
    period: LedgerPeriod,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
) -> dict:
    """Members of that organisation, and staff: the quota's ledger, oldest first — every
    allocation, adjustment, reservation, consumption and release, who made it, when, why,
    and the balance after it."""
    own_or_staff(principal, org_id)
    qid = quota_id(org_id, family, period)
    b = await orders.ledger.balance(qid)
    return {
        "quota_id": qid,
        "family": family.value,
        "period": period,
        **_balance_view(
            {
                "allocated": b.allocated,
                "reserved": b.reserved,
                "consumed": b.consumed,
                "available": b.available,
            }
        ),
        "entries": await orders.ledger.ledger_entries(qid, limit),
    }
