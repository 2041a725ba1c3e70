"""An in-memory `ObjectStore` (app/object_store.py): what the consumer and the hourly job see of S3.

Objects live in a dict by key, listed in S3's lexicographic order. Faults go in through the
constructor, not by patching: `fail(key, attempt_number)` returning True makes that PUT raise
PersistError, `hold` makes every PUT wait for an event, and `unreadable` keys raise StorageError
on GET.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from app.errors import PersistError, StorageError
from app.object_store import StoredObject


@dataclass
class MemoryStore:
    """Objects by key as (body, metadata, content type); every PUT attempt is recorded in order."""

    fail: Callable[[str, int], bool] = lambda key, n: False
    hold: threading.Event | None = None
    unreadable: frozenset[str] = frozenset()
    objects: dict[str, tuple[bytes, dict[str, str], str]] = field(default_factory=dict)
    attempts: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, *, key: str, body: bytes, metadata: Mapping[str, str], content_type: str) -> None:
        if self.hold is not None:
            self.hold.wait(10)
        with self._lock:
            self.attempts.append(key)
            n = self.attempts.count(key)
        if self.fail(key, n):
            raise PersistError(f"injected failure for {key} (attempt {n})")
        with self._lock:
            self.objects[key] = (body, dict(metadata), content_type)

    def put_file(self, *, key: str, path: Path, content_type: str) -> None:
        self.put(key=key, body=path.read_bytes(), metadata={}, content_type=content_type)

    def keys(self, prefix: str) -> Iterator[str]:
        with self._lock:
            found = sorted(key for key in self.objects if key.startswith(prefix))
        yield from found

    def get(self, key: str) -> StoredObject:
        if key in self.unreadable:
            raise StorageError(f"GET memory://{key} failed: injected")
        with self._lock:
            body, metadata, _ = self.objects[key]
        return StoredObject(body=body, metadata=metadata)

    def get_file(self, key: str, path: Path) -> None:
        path.write_bytes(self.get(key).body)

    def body(self, key: str) -> bytes:
        return self.objects[key][0]
