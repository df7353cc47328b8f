"""The portal's settings: env prefix `DINAMIS_PORTAL_`, then `DINAMIS_`."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from dinamis_shared.settings import DEV_SECRET_PREFIX, ServiceSettings

# services/portal/frontend: package.json, package-lock.json and (after `npm ci`) node_modules.
FRONTEND_DIR = Path(__file__).resolve().parents[2] / "frontend"


class PortalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DINAMIS_PORTAL_", extra="ignore")

    SERVICE: ClassVar[str] = "portal"

    http_port: int = 8107
    # The portal's own address as browsers reach it: OIDC redirect URI, post-logout URI.
    public_url: str = "http://127.0.0.1:8107"

    # The catalogue's STAC API (searches, items, previews, signed URLs), called server-side.
    catalog_url: str = "http://127.0.0.1:8102"
    # The address users give their own tools (snippets): by default the same.
    catalog_public_url: str = ""
    http_timeout_s: float = Field(default=15.0, gt=0)
    # The other services the portal calls server-side (orders_url is the platform's):
    # delivery (downloads, metalinks), notify (live events, webhooks, the console's failing
    # webhooks), ingest (the console's readiness and metrics).
    delivery_url: str = "http://127.0.0.1:8104"
    notify_url: str = "http://127.0.0.1:8105"
    ingest_url: str = "http://127.0.0.1:8101"
    # The reporting service ("DINAMIS en chiffres", the working group's dashboard).
    reporting_url: str = "http://127.0.0.1:8108"
    # The platform's own organisation (orders' `staff_organisation_id`): the only one whose
    # users' `governance` role admits them to the working group's dashboard.
    staff_organisation_id: str = "dinamis"
    # The ops console's probes of the services' `/readyz` and `/metrics`.
    probe_timeout_s: float = Field(default=3.0, gt=0)

    # OpenID Connect (Keycloak's `dinamis` realm): the platform-wide DINAMIS_OIDC_ISSUER.
    oidc_issuer: str = "http://127.0.0.1:8180/realms/dinamis"
    oidc_client_id: str = "dinamis-portal"
    # Development default: the local realm's `dinamis-dev-portal-web` (refused in production).
    oidc_client_secret: SecretStr = SecretStr(f"{DEV_SECRET_PREFIX}portal-web")
    oidc_scopes: str = "openid email profile"
    # Where the portal itself reaches the identity provider, when that differs from the
    # address browsers and tokens use (containers: http://keycloak:8080/realms/dinamis, with
    # Keycloak's hostname set to the public one). Discovery is read there; the provider's
    # metadata must still name `oidc_issuer` as its issuer.
    oidc_internal_issuer: str | None = None

    # Server-side sessions (MongoDB): idle and absolute lifetimes.
    session_idle_s: int = Field(default=1800, ge=60)
    session_max_s: int = Field(default=36000, ge=60)
    # a session nobody logged in to (a login started, a CSRF token for an anonymous form)
    anonymous_idle_s: int = Field(default=900, ge=60)
    # how often expired sessions are deleted from MongoDB (FerretDB has no TTL index)
    session_purge_s: float = Field(default=300, gt=0)
    session_cookie: str = "dinamis_portal_session"

    # Search: results per page (the catalogue's `limit`).
    search_limit: int = Field(default=50, ge=1, le=500)
    # Signed download links on a scene page live this long (the page signs again on each
    # view): a link copied or forwarded stops working soon after the member leaves.
    signed_link_seconds: int = Field(default=3600, ge=60, le=86400)
    # Largest preview (thumbnail/quicklook) relayed from the catalogue.
    preview_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)

    # Front-end packages installed by `npm ci` (deploy/local/install).
    frontend_dir: Path = FRONTEND_DIR

    @property
    def secure_cookies(self) -> bool:
        """`Secure` cookies everywhere but in development (plain http on 127.0.0.1)."""
        return self.environment != "development"

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url.rstrip('/')}/auth/callback"

    @property
    def node_modules(self) -> Path:
        return self.frontend_dir / "node_modules"

    @model_validator(mode="after")
    def _defaults(self) -> PortalSettings:
        self.public_url = self.public_url.rstrip("/")
        self.catalog_url = self.catalog_url.rstrip("/")
        self.delivery_url = self.delivery_url.rstrip("/")
        self.notify_url = self.notify_url.rstrip("/")
        self.ingest_url = self.ingest_url.rstrip("/")
        self.reporting_url = self.reporting_url.rstrip("/")
        self.catalog_public_url = (self.catalog_public_url or self.catalog_url).rstrip("/")
        self.oidc_issuer = self.oidc_issuer.rstrip("/")
        self.oidc_internal_issuer = (self.oidc_internal_issuer or self.oidc_issuer).rstrip("/")
        return self

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> PortalSettings:
        if self.environment == "production":
            if self.oidc_client_secret.get_secret_value().startswith(DEV_SECRET_PREFIX):
                raise ValueError(
                    "oidc_client_secret is unset or the local realm's development secret "
                    "(set DINAMIS_PORTAL_OIDC_CLIENT_SECRET)"
                )
            if not self.public_url.startswith("https://"):
                raise ValueError("public_url must be https:// in production (Secure session cookie)")
            if not self.oidc_issuer.startswith("https://"):
                raise ValueError(
                    "oidc_issuer must be https:// in production (the client secret, codes and keys cross it)"
                )
            if not (self.oidc_internal_issuer or "").startswith("https://"):
                raise ValueError(
                    "oidc_internal_issuer must be https:// in production (the client secret crosses it)"
                )
        return self
