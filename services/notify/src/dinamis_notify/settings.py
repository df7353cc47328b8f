"""The notify service's settings: env prefix `DINAMIS_NOTIFY_`, then `DINAMIS_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from dinamis_shared.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DINAMIS_NOTIFY_", extra="ignore")

    SERVICE: ClassVar[str] = "notify"

    http_port: int = 8105

    # E-mail
    mail_from: str = "DINAMIS <no-reply@dinamis.example>"
    # Base of the links in e-mails (the web frontend's public address).
    public_web_url: str = "http://127.0.0.1:8080"
    smtp_timeout_s: float = 15.0
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # Operators who chose the digest get one e-mail per this interval.
    digest_interval_s: float = Field(default=3600.0, gt=0)

    # Live stream (Server-Sent Events)
    sse_heartbeat_s: float = Field(default=15.0, gt=0)
    # Events queued for one client before it is judged too slow and dropped.
    sse_client_buffer: int = Field(default=256, ge=1)
    sse_max_clients: int = Field(default=5_000, ge=1)
    sse_max_per_user: int = Field(default=20, ge=1)  # streams one user may hold at once
    # Latest stream entries kept in memory: a recent resume needs no database query.
    sse_recent_entries: int = Field(default=10_000, ge=1)

    # Webhooks
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_backoff_base_s: float = Field(default=5.0, gt=0)
    webhook_backoff_cap_s: float = Field(default=3600.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_poll_s: float = Field(default=1.0, gt=0)
    webhook_concurrency: int = Field(default=8, ge=1)
    # http:// and private/loopback targets: development only (SSRF guard otherwise).
    webhook_allow_private_targets: bool | None = None

    @property
    def allow_private_targets(self) -> bool:
        if self.webhook_allow_private_targets is None:
            return self.environment == "development"
        return self.webhook_allow_private_targets

    @model_validator(mode="after")
    def _no_private_targets_in_production(self) -> NotifySettings:
        if self.environment == "production" and self.webhook_allow_private_targets:
            raise ValueError("webhook_allow_private_targets cannot be set in production (SSRF)")
        return self
