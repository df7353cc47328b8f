"""The delivery service's settings (environment `DINAMIS_DELIVERY_*`, then `DINAMIS_*`)."""

from __future__ import annotations

import os
import socket
import tempfile
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dinamis_delivery.service.builder import BuildSettings
from dinamis_shared.settings import ServiceSettings


class DeliverySettings(ServiceSettings):
    """Env prefix `DINAMIS_DELIVERY_`, falling back to the platform-wide `DINAMIS_`."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_DELIVERY_", extra="ignore")

    SERVICE: ClassVar[str] = "delivery"

    http_port: int = 8104
    # Worker processes for raster work; 0 = one per core.
    workers: int = Field(default=0, ge=0, le=256)
    # Products handed to the pool at once (running + queued); 0 = 2 x workers. The
    # consumer pauses while it is reached.
    max_in_flight: int = Field(default=0, ge=0, le=10_000)
    delivery_bucket: str = "delivery"
    # How long a product stays downloadable, then is deleted (its record stays: 410).
    retention_s: int = Field(default=14 * 24 * 3600, ge=1)
    expiry_sweep_s: float = Field(default=300.0, gt=0)
    # Life of a presigned download URL.
    download_url_ttl_s: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    # The S3 endpoint users download from (presigned URLs are signed for this host).
    download_endpoint: str | None = None
    work_dir: str = Field(default_factory=lambda: os.path.join(tempfile.gettempdir(), "dinamis-delivery"))
    max_output_pixels: int = Field(default=2_000_000_000, ge=1)
    # Identifies this replica in records and logs; defaults to host-pid.
    replica_id: str | None = None
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    # On a rebalance, how long to wait for requests of revoked partitions to finish.
    revoke_wait_s: float = Field(default=60.0, ge=0)
    shutdown_wait_s: float = Field(default=20.0, ge=0)

    @property
    def replica(self) -> str:
        return self.replica_id or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    def build_settings(self) -> BuildSettings:
        return BuildSettings(
            s3_endpoint=self.s3_endpoint,
            s3_secure=self.s3_secure,
            s3_region=self.s3_region,
            s3_access_key=self.s3_access_key,
            s3_secret_key=self.s3_secret_key.get_secret_value(),
            delivery_bucket=self.delivery_bucket,
            work_dir=self.work_dir,
            max_output_pixels=self.max_output_pixels,
            replica_id=self.replica,
        )
