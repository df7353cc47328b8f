"""The ingest use case: a staged supplier delivery becomes an immutable, verified
archive version and a STAC item, or is rejected with a precise reason.

Steps: list the staged package and check its size; download it, checking every
supplier checksum; find the DIMAP entry point (VOL_*.XML, else DIM_*.XML); check
every file the metadata references is there; open each image (corrupt or not
georeferenced -> rejected); convert each to a validated COG; make a quicklook and
a thumbnail; hash every output; upload them; write the manifest LAST.

Idempotence: the delivery's fingerprint (its files' checksums) is kept in the
manifest. The same delivery again -> the existing version is announced again, no
new object is written. Different checksums -> the next version, linking the
previous one, which is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import numpy as np
from minio.error import S3Error
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import transform_bounds

from dinamis_ingest.adapters.objectstore import ObjectGrew, ObjectStore
from dinamis_ingest.domain import archive, catalog
from dinamis_ingest.domain.dimap import MAX_XML_BYTES, DimapImage, parse_dim, volume_components
from dinamis_ingest.domain.rejections import DeliveryRejected, safe_join
from dinamis_ingest.service import raster
from dinamis_shared.events import Mission, RejectionReason, SceneAcquiredV1, SceneIngestedV1
from dinamis_shared.hashing import sha256_file, sha256_text
from dinamis_shared.stac import validate_item

log = logging.getLogger(__name__)
ARCHIVE = "archive"
STAGING = "staging"
PARALLEL_TRANSFERS = 4
MULTIPART_BYTES = 64 * 1024**2  # the object store adapter's part size
MAX_FILES = 10_000
IMAGE_MAGIC = (
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00",
    b"MM\x00+",  # TIFF, BigTIFF
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",
    b"\xff\x4f\xff\x51",  # JP2 file, J2K codestream
)


@dataclass(frozen=True)
class PipelineConfig:
    public_s3_url: str = "http://127.0.0.1:8333"
    catalog_url: str = "http://127.0.0.1:8102"
    max_package_bytes: int = 50 * 1024**3
    oversize_tolerance: float = 0.05
    work_dir: str | None = None
    convert_ahead: bool = True


class IngestPipeline:
    def __init__(self, store: ObjectStore, config: PipelineConfig) -> None:
        self.store = store
        self.config = config

    def href(self, key: str) -> str:
        return f"{self.config.public_s3_url.rstrip('/')}/{ARCHIVE}/{key}"

    async def ingest(self, event: SceneAcquiredV1) -> SceneIngestedV1:
        if event.staging.bucket != STAGING:
            # Suppliers deliver into staging only: never archive (and publish) what lies in
            # another bucket, e.g. a member's upload.
            raise DeliveryRejected(
                RejectionReason.UNSAFE_PATH,
                f"deliveries are archived from the {STAGING!r} bucket only, not from "
                f"{event.staging.bucket!r} ({event.staging.bucket}/{event.staging.prefix})",
            )
        if event.mission not in {m.value for m in Mission}:
            raise DeliveryRejected(
                RejectionReason.UNKNOWN_MISSION,
                f"mission {event.mission!r} is not one DINAMIS archives "
                f"({', '.join(m.value for m in Mission)})",
            )
        with tempfile.TemporaryDirectory(prefix="ingest-", dir=self.config.work_dir) as tmp:
            return await self._ingest(event, Path(tmp))

    async def _staged_files(self, event: SceneAcquiredV1) -> dict[str, int]:
        prefix = event.staging.prefix
        objects = await self.store.list(event.staging.bucket, prefix)
        if not objects:
            raise DeliveryRejected(
                RejectionReason.MISSING_FILE, f"nothing staged under {event.staging.bucket}/{prefix}"
            )
        if len(objects) > MAX_FILES:
            raise DeliveryRejected(
                RejectionReason.OVERSIZED, f"{len(objects)} files staged, over {MAX_FILES}"
            )
        files = {safe_join("", o.key[len(prefix) :]): o.size for o in objects}
        for name in files:
            if any(len(part.encode()) > 255 for part in name.split("/")):
                raise DeliveryRejected(
                    RejectionReason.UNSAFE_PATH, f"{name[:300]!r}: a path part over 255 bytes"
                )
            parent = name.rsplit("/", 1)[0] if "/" in name else None
            while parent:
                if parent in files:
                    raise DeliveryRejected(
                        RejectionReason.UNSAFE_PATH, f"{parent!r} is both a file and a folder"
                    )
                parent = parent.rsplit("/", 1)[0] if "/" in parent else None
        total = sum(files.values())
        limit = self.config.max_package_bytes
        if event.announced_size_bytes:
            limit = min(
                limit, int(event.announced_size_bytes * (1 + self.config.oversize_tolerance)) + 1024**2
            )
        if total > limit:
            raise DeliveryRejected(
                RejectionReason.OVERSIZED,
                f"package holds {total} bytes, more than allowed ({limit}; announced "
                f"{event.announced_size_bytes or 'nothing'})",
            )
        missing = sorted(set(event.checksums or {}) - set(files))
        if missing:
            raise DeliveryRejected(
                RejectionReason.MISSING_FILE, f"files with a supplier checksum are not staged: {missing[:10]}"
            )
        return files

    async def _download(self, event: SceneAcquiredV1, files: dict[str, int], local: Path) -> dict[str, str]:
        """Fetch every staged file (a few at a time: S3 latency, not bandwidth, is the limit
        for the many small files), hashing while streaming. The first failure stops the
        others, and all are finished before it is raised (no thread left writing)."""
        limit = asyncio.Semaphore(PARALLEL_TRANSFERS)
        cancelled = threading.Event()

        async def one(rel: str, size: int) -> tuple[str, str]:
            async with limit:
                if cancelled.is_set():
                    raise asyncio.CancelledError
                try:
                    _, sha = await self.store.download(
                        event.staging.bucket, event.staging.prefix + rel, local / rel, size + 1, cancelled
                    )
                except ObjectGrew as exc:
                    raise DeliveryRejected(RejectionReason.OVERSIZED, str(exc)) from None
                except S3Error as exc:
                    if exc.code in ("NoSuchKey", "NoSuchBucket"):
                        raise DeliveryRejected(
                            RejectionReason.MISSING_FILE, f"{rel} vanished from staging"
                        ) from None
                    raise
            expected = (event.checksums or {}).get(rel)
            if expected is not None and expected != sha:
                raise DeliveryRejected(
                    RejectionReason.CHECKSUM_MISMATCH,
                    f"{rel}: SHA-256 {sha} differs from the supplier's {expected}",
                )
            return rel, sha

        async def guarded(rel: str, size: int) -> tuple[str, str]:
            try:
                return await one(rel, size)
            except BaseException:
                cancelled.set()
                raise

        results = await asyncio.gather(
            *(guarded(rel, size) for rel, size in sorted(files.items())), return_exceptions=True
        )
        errors = [
            r for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
        ]
        if errors:
            raise next((e for e in errors if isinstance(e, DeliveryRejected)), errors[0])
        return dict(results)  # type: ignore[arg-type]

    def _read_metadata(self, local: Path, files: dict[str, int], name: str) -> bytes:
        if files[name] > MAX_XML_BYTES:
            raise DeliveryRejected(RejectionReason.INVALID_METADATA, f"{name}: metadata file over 20 MiB")
        return (local / name).read_bytes()

    @staticmethod
    def _check_image_files(local: Path, image: DimapImage) -> None:
        """Only TIFF/BigTIFF and JPEG 2000 tiles: GDAL opens files by their content, so a
        'tile' that is really a VRT could make it read files outside the package."""
        for rel in image.data_files:
            with (local / rel).open("rb") as f:
                head = f.read(12)
            if not head.startswith(IMAGE_MAGIC):
                raise DeliveryRejected(
                    RejectionReason.CORRUPT_RASTER,
                    f"{rel}: not a TIFF or JPEG 2000 file (starts {head[:8]!r})",
                )

    def _images(self, local: Path, files: dict[str, int]) -> list[DimapImage]:
        images = self._parse_images(local, files)
        for image in images:
            self._check_image_files(local, image)
        return images

    def _parse_images(self, local: Path, files: dict[str, int]) -> list[DimapImage]:
        """The package's images from its metadata alone (VOL and DIM files, which must be
        downloaded): `_images` without the look at the image files themselves."""
        names = sorted(files)
        vols = [
            n for n in names if "/" not in n and n.upper().startswith("VOL_") and n.upper().endswith(".XML")
        ]
        if vols:
            dims = [d for v in vols for d in volume_components(self._read_metadata(local, files, v), v)]
        else:
            dims = [
                n
                for n in names
                if n.rsplit("/", 1)[-1].upper().startswith("DIM_") and n.upper().endswith(".XML")
            ]
        if not dims:
            raise DeliveryRejected(
                RejectionReason.INVALID_METADATA, "no VOL_*.XML or DIM_*.XML in the package"
            )
        images = []
        for dim in dims:
            if dim not in files:
                raise DeliveryRejected(
                    RejectionReason.MISSING_FILE, f"{dim} is listed by the volume but absent"
                )
            image = parse_dim(self._read_metadata(local, files, dim), dim)
            absent = [f for f in (*image.data_files, *image.referenced_files) if f not in files]
            if absent:
                raise DeliveryRejected(
                    RejectionReason.MISSING_FILE,
                    f"{dim} references files that are not in the package: {absent[:10]}",
                )
            images.append(image)
        return images

    async def _existing(self, scene_prefix: str, fingerprint: str) -> tuple[int, archive.Manifest | None]:
        """The latest archived version, and the version (any of them) holding this very
        delivery, if one does: replaying an older delivery must not make a new version."""
        keys = [o.key for o in await self.store.list(ARCHIVE, scene_prefix)]
        versions = archive.manifest_versions(keys)
        for version in reversed(versions):
            doc = await self.store.get_json(
                ARCHIVE, archive.version_prefix(scene_prefix, version) + archive.MANIFEST
            )
            if doc and doc.get("delivery_fingerprint") == fingerprint:
                return versions[-1], archive.Manifest.model_validate(doc)
        return (versions[-1] if versions else 0), None

    async def _announce_existing(
        self, event: SceneAcquiredV1, manifest: archive.Manifest, prefix: str
    ) -> SceneIngestedV1:
        item = await self.store.get_json(ARCHIVE, prefix + "item.json")
        if item is None:  # written before the manifest: never absent unless someone deleted it
            raise RuntimeError(f"{prefix} has a manifest but no item.json")
        raw = manifest_bytes(manifest)
        return SceneIngestedV1(
            scene_id=event.scene_id,
            version=manifest.version,
            supersedes_version=manifest.supersedes_version,
            collection=manifest.collection,
            item=item,
            archive_prefix=prefix,
            manifest_sha256=sha256_text(raw),
            acquisition_request_id=event.acquisition_request_id,
        )

    async def _ingest(self, event: SceneAcquiredV1, work: Path) -> SceneIngestedV1:
        steps = Steps()
        files = await self._staged_files(event)
        steps.mark("list")
        local = work / "staged"
        ahead = Ahead(work / "ahead")
        try:
            return await self._ingest_downloaded(event, work, files, local, ahead, steps)
        finally:
            await ahead.settle()  # no conversion left writing into `work` once it is deleted

    async def _download_ahead(
        self, event: SceneAcquiredV1, files: dict[str, int], local: Path, ahead: Ahead
    ) -> dict[str, str]:
        """Download the package, its metadata first, then each image's files, the smallest
        image first; once an image is in (and more remain to download), start converting
        it ahead, overlapping the conversion with the rest of the download. A conversion
        ahead is only ever a head start: the checks after the download run in full and in
        the same order as without it, and its output is used only if they pass (any
        failure ahead is forgotten, the image then converted again in order)."""
        xml = {r: n for r, n in files.items() if r.upper().endswith(".XML") and n <= MAX_XML_BYTES}
        checksums = await self._download(event, xml, local)
        try:
            images = await asyncio.to_thread(self._parse_images, local, files)
        except DeliveryRejected:
            images = []  # said after the download, in the usual order of the checks
        groups: list[tuple[DimapImage | None, dict[str, int]]] = []
        taken = set(xml)
        for image in sorted(images, key=lambda i: sum(files.get(f, 0) for f in i.data_files)):
            group = {f: files[f] for f in image.data_files if f in files and f not in taken}
            taken |= set(group)
            groups.append((image, group))
        rest = {r: n for r, n in files.items() if r not in taken}
        groups.insert(0, (None, rest))
        for k, (done, group) in enumerate(groups):
            checksums |= await self._download(event, group, local)
            if done is not None and k < len(groups) - 1 and await self._worth_ahead(event, images, files):
                ahead.start(done, self._convert_ahead, event, done, local, sum(files.values()))
        return checksums

    async def _worth_ahead(
        self, event: SceneAcquiredV1, images: list[DimapImage], files: dict[str, int]
    ) -> bool:
        """Not when the supplier's checksums already name an archived version (a replay:
        nothing will be converted)."""
        if not event.checksums or set(event.checksums) != set(files):
            return True
        primary = next((img for img in images if img.spectral_processing.upper() != "P"), images[0])
        collection = catalog.collection_id(primary.mission, primary.processing_level, event.campaign)
        scene_prefix = archive.scene_prefix(collection, primary.acquired_at, event.scene_id)
        _, manifest = await self._existing(scene_prefix, archive.delivery_fingerprint(event.checksums))
        return manifest is None

    def _convert_ahead(
        self, event: SceneAcquiredV1, image: DimapImage, local: Path, package: int, dst: Path
    ) -> None:
        """The checks this one image must pass before GDAL reads its pixels (the same as
        in `_ingest`), then its conversion and validation. Blocking: run in a thread."""
        self._check_image_files(local, image)
        if image.mission.value != event.mission:
            raise DeliveryRejected(RejectionReason.INVALID_METADATA, "another mission")
        info = raster.inspect(str(local / image.path))
        if image.bands and len(image.bands) != info.count:
            raise DeliveryRejected(RejectionReason.INVALID_METADATA, "band count")
        _check_dimensions([info], package)
        raster.convert_cog(str(local / image.path), dst, image.bands)
        raster.validate_cog(dst)

    async def _ingest_downloaded(
        self,
        event: SceneAcquiredV1,
        work: Path,
        files: dict[str, int],
        local: Path,
        ahead: Ahead,
        steps: Steps,
    ) -> SceneIngestedV1:
        if self.config.convert_ahead:
            checksums = await self._download_ahead(event, files, local, ahead)
        else:
            checksums = await self._download(event, files, local)
        steps.mark("download")
        images = await asyncio.to_thread(self._images, local, files)
        for image in images:
            if image.mission.value != event.mission:
                raise DeliveryRejected(
                    RejectionReason.INVALID_METADATA,
                    f"{image.path}: metadata says {image.mission.value}, "
                    f"the delivery was announced as {event.mission}",
                )
        infos = [await asyncio.to_thread(raster.inspect, str(local / img.path)) for img in images]
        for img, info in zip(images, infos, strict=True):
            if img.bands and len(img.bands) != info.count:
                raise DeliveryRejected(
                    RejectionReason.INVALID_METADATA,
                    f"{img.path}: the image has {info.count} bands, the metadata names "
                    f"{len(img.bands)} ({' '.join(b.id for b in img.bands)})",
                )
        _check_dimensions(infos, sum(files.values()))
        steps.mark("parse")
        primary = next((img for img in images if img.spectral_processing.upper() != "P"), images[0])
        collection = catalog.collection_id(primary.mission, primary.processing_level, event.campaign)
        scene_prefix = archive.scene_prefix(collection, primary.acquired_at, event.scene_id)
        fingerprint = archive.delivery_fingerprint(checksums)
        latest, manifest = await self._existing(scene_prefix, fingerprint)
        steps.mark("existing")
        if manifest is not None:
            log.info(
                "same delivery again: announcing the archived version", extra={"scene_id": event.scene_id}
            )
            return await self._announce_existing(
                event, manifest, archive.version_prefix(scene_prefix, manifest.version)
            )
        version = latest + 1
        prefix = archive.version_prefix(scene_prefix, version)
        out = work / "out"
        out.mkdir()
        assets: list[catalog.ArchivedAsset] = []
        archived: list[archive.ArchivedFile] = []
        sources: dict[str, Path] = {}  # archived name -> local file

        def add(key: str, path: Path, name: str, media: str, roles: list[str], title: str, **kw) -> None:
            size, sha = path.stat().st_size, sha256_file(path)
            steps.mark("hash")
            assets.append(
                catalog.ArchivedAsset(key, self.href(prefix + name), media, roles, size, sha, title, **kw)
            )
            archived.append(
                archive.ArchivedFile(path=name, size=size, sha256=sha, media_type=media, role=key)
            )
            sources[name] = path

        cog_type = "image/tiff; application=geotiff; profile=cloud-optimized"
        previews_from: tuple[Path, DimapImage, raster.RasterInfo] | None = None
        for image, info in zip(images, infos, strict=True):
            kind = {"P": "pan", "MS": "ms", "PMS": "pms", "MS-FS": "ms"}.get(
                image.spectral_processing.upper(), "image"
            )
            if any(a.key == kind for a in assets):
                kind = f"{kind}-{len(assets)}"
            cog = out / f"{kind}.tif"
            if await ahead.take(image, cog):
                steps.mark(f"cog-{kind}-ahead-wait")
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", NotGeoreferencedWarning)
                    await asyncio.to_thread(raster.convert_cog, str(local / image.path), cog, image.bands)
                steps.mark(f"cog-{kind}")
                await asyncio.to_thread(raster.validate_cog, cog)
                steps.mark("validate")
            add(
                kind,
                cog,
                cog.name,
                cog_type,
                ["data"],
                f"{kind.upper()} image (COG)",
                image=image,
                shape=(info.height, info.width),
                transform=info.transform,
            )
            meta = local / image.path
            add(
                f"metadata-{kind}",
                meta,
                f"{kind}-metadata.xml",
                "application/xml",
                ["metadata"],
                f"Airbus DIMAP metadata ({kind.upper()})",
            )
            if kind != "pan" or previews_from is None:
                previews_from = (cog, image, info)
        assert previews_from is not None, "_images() returns at least one image"
        cog, image, info = previews_from
        rgb = _rgb_bands(image)
        quicklook, thumbnail = out / "quicklook.jpg", out / "thumbnail.png"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            await asyncio.to_thread(raster.previews, cog, quicklook, thumbnail, rgb)
        steps.mark("previews")
        add("overview", quicklook, quicklook.name, "image/jpeg", ["overview"], "Quicklook")
        add("thumbnail", thumbnail, thumbnail.name, "image/png", ["thumbnail"], "Thumbnail")

        footprint = primary.footprint or _bounds_footprint(info)
        # Deterministic: a retry of the same delivery writes byte-identical files.
        now = event.delivered_at.astimezone(UTC)
        predecessor = (
            self.href(archive.version_prefix(scene_prefix, latest) + "item.json") if latest else None
        )
        item = catalog.build_item(
            scene_id=event.scene_id,
            collection=collection,
            version=version,
            primary=primary,
            primary_epsg=next(i.epsg for img, i in zip(images, infos, strict=True) if img is primary),
            footprint=footprint,
            assets=assets,
            created=now,
            supplier_product_id=event.supplier_product_id,
            predecessor_href=predecessor,
            collection_href=f"{self.config.catalog_url.rstrip('/')}/collections/{collection}",
        )
        errors = validate_item(item)
        if errors:  # out-of-range metadata values (cloud cover of 150 %...)
            raise DeliveryRejected(
                RejectionReason.INVALID_METADATA, f"metadata gives an invalid STAC item: {errors[:5]}"
            )
        item_path = out / "item.json"
        item_path.write_bytes(json.dumps(item, indent=1).encode())
        archived.append(
            archive.ArchivedFile(
                path="item.json",
                size=item_path.stat().st_size,
                sha256=sha256_file(item_path),
                media_type="application/geo+json",
                role="item",
            )
        )
        sources["item.json"] = item_path
        manifest = archive.Manifest(
            scene_id=event.scene_id,
            version=version,
            collection=collection,
            supplier=event.supplier,
            supplier_product_id=event.supplier_product_id,
            delivery_fingerprint=fingerprint,
            supersedes_version=latest or None,
            created_at=now,
            files=archived,
        )  # built (and validated) before anything is uploaded
        steps.mark("item")
        limit = asyncio.Semaphore(PARALLEL_TRANSFERS)
        # A multipart file already sends its parts in parallel: one such file at a time
        # (several at once overran a loaded S3 server, whose stalls failed the parts and
        # so retried the whole scene), the small files alongside.
        multipart = asyncio.Semaphore(1)

        async def upload(f: archive.ArchivedFile) -> None:
            async with multipart if f.size > MULTIPART_BYTES else contextlib.nullcontext(), limit:
                await self.store.upload(ARCHIVE, prefix + f.path, sources[f.path], f.media_type)

        results = await asyncio.gather(*(upload(f) for f in archived), return_exceptions=True)
        if failed := [r for r in results if isinstance(r, BaseException)]:
            raise failed[0]  # every upload has finished; the version has no manifest yet
        steps.mark("upload")
        raw = manifest_bytes(manifest)
        await self.store.put_bytes(ARCHIVE, prefix + archive.MANIFEST, raw, "application/json")  # last
        steps.mark("manifest")
        log.info(
            "scene archived",
            extra={
                "scene_id": event.scene_id,
                "version": version,
                "prefix": prefix,
                "seconds": steps.rounded(),
            },
        )
        return SceneIngestedV1(
            scene_id=event.scene_id,
            version=version,
            supersedes_version=latest or None,
            collection=collection,
            item=item,
            archive_prefix=prefix,
            manifest_sha256=sha256_text(raw),
            acquisition_request_id=event.acquisition_request_id,
        )


class Ahead:
    """Conversions started ahead of their turn (see `IngestPipeline._download_ahead`),
    each in a thread writing into a folder of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tasks: dict[str, tuple[asyncio.Task, Path]] = {}

    def start(self, image: DimapImage, convert: Callable[..., None], *args: object) -> None:
        dst = self.folder / str(len(self.tasks)) / "image.tif"
        dst.parent.mkdir(parents=True)
        self.tasks[image.path] = (asyncio.ensure_future(asyncio.to_thread(convert, *args, dst)), dst)

    async def take(self, image: DimapImage, dest: Path) -> bool:
        """Move the image's COG converted ahead to `dest`: False if there is none (not
        started, or failed: the caller converts it, and so says why)."""
        started = self.tasks.pop(image.path, None)
        if started is None:
            return False
        task, dst = started
        try:
            await task
        except Exception as exc:
            log.info("conversion ahead failed, converting again in order: %s", exc)
            return False
        dst.replace(dest)
        return True

    async def settle(self) -> None:
        """Wait for every conversion still running (GDAL cannot be interrupted)."""
        await asyncio.gather(*(t for t, _ in self.tasks.values()), return_exceptions=True)
        self.tasks.clear()


class Steps:
    """Seconds spent in each step of one ingest (a step met several times adds up), for
    the log and the benchmark's breakdown."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = self._start = time.perf_counter()

    def mark(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - self._last
        self._last = now

    def rounded(self) -> dict[str, float]:
        return {
            **{k: round(v, 2) for k, v in self.seconds.items()},
            "total": round(self._last - self._start, 2),
        }


MAX_SIDE_PX = 100_000
MAX_EXPANSION = 20  # uncompressed pixels vs delivered bytes (lossless JP2 stays far below)


def _check_dimensions(infos: list[raster.RasterInfo], package_bytes: int) -> None:
    """A DIM may declare a raster far larger than the tiles it ships (GDAL would then
    write an enormous, mostly empty COG): refuse that before converting anything."""
    for info in infos:
        if max(info.width, info.height) > MAX_SIDE_PX:
            raise DeliveryRejected(
                RejectionReason.INVALID_METADATA,
                f"image of {info.width} x {info.height} px exceeds {MAX_SIDE_PX}",
            )
    pixels_bytes = sum(i.width * i.height * i.count * np.dtype(i.dtype).itemsize for i in infos)
    if pixels_bytes > MAX_EXPANSION * package_bytes + 64 * 1024**2:
        raise DeliveryRejected(
            RejectionReason.INVALID_METADATA,
            f"the metadata declares {pixels_bytes} bytes of pixels for a {package_bytes}-byte package",
        )


def _rgb_bands(image: DimapImage) -> tuple[int, ...]:
    """The COG's red, green and blue band numbers, from the bands' stored order (band n
    is `image.bands[n-1]`); the first band alone when the image has no colour."""
    names = [b.get("common_name") for b in catalog.eo_bands(image.bands)]
    if all(c in names for c in ("red", "green", "blue")):
        return tuple(names.index(c) + 1 for c in ("red", "green", "blue"))
    return (1,)


def _bounds_footprint(info: raster.RasterInfo) -> list[tuple[float, float]]:
    if info.wkt is None:
        raise DeliveryRejected(RejectionReason.NOT_GEOREFERENCED, "no footprint in the metadata and no CRS")
    try:
        w, s, e, n = transform_bounds(info.wkt, "EPSG:4326", *info.bounds)
    except Exception as exc:  # an exotic CRS PROJ cannot transform
        raise DeliveryRejected(
            RejectionReason.NOT_GEOREFERENCED, f"cannot place the image on Earth: {exc}"
        ) from None
    return [(w, n), (e, n), (e, s), (w, s), (w, n)]


def manifest_bytes(manifest: archive.Manifest) -> bytes:
    return json.dumps(manifest.model_dump(mode="json"), sort_keys=True).encode()
