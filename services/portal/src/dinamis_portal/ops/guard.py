"""Who may use the ops console: DINAMIS staff, as the orders service's records say now.

Every `/ops` route depends on `staff` (a page) or `staff_post` (a form post: the CSRF
token first, then the same check). Nobody logged in: a page redirects to the login, a
post is refused. Logged in but not staff (a member, a suspended account, a user orders
does not know): 403, on every route, before anything else is read or done."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request

from dinamis_portal.bootstrap import PortalContainer, get_container
from dinamis_portal.entrypoints.auth import CsrfSession
from dinamis_portal.entrypoints.pages import access_token
from dinamis_portal.errors import PortalError
from dinamis_portal.ops.staff import STAFF_ROLES, Staff, staff_only
from dinamis_portal.sessions import Session


async def resolve_staff(container: PortalContainer, session: Session | None) -> Staff | None:
    """The staff member behind this session, from orders' answer now; None when nobody is
    logged in; 403 when the user is not (or no longer) staff."""
    if session is None or not session.user:
        return None
    token = await access_token(container, session)
    if token is None:
        return None
    answer = await container.orders.me_now(token)
    me: dict[str, Any] = answer if isinstance(answer, dict) else {}
    principal: dict[str, Any] = me["principal"] if isinstance(me.get("principal"), dict) else {}
    user: dict[str, Any] = me["user"] if isinstance(me.get("user"), dict) else {}
    roles = frozenset(str(r) for r in principal.get("roles") or ()) & STAFF_ROLES
    if principal.get("standing") != "staff" or not roles or user.get("active") is False:
        raise staff_only()
    return Staff(
        user_id=str(principal.get("user_id") or ""),
        email=str(principal.get("email") or user.get("email") or ""),
        name=str(user.get("display_name") or principal.get("email") or ""),
        roles=roles,
        token=token,
        session=session,
    )


def _to_login(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(status_code=303, headers={"Location": "/connexion?" + urlencode({"retour": target})})


async def staff(request: Request) -> Staff:
    """A page of the console: the operator, else the login (nobody logged in) or 403."""
    container = get_container(request)
    found = await resolve_staff(container, await container.sessions.load(request))
    if found is None:
        raise _to_login(request)
    return found


async def staff_post(request: Request, session: CsrfSession) -> Staff:
    """A form post of the console: the anti-forgery token, then the staff check."""
    found = await resolve_staff(get_container(request), session)
    if found is None:
        raise PortalError(
            "log in first", code="login-required", message_fr="connectez-vous d'abord", status=401
        )
    return found


StaffDep = Annotated[Staff, Depends(staff)]
StaffPost = Annotated[Staff, Depends(staff_post)]
