"""The reporting service's settings: env prefix `DINAMIS_REPORTING_`, then `DINAMIS_`."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dinamis_reporting.indicators.functions import PRICES_FILE
from dinamis_shared.acls import ARCHIVE_GROUP
from dinamis_shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DINAMIS_REPORTING_", extra="ignore")

    SERVICE: ClassVar[str] = "reporting"

    http_port: int = 8108
    s3_readiness_bucket: str = "events"

    # The event archive
    events_bucket: str = "events"
    archive_enabled: bool = True  # consume the topics (off: a read-only replica of the API)
    archive_group: str = ARCHIVE_GROUP
    archive_batch_records: int = Field(default=5_000, ge=1, le=100_000)
    archive_batch_s: float = Field(default=2.0, gt=0)
    compaction_interval_s: float = Field(default=900.0, gt=0)
    # Object store requests in flight while writing a batch (one file per topic and day).
    archive_concurrency: int = Field(default=16, ge=1, le=64)

    # The lake: a local DuckDB database mirroring the archive's files (rebuilt from the
    # bucket whenever it is lost), refreshed at most every `lake_refresh_s`.
    lake_dir: Path = Path.home() / ".cache" / "dinamis" / "reporting"
    lake_refresh_s: float = Field(default=30.0, ge=0)
    duckdb_threads: int = Field(default=2, ge=1)
    duckdb_memory_limit: str = "2GB"

    # The indicators' reference data: the coverage grid (GeoJSON of the 52 km cells; by
    # default the layer the portal ships) and the list prices per km² (`money`).
    coverage_grid_file: Path | None = None
    prices_file: Path = PRICES_FILE
    # The API: the most rows an indicator's answer may hold (a larger breakdown is refused).
    max_rows: int = Field(default=50_000, ge=1, le=1_000_000)

    # The platform's own organisation (orders' `staff_organisation_id`): its users holding
    # the `governance` role read the working group's indicators.
    staff_organisation_id: str = "dinamis"

    # Privacy: a cell of a breakdown counting fewer organisations is suppressed. Never
    # below 3 (the working group's rule).
    min_organisations: int = Field(default=3, ge=3)
