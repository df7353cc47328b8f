"""The membership application and "Mon organisation": status and history, users,
invitations and contractor delegations, quotas with their ledger and chart, API keys,
webhooks (delivery log, test event) and notification preferences.

Nothing is decided here: every page asks the orders service or notify with the user's
own token and shows what they answer — their refusals too, with their French reason and
code (a plain member opening the referent's sections sees the service's refusal)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from dinamis_portal import organisation_texts  # noqa: F401  (registers the texts)
from dinamis_portal.bootstrap import PortalContainer, PortalDep
from dinamis_portal.entrypoints.auth import CsrfSession
from dinamis_portal.entrypoints.pages import access_token, format_datetime, page_context, render
from dinamis_portal.errors import PortalError
from dinamis_portal.i18n import TEXTS, Lang
from dinamis_portal.organisation_api import OrganisationApi, Refused
from dinamis_portal.sessions import Session

router = APIRouter(include_in_schema=False)

BASE = "/mon-organisation"
SECTIONS = (
    ("status", BASE, "org.menu.status"),
    ("users", f"{BASE}/utilisateurs", "org.menu.users"),
    ("quotas", f"{BASE}/quotas", "org.menu.quotas"),
    ("keys", f"{BASE}/cles-api", "org.menu.keys"),
    ("webhooks", f"{BASE}/webhooks", "org.menu.webhooks"),
    ("preferences", f"{BASE}/preferences", "org.menu.preferences"),
)
# The success notices a redirect may name (`?fait=`): nothing else is shown.
DONE = frozenset(
    {
        "applied",
        "user",
        "invited",
        "invitation-revoked",
        "delegation",
        "key-revoked",
        "webhook-test",
        "webhook-reactivate",
        "webhook-delete",
        "preferences",
    }
)
WEBHOOK_EVENTS = (
    "scene-ingested",
    "scene-rejected",
    "request-submitted",
    "request-approved",
    "request-rejected",
    "request-updated",
    "product-ready",
    "product-failed",
    "organisation-changed",
)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")


def api(container: PortalContainer) -> OrganisationApi:
    found = container.organisation
    assert found is not None, "the organisation adapter is wired in bootstrap"
    return found


def not_logged_in() -> PortalError:
    return PortalError("log in first", code="login-required", message_fr="connectez-vous d'abord", status=401)


async def _session_token(request: Request, container: PortalContainer) -> tuple[Session | None, str | None]:
    session = await container.sessions.load(request)
    if session is None or not session.user:
        return session, None
    return session, await access_token(container, session)


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/connexion?" + urlencode({"retour": target}), status_code=303)


def _refusal(exc: Refused) -> dict[str, Any]:
    return {"status": exc.status, "code": exc.code, "detail": exc.detail, "errors": list(exc.errors)}


async def _context(
    request: Request, container: PortalContainer, section: str, token: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The page context and `/v1/me` as orders answers it now (never from the session)."""
    context = await page_context(request, container, "organisation")
    try:
        me = await api(container).me(token)
    except Refused as exc:
        raise exc.as_error() from exc
    lang: Lang = context["lang"]
    done = request.query_params.get("fait")
    context.update(
        section=section,
        sections=SECTIONS,
        base=BASE,
        done=done if done in DONE else None,
        when=lambda iso: format_datetime(str(iso or ""), lang) if iso else "",
        km2=lambda v: km2_text(v, lang),
        refusal=None,
        org_id=(me.get("principal") or {}).get("organisation_id"),
        organisation=me.get("organisation"),
        user=me.get("user"),
    )
    return context, me


def km2_text(value: Any, lang: Lang) -> str:
    """An area as people read it, grouped (12 500,5 in French; 12,500.5 in English); "" when
    there is none (the organisation's and the ops console's quota pages)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    shown = f"{number:,.2f}".rstrip("0").rstrip(".")
    if lang == "fr":
        shown = shown.replace(",", "\u202f").replace(".", ",")
    return shown


def _done(path: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'fait': what})}", status_code=303)


def _field(form: FormData, name: str, limit: int = 4000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


async def _post_token(request: Request, container: PortalContainer, session: Session) -> str:
    token = await access_token(container, session) if session.user else None
    if token is None:
        raise not_logged_in()
    return token


# --- the application ----------------------------------------------------------------


def application_body(form: FormData) -> dict[str, Any]:
    """The form as `POST /v1/organisations` takes it (orders checks everything)."""
    department = _field(form, "department", 10)
    body: dict[str, Any] = {
        "name": _field(form, "name", 300),
        "category": _field(form, "category", 50),
        "country": (_field(form, "country", 2) or "FR").upper(),
        "legal_representative": {
            "name": _field(form, "rep_name", 200),
            "email": _field(form, "rep_email", 320),
            "title": _field(form, "rep_title", 200),
        },
        "referent_name": _field(form, "referent_name", 200),
        "referent_email": _field(form, "referent_email", 320),
        # The versions shown, when ticked; else nothing accepted (orders refuses).
        "accept_charter": _field(form, "accept_charter", 100),
        "accept_licence": _field(form, "accept_licence", 100),
    }
    if department and department != "abroad":
        body["department"] = department
    for name, key in (("siret", "siret"), ("justification", "justification")):
        if value := _field(form, name):
            body[key] = value.replace(" ", "") if key == "siret" else value
    if commissioning := _field(form, "commissioning", 200):
        body["commissioning_organisation_id"] = commissioning
    for name in ("contract_start", "contract_end"):
        value = _field(form, name, 10)
        if value:
            body[name] = f"{value}T00:00:00Z" if DATE.match(value) else value
    return body


async def _application_page(
    request: Request,
    container: PortalContainer,
    token: str,
    values: dict[str, str] | None = None,
    refusal: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    context, me = await _context(request, container, "apply", token)
    if me.get("organisation") and refusal is None:
        return RedirectResponse(BASE, status_code=303)
    try:
        terms = await api(container).terms()
    except Refused as exc:
        raise exc.as_error() from exc
    session = await container.sessions.load(request)
    email = (session.user or {}).get("email", "") if session else ""
    context.update(
        terms=terms,
        values={"referent_email": email, "country": "FR", **(values or {})},
        refusal=refusal,
    )
    return render(request, "organisation/apply.html.j2", context, status=status)


async def _page_or_login(
    request: Request,
    container: PortalContainer,
    page: Callable[[Request, PortalContainer, str], Awaitable[Response]],
) -> Response:
    """A page for the logged-in user (with their access token), else the login."""
    _, token = await _session_token(request, container)
    if token is None:
        return _login_redirect(request)
    return await page(request, container, token)


@router.get("/adhesion")
async def application_form(request: Request, container: PortalDep) -> Response:
    return await _page_or_login(request, container, _application_page)


@router.post("/adhesion")
async def apply(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    token = await _post_token(request, container, session)
    form = await request.form()
    try:
        await api(container).apply(token, application_body(form))
    except Refused as exc:
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
        return await _application_page(request, container, token, values, _refusal(exc), exc.status)
    session.data.pop("me", None)  # the header's "who am I" asks orders again
    await container.sessions.save(session)
    return _done(BASE, "applied")


# --- status and history -----------------------------------------------------------------


@router.get(BASE)
async def status_page(request: Request, container: PortalDep) -> Response:
    _, token = await _session_token(request, container)
    if token is None:
        return _login_redirect(request)
    context, _me = await _context(request, container, "status", token)
    history: list[dict[str, Any]] = []
    history_refusal = None
    if context["org_id"] and context["organisation"]:
        try:
            context["organisation"] = await api(container).organisation(token, context["org_id"])
            history = await api(container).history(token, context["org_id"])
        except Refused as exc:
            history_refusal = _refusal(exc)
    terms_departments: dict[str, str] = {}
    department = (context["organisation"] or {}).get("department")
    if department:
        try:
            terms = await api(container).terms()
            terms_departments = {d["code"]: d["name"] for d in terms.get("departments", [])}
        except Refused:
            pass  # the code alone is shown

    context.update(
        history=list(reversed(history)),
        history_refusal=history_refusal,
        department_name=terms_departments.get(department or "", ""),
    )
    return render(request, "organisation/status.html.j2", context)


# --- users, invitations, delegations ------------------------------------------------------


async def _users_page(
    request: Request, container: PortalContainer, token: str, refusal: dict | None = None, status: int = 200
) -> Response:
    context, _ = await _context(request, container, "users", token)
    org_id = context["org_id"]
    parts: dict[str, Any] = {"users": None, "invitations": None, "delegations": None}
    refused: dict[str, Any] = {}
    if org_id:
        calls = {
            "users": api(container).users,
            "invitations": api(container).invitations,
            "delegations": api(container).delegations,
        }
        for name, call in calls.items():
            try:
                parts[name] = await call(token, org_id)
            except Refused as exc:
                refused[name] = _refusal(exc)
    context.update(parts, section_refusals=refused, refusal=refusal)
    return render(request, "organisation/users.html.j2", context, status=status)


@router.get(f"{BASE}/utilisateurs")
async def users_page(request: Request, container: PortalDep) -> Response:
    return await _page_or_login(request, container, _users_page)


async def _org_of(container: PortalContainer, token: str) -> str:
    """The caller's organisation as orders says now (Refused passes on to the page)."""
    org_id = ((await api(container).me(token)).get("principal") or {}).get("organisation_id")
    if not org_id:
        raise Refused(403, "not-a-member", "vous n'êtes rattaché·e à aucune organisation")
    return str(org_id)


@router.post(f"{BASE}/utilisateurs/{{user_id}}/etat")
async def set_user_state(
    user_id: str, request: Request, container: PortalDep, session: CsrfSession
) -> Response:
    token = await _post_token(request, container, session)
    form = await request.form()
    active = _field(form, "active", 5) == "1"
    try:
        org_id = await _org_of(container, token)
        users = await api(container).users(token, org_id)
        found = next((u for u in users if u.get("user_id") == user_id), None)
        if found is None:
            raise Refused(404, "not-found", "utilisateur introuvable")
        body = {k: found.get(k) for k in ("email", "display_name", "language", "roles")}
        await api(container).put_user(token, org_id, user_id, {**body, "active": active})
    except Refused as exc:
        return await _users_page(request, container, token, _refusal(exc), exc.status)
    return _done(f"{BASE}/utilisateurs", "user")


@router.post(f"{BASE}/invitations")
async def invite(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    token = await _post_token(request, container, session)
    form = await request.form()
    roles = ["member", "referent"] if _field(form, "referent", 5) == "1" else ["member"]
    body = {
        "email": _field(form, "email", 320),
        "display_name": _field(form, "display_name", 200),
        "roles": roles,
    }
    try:
        await api(container).invite(token, await _org_of(container, token), body)
    except Refused as exc:
        return await _users_page(request, container, token, _refusal(exc), exc.status)
    return _done(f"{BASE}/utilisateurs", "invited")


@router.post(f"{BASE}/invitations/{{invitation_id}}/retirer")
async def revoke_invitation(
    invitation_id: str, request: Request, container: PortalDep, session: CsrfSession
) -> Response:
    token = await _post_token(request, container, session)
    try:
        await api(container).revoke_invitation(token, await _org_of(container, token), invitation_id)
    except Refused as exc:
        return await _users_page(request, container, token, _refusal(exc), exc.status)
    return _done(f"{BASE}/utilisateurs", "invitation-revoked")


@router.post(f"{BASE}/delegations/{{contractor_id}}/{{decision}}")
async def decide_delegation(
    contractor_id: str, decision: str, request: Request, container: PortalDep, session: CsrfSession
) -> Response:
    if decision not in ("confirmer", "terminer"):
        raise PortalError("unknown action", code="not-found", message_fr="action inconnue", status=404)
    token = await _post_token(request, container, session)
    form = await request.form()
    try:
        await api(container).decide_delegation(
            token,
            await _org_of(container, token),
            contractor_id,
            confirm=decision == "confirmer",
            reason=_field(form, "reason") or None,
        )
    except Refused as exc:
        return await _users_page(request, container, token, _refusal(exc), exc.status)
    return _done(f"{BASE}/utilisateurs", "delegation")


# --- quotas ---------------------------------------------------------------------------


CHART_WIDTH = 640
CHART_LABEL = 170
CHART_BAR = 28
CHART_GAP = 18


def quota_chart(quotas: list[dict[str, Any]], label: Any) -> dict[str, Any]:
    """A horizontal stacked bar per quota (consumed, reserved, available), to the scale of
    the largest allocation; drawn server-side as SVG (attributes only, no inline style)."""
    scale_to = max([float(q.get("allocated_km2") or 0) for q in quotas] + [1.0])
    span = CHART_WIDTH - CHART_LABEL - 90
    bars = []
    for i, q in enumerate(quotas):
        y = CHART_GAP + i * (CHART_BAR + CHART_GAP)
        x = float(CHART_LABEL)
        parts = []
        for kind in ("consumed", "reserved", "available"):
            value = max(float(q.get(f"{kind}_km2") or 0), 0.0)
            width = round(span * value / scale_to, 2)
            parts.append({"kind": kind, "x": round(x, 2), "width": width, "value": value})
            x += width
        bars.append({"label": label(q), "y": y, "parts": parts, "end": round(x + 6, 2), "quota": q})
    height = CHART_GAP + len(quotas) * (CHART_BAR + CHART_GAP) + 24
    return {"width": CHART_WIDTH, "height": height, "bar": CHART_BAR, "bars": bars, "legend_y": height - 8}


@router.get(f"{BASE}/quotas")
async def quotas_page(request: Request, container: PortalDep, quota: str | None = None) -> Response:
    _, token = await _session_token(request, container)
    if token is None:
        return _login_redirect(request)
    context, _ = await _context(request, container, "quotas", token)
    t = context["t"]
    quotas: list[dict[str, Any]] = []
    ledger = None
    selected = None
    if context["org_id"]:
        try:
            quotas = await api(container).quotas(token, context["org_id"])
            keys = {f"{q['family']}/{q['period']}": q for q in quotas}
            selected = quota if quota in keys else next(iter(keys), None)
            if selected:
                q = keys[selected]
                ledger = await api(container).ledger(token, context["org_id"], q["family"], q["period"])
        except Refused as exc:
            context["refusal"] = _refusal(exc)

    def label(q: dict[str, Any]) -> str:
        family = str(q.get("family", ""))
        name = t(f"family.{family}") if f"family.{family}" in _text_keys("family.") else family
        return f"{name} {q.get('period', '')}"

    context.update(
        quotas=quotas,
        chart=quota_chart(quotas, label) if quotas else None,
        label=label,
        ledger=ledger,
        selected=selected,
    )
    return render(request, "organisation/quotas.html.j2", context)


def _text_keys(prefix: str) -> set[str]:
    return {k for k in TEXTS if k.startswith(prefix)}


# --- API keys -------------------------------------------------------------------------


async def _secrets_page(
    request: Request,
    container: PortalContainer,
    token: str,
    section: str,
    listing: Callable[[str], Awaitable[list[dict[str, Any]]]],
    created: dict | None,
    refusal: dict | None,
    status: int,
    **extra: Any,
) -> Response:
    """A page listing things with a secret shown once at creation (API keys, webhooks)."""
    context, _ = await _context(request, container, section, token)
    rows: list[dict[str, Any]] = []
    try:
        rows = await listing(token)
    except Refused as exc:
        refusal = refusal or _refusal(exc)
    context.update(rows=rows, created=created, refusal=refusal, **extra)
    # A page showing a secret is never cached, nor kept in the history's cache.
    headers = {"Cache-Control": "no-store"} if created else None
    return render(request, f"organisation/{section}.html.j2", context, status=status, headers=headers)


async def _keys_page(
    request: Request,
    container: PortalContainer,
    token: str,
    created: dict | None = None,
    refusal: dict | None = None,
    status: int = 200,
) -> Response:
    return await _secrets_page(
        request, container, token, "keys", api(container).api_keys, created, refusal, status
    )


@router.get(f"{BASE}/cles-api")
async def keys_page(request: Request, container: PortalDep) -> Response:
    return await _page_or_login(request, container, _keys_page)


@router.post(f"{BASE}/cles-api")
async def create_key(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    token = await _post_token(request, container, session)
    form = await request.form()
    try:
        created = await api(container).create_api_key(token, _field(form, "name", 100))
    except Refused as exc:
        return await _keys_page(request, container, token, refusal=_refusal(exc), status=exc.status)
    # The secret is in this answer only: orders keeps its digest, the portal nothing.
    return await _keys_page(request, container, token, created=created, status=201)


@router.post(f"{BASE}/cles-api/{{access_key}}/revoquer")
async def revoke_key(
    access_key: str, request: Request, container: PortalDep, session: CsrfSession
) -> Response:
    token = await _post_token(request, container, session)
    try:
        await api(container).revoke_api_key(token, access_key)
    except Refused as exc:
        return await _keys_page(request, container, token, refusal=_refusal(exc), status=exc.status)
    return _done(f"{BASE}/cles-api", "key-revoked")


# --- webhooks -------------------------------------------------------------------------


async def _webhooks_page(
    request: Request,
    container: PortalContainer,
    token: str,
    created: dict | None = None,
    refusal: dict | None = None,
    status: int = 200,
    values: dict | None = None,
) -> Response:
    return await _secrets_page(
        request,
        container,
        token,
        "webhooks",
        api(container).webhooks,
        created,
        refusal,
        status,
        events=WEBHOOK_EVENTS,
        values=values or {},
    )


@router.get(f"{BASE}/webhooks")
async def webhooks_page(request: Request, container: PortalDep) -> Response:
    return await _page_or_login(request, container, _webhooks_page)


@router.post(f"{BASE}/webhooks")
async def create_webhook(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    token = await _post_token(request, container, session)
    form = await request.form()
    events = [e for e in form.getlist("events") if e in WEBHOOK_EVENTS]
    body = {
        "url": _field(form, "url", 2048),
        "description": _field(form, "description", 200),
        "event_types": events,
    }
    try:
        created = await api(container).create_webhook(token, body)
    except Refused as exc:
        values = {"url": body["url"], "description": body["description"]}
        return await _webhooks_page(
            request, container, token, refusal=_refusal(exc), status=exc.status, values=values
        )
    return await _webhooks_page(request, container, token, created=created, status=201)


async def _webhook_page(
    request: Request,
    container: PortalContainer,
    token: str,
    endpoint_id: str,
    refusal: dict | None = None,
    status: int = 200,
) -> Response:
    context, _ = await _context(request, container, "webhooks", token)
    try:
        hook = await api(container).webhook(token, endpoint_id)
        deliveries = await api(container).deliveries(token, endpoint_id)
    except Refused as exc:
        raise exc.as_error() from exc
    context.update(hook=hook, deliveries=deliveries, refusal=refusal)
    return render(request, "organisation/webhook.html.j2", context, status=status)


@router.get(f"{BASE}/webhooks/{{endpoint_id}}")
async def webhook_page(endpoint_id: str, request: Request, container: PortalDep) -> Response:
    return await _page_or_login(request, container, lambda r, c, t: _webhook_page(r, c, t, endpoint_id))


ACTIONS: dict[str, Literal["test", "reactivate", "delete"]] = {
    "test": "test",
    "reactiver": "reactivate",
    "supprimer": "delete",
}


@router.post(f"{BASE}/webhooks/{{endpoint_id}}/{{action}}")
async def webhook_action(
    endpoint_id: str, action: str, request: Request, container: PortalDep, session: CsrfSession
) -> Response:
    chosen = ACTIONS.get(action)
    if chosen is None:
        raise PortalError("unknown action", code="not-found", message_fr="action inconnue", status=404)
    token = await _post_token(request, container, session)
    try:
        await api(container).webhook_action(token, endpoint_id, chosen)
    except Refused as exc:
        if exc.status == 404:
            raise exc.as_error() from exc
        return await _webhook_page(request, container, token, endpoint_id, _refusal(exc), exc.status)
    if chosen == "delete":
        return _done(f"{BASE}/webhooks", "webhook-delete")
    return _done(f"{BASE}/webhooks/{endpoint_id}", f"webhook-{chosen}")


# --- notification preferences ---------------------------------------------------------


async def _preferences_page(
    request: Request, container: PortalContainer, token: str, refusal: dict | None = None, status: int = 200
) -> Response:
    context, _ = await _context(request, container, "preferences", token)
    prefs: dict[str, Any] | None = None
    try:
        prefs = await api(container).preferences(token)
    except Refused as exc:
        refusal = refusal or _refusal(exc)
    context.update(prefs=prefs, refusal=refusal, pref_kinds={k[5:] for k in _text_keys("pref.")})
    return render(request, "organisation/preferences.html.j2", context, status=status)


@router.get(f"{BASE}/preferences")
async def preferences_page(request: Request, container: PortalDep) -> Response:
    return await _page_or_login(request, container, _preferences_page)


@router.post(f"{BASE}/preferences")
async def save_preferences(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    token = await _post_token(request, container, session)
    form = await request.form()
    try:
        # The kinds are notify's (its answer lists them): ticked ones on, the others off.
        current = await api(container).preferences(token)
        ticked = set(form.getlist("email"))
        body: dict[str, Any] = {
            "email": {kind: kind in ticked for kind in (current.get("email") or {})},
            "digest": _field(form, "digest", 5) == "1",
            "language": _field(form, "language", 2) or None,
        }
        await api(container).put_preferences(token, body)
    except Refused as exc:
        return await _preferences_page(request, container, token, _refusal(exc), exc.status)
    return _done(f"{BASE}/preferences", "preferences")
