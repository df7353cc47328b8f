"""The object store, through the `minio` client (sync calls run in threads).

S3 errors other than "no such key" propagate: the Kafka handler treats them as
transient (the scene is retried once the store answers again).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from minio import Minio
from minio.error import S3Error

CHUNK = 8 * 1024 * 1024


class ObjectGrew(Exception):
    """An object is larger than listed (it changed while being read)."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


class ObjectStore:
    def __init__(self, client: Minio) -> None:
        self.client = client

    async def list(self, bucket: str, prefix: str) -> list[StoredObject]:
        def run() -> list[StoredObject]:
            return [
                StoredObject(o.object_name, o.size or 0)
                for o in self.client.list_objects(bucket, prefix=prefix, recursive=True)
                if not o.is_dir
            ]

        return await asyncio.to_thread(run)

    async def download(
        self, bucket: str, key: str, dest: Path, max_bytes: int, cancelled: threading.Event | None = None
    ) -> tuple[int, str]:
        """Stream an object to `dest`; return (size, sha256). Stops past `max_bytes`, or
        as soon as `cancelled` is set (another file of the package failed)."""

        def run() -> tuple[int, str]:
            h = hashlib.sha256()
            size = 0
            dest.parent.mkdir(parents=True, exist_ok=True)
            response = self.client.get_object(bucket, key)
            try:
                with dest.open("wb") as out:
                    for chunk in response.stream(CHUNK):
                        if cancelled is not None and cancelled.is_set():
                            raise asyncio.CancelledError
                        size += len(chunk)
                        if size > max_bytes:
                            raise ObjectGrew(f"{key} grew past {max_bytes} bytes while it was read")
                        h.update(chunk)
                        out.write(chunk)
            finally:
                response.close()
                response.release_conn()
            return size, h.hexdigest()

        return await asyncio.to_thread(run)

    async def upload(self, bucket: str, key: str, path: Path, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.fput_object,
            bucket,
            key,
            str(path),
            content_type=content_type,
            part_size=64 * 1024 * 1024,
        )

    async def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object, bucket, key, io.BytesIO(data), len(data), content_type=content_type
        )

    async def get_json(self, bucket: str, key: str) -> dict | None:
        def run() -> dict | None:
            try:
                response = self.client.get_object(bucket, key)
            except S3Error as exc:
                if exc.code == "NoSuchKey":
                    return None
                raise
            try:
                return json.loads(response.read())
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(run)
