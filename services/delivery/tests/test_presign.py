"""Download URLs never outlive the caller's access (`access_until`): security review,
a past `access_until` used to give a 1-second URL instead of a refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from dinamis_delivery.entrypoints.http import AccessEnded, _presign
from dinamis_shared.auth import Principal

RECORD = {"bucket": "products", "object_key": "o1/ORD-1/P1.tif"}


class Presigner:
    def __init__(self) -> None:
        self.calls: list[timedelta] = []

    def presigned_get_object(self, bucket: str, key: str, expires: timedelta) -> str:
        self.calls.append(expires)
        return f"https://s3.example/{bucket}/{key}?X-Amz-Expires={int(expires.total_seconds())}"


def request_with(presigner: Presigner, ttl_s: int = 900) -> SimpleNamespace:
    container = SimpleNamespace(settings=SimpleNamespace(download_url_ttl_s=ttl_s), presigner=presigner)
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(container=container)))


def member(access_until: datetime | None) -> Principal:
    return Principal(user_id="u1", organisation_id="o1", standing="member", access_until=access_until)


@pytest.mark.parametrize("ago", [timedelta(0), timedelta(seconds=1), timedelta(days=3)])
async def test_an_ended_access_gets_no_url(ago):
    presigner = Presigner()
    with pytest.raises(AccessEnded) as refused:
        await _presign(request_with(presigner), RECORD, member(datetime.now(UTC) - ago))  # type: ignore[arg-type]
    assert refused.value.http_status == 403 and refused.value.code == "access-ended"
    assert presigner.calls == []


async def test_the_url_ends_with_the_access_or_the_ttl():
    presigner = Presigner()
    await _presign(request_with(presigner), RECORD, member(datetime.now(UTC) + timedelta(minutes=2)))  # type: ignore[arg-type]
    await _presign(request_with(presigner), RECORD, member(datetime.now(UTC) + timedelta(days=2)))  # type: ignore[arg-type]
    await _presign(request_with(presigner), RECORD, member(None))  # type: ignore[arg-type]
    short, capped, plain = presigner.calls
    assert timedelta(seconds=110) < short <= timedelta(minutes=2)
    assert capped == plain == timedelta(seconds=900)
