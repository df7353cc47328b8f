"""notify's production refusal: private/loopback webhook targets (SSRF) are development only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dinamis_notify.settings import NotifySettings

PRODUCTION = {
    "DINAMIS_ENVIRONMENT": "production",
    "DINAMIS_NOTIFY_S3_SECRET_KEY": "a-real-secret",
    "DINAMIS_NOTIFY_KAFKA_SASL_PASSWORD": "another-real-secret",
    "DINAMIS_NOTIFY_SERVICE_CLIENT_SECRET": "a-third-real-secret",
    "DINAMIS_POSTGRES_DSN": "postgresql://u:real@db/dinamis",
    "DINAMIS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "DINAMIS_AUTH_JWKS_URL": "https://idp.example.fr/jwks.json",
}


def test_production_refuses_private_webhook_targets(monkeypatch):
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    assert NotifySettings().allow_private_targets is False
    monkeypatch.setenv("DINAMIS_NOTIFY_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    with pytest.raises(ValidationError, match="webhook_allow_private_targets cannot be set in production"):
        NotifySettings()
    monkeypatch.setenv("DINAMIS_ENVIRONMENT", "development")
    assert NotifySettings().allow_private_targets is True
