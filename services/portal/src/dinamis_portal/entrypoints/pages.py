"""The pages: Accueil, Rechercher (map and list side by side; htmx swaps the results),
Fiche scène, the accessibility statement and the footer's mandatory pages.

Every page is rendered server-side in the user's language (French first); what it shows
comes from the catalogue and the orders service, called with the user's token."""

from __future__ import annotations

import logging
import shlex
import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from dinamis_portal import search as search_form
from dinamis_portal.bootstrap import PortalContainer, PortalDep, get_container
from dinamis_portal.errors import PortalError
from dinamis_portal.i18n import LANG_COOKIE, Lang, language_of, text
from dinamis_portal.ops.notices import SiteNotices
from dinamis_portal.sessions import Session
from dinamis_portal.upstream import Signed, SigningRefused, not_found

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

ME_TTL_S = 30.0
# Properties shown first, in this order, with a French label (i18n `prop.<name>`).
KNOWN_PROPERTIES = (
    "datetime",
    "platform",
    "constellation",
    "instruments",
    "gsd",
    "eo:cloud_cover",
    "view:incidence_angle",
    "view:off_nadir",
    "view:sun_elevation",
    "view:sun_azimuth",
    "processing:level",
    "proj:epsg",
    "proj:code",
    "created",
    "updated",
)


async def access_token(container: PortalContainer, session: Session) -> str | None:
    """The user's access token, refreshed when it has expired; None (and the login
    dropped) when the identity provider no longer renews it."""
    tokens = session.data.get("tokens")
    if not tokens:
        return None
    if tokens.get("expires_at", 0) > time.time() + 15:
        return tokens["access_token"]
    refresh = tokens.get("refresh_token")
    try:
        if not refresh:
            raise PortalError("no refresh token", code="expired", message_fr="session expirée")
        fresh = await container.identity.refresh(refresh)
    except PortalError:
        session.data.pop("tokens", None)
        session.data.pop("user", None)
        session.data.pop("me", None)
        await container.sessions.save(session)
        return None
    session.data["tokens"] = token_record(fresh, previous=tokens)
    await container.sessions.save(session)
    return fresh["access_token"]


def token_record(answer: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    previous = previous or {}
    return {
        "access_token": answer["access_token"],
        "refresh_token": answer.get("refresh_token") or previous.get("refresh_token"),
        "id_token": answer.get("id_token") or previous.get("id_token"),
        "expires_at": time.time() + float(answer.get("expires_in", 60)),
    }


async def who(container: PortalContainer, session: Session | None) -> dict[str, Any] | None:
    """The logged-in user as the orders service knows them (GET /v1/me), cached briefly in
    the session; None when nobody is logged in."""
    if session is None or not session.user:
        return None
    cached = session.data.get("me")
    if cached and time.time() - cached.get("at", 0) < ME_TTL_S:
        return cached
    token = await access_token(container, session)
    if token is None:
        return None
    me = await container.orders.me(token)
    principal = (me or {}).get("principal") or {}
    user = (me or {}).get("user") or {}
    organisation = (me or {}).get("organisation") or {}
    record = {
        "at": time.time(),
        "known": me is not None,
        "name": user.get("display_name") or principal.get("email") or session.user.get("email") or "",
        "email": principal.get("email") or user.get("email") or session.user.get("email") or "",
        "organisation": organisation.get("name") or principal.get("organisation_id") or "",
        "standing": principal.get("standing") or "unresolved",
        # shown only to pick the menu's entries; every page that needs a role asks orders again
        "roles": sorted(str(r) for r in principal.get("roles") or ()),
    }
    session.data["me"] = record
    await container.sessions.save(session)
    return record


def standing_text(standing: str, lang: Lang) -> str:
    if standing in ("member", "staff"):
        return text(f"standing.{standing}", lang)
    return text("standing.other", lang)


async def page_context(request: Request, container: PortalContainer, active: str) -> dict[str, Any]:
    lang = language_of(request)
    session = await container.sessions.load(request)
    me = await who(container, session)
    other: Lang = "en" if lang == "fr" else "fr"

    def t(key: str, **values: object) -> str:
        return text(key, lang, **values)

    return {
        "lang": lang,
        "t": t,
        "active": active,
        "notices": await site_notices(container),
        "me": me,
        "standing": standing_text(me["standing"], lang) if me else "",
        "csrf": session.csrf if (session and me) else "",
        "switch_url": _relative(request, lang=other),
        "login_url": "/connexion?" + _encode({"retour": _relative(request, drop=("lang",))}),
    }


async def site_notices(container: PortalContainer) -> SiteNotices | None:
    """The operators' announcement and maintenance mode (None when unreadable: the page
    is shown without them)."""
    store = container.notices
    if store is None:
        return None
    try:
        return await store.current()
    except Exception as exc:
        log.warning("site notices unreadable", extra={"error": str(exc)})
        return None


def _encode(values: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(values)


def _relative(request: Request, drop: tuple[str, ...] = (), **replace: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in drop and k not in replace]
    params.extend(replace.items())
    query = _encode(dict(params)) if params else ""
    return request.url.path + (f"?{query}" if query else "")


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    container = get_container(request)
    body = container.pages.get_template(template).render(**context)
    response = HTMLResponse(body, status_code=status, headers=headers)
    asked = request.query_params.get("lang")
    if asked in ("fr", "en"):
        response.set_cookie(
            LANG_COOKIE,
            asked,
            max_age=365 * 86400,
            path="/",
            httponly=True,
            samesite="lax",
            secure=container.settings.secure_cookies,
        )
    return response


def render_error(request: Request, exc: PortalError, fragment: bool = False) -> HTMLResponse:
    """An error page (the problem's French and English texts, its code), for browsers."""
    lang = language_of(request)

    def t(key: str, **values: object) -> str:
        return text(key, lang, **values)

    context = {
        "lang": lang,
        "t": t,
        "active": "",
        "notices": None,
        "me": None,
        "standing": "",
        "csrf": "",
        "switch_url": _relative(request, lang="en" if lang == "fr" else "fr"),
        "login_url": "/connexion",
        "status": exc.http_status,
        "code": exc.code,
        "message": (exc.message_fr or exc.message) if lang == "fr" else exc.message,
    }
    template = "_error.html.j2" if fragment else "error.html.j2"
    return render(request, template, context, status=exc.http_status)


@router.get("/")
async def home(request: Request, container: PortalDep) -> HTMLResponse:
    return render(request, "home.html.j2", await page_context(request, container, "home"))


@router.get("/rechercher")
async def search_page(request: Request, container: PortalDep) -> Response:
    # The page and its AOI tools: entrypoints/aoi.py (docs/portal-aoi.md).
    from dinamis_portal.entrypoints import aoi

    return await aoi.search_page(request, container)


def count_text(lang: Lang, matched: int | None, shown: int, more: bool) -> str:
    """The announced count: the catalogue's `numberMatched` when it gives one; otherwise
    what is shown, and "more than" when the catalogue has a next page."""
    if matched is None and more:
        return text("search.count.more", lang, shown=shown)
    total = matched if matched is not None else shown
    if total == 0:
        return text("search.count.none", lang)
    found = text("search.count.one", lang) if total == 1 else text("search.count.many", lang, n=total)
    if shown < total:
        found += " " + text("search.count.shown", lang, shown=shown)
    return found


async def collection_choices(container: PortalContainer, lang: Lang) -> list[dict[str, str]]:
    choices = []
    for c in await container.catalogue.collections():
        title = str(c.get("title") or c.get("id"))
        if " / " in title and lang == "en":
            title = title.split(" / ", 1)[1]
        elif " / " in title:
            title = title.split(" / ", 1)[0]
        choices.append({"id": str(c.get("id")), "title": title})
    return sorted(choices, key=lambda c: c["title"])


MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def format_datetime(iso: str, lang: Lang) -> str:
    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return iso
    if lang == "fr":
        day = "1er" if when.day == 1 else str(when.day)
        return f"{day} {MONTHS_FR[when.month - 1]} {when.year}, {when:%H:%M} UTC"
    return f"{when:%d %B %Y, %H:%M} UTC"


def property_rows(props: dict[str, Any], lang: Lang) -> list[tuple[str, str]]:
    rows = []
    for name in KNOWN_PROPERTIES:
        if name in props and props[name] is not None:
            value = props[name]
            if name in ("datetime", "created", "updated"):
                shown = format_datetime(str(value), lang)
            elif isinstance(value, list):
                shown = ", ".join(str(v) for v in value)
            elif isinstance(value, float):
                shown = f"{value:.2f}".rstrip("0").rstrip(".")
                shown = shown.replace(".", ",") if lang == "fr" else shown
            else:
                shown = str(value)
            rows.append((text(f"prop.{name}", lang), shown))
    for name in sorted(props):
        if name not in KNOWN_PROPERTIES and not isinstance(props[name], (dict, list)):
            rows.append((name, str(props[name])))
    return rows


@router.get("/scenes/{collection}/{item_id}")
async def scene_page(collection: str, item_id: str, request: Request, container: PortalDep) -> HTMLResponse:
    item = await container.catalogue.item(collection, item_id)
    context = await page_context(request, container, "search")
    lang: Lang = context["lang"]
    coll = await container.catalogue.collection(collection) or {}
    licence_links = [
        link for link in (coll.get("links") or []) + (item.get("links") or []) if link.get("rel") == "license"
    ]
    assets = item.get("assets") or {}
    public = {k for k, a in assets.items() if {"thumbnail", "overview"} & set(a.get("roles") or [])}
    quicklook = next((k for k in public if "overview" in (assets[k].get("roles") or [])), None) or next(
        iter(sorted(public)), None
    )
    session = await container.sessions.load(request)
    signed: Signed | None = None
    refused: SigningRefused | None = None
    private = [a["href"] for k, a in assets.items() if k not in public and a.get("href")]
    if context["me"] and session and private:
        token = await access_token(container, session)
        if token:
            answer = await container.catalogue.sign(private, token, container.settings.signed_link_seconds)
            signed, refused = (answer, None) if isinstance(answer, Signed) else (None, answer)
    item_url = f"{container.settings.catalog_public_url}/collections/{collection}/items/{item_id}"
    # The snippets point at the first image (role `data`), else the first private file.
    first_private = next(
        (k for k in sorted(assets) if k not in public and "data" in (assets[k].get("roles") or [])),
        next((k for k in sorted(assets) if k not in public), None),
    )
    first_href = assets[first_private]["href"] if first_private else ""
    props = item.get("properties") or {}
    licence_code = str(coll.get("license") or props.get("license") or "")
    context.update(
        item=item,
        collection_title=str(coll.get("title") or collection),
        scene_when=format_datetime(str(props.get("datetime") or props.get("start_datetime") or ""), lang),
        collection_id=collection,
        properties=property_rows(item.get("properties") or {}, lang),
        # SPDX identifiers are shown; "other"/"proprietary" only say to read the linked text.
        licence=licence_code if licence_code not in ("other", "proprietary", "various") else "",
        licence_links=[
            {"href": str(link["href"]), "title": str(link.get("title") or link["href"])}
            for link in licence_links
            if link.get("href")
        ],
        assets=[
            {
                "key": k,
                "title": a.get("title") or k,
                "type": a.get("type") or "",
                "roles": ", ".join(a.get("roles") or []),
                "public": k in public,
                "preview": f"/apercus/{collection}/{item_id}/{k}" if k in public else None,
                "signed": signed.hrefs.get(a.get("href", "")) if signed else None,
            }
            for k, a in sorted(assets.items())
        ],
        signed_expiry=format_datetime(signed.expiry, lang) if signed else "",
        refused=refused,
        quicklook=f"/apercus/{collection}/{item_id}/{quicklook}" if quicklook else None,
        footprint=search_form.json_for_script(
            {"type": "Feature", "id": item.get("id"), "geometry": item.get("geometry"), "properties": {}}
        ),
        when=lambda iso: format_datetime(iso, lang),
        snippets=snippets(
            container.settings.catalog_public_url,
            collection,
            item_id,
            item_url,
            first_href,
            signed.hrefs.get(first_href) if signed and first_href else None,
        ),
    )
    return render(request, "scene.html.j2", context)


def snippets(
    catalogue: str, collection: str, item_id: str, item_url: str, href: str, signed_href: str | None
) -> dict[str, str]:
    target = signed_href or href or "<URL signée / signed URL>"
    python = (
        "from pystac_client import Client\n\n"
        f'catalogue = Client.open("{catalogue}")\n'
        f'item = catalogue.get_collection("{collection}").get_item("{item_id}")\n'
        'print(item.datetime, item.properties.get("eo:cloud_cover"))\n'
        "# Téléchargement / download : dinamis_sdk.sign_inplace(item) signe les liens des fichiers.\n"
    )
    # Quoted for the shell: a file name from the catalogue is data, never a command.
    curl = f"curl -sS {shlex.quote(item_url)}\n"
    if href:
        curl += f"curl -fSL -o {shlex.quote(href.rsplit('/', 1)[-1])} {shlex.quote(target)}\n"
    qgis = f"/vsicurl/{target}"
    return {"python": python, "curl": curl, "qgis": qgis}


@router.get("/apercus/{collection}/{item_id}/{asset}")
async def preview(collection: str, item_id: str, asset: str, container: PortalDep) -> Response:
    found = await container.catalogue.preview(collection, item_id, asset)
    if found is None:
        raise not_found("aperçu", "preview")
    return Response(
        found.content, media_type=found.media_type, headers={"Cache-Control": "public, max-age=600"}
    )


STATIC_PAGES = {
    "/accessibilite": ("accessibility", "a11y.title"),
    "/mentions-legales": ("legal", "footer.legal"),
    "/donnees-personnelles": ("privacy", "footer.privacy"),
    "/cookies": ("cookies", "footer.cookies"),
}


async def static_page(request: Request, container: PortalContainer) -> HTMLResponse:
    name, title = STATIC_PAGES[request.url.path]
    context = await page_context(request, container, name)
    context.update(page=name, title=context["t"](title))
    return render(request, "info.html.j2", context)


for _path in STATIC_PAGES:

    @router.get(_path)
    async def _static(request: Request, container: PortalDep) -> HTMLResponse:
        return await static_page(request, container)
