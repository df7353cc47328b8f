"""Settings base: one `BaseSettings` per service, with its own env prefix.

A service reads `DINAMIS_<SERVICE>_<FIELD>` first, then the platform-wide
`DINAMIS_<FIELD>` (so one `DINAMIS_KAFKA_BOOTSTRAP_SERVERS` serves all five
services, and one service can still be pointed elsewhere), then the defaults,
which match the local stack (`deploy/local/stack`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# The local stack's development credentials: refused outside development.
DEV_S3_SECRET = "dinamis-dev-secret-key"
DEV_PG_PASSWORD = "dinamis-dev"


class ServiceSettings(BaseSettings):
    """Connection settings every service shares, plus its HTTP bind address."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_", extra="ignore")

    SERVICE: ClassVar[str] = "service"

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"

    http_host: str = "127.0.0.1"
    http_port: int = 8000

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_client_id: str | None = None

    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_database: str = "dinamis"

    s3_endpoint: str = "127.0.0.1:8333"
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    s3_access_key: str = "dinamis-dev"
    s3_secret_key: SecretStr = SecretStr(DEV_S3_SECRET)

    postgres_dsn: SecretStr = SecretStr(f"postgresql://dinamis:{DEV_PG_PASSWORD}@127.0.0.1:55432/dinamis")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025

    readiness_timeout_s: float = 2.0

    # Identity: the provider's JWKS URL in production; a local key file on a laptop.
    auth_jwks_url: str | None = None
    auth_issuer: str = "https://auth.dinamis.local/"
    auth_audience: str = "dinamis"
    auth_local_key_file: str = ".stack/auth/signing-key.pem"
    # Where API keys are verified (the orders service).
    orders_url: str = "http://127.0.0.1:8103"

    @property
    def client_id(self) -> str:
        return self.kafka_client_id or f"dinamis-{self.SERVICE}"

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        problems = []
        if self.s3_secret_key.get_secret_value() == DEV_S3_SECRET:
            problems.append("s3_secret_key is the local-stack development key")
        if DEV_PG_PASSWORD in self.postgres_dsn.get_secret_value():
            problems.append("postgres_dsn uses the local-stack development password")
        if not self.auth_jwks_url:
            problems.append("auth_jwks_url is unset (the local signing key is for development only)")
        if problems:
            raise ValueError("unsafe settings in production: " + "; ".join(problems))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # env_settings uses the subclass's own prefix (DINAMIS_<SERVICE>_); the
        # platform-wide DINAMIS_ prefix comes after it.
        common = EnvSettingsSource(settings_cls, env_prefix="DINAMIS_")
        return init_settings, env_settings, common, dotenv_settings, file_secret_settings
