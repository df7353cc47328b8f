"""The orders service's settings (env prefix `DINAMIS_ORDERS_`, then `DINAMIS_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from dinamis_shared.settings import ServiceSettings

DEV_SUPPLIER_KEY = "dinamis-dev-supplier-key"


class OrdersSettings(ServiceSettings):
    """Env prefix `DINAMIS_ORDERS_`, falling back to the platform-wide `DINAMIS_`."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_ORDERS_", extra="ignore")

    SERVICE: ClassVar[str] = "orders"

    http_port: int = 8103
    # The catalogue searched for overlap warnings and product-order items.
    catalog_url: str = "http://127.0.0.1:8102"
    # Download links of product orders point at the delivery service.
    delivery_url: str = "http://127.0.0.1:8104"
    # Request limits (km²) and the share of an AOI that counts as fulfilled.
    max_request_km2: float = 20_000.0
    fulfilled_share: float = 0.95
    # Product orders per user per day.
    product_orders_per_day: int = 50
    # The supplier's ordering API (the simulator locally); unset: operators order by hand.
    supplier_url: str | None = "http://127.0.0.1:8109"
    supplier_api_key: SecretStr = SecretStr(DEV_SUPPLIER_KEY)
    # The platform's own organisation: its users are DINAMIS staff (operators, admins).
    staff_organisation_id: str = "dinamis"
    # Publish the outbox from this replica (off: another replica relays; tests of crashes).
    outbox_relay: bool = True
    # The identity provider's clients (`azp`) of the services that may ask whether an
    # event was issued here (`POST /v1/internal/events/verify`), each with the event
    # names it may ask about ("*": all of orders' events): the consumers of those events.
    event_verifiers: dict[str, list[str]] = Field(
        default_factory=lambda: {"service-delivery": ["delivery-requested"], "service-notify": ["*"]}
    )
    # Days after the acquisition window's end before an unfinished request expires.
    expiry_grace_days: int = 15
    # Seconds between periodic passes (membership expiry, supplier orders, request expiry).
    periodic_interval_s: float = 60.0

    @model_validator(mode="after")
    def _refuse_dev_supplier_key(self) -> OrdersSettings:
        if self.environment == "production" and self.supplier_api_key.get_secret_value() == DEV_SUPPLIER_KEY:
            raise ValueError("unsafe settings in production: supplier_api_key is the development key")
        return self

    @model_validator(mode="after")
    def _verifiers_are_service_clients(self) -> OrdersSettings:
        # Only confidential service clients: never a user-facing client (portal, gdal).
        odd = [c for c in self.event_verifiers if not c.startswith("service-")]
        if odd:
            raise ValueError(f"event_verifiers must be service clients (service-<name>), not {odd}")
        return self
