"""Raster work: open a delivered image, convert it to a validated Cloud-Optimised
GeoTIFF, and derive a quicklook and a thumbnail. CPU-bound and blocking: call it
from a worker thread (GDAL releases the GIL)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET  # writes our own VRT only; parsing goes through defusedxml

import defusedxml.ElementTree as SafeET
import numpy as np
import rasterio
import rasterio.shutil
from rasterio._err import CPLE_BaseError  # GDAL errors raised while reading pixels
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioError
from rio_cogeo.cogeo import cog_validate

from dinamis_ingest.domain.dimap import Band
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


# Band metadata GDAL's DIMAP driver attaches by a fixed position (B0 = band 1...),
# which is wrong for images not stored B0 first: replaced by the metadata's own values.
DIMAP_BAND_KEYS = ("SPECTRAL_RANGE_", "RADIANCE_", "SOLAR_IRRADIANCE_")


def _band_metadata(band: Band) -> dict[str, str]:
    values = {
        "BAND_ID": band.id,
        "SPECTRAL_RANGE_MIN": band.min_um,
        "SPECTRAL_RANGE_MAX": band.max_um,
        "SPECTRAL_RANGE_MEASURE_UNIT": "micrometers" if band.min_um and band.max_um else None,
        "RADIANCE_GAIN": band.radiance_gain,
        "RADIANCE_BIAS": band.radiance_bias,
        "SOLAR_IRRADIANCE_VALUE": band.solar_irradiance,
    }
    return {k: str(v) for k, v in values.items() if v is not None}


def _labelled(source: str, work: Path, bands: Sequence[Band]) -> str:
    """A VRT of `source` whose band n is described by `bands[n-1]` (its id as the band
    description, its spectral and radiometric values as band metadata): the archived
    COG then names its bands in their stored order, as the STAC item does."""
    vrt = Path(source) if source.endswith(".vrt") else work / (Path(source).name + ".labelled.vrt")
    if vrt != Path(source):
        rasterio.shutil.copy(source, vrt, driver="VRT")
    root = SafeET.fromstring(vrt.read_bytes())
    raster_bands = sorted(root.iterfind("VRTRasterBand"), key=lambda el: int(el.get("band", "0")))
    if len(raster_bands) != len(bands):
        raise DeliveryRejected(
            RejectionReason.INVALID_METADATA,
            f"{Path(source).name}: the image has {len(raster_bands)} bands, the metadata names "
            f"{len(bands)} ({' '.join(b.id for b in bands)})",
        )
    for el, band in zip(raster_bands, bands, strict=True):
        for old in el.findall("Description"):
            el.remove(old)
        description = ET.Element("Description")
        description.text = band.id
        el.insert(0, description)
        metadata = next((m for m in el.findall("Metadata") if not m.get("domain")), None)
        if metadata is None:
            metadata = ET.SubElement(el, "Metadata")
        for item in list(metadata):
            if (item.get("key") or "").startswith((*DIMAP_BAND_KEYS, "BAND_ID")):
                metadata.remove(item)
        for key, value in _band_metadata(band).items():
            ET.SubElement(metadata, "MDI", key=key).text = value
    vrt.write_bytes(ET.tostring(root))
    return str(vrt)


def to_cog(src_path: str, dst: Path, bands: Sequence[Band] = ()) -> None:
    """Convert to a Cloud-Optimised GeoTIFF with GDAL's COG driver (the same as
    `gdal_translate -of COG`), then validate it with rio-cogeo. Metadata domains (RPC)
    are kept; with `bands` (the DIMAP's, in stored order), band n is described and
    tagged as `bands[n-1]`."""
    convert_cog(src_path, dst, bands)
    validate_cog(dst)


def convert_cog(src_path: str, dst: Path, bands: Sequence[Band] = ()) -> None:
    """The conversion of `to_cog`, without its validation."""
    try:
        source = _without_local_crs(src_path, dst.parent)
        if bands:
            source = _labelled(source, dst.parent, bands)
        with rasterio.open(source) as src:
            dtype = np.dtype(src.dtypes[0])
        # A 12-bit source (NBITS=12, as Airbus JP2s declare) would be bit-packed, which the
        # predictor refuses: store whole samples of the data type.
        options = {**COG_OPTIONS, "NBITS": str(dtype.itemsize * 8)} if dtype.kind in "iu" else COG_OPTIONS
        with rasterio.Env(GDAL_CACHEMAX=512):
            rasterio.shutil.copy(source, dst, driver="COG", **options)
    except (RasterioError, CRSError, CPLE_BaseError) as exc:
        raise DeliveryRejected(RejectionReason.CORRUPT_RASTER, f"{Path(src_path).name}: {exc}") from None


def validate_cog(dst: Path) -> None:
    """rio-cogeo's validation of a written COG (a failure is ours, not the supplier's)."""
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
