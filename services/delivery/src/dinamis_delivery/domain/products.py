"""What a product is: its key, where it lives, which options are accepted, who may have it.

Pure rules (no I/O): the service layer hands in the request and the catalogue item;
a refused option raises `ProductRefused` with a reason people can act on, in French
and English.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.validation import explain_validity

from dinamis_shared.auth import Principal
from dinamis_shared.crs import output_crs_refusal
from dinamis_shared.events import OutputFormat, ProductFailureReason, ProductSpec

NODATA = 0  # Airbus convention for 12-bit products: 0 is never a measured value
MAX_AOI_VERTICES = 20_000
MIN_AOI_AREA_DEG2 = 1e-12  # about 1 cm² at mid-latitudes: below this, nothing to cut
EXTENSIONS = {OutputFormat.COG: "tif", OutputFormat.JP2: "jp2"}
MEDIA_TYPES = {
    OutputFormat.COG: "image/tiff; application=geotiff; profile=cloud-optimized",
    OutputFormat.JP2: "image/jp2",
}


class ProductStatus(StrEnum):
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"


class ProductRefused(Exception):
    """A product that cannot be built as asked: retrying cannot help."""

    def __init__(self, reason: ProductFailureReason, en: str, fr: str) -> None:
        super().__init__(en)
        self.reason = reason
        self.en = en
        self.fr = fr

    @property
    def text(self) -> str:
        """The event's `reason`: French first, then English."""
        return f"{self.fr} / {self.en}"[:4000]


def _unsupported(en: str, fr: str) -> ProductRefused:
    return ProductRefused(ProductFailureReason.UNSUPPORTED_OPTION, en, fr)


def product_key(order_id: str, spec: ProductSpec) -> str:
    """Hash of (order, item, options): the same request always names the same product.

    `product_id` is left out on purpose: two identical lines of one order, or the
    order sent twice with new line ids, are one product, built once."""
    options = {
        "order": order_id,
        "collection": spec.collection,
        "item": spec.item_id,
        "aoi": spec.aoi.model_dump() if spec.aoi else None,
        "crs": spec.crs,
        "format": spec.format.value,
        "bands": list(spec.bands) if spec.bands is not None else None,
        "pansharpen": spec.pansharpen,
    }
    canonical = json.dumps(options, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def object_key(order_id: str, spec: ProductSpec, key: str) -> str:
    """Deterministic, under the order: `<order>/<item>-<key prefix>.<ext>`."""
    return f"{order_id}/{spec.item_id}-{key[:20]}.{EXTENSIONS[spec.format]}"


def expires_at(built_at: datetime, retention: timedelta) -> datetime:
    return built_at + retention


def may_access(principal: Principal, organisation_id: str) -> bool:
    """Members of the ordering organisation, and DINAMIS staff, may list and download."""
    return principal.is_staff or principal.organisation_id == organisation_id


@dataclass(frozen=True)
class SourceImage:
    """One archive COG the product reads: `bands` are its band names in the COG's band
    order, which is the item's `eo:bands` order (ingest writes both in the order the
    supplier's metadata stores the bands: SPOT 6/7 start with B2, red)."""

    role: str
    bucket: str
    key: str
    bands: tuple[str, ...]
    common_names: tuple[str | None, ...] = ()
    wavelengths: tuple[float | None, ...] = ()

    def index_of(self, name: str) -> int | None:
        """1-based band index for a band name or an `eo:common_name` (case-insensitive)."""
        wanted = name.strip().lower()
        for i, band in enumerate(self.bands):
            if band.lower() == wanted:
                return i + 1
        for i, common in enumerate(self.common_names):
            if common and common.lower() == wanted:
                return i + 1
        return None


def band_mismatch(
    source: SourceImage, count: int, descriptions: tuple[str | None, ...]
) -> ProductRefused | None:
    """Why the archived COG's bands cannot be trusted to be the item's, or None.

    Band n is picked as `eo:bands[n-1]`: refuse when the COG has another number of
    bands, or when it names its bands (ingest writes each band's id as its description)
    with the item's names in another order."""
    if count != len(source.bands):
        return ProductRefused(
            ProductFailureReason.SOURCE_UNREADABLE,
            f"the archived {source.role} image has {count} bands, its catalogue entry lists "
            f"{len(source.bands)} ({', '.join(source.bands)})",
            f"l'image {source.role} archivée a {count} bandes, sa fiche de catalogue en liste "
            f"{len(source.bands)} ({', '.join(source.bands)})",
        )
    named = tuple((d or "").strip().lower() for d in descriptions)
    listed = tuple(b.lower() for b in source.bands)
    if all(named) and sorted(named) == sorted(listed) and named != listed:
        order = ", ".join(d or "" for d in descriptions)
        return ProductRefused(
            ProductFailureReason.SOURCE_UNREADABLE,
            f"the archived {source.role} image stores its bands as {order}, its catalogue entry "
            f"lists {', '.join(source.bands)}: the scene must be ingested again",
            f"l'image {source.role} archivée range ses bandes ainsi : {order} ; sa fiche de "
            f"catalogue dit {', '.join(source.bands)} : la scène doit être réintégrée",
        )
    return None


@dataclass(frozen=True)
class BuildPlan:
    """Everything a worker process needs to build one product (picklable)."""

    product_key: str
    object_key: str
    item_id: str
    source: SourceImage  # the image clipped (MS when pansharpening)
    band_indexes: tuple[int, ...]
    band_names: tuple[str, ...]
    clip: dict[str, Any] | None  # AOI ∩ scene footprint (GeoJSON, WGS84); None = whole scene
    footprint: dict[str, Any]  # what the product covers (GeoJSON, WGS84)
    dst_crs: str | None  # None = the source's own CRS
    format: OutputFormat
    pan: SourceImage | None = None  # set when pansharpening
    pan_weights: tuple[float, ...] = field(default=())
    nodata: int = NODATA


def archive_location(href: str, archive_bucket: str = "archive") -> tuple[str, str]:
    """(bucket, key) of an archive asset href (`http://<s3>/archive/<key>`)."""
    from urllib.parse import unquote, urlsplit

    path = unquote(urlsplit(href).path).lstrip("/")
    bucket, _, key = path.partition("/")
    if bucket != archive_bucket or not key or ".." in key.split("/"):
        raise ProductRefused(
            ProductFailureReason.SOURCE_UNREADABLE,
            f"the item's image is not in the archive ({href!r})",
            f"l'image de la scène n'est pas dans l'archive ({href!r})",
        )
    return bucket, key


def _bands_of(asset: dict) -> list[dict]:
    return asset.get("bands") or asset.get("eo:bands") or []


def source_images(item: dict) -> dict[str, SourceImage]:
    """The item's archive COGs by asset key (`pan`, `ms`)."""
    images = {}
    for key in ("pan", "ms"):
        asset = (item.get("assets") or {}).get(key)
        if not asset or "data" not in (asset.get("roles") or []):
            continue
        bucket, object_name = archive_location(asset.get("dinamis:archive_href") or asset["href"])
        bands = _bands_of(asset)
        images[key] = SourceImage(
            role=key,
            bucket=bucket,
            key=object_name,
            bands=tuple(str(b.get("name", f"B{i + 1}")) for i, b in enumerate(bands)) or ("P",),
            # STAC 1.1 `bands` prefix the eo fields; eo v1.1 `eo:bands` do not.
            common_names=tuple(b.get("eo:common_name", b.get("common_name")) for b in bands),
            wavelengths=tuple(b.get("eo:center_wavelength", b.get("center_wavelength")) for b in bands),
        )
    return images


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def clip_to_aoi(aoi: dict | None, footprint: dict) -> dict | None:
    """The part of the scene the product covers: AOI ∩ footprint (None = whole scene)."""
    if aoi is None:
        return None
    area = shape(aoi)
    vertices = shapely.get_num_coordinates(area)
    if vertices > MAX_AOI_VERTICES:
        raise _unsupported(
            f"the AOI has {vertices} vertices, more than {MAX_AOI_VERTICES}: simplify it",
            f"la zone a {vertices} sommets, plus que {MAX_AOI_VERTICES} : simplifiez-la",
        )
    if not area.is_valid:
        why = explain_validity(area)
        raise _unsupported(
            f"the AOI polygon is invalid ({why}); fix it (e.g. remove the self-intersection)",
            f"le polygone de la zone est invalide ({why}) ; corrigez-le (auto-intersection...)",
        )
    if area.area < MIN_AOI_AREA_DEG2:
        raise _unsupported("the AOI has no area", "la zone demandée n'a pas de surface")
    inside = _polygonal(area.intersection(shape(footprint)))
    if inside.is_empty or inside.area < MIN_AOI_AREA_DEG2:
        raise ProductRefused(
            ProductFailureReason.AOI_OUTSIDE_SCENE,
            "the AOI does not intersect the scene: choose a scene that covers it",
            "la zone demandée ne recoupe pas la scène : choisissez une scène qui la couvre",
        )
    return mapping(inside)


def check_crs(code: str, covered: dict, native_crs: str | None) -> str | None:
    """The target CRS (None = native), refused when unknown, not a map CRS in metres or
    degrees, or not meant for the place (the rule orders applies too: `dinamis_shared.crs`)."""
    refusal = output_crs_refusal(code, bool(native_crs), covered)
    if refusal:
        raise _unsupported(*refusal)
    return None if code == "native" else code


def _pan_weights(pan: SourceImage, ms: SourceImage) -> tuple[float, ...]:
    """Weights of the MS bands in the pseudo-panchromatic intensity (weighted Brovey):
    equal weights over the MS bands whose centre lies in the PAN range (0.45-0.90 µm
    for Pléiades, Pléiades Neo and SPOT 6/7), all bands if none is known."""
    inside = [1.0 if w is not None and 0.45 <= w <= 0.90 else 0.0 for w in ms.wavelengths]
    if len(inside) != len(ms.bands) or not any(inside):
        inside = [1.0] * len(ms.bands)
    total = sum(inside)
    return tuple(round(w / total, 6) for w in inside)


def plan_product(order_id: str, spec: ProductSpec, item: dict) -> BuildPlan:
    """Check a requested product against its item; say what to read and how to cut it."""
    images = source_images(item)
    if not images:
        raise ProductRefused(
            ProductFailureReason.SOURCE_UNREADABLE,
            "the item has no archived image (pan or ms)",
            "la scène n'a pas d'image archivée (pan ou ms)",
        )
    footprint = item["geometry"]
    clip = clip_to_aoi(spec.aoi.model_dump() if spec.aoi else None, footprint)
    covered = clip or footprint
    dst_crs = check_crs(spec.crs, covered, (item.get("properties") or {}).get("proj:code"))
    key = product_key(order_id, spec)
    pan, ms = images.get("pan"), images.get("ms")
    source: SourceImage | None
    if spec.pansharpen:
        if pan is None or ms is None:
            raise _unsupported(
                "pansharpening needs a PAN and an MS image; this item lacks one",
                "la fusion (pansharpening) demande une image PAN et une image MS ; il en manque une",
            )
        source, names = ms, list(spec.bands) if spec.bands is not None else list(ms.bands)
        pan_weights = _pan_weights(pan, ms)
    else:
        if spec.bands is None:
            source = ms or pan
            names = list(source.bands) if source else []
        else:
            source = next(
                (img for img in (ms, pan) if img and spec.bands and img.index_of(spec.bands[0])), None
            )
            names = list(spec.bands)
        pan_weights = ()
    if not names:
        raise _unsupported("the band list is empty", "la liste des bandes est vide")
    if len({n.lower() for n in names}) != len(names):
        raise _unsupported("a band is listed twice", "une bande est demandée deux fois")
    available = sorted({b for img in images.values() for b in img.bands})
    indexes = []
    for name in names:
        index = source.index_of(name) if source else None
        if index is None:
            elsewhere = any(img.index_of(name) for img in images.values())
            if elsewhere and spec.pansharpen:
                raise _unsupported(
                    f"band {name!r} is not a multispectral band: a pansharpened product has MS bands only",
                    f"la bande {name!r} n'est pas multispectrale : un produit fusionné n'a que des bandes MS",
                )
            if elsewhere:
                raise _unsupported(
                    f"band {name!r} is in another image of different resolution: ask for PAN and MS "
                    "bands in separate products, or for pansharpening",
                    f"la bande {name!r} est dans une autre image, de résolution différente : demandez "
                    "PAN et MS dans des produits séparés, ou la fusion (pansharpening)",
                )
            raise _unsupported(
                f"unknown band {name!r}; this item has {', '.join(available)}",
                f"bande {name!r} inconnue ; cette scène a {', '.join(available)}",
            )
        indexes.append(index)
    assert source is not None
    return BuildPlan(
        product_key=key,
        object_key=object_key(order_id, spec, key),
        item_id=spec.item_id,
        source=source,
        band_indexes=tuple(indexes),
        band_names=tuple(source.bands[i - 1] for i in indexes),
        clip=clip,
        footprint=covered,
        dst_crs=dst_crs,
        format=spec.format,
        pan=pan if spec.pansharpen else None,
        pan_weights=pan_weights,
    )
