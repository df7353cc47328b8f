"""Deliver the products of a `delivery-requested` event: resolve, check, build once,
record, announce.

Idempotency, from the inside out:
- the product key (order, item, options) names a deterministic object key and the
  record's `_id`;
- a product with a record is never rebuilt; one whose object is in the bucket but has
  no record yet (a crash between upload and record) is recorded from the object's
  metadata instead of being rebuilt;
- within one replica, concurrent requests for one key wait for the first build;
- across replicas (a zombie after a rebalance), a second build writes the same bytes
  to the same key, and the record insert is guarded by the unique `_id`;
- each (product key, product id, outcome) is announced with one deterministic event
  id, and marked announced in the record: a redelivered request emits nothing new.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from typing import Any

from minio.error import S3Error

from dinamis_delivery import metrics
from dinamis_delivery.adapters.catalog import CatalogItems
from dinamis_delivery.adapters.records import ProductRecords
from dinamis_delivery.domain.products import (
    BuildPlan,
    ProductRefused,
    ProductStatus,
    expires_at,
    plan_product,
    product_key,
)
from dinamis_delivery.service.builder import (
    BuildSettings,
    SourceUnreadable,
    build_product,
    warm_up,
    worker_init,
)
from dinamis_shared.bus import EventPublisher
from dinamis_shared.events import (
    DeliveryRequestedV1,
    ProductFailedV1,
    ProductFailureReason,
    ProductReadyV1,
    ProductSpec,
)
from dinamis_shared.retry import Backoff, retry

log = logging.getLogger(__name__)

SOURCE_READ_ATTEMPTS = 3


class BuildInterrupted(RuntimeError):
    """A worker process died (killed, out of memory): the request is retried a few
    times, then dead-lettered (a product that always kills its worker must not loop)."""


class BuildPool:
    """Raster work in worker processes, at most `max_in_flight` products submitted at once.

    `waiting` counts products handed in but not finished (running or waiting for a
    slot): the consumer pauses while it reaches `max_in_flight` (backpressure)."""

    def __init__(self, workers: int, max_in_flight: int) -> None:
        self.workers = workers
        self.max_in_flight = max_in_flight
        self.slots = asyncio.Semaphore(max_in_flight)
        self.waiting = 0
        self.running = 0
        self.executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn: no fork of a process running an event loop and driver threads.
        return ProcessPoolExecutor(
            self.workers, mp_context=get_context("spawn"), initializer=worker_init, initargs=(os.getpid(),)
        )

    @property
    def full(self) -> bool:
        return self.waiting >= self.max_in_flight

    def warm_up(self) -> None:
        """Start the worker processes now (each imports GDAL once), not on the first order."""
        for _ in range(self.workers):
            self.executor.submit(warm_up)

    async def run(self, plan: BuildPlan, settings: BuildSettings) -> dict[str, Any]:
        self.waiting += 1
        metrics.QUEUE_DEPTH.labels("pool").set(max(0, self.waiting - self.running))
        try:
            async with self.slots:
                self.running += 1
                metrics.IN_FLIGHT.set(self.running)
                metrics.QUEUE_DEPTH.labels("pool").set(max(0, self.waiting - self.running))
                executor = self.executor
                try:
                    loop = asyncio.get_running_loop()
                    return await loop.run_in_executor(executor, build_product, plan, settings)
                except BrokenProcessPool:
                    if self.executor is executor:  # the first victim replaces it, once
                        log.error("a worker process died; restarting the pool")
                        self.executor = self._new_executor()
                    raise BuildInterrupted("a worker process died during the build") from None
                finally:
                    self.running -= 1
                    metrics.IN_FLIGHT.set(self.running)
        finally:
            self.waiting -= 1
            metrics.QUEUE_DEPTH.labels("pool").set(max(0, self.waiting - self.running))

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def event_id(key: str, product_id: str, outcome: str) -> str:
    return str(uuid.UUID(hashlib.sha256(f"{key}/{product_id}/{outcome}".encode()).hexdigest()[:32]))


class Deliverer:
    def __init__(
        self,
        *,
        records: ProductRecords,
        catalog: CatalogItems,
        s3: Any,
        publisher: EventPublisher,
        pool: BuildPool,
        build_settings: BuildSettings,
        retention: timedelta,
    ) -> None:
        self.records = records
        self.catalog = catalog
        self.s3 = s3
        self.publisher = publisher
        self.pool = pool
        self.build_settings = build_settings
        self.retention = retention
        self._locks: dict[str, asyncio.Lock] = {}

    async def deliver(self, request: DeliveryRequestedV1) -> None:
        """Consumes `delivery-requested`; emits one `product-ready` or `product-failed`
        per product line. Raises on outages (the request is retried)."""
        results = await asyncio.gather(
            *(self.deliver_one(request, spec) for spec in request.products), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def deliver_one(self, request: DeliveryRequestedV1, spec: ProductSpec) -> None:
        """One product line: build the product unless it exists, then announce it.

        One key at a time in this replica: a concurrent duplicate waits, then finds
        the record (and its announcements) written by the first."""
        key = product_key(request.order_id, spec)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                record = await self.records.get(key)
                if record is None:
                    record = await self.records.insert(await self._build(request, spec, key))
                await self._announce(request, spec, record)
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._locks.pop(key, None)

    def _base_record(self, request: DeliveryRequestedV1, spec: ProductSpec, key: str) -> dict:
        return {
            "_id": key,
            "order_id": request.order_id,
            "organisation_id": request.organisation_id,
            "user_id": request.user_id,
            "collection": spec.collection,
            "item_id": spec.item_id,
            "product_ids": [spec.product_id],
            "published": [],
            # JSON text: FerretDB stores no nested arrays (GeoJSON coordinates are).
            "options_json": spec.model_dump_json(exclude={"product_id"}),
            "created_at": datetime.now(UTC),
        }

    def _failed(self, base: dict, refused: ProductRefused) -> dict:
        return self._failed_with(base, refused.reason.value, refused.text)

    def _failed_with(self, base: dict, reason_code: str, reason: str) -> dict:
        metrics.PRODUCTS.labels("failed").inc()
        return {**base, "status": ProductStatus.FAILED.value, "reason_code": reason_code, "reason": reason}

    async def _build(self, request: DeliveryRequestedV1, spec: ProductSpec, key: str) -> dict:
        base = self._base_record(request, spec, key)
        item = await self.catalog.get(spec.collection, spec.item_id)
        if item is None:
            return self._failed(
                base,
                ProductRefused(
                    ProductFailureReason.ITEM_NOT_FOUND,
                    f"item {spec.item_id} is not in collection {spec.collection}",
                    f"la scène {spec.item_id} n'est pas dans la collection {spec.collection}",
                ),
            )
        try:
            plan = plan_product(request.order_id, spec, item)
        except ProductRefused as refused:
            return self._failed(base, refused)
        base.update({"object_key": plan.object_key, "footprint_json": json.dumps(plan.footprint)})
        already = await self._uploaded(plan)
        if already is not None:
            result = already
        else:
            result = await self._run_build(plan)
            if result["status"] == "refused":
                return self._failed_with(base, result["reason_code"], result["reason"])
            metrics.BYTES_READ.inc(result["bytes_read"])
            metrics.BYTES_WRITTEN.inc(result["size_bytes"])
            metrics.BUILD_SECONDS.observe(result["seconds"])
        metrics.PRODUCTS.labels("built").inc()
        metrics.THROUGHPUT.record()
        built_at = datetime.now(UTC)
        return {
            **base,
            "status": ProductStatus.READY.value,
            "bucket": self.build_settings.delivery_bucket,
            "size_bytes": result["size_bytes"],
            "sha256": result["sha256"],
            "crs": result["crs"],
            "bytes_read": result.get("bytes_read", 0),
            # How: the header read at open, plain reads, multi-range tile reads; requests.
            "bytes_read_by_action": result.get("bytes_read_by_action", {}),
            "read_requests": result.get("read_requests", 0),
            "build_seconds": result.get("seconds", 0.0),
            "cpu_seconds": result.get("cpu_seconds", 0.0),
            "built_by": result.get("built_by", ""),
            # Found complete in the bucket (built before a crash), recorded, not rebuilt.
            "recovered": result.get("recovered", False),
            "built_at": built_at,
            "expires_at": expires_at(built_at, self.retention),
        }

    async def _run_build(self, plan: BuildPlan) -> dict[str, Any]:
        try:
            return await retry(
                lambda: self.pool.run(plan, self.build_settings),
                attempts=SOURCE_READ_ATTEMPTS,
                retry_if=lambda exc: isinstance(exc, SourceUnreadable),
                backoff=Backoff(base=0.25, cap=5.0, jitter=False),  # 0.5 s, 1 s, ...
                what="reading the archive image",
            )
        except SourceUnreadable as exc:
            return {
                "status": "refused",
                "reason_code": ProductFailureReason.SOURCE_UNREADABLE.value,
                "reason": f"L'image d'archive est illisible / the archive image is unreadable: {exc}",
            }

    async def _uploaded(self, plan: BuildPlan) -> dict[str, Any] | None:
        """A complete object at the product's key (uploaded before a crash), or None."""
        try:
            stat = await asyncio.to_thread(
                self.s3.stat_object, self.build_settings.delivery_bucket, plan.object_key
            )
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return None
            raise
        meta = {k.lower().removeprefix("x-amz-meta-"): v for k, v in (stat.metadata or {}).items()}
        if meta.get("product-key") != plan.product_key or not meta.get("sha256"):
            return None
        log.info("product found in the bucket, not rebuilt", extra={"object_key": plan.object_key})
        return {
            "size_bytes": stat.size,
            "sha256": meta["sha256"],
            "crs": meta.get("crs", ""),
            "built_by": meta.get("built-by", ""),
            "recovered": True,
        }

    async def _announce(self, request: DeliveryRequestedV1, spec: ProductSpec, record: dict) -> None:
        key = record["_id"]
        if spec.product_id not in record.get("product_ids", []):
            await self.records.add_product_id(key, spec.product_id)
        if spec.product_id in record.get("published", []):
            return
        status = record["status"]
        common = {
            "order_id": request.order_id,
            "product_id": spec.product_id,
            "organisation_id": request.organisation_id,
            "user_id": request.user_id,
            "item_id": spec.item_id,
        }
        if status == ProductStatus.READY.value:
            event: ProductReadyV1 | ProductFailedV1 = ProductReadyV1(
                **common,
                bucket=record["bucket"],
                object_key=record["object_key"],
                size_bytes=record["size_bytes"],
                sha256=record["sha256"],
                crs=record["crs"],
                footprint=json.loads(record["footprint_json"]),
                expires_at=record["expires_at"],
            )
        elif status == ProductStatus.FAILED.value:
            event = ProductFailedV1(**common, reason_code=record["reason_code"], reason=record["reason"])
        else:
            log.info("product already expired, not announced again", extra={"product_key": key})
            return
        await self.publisher.publish(event, event_id=event_id(key, spec.product_id, status))
        await self.records.mark_published(key, spec.product_id)
        log.info(
            "product announced",
            extra={"product_id": spec.product_id, "status": status, "order_id": request.order_id},
        )

    async def expire(self, now: datetime | None = None) -> int:
        """Delete expired products from the bucket; their records stay (downloads say 410)."""
        now = now or datetime.now(UTC)
        count = 0
        for record in await self.records.expired(now):
            await asyncio.to_thread(self.s3.remove_object, record["bucket"], record["object_key"])
            await self.records.mark_expired(record["_id"], now)
            count += 1
        if count:
            log.info("expired products removed", extra={"count": count})
        return count
