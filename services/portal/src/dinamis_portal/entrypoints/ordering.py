"""Ordering products and following them: *Commander un produit* (one scene or a basket:
clip AOI, output CRS, format, bands, pansharpening; the orders service's estimate, then
one confirmation), *Mes commandes* (list, detail with the history, downloads, metalink,
bulk-download scripts, clone), the live stream relayed from notify (`/evenements`) and the
notification bell.

The portal decides nothing: the estimate and every refusal come from the orders service,
downloads from the delivery service (asked with the user's token at each click), events
from notify. An order id of another organisation is "introuvable", like a missing one."""

from __future__ import annotations

import json
import re
import secrets
import shlex
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from dinamis_portal import ordering_texts  # noqa: F401  (registers the texts)
from dinamis_portal.aoi import AoiProblem, parse_aoi_field
from dinamis_portal.bootstrap import PortalContainer, PortalDep
from dinamis_portal.entrypoints.auth import CsrfSession
from dinamis_portal.entrypoints.pages import access_token, format_datetime, page_context, render
from dinamis_portal.errors import PortalError, bad_input, wants_html
from dinamis_portal.i18n import Lang, text
from dinamis_portal.ordering_api import OrderingPorts, OrderingSettings, Refused, refusal_error
from dinamis_portal.ordering_relay import relay
from dinamis_portal.sessions import Session, hash_id
from dinamis_portal.streams import StreamSlot, take_slot
from dinamis_portal.upstream import SAFE_SEGMENT, not_found

router = APIRouter(include_in_schema=False)

CRS_CHOICES = ("EPSG:2154", "EPSG:32630", "EPSG:32631", "EPSG:32632", "EPSG:4326", "native")
FORMATS = ("COG", "JP2")
AOI_MAX_CHARS = 200_000
BBOX = re.compile(
    r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$"
)
PENDING_TTL_S = 1800
NOTIFICATIONS_SHOWN = 50
# Live streams open per session, in this process.
OPEN_STREAMS: dict[str, int] = {}


def ports(container: PortalContainer) -> OrderingPorts:
    if container.ordering is None:
        raise RuntimeError("ordering is not wired (bootstrap)")
    return container.ordering


def ordering_settings(container: PortalContainer) -> OrderingSettings:
    return ports(container).settings


def unauthenticated() -> PortalError:
    return PortalError(
        "log in to order and follow products",
        code="login-required",
        message_fr="connectez-vous pour commander et suivre des produits",
        status=401,
    )


async def logged_in(request: Request, container: PortalContainer) -> tuple[Session, str]:
    """The session and a valid access token, or 401."""
    session = await container.sessions.load(request)
    if session is None or not session.user:
        raise unauthenticated()
    token = await access_token(container, session)
    if token is None:
        raise unauthenticated()
    return session, token


def login_redirect(request: Request) -> RedirectResponse:
    from urllib.parse import urlencode

    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/connexion?" + urlencode({"retour": back}), status_code=303)


# --- the order form --------------------------------------------------------------------


def parse_item(raw: str) -> tuple[str, str]:
    collection, _, item_id = raw.partition("/")
    if not (SAFE_SEGMENT.match(collection) and SAFE_SEGMENT.match(item_id)):
        raise bad_input(
            "bad-item", f"scène mal désignée : {raw[:80]!r}", f"bad scene reference: {raw[:80]!r}"
        )
    return collection, item_id


def parse_aoi(raw: str) -> dict[str, Any] | None:
    """The clip AOI as typed, pasted or drawn: empty (whole scenes), or anything the AOI
    tools read (bbox, GeoJSON, WKT, KML, GPX: `parse_aoi_field`) as one geometry. Its
    validity for ordering (size, France...) is the orders service's to judge."""
    raw = raw.strip()
    if not raw:
        return None
    if len(raw) > AOI_MAX_CHARS:
        raise bad_input(
            "aoi-too-long",
            f"zone trop longue ({len(raw)} caractères, {AOI_MAX_CHARS} au plus) : simplifiez-la",
            f"area too long ({len(raw)} characters, at most {AOI_MAX_CHARS}): simplify it",
        )
    found = parse_aoi_field(raw)
    if isinstance(found, AoiProblem):
        raise bad_input(found.code, found.message_fr, found.message)
    return found


def draft_from_form(form: FormData, basket_max: int) -> tuple[list[tuple[str, str]], dict[str, Any], str]:
    """(items, options, the AOI as typed) from the order form; bad input is a 400."""
    raw_items = [str(v) for v in form.getlist("item")]
    if not raw_items:
        raise bad_input("no-item", "aucune scène à commander", "no scene to order")
    if len(raw_items) > basket_max:
        raise bad_input(
            "too-many-items",
            f"{len(raw_items)} scènes : {basket_max} au plus par commande groupée",
            f"{len(raw_items)} scenes: at most {basket_max} at once",
        )
    items = list(dict.fromkeys(parse_item(r) for r in raw_items))
    aoi_text = str(form.get("aoi") or "")
    crs = str(form.get("crs") or "EPSG:2154")
    if crs not in CRS_CHOICES:
        raise bad_input(
            "bad-crs", f"système de coordonnées non proposé : {crs[:40]!r}", f"CRS not offered: {crs[:40]!r}"
        )
    fmt = str(form.get("format") or "COG")
    if fmt not in FORMATS:
        raise bad_input(
            "bad-format", f"format non proposé : {fmt[:20]!r}", f"format not offered: {fmt[:20]!r}"
        )
    bands = [str(b).strip() for b in form.getlist("band") if str(b).strip()]
    if len(bands) > 8 or any(len(b) > 32 for b in bands):
        raise bad_input(
            "bad-bands", "au plus 8 bandes, de 32 caractères au plus", "at most 8 bands of 32 characters"
        )
    options: dict[str, Any] = {
        "aoi": parse_aoi(aoi_text),
        "crs": crs,
        "format": fmt,
        "bands": bands or None,
        "pansharpen": form.get("pansharpen") in ("on", "true", "1"),
    }
    return items, options, aoi_text


def bands_of(item: dict[str, Any]) -> list[dict[str, str]]:
    """The bands an item offers (its data images' band lists), for check boxes."""
    found: list[dict[str, str]] = []
    for key in ("ms", "pan"):
        asset = (item.get("assets") or {}).get(key) or {}
        if "data" not in (asset.get("roles") or []):
            continue
        bands = asset.get("bands") or asset.get("eo:bands") or [{"name": "P"}]
        for b in bands:
            if not isinstance(b, dict) or not b.get("name"):
                continue
            common = b.get("common_name") or b.get("eo:common_name") or ""
            found.append({"name": str(b["name"]), "common": str(common), "image": key.upper()})
    return found


async def form_page(
    request: Request,
    container: PortalContainer,
    items: list[tuple[str, str]],
    *,
    options: dict[str, Any] | None = None,
    aoi_text: str = "",
    error: PortalError | None = None,
    basket: bool = False,
    cloned_from: str = "",
) -> HTMLResponse:
    context = await page_context(request, container, "orders")
    lang: Lang = context["lang"]
    scenes: list[dict[str, Any]] = []
    for collection, item_id in items:
        try:
            item = await container.catalogue.item(collection, item_id)
        except PortalError:
            item = {}
        scenes.append(
            {
                "collection": collection,
                "item_id": item_id,
                "ref": f"{collection}/{item_id}",
                "bands": bands_of(item),
                "when": format_datetime(str((item.get("properties") or {}).get("datetime") or ""), lang),
            }
        )
    # Bands offered: those every scene has (a basket orders the same bands of each).
    names = [[b["name"] for b in s["bands"]] for s in scenes]
    common = set(names[0]).intersection(*names[1:]) if names else set()
    bands = [b for b in (scenes[0]["bands"] if scenes else []) if b["name"] in common]
    options = options or {}
    context.update(
        scenes=scenes,
        bands=bands,
        crs_choices=CRS_CHOICES,
        formats=FORMATS,
        chosen=options,
        chosen_bands=set(options.get("bands") or []),
        aoi_text=aoi_text,
        error=error,
        error_message=_message(error, lang) if error else "",
        basket=basket,
        basket_max=ordering_settings(container).basket_max,
        cloned_from=cloned_from,
    )
    return render(request, "order_form.html.j2", context, status=error.http_status if error else 200)


def _message(error: PortalError, lang: Lang) -> str:
    return (error.message_fr or error.message) if lang == "fr" else error.message


@router.get("/commander")
async def order_form(request: Request, container: PortalDep) -> Response:
    """The order form for one scene (`collection`, `item`), or a clone of an order (`clone`);
    `aoi` or `bbox` prefill the clip area (a search's area)."""
    session = await container.sessions.load(request)
    if session is None or not session.user:
        return login_redirect(request)
    query = request.query_params
    aoi_text = str(query.get("aoi") or query.get("bbox") or "")[:AOI_MAX_CHARS]
    if query.get("clone"):
        token = await access_token(container, session)
        if token is None:
            return login_redirect(request)
        order = await ports(container).orders.get(token, str(query["clone"]))
        items = list(dict.fromkeys((p["collection"], p["item_id"]) for p in order.get("products") or []))
        options = dict(order.get("options") or {})
        if options.get("aoi"):
            aoi_text = json.dumps(options["aoi"])
        return await form_page(
            request, container, items, options=options, aoi_text=aoi_text, cloned_from=str(order["order_id"])
        )
    items = [parse_item(f"{query.get('collection', '')}/{query.get('item', '')}")]
    await container.catalogue.item(*items[0])  # an unknown scene is a 404 here
    return await form_page(request, container, items, aoi_text=aoi_text)


def _human_size(n: int | None, lang: Lang) -> str:
    if n is None:
        return "—"
    units = ("octets", "Ko", "Mo", "Go", "To") if lang == "fr" else ("bytes", "kB", "MB", "GB", "TB")
    value = float(n)
    for unit in units:
        if value < 1000 or unit == units[-1]:
            number = f"{value:.0f}" if unit == units[0] else f"{value:.1f}"
            return (number.replace(".", ",") if lang == "fr" else number) + f" {unit}"
        value /= 1000
    return str(n)


def _km2(value: float | None, lang: Lang) -> str:
    if value is None:
        return "—"
    shown = f"{value:.2f}" if value >= 0.01 else f"{value:.4f}"
    return (shown.replace(".", ",") if lang == "fr" else shown) + " km²"


@router.post("/commander/estimation")
async def order_estimate(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    """The estimate of each scene's product, from the orders service (nothing reserved),
    and the recap to confirm; the drafts wait in the session for the confirmation."""
    if not session.user:
        raise unauthenticated()
    form = await request.form()
    settings = ordering_settings(container)
    basket = form.get("panier") == "1"
    raw_items = [str(v) for v in form.getlist("item")][: settings.basket_max + 1]
    try:
        items, options, aoi_text = draft_from_form(form, settings.basket_max)
    except PortalError as exc:
        safe = [i for i in (_maybe_item(r) for r in raw_items) if i][: settings.basket_max]
        if not safe or not wants_html(request):
            raise
        return await form_page(
            request,
            container,
            safe,
            aoi_text=str(form.get("aoi") or "")[:AOI_MAX_CHARS],
            error=exc,
            basket=basket,
        )
    _, token = await logged_in(request, container)
    context = await page_context(request, container, "orders")
    lang: Lang = context["lang"]
    lines: list[dict[str, Any]] = []
    accepted: list[dict[str, Any]] = []
    for collection, item_id in items:
        draft = {"items": [{"collection": collection, "item_id": item_id}], **options}
        answer = await ports(container).orders.quote(token, draft)
        if isinstance(answer, Refused):
            lines.append({"ref": f"{collection}/{item_id}", "item_id": item_id, "refused": answer})
            continue
        line = (answer.get("items") or [{}])[0]
        accepted.append(draft)
        lines.append(
            {
                "ref": f"{collection}/{item_id}",
                "item_id": item_id,
                "refused": None,
                "area": _km2(line.get("area_km2"), lang),
                "size": _human_size(line.get("estimated_bytes"), lang),
                "pixel": line.get("pixel_m"),
                "band_count": line.get("band_count"),
                "warnings": answer.get("warnings") or [],
                "bytes": line.get("estimated_bytes") or 0,
                "km2": line.get("area_km2") or 0.0,
                "size_note": answer.get("size_note_fr") if lang == "fr" else answer.get("size_note"),
            }
        )
    pending_key = secrets.token_urlsafe(16)
    # As JSON text: the session store (FerretDB) takes no nested arrays (GeoJSON coordinates).
    session.data["ordering_pending"] = {
        "key": pending_key,
        "drafts": json.dumps(accepted),
        "at": time.time(),
        "basket": basket,
    }
    await container.sessions.save(session)
    ok = [line for line in lines if not line["refused"]]
    context.update(
        lines=lines,
        accepted=len(ok),
        total_area=_km2(sum(line["km2"] for line in ok), lang) if ok else "—",
        total_size=_human_size(sum(line["bytes"] for line in ok), lang) if ok else "—",
        size_note=next((line["size_note"] for line in ok if line.get("size_note")), ""),
        options=options,
        aoi_given=options["aoi"] is not None,
        pending_key=pending_key,
        items=[f"{c}/{i}" for c, i in items],
        aoi_text=aoi_text,
        basket=basket,
    )
    return render(request, "order_estimate.html.j2", context)


def _maybe_item(raw: str) -> tuple[str, str] | None:
    try:
        return parse_item(raw)
    except PortalError:
        return None


@router.post("/commander/confirmer")
async def order_confirm(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    """Place the estimated orders, one per scene; each scene's outcome shown (a refusal
    with the orders service's reason and code)."""
    if not session.user:
        raise unauthenticated()
    form = await request.form()
    pending = session.data.get("ordering_pending") or {}
    if (
        not pending
        or not secrets.compare_digest(str(pending.get("key", "")), str(form.get("cle") or ""))
        or time.time() - float(pending.get("at", 0)) > PENDING_TTL_S
    ):
        raise PortalError(
            "this estimate is no longer valid: estimate the order again",
            code="estimate-expired",
            message_fr="cette estimation n'est plus valable : refaites l'estimation",
            status=409,
        )
    # Two concurrent confirmations of one estimate both read it before either saved the
    # session: the key is claimed atomically, so only one places the orders.
    claimed = await container.sessions.store.claim(
        hash_id(str(pending["key"])), datetime.now(UTC) + timedelta(seconds=PENDING_TTL_S)
    )
    session.data.pop("ordering_pending", None)
    await container.sessions.save(session)
    if not claimed:
        raise PortalError(
            "this estimate was already confirmed",
            code="estimate-already-confirmed",
            message_fr="cette estimation a déjà été confirmée : voyez Mes commandes",
            status=409,
        )
    _, token = await logged_in(request, container)
    placed, refused = [], []
    for draft in json.loads(pending.get("drafts") or "[]"):
        ref = draft["items"][0]
        answer = await ports(container).orders.place(token, draft)
        if isinstance(answer, Refused):
            refused.append({"ref": f"{ref['collection']}/{ref['item_id']}", "refused": answer})
        else:
            placed.append({"ref": f"{ref['collection']}/{ref['item_id']}", "order_id": answer["order_id"]})
    if pending.get("basket") and placed:
        done = {p["ref"] for p in placed}
        session.data["basket"] = [r for r in session.data.get("basket") or [] if r not in done]
        await container.sessions.save(session)
    if len(placed) == 1 and not refused:
        return RedirectResponse(f"/commandes/{placed[0]['order_id']}", status_code=303)
    context = await page_context(request, container, "orders")
    context.update(placed=placed, refused=refused)
    return render(request, "order_placed.html.j2", context, status=200 if placed else 422)


# --- the basket --------------------------------------------------------------------------


@router.get("/panier")
async def basket_page(request: Request, container: PortalDep) -> Response:
    session = await container.sessions.load(request)
    if session is None or not session.user:
        return login_redirect(request)
    items = [i for i in (_maybe_item(r) for r in session.data.get("basket") or []) if i]
    if not items:
        context = await page_context(request, container, "orders")
        context.update(basket_max=ordering_settings(container).basket_max)
        return render(request, "basket_empty.html.j2", context)
    return await form_page(
        request, container, items, aoi_text=str(request.query_params.get("bbox") or "")[:200], basket=True
    )


@router.post("/panier/ajouter")
async def basket_add(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    if not session.user:
        raise unauthenticated()
    form = await request.form()
    collection, item_id = parse_item(str(form.get("item") or ""))
    await container.catalogue.item(collection, item_id)
    basket = list(session.data.get("basket") or [])
    ref = f"{collection}/{item_id}"
    limit = ordering_settings(container).basket_max
    if ref not in basket:
        if len(basket) >= limit:
            raise bad_input(
                "basket-full",
                f"le panier est plein ({limit} scènes au plus) : commandez ou retirez des scènes",
                f"the basket is full (at most {limit} scenes): order or remove some",
            )
        basket.append(ref)
    session.data["basket"] = basket
    await container.sessions.save(session)
    return RedirectResponse("/panier", status_code=303)


@router.post("/panier/retirer")
async def basket_remove(request: Request, container: PortalDep, session: CsrfSession) -> Response:
    form = await request.form()
    ref = str(form.get("item") or "")
    session.data["basket"] = [r for r in session.data.get("basket") or [] if r != ref]
    await container.sessions.save(session)
    return RedirectResponse("/panier", status_code=303)


# --- Mes commandes ---------------------------------------------------------------------

ORDER_STATES = ("processing", "ready", "partially_ready", "failed")
PRODUCT_STATES = ("pending", "ready", "failed", "expired")
BADGE = {
    "processing": "fr-badge--info",
    "pending": "fr-badge--info",
    "ready": "fr-badge--success",
    "partially_ready": "fr-badge--warning",
    "failed": "fr-badge--error",
    "expired": "fr-badge--new",
}


def _expired(product: dict[str, Any]) -> bool:
    raw = product.get("expires_at")
    if not raw:
        return False
    try:
        when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return False
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) <= datetime.now(UTC)


def state_text(kind: str, state: str, lang: Lang) -> str:
    known = ORDER_STATES if kind == "order" else PRODUCT_STATES
    return text(f"ordering.{kind}.{state}", lang) if state in known else state


def product_rows(order: dict[str, Any], lang: Lang) -> list[dict[str, Any]]:
    rows = []
    for p in order.get("products") or []:
        status = "expired" if p.get("status") == "ready" and _expired(p) else str(p.get("status") or "")
        rows.append(
            {
                "product_id": p.get("product_id"),
                "ref": f"{p.get('collection')}/{p.get('item_id')}",
                "item_id": p.get("item_id"),
                "status": status,
                "status_text": state_text("product", status, lang),
                "badge": BADGE.get(status, ""),
                "size": _human_size(p.get("size_bytes"), lang) if p.get("size_bytes") else "",
                "crs": p.get("crs") or "",
                "expires": format_datetime(str(p.get("expires_at") or ""), lang)
                if p.get("expires_at")
                else "",
                "reason": p.get("reason") or "",
                "reason_code": p.get("reason_code") or "",
                "download": f"/commandes/{order['order_id']}/produits/{p.get('product_id')}"
                if status == "ready"
                else "",
            }
        )
    return rows


@router.get("/commandes")
async def orders_page(request: Request, container: PortalDep) -> Response:
    session = await container.sessions.load(request)
    if session is None or not session.user:
        return login_redirect(request)
    _, token = await logged_in(request, container)
    orders = await ports(container).orders.orders(token)
    context = await page_context(request, container, "orders")
    lang: Lang = context["lang"]
    rows = []
    for o in orders:
        products = product_rows(o, lang)
        rows.append(
            {
                "order_id": o.get("order_id"),
                "created": format_datetime(str(o.get("created_at") or ""), lang),
                "status": o.get("status"),
                "status_text": state_text("order", str(o.get("status")), lang),
                "badge": BADGE.get(str(o.get("status")), ""),
                "scenes": ", ".join(sorted({p["item_id"] for p in products if p["item_id"]})),
                "ready": sum(1 for p in products if p["status"] == "ready"),
                "total": len(products),
            }
        )
    context.update(rows=rows)
    return render(request, "orders.html.j2", context)


async def _order_context(
    request: Request, container: PortalContainer, order_id: str
) -> tuple[dict[str, Any], dict[str, Any], str]:
    _, token = await logged_in(request, container)
    order = await ports(container).orders.get(token, order_id)
    context = await page_context(request, container, "orders")
    lang: Lang = context["lang"]
    products = product_rows(order, lang)
    context.update(
        order=order,
        order_id=order["order_id"],
        status_text=state_text("order", str(order.get("status")), lang),
        badge=BADGE.get(str(order.get("status")), ""),
        products=products,
        pending=sum(1 for p in products if p["status"] == "pending"),
        ready=sum(1 for p in products if p["status"] == "ready"),
        created=format_datetime(str(order.get("created_at") or ""), lang),
        history=[
            {"when": format_datetime(str(h.get("at") or ""), lang), "what": _history_text(h, lang)}
            for h in await ports(container).orders.history(token, order_id)
        ],
    )
    return context, order, token


@router.get("/commandes/{order_id}")
async def order_page(order_id: str, request: Request, container: PortalDep) -> Response:
    session = await container.sessions.load(request)
    if session is None or not session.user:
        return login_redirect(request)
    context, order, _ = await _order_context(request, container, order_id)
    options = order.get("options") or {}
    context.update(
        options=options,
        aoi_json=json.dumps(options.get("aoi")) if options.get("aoi") else "",
        warnings=order.get("warnings") or [],
    )
    return render(request, "order.html.j2", context)


def _history_text(entry: dict[str, Any], lang: Lang) -> str:
    change = str(entry.get("change") or "")
    if change == "placed":
        return text("ordering.history.placed", lang)
    if change.startswith("product "):
        return text("ordering.history.product", lang, product=change.removeprefix("product "))
    return change


@router.get("/commandes/{order_id}/etat")
async def order_state_fragment(order_id: str, request: Request, container: PortalDep) -> Response:
    """The order's state and products (the part the page replaces when an event arrives)."""
    context, _, _ = await _order_context(request, container, order_id)
    return render(request, "_order_state.html.j2", context)


@router.get("/commandes/{order_id}/produits/{product_id}")
async def download(order_id: str, product_id: str, request: Request, container: PortalDep) -> Response:
    """A product of one of the user's orders: the delivery service, asked with the user's
    token now, answers a fresh signed URL, where the browser is sent."""
    _, token = await logged_in(request, container)
    order = await ports(container).orders.get(token, order_id)
    if product_id not in {p.get("product_id") for p in order.get("products") or []}:
        raise not_found("produit", "product")
    answer = await ports(container).deliveries.download_url(token, product_id)
    if isinstance(answer, Refused):
        raise refusal_error(answer)
    return RedirectResponse(answer, status_code=303, headers={"Cache-Control": "no-store"})


@router.get("/commandes/{order_id}/metalink")
async def metalink(order_id: str, request: Request, container: PortalDep) -> Response:
    _, token = await logged_in(request, container)
    await ports(container).orders.get(token, order_id)
    answer = await ports(container).deliveries.metalink(token, order_id)
    if isinstance(answer, Refused):
        raise refusal_error(answer)
    return Response(
        answer,
        media_type="application/metalink4+xml",
        headers={
            "Content-Disposition": f'attachment; filename="{order_id}.meta4"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/commandes/{order_id}/script")
async def download_script(order_id: str, request: Request, container: PortalDep) -> Response:
    """A shell script downloading every ready product with `curl` (default) or `wget`, from
    fresh signed URLs (valid as long as the delivery service says), each file's SHA-256
    checked."""
    tool = request.query_params.get("outil", "curl")
    if tool not in ("curl", "wget"):
        raise bad_input("bad-tool", "outil inconnu : curl ou wget", "unknown tool: curl or wget")
    _, token = await logged_in(request, container)
    order = await ports(container).orders.get(token, order_id)
    lines = [
        "#!/bin/sh",
        f"# DINAMIS — commande {order['order_id']} : téléchargement des produits prêts.",
        "# Les liens signés expirent : relancez la génération du script depuis le portail.",
        "set -eu",
    ]
    count = 0
    for p in order.get("products") or []:
        if p.get("status") != "ready" or _expired(p):
            continue
        answer = await ports(container).deliveries.download_url(token, str(p.get("product_id")))
        if isinstance(answer, Refused):
            lines.append(f"# {p.get('product_id')} : {answer.detail} ({answer.code})".replace("\n", " "))
            continue
        name = shlex.quote(f"{p.get('product_id')}.tif")
        url = shlex.quote(answer)
        if tool == "curl":
            lines.append(f"curl -fSL --retry 3 -o {name} {url}")
        else:
            lines.append(f"wget --tries=3 -O {name} {url}")
        sha = str(p.get("sha256") or "")
        if re.fullmatch(r"[0-9a-f]{64}", sha):
            check = f"{sha}  {p.get('product_id')}.tif"
            lines.append(f"echo {shlex.quote(check)} | sha256sum -c -")
        count += 1
    if not count:
        lines.append("echo 'Aucun produit prêt à télécharger.'")
    return PlainTextResponse(
        "\n".join(lines) + "\n",
        media_type="text/x-shellscript",
        headers={
            "Content-Disposition": f'attachment; filename="dinamis-{order_id}-{tool}.sh"',
            "Cache-Control": "no-store",
        },
    )


# --- live events and the bell ---------------------------------------------------------


@router.get("/evenements")
async def events(request: Request, container: PortalDep) -> Response:
    """notify's live stream for the logged-in user, relayed (Server-Sent Events)."""
    session, token = await logged_in(request, container)
    settings = ordering_settings(container)
    key = hash_id(session.id)
    user = str((session.user or {}).get("sub") or key)
    # The slot is taken here, before the answer exists (concurrent requests cannot all pass
    # the check), per session, per user (any number of sessions) and for the process.
    slot = take_stream_slot(key, user, settings)
    raw = request.headers.get("last-event-id") or ""
    last = raw.strip() if re.fullmatch(r"\s*[0-9]{1,18}\s*", raw) else None
    expires_at = float((session.data.get("tokens") or {}).get("expires_at", 0))
    store = container.sessions.store

    async def alive() -> str:
        record = await store.get(key)
        if record is None:
            return "ended"
        ends = record["expires_at"]
        ends = ends if ends.tzinfo else ends.replace(tzinfo=UTC)
        if ends <= datetime.now(UTC) or not opened_has_user(session.id, record):
            return "ended"
        if time.time() >= expires_at:
            return "renew"  # the browser reconnects; that request refreshes the token
        return "ok"

    async def body() -> Any:
        try:
            async for part in relay(
                ports(container).notifications.stream(token, last),
                alive,
                check_s=settings.stream_check_s,
                line_max=settings.stream_line_max,
            ):
                yield part
        finally:
            slot.release()

    # An answer never sent (the browser gone first) gives its slot back too.
    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(slot.release),
    )


def take_stream_slot(session_key: str, user: str, settings: OrderingSettings) -> StreamSlot:
    """Per session, per user (any number of sessions) and for the process."""
    return take_slot(
        OPEN_STREAMS,
        (
            (session_key, settings.streams_per_session),
            (f"user:{user}", settings.streams_per_user),
            ("process", settings.streams_max),
        ),
    )


def opened_has_user(session_id: str, record: dict[str, Any]) -> bool:
    from dinamis_portal.sessions import opened

    try:
        return bool(opened(session_id, record.get("data") or {}).get("user"))
    except Exception:
        return False


def _unread(notifications: list[dict[str, Any]], seen: str) -> int:
    return sum(1 for n in notifications if str(n.get("created_at") or "") > seen)


@router.get("/notifications/compte")
async def notifications_count(request: Request, container: PortalDep) -> Response:
    session, token = await logged_in(request, container)
    found = await ports(container).notifications.latest(token, NOTIFICATIONS_SHOWN)
    return JSONResponse(
        {"unread": _unread(found, str(session.data.get("notifications_seen") or ""))},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/notifications")
async def notifications_page(request: Request, container: PortalDep) -> Response:
    session = await container.sessions.load(request)
    if session is None or not session.user:
        return login_redirect(request)
    session, token = await logged_in(request, container)
    found = await ports(container).notifications.latest(token, NOTIFICATIONS_SHOWN)
    seen = str(session.data.get("notifications_seen") or "")
    context = await page_context(request, container, "notifications")
    lang: Lang = context["lang"]
    context.update(
        notifications=[
            {
                "when": format_datetime(str(n.get("created_at") or ""), lang),
                "event": str(n.get("event") or n.get("event_type") or n.get("type") or ""),
                "subject": str(n.get("subject") or ""),
                "unread": str(n.get("created_at") or "") > seen,
            }
            for n in found
        ]
    )
    newest = max((str(n.get("created_at") or "") for n in found), default="")
    if newest and newest > seen:
        session.data["notifications_seen"] = newest
        await container.sessions.save(session)
    return render(request, "notifications.html.j2", context)
