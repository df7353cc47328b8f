"""Client factories for the platform's stores, all configured from ServiceSettings.

MongoDB: PyMongo's async API (`AsyncMongoClient`), used only with features that
both FerretDB 1.24 and MongoDB 7 support (no transactions, change streams,
geospatial operators or TTL indexes; no nested arrays in documents).
S3: the `minio` client (sync; call it through `asyncio.to_thread`).
PostgreSQL: psycopg 3 async connections.
"""

from __future__ import annotations

import psycopg
import urllib3
from minio import Minio
from pymongo import AsyncMongoClient

from dinamis_shared.settings import ServiceSettings

BUCKETS = ("staging", "archive", "delivery", "uploads", "events")


def mongo_client(settings: ServiceSettings, *, timeout_s: float = 5.0) -> AsyncMongoClient:
    ms = int(timeout_s * 1000)
    return AsyncMongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=ms,
        connectTimeoutMS=ms,
        socketTimeoutMS=ms * 6,
        appname=settings.client_id,
        tz_aware=True,
    )


def s3_client(settings: ServiceSettings, *, timeout_s: float = 10.0, retries: int = 3) -> Minio:
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(timeout_s, 5.0), read=timeout_s),
        retries=urllib3.Retry(total=retries, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
        maxsize=16,
    )
    return Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_secure,
        region=settings.s3_region,
        http_client=http,
    )


def ensure_buckets(client: Minio, buckets: tuple[str, ...] = BUCKETS) -> list[str]:
    """Create the platform's buckets that do not exist; return those created."""
    created = []
    for bucket in buckets:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
            created.append(bucket)
    return created


async def pg_connect(settings: ServiceSettings, *, timeout_s: float = 5.0) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(
        settings.postgres_dsn.get_secret_value(),
        connect_timeout=max(1, int(timeout_s)),
        application_name=settings.client_id,
        autocommit=True,
        # pgSTAC's functions resolve their tables through the search path.
        options="-c search_path=pgstac,public",
    )
