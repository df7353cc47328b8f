"""Progress metrics of the delivery service (Prometheus, on /metrics)."""

from __future__ import annotations

import time
from collections import deque

from prometheus_client import Counter, Gauge, Histogram

PRODUCTS = Counter("dinamis_delivery_products_total", "Products handled, by outcome", ["outcome"])
BYTES_READ = Counter("dinamis_delivery_bytes_read_total", "Bytes read from the archive (GDAL network stats)")
BYTES_WRITTEN = Counter("dinamis_delivery_bytes_written_total", "Bytes of products uploaded")
BUILD_SECONDS = Histogram(
    "dinamis_delivery_build_seconds",
    "Wall time to build one product in a worker",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)
QUEUE_DEPTH = Gauge(
    "dinamis_delivery_queue_depth",
    "Work waiting: 'kafka' = requests not yet fetched (lag), 'pool' = products waiting for a worker",
    ["stage"],
)
IN_FLIGHT = Gauge("dinamis_delivery_products_in_flight", "Products being built in the process pool")
PRODUCTS_PER_MINUTE = Gauge("dinamis_delivery_products_per_minute", "Products finished over the last minute")
ASSIGNED = Gauge("dinamis_delivery_assigned_partitions", "Partitions of delivery-requested this replica owns")
PAUSED = Gauge("dinamis_delivery_consumer_paused", "1 while the consumer is paused (backpressure)")


class Throughput:
    """Products finished in the last minute."""

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self.done: deque[float] = deque()

    def record(self) -> None:
        self.done.append(time.monotonic())
        self.refresh()

    def refresh(self) -> None:
        horizon = time.monotonic() - self.window_s
        while self.done and self.done[0] < horizon:
            self.done.popleft()
        PRODUCTS_PER_MINUTE.set(len(self.done) * 60.0 / self.window_s)


THROUGHPUT = Throughput()
