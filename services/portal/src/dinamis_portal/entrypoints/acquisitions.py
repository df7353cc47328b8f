"""Acquisition requests: "Demander une acquisition" (a DSFR stepper with the live quote of
the orders service, drafts, a recap and one confirmation) and "Mes demandes" (list,
detail with readable states, the operator's reasons, the history as a timeline, the
requested area against the delivered footprints with the % acquired, the co-financing
confirmation).

Every answer comes from the orders service, called with the user's token: the quote,
the states, who may see a request (another organisation's request id is a 404 here that
names nothing). Drafts are the portal's own (`portal_drafts`), per user."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dinamis_portal import acquisitions as form
from dinamis_portal.acquisitions_api import AcquisitionRequests, Drafts, Refusal
from dinamis_portal.bootstrap import PortalContainer, PortalDep
from dinamis_portal.entrypoints.auth import CsrfSession
from dinamis_portal.entrypoints.pages import access_token, format_datetime, page_context, render, who
from dinamis_portal.errors import PortalError
from dinamis_portal.i18n import Lang, language_of, text
from dinamis_portal.search import json_for_script
from dinamis_portal.sessions import Session
from dinamis_portal.upstream import SAFE_SEGMENT, not_found

router = APIRouter(include_in_schema=False)
# History entries the DINAMIS team makes (the orders service's action names).
TEAM_CHANGES = {
    "start_review",
    "approve",
    "reject",
    "require_cofinancing",
    "start_acquisition",
    "confirm_cancellation",
}


# States a reason explains (the operator's, or the platform's).
REASONED = {"rejected", "needs_cofinancing", "cancelled", "cancelling", "expired", "partially_fulfilled"}


def login_required() -> PortalError:
    return PortalError(
        "log in to use acquisition requests",
        code="login-required",
        message_fr="connectez-vous pour utiliser les demandes d'acquisition",
        status=401,
    )


def ports(container: PortalContainer) -> tuple[AcquisitionRequests, Drafts]:
    if container.acquisitions is None or container.drafts is None:  # pragma: no cover - wiring
        raise RuntimeError("acquisition requests are not wired")
    return container.acquisitions, container.drafts


async def user_token(container: PortalContainer, session: Session | None) -> tuple[str, str] | None:
    """(the user's subject, their access token), or None when nobody is logged in."""
    if session is None or not session.user:
        return None
    token = await access_token(container, session)
    if token is None:
        return None
    return str(session.user.get("sub") or ""), token


async def logged_in(request: Request, container: PortalContainer) -> tuple[str, str] | Response:
    found = await user_token(container, await container.sessions.load(request))
    if found is None:
        retour = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/connexion?" + urlencode({"retour": retour}), status_code=303)
    return found


async def posted(request: Request, container: PortalContainer, session: Session) -> tuple[str, str]:
    found = await user_token(container, session)
    if found is None:
        raise login_required()
    return found


def day_of(iso: Any, lang: Lang, end: bool = False) -> str:
    """A window bound as a day; an end at midnight is the day before (windows end after
    their last day)."""
    try:
        when = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return str(iso)
    if end:
        when -= timedelta(microseconds=1)
    shown = format_datetime(when.isoformat(), lang)
    return shown.rsplit(",", 1)[0]


def quote_view(quote: dict[str, Any], lang: Lang) -> dict[str, Any]:
    """The orders service's quote, its numbers written for people (nothing computed)."""
    quota = quote.get("quota") or {}
    cofinancing = quote.get("cofinancing")
    catalogue = (quote.get("overlaps") or {}).get("catalogue") or {}
    return {
        "area": form.km2(quote.get("area_km2"), lang),
        "period": str(quota.get("period") or ""),
        "available": form.km2(quota.get("available_km2"), lang),
        "after": form.km2(quota.get("after_km2"), lang),
        "cofinancing": text(
            "req.quote.cofinancing.detail",
            lang,
            km2=form.km2(cofinancing.get("km2"), lang),
            price=form.euros(cofinancing.get("price_per_km2_eur"), lang),
            amount=form.euros(cofinancing.get("amount_eur"), lang),
        )
        if cofinancing
        else "",
        "catalogue": form.percent(catalogue["share"], lang)
        if catalogue.get("share") is not None
        else text("req.quote.catalogue.unknown", lang),
        "warnings": [
            str(w.get("message_en") if lang == "en" and w.get("message_en") else w.get("message") or "")
            for w in quote.get("warnings") or []
        ],
        "data": json.dumps(quote, separators=(",", ":")),
    }


async def compute_quote(
    container: PortalContainer, token: str, values: dict[str, str], lang: Lang
) -> dict[str, Any]:
    """What the quote panel shows: the orders service's quote, its refusal, or what is
    still missing before one can be asked."""
    acquisitions, _ = ports(container)
    parsed = form.to_draft(values, lang)
    if parsed.errors:
        return {"state": "invalid", "errors": parsed.errors}
    if parsed.missing:
        return {"state": "waiting"}
    answer = await acquisitions.quote(parsed.draft, token)
    if isinstance(answer, Refusal):
        return {"state": "refused", "refusal": answer, "errors": form.field_errors(answer.errors, lang)}
    return {"state": "ready", "quote": quote_view(answer, lang)}


def labels(lang: Lang) -> dict[str, str]:
    names = {
        "kind": "req.kind",
        "famille": "req.family",
        "aoi": "req.aoi",
        "debut": "req.start",
        "fin": "req.end",
        "nuages": "req.cloud",
        "incidence": "req.incidence",
        "priorite": "req.priority",
        "titre": "req.title",
        "justification": "req.justification",
    }
    return {k: text(v, lang) for k, v in names.items()} | {"": ""}


async def render_form(
    request: Request,
    container: PortalContainer,
    token: str,
    values: dict[str, str],
    *,
    draft_id: str = "",
    notice: str = "",
    errors: dict[str, str] | None = None,
    refusal: Refusal | None = None,
    status: int = 200,
) -> HTMLResponse:
    context = await page_context(request, container, "request-new")
    lang: Lang = context["lang"]
    context.update(
        values=values,
        draft_id=draft_id,
        notice=notice,
        errors=errors or {},
        refusal=refusal,
        labels=labels(lang),
        kinds=form.KINDS,
        families=form.FAMILIES,
        priorities=form.PRIORITIES,
        quote=await compute_quote(container, token, values, lang),
    )
    return render(request, "acquisition_new.html.j2", context, status=status)


@router.get("/demandes/nouvelle")
async def new_request(request: Request, container: PortalDep) -> Response:
    found = await logged_in(request, container)
    if isinstance(found, Response):
        return found
    owner, token = found
    _, drafts = ports(container)
    lang = language_of(request)
    draft_id = request.query_params.get("brouillon", "")
    values = form.with_defaults()
    notice = ""
    if draft_id:
        if not SAFE_SEGMENT.match(draft_id):
            raise not_found("brouillon", "draft")
        draft = await drafts.get(owner, draft_id)
        if draft is None:
            raise not_found("brouillon", "draft")
        values = form.with_defaults(form.cleaned(draft.get("fields") or {}))
        saved_at = draft.get("saved_at")
        when = format_datetime(saved_at.isoformat(), lang) if isinstance(saved_at, datetime) else ""
        notice = (
            text("req.saved", lang)
            if request.query_params.get("enregistre")
            else text("req.resumed", lang, when=when)
        )
    return await render_form(request, container, token, values, draft_id=draft_id, notice=notice)


@router.post("/demandes/devis")
async def live_quote(request: Request, container: PortalDep, session: CsrfSession) -> HTMLResponse:
    """The quote panel (an htmx fragment), from the orders service, as the form changes."""
    _, token = await posted(request, container, session)
    values = form.with_defaults(form.cleaned(dict(await request.form())))
    context = await page_context(request, container, "request-new")
    context.update(
        quote=await compute_quote(container, token, values, context["lang"]), labels=labels(context["lang"])
    )
    return render(request, "_acquisition_quote.html.j2", context)


@router.post("/demandes/brouillons")
async def save_draft(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    owner, _ = await posted(request, container, session)
    # Drafts are stored by the portal: only for members in good standing (as the orders
    # service says now), not for any account anyone can register.
    me = await who(container, session)
    if me is None or me.get("standing") not in ("member", "staff"):
        raise PortalError(
            "drafts are kept for members of an organisation in good standing",
            code="drafts-members-only",
            message_fr="les brouillons sont réservés aux membres d'une organisation adhérente en règle",
            status=403,
        )
    _, drafts = ports(container)
    raw = dict(await request.form())
    draft_id = raw.get("brouillon")
    draft_id = draft_id if isinstance(draft_id, str) and SAFE_SEGMENT.match(draft_id) else None
    saved = await drafts.save(owner, form.cleaned(raw), draft_id)
    return RedirectResponse(f"/demandes/nouvelle?{urlencode({'brouillon': saved, 'enregistre': '1'})}", 303)


@router.post("/demandes/brouillons/{draft_id}/supprimer")
async def delete_draft(
    draft_id: str, request: Request, container: PortalDep, session: CsrfSession
) -> Response:
    owner, _ = await posted(request, container, session)
    _, drafts = ports(container)
    if not SAFE_SEGMENT.match(draft_id) or not await drafts.delete(owner, draft_id):
        raise not_found("brouillon", "draft")
    return RedirectResponse("/demandes?brouillon=supprime", 303)


@router.post("/demandes/recapitulatif")
async def recap(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    """The recap before the one confirmation: the request as it will be sent, and its quote."""
    _, token = await posted(request, container, session)
    raw = dict(await request.form())
    values = form.with_defaults(form.cleaned(raw))
    draft_id = raw.get("brouillon") if isinstance(raw.get("brouillon"), str) else ""
    lang = language_of(request)
    parsed = form.to_draft(values, lang)
    problems = dict(parsed.errors)
    for name in ("titre", "justification", *parsed.missing):
        if not values[name]:
            problems.setdefault(name, text("req.error.required", lang))
    if problems:
        return await render_form(
            request, container, token, values, draft_id=str(draft_id), errors=problems, status=400
        )
    context = await page_context(request, container, "request-new")
    quote = await compute_quote(container, token, values, lang)
    context.update(
        values=values,
        draft_id=draft_id,
        labels=labels(lang),
        quote=quote,
        window=text(
            "req.window.value",
            lang,
            start=day_of(parsed.draft["window"]["start"], lang),
            end=day_of(parsed.draft["window"]["end"], lang, end=True),
        ),
        aoi=json_for_script({"type": "Feature", "geometry": parsed.draft.get("aoi"), "properties": {}}),
    )
    return render(request, "acquisition_recap.html.j2", context)


@router.post("/demandes/envoyer")
async def submit(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    owner, token = await posted(request, container, session)
    acquisitions, drafts = ports(container)
    raw = dict(await request.form())
    values = form.with_defaults(form.cleaned(raw))
    draft_id = raw.get("brouillon") if isinstance(raw.get("brouillon"), str) else ""
    lang = language_of(request)
    parsed = form.to_draft(values, lang)
    if parsed.errors:
        return await render_form(
            request, container, token, values, draft_id=str(draft_id), errors=parsed.errors, status=400
        )
    answer = await acquisitions.submit(parsed.draft, token)
    if isinstance(answer, Refusal):
        return await render_form(
            request,
            container,
            token,
            values,
            draft_id=str(draft_id),
            errors=form.field_errors(answer.errors, lang),
            refusal=answer,
            status=answer.status if 400 <= answer.status < 500 else 400,
        )
    if draft_id and SAFE_SEGMENT.match(str(draft_id)):
        await drafts.delete(owner, str(draft_id))
    return RedirectResponse(f"/demandes/{answer['request_id']}?envoyee=1", 303)


@router.get("/demandes")
async def my_requests(request: Request, container: PortalDep) -> Response:
    found = await logged_in(request, container)
    if isinstance(found, Response):
        return found
    owner, token = found
    acquisitions, drafts = ports(container)
    context = await page_context(request, container, "requests")
    lang: Lang = context["lang"]
    listed = sorted(await acquisitions.listing(token), key=lambda r: str(r.get("submitted_at")), reverse=True)
    rows = [
        {
            "id": str(r.get("request_id")),
            "title": str(r.get("title") or r.get("request_id")),
            "kind": text(f"req.kind.{r.get('kind')}", lang)
            if r.get("kind") in form.KINDS
            else str(r.get("kind")),
            "submitted": format_datetime(str(r.get("submitted_at") or ""), lang),
            "state": form.state_text(str(r.get("status")), lang),
            "badge": form.badge(str(r.get("status"))),
            "area": form.km2(r.get("area_km2"), lang),
            "acquired": form.percent(r.get("covered_share"), lang),
        }
        for r in listed
    ]
    saved = [
        {
            "id": str(d["_id"]),
            "title": (d.get("fields") or {}).get("titre") or text("req.draft.untitled", lang),
            "saved": format_datetime(d["saved_at"].isoformat(), lang)
            if isinstance(d.get("saved_at"), datetime)
            else "",
        }
        for d in await drafts.listing(owner)
    ]
    context.update(rows=rows, drafts=saved, deleted=request.query_params.get("brouillon") == "supprime")
    return render(request, "acquisition_list.html.j2", context)


def timeline(
    history: list[dict[str, Any]], request_: dict[str, Any], me: str, lang: Lang
) -> list[dict[str, str]]:
    entries = []
    for entry in history:
        change = str(entry.get("change") or "")
        by = str(entry.get("by") or "")
        if by == me:
            who = text("req.by.you", lang)
        elif by == request_.get("submitted_by"):
            who = text("req.by.author", lang)
        elif by == "orders":
            who = text("req.by.platform", lang)
        elif change in TEAM_CHANGES:
            who = text("req.by.team", lang)
        else:
            who = ""
        at = entry.get("at")
        when = at.isoformat() if isinstance(at, datetime) else str(at or "")
        entries.append(
            {
                "label": form.history_label(change, lang),
                "when": format_datetime(when, lang),
                "who": text("req.history.by", lang, who=who) if who else "",
                "why": str(entry.get("why") or ""),
            }
        )
    return entries


async def render_detail(
    request_id: str,
    request: Request,
    container: PortalContainer,
    owner: str,
    token: str,
    refusal: Refusal | None = None,
) -> HTMLResponse:
    acquisitions, _ = ports(container)
    found = await acquisitions.get(request_id, token)
    history = await acquisitions.history(request_id, token)
    coverage = await acquisitions.coverage(request_id, token)
    context = await page_context(request, container, "requests")
    lang: Lang = context["lang"]
    status = str(found.get("status"))
    window = found.get("window") or {}
    cofinancing = found.get("cofinancing") or None
    delivered = (coverage.get("delivered") or {}).get("features") or []
    context.update(
        req=found,
        state=form.state_text(status, lang),
        badge=form.badge(status),
        kind=text(f"req.kind.{found.get('kind')}", lang) if found.get("kind") in form.KINDS else "",
        family=text(f"req.family.{found.get('sensor_family')}", lang)
        if found.get("sensor_family") in form.FAMILIES
        else str(found.get("sensor_family")),
        priority=text(f"req.priority.{found.get('priority')}", lang)
        if found.get("priority") in form.PRIORITIES
        else "",
        window=text(
            "req.window.value",
            lang,
            start=day_of(window.get("start"), lang),
            end=day_of(window.get("end"), lang, end=True),
        ),
        constraints=text(
            "req.detail.constraints.value",
            lang,
            cloud=form.number(found.get("max_cloud_cover"), lang),
            incidence=form.number(found.get("max_incidence_deg"), lang),
        ),
        area=form.km2(found.get("area_km2"), lang),
        submitted=format_datetime(str(found.get("submitted_at") or ""), lang),
        # The last reason explains these states; otherwise the timeline keeps it.
        reason=str(found.get("last_reason") or "") if status in REASONED else "",
        acquired=text(
            "req.detail.acquired.value",
            lang,
            percent=form.percent(coverage.get("covered_share"), lang),
            km2=form.km2(coverage.get("covered_km2"), lang),
            total=form.km2(coverage.get("area_km2"), lang),
            n=len(delivered),
        ),
        acquired_percent=coverage.get("acquired_percent"),
        delivered=[str(f.get("id")) for f in delivered],
        aoi=json_for_script({"type": "Feature", "geometry": coverage.get("aoi"), "properties": {}}),
        footprints=json_for_script({"type": "FeatureCollection", "features": delivered}),
        history=timeline(history, found, owner, lang),
        cofinancing=cofinancing,
        cofinancing_text=text(
            "req.quote.cofinancing.detail",
            lang,
            km2=form.km2(cofinancing.get("km2"), lang),
            price=form.euros(cofinancing.get("price_per_km2_eur"), lang),
            amount=form.euros(cofinancing.get("amount_eur"), lang),
        )
        if cofinancing
        else "",
        cofinancing_confirmed=text(
            "req.detail.cofinancing.confirmed",
            lang,
            when=format_datetime(str(cofinancing.get("confirmed_at")), lang),
            amount=form.euros(cofinancing.get("amount_eur"), lang),
        )
        if cofinancing and cofinancing.get("confirmed_at")
        else "",
        awaiting_confirmation=status == "needs_cofinancing"
        and cofinancing
        and not cofinancing.get("confirmed_at"),
        refusal=refusal,
        submitted_now=request.query_params.get("envoyee") == "1",
        confirmed_now=request.query_params.get("cofinancement") == "1",
    )
    return render(request, "acquisition_detail.html.j2", context, status=refusal.status if refusal else 200)


@router.get("/demandes/{request_id}")
async def request_detail(request_id: str, request: Request, container: PortalDep) -> Response:
    found = await logged_in(request, container)
    if isinstance(found, Response):
        return found
    owner, token = found
    return await render_detail(request_id, request, container, owner, token)


@router.post("/demandes/{request_id}/cofinancement")
async def confirm_cofinancing(
    request_id: str, request: Request, container: PortalDep, session: CsrfSession
) -> Response:
    owner, token = await posted(request, container, session)
    acquisitions, _ = ports(container)
    await acquisitions.get(request_id, token)  # another organisation's request: 404, nothing said
    answer = await acquisitions.confirm_cofinancing(request_id, token)
    if isinstance(answer, Refusal):
        return await render_detail(request_id, request, container, owner, token, refusal=answer)
    return RedirectResponse(f"/demandes/{request_id}?cofinancement=1", 303)
