"""Use case: the estimate of a product order before it is placed (`POST /v1/product-orders/
quote`): the same checks as placing one (membership, access to each item, the clip AOI,
every option against its item), nothing reserved — no order written, no daily slot
taken — and, per item, the area the product covers and an estimate of its size.

The size is an estimate of the uncompressed raster: covered area / pixel area × bands ×
bytes per sample, with the pixel of the image the delivery service would read
(`dinamis_delivery.domain.products.plan_product`: a pansharpened product has the MS
bands at the PAN pixel; no band list means the MS image, else the PAN one). The built
Cloud-Optimised GeoTIFF is usually smaller (deflate)."""

from __future__ import annotations

from typing import Any

from shapely.geometry import shape

from dinamis_orders.domain.aoi import geodesic_km2
from dinamis_orders.domain.product_options import images_of
from dinamis_orders.service import product_orders
from dinamis_orders.service.context import Orders
from dinamis_orders.service.product_orders import ProductOrderDraft
from dinamis_shared.auth import Principal

BYTES_PER_SAMPLE = {"uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "uint32": 4, "int32": 4, "float32": 4}
DEFAULT_BYTES_PER_SAMPLE = 2  # Pléiades, Pléiades Neo and SPOT images are 12 bits stored on 16


def _gsd(item: dict[str, Any], key: str) -> float | None:
    asset = (item.get("assets") or {}).get(key) or {}
    value = asset.get("gsd") or (item.get("properties") or {}).get("gsd")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _bytes_per_sample(item: dict[str, Any], key: str) -> int:
    asset = (item.get("assets") or {}).get(key) or {}
    for band in asset.get("bands") or asset.get("eo:bands") or []:
        if isinstance(band, dict) and band.get("data_type") in BYTES_PER_SAMPLE:
            return BYTES_PER_SAMPLE[band["data_type"]]
    return DEFAULT_BYTES_PER_SAMPLE


def product_shape(
    item: dict[str, Any], bands: list[str] | None, pansharpen: bool
) -> tuple[str, int, float | None]:
    """(image read, band count, pixel size in metres) of the product delivery would build."""
    images = images_of(item)
    if pansharpen and "pan" in images and "ms" in images:
        count = len(bands) if bands else _band_count(item, "ms")
        return "ms", count, _gsd(item, "pan")
    if bands:
        wanted = {b.strip().lower() for b in bands}
        key = next((k for k in ("ms", "pan") if k in images and wanted <= set(images[k])), "ms")
        return key, len(bands), _gsd(item, key)
    key = "ms" if "ms" in images else "pan"
    return key, _band_count(item, key), _gsd(item, key)


def _band_count(item: dict[str, Any], key: str) -> int:
    asset = (item.get("assets") or {}).get(key) or {}
    return max(1, len(asset.get("bands") or asset.get("eo:bands") or []))


async def quote(orders: Orders, principal: Principal, draft: ProductOrderDraft) -> dict:
    """What placing `draft` would give, checked as placing checks it, nothing reserved."""
    aoi, warnings = await product_orders.checked(orders, principal, draft)
    lines: list[dict[str, Any]] = []
    sizes: list[int | None] = []
    areas: list[float | None] = []
    for ref in draft.items:
        item = await orders.catalogue.item(ref.collection, ref.item_id) or {}
        covered_km2 = None
        if item.get("geometry"):
            try:
                footprint = shape(item["geometry"])
                covered = footprint.intersection(aoi.geometry) if aoi else footprint
                covered_km2 = round(geodesic_km2(covered), 6)
            except (ValueError, TypeError, AttributeError, IndexError):
                covered_km2 = None
        if covered_km2 is None and aoi is not None:
            covered_km2 = aoi.area_km2
        image, band_count, pixel_m = product_shape(item, draft.bands, draft.pansharpen)
        size = None
        if covered_km2 is not None and pixel_m:
            pixels = covered_km2 * 1e6 / (pixel_m * pixel_m)
            size = int(pixels * band_count * _bytes_per_sample(item, image))
        sizes.append(size)
        areas.append(covered_km2)
        lines.append(
            {
                "collection": ref.collection,
                "item_id": ref.item_id,
                "area_km2": covered_km2,
                "image": image,
                "band_count": band_count,
                "pixel_m": pixel_m,
                "estimated_bytes": size,
            }
        )
    return {
        "items": lines,
        "aoi_km2": aoi.area_km2 if aoi else None,
        "area_km2": round(sum(a for a in areas if a is not None), 6) if any(areas) else None,
        "estimated_bytes": sum(s for s in sizes if s is not None) if None not in sizes else None,
        "options": draft.model_dump(mode="json", exclude={"items"}),
        "warnings": [w.as_dict() for w in warnings],
        "daily_limit": orders.settings.product_orders_per_day,
        "size_note_fr": "estimation du raster non compressé ; le GeoTIFF livré est en général plus petit",
        "size_note": "estimate of the uncompressed raster; the delivered GeoTIFF is usually smaller",
    }
