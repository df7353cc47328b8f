"""The ops console's review queue (`/ops/demandes`): the requests waiting for a decision,
one request with its automatic checks, and the operators' decisions.

Everything comes from the services, called with the operator's token: the queue, the
request, its history, the quota and overlap checks and every decision from the orders
service (`ops/review_api.py`, `acquisitions_api.py`); the scenes over the AOI from the
catalogue's `POST /search` (the AOI search's adapter), their share of the AOI computed as
the members' search does (`search.covered_of`). Every decision is written to the
operators' journal, refused ones too (with orders' code)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from shapely.geometry import shape
from starlette.responses import Response

from dinamis_portal import acquisitions as req_form
from dinamis_portal import search as search_form
from dinamis_portal.acquisitions_api import AcquisitionRequests, Refusal
from dinamis_portal.aoi_api import AoiCatalogue
from dinamis_portal.bootstrap import PortalContainer, PortalDep
from dinamis_portal.entrypoints.pages import format_datetime, render
from dinamis_portal.errors import PortalError, bad_input
from dinamis_portal.i18n import Lang, text
from dinamis_portal.ops.audit import Outcome
from dinamis_portal.ops.frame import BASE, done, done_notices, field, ops_context
from dinamis_portal.ops.guard import StaffDep, StaffPost
from dinamis_portal.ops.review_api import ReviewApi, ReviewSettings
from dinamis_portal.ops.review_texts import DECISIONS, TEMPLATES, template_text
from dinamis_portal.ops.staff import Staff
from dinamis_portal.upstream import SAFE_SEGMENT, not_found

router = APIRouter(include_in_schema=False)
QUEUE = f"{BASE}/demandes"
done_notices(*(f"review-{a}" for a in (*DECISIONS, "propose_scenes")))

KINDS = ("tasking", "archive")
FAMILIES = ("pleiades-neo", "pleiades", "spot-6-7")
WAITING = ("submitted", "under_review", "needs_cofinancing")
SORTS = ("anciennes", "recentes", "surface", "organisme")
# The catalogue's `constellation` of each sensor family (as the orders service searches it).
CONSTELLATION = {"pleiades-neo": "pleiades-neo", "pleiades": "pleiades", "spot-6-7": "spot"}
CATALOGUE_LIMIT = 50
ORG_FILTER = re.compile(r"^[A-Za-z0-9._:-]{1,200}\Z")
ITEM_REF = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._:-]{0,199})/([A-Za-z0-9][A-Za-z0-9._:-]{0,199})\Z")


def review_of(container: PortalContainer) -> ReviewApi:
    found = container.ops_review
    assert found is not None, "the review adapter is wired in bootstrap"
    return found


def requests_of(container: PortalContainer) -> AcquisitionRequests:
    found = container.acquisitions
    assert found is not None, "the acquisitions adapter is wired in bootstrap"
    return found


def catalogue_of(container: PortalContainer) -> AoiCatalogue:
    found = container.aoi_catalogue
    assert found is not None, "the AOI catalogue adapter is wired in bootstrap"
    return found


def target_days(container: PortalContainer) -> int:
    settings = container.ops_review_settings
    return settings.review_target_days if isinstance(settings, ReviewSettings) else 5


def parse_time(value: Any) -> datetime | None:
    try:
        found = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------ the queue


def queue_filters(request: Request) -> dict[str, str]:
    """The queue's filters from the query string; a value outside the choices is a 400."""
    q = request.query_params
    found = {k: (q.get(k) or "").strip() for k in ("type", "famille", "etat", "organisme", "age", "tri")}
    found["retard"] = "1" if q.get("retard") == "1" else ""
    if found["type"] and found["type"] not in KINDS:
        raise bad_input("bad-filter", "type de demande inconnu", "unknown request type")
    if found["famille"] and found["famille"] not in FAMILIES:
        raise bad_input("bad-filter", "famille de capteurs inconnue", "unknown sensor family")
    if found["etat"] and found["etat"] not in WAITING:
        raise bad_input("bad-filter", "état inconnu ou hors de la file", "unknown state, or not in the queue")
    if found["organisme"] and not ORG_FILTER.match(found["organisme"]):
        raise bad_input("bad-filter", "identifiant d'organisme illisible", "unreadable organisation id")
    if found["age"]:
        if not (found["age"].isascii() and found["age"].isdigit()) or int(found["age"]) > 3650:
            raise bad_input(
                "bad-filter",
                "attente minimale : un nombre de jours (0 à 3650)",
                "minimum wait: 0 to 3650 days",
            )
    if found["tri"] and found["tri"] not in SORTS:
        raise bad_input("bad-filter", "tri inconnu", "unknown sort")
    return found


def queue_rows(
    requests: list[dict[str, Any]], filters: dict[str, str], target: int, lang: Lang, now: datetime
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for r in requests:
        submitted = parse_time(r.get("submitted_at"))
        waited = (now - submitted) if submitted else timedelta(0)
        days = max(0, waited.days)
        late = waited > timedelta(days=target)
        if filters["type"] and r.get("kind") != filters["type"]:
            continue
        if filters["famille"] and r.get("sensor_family") != filters["famille"]:
            continue
        if filters["etat"] and r.get("status") != filters["etat"]:
            continue
        if filters["organisme"] and filters["organisme"].lower() not in str(r.get("organisation_id")).lower():
            continue
        if filters["age"] and days < int(filters["age"]):
            continue
        if filters["retard"] and not late:
            continue
        status = str(r.get("status"))
        cofinancing = r.get("cofinancing") or None
        rows.append(
            {
                "id": str(r.get("request_id")),
                "title": str(r.get("title") or ""),
                "org": str(r.get("organisation_id") or ""),
                "kind": text(f"req.kind.{r.get('kind')}", lang) if r.get("kind") in KINDS else "",
                "family": text(f"req.family.{r.get('sensor_family')}", lang)
                if r.get("sensor_family") in FAMILIES
                else str(r.get("sensor_family")),
                "state": req_form.state_text(status, lang),
                "badge": req_form.badge(status),
                "area": req_form.km2(r.get("area_km2"), lang),
                "area_value": float(r.get("area_km2") or 0),
                "submitted": format_datetime(str(r.get("submitted_at") or ""), lang),
                "submitted_at": submitted or now,
                "wait": text("ops.review.wait.days", lang, days=days),
                "late": late,
                "cofinancing": text(
                    "ops.review.cofinancing.offer",
                    lang,
                    amount=req_form.euros(cofinancing.get("amount_eur"), lang),
                    km2=req_form.km2(cofinancing.get("km2"), lang),
                )
                + " — "
                + text(
                    "ops.review.cofinancing.confirmed"
                    if cofinancing.get("confirmed_at")
                    else "ops.review.cofinancing.pending",
                    lang,
                )
                if isinstance(cofinancing, dict)
                else "",
            }
        )
    sort = filters["tri"] or "anciennes"
    if sort == "recentes":
        rows.sort(key=lambda row: row["submitted_at"], reverse=True)
    elif sort == "surface":
        rows.sort(key=lambda row: -row["area_value"])
    elif sort == "organisme":
        rows.sort(key=lambda row: (row["org"], row["submitted_at"]))
    else:
        rows.sort(key=lambda row: row["submitted_at"])
    return rows


@router.get(QUEUE)
async def queue(request: Request, container: PortalDep, staff: StaffDep) -> Response:
    filters = queue_filters(request)
    waiting = await review_of(container).queue(staff.token)
    context = await ops_context(request, container, staff, "review")
    lang: Lang = context["lang"]
    target = target_days(container)
    rows = queue_rows(waiting, filters, target, lang, datetime.now(UTC))
    context.update(
        rows=rows,
        total=len(waiting),
        filters=filters,
        target=target,
        kinds=[(k, text(f"req.kind.{k}", lang)) for k in KINDS],
        families=[(f, text(f"req.family.{f}", lang)) for f in FAMILIES],
        states=[(s, req_form.state_text(s, lang)) for s in WAITING],
        sorts=[
            ("anciennes", text("ops.review.sort.oldest", lang)),
            ("recentes", text("ops.review.sort.newest", lang)),
            ("surface", text("ops.review.sort.area", lang)),
            ("organisme", text("ops.review.sort.org", lang)),
        ],
    )
    return render(request, "ops/review/queue.html.j2", context)


# ---------------------------------------------------------------------------- one request


def check_id(request_id: str) -> str:
    if not SAFE_SEGMENT.match(request_id):
        raise not_found("demande", "request")
    return request_id


def catalogue_body(found: dict[str, Any]) -> dict[str, Any]:
    """The catalogue search of the automatic check: the AOI, the request's window (for a
    tasking, from a year before it, as the orders service's own overlap check), its cloud
    limit and its sensor family."""
    window = found.get("window") or {}
    start = parse_time(window.get("start")) or datetime.now(UTC)
    end = parse_time(window.get("end")) or datetime.now(UTC)
    if found.get("kind") == "tasking":
        start = min(start, datetime.now(UTC)) - timedelta(days=365)
    args: list[dict[str, Any]] = []
    constellation = CONSTELLATION.get(str(found.get("sensor_family")))
    if constellation:
        args.append({"op": "=", "args": [{"property": "constellation"}, constellation]})
    try:
        cloud = float(found.get("max_cloud_cover", 100))
    except (TypeError, ValueError):
        cloud = 100.0
    args.append({"op": "<=", "args": [{"property": "eo:cloud_cover"}, cloud]})
    return {
        "intersects": found.get("aoi"),
        "datetime": f"{start.isoformat().replace('+00:00', 'Z')}/{end.isoformat().replace('+00:00', 'Z')}",
        "filter-lang": "cql2-json",
        "filter": {"op": "and", "args": args},
        "limit": CATALOGUE_LIMIT,
        "sortby": [{"field": "properties.datetime", "direction": "desc"}],
    }


async def catalogue_check(container: PortalContainer, found: dict[str, Any]) -> dict[str, Any]:
    """The scenes over the AOI, each with the share of the AOI it covers (best first);
    the catalogue down or refusing is said on the page, not a failed page."""
    body = catalogue_body(found)
    try:
        result = await catalogue_of(container).search_body(body)
    except PortalError as exc:
        return {"rows": [], "unavailable": exc.message_fr or exc.message, "body": body}
    try:
        aoi = shape(found.get("aoi") or {})
    except (ValueError, TypeError, AttributeError, KeyError):
        return {"rows": [], "unavailable": "zone illisible", "body": body}
    rows = search_form.result_rows(list(result.get("features") or []), aoi)
    rows.sort(key=lambda r: -(r.covered or 0))
    return {"rows": rows, "unavailable": None, "body": body}


def features_json(rows: list[Any]) -> str:
    return search_form.footprints_json(rows)


def overlaps_json(overlaps: list[dict[str, Any]]) -> str:
    return search_form.json_for_script(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": search_form.rounded(o["aoi"]),
                    "properties": {"request_id": o.get("request_id")},
                }
                for o in overlaps
                if isinstance(o.get("aoi"), dict)
            ],
        }
    )


def history_rows(history: list[dict[str, Any]], lang: Lang) -> list[dict[str, str]]:
    return [
        {
            "label": req_form.history_label(str(h.get("change") or ""), lang),
            "when": format_datetime(str(h.get("at") or ""), lang),
            "who": str(h.get("by") or ""),
            "why": str(h.get("why") or ""),
        }
        for h in history
    ]


async def render_request(
    request_id: str,
    request: Request,
    container: PortalContainer,
    staff: Staff,
    refusal: Refusal | None = None,
) -> Response:
    request_id = check_id(request_id)
    acquisitions = requests_of(container)
    found = await acquisitions.get(request_id, staff.token)
    history = await acquisitions.history(request_id, staff.token)
    review = review_of(container)
    checks = await review.checks(request_id, staff.token)
    catalogue = await catalogue_check(container, found)
    org_id = str(found.get("organisation_id") or "")
    organisation = await review.organisation(org_id, staff.token) or {}
    author = next(
        (u for u in await review.users(org_id, staff.token) if u.get("user_id") == found.get("submitted_by")),
        {},
    )
    context = await ops_context(request, container, staff, "review")
    lang: Lang = context["lang"]
    status = str(found.get("status"))
    allowed = [str(a) for a in found.get("allowed_actions") or []]
    decisions = [a for a in DECISIONS if a in allowed]
    window = found.get("window") or {}
    overlaps = [o for o in checks.get("overlaps") or [] if isinstance(o, dict)]
    quota = checks.get("quota") or {}
    offer = checks.get("cofinancing") or None
    current = found.get("cofinancing") or None
    search_window = str(catalogue["body"]["datetime"]).split("/")
    context.update(
        req=found,
        applicant=" — ".join(
            str(v) for v in (author.get("display_name"), author.get("email"), found.get("submitted_by")) if v
        ),
        organisation=" — ".join(
            str(v) for v in (organisation.get("name"), organisation.get("category"), org_id) if v
        ),
        state=req_form.state_text(status, lang),
        badge=req_form.badge(status),
        kind=text(f"req.kind.{found.get('kind')}", lang) if found.get("kind") in KINDS else "",
        family=text(f"req.family.{found.get('sensor_family')}", lang)
        if found.get("sensor_family") in FAMILIES
        else str(found.get("sensor_family")),
        window=text(
            "req.window.value",
            lang,
            start=format_datetime(str(window.get("start") or ""), lang),
            end=format_datetime(str(window.get("end") or ""), lang),
        ),
        constraints=text(
            "ops.review.constraints.value",
            lang,
            cloud=req_form.number(found.get("max_cloud_cover"), lang),
            incidence=req_form.number(found.get("max_incidence_deg"), lang),
            priority=str(found.get("priority") or "standard"),
        ),
        area=req_form.km2(found.get("area_km2"), lang),
        submitted=format_datetime(str(found.get("submitted_at") or ""), lang),
        quota=quota,
        quota_text={
            k: req_form.km2(quota.get(k), lang) for k in ("available_km2", "after_km2", "shortfall_km2")
        },
        offer_text=text(
            "ops.review.cofinancing.offer",
            lang,
            amount=req_form.euros(offer.get("amount_eur"), lang),
            km2=req_form.km2(offer.get("km2"), lang),
        )
        if isinstance(offer, dict)
        else "",
        current_offer=text(
            "ops.review.cofinancing.offer",
            lang,
            amount=req_form.euros(current.get("amount_eur"), lang),
            km2=req_form.km2(current.get("km2"), lang),
        )
        + " — "
        + text(
            "ops.review.cofinancing.confirmed"
            if current.get("confirmed_at")
            else "ops.review.cofinancing.pending",
            lang,
        )
        if isinstance(current, dict)
        else "",
        catalogue=catalogue,
        catalogue_how=text(
            "ops.review.catalogue.how",
            lang,
            start=format_datetime(search_window[0], lang),
            end=format_datetime(search_window[-1], lang),
            cloud=req_form.number(found.get("max_cloud_cover"), lang),
            family=str(found.get("sensor_family")),
        ),
        percent=lambda share: search_form.percent(share, lang),
        when=lambda iso: format_datetime(str(iso or ""), lang),
        overlaps=[
            text(
                "ops.review.overlaps.item",
                lang,
                id=o.get("request_id") or "?",
                org=o.get("organisation_id") or "?",
                state=req_form.state_text(str(o.get("status")), lang),
                share=search_form.percent(float(o.get("share") or 0), lang),
            )
            + (f" — {o['title']}" if o.get("title") else "")
            for o in overlaps
        ],
        overlap_ids=[str(o.get("request_id") or "") for o in overlaps],
        warnings=[w for w in found.get("aoi_warnings") or [] if isinstance(w, dict)],
        aoi_json=search_form.json_for_script(found.get("aoi")),
        footprints_json=features_json(catalogue["rows"]),
        overlaps_json=overlaps_json(overlaps),
        history=history_rows(history, lang),
        decisions=[(a, text(f"ops.review.action.{a}", lang)) for a in decisions],
        can_propose="reject" in allowed or status == "submitted",
        templates={
            action: [(key, en if lang == "en" else fr) for key, fr, en in TEMPLATES[action]]
            for action in (*DECISIONS, "propose_scenes")
        },
        templates_json=search_form.json_for_script(
            {
                action: {key: (en if lang == "en" else fr) for key, fr, en in TEMPLATES[action]}
                for action in TEMPLATES
            }
        ),
        refusal=refusal,
    )
    return render(request, "ops/review/request.html.j2", context, status=refusal.status if refusal else 200)


@router.get(QUEUE + "/{request_id}")
async def request_page(request_id: str, request: Request, container: PortalDep, staff: StaffDep) -> Response:
    return await render_request(request_id, request, container, staff)


# ----------------------------------------------------------------------------- decisions


def reason_of(form: Any, action: str) -> str:
    """The reason typed; empty, the template picked (the select works without script)."""
    reason = field(form, "reason", 4000)
    if reason:
        return reason
    return template_text(action, field(form, "template", 50)) or ""


async def journal(
    container: PortalContainer,
    staff: Staff,
    action: str,
    request_id: str,
    reason: str,
    answer: dict[str, Any] | Refusal,
    details: dict[str, Any] | None = None,
) -> None:
    audit = container.ops_audit
    assert audit is not None, "the journal is wired in bootstrap"
    extra = dict(details or {})
    outcome: Outcome
    if isinstance(answer, Refusal):
        extra.update(code=answer.code, status=answer.status, detail=answer.detail)
        outcome = "refused"
    else:
        extra.update(status_after=answer.get("status"))
        outcome = "done"
    await audit.record(
        staff, f"request.{action}", f"request:{request_id}", reason=reason, outcome=outcome, details=extra
    )


async def act(
    container: PortalContainer,
    staff: Staff,
    request_id: str,
    action: str,
    reason: str,
    items: list[dict[str, str]] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any] | Refusal:
    """One decision sent to orders and journaled: done, refused (orders' code), or failed
    (orders unreachable: journaled as such, then the error page)."""
    try:
        answer = await review_of(container).act(request_id, action, reason or None, staff.token, items=items)
    except PortalError as exc:
        audit = container.ops_audit
        assert audit is not None, "the journal is wired in bootstrap"
        await audit.record(
            staff,
            f"request.{action}",
            f"request:{request_id}",
            reason=reason,
            outcome="failed",
            details={**(details or {}), "code": exc.code, "status": exc.http_status},
        )
        raise
    await journal(container, staff, action, request_id, reason, answer, details)
    return answer


@router.post(QUEUE + "/{request_id}/decision")
async def decide(request_id: str, request: Request, container: PortalDep, staff: StaffPost) -> Response:
    request_id = check_id(request_id)
    form = await request.form()
    action = field(form, "action", 40)
    if action not in DECISIONS:
        audit = container.ops_audit
        assert audit is not None
        await audit.record(
            staff,
            "request.decision",
            f"request:{request_id}",
            outcome="refused",
            details={"code": "bad-action", "action": action[:40]},
        )
        raise bad_input("bad-action", "décision inconnue", "unknown decision")
    reason = reason_of(form, action)
    answer = await act(container, staff, request_id, action, reason)
    if isinstance(answer, Refusal):
        return await refused(request_id, request, container, staff, answer)
    return done(f"{QUEUE}/{request_id}", f"review-{action}")


async def refused(
    request_id: str, request: Request, container: PortalContainer, staff: Staff, answer: Refusal
) -> Response:
    """Orders said no: the request's page again with its reason; an unknown (or hostile)
    id is a 404 naming nothing."""
    if answer.status in (403, 404, 422) and answer.code in ("not-found", "forbidden", "validation-error"):
        raise not_found("demande", "request")
    try:
        return await render_request(request_id, request, container, staff, answer)
    except PortalError as exc:
        if exc.http_status == 404:
            raise
        raise PortalError(
            answer.detail, code=answer.code, message_fr=answer.detail, status=answer.status
        ) from exc


@router.post(QUEUE + "/{request_id}/proposer")
async def propose(request_id: str, request: Request, container: PortalDep, staff: StaffPost) -> Response:
    request_id = check_id(request_id)
    form = await request.form()
    picked = [v for v in form.getlist("scene") if isinstance(v, str)][:51]
    items = []
    for ref in dict.fromkeys(picked):
        matched = ITEM_REF.match(ref)
        if matched is None:
            audit = container.ops_audit
            assert audit is not None
            await audit.record(
                staff,
                "request.propose_scenes",
                f"request:{request_id}",
                outcome="refused",
                details={"code": "bad-scene", "scene": ref[:200]},
            )
            raise bad_input("bad-scene", "référence de scène illisible", "unreadable scene reference")
        items.append({"collection": matched.group(1), "item_id": matched.group(2)})
    reason = reason_of(form, "propose_scenes")
    details = {"items": [f"{i['collection']}/{i['item_id']}" for i in items]}
    if field(form, "status", 40) == "submitted":
        # One click: a request not yet under review is taken up first (journaled too).
        started = await act(container, staff, request_id, "start_review", "")
        if isinstance(started, Refusal) and started.code != "invalid-transition":
            return await refused(request_id, request, container, staff, started)
    answer = await act(container, staff, request_id, "propose_scenes", reason, items, details)
    if isinstance(answer, Refusal):
        return await refused(request_id, request, container, staff, answer)
    return done(f"{QUEUE}/{request_id}", "review-propose_scenes")
