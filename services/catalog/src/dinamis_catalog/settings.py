"""The catalog's settings: the STAC API process (`DINAMIS_CATALOG_`) and the tiles
process (`DINAMIS_CATALOG_TILES_`), both falling back to the platform-wide `DINAMIS_`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from dinamis_shared.auth import LOCAL_ISSUER
from dinamis_shared.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    """Env prefix `DINAMIS_CATALOG_`, falling back to the platform-wide `DINAMIS_`."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_CATALOG_", extra="ignore")

    SERVICE: ClassVar[str] = "catalog"

    http_port: int = 8102
    title: str = "Catalogue DINAMIS / DINAMIS catalogue"
    coverage_years: list[int] = Field(default_factory=lambda: list(range(2023, datetime.now(UTC).year + 1)))
    db_max_conn: int = 10
    # Searches answered by one SQL query (`service.fast_search`) rather than pgSTAC's
    # `search()` when their meaning allows; off: every search goes through `search()`.
    search_fast_path: bool = True
    # How long the fast path keeps pgSTAC's translation of a filter and a collection's
    # base items (a new queryable or base item is seen within this).
    search_cache_s: float = Field(default=10.0, ge=0)
    # How users reach this API (previews' public hrefs are built on it).
    public_url: str = "http://127.0.0.1:8102"
    # Signed URLs (on `s3_public_url`, where users reach the store): default and longest validity.
    sign_default_seconds: int = 7 * 24 * 3600
    sign_max_seconds: int = 7 * 24 * 3600
    # Upload (PUT) URLs of the SDK's upload helper: short-lived, counted per user, and
    # refused once the user's upload folder holds too much.
    sign_put_max_seconds: int = 900
    upload_urls_per_hour: int = 200
    upload_max_objects: int = 1000
    upload_max_bytes: int = 20 * 1024**3
    # Where users log in (the DINAMIS SDK's device flow): the identity provider's token
    # endpoint, advertised in the OpenAPI as `OAuth2PasswordBearer`'s `tokenUrl`. Default:
    # `<issuer>/protocol/openid-connect/token` of DINAMIS_OIDC_ISSUER, else of the trusted
    # issuer (`auth_issuer`) when it is not the local development key's.
    oidc_issuer: str = ""
    oidc_token_url: str = ""

    @model_validator(mode="after")
    def _default_token_url(self) -> CatalogSettings:
        if not self.oidc_token_url:
            issuer = (self.oidc_issuer or self.auth_issuer).rstrip("/")
            if issuer and issuer != LOCAL_ISSUER.rstrip("/"):
                self.oidc_token_url = f"{issuer}/protocol/openid-connect/token"
        return self


class TilesSettings(CatalogSettings):
    """Env prefix `DINAMIS_CATALOG_TILES_`, falling back to the platform-wide `DINAMIS_`
    (the archive URL and stores are the catalog's)."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_CATALOG_TILES_", extra="ignore")

    SERVICE: ClassVar[str] = "catalog-tiles"

    http_port: int = 8106
    # Tiles whose ground resolution (m/px at the tile's centre, for its tile matrix set and
    # tile size) is at least this are public; finer ones need an account and show only the
    # items it may read (10 m: coarser than any product we hold).
    tiles_public_resolution_m: float = Field(default=10.0, gt=0)
    # Public tiles are drawn from data already this coarse (the first COG overview at or
    # above `tiles_public_resolution_m`, else an average decimation), averaged, and
    # stretched to 8 bits by the server: per collection here ([min, max] for every band),
    # else the item's `raster:bands` statistics, else 0-255 for 8-bit data and
    # `tiles_public_stretch_default` for deeper data (12-bit products).
    tiles_public_stretch: dict[str, tuple[float, float]] = Field(default_factory=dict)
    tiles_public_stretch_default: tuple[float, float] = (0.0, 4095.0)
    # Search registration: body size, registrations per minute per client (principal or
    # address, per process), days unused after which a registration expires (purged hourly).
    tiles_register_max_bytes: int = Field(default=64 * 1024, gt=0)
    tiles_register_per_minute: int = Field(default=30, gt=0)
    tiles_search_ttl_days: float = Field(default=30.0, gt=0)
    # Footprint vector tiles (`/searches/{id}/footprints/{z}/{x}/{y}.mvt`): at most this
    # many footprints per tile (the newest), `Cache-Control: public, max-age` (also how
    # long this process keeps a tile), and the process's tile cache in MB (0: none). 1,000:
    # a tile of ~85 KB (10,000 made 820 KB tiles over France at 1M items, 7x slower).
    tiles_footprints_max_features: int = Field(default=1_000, gt=0, le=100_000)
    tiles_footprints_max_age_s: int = Field(default=300, ge=0, le=86_400)
    tiles_footprints_cache_mb: int = Field(default=32, ge=0, le=4096)
    db_max_conn: int = 4
    # GDAL's block cache for the archive COGs, in MB.
    gdal_cachemax_mb: int = 256

    @model_validator(mode="after")
    def _stretches_increase(self) -> TilesSettings:
        ranges = {**self.tiles_public_stretch, "default": self.tiles_public_stretch_default}
        for name, (lo, hi) in ranges.items():
            if not lo < hi:
                raise ValueError(f"tiles public stretch {name}: min must be below max")
        return self
