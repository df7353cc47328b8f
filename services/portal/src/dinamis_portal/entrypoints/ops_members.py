"""The console's memberships section (`/ops/adhesions`): the applications waiting for
review (with their charter and licence acceptance evidence), every organisation, one
organisation's file (legal representative, SIRET, justification, a contractor's
commissioning body and contract, its history, users and the contractors working for
it), the operator's decisions (approve, refuse, suspend, reinstate, renew), and the
DINAMIS staff accounts (managed by admins only).

Orders decides everything (who is staff, who is an admin, what transition is allowed),
from its records, with the operator's own token; every action is written to the
operators' journal, refused ones too with orders' code."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from dinamis_portal.bootstrap import PortalContainer, PortalDep
from dinamis_portal.entrypoints.pages import render
from dinamis_portal.errors import PortalError, bad_input
from dinamis_portal.ops import members_texts  # noqa: F401  (registers the texts)
from dinamis_portal.ops.frame import BASE, done, done_notices, field, ops_context, required_reason
from dinamis_portal.ops.guard import StaffDep, StaffPost
from dinamis_portal.ops.staff import Staff
from dinamis_portal.ops_members_api import OpsMembersApi
from dinamis_portal.organisation_api import SAFE_ID, Refused

router = APIRouter(include_in_schema=False)
PATH = f"{BASE}/adhesions"
STAFF_PATH = f"{PATH}/personnel"
STATUSES = ("pending", "active", "suspended", "expired", "refused")
CATEGORIES = ("french-research", "french-public", "french-private-rd", "international-research", "contractor")
TARGETS = ("suspended", "active", "expired")
# governance: the working group (issue 16), granted by admins, never staff (orders decides)
STAFF_ROLE_CHOICES = ("operator", "admin", "governance")

done_notices("membership-approved", "membership-refused", "membership-status", "staff-saved")


def api_of(container: PortalContainer) -> OpsMembersApi:
    found = container.ops_members
    assert found is not None, "the console's orders adapter is wired in bootstrap"
    return found


def refusal_of(exc: Refused | PortalError) -> dict[str, str]:
    if isinstance(exc, Refused):
        return {"code": exc.code, "detail": " ; ".join((exc.detail, *exc.errors))}
    return {"code": exc.code, "detail": exc.message_fr or exc.message}


def status_of(exc: Refused | PortalError) -> int:
    return exc.status if isinstance(exc, Refused) else exc.http_status


async def journal(
    container: PortalContainer,
    staff: Staff,
    action: str,
    target: str,
    reason: str,
    details: dict[str, Any],
    refused: Refused | PortalError | None = None,
) -> None:
    audit = container.ops_audit
    assert audit is not None, "the journal is wired in bootstrap"
    if refused is None:
        await audit.record(staff, action, target, reason=reason, details=details)
        return
    unavailable = isinstance(refused, Refused) and refused.status >= 500
    await audit.record(
        staff,
        action,
        target,
        reason=reason,
        outcome="failed" if unavailable else "refused",
        details={**details, "code": refused.code, "detail": refusal_of(refused)["detail"][:500]},
    )


def org_id_of(raw: str) -> str:
    if not SAFE_ID.match(raw or ""):
        raise bad_input("bad-organisation", "identifiant d'organisation invalide", "invalid organisation id")
    return raw


def end_of_day(raw: str, name: str) -> str | None:
    """A date field (AAAA-MM-JJ) as the end of that day, UTC, ISO 8601; None when empty."""
    if not raw:
        return None
    try:
        day = datetime.fromisoformat(raw[:10]).date()
    except ValueError as exc:
        raise bad_input(
            "bad-date", f"date « {name} » illisible (AAAA-MM-JJ)", f"unreadable date '{name}'"
        ) from exc
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC).isoformat()


# --- the list --------------------------------------------------------------------------


@router.get(PATH)
async def memberships(request: Request, container: PortalDep, staff: StaffDep) -> Response:
    q = request.query_params
    status, category = (q.get("statut") or "").strip(), (q.get("categorie") or "").strip()
    if status and status not in STATUSES:
        raise bad_input("bad-status", "statut inconnu", "unknown status")
    if category and category not in CATEGORIES:
        raise bad_input("bad-category", "catégorie inconnue", "unknown category")
    context = await ops_context(request, container, staff, "members")
    pending: list[dict[str, Any]] = []
    listed: list[dict[str, Any]] = []
    try:
        everything = await api_of(container).organisations(staff.token, status or None)
        pending = (
            await api_of(container).organisations(staff.token, "pending")
            if status and status != "pending"
            else [o for o in everything if o.get("status") == "pending"]
        )
        listed = [o for o in everything if not category or o.get("category") == category]
    except Refused as exc:
        context["refusal"] = refusal_of(exc)
    pending.sort(key=lambda o: str(o.get("applied_at") or ""))
    listed.sort(key=lambda o: (o.get("status") != "pending", str(o.get("name") or "").casefold()))
    context.update(
        pending=pending,
        organisations=listed,
        statuses=STATUSES,
        categories=CATEGORIES,
        filters={"statut": status, "categorie": category},
    )
    return render(request, "ops/members/list.html.j2", context)


# --- staff accounts (declared before `/{org_id}`) ----------------------------------------


@router.get(STAFF_PATH)
async def staff_accounts(request: Request, container: PortalDep, staff: StaffDep) -> Response:
    return await _staff_page(request, container, staff)


async def _staff_page(
    request: Request,
    container: PortalContainer,
    staff: Staff,
    refusal: Refused | PortalError | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    context = await ops_context(request, container, staff, "members")
    accounts: list[dict[str, Any]] = []
    may_manage = False
    try:
        answer = await api_of(container).staff(staff.token)
        accounts, may_manage = list(answer.get("staff") or []), bool(answer.get("may_manage"))
    except Refused as exc:
        context["refusal"] = refusal_of(exc)
    if refusal is not None:
        context["refusal"] = refusal_of(refusal)
    context.update(accounts=accounts, may_manage=may_manage, role_choices=STAFF_ROLE_CHOICES, form=form or {})
    return render(
        request, "ops/members/staff.html.j2", context, status=status_of(refusal) if refusal else 200
    )


def _staff_body(form: FormData) -> tuple[str, dict[str, Any]]:
    user_id = field(form, "user_id", 200)
    if not SAFE_ID.match(user_id):
        raise bad_input("bad-sub", "identifiant Keycloak (sub) invalide", "invalid Keycloak subject")
    roles = sorted({r for r in form.getlist("roles") if isinstance(r, str) and r in STAFF_ROLE_CHOICES})
    if not roles:
        raise bad_input("roles-required", "cochez au moins un rôle", "tick at least one role")
    email, name = field(form, "email", 320), field(form, "display_name", 200)
    if "@" not in email or not name:
        raise bad_input(
            "bad-account", "courriel et nom affiché sont obligatoires", "e-mail and name required"
        )
    return user_id, {
        "email": email,
        "display_name": name,
        "roles": roles,
        "active": form.get("active") == "on",
    }


@router.post(STAFF_PATH)
async def save_staff(request: Request, container: PortalDep, staff: StaffPost) -> Response:
    form = await request.form()
    target = f"staff:{field(form, 'user_id', 200)}"
    try:
        user_id, body = _staff_body(form)
        target = f"staff:{user_id}"
        await api_of(container).put_staff(staff.token, user_id, body)
    except (Refused, PortalError) as exc:
        await journal(container, staff, "staff.save", target, "", {}, exc)
        kept = {k: field(form, k, 320) for k in ("user_id", "email", "display_name")}
        return await _staff_page(request, container, staff, exc, kept)
    await journal(container, staff, "staff.save", target, "", body)
    return done(STAFF_PATH, "staff-saved")


# --- one organisation ------------------------------------------------------------------


@router.get(PATH + "/{org_id}")
async def organisation_page(request: Request, container: PortalDep, staff: StaffDep, org_id: str) -> Response:
    return await _organisation_page(request, container, staff, org_id)


async def _organisation_page(
    request: Request,
    container: PortalContainer,
    staff: Staff,
    org_id: str,
    refusal: Refused | PortalError | None = None,
) -> Response:
    api = api_of(container)
    try:
        org = await api.organisation(staff.token, org_id)
    except Refused as exc:
        raise exc.as_error() from exc
    context = await ops_context(request, container, staff, "members")
    sections: dict[str, Any] = {}
    problems: dict[str, dict[str, str]] = {}
    for name, call in (
        ("history", api.history),
        ("users", api.users),
        ("delegations", api.delegations),
    ):
        try:
            sections[name] = await call(staff.token, org_id)
        except Refused as exc:
            sections[name] = []
            problems[name] = refusal_of(exc)
    if refusal is not None:
        context["refusal"] = refusal_of(refusal)
    context.update(
        org=org, problems=problems, targets=TARGETS, statuses=STATUSES, categories=CATEGORIES, **sections
    )
    return render(
        request, "ops/members/organisation.html.j2", context, status=status_of(refusal) if refusal else 200
    )


@router.post(PATH + "/{org_id}/decision")
async def decide(request: Request, container: PortalDep, staff: StaffPost, org_id: str) -> Response:
    form = await request.form()
    decision = field(form, "decision", 20)
    reason = field(form, "reason", 2000)
    action = f"membership.{decision}" if decision in ("approve", "refuse") else "membership.decide"
    target = f"organisation:{org_id[:200]}"
    details: dict[str, Any] = {"decision": decision}
    try:
        org_id_of(org_id)
        if decision not in ("approve", "refuse"):
            raise bad_input("bad-decision", "décision inconnue", "unknown decision")
        body: dict[str, Any] = {"decision": decision}
        if decision == "refuse":
            body["reason"] = required_reason(form)
        else:
            body["valid_until"] = end_of_day(field(form, "valid_until", 10), "adhésion jusqu'au")
            details["valid_until"] = body["valid_until"]
        await api_of(container).decide(staff.token, org_id, body)
    except (Refused, PortalError) as exc:
        await journal(container, staff, action, target, reason, details, exc)
        if isinstance(exc, PortalError) and exc.code == "bad-organisation":
            raise
        return await _organisation_page(request, container, staff, org_id, exc)
    await journal(container, staff, action, target, reason, details)
    return done(f"{PATH}/{org_id}", "membership-approved" if decision == "approve" else "membership-refused")


@router.post(PATH + "/{org_id}/statut")
async def change_status(request: Request, container: PortalDep, staff: StaffPost, org_id: str) -> Response:
    form = await request.form()
    wanted = field(form, "status", 20)
    reason = field(form, "reason", 2000)
    target = f"organisation:{org_id[:200]}"
    details: dict[str, Any] = {"status": wanted}
    try:
        org_id_of(org_id)
        if wanted not in TARGETS:
            raise bad_input("bad-status", "statut demandé inconnu", "unknown target status")
        body = {"status": wanted, "reason": required_reason(form)}
        if until := end_of_day(field(form, "valid_until", 10), "fin d'adhésion"):
            body["valid_until"] = details["valid_until"] = until
        await api_of(container).set_status(staff.token, org_id, body)
    except (Refused, PortalError) as exc:
        await journal(container, staff, "membership.status", target, reason, details, exc)
        if isinstance(exc, PortalError) and exc.code == "bad-organisation":
            raise
        return await _organisation_page(request, container, staff, org_id, exc)
    await journal(container, staff, "membership.status", target, reason, details)
    return done(f"{PATH}/{org_id}", "membership-status")
