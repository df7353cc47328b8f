"""HTTP routes of the delivery service: product listing and downloads.

Every route needs an authenticated caller (bearer JWT or API key). Members of the
organisation that ordered, and DINAMIS staff (operator, admin), may list and
download; anyone else gets 403 (also once their `access_until` has passed:
`access-ended`). Unknown → 404; expired → 410 Gone.

Each signed URL the download route issues is counted: one `product-downloaded` event,
written to the outbox before the answer (service/downloads.py); the Metalink counts
nothing (see there).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from dinamis_delivery.bootstrap import container
from dinamis_delivery.domain.products import ProductStatus, may_access
from dinamis_delivery.service.downloads import download_event
from dinamis_shared.auth import CurrentPrincipal, Forbidden, Principal
from dinamis_shared.errors import DinamisError

router = APIRouter(tags=["downloads"])

IdentifierPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", max_length=200)]


class ProductNotFound(DinamisError):
    code = "product-not-found"
    http_status = 404
    message_fr = "Produit inconnu."


class OrderNotFound(DinamisError):
    code = "order-not-found"
    http_status = 404
    message_fr = "Commande inconnue (ou aucun produit encore traité)."


class ProductGone(DinamisError):
    code = "product-expired"
    http_status = 410
    message_fr = "Ce produit a expiré et a été supprimé ; commandez-le à nouveau."


class AccessEnded(DinamisError):
    """The caller's membership or contract (`access_until`) has ended: no new URL."""

    code = "access-ended"
    http_status = 403
    message_fr = "Votre accès (adhésion ou contrat) a pris fin : aucun lien de téléchargement."


class ProductNotDownloadable(DinamisError):
    code = "product-failed"
    http_status = 409
    message_fr = "Ce produit n'a pas pu être fabriqué."


def _check_access(principal: Principal, record: dict) -> None:
    if not may_access(principal, record["organisation_id"]):
        raise Forbidden(
            "this product belongs to another organisation",
            message_fr="Ce produit appartient à une autre organisation.",
        )


def _is_expired(record: dict, now: datetime) -> bool:
    if record["status"] == ProductStatus.EXPIRED.value:
        return True
    expires = record.get("expires_at")
    return expires is not None and expires.replace(tzinfo=expires.tzinfo or UTC) <= now


def _summary(record: dict, product_id: str, now: datetime) -> dict:
    status = ProductStatus.EXPIRED.value if _is_expired(record, now) else record["status"]
    out: dict[str, Any] = {
        "product_id": product_id,
        "item_id": record["item_id"],
        "collection": record["collection"],
        "status": status,
        "options": json.loads(record.get("options_json") or "{}"),
    }
    if record["status"] == ProductStatus.FAILED.value:
        out.update({"reason_code": record["reason_code"], "reason": record["reason"]})
    else:
        out.update(
            {
                "size_bytes": record.get("size_bytes"),
                "sha256": record.get("sha256"),
                "crs": record.get("crs"),
                "footprint": json.loads(record["footprint_json"]) if record.get("footprint_json") else None,
                "expires_at": record.get("expires_at"),
            }
        )
        if status == ProductStatus.READY.value:
            out["download"] = f"/downloads/{product_id}"
    return out


async def _presign(request: Request, record: dict, principal: Principal) -> str:
    """A presigned GET URL living `download_url_ttl_s`, and never past the end of the
    caller's membership or contract (`access_until`, from the orders service's records).
    An access that has ended (or ends within the second) gets no URL: 403 `access-ended`."""
    delivery = container(request)
    ttl = timedelta(seconds=delivery.settings.download_url_ttl_s)
    if principal.access_until is not None:
        remaining = principal.access_until - datetime.now(UTC)
        if remaining < timedelta(seconds=1):
            raise AccessEnded(f"access ended on {principal.access_until:%Y-%m-%d %H:%M:%S} UTC")
        ttl = min(ttl, remaining)
    return await asyncio.to_thread(
        delivery.presigner.presigned_get_object, record["bucket"], record["object_key"], expires=ttl
    )


@router.get("/downloads/{product_id}", status_code=307, response_class=RedirectResponse)
async def download(
    product_id: IdentifierPath, request: Request, principal: CurrentPrincipal
) -> RedirectResponse:
    """Redirect to a fresh presigned URL of the product (expiry: `download_url_ttl_s`).

    Who may call: members of the ordering organisation, operators and admins. Each URL
    issued is recorded (`product-downloaded`, for the reporting) before the answer."""
    delivery = container(request)
    record = await delivery.records.by_product_id(product_id)
    if record is None:
        raise ProductNotFound(f"no product {product_id}")
    _check_access(principal, record)
    if record["status"] == ProductStatus.FAILED.value:
        raise ProductNotDownloadable(f"product {product_id} could not be built: {record['reason']}")
    if _is_expired(record, datetime.now(UTC)):
        raise ProductGone(f"product {product_id} expired on {record['expires_at']:%Y-%m-%d %H:%M} UTC")
    url = await _presign(request, record, principal)
    event = download_event(record, product_id, principal, datetime.now(UTC))
    if event is not None:
        await delivery.downloads.record(event)  # durable before the answer; relayed to the bus
        delivery.download_relay.wakeup.set()
    return RedirectResponse(url, status_code=307)


async def _order_records(request: Request, order_id: str, principal: Principal) -> list[dict]:
    records = await container(request).records.of_order(order_id)
    if not records:
        raise OrderNotFound(f"no product of order {order_id}")
    _check_access(principal, records[0])
    return records


@router.get("/orders/{order_id}/products")
async def order_products(order_id: IdentifierPath, request: Request, principal: CurrentPrincipal) -> dict:
    """The order's products handled so far (ready, failed, expired), one entry per
    product line. Who may call: members of the ordering organisation, operators, admins."""
    now = datetime.now(UTC)
    records = await _order_records(request, order_id, principal)
    products = [_summary(r, pid, now) for r in records for pid in r.get("product_ids", [])]
    return {"order_id": order_id, "products": sorted(products, key=lambda p: p["product_id"])}


METALINK = "application/metalink4+xml"


@router.get(
    "/orders/{order_id}/products.meta4",
    response_class=Response,
    responses={
        200: {"description": "Metalink 4 (RFC 5854)", "content": {METALINK: {"schema": {"type": "string"}}}}
    },
)
async def order_metalink(order_id: IdentifierPath, request: Request, principal: CurrentPrincipal) -> Response:
    """A Metalink 4 (RFC 5854) file listing the order's downloadable products with
    their size, SHA-256 and a fresh presigned URL each: `aria2c order.meta4` fetches
    and verifies them all. Who may call: as for the product list."""
    now = datetime.now(UTC)
    records = await _order_records(request, order_id, principal)
    files = []
    for r in records:
        if r["status"] != ProductStatus.READY.value or _is_expired(r, now):
            continue
        url = await _presign(request, r, principal)
        name = r["object_key"].rsplit("/", 1)[-1]
        files.append(
            f'  <file name="{escape(name)}">\n    <size>{r["size_bytes"]}</size>\n'
            f'    <hash type="sha-256">{r["sha256"]}</hash>\n'
            f"    <url>{escape(url)}</url>\n  </file>\n"
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<metalink xmlns="urn:ietf:params:xml:ns:metalink">\n'
        f"  <published>{now:%Y-%m-%dT%H:%M:%SZ}</published>\n{''.join(files)}</metalink>\n"
    )
    return Response(
        body,
        media_type=METALINK,
        headers={"Content-Disposition": f'attachment; filename="{order_id}.meta4"'},
    )
