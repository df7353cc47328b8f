"""Collections and STAC items for archived scenes (pure functions)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from dinamis_ingest.domain.dimap import Band, DimapImage
from dinamis_shared.missions import Mission, SensorFamily, mission_info
from dinamis_shared.stac import EXTENSIONS

STAC_VERSION = "1.1.0"

COMMON_NAME = {
    "P": "pan",
    "B0": "blue",
    "B1": "green",
    "B2": "red",
    "B3": "nir",
    "R": "red",
    "G": "green",
    "B": "blue",
    "NIR": "nir",
    "RE": "rededge",
    "DB": "coastal",
}
LEVEL = {"SENSOR": "sensor", "PRIMARY": "sensor", "ORTHO": "ortho", "PROJECTED": "projected"}


def collection_id(mission: Mission, processing_level: str, campaign: str | None) -> str:
    """`<family>-<level>` (e.g. `spot-6-7-ortho`), or `<family>-<campaign>` for the
    yearly metropolitan coverage (e.g. `spot-6-7-france-2026`)."""
    family: SensorFamily = mission_info(mission).family
    if campaign:
        return f"{family.value}-{campaign}"
    return f"{family.value}-{LEVEL.get(processing_level.upper(), processing_level.lower())}"


@dataclass(frozen=True)
class ArchivedAsset:
    key: str  # role name in the item: pan, ms, pms, thumbnail, overview, metadata-pan...
    href: str
    media_type: str
    roles: list[str]
    size: int
    sha256: str
    title: str
    image: DimapImage | None = None
    shape: tuple[int, int] | None = None
    transform: tuple[float, ...] | None = None


def eo_bands(bands: list[Band]) -> list[dict]:
    """`eo:bands` (eo extension v1.1), in the image's stored band order (the order the
    DIMAP lists them in, which is the archived COG's band order): band n of the COG is
    `eo:bands[n-1]`, whatever the band ids (SPOT 6/7 store B2 B1 B0 B3 = red, green,
    blue, NIR)."""
    out = []
    for b in bands:
        band: dict = {"name": b.id}
        if b.id in COMMON_NAME:
            band["common_name"] = COMMON_NAME[b.id]
        if b.min_um and b.max_um:
            band["center_wavelength"] = round((b.min_um + b.max_um) / 2, 4)
            band["full_width_half_max"] = round(b.max_um - b.min_um, 4)
        if b.solar_irradiance:
            band["solar_illumination"] = b.solar_irradiance
        out.append(band)
    return out


def _multihash(sha256_hex: str) -> str:
    return "1220" + sha256_hex  # multihash: sha2-256 (0x12), 32 bytes (0x20)


def build_item(
    *,
    scene_id: str,
    collection: str,
    version: int,
    primary: DimapImage,
    primary_epsg: int | None,
    footprint: list[tuple[float, float]],
    assets: list[ArchivedAsset],
    created: datetime,
    supplier_product_id: str,
    predecessor_href: str | None,
    collection_href: str,
) -> dict:
    ring = [list(p) for p in footprint]
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    # RFC 7946: exterior rings counter-clockwise (positive shoelace area).
    if sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring)) < 0:
        ring.reverse()
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    mission = mission_info(primary.mission)
    gsds = [a.image.gsd for a in assets if a.image is not None and a.image.gsd]
    properties: dict = {
        "datetime": primary.acquired_at.isoformat().replace("+00:00", "Z"),
        "created": created.isoformat().replace("+00:00", "Z"),
        "platform": mission.platform,
        "constellation": mission.constellation,
        "instruments": [primary.instrument.lower()],
        "gsd": min(gsds) if gsds else None,
        "eo:cloud_cover": primary.cloud_cover,
        "eo:snow_cover": primary.snow_cover,
        "view:incidence_angle": primary.incidence_angle,
        "view:off_nadir": primary.viewing_angle,
        "view:azimuth": primary.azimuth_angle,
        "view:sun_azimuth": primary.sun_azimuth,
        "view:sun_elevation": primary.sun_elevation,
        "sat:platform_international_designator": mission.cospar_id,
        "sat:orbit_state": "descending",
        "processing:level": primary.processing_level.lower(),
        "processing:lineage": f"Airbus DIMAP v2 {primary.processing_level} {primary.spectral_processing}, "
        f"converted to Cloud-Optimised GeoTIFF by DINAMIS ingest",
        "processing:software": {"dinamis-ingest": "0.1.0"},
        "dinamis:version": version,
        "dinamis:supplier_product_id": supplier_product_id,
    }
    properties = {k: v for k, v in properties.items() if v is not None}
    # The archived image's CRS (null: a sensor image located by its RPCs only).
    properties["proj:code"] = f"EPSG:{primary_epsg}" if primary_epsg else None
    item_assets = {}
    for a in assets:
        asset: dict = {
            "href": a.href,
            "type": a.media_type,
            "title": a.title,
            "roles": a.roles,
            "file:size": a.size,
            "file:checksum": _multihash(a.sha256),
        }
        if a.image is not None and "data" in a.roles:
            asset["eo:bands"] = eo_bands(a.image.bands)
            if a.image.gsd:
                asset["gsd"] = a.image.gsd
            if a.shape:
                asset["proj:shape"] = list(a.shape)
            if a.transform:
                asset["proj:transform"] = list(a.transform)
        item_assets[a.key] = asset
    links = [{"rel": "collection", "href": collection_href, "type": "application/json"}]
    if predecessor_href:
        links.append({"rel": "predecessor-version", "href": predecessor_href, "type": "application/geo+json"})
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [EXTENSIONS[k] for k in ("eo", "proj", "view", "sat", "processing", "file")],
        "id": scene_id,
        "collection": collection,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "properties": properties,
        "links": links,
        "assets": item_assets,
    }
