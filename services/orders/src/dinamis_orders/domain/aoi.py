"""Areas of interest: the rules live in `dinamis_shared.aoi` (pure functions shared with
the portal, which shows the same checks before anything is sent); orders imports them
from there."""

from __future__ import annotations

from dinamis_shared.aoi import (
    CLIP_COVERED_SHARE_WARN,
    GEOD,
    MAX_PARTS,
    MAX_VERTICES,
    MIN_AREA_KM2,
    MIN_CLIP_AREA_KM2,
    Aoi,
    AoiOutsideFootprint,
    AoiWarning,
    InvalidAoi,
    clip_warnings,
    covered_share,
    drawn_km2,
    geodesic_km2,
    parse_aoi,
    request_aoi,
)

__all__ = [
    "CLIP_COVERED_SHARE_WARN",
    "GEOD",
    "MAX_PARTS",
    "MAX_VERTICES",
    "MIN_AREA_KM2",
    "MIN_CLIP_AREA_KM2",
    "Aoi",
    "AoiOutsideFootprint",
    "AoiWarning",
    "InvalidAoi",
    "clip_warnings",
    "covered_share",
    "drawn_km2",
    "geodesic_km2",
    "parse_aoi",
    "request_aoi",
]
