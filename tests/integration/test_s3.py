"""The S3 server (SeaweedFS) through the `minio` client: it must enforce SigV4."""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid
from datetime import timedelta

import pytest
import urllib3
from minio import Minio
from minio.error import S3Error

from dinamis_shared import clients

BUCKET = "staging"
http = urllib3.PoolManager(retries=False, timeout=10)


@pytest.fixture(scope="module")
def s3(settings) -> Minio:
    return clients.s3_client(settings)


@pytest.fixture
def key():
    return f"tests/{uuid.uuid4().hex}/object.bin"


def test_put_get_and_range_get(s3, key):
    data = os.urandom(300_000)
    s3.put_object(BUCKET, key, io.BytesIO(data), len(data))
    with s3.get_object(BUCKET, key) as r:
        assert r.read() == data
    with s3.get_object(BUCKET, key, offset=123_456, length=1000) as r:
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes 123456-124455/{len(data)}"
        assert r.read() == data[123_456:124_456]
    s3.remove_object(BUCKET, key)


def test_multipart_upload(s3, key):
    size = 12 * 1024 * 1024 + 17  # 3 parts of 5 MiB minimum size
    data = os.urandom(size)
    result = s3.put_object(BUCKET, key, io.BytesIO(data), size, part_size=5 * 1024 * 1024)
    assert result.etag.endswith("-3"), f"expected a 3-part multipart ETag, got {result.etag}"
    with s3.get_object(BUCKET, key) as r:
        assert hashlib.sha256(r.read()).digest() == hashlib.sha256(data).digest()
    s3.remove_object(BUCKET, key)


def test_presigned_url_works_then_expires(s3, key):
    s3.put_object(BUCKET, key, io.BytesIO(b"quicklook"), 9)
    url = s3.presigned_get_object(BUCKET, key, expires=timedelta(seconds=2))
    ok = http.request("GET", url)
    assert ok.status == 200 and ok.data == b"quicklook"
    ranged = http.request("GET", url, headers={"Range": "bytes=5-8"})
    assert ranged.status == 206 and ranged.data == b"look"
    time.sleep(3.5)
    expired = http.request("GET", url)
    assert expired.status == 403, expired.data[:200]
    assert b"expired" in expired.data.lower()
    s3.remove_object(BUCKET, key)


def test_unsigned_and_badly_signed_requests_are_refused(s3, settings, key):
    s3.put_object(BUCKET, key, io.BytesIO(b"secret"), 6)
    base = f"http://{settings.s3_endpoint}"
    for method, path in [
        ("GET", f"/{BUCKET}/{key}"),
        ("GET", "/"),
        ("PUT", f"/{BUCKET}/x"),
        ("GET", f"/{BUCKET}"),
    ]:
        r = http.request(method, base + path, body=b"x" if method == "PUT" else None)
        assert r.status == 403, f"unsigned {method} {path} answered {r.status}"
    tampered = s3.presigned_get_object(BUCKET, key, expires=timedelta(minutes=5))
    tampered = tampered[:-4] + ("0000" if not tampered.endswith("0000") else "1111")
    assert http.request("GET", tampered).status == 403
    wrong = Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key="wrong-secret",
        secure=False,
        region=settings.s3_region,
    )
    with pytest.raises(S3Error) as err:
        wrong.get_object(BUCKET, key)
    assert err.value.code == "SignatureDoesNotMatch"
    s3.remove_object(BUCKET, key)
