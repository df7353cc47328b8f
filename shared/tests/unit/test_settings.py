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
    monkeypatch.setenv("DINAMIS_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="s3_secret_key is the local-stack development key"):
        DemoSettings()
    monkeypatch.setenv("DINAMIS_DEMO_S3_SECRET_KEY", "a-real-secret")
    monkeypatch.setenv("DINAMIS_POSTGRES_DSN", "postgresql://u:real@db/dinamis")
    with pytest.raises(ValidationError, match="auth_jwks_url is unset"):
        DemoSettings()
    monkeypatch.setenv("DINAMIS_AUTH_JWKS_URL", "https://idp.example.fr/jwks.json")
    assert DemoSettings().environment == "production"
