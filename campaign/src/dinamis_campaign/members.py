"""The campaign's members, made through the orders API as the platform makes them: a
referent applies for the organisation (contractors: the public body's referent confirms
the delegation), an operator approves, the referent invites two members who accept.
Idempotent: an organisation already active, or a user already in it, is kept."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dinamis_campaign.api import Caller
from dinamis_campaign.world import Organisation
from dinamis_orders.adapters.mongo import mongo_orders
from dinamis_orders.service.entitlements import ensure_staff
from dinamis_orders.settings import OrdersSettings
from dinamis_shared.auth import Role
from dinamis_shared.clients import mongo_client
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import OrganisationCategory

CHARTER, LICENCE = "charte-dinamis-2024", "licence-produits-dinamis-2024"
MEMBERS_PER_ORGANISATION = 3  # the referent and two members: all of them order


class SetupFailed(DinamisError):
    code = "campaign-setup-failed"


async def ensure_operator(user_id: str) -> None:
    """The run's operator: a staff account, bootstrapped as `python -m dinamis_orders.staff`."""
    settings = OrdersSettings()
    client = mongo_client(settings)
    try:
        orders = mongo_orders(client[settings.mongo_database], settings)
        await ensure_staff(
            orders,
            user_id,
            f"{user_id}@dinamis.example.fr",
            "Opérateur campagne",
            [Role.OPERATOR],
            by="campaign",
        )
    finally:
        await client.close()


def _check(r, *ok: int) -> dict:
    if r.status_code not in ok:
        raise SetupFailed(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}")
    return r.json() if r.content else {}


@dataclass
class Member:
    organisation: Organisation
    users: list[str]  # referent first


async def ensure_member(
    org: Organisation, caller_for, operator: Caller, referents: dict[str, Caller]
) -> Member:
    """`caller_for(user_id)` makes a Caller; `referents` holds the referents made so far
    (a contractor's commissioning body confirms its delegation)."""
    oid = org.organisation_id
    ref_id = f"{oid}-ref"
    referent = caller_for(ref_id)
    users = [ref_id, f"{oid}-u1", f"{oid}-u2"]
    current = await operator.call("GET", f"/organisations/{oid}")
    if current.status_code == 404:
        body: dict[str, Any] = {
            "organisation_id": oid,
            "name": f"Campagne {oid}",
            "category": org.category.value,
            "department": org.department,
            "legal_representative": {
                "name": "Claire Dupont",
                "email": f"direction@{oid}.example.fr",
                "title": "Directrice",
            },
            "accept_charter": CHARTER,
            "accept_licence": LICENCE,
            "referent_email": f"{ref_id}@{oid}.example.fr",
            "referent_name": "Référent campagne",
        }
        if org.category in (
            OrganisationCategory.FRENCH_PRIVATE_RD,
            OrganisationCategory.INTERNATIONAL_RESEARCH,
        ):
            body["justification"] = "Projet de recherche sur le suivi des cultures par imagerie THRS."
        if org.category is OrganisationCategory.INTERNATIONAL_RESEARCH:
            body |= {"country": "DE", "department": None}  # a lab abroad, studying French fields
        if org.commissioning:
            now = datetime.now(UTC)
            body |= {
                "commissioning_organisation_id": org.commissioning,
                "contract_start": (now - timedelta(days=30)).isoformat(),
                "contract_end": (now + timedelta(days=365)).isoformat(),
            }
        _check(await referent.call("POST", "/organisations", json=body), 201, 409)
        if org.commissioning:
            body_ref = referents[org.commissioning]
            _check(
                await body_ref.call("POST", f"/organisations/{org.commissioning}/delegations/{oid}/confirm"),
                200,
                409,
            )
        current = await operator.call("GET", f"/organisations/{oid}")
    state = _check(current, 200)
    if state.get("status") != "active":
        _check(
            await operator.call("POST", f"/organisations/{oid}/decision", json={"decision": "approve"}),
            200,
            409,
        )
    listed = _check(await operator.call("GET", f"/organisations/{oid}/users"), 200)
    present = {u["user_id"] for u in listed["users"]}
    for user in users[1:]:
        if user in present:
            continue
        invite = {
            "email": f"{user}@{oid}.example.fr",
            "display_name": "Membre campagne",
            "language": "fr",
            "roles": ["member"],
        }
        inviter = referent if org.commissioning is None else operator
        made = _check(await inviter.call("POST", f"/organisations/{oid}/invitations", json=invite), 201)
        _check(await caller_for(user).call("POST", f"/invitations/{made['invitation_id']}/accept"), 200)
    referents[oid] = referent
    return Member(org, users)


async def ensure_members(orgs: list[Organisation], caller_for, operator: Caller) -> list[Member]:
    """Public bodies first (contractors need theirs), a few at a time."""
    referents: dict[str, Caller] = {}
    firsts = [o for o in orgs if o.commissioning is None]
    seconds = [o for o in orgs if o.commissioning is not None]
    out: list[Member] = []
    sem = asyncio.Semaphore(6)

    async def one(o: Organisation) -> Member:
        async with sem:
            return await ensure_member(o, caller_for, operator, referents)

    for group in (firsts, seconds):
        out.extend(await asyncio.gather(*(one(o) for o in group)))
    return out
