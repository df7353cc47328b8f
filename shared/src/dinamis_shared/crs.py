"""Which output coordinate systems a product may be asked in: one rule for the orders
service (which refuses an order before it takes a daily slot) and for delivery (which
builds the product). Each caller raises its own error with the messages given here."""

from __future__ import annotations

from typing import Any

from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import shape

# How far (degrees) outside a CRS's area of use a product may still be asked in it.
AREA_OF_USE_MARGIN_DEG = 1.0


def output_crs_refusal(
    code: str, native_projected: bool, where: dict[str, Any] | None
) -> tuple[str, str] | None:
    """Why `code` cannot be the product's CRS, as (English, French), or None if it can:
    `native` needs a projected scene; any other code must be a 2D map CRS in metres or
    degrees meant for the place (`where`, a GeoJSON geometry; unchecked if unusable)."""
    if code == "native":
        if native_projected:
            return None
        return (
            "the scene has no map projection (sensor geometry): ask for a CRS such as EPSG:2154",
            "la scène n'a pas de projection cartographique : demandez un système tel que EPSG:2154",
        )
    try:
        crs = CRS.from_user_input(code)
    except CRSError:
        return (
            f"unknown CRS {code}: use EPSG:2154 (Lambert-93), a UTM zone (EPSG:326xx) or native",
            f"système de coordonnées {code} inconnu : utilisez EPSG:2154 (Lambert-93), une zone UTM "
            "(EPSG:326xx) ou native",
        )
    units = {a.unit_name for a in crs.axis_info}
    map_crs = (crs.is_projected and units <= {"metre"}) or (crs.is_geographic and len(crs.axis_info) == 2)
    if not map_crs or crs.is_vertical or crs.is_geocentric:
        return (
            f"{code} ({crs.name}) is not a 2D map CRS in metres or degrees",
            f"{code} ({crs.name}) n'est pas un système cartographique 2D en mètres ou en degrés",
        )
    use = crs.area_of_use
    if use is None or not where:
        return None
    try:
        c = shape(where).centroid
    except (ValueError, TypeError, AttributeError):
        return None
    m = AREA_OF_USE_MARGIN_DEG
    if not (use.west - m <= c.x <= use.east + m and use.south - m <= c.y <= use.north + m):
        return (
            f"{code} ({crs.name}) is meant for {use.name}, not for this area: "
            "ask for the local UTM zone or native",
            f"{code} ({crs.name}) est prévu pour « {use.name} », pas pour cette zone : demandez la zone UTM "
            "locale ou native",
        )
    return None
