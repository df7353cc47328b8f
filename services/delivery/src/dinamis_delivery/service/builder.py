"""Build one product in a worker process: windowed reads over S3, clip, reproject,
(pansharpen), write a COG or a JPEG2000, checksum, upload. All raster work is GDAL's.

Reading: the archive COG is opened through `/vsis3/` (HTTP range requests). A
`WarpedVRT` on the output grid pulls only the source tiles the output needs; the
AOI is a warp *cutline* (pixels whose centre is outside get nodata). The COG or JP2
driver then streams the VRT into the output file (memory stays bounded). Bytes read
from the object store are GDAL's own network statistics.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import rasterio
import rasterio.shutil
import rasterio.windows
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform, transform_bounds, transform_geom
from rasterio.windows import Window
from shapely import affinity
from shapely.geometry import shape

from dinamis_delivery.adapters import gdal_stats
from dinamis_delivery.domain.products import BuildPlan, ProductRefused, SourceImage, band_mismatch
from dinamis_shared.events import OutputFormat, ProductFailureReason
from dinamis_shared.hashing import sha256_file

# Lossless: DEFLATE with the horizontal predictor, 512 px tiles, overviews (average).
COG_OPTIONS = {
    "COMPRESS": "DEFLATE",
    "PREDICTOR": "YES",
    "LEVEL": "6",
    "BLOCKSIZE": "512",
    "OVERVIEWS": "AUTO",
    "OVERVIEW_RESAMPLING": "AVERAGE",
    "BIGTIFF": "IF_SAFER",
    "NUM_THREADS": "1",  # the process pool is the parallelism
}
# Lossless JPEG2000 (reversible 5/3 wavelet), tiled, with resolution levels for viewers.
JP2_OPTIONS = {"REVERSIBLE": "YES", "QUALITY": "100", "YCC": "NO", "BLOCKXSIZE": "1024", "BLOCKYSIZE": "1024"}
# Reflectance imagery is continuous: bilinear keeps values faithful without cubic's
# overshoot; the same kernel upsamples MS to PAN resolution when pansharpening.
RESAMPLING = Resampling.bilinear


@dataclass
class BuildSettings:
    """What a worker needs besides the plan (picklable; from DeliverySettings)."""

    s3_endpoint: str
    s3_secure: bool
    s3_region: str
    s3_access_key: str
    s3_secret_key: str
    delivery_bucket: str
    work_dir: str
    max_output_pixels: int
    replica_id: str


def gdal_env(s: BuildSettings) -> dict[str, Any]:
    return {
        "AWS_S3_ENDPOINT": s.s3_endpoint,
        "AWS_HTTPS": "YES" if s.s3_secure else "NO",
        "AWS_VIRTUAL_HOSTING": "FALSE",
        "AWS_REGION": s.s3_region,
        "AWS_ACCESS_KEY_ID": s.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": s.s3_secret_key,
        "AWS_NO_SIGN_REQUEST": "NO",
        # Never list the archive "directory" to look for sidecar files.
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.jp2",
        # The first read at open: the TIFF header and the first IFDs. A COG's header is a
        # few KiB (5 KiB for a 6000 px PAN with 4 overview levels); what it lacks (the
        # rest of the IFDs, the tile index entries the window needs) is read on demand
        # in chunks of READ_CHUNK_BYTES. 32 KiB here read 27 KiB of overview pixels for
        # nothing on every product.
        "GDAL_INGESTED_BYTES_AT_OPEN": "4096",
        # No VSI block cache over /vsis3/: its 32 KiB blocks turned every header read into
        # a 32 KiB download. /vsicurl/ keeps its own cache of what it downloaded.
        "VSI_CACHE": "FALSE",
        # Tiles that touch the window are fetched in parallel, merged into few requests.
        "GDAL_HTTP_MULTIPLEX": "YES",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_MAX_RETRY": "3",
        # A stalled read must end (and free its pool slot and its partition's commit).
        "GDAL_HTTP_TIMEOUT": "60",
        "GDAL_HTTP_CONNECTTIMEOUT": "10",
        "GDAL_HTTP_RETRY_DELAY": "0.5",
        "GDAL_CACHEMAX": 256,
        "CPL_VSIL_NETWORK_STATS_ENABLED": "YES",
    }


# GDAL rounds every range it downloads through /vsis3/ to its chunk size (16 KiB by
# default), tiles included: up to 2 x 16 KiB more than a window's tiles per request.
# 2 KiB chunks bring that under 4 KiB (1 KiB is GDAL's floor, for ~0.2 % fewer bytes
# but twice the cache entries). GDAL reads this option once per process, from the
# environment, at its first network access (a thread-local config option is ignored):
# `process_env` puts it there before any read.
READ_CHUNK_BYTES = 2048


def process_env(s: BuildSettings) -> dict[str, str]:
    """What must be in the worker process's environment rather than in a rasterio.Env:
    the S3 credentials (rasterio refuses AWS_* options in Env, it wants boto3) and the
    options GDAL reads once per process."""
    options = {k: str(v) for k, v in gdal_env(s).items() if k.startswith("AWS_")}
    options["CPL_VSIL_CURL_CHUNK_SIZE"] = str(READ_CHUNK_BYTES)
    return options


def _vsis3(image: SourceImage) -> str:
    return f"/vsis3/{image.bucket}/{image.key}"


# Source pixels the bilinear kernel needs around the clip's bounding box.
KERNEL_MARGIN_PX = 2


def source_window(src: rasterio.DatasetReader, clip: dict | None) -> Window:
    """The source pixels a product needs: the clip's bounding box in the source's pixel
    grid plus the resampling kernel's margin, within the image (None = whole image)."""
    full = Window(0, 0, src.width, src.height)
    if clip is None:
        return full
    left, bottom, right, top = shape(transform_geom("EPSG:4326", src.crs, clip)).bounds
    inv = ~src.transform
    cols, rows = zip(
        *(inv * (x, y) for x, y in ((left, top), (right, top), (left, bottom), (right, bottom))), strict=True
    )
    m = KERNEL_MARGIN_PX
    col0, row0 = max(0, math.floor(min(cols)) - m), max(0, math.floor(min(rows)) - m)
    col1, row1 = min(src.width, math.ceil(max(cols)) + m), min(src.height, math.ceil(max(rows)) + m)
    if col1 <= col0 or row1 <= row0:
        raise ProductRefused(
            ProductFailureReason.AOI_OUTSIDE_SCENE,
            "the AOI does not intersect the image",
            "la zone demandée ne recoupe pas l'image",
        )
    return Window(col0, row0, col1 - col0, row1 - row0)


# How far beyond the clip's bounding box the bilinear kernel reaches, in source pixels.
# An output pixel is computed when its centre falls inside the clip (the cutline), at a
# source position p within the box; GDAL's bilinear takes the 2 x 2 pixels whose centres
# (i + 0.5) surround p: pixels floor(p - 0.5) to floor(p + 0.5), half a pixel beyond the
# box. Plus a tenth of a pixel of safety: the cutline's edges are straight in the output
# CRS, not in the source's (GDAL densifies them; over 10 km the difference is a few cm).
KERNEL_REACH_PX = 0.5 + 0.1


def needed_window(src: rasterio.DatasetReader, clip: dict | None, window: Window) -> Window:
    """The part of `window` (from `source_window`) whose pixels an output pixel can use.

    The local window keeps `source_window`'s extent (the warp's grid, hence the product's
    pixels, stay exactly what they were), but only these pixels are read from the archive;
    the others stay 0 and no computed pixel uses them. Without this, a clip whose edge
    came within 2 px of a tile edge read the whole neighbouring tile (300 KB at 512 px)."""
    if clip is None:
        return window
    left, bottom, right, top = shape(transform_geom("EPSG:4326", src.crs, clip)).bounds
    inv = ~src.transform
    cols, rows = zip(
        *(inv * (x, y) for x, y in ((left, top), (right, top), (left, bottom), (right, bottom))), strict=True
    )
    m = KERNEL_REACH_PX
    col0, row0 = math.floor(min(cols) - m), math.floor(min(rows) - m)
    col1, row1 = math.floor(max(cols) + m) + 1, math.floor(max(rows) + m) + 1
    return Window(col0, row0, col1 - col0, row1 - row0).intersection(window)


def fetch_window(
    src: rasterio.DatasetReader,
    window: Window,
    indexes: tuple[int, ...],
    names: tuple[str, ...],
    local: Path,
    needed: Window | None = None,
) -> None:
    """Copy a window of selected bands of the remote COG into a local tiled GeoTIFF;
    only the `needed` part of it is read (the rest is 0; see `needed_window`).

    Read in strips one source tile-row high, aligned on the tile grid: each strip is one
    multi-range request for exactly the tiles it crosses, and no tile is fetched twice
    (GDAL's multi-range reads bypass its HTTP cache, so overlapping reads would re-fetch).
    Memory stays at one strip whatever the window's size."""
    block_rows = src.block_shapes[0][0]
    profile = {
        "driver": "GTiff",
        "width": int(window.width),
        "height": int(window.height),
        "count": len(indexes),
        "dtype": src.dtypes[0],
        "crs": src.crs,
        "transform": src.window_transform(window),
        "nodata": src.nodata,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        # Work files compressed (fast level): a whole scene must not need ~10 GB of disk.
        "compress": "deflate",
        "zlevel": 1,
    }
    needed = window if needed is None else needed
    col, width = int(needed.col_off), int(needed.width)
    row, end = int(needed.row_off), int(needed.row_off + needed.height)
    with rasterio.open(local, "w", **profile) as dst:
        # GDAL fills what is not written with 0 (nodata when there is one).
        while row < end:
            stop = min(end, (row // block_rows + 1) * block_rows)
            strip = Window(col, row, width, stop - row)
            dst.write(
                src.read(indexes, window=strip),
                window=Window(col - window.col_off, row - window.row_off, width, stop - row),
            )
            row = stop
        dst.descriptions = names


def _pansharpen_vrt(pan: Path, ms: Path, plan: BuildPlan, dtype: str) -> str:
    """GDAL's pansharpened VRT (weighted Brovey) on the local windows: MS bands
    upsampled to the PAN grid (bilinear), scaled by PAN / pseudo-PAN. Every MS band
    feeds the pseudo-PAN (weights); only the selected ones are output."""
    out_band = {index: n for n, index in enumerate(plan.band_indexes, start=1)}
    spectral = []
    for index in range(1, len(plan.source.bands) + 1):
        dst = f' dstBand="{out_band[index]}"' if index in out_band else ""
        spectral.append(
            f'<SpectralBand{dst}><SourceFilename relativeToVRT="0">{escape(str(ms))}</SourceFilename>'
            f"<SourceBand>{index}</SourceBand></SpectralBand>"
        )
    gdal_type = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "float32": "Float32"}[dtype]
    descriptions = "".join(
        f'<VRTRasterBand dataType="{gdal_type}" band="{n}" subClass="VRTPansharpenedRasterBand">'
        f"<Description>{escape(name)}</Description></VRTRasterBand>"
        for n, name in enumerate(plan.band_names, start=1)
    )
    weights = ",".join(str(w) for w in plan.pan_weights)
    return (
        f'<VRTDataset subClass="VRTPansharpenedDataset">{descriptions}<PansharpeningOptions>'
        f"<Algorithm>WeightedBrovey</Algorithm><AlgorithmOptions><Weights>{weights}</Weights></AlgorithmOptions>"
        f"<Resampling>Bilinear</Resampling><NumThreads>1</NumThreads><NoData>{plan.nodata}</NoData>"
        "<SpatialExtentAdjustment>Intersection</SpatialExtentAdjustment>"
        f'<PanchroBand><SourceFilename relativeToVRT="0">{escape(str(pan))}</SourceFilename>'
        f"<SourceBand>1</SourceBand></PanchroBand>{''.join(spectral)}</PansharpeningOptions></VRTDataset>"
    )


def output_grid(
    src: rasterio.DatasetReader, dst_crs: CRS, clip: dict | None, pixel_size: float
) -> tuple[Affine, int, int]:
    """The output grid: the clip's (or the image's) bounds in the target CRS, snapped
    outward to whole pixels of the target grid (like `gdalwarp -tap`), so a product is
    the same whatever replica builds it. Pixel size: the source GSD when both CRS are
    in metres, else GDAL's default for the same number of pixels."""
    if clip is not None:
        left, bottom, right, top = shape(transform_geom("EPSG:4326", dst_crs, clip)).bounds
    else:
        left, bottom, right, top = transform_bounds(src.crs, dst_crs, *src.bounds, densify_pts=21)
    if dst_crs.is_projected and src.crs.is_projected:
        res = pixel_size
    else:
        transform, _, _ = calculate_default_transform(src.crs, dst_crs, src.width, src.height, *src.bounds)
        res = abs(transform.a)
    # In the source's own CRS, snap to the source grid: pixels are copied, not resampled.
    same = dst_crs == src.crs and res == pixel_size
    x0, y0 = (src.transform.c % res, src.transform.f % res) if same else (0.0, 0.0)
    left, bottom = x0 + math.floor((left - x0) / res) * res, y0 + math.floor((bottom - y0) / res) * res
    right, top = x0 + math.ceil((right - x0) / res) * res, y0 + math.ceil((top - y0) / res) * res
    width, height = max(1, round((right - left) / res)), max(1, round((top - bottom) / res))
    return Affine(res, 0.0, left, 0.0, -res, top), width, height


def _cutline(src: rasterio.DatasetReader, clip: dict) -> str:
    """The clip as WKT in the source's pixel/line coordinates (what GDAL's CUTLINE takes)."""
    g = shape(transform_geom("EPSG:4326", src.crs, clip))
    inv = ~src.transform
    return affinity.affine_transform(g, [inv.a, inv.b, inv.d, inv.e, inv.xoff, inv.yoff]).wkt


def crs_code(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _no_projection() -> ProductRefused:
    return ProductRefused(
        ProductFailureReason.UNSUPPORTED_OPTION,
        "the image has no map projection (sensor geometry): it cannot be clipped yet",
        "l'image n'a pas de projection cartographique (géométrie capteur) : pas de découpe possible",
    )


def too_large(width: int, height: int, bands: int, limit: int) -> ProductRefused:
    return ProductRefused(
        ProductFailureReason.UNSUPPORTED_OPTION,
        f"the product would have {width}x{height} pixels x {bands} bands, more than the "
        f"{limit} allowed: ask for a smaller area or fewer bands",
        f"le produit aurait {width}x{height} pixels x {bands} bandes, plus que les "
        f"{limit} permis : demandez une zone plus petite ou moins de bandes",
    )


def _check_window(window: Window, bands: int, limit: int) -> None:
    """Refuse before reading when the source window alone is far beyond the output limit
    (reprojection changes the pixel count a little; the exact check follows the read)."""
    width, height = int(window.width), int(window.height)
    if width * height * bands > 2 * limit:
        raise too_large(width, height, bands, limit)


def fetch_sources(plan: BuildPlan, work: Path, max_output_pixels: int | None = None) -> Path:
    """Bring the windows the product needs from the archive; return the local dataset
    to warp (the selected bands, or the pansharpened VRT on the PAN and MS windows)."""
    limit = max_output_pixels or 2**62
    with rasterio.open(_vsis3(plan.source)) as src:
        if src.crs is None:
            raise _no_projection()
        if refused := band_mismatch(plan.source, src.count, tuple(src.descriptions)):
            raise refused
        if plan.pan is None:
            local = work / "window.tif"
            window = source_window(src, plan.clip)
            _check_window(window, len(plan.band_indexes), limit)
            needed = needed_window(src, plan.clip, window)
            fetch_window(src, window, plan.band_indexes, plan.band_names, local, needed)
            return local
        with rasterio.open(_vsis3(plan.pan)) as pan:
            if pan.crs is None:
                raise _no_projection()
            if refused := band_mismatch(plan.pan, pan.count, tuple(pan.descriptions)):
                raise refused
            pan_window = source_window(pan, plan.clip)
            _check_window(pan_window, src.count, limit)
            pan_needed = needed_window(pan, plan.clip, pan_window)
            fetch_window(pan, pan_window, (1,), ("P",), work / "pan.tif", pan_needed)
            # The same ground in the MS grid, one MS pixel wider each side for the kernel.
            left, bottom, right, top = rasterio.windows.bounds(pan_window, pan.transform)
            ms_window = (
                rasterio.windows.from_bounds(left, bottom, right, top, src.transform)
                .round_offsets(op="floor")
                .round_lengths(op="ceil")
            )
            ms_window = Window(
                ms_window.col_off - 1, ms_window.row_off - 1, ms_window.width + 2, ms_window.height + 2
            )
            ms_window = ms_window.intersection(Window(0, 0, src.width, src.height))
            every_band = tuple(range(1, src.count + 1))
            fetch_window(src, ms_window, every_band, plan.source.bands[: src.count], work / "ms.tif")
            vrt = work / "pansharpened.vrt"
            vrt.write_text(_pansharpen_vrt(work / "pan.tif", work / "ms.tif", plan, src.dtypes[0]))
            return vrt


def write_product(plan: BuildPlan, out: Path, work: Path, max_output_pixels: int) -> str:
    """Write the product file; return its CRS code. Raises ProductRefused."""
    local = fetch_sources(plan, work, max_output_pixels)
    warped = work / "warped.tif"
    with rasterio.open(local) as src:
        dst_crs = CRS.from_user_input(plan.dst_crs) if plan.dst_crs else src.crs
        transform, width, height = output_grid(src, dst_crs, plan.clip, abs(src.transform.a))
        if width * height * src.count > max_output_pixels:
            raise too_large(width, height, src.count, max_output_pixels)
        extras = {"CUTLINE": _cutline(src, plan.clip)} if plan.clip is not None else {}
        with WarpedVRT(
            src,
            crs=dst_crs,
            transform=transform,
            width=width,
            height=height,
            resampling=RESAMPLING,
            nodata=plan.nodata,
            **extras,
        ) as vrt:
            # Warp once into a local tiled file: the output drivers read their source
            # twice (overviews, then the image).
            rasterio.shutil.copy(
                vrt,
                warped,
                driver="GTiff",
                TILED="YES",
                BLOCKXSIZE="512",
                BLOCKYSIZE="512",
                COMPRESS="DEFLATE",
                ZLEVEL="1",
            )
    with rasterio.open(warped, "r+") as local_out:
        local_out.descriptions = plan.band_names
    with rasterio.open(warped) as local_out:
        if plan.format == OutputFormat.COG:
            rasterio.shutil.copy(local_out, out, driver="COG", **COG_OPTIONS)
        else:
            rasterio.shutil.copy(local_out, out, driver="JP2OpenJPEG", **JP2_OPTIONS)
    return crs_code(dst_crs)


@dataclass
class BuildResult:
    status: str  # "built" or "refused"
    object_key: str = ""
    size_bytes: int = 0
    sha256: str = ""
    crs: str = ""
    bytes_read: int = 0
    bytes_read_by_action: dict[str, int] = field(default_factory=dict)
    read_requests: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    built_by: str = ""
    reason_code: str = ""
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_product(plan: BuildPlan, settings: BuildSettings) -> dict[str, Any]:
    """Run in a worker process: build, checksum and upload one product.

    The upload is a single PUT of the finished file to its deterministic key: a
    product is either absent or complete in the bucket, never partial.
    """
    from dinamis_shared.clients import s3_client

    started, cpu0 = time.monotonic(), time.process_time()
    Path(settings.work_dir).mkdir(parents=True, exist_ok=True)
    gdal_stats.reset()
    with tempfile.TemporaryDirectory(dir=settings.work_dir, prefix="product-") as tmp:
        work = Path(tmp)
        out = work / Path(plan.object_key).name
        try:
            options = gdal_env(settings)
            # A worker process is ours alone: these go into its environment, where GDAL
            # reads them.
            os.environ.update(process_env(settings))
            with rasterio.Env(**{k: v for k, v in options.items() if not k.startswith("AWS_")}):
                crs = write_product(plan, out, work, settings.max_output_pixels)
        except ProductRefused as refused:
            return BuildResult(
                status="refused", reason_code=refused.reason.value, reason=refused.text
            ).as_dict()
        except (RasterioError, CRSError) as exc:
            # Transient S3 failures are retried by GDAL itself; what remains is the
            # caller's to retry a few times, then to report as unreadable.
            raise SourceUnreadable(f"{type(exc).__name__}: {exc}") from None
        size, digest = out.stat().st_size, sha256_file(out)
        bytes_read = gdal_stats.downloaded_bytes()
        by_action, read_requests = gdal_stats.downloaded_by_action(), gdal_stats.requests()
        client = _s3(settings, s3_client)
        try:
            client.fput_object(
                settings.delivery_bucket,
                plan.object_key,
                str(out),
                content_type="image/tiff" if plan.format == OutputFormat.COG else "image/jp2",
                metadata={
                    "sha256": digest,
                    "crs": crs,
                    "product-key": plan.product_key,
                    "built-by": settings.replica_id,
                },
            )
        except Exception as exc:
            # minio's S3Error/ServerError cannot be unpickled: raised as they are, one failed
            # upload would break the whole process pool. A plain, picklable error instead.
            raise UploadFailed(f"{type(exc).__name__}: {exc}"[:1000]) from None
    return BuildResult(
        status="built",
        object_key=plan.object_key,
        size_bytes=size,
        sha256=digest,
        crs=crs,
        bytes_read=bytes_read,
        bytes_read_by_action=by_action,
        read_requests=read_requests,
        seconds=time.monotonic() - started,
        cpu_seconds=time.process_time() - cpu0,
        built_by=settings.replica_id,
    ).as_dict()


class SourceUnreadable(Exception):
    """GDAL could not read the archive image (after its own retries)."""


_CLIENT: Any = None


def _s3(settings: BuildSettings, factory: Any) -> Any:
    global _CLIENT
    if _CLIENT is None:
        from pydantic import SecretStr

        from dinamis_shared.settings import ServiceSettings

        _CLIENT = factory(
            ServiceSettings(
                s3_endpoint=settings.s3_endpoint,
                s3_secure=settings.s3_secure,
                s3_region=settings.s3_region,
                s3_access_key=settings.s3_access_key,
                s3_secret_key=SecretStr(settings.s3_secret_key),
            ),
            timeout_s=60,
        )
    return _CLIENT


def warm_up(hold_s: float = 0.3) -> None:
    """Pay a worker's one-time costs before the first order: GDAL drivers, PROJ's
    database, the ctypes handle on libgdal. Held a moment so every worker gets one."""
    from rasterio.warp import transform as warp_transform

    warp_transform("EPSG:32631", "EPSG:2154", [600_000.0], [5_000_000.0])
    gdal_stats.reset()
    time.sleep(hold_s)


class UploadFailed(ConnectionError):
    """The product could not be uploaded (the object store refused or failed): retried
    like an outage. A ConnectionError so that `is_outage` sees it as one."""


def sweep_work_dir(work_dir: str, older_than_s: float = 6 * 3600) -> int:
    """Remove work directories left by killed workers (older than any build can take;
    replicas on one machine share the directory, so recent ones are left alone)."""
    import shutil

    root, removed = Path(work_dir), 0
    if not root.is_dir():
        return 0
    for entry in root.glob("product-*"):
        try:
            if entry.is_dir() and time.time() - entry.stat().st_mtime > older_than_s:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


def worker_init(parent_pid: int | None = None) -> None:
    """Process-pool initializer: one GDAL thread per worker; die with the service.

    A worker whose service process is killed must not finish (and upload) its product
    behind the back of the replica that takes the request over: Linux's parent-death
    signal ends it at once."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("GDAL_NUM_THREADS", "1")
    # Before GDAL's first network access in this process (read once; see process_env).
    os.environ.setdefault("CPL_VSIL_CURL_CHUNK_SIZE", str(READ_CHUNK_BYTES))
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        # The parent died before prctl: do not linger. Compare with the parent's pid, not 1
        # (in a container the service itself may be pid 1).
        if parent_pid is not None and os.getppid() != parent_pid:
            os._exit(1)
