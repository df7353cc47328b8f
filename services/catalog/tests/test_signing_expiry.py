"""Signed URLs never outlive the caller's access, and none is signed once it has ended."""

from datetime import UTC, datetime, timedelta

import pytest

from dinamis_catalog.entrypoints.signing import _expiry
from dinamis_catalog.settings import CatalogSettings
from dinamis_shared.auth import Forbidden


def test_expiry_is_capped_by_access_until_and_refused_once_ended():
    settings = CatalogSettings()
    now = datetime.now(UTC)
    ttl, _ = _expiry(600, settings, now + timedelta(seconds=120))
    assert timedelta(seconds=118) <= ttl <= timedelta(seconds=120)
    ttl, _ = _expiry(60, settings, now + timedelta(days=1))
    assert ttl == timedelta(seconds=60)
    for ended in (now, now - timedelta(days=1), now + timedelta(milliseconds=300)):
        with pytest.raises(Forbidden) as err:
            _expiry(600, settings, ended)
        assert err.value.code == "access-ended" and err.value.http_status == 403
