"""The S3 seam: what the consumer writes through and the hourly job reads and writes through.

Two small protocols, by use: the consumer only ever puts (`ObjectWriter`), the hourly job lists,
gets and puts (`ObjectStore`). Both are passed in through constructors or keyword arguments, so
unit tests use an in-memory store (tests/support/storage.py) instead of moto, and integration tests
wrap the real one to inject faults. `S3ObjectStore` is the real one on a boto3 client; it turns
every botocore failure into our own error (`PersistError` for a put, `StorageError` for a list or a
get), so no caller depends on botocore's exception types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from boto3.exceptions import RetriesExceededError, S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from app.errors import PersistError, StorageError


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object's bytes (as stored: gzip stays gzip) and its user metadata."""

    body: bytes
    metadata: Mapping[str, str]


class ObjectWriter(Protocol):
    """Where flushed objects go; `put` either stores the whole object or raises PersistError."""

    def put(self, *, key: str, body: bytes, metadata: Mapping[str, str], content_type: str) -> None: ...


class ObjectStore(ObjectWriter, Protocol):
    """Reading too: the keys under a prefix, in S3's (lexicographic) order, and one object's content;
    and reading or writing a file too big to hold in memory (`get_file`, `put_file`: streamed, in
    parts where needed)."""

    def keys(self, prefix: str) -> Iterator[str]: ...

    def get(self, key: str) -> StoredObject: ...

    def get_file(self, key: str, path: Path) -> None: ...

    def put_file(self, *, key: str, path: Path, content_type: str) -> None: ...


class S3ObjectStore:
    """`ObjectStore` on one boto3 S3 client (thread-safe; its pool is sized by the caller)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def put(self, *, key: str, body: bytes, metadata: Mapping[str, str], content_type: str) -> None:
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=body, Metadata=dict(metadata), ContentType=content_type
            )
        except (BotoCoreError, ClientError) as exc:
            raise PersistError(f"PUT s3://{self.bucket}/{key} failed: {exc}") from exc

    def put_file(self, *, key: str, path: Path, content_type: str) -> None:
        """One object from a file: S3 makes it visible only once complete, so it replaces atomically."""
        try:
            self._client.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type})
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise PersistError(f"PUT s3://{self.bucket}/{key} failed: {exc}") from exc

    def keys(self, prefix: str) -> Iterator[str]:
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                for item in page.get("Contents", []):
                    yield str(item["Key"])
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"LIST s3://{self.bucket}/{prefix} failed: {exc}") from exc

    def get(self, key: str) -> StoredObject:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            try:
                data = response["Body"].read()
            finally:
                response["Body"].close()
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"GET s3://{self.bucket}/{key} failed: {exc}") from exc
        return StoredObject(body=data, metadata=dict(response.get("Metadata") or {}))

    def get_file(self, key: str, path: Path) -> None:
        """One object into a file, streamed (ranged GETs in parallel for a large one)."""
        try:
            self._client.download_file(self.bucket, key, str(path))
        except (BotoCoreError, ClientError, RetriesExceededError) as exc:
            raise StorageError(f"GET s3://{self.bucket}/{key} failed: {exc}") from exc
