"""The archive's object store port, and its S3 adapter (the `minio` client, called from
worker threads). Unit tests use their own in-memory implementation of the port."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import Protocol

from minio import Minio
from minio.error import S3Error


@dataclass(frozen=True)
class StoredObject:
    key: str
    etag: str
    size: int


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def delete(self, key: str) -> None: ...
    async def list(self, prefix: str = "") -> list[StoredObject]: ...


class S3ObjectStore:
    def __init__(self, client: Minio, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(
            self.client.put_object,
            self.bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type="application/vnd.apache.parquet",
        )

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            response = self.client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        try:
            await asyncio.to_thread(self.client.remove_object, self.bucket, key)
        except S3Error as exc:
            if exc.code != "NoSuchKey":
                raise

    async def list(self, prefix: str = "") -> list[StoredObject]:
        def listing() -> list[StoredObject]:
            return [
                StoredObject(str(o.object_name), str(o.etag or "").strip('"'), int(o.size or 0))
                for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if o.object_name and not o.is_dir
            ]

        return await asyncio.to_thread(listing)
