"""The AOI tools and the search over an AOI: the Rechercher page (its handler lives here;
pages.py routes `/rechercher` to it), the review step (`POST /zone/analyser` for a pasted
text or an uploaded file, `POST /zone/simplifier`), and the saved AOIs of logged-in users
(`/zones`: list, save, delete; another user's AOI id is a 404).

The search state stays in the URL: a drawn, pasted or uploaded AOI travels as its compact
code (`zone=p1.…`, see `aoi.codec`); a saved AOI opens as that same code. Nothing here
decides what a user may see or order: searches go to the catalogue."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from dinamis_portal import search as search_form
from dinamis_portal.aoi import codec
from dinamis_portal.aoi import texts as _texts  # noqa: F401  (registers the texts)
from dinamis_portal.aoi.parsers import MAX_UPLOAD_BYTES, AoiProblem, Parsed, parse_text, parse_upload
from dinamis_portal.aoi.review import SEARCH_MAX_KM2, Review, as_geojson, review, simplify
from dinamis_portal.bootstrap import PortalContainer, PortalDep
from dinamis_portal.entrypoints.auth import CsrfSession
from dinamis_portal.errors import PortalError, bad_input
from dinamis_portal.i18n import Lang, language_of, text
from dinamis_portal.sessions import Session
from dinamis_portal.upstream import not_found
from dinamis_shared.aoi import InvalidAoi, parse_aoi

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

# "Couvre toute ma zone": the portal examines at most this many scenes touching the AOI.
WHOLE_SCAN = 500
# The search filters a review step carries over to its "use this area" link.
CARRIED = ("collection", "mission", "niveau", "debut", "fin", "nuages", "incidence", "entiere")
MAX_NAME = 80
# A posted code to simplify may be long (it is the reason to simplify): bounded anyway,
# and what it inflates to as well (a deflate bomb stops at MAX_POSTED_DECODED).
MAX_POSTED_CODE = 2 * 1024 * 1024
MAX_POSTED_DECODED = 4 * 1024 * 1024


def _pages() -> Any:
    from dinamis_portal.entrypoints import pages

    return pages


def km2(value: float, lang: Lang) -> str:
    shown = f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return shown.replace(",", "\u202f").replace(".", ",") if lang == "fr" else shown


# ---------------------------------------------------------------------------- the search page


async def search_page(request: Request, container: PortalContainer) -> Response:
    pages = _pages()
    form = search_form.parse(request.query_params)
    limit = container.settings.search_limit
    aoi = form.aoi
    if form.zone_geometry is not None or form.whole:
        assert container.aoi_catalogue is not None
        body = form.catalogue_body(WHOLE_SCAN if form.whole else limit)
        if form.whole:
            body.pop("token", None)
        result = await container.aoi_catalogue.search_body(body)
    else:
        result = await container.catalogue.search(form.catalogue_params(limit))
    features = result.get("features") or []
    rows = search_form.result_rows(features, aoi)
    matched = result.get("numberMatched")
    if matched is None:
        matched = (result.get("context") or {}).get("matched")
    token = search_form.next_token(result)
    context = await pages.page_context(request, container, "search")
    lang: Lang = context["lang"]
    values = form.values()
    next_url = None
    if form.whole:
        touching = len(rows)
        rows = [r for r in rows if r.covered is not None and r.covered >= search_form.WHOLE_SHARE]
        count = text("aoi.count.whole", lang, n=len(rows), touching=touching)
        if token is not None or (matched is not None and matched > touching):
            count += " " + text(
                "aoi.count.whole.partial",
                lang,
                touching=touching,
                matched=matched if matched is not None else f"{touching}+",
            )
    else:
        count = pages.count_text(lang, matched, len(rows), token is not None)
        if token:
            next_url = "/rechercher?" + urlencode({**{k: v for k, v in values.items() if v}, "page": token})
    context.update(
        form=values,
        rows=rows,
        matched=matched,
        shown=len(rows),
        count_text=count,
        footprints=search_form.footprints_json(rows),
        next_url=next_url,
        when=lambda iso: pages.format_datetime(iso, lang),
        percent=lambda share: search_form.percent(share, lang),
        has_aoi=aoi is not None,
    )
    if request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "resultats":
        return pages.render(request, "_results.html.j2", context)
    collections = await container.catalogue.collections()
    context["collections"] = await pages.collection_choices(container, lang)
    context["platforms"] = platforms_of(collections)
    context["levels"] = [(level, text(f"aoi.level.{level}", lang)) for level in search_form.LEVELS]
    context["whole_scan"] = WHOLE_SCAN
    zone = form.zone_geometry
    context["zone_summary"] = (
        text(
            "aoi.zone.active",
            lang,
            area=km2(parse_aoi(as_geojson(zone), max_km2=SEARCH_MAX_KM2).area_km2, lang),
            n=len(codec.polygons(zone)),
        )
        if zone is not None
        else ""
    )
    context["zone_json"] = search_form.json_for_script(as_geojson(zone)) if zone is not None else "null"
    context["remove_zone_url"] = "/rechercher?" + urlencode(
        {k: v for k, v in values.items() if v and k not in ("zone", "entiere")}
    )
    # The AOI forms post with a CSRF token: anonymous visitors get a session for it.
    session = await container.sessions.ensure(request)
    context["csrf_aoi"] = session.csrf
    context["saved"] = await saved_aois(container, session)
    context["source_names"] = {}
    response = pages.render(request, "search.html.j2", context)
    if session.new:
        await container.sessions.save(session)
        container.sessions.set_cookie(response, session)
    return response


def platforms_of(collections: list[dict[str, Any]]) -> list[str]:
    found: set[str] = set()
    for c in collections:
        for platform in ((c.get("summaries") or {}).get("platform") or []) if isinstance(c, dict) else []:
            if isinstance(platform, str) and search_form.PLATFORM.match(platform):
                found.add(platform)
    return sorted(found)


def owner_of(session: Session | None) -> str | None:
    user = session.user if session else None
    return str(user["sub"]) if user and user.get("sub") else None


async def saved_aois(container: PortalContainer, session: Session | None) -> list[dict[str, Any]] | None:
    owner = owner_of(session)
    if owner is None or container.aoi_store is None:
        return None
    return await container.aoi_store.list(owner)


# ---------------------------------------------------------------------------- the review step


def _carried(form: Any) -> dict[str, str]:
    values = {}
    for key in CARRIED:
        value = form.get(key)
        if isinstance(value, str) and value.strip():
            values[key] = value.strip()[:100]
    return values


async def _render_review(
    request: Request,
    container: PortalContainer,
    session: Session,
    result: Review | None,
    problem: AoiProblem | None,
    carried: dict[str, str],
) -> Response:
    pages = _pages()
    lang = language_of(request)
    if problem is not None and request.headers.get("hx-request") != "true":
        raise bad_input(problem.code, problem.message_fr, problem.message)

    def t(key: str, **values: object) -> str:
        return text(key, lang, **values)

    use_url = None
    if result is not None and result.code:
        use_url = "/rechercher?" + urlencode({**carried, "zone": result.code})
    context = {
        "t": t,
        "lang": lang,
        "review": result,
        "problem": problem,
        "problem_text": (problem.message_fr if lang == "fr" else problem.message) if problem else "",
        "use_url": use_url,
        "carried": carried,
        "csrf_aoi": session.csrf,
        "logged_in": owner_of(session) is not None,
        "km2": lambda v: km2(v, lang),
        "finding_text": lambda f: f.message_fr if lang == "fr" else f.message,
        "source_name": t(f"aoi.source.{result.source}") if result is not None else "",
        "review_json": search_form.json_for_script(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "geometry": result.geojson(), "properties": {}}]
                if result is not None and result.geometry is not None
                else [],
            }
        ),
    }
    if request.headers.get("hx-request") == "true":
        return pages.render(request, "_aoi_review.html.j2", context)
    full = await pages.page_context(request, container, "search")
    full.update(context)
    return pages.render(request, "aoi_review.html.j2", full)


@router.post("/zone/analyser")
async def analyse(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    """A pasted text (`texte`) or an uploaded file (`fichier`), read and reviewed."""
    form = await request.form()
    carried = _carried(form)
    upload = form.get("fichier")
    pasted = form.get("texte")
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
            result = await off_loop(lambda: review(parse_upload(upload.filename or "", data)))
        elif isinstance(pasted, str) and pasted.strip():
            result = await off_loop(lambda: review(parse_text(pasted)))
        else:
            raise AoiProblem(
                "aoi-empty",
                "rien à vérifier : collez une zone ou choisissez un fichier",
                "nothing to check: paste an area or choose a file",
            )
    except AoiProblem as problem:
        return await _render_review(request, container, session, None, problem, carried)
    return await _render_review(request, container, session, result, None, carried)


T = TypeVar("T")

# Reading files and geometry work are CPU-bound (pure-Python parsers, GEOS): in worker
# threads, two at a time, never on the event loop that serves every other request.
GEOMETRY_WORKERS = anyio.CapacityLimiter(2)


async def off_loop(work: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(work, limiter=GEOMETRY_WORKERS)


@router.post("/zone/simplifier")
async def simplify_zone(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    form = await request.form()
    carried = _carried(form)
    code = form.get("code")
    try:
        if not isinstance(code, str) or not code:
            raise AoiProblem("aoi-url-code", "zone à simplifier absente", "no area to simplify")
        geometry = codec.decode(code, max_len=MAX_POSTED_CODE, max_decoded=MAX_POSTED_DECODED)

        def simplified() -> Review:
            polygons, note = simplify(geometry)
            return review(Parsed(polygons, "simplified", [note]))

        result = await off_loop(simplified)
    except AoiProblem as problem:
        return await _render_review(request, container, session, None, problem, carried)
    return await _render_review(request, container, session, result, None, carried)


# ---------------------------------------------------------------------------- saved AOIs


def _need_login(request: Request) -> Response:
    return RedirectResponse("/connexion?" + urlencode({"retour": request.url.path}), status_code=303)


@router.get("/zones")
async def saved_page(request: Request, container: PortalDep) -> Response:
    pages = _pages()
    session = await container.sessions.load(request)
    context = await pages.page_context(request, container, "search")
    owner = owner_of(session) if context["me"] else None
    if owner is None:
        return _need_login(request)
    lang: Lang = context["lang"]
    assert container.aoi_store is not None
    records = await container.aoi_store.list(owner)
    context.update(
        saved=[
            {"id": r["_id"], "name": r["name"], "code": r["code"], "area": km2(float(r["area_km2"]), lang)}
            for r in records
        ],
        csrf_aoi=session.csrf if session else "",
    )
    return pages.render(request, "aoi_saved.html.j2", context)


@router.post("/zones")
async def save_zone(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    owner = owner_of(session)
    if owner is None:
        raise PortalError(
            "log in to save an area",
            code="login-required",
            message_fr="connectez-vous pour enregistrer une zone",
            status=401,
        )
    form = await request.form()
    name = str(form.get("nom") or "").strip()
    code = str(form.get("code") or "")
    if not name or len(name) > MAX_NAME:
        raise bad_input(
            "invalid-aoi-name",
            f"nom de zone : de 1 à {MAX_NAME} caractères",
            f"area name: 1 to {MAX_NAME} characters",
        )
    try:
        aoi = parse_aoi(as_geojson(codec.decode(code)), max_km2=SEARCH_MAX_KM2)
    except AoiProblem as problem:
        raise bad_input(problem.code, problem.message_fr, problem.message) from None
    except InvalidAoi as exc:
        raise bad_input(exc.code, exc.message_fr or exc.message, exc.message) from None
    assert container.aoi_store is not None
    await container.aoi_store.add(owner, name, codec.encode(aoi.geometry), aoi.area_km2)
    return RedirectResponse("/zones", status_code=303)


@router.get("/zones/{aoi_id}")
async def open_zone(aoi_id: str, request: Request, container: PortalDep) -> Response:
    session = await container.sessions.load(request)
    owner = owner_of(session)
    assert container.aoi_store is not None
    record = await container.aoi_store.get(owner, aoi_id[:64]) if owner else None
    if record is None:
        raise not_found("zone", "area")
    return RedirectResponse("/rechercher?" + urlencode({"zone": record["code"]}), status_code=303)


@router.post("/zones/{aoi_id}/supprimer")
async def delete_zone(aoi_id: str, container: PortalDep, session: CsrfSession) -> Response:
    owner = owner_of(session)
    assert container.aoi_store is not None
    if owner is None or not await container.aoi_store.delete(owner, aoi_id[:64]):
        raise not_found("zone", "area")
    return RedirectResponse("/zones", status_code=303)
