"""Raster work: open a delivered image, convert it to a validated Cloud-Optimised
GeoTIFF, and derive a quicklook and a thumbnail. CPU-bound and blocking: call it
from a worker thread (GDAL releases the GIL)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio._err import CPLE_BaseError  # GDAL errors raised while reading pixels
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioError
from rio_cogeo.cogeo import cog_validate

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
            georeferenced = _earth_crs(src) and not src.transform.is_identity
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
                epsg=src.crs.to_epsg() if georeferenced else None,
                wkt=src.crs.to_wkt() if georeferenced else None,
                transform=tuple(src.transform)[:6] if georeferenced else None,
                bounds=tuple(src.bounds),
                has_rpc=has_rpc,
                descriptions=tuple(src.descriptions),
            )
    except (RasterioError, CPLE_BaseError, CRSError) as exc:
        raise DeliveryRejected(RejectionReason.CORRUPT_RASTER, f"{Path(path).name}: {exc}") from None


def _earth_crs(src: rasterio.DatasetReader) -> bool:
    """A CRS tied to the Earth (geographic or projected), not a local/engineering one such
    as the GeoJP2 'LOCAL_CS' some JPEG 2000 encoders write for sensor images."""
    return src.crs is not None and (src.crs.is_geographic or src.crs.is_projected)


def _without_local_crs(src_path: str, work: Path) -> str:
    """Sensor images located by RPC carry a meaningless CRS and transform (a GeoJP2
    LOCAL_CS, or Airbus' geodetic CRS with an identity transform): convert them from a
    VRT that drops both (the RPCs stay in its metadata)."""
    with rasterio.open(src_path) as src:
        if src.crs is None or (_earth_crs(src) and not src.transform.is_identity):
            return src_path
    vrt = work / (Path(src_path).name + ".vrt")
    rasterio.shutil.copy(src_path, vrt, driver="VRT")
    text = re.sub(r"<SRS[^>]*>.*?</SRS>|<GeoTransform>.*?</GeoTransform>", "", vrt.read_text(), flags=re.S)
    vrt.write_text(text)
    return str(vrt)


# GDAL's COG driver: lossless DEFLATE with the horizontal predictor, 512 px tiles,
# overviews down to one tile (average); BigTIFF when needed.
COG_OPTIONS = {
    "COMPRESS": "DEFLATE",
    "PREDICTOR": "2",
    "LEVEL": "6",
    "BLOCKSIZE": "512",
    "OVERVIEW_RESAMPLING": "AVERAGE",
    "BIGTIFF": "IF_SAFER",
    "NUM_THREADS": "ALL_CPUS",
}


def to_cog(src_path: str, dst: Path) -> None:
    """Convert to a Cloud-Optimised GeoTIFF with GDAL's COG driver (the same as
    `gdal_translate -of COG`), then validate it with rio-cogeo. Metadata domains (RPC,
    band descriptions) are kept."""
    try:
        source = _without_local_crs(src_path, dst.parent)
        with rasterio.open(source) as src:
            dtype = np.dtype(src.dtypes[0])
        # A 12-bit source (NBITS=12, as Airbus JP2s declare) would be bit-packed, which the
        # predictor refuses: store whole samples of the data type.
        options = {**COG_OPTIONS, "NBITS": str(dtype.itemsize * 8)} if dtype.kind in "iu" else COG_OPTIONS
        with rasterio.Env(GDAL_CACHEMAX=512):
            rasterio.shutil.copy(source, dst, driver="COG", **options)
    except (RasterioError, CRSError, CPLE_BaseError) as exc:
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
