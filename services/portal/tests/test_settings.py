"""The portal's settings: its prefix, the platform-wide fallbacks, production's refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dinamis_portal.settings import PortalSettings

# What the platform's own production checks ask of every service (shared settings).
PRODUCTION = {
    "environment": "production",
    "kafka_sasl_password": "k",
    "s3_secret_key": "s",
    "service_client_secret": "c",
    "kafka_security_protocol": "SASL_SSL",
    "postgres_dsn": "postgresql://u:p@db/dinamis",
    "auth_jwks_url": "https://auth.example/certs",
}


def test_defaults_and_prefix(monkeypatch):
    monkeypatch.setenv("DINAMIS_ENVIRONMENT", "development")
    monkeypatch.setenv("DINAMIS_OIDC_ISSUER", "http://127.0.0.1:18180/realms/dinamis/")
    monkeypatch.setenv("DINAMIS_PORTAL_PUBLIC_URL", "http://127.0.0.1:9999/")
    s = PortalSettings()
    assert s.http_port == 8107 and s.http_host == "127.0.0.1"
    assert s.oidc_issuer == "http://127.0.0.1:18180/realms/dinamis"
    assert s.redirect_uri == "http://127.0.0.1:9999/auth/callback"
    assert s.catalog_public_url == s.catalog_url == "http://127.0.0.1:8102"
    assert not s.secure_cookies


def test_production_refuses_the_development_client_secret_and_plain_http():
    with pytest.raises(ValidationError) as refused:
        PortalSettings(**PRODUCTION, public_url="https://portail.dinamis.example")
    assert "oidc_client_secret" in str(refused.value)
    with pytest.raises(ValidationError) as refused:
        PortalSettings(**PRODUCTION, oidc_client_secret="s3cret", public_url="http://portail.dinamis.example")
    assert "public_url must be https://" in str(refused.value)
    with pytest.raises(ValidationError) as refused:
        PortalSettings(
            **PRODUCTION, oidc_client_secret="s3cret", public_url="https://portail.dinamis.example"
        )
    assert "oidc_issuer must be https://" in str(refused.value)
    ok = PortalSettings(
        **PRODUCTION,
        oidc_client_secret="s3cret",
        public_url="https://portail.dinamis.example",
        oidc_issuer="https://auth.dinamis.example/realms/dinamis",
    )
    assert ok.secure_cookies
