"""Processing options of a product order checked against the item they apply to (pure),
before anything is reserved: the bands the item has, the CRS, pansharpening. The
delivery service applies the same rules when it builds (`dinamis_delivery.domain.
products.plan_product`); asking here first means a bad option answers 422 at once and
never spends one of the user's daily orders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dinamis_shared.crs import output_crs_refusal
from dinamis_shared.errors import DinamisError

BAND_NAME_MAX = 32  # the delivery-requested contract's bound (ProductSpec.bands)


class UnsupportedOption(DinamisError):
    code = "unsupported-option"
    http_status = 422


def _refuse(en: str, fr: str) -> UnsupportedOption:
    return UnsupportedOption(en, message_fr=fr)


def images_of(item: dict[str, Any]) -> dict[str, list[str]]:
    """The item's data images (`pan`, `ms`), each with its band names and common names
    (as the delivery service reads them: a data asset without a band list is one band `P`)."""
    images: dict[str, list[str]] = {}
    for key in ("pan", "ms"):
        asset = (item.get("assets") or {}).get(key)
        if not isinstance(asset, dict) or "data" not in (asset.get("roles") or []):
            continue
        bands = asset.get("bands") or asset.get("eo:bands") or []
        names = [str(b.get("name", f"B{i + 1}")) for i, b in enumerate(bands) if isinstance(b, dict)] or ["P"]
        commons = [
            str(c)
            for b in bands
            if isinstance(b, dict) and (c := b.get("eo:common_name", b.get("common_name")))
        ]
        images[key] = [n.lower() for n in [*names, *commons]]
    return images


def check_bands(bands: Sequence[str] | None, pansharpen: bool, item: dict[str, Any]) -> None:
    images = images_of(item)
    if not images:
        raise _refuse(
            "the item has no image to build a product from",
            "la scène n'a pas d'image à partir de laquelle construire un produit",
        )
    if pansharpen and not ("pan" in images and "ms" in images):
        raise _refuse(
            "pansharpening needs a PAN and an MS image; this item lacks one",
            "la fusion (pansharpening) demande une image PAN et une image MS ; il en manque une",
        )
    if bands is None:
        return
    if not bands:
        raise _refuse("the band list is empty", "la liste des bandes est vide")
    wanted = [b.strip().lower() for b in bands]
    if len(set(wanted)) != len(wanted):
        raise _refuse("a band is listed twice", "une bande est demandée deux fois")
    known = sorted({n for names in images.values() for n in names})
    shown = ", ".join(known)
    for name, raw in zip(wanted, bands, strict=True):
        if len(raw) > BAND_NAME_MAX or name not in known:
            label = raw[:BAND_NAME_MAX] + ("…" if len(raw) > BAND_NAME_MAX else "")
            raise _refuse(
                f"unknown band {label!r}; this item has {shown}",
                f"bande {label!r} inconnue ; cette scène a {shown}",
            )
    if pansharpen:
        outside = [b for b, n in zip(bands, wanted, strict=True) if n not in images["ms"]]
        if outside:
            raise _refuse(
                f"band {outside[0]!r} is not multispectral: a pansharpened product has MS bands only",
                f"la bande {outside[0]!r} n'est pas multispectrale : un produit fusionné n'a que "
                "des bandes MS",
            )
        return
    holders = [key for key, names in images.items() if all(n in names for n in wanted)]
    if not holders:
        raise _refuse(
            "these bands are in images of different resolutions: ask for PAN and MS bands in "
            "separate products, or for pansharpening",
            "ces bandes sont dans des images de résolutions différentes : demandez PAN et MS dans "
            "des produits séparés, ou la fusion (pansharpening)",
        )


def check_crs(code: str, item: dict[str, Any], aoi: dict[str, Any] | None) -> None:
    """`native` needs a projected scene; any other code a 2D map CRS (metres or degrees)
    meant for the place (the rule delivery applies too: `dinamis_shared.crs`)."""
    native_projected = bool((item.get("properties") or {}).get("proj:code"))
    refusal = output_crs_refusal(code, native_projected, aoi or item.get("geometry"))
    if refusal:
        raise _refuse(*refusal)


def check_options(
    item: dict[str, Any],
    *,
    crs: str,
    bands: Sequence[str] | None,
    pansharpen: bool,
    aoi: dict[str, Any] | None,
) -> None:
    """Every option of a product, against its item: UnsupportedOption (422) otherwise."""
    check_bands(bands, pansharpen, item)
    check_crs(crs, item, aoi)
