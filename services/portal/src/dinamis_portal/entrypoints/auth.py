"""Login and logout: OpenID Connect authorization code + PKCE against Keycloak, the
tokens kept in the server-side session; a logout form protected by the session's
anti-forgery token, ending the Keycloak session too (RP-initiated logout).

Every POST route of the portal depends on `verified_csrf` (a unit test checks it)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse

from dinamis_portal.bootstrap import PortalDep, get_container
from dinamis_portal.entrypoints.pages import token_record
from dinamis_portal.errors import PortalError, csrf_refused
from dinamis_portal.i18n import language_of
from dinamis_portal.oidc import LoginStart, login_refused
from dinamis_portal.sessions import Session, csrf_matches

router = APIRouter(include_in_schema=False)
LOGIN_TTL_S = 600


def safe_return_path(raw: str | None) -> str:
    """Where to go after login: a path of this site only (no open redirect)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw or len(raw) > 2000:
        return "/"
    if any(ord(c) < 32 for c in raw):
        return "/"
    return raw


async def verified_csrf(request: Request) -> Session:
    """The session of a form post whose anti-forgery token matches it; 403 otherwise."""
    container = get_container(request)
    session = await container.sessions.load(request)
    form = await request.form()
    token = form.get("csrf_token")
    if not csrf_matches(session, token if isinstance(token, str) else None):
        raise csrf_refused()
    assert session is not None
    return session


CsrfSession = Annotated[Session, Depends(verified_csrf)]


def depends_on(dependant: Any, call: Any) -> bool:
    """Does this dependency tree (a route's `dependant`) hold `call`?"""
    stack = [dependant]
    while stack:
        current = stack.pop()
        if current.call is call:
            return True
        stack.extend(current.dependencies)
    return False


def api_routes(routes: Iterable[Any]) -> list[APIRoute]:
    """Every APIRoute of an app, also inside included routers (FastAPI wraps them)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        else:
            inner = getattr(getattr(route, "original_router", None), "routes", None)
            if inner:
                found.extend(api_routes(inner))
    return found


@router.get("/connexion")
async def login(request: Request, container: PortalDep, retour: str | None = None) -> RedirectResponse:
    session = await container.sessions.ensure(request)
    start = LoginStart.new()
    session.data["login"] = {
        "state": start.state,
        "nonce": start.nonce,
        "verifier": start.verifier,
        "return_to": safe_return_path(retour),
        "started_at": time.time(),
    }
    url = await container.identity.authorization_url(start, language_of(request))
    await container.sessions.save(session)
    response = RedirectResponse(url, status_code=303)
    container.sessions.set_cookie(response, session)
    return response


@router.get("/auth/callback")
async def callback(
    request: Request,
    container: PortalDep,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> RedirectResponse:
    session = await container.sessions.load(request)
    pending = session.data.get("login") if session else None
    if session is None or not pending or time.time() - pending.get("started_at", 0) > LOGIN_TTL_S:
        raise login_refused(
            "oidc-no-login-in-progress",
            "aucune connexion en cours dans ce navigateur (ou elle a expiré) : recommencez",
            "no login in progress in this browser (or it expired): start again",
        )
    if not state or not secrets.compare_digest(state.encode(), str(pending["state"]).encode()):
        raise login_refused(
            "oidc-state-mismatch",
            "la réponse du service d'identification ne correspond pas à cette connexion (state)",
            "the identity provider's answer does not belong to this login (state)",
        )
    if error or not code:
        session.data.pop("login", None)
        await container.sessions.save(session)
        raise login_refused(
            "login-cancelled",
            "la connexion n'a pas abouti (annulée ou refusée) : recommencez",
            "the login did not complete (cancelled or refused): start again",
        )
    answer = await container.identity.exchange(code, pending["verifier"])
    claims = await container.identity.verify_id_token(str(answer.get("id_token", "")), pending["nonce"])
    session.data.pop("login", None)
    session.data.pop("me", None)
    # Who the user is for the platform comes from the orders service (GET /v1/me), with
    # the access token; `sub` and `email` are kept only to name the session.
    session.data["user"] = {"sub": claims["sub"], "email": claims.get("email", "")}
    session.data["tokens"] = token_record(answer)
    fresh = await container.sessions.rotate(session)
    response = RedirectResponse(pending.get("return_to") or "/", status_code=303)
    container.sessions.set_cookie(response, fresh)
    return response


@router.post("/deconnexion")
async def logout(request: Request, container: PortalDep, session: CsrfSession) -> RedirectResponse:
    id_token = (session.data.get("tokens") or {}).get("id_token")
    await container.sessions.destroy(session)
    try:
        target = await container.identity.end_session_url(id_token)
    except PortalError:
        target = "/"
    response = RedirectResponse(target, status_code=303)
    container.sessions.clear_cookie(response)
    return response
