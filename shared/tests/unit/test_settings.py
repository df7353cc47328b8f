from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from dinamis_shared.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DINAMIS_DEMO_", extra="ignore")
    SERVICE: ClassVar[str] = "demo"


def test_service_prefix_wins_over_platform_prefix(monkeypatch):
    monkeypatch.setenv("DINAMIS_KAFKA_BOOTSTRAP_SERVERS", "kafka-all:9092")
    monkeypatch.setenv("DINAMIS_MONGO_URL", "mongodb://shared/")
    monkeypatch.setenv("DINAMIS_DEMO_MONGO_URL", "mongodb://demo-only/")
    s = DemoSettings()
    assert s.kafka_bootstrap_servers == "kafka-all:9092"
    assert s.mongo_url == "mongodb://demo-only/"
    assert s.client_id == "dinamis-demo"


def test_production_refuses_development_credentials(monkeypatch):
    monkeypatch.delenv("DINAMIS_AUTH_JWKS_URL", raising=False)  # the local stack's env may set it
    monkeypatch.setenv("DINAMIS_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="s3_secret_key is unset or a local-stack development secret"):
        DemoSettings()
    with pytest.raises(ValidationError, match="set DINAMIS_DEMO_KAFKA_SASL_PASSWORD"):
        DemoSettings()
    monkeypatch.setenv("DINAMIS_DEMO_S3_SECRET_KEY", "a-real-secret")
    monkeypatch.setenv("DINAMIS_DEMO_KAFKA_SASL_PASSWORD", "another-real-secret")
    monkeypatch.setenv("DINAMIS_DEMO_SERVICE_CLIENT_SECRET", "a-third-real-secret")
    monkeypatch.setenv("DINAMIS_POSTGRES_DSN", "postgresql://u:real@db/dinamis")
    with pytest.raises(ValidationError, match="kafka_security_protocol must be SASL_SSL"):
        DemoSettings()
    monkeypatch.setenv("DINAMIS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValidationError, match="auth_jwks_url is unset"):
        DemoSettings()
    monkeypatch.setenv("DINAMIS_AUTH_JWKS_URL", "https://idp.example.fr/jwks.json")
    assert DemoSettings().environment == "production"


def test_each_service_is_its_own_identity_in_development():
    s = DemoSettings()
    assert s.kafka_sasl_username == "demo" and s.s3_access_key == "demo"
    assert s.kafka_sasl_password.get_secret_value() == "dinamis-dev-kafka-demo"
    assert s.s3_secret_key.get_secret_value() == "dinamis-dev-s3-demo"
    auth = s.kafka_auth()
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512" and auth["security_protocol"] == "SASL_PLAINTEXT"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("demo", "dinamis-dev-kafka-demo")
    # ServiceSettings itself is not a service: the tools' (and tests') admin identity.
    tools = ServiceSettings()
    assert tools.kafka_sasl_username == "admin" and tools.s3_access_key == "admin"


def test_a_platform_wide_identity_never_reaches_a_service(monkeypatch):
    """A shell holding the tools' identity (DINAMIS_KAFKA_SASL_*) starts a service: the
    service keeps its own; only DINAMIS_<SERVICE>_* can set a service's identity."""
    for name, value in {
        "DINAMIS_KAFKA_SASL_USERNAME": "admin",
        "DINAMIS_KAFKA_SASL_PASSWORD": "admin-secret",
        "DINAMIS_S3_ACCESS_KEY": "admin",
        "DINAMIS_S3_SECRET_KEY": "admin-s3-secret",
    }.items():
        monkeypatch.setenv(name, value)
    s = DemoSettings()
    assert (s.kafka_sasl_username, s.s3_access_key) == ("demo", "demo")
    assert s.kafka_sasl_password.get_secret_value() == "dinamis-dev-kafka-demo"
    tools = ServiceSettings()
    assert (tools.kafka_sasl_username, tools.kafka_sasl_password.get_secret_value()) == (
        "admin",
        "admin-secret",
    )
    monkeypatch.setenv("DINAMIS_DEMO_KAFKA_SASL_PASSWORD", "demo-secret")
    monkeypatch.setenv("DINAMIS_DEMO_S3_ACCESS_KEY", "demo-key")
    s = DemoSettings()
    assert s.kafka_sasl_password.get_secret_value() == "demo-secret" and s.s3_access_key == "demo-key"
    assert s.s3_secret_key.get_secret_value() == "dinamis-dev-s3-demo-key"
