"""Typed FastAPI dependencies of the orders routes: the container and what it holds."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dinamis_orders.bootstrap import Container
from dinamis_orders.service.context import Orders
from dinamis_shared.auth import AuthenticatedPrincipal, Forbidden, Principal, Role, require_roles


def container_of(request: Request) -> Container:
    container = request.app.state.container
    if not isinstance(container, Container):
        raise TypeError("the app was not built by dinamis_orders.app.create_app")
    return container


ContainerDep = Annotated[Container, Depends(container_of)]


def orders_of(container: ContainerDep) -> Orders:
    return container.orders


OrdersDep = Annotated[Orders, Depends(orders_of)]
Staff = Annotated[Principal, Depends(require_roles(Role.OPERATOR, Role.ADMIN))]


def own_or_staff(principal: Principal, org_id: str) -> None:
    if not principal.is_staff and principal.organisation_id != org_id:
        raise Forbidden("another organisation's data", message_fr="données d'une autre organisation")


# Standings that still let a user read their own organisation's record and history (why
# it is pending, suspended or expired). Deactivated users and unknown subs are refused.
READER_STANDINGS = frozenset(
    {"member", "staff", "organisation-pending", "organisation-suspended", "organisation-inactive"}
)


async def own_organisation_reader(principal: AuthenticatedPrincipal) -> Principal:
    if principal.standing not in READER_STANDINGS:
        raise principal.refusal()
    return principal


OwnOrganisationReader = Annotated[Principal, Depends(own_organisation_reader)]
