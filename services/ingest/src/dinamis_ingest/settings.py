"""The ingest service's settings (environment `DINAMIS_INGEST_*`, then `DINAMIS_*`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from dinamis_shared.settings import ServiceSettings

DEV_SUPPLIER_SECRET = "dinamis-dev-airbus-secret"


class IngestSettings(ServiceSettings):
    """Env prefix `DINAMIS_INGEST_`, falling back to the platform-wide `DINAMIS_`."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_INGEST_", extra="ignore")

    SERVICE: ClassVar[str] = "ingest"

    http_port: int = 8101
    catalog_url: str = "http://127.0.0.1:8102"
    max_package_bytes: int = 50 * 1024**3
    oversize_tolerance: float = 0.05
    work_dir: str | None = None
    # Convert an image while the rest of its package downloads (see the pipeline's
    # `_download_ahead`); off: download everything, then convert (the former behaviour).
    convert_ahead: bool = True
    # Per-supplier HMAC secrets for the push endpoint (JSON object in the environment).
    supplier_secrets: dict[str, SecretStr] = Field(
        default_factory=lambda: {"airbus": SecretStr(DEV_SUPPLIER_SECRET)}
    )
    # A 20k x 20k scene can take minutes: do not let Kafka think the consumer died.
    max_poll_interval_ms: int = 60 * 60 * 1000

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> IngestSettings:
        if self.environment == "production" and any(
            s.get_secret_value() == DEV_SUPPLIER_SECRET for s in self.supplier_secrets.values()
        ):
            raise ValueError("supplier_secrets holds the development secret")
        return self
