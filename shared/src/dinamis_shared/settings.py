"""Settings base: one `BaseSettings` per service, with its own env prefix.

A service reads `DINAMIS_<SERVICE>_<FIELD>` first, then the platform-wide
`DINAMIS_<FIELD>` (so one `DINAMIS_KAFKA_BOOTSTRAP_SERVERS` serves all five
services, and one service can still be pointed elsewhere), then the defaults,
which match the local stack (`deploy/local/stack`).

Identities are the exception: a service's Kafka principal and S3 key
(`kafka_sasl_*`, `s3_access_key`, `s3_secret_key`) are read only under its own
prefix (`DINAMIS_INGEST_KAFKA_SASL_PASSWORD`...), never from the platform-wide
`DINAMIS_*`, so a shell that holds the tools' `admin` identity cannot lend it to a
service it starts. In development each identity defaults to the service's name and
the local stack's password for it (`dinamis-dev-kafka-<name>`, `dinamis-dev-s3-<name>`);
production refuses those. `ServiceSettings` itself (the stack tools, tests, the
CLI: not a service) is the `admin` identity.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# The local stack's development credentials: refused outside development.
DEV_PG_PASSWORD = "dinamis-dev"
DEV_SECRET_PREFIX = "dinamis-dev-"
# The identity of what is not a service (stack tools, tests, the CLI): a super user.
ADMIN_PRINCIPAL = "admin"
# Read only under a service's own prefix (see the module docstring).
IDENTITY_FIELDS = (
    "kafka_sasl_username",
    "kafka_sasl_password",
    "s3_access_key",
    "s3_secret_key",
    "service_client_id",
    "service_client_secret",
)


def dev_kafka_password(principal: str) -> str:
    """The local stack's Kafka password of `principal` (refused in production)."""
    return f"{DEV_SECRET_PREFIX}kafka-{principal}"


def dev_client_secret(service: str) -> str:
    """The local realm's secret of client `service-<service>` (deploy/local/keycloak.py)."""
    return f"{DEV_SECRET_PREFIX}{service}"


def dev_s3_secret(access_key: str) -> str:
    """The local stack's S3 secret key of `access_key` (refused in production)."""
    return f"{DEV_SECRET_PREFIX}s3-{access_key}"


class _PlatformEnv(EnvSettingsSource):
    """The platform-wide `DINAMIS_*` variables, without the identity fields."""

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__call__().items() if k not in IDENTITY_FIELDS}


class ServiceSettings(BaseSettings):
    """Connection settings every service shares, plus its HTTP bind address."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_", extra="ignore")

    SERVICE: ClassVar[str] = "service"

    # Production unless said otherwise: a deployment that forgets to set it gets the
    # refusals below, never the development conveniences. `make up`, `make test`, the
    # tests and docker-compose set DINAMIS_ENVIRONMENT=development explicitly.
    environment: Literal["development", "test", "production"] = "production"
    log_level: str = "INFO"

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Request bodies larger than this are refused (413), unless the route has a limit of
    # its own (`ServiceDefinition.body_limits`).
    http_max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # Clients whose address is in one of these networks (comma-separated; "" = nobody)
    # see why /readyz checks failed; anyone else sees only which ones did.
    readyz_details_networks: str = "127.0.0.0/8,::1/128"

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_client_id: str | None = None
    # SASL/SCRAM-SHA-512; SASL_SSL in production (TLS), SASL_PLAINTEXT on a loopback.
    kafka_security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL"] = "SASL_PLAINTEXT"
    kafka_sasl_username: str = ""  # default: the service's principal (`principal()`)
    kafka_sasl_password: SecretStr = SecretStr("")  # default (development): dev_kafka_password

    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_database: str = "dinamis"

    s3_endpoint: str = "127.0.0.1:8333"
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    # The bucket /readyz checks the S3 server with (one the service's key may read).
    s3_readiness_bucket: str = "archive"
    s3_access_key: str = ""  # default: the service's principal
    s3_secret_key: SecretStr = SecretStr("")  # default (development): dev_s3_secret
    # Where users reach the object store: the base of archive asset hrefs (ingest writes
    # them, the catalog signs them, the tiler maps them back to /vsis3/). Default: the
    # endpoint the services use (http, or https when `s3_secure`), right when users and
    # services reach the store at the same address.
    s3_public_url: str = ""

    postgres_dsn: SecretStr = SecretStr(f"postgresql://dinamis:{DEV_PG_PASSWORD}@127.0.0.1:55432/dinamis")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025

    readiness_timeout_s: float = 2.0

    # Identity: the provider's JWKS URL in production; a local key file on a laptop.
    auth_jwks_url: str | None = None
    auth_issuer: str = "https://auth.dinamis.local/"
    auth_audience: str = "dinamis"
    auth_local_key_file: str = ".stack/auth/signing-key.pem"
    # Seconds other services cache the orders service's entitlements answers (5 at most).
    auth_entitlements_ttl_s: float = 5.0
    # Where API keys are verified (the orders service).
    orders_url: str = "http://127.0.0.1:8103"
    # The service's own identity at the identity provider (OAuth2 client credentials):
    # how it proves to the orders service who is asking (`dinamis_shared.provenance`).
    # Token URL default: `<auth_issuer>/protocol/openid-connect/token` (Keycloak) unless
    # the issuer is the local development key's. Client default: `service-<service>`;
    # secret default (development only): `dinamis-dev-<service>`.
    auth_token_url: str = ""
    service_client_id: str = ""
    service_client_secret: SecretStr = SecretStr("")
    # Consumers ask the orders service whether it issued each of its events before acting
    # on one (`dinamis_shared.provenance`). Off only in development (tests of a consumer
    # alone); production refuses it off.
    verify_event_issuer: bool = True

    @property
    def client_id(self) -> str:
        return self.kafka_client_id or f"dinamis-{self.SERVICE}"

    @classmethod
    def principal(cls) -> str:
        """The default identity: the service's name; `admin` for ServiceSettings itself."""
        return ADMIN_PRINCIPAL if cls.SERVICE == ServiceSettings.SERVICE else cls.SERVICE

    def kafka_auth(self) -> dict[str, Any]:
        """aiokafka's keyword arguments to authenticate as this identity."""
        tls: dict[str, Any] = {}
        if self.kafka_security_protocol == "SASL_SSL":
            from aiokafka.helpers import create_ssl_context

            tls["ssl_context"] = create_ssl_context()
        return {
            **tls,
            "security_protocol": self.kafka_security_protocol,
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": self.kafka_sasl_username,
            "sasl_plain_password": self.kafka_sasl_password.get_secret_value(),
        }

    @model_validator(mode="before")
    @classmethod
    def _default_identities(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        user = data.get("kafka_sasl_username") or cls.principal()
        key = data.get("s3_access_key") or cls.principal()
        data = {**data, "kafka_sasl_username": user, "s3_access_key": key}
        if not data.get("kafka_sasl_password"):
            data["kafka_sasl_password"] = dev_kafka_password(user)
        if not data.get("s3_secret_key"):
            data["s3_secret_key"] = dev_s3_secret(key)
        service = cls.principal().removesuffix("-tiles")
        if not data.get("service_client_id"):
            data["service_client_id"] = f"service-{service}"
        if not data.get("service_client_secret"):
            data["service_client_secret"] = dev_client_secret(service)
        return data

    @field_validator("readyz_details_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        from dinamis_shared.health import parse_networks

        parse_networks(value)  # ValueError: not a network
        return value

    def _env_name(self, field: str) -> str:
        prefix = self.model_config.get("env_prefix") or "DINAMIS_"
        return f"{prefix}{field}".upper()

    @model_validator(mode="after")
    def _default_public_url(self) -> ServiceSettings:
        if not self.s3_public_url:
            self.s3_public_url = f"{'https' if self.s3_secure else 'http'}://{self.s3_endpoint}"
        self.s3_public_url = self.s3_public_url.rstrip("/")
        if not self.auth_token_url and self.auth_issuer.rstrip("/") != "https://auth.dinamis.local":
            self.auth_token_url = f"{self.auth_issuer.rstrip('/')}/protocol/openid-connect/token"
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        problems = []
        for field, secret in (
            ("kafka_sasl_password", self.kafka_sasl_password),
            ("s3_secret_key", self.s3_secret_key),
            ("service_client_secret", self.service_client_secret),
        ):
            if secret.get_secret_value().startswith(DEV_SECRET_PREFIX):
                problems.append(
                    f"{field} is unset or a local-stack development secret (set {self._env_name(field)})"
                )
        if self.kafka_security_protocol != "SASL_SSL":
            problems.append("kafka_security_protocol must be SASL_SSL (TLS) in production")
        if not self.verify_event_issuer:
            problems.append("verify_event_issuer must stay on: consumers trust only events orders issued")
        if DEV_PG_PASSWORD in self.postgres_dsn.get_secret_value():
            problems.append("postgres_dsn uses the local-stack development password")
        if not self.auth_jwks_url:
            problems.append(
                "auth_jwks_url is unset (auth_local_key_file, the local signing key, is for development only)"
            )
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
        # platform-wide DINAMIS_ prefix comes after it, without the identities (unless the
        # class's own prefix is DINAMIS_: the tools' ServiceSettings).
        own_prefix = settings_cls.model_config.get("env_prefix") == "DINAMIS_"
        common = (EnvSettingsSource if own_prefix else _PlatformEnv)(settings_cls, env_prefix="DINAMIS_")
        return init_settings, env_settings, common, dotenv_settings, file_secret_settings
