"""Raster work: open a delivered image, convert it to a validated Cloud-Optimised
GeoTIFF, and derive a quicklook and a thumbnail. CPU-bound and blocking: call it
from a worker thread (GDAL releases the GIL)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from dinamis_ingest.domain.rejections import DeliveryRejected
from dinamis_shared.events import RejectionReason

log = logging.getLogger(__name__)

QUICKLOOK_PX = 1024
THUMBNAIL_PX = 256


@dataclass(frozen=True)
class RasterInfo:
    width: int
    height: int
    count: int
    dtype: str
    epsg: int | None
    wkt: str | None
    transform: tuple[float, ...] | None
    bounds: tuple[float, float, float, float]
    has_rpc: bool
    descriptions: tuple[str | None, ...]


def inspect(path: str) -> RasterInfo:
    """Open an image (a DIMAP entry point or a TIFF/JP2); refuse corrupt or
    non-georeferenced ones with the reason."""
    try:
        with rasterio.open(path) as src:
            has_rpc = bool(src.tags(ns="RPC"))
            georeferenced = src.crs is not None and not src.transform.is_identity
            if not (georeferenced or has_rpc or src.gcps[0]):
                raise DeliveryRejected(
                    RejectionReason.NOT_GEOREFERENCED,
                    f"{Path(path).name}: image has no CRS/geotransform, no RPC and no GCP",
                )
            return RasterInfo(
                width=src.width,
                height=src.height,
                count=src.count,
                dtype=src.dtypes[0],
                epsg=src.crs.to_epsg() if src.crs else None,
                wkt=src.crs.to_wkt() if src.crs else None,
                transform=tuple(src.transform)[:6] if georeferenced else None,
                bounds=tuple(src.bounds),
                has_rpc=has_rpc,
                descriptions=tuple(src.descriptions),
            )
    except RasterioError as exc:
        raise DeliveryRejected(RejectionReason.CORRUPT_RASTER, f"{Path(path).name}: {exc}") from None


def to_cog(src_path: str, dst: Path) -> None:
    """Lossless COG (DEFLATE + horizontal predictor, 512 px tiles, overviews), validated."""
    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=512, blockysize=512, predictor=2, zlevel=6, bigtiff="IF_SAFER")
    try:
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_TIFF_OVR_BLOCKSIZE="512"):
            cog_translate(
                src_path,
                str(dst),
                profile,
                overview_resampling="average",
                in_memory=False,
                quiet=True,
                use_cog_driver=False,
                forward_band_tags=True,
                forward_ns_tags=True,
            )
    except RasterioError as exc:
        raise DeliveryRejected(RejectionReason.CORRUPT_RASTER, f"{Path(src_path).name}: {exc}") from None
    valid, errors, _warnings = cog_validate(str(dst), quiet=True)
    if not valid:
        raise RuntimeError(f"COG validation failed for {dst.name}: {errors}")


def _stretch(band: np.ndarray, nodata: float | None) -> np.ndarray:
    valid = band[band != nodata] if nodata is not None else band.ravel()
    if valid.size == 0:
        return np.zeros(band.shape, np.uint8)
    lo, hi = np.percentile(valid, (2, 98))
    scaled = (band.astype("float32") - lo) / max(float(hi - lo), 1e-6)
    return (np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def previews(cog: Path, quicklook: Path, thumbnail: Path, rgb: tuple[int, ...]) -> None:
    """A JPEG quicklook and a PNG thumbnail, read from the COG's overviews."""
    with rasterio.open(cog) as src:
        for dest, size, driver in ((quicklook, QUICKLOOK_PX, "JPEG"), (thumbnail, THUMBNAIL_PX, "PNG")):
            scale = max(src.width, src.height) / size
            shape = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
            data = src.read(list(rgb), out_shape=(len(rgb), *shape), resampling=Resampling.average)
            out = np.stack([_stretch(b, src.nodata) for b in data])
            with rasterio.open(
                dest, "w", driver=driver, width=shape[1], height=shape[0], count=len(rgb), dtype="uint8"
            ) as dst:
                dst.write(out)
            for aux in dest.parent.glob(dest.name + ".aux.xml"):
                aux.unlink()
