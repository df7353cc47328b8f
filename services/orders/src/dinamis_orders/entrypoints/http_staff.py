"""HTTP routes for DINAMIS staff only: the staff accounts (listed by any operator,
managed by admins) and the quotas of every organisation (the ops console's table).

Who is staff, and who is an admin, comes from the orders service's records (the caller's
user in the platform's own organisation), never from a token claim. Errors are RFC 9457
problem details, French first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from dinamis_orders.entrypoints.deps import OrdersDep, Staff
from dinamis_orders.service import entitlements
from dinamis_shared.auth import Role
from dinamis_shared.events import Identifier, SensorFamily

router = APIRouter(prefix="/v1", tags=["staff"])


@router.get("/staff")
async def list_staff(orders: OrdersDep, principal: Staff) -> dict:
    """Operators and admins: the DINAMIS staff accounts (active or not), and whether the
    caller may manage them (admins only)."""
    return {
        "staff": await entitlements.list_staff(orders),
        "may_manage": Role.ADMIN in principal.roles,
    }


class StaffAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr
    display_name: str = Field(min_length=1, max_length=200)
    # governance: a member of the working group (reads the reporting; never staff)
    roles: list[Literal["operator", "admin", "governance"]] = Field(min_length=1, max_length=3)
    active: bool = True


@router.put("/staff/{user_id}")
async def put_staff(orders: OrdersDep, principal: Staff, user_id: Identifier, body: StaffAccount) -> dict:
    """Admins only: add a staff account (by the identity provider's `sub`), change its
    roles, deactivate or reactivate it. An admin cannot remove their own admin role nor
    deactivate themselves (the platform would lose its last way in); a user of a member
    organisation never becomes staff."""
    return await entitlements.put_staff(
        orders,
        principal,
        user_id,
        str(body.email),
        body.display_name,
        [Role(r) for r in body.roles],
        active=body.active,
    )


QuotaPeriodFilter = Annotated[str | None, Query(pattern=r"^\d{4}(-Q[1-4])?$")]


@router.get("/quotas", tags=["quotas"])
async def all_quotas(
    orders: OrdersDep,
    principal: Staff,
    organisation_id: Identifier | None = None,
    family: SensorFamily | None = None,
    period: QuotaPeriodFilter = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
) -> dict:
    """Operators and admins: every quota (organisation x sensor family x period with at
    least one ledger entry) and its balance, with the organisation's name and status;
    filter by organisation, family, period."""
    return {"quotas": await entitlements.all_quotas(orders, organisation_id, family, period, limit)}
