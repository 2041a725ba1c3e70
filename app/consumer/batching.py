"""The buffer, its flush rules, and the objects one flush writes.

A buffer is sealed into a `Batch` when any rule trips: record count, bytes (the rotation size) or
the age of its oldest record, counted from when the consumer received it (a backlog of old records
must not shrink every batch to one receive). Whole messages only: a message is deleted only when
every record it holds is in S3, so splitting one across batches would only delay its delete. The
count rule is checked after each receive call (ten packed messages make one batch, not ten); the
bytes rule after each message and, when a message would push the buffer past the limit, before it,
so objects stay under the rotation size unless one message alone is larger.

A batch becomes one object per UTC hour of `ingest_received_at` present in it. The object name is
`part-<uuid5(hour + sorted SQS message ids)>`: SQS keeps a message's id across redeliveries, so
a batch that is redelivered whole after a crash between PUT and delete overwrites its own object
instead of adding a duplicate (docs/consumer.md says what this does not cover).
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from app.consumer.decode import DecodedBody
from app.consumer.ports import ReceivedMessage
from app.contract import Hour, format_timestamp

#: Namespace of the uuid5 object names; changing it would break the overwrite-on-redelivery property.
PART_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://fleet-telemetry.example/consumer/raw-part")
JSONL_CONTENT_TYPE: Final = "application/x-ndjson"
GZIP_CONTENT_TYPE: Final = "application/gzip"
#: zlib level 6: ~4x smaller JSON Lines at a few ms per MB; mtime=0 keeps a rewrite byte-identical.
GZIP_LEVEL: Final = 6


class FlushReason(StrEnum):
    COUNT = "count"
    BYTES = "bytes"
    AGE = "age"
    SHUTDOWN = "shutdown"


@dataclass(frozen=True, slots=True)
class BufferedMessage:
    """A received message whose body decoded cleanly, waiting in the buffer."""

    message: ReceivedMessage
    body: DecodedBody

    @property
    def message_id(self) -> str:
        return self.message.message_id


@dataclass(slots=True)
class Batch:
    """Sealed buffer contents: written together, deleted by message as their objects succeed."""

    messages: list[BufferedMessage]
    records: int
    nbytes: int
    opened_at: float
    reason: FlushReason
    sealed_at: float


@dataclass(frozen=True, slots=True)
class PartObject:
    """One S3 object of a batch: one hour's records and the messages that contributed to it."""

    key: str
    hour: Hour
    body: bytes
    raw_bytes: int
    records: int
    message_ids: frozenset[str]
    metadata: dict[str, str]
    content_type: str


@dataclass(slots=True)
class Buffer:
    """Not thread-safe: the consumer holds its lock around every call."""

    max_records: int
    max_bytes: int
    max_age: float
    messages: list[BufferedMessage] = field(default_factory=list)
    records: int = 0
    nbytes: int = 0
    opened_at: float | None = None

    @property
    def deadline(self) -> float | None:
        """When the age rule trips (monotonic seconds), or None while empty."""
        return None if self.opened_at is None else self.opened_at + self.max_age

    def add(self, messages: Iterable[BufferedMessage], *, now: float) -> list[Batch]:
        """Add the messages of one receive call; returns the batches this sealed, oldest first."""
        sealed: list[Batch] = []
        for item in messages:
            if self.messages and self.nbytes + item.body.nbytes > self.max_bytes:
                sealed.append(self._seal(FlushReason.BYTES, now))
            if self.opened_at is None:
                self.opened_at = now
            self.messages.append(item)
            self.records += item.body.count
            self.nbytes += item.body.nbytes
            if self.nbytes >= self.max_bytes:
                sealed.append(self._seal(FlushReason.BYTES, now))
        if self.messages and self.records >= self.max_records:
            sealed.append(self._seal(FlushReason.COUNT, now))
        return sealed

    def seal_if_old(self, *, now: float) -> Batch | None:
        deadline = self.deadline
        if deadline is None or now < deadline:
            return None
        return self._seal(FlushReason.AGE, now)

    def seal(self, reason: FlushReason, *, now: float) -> Batch | None:
        return self._seal(reason, now) if self.messages else None

    def _seal(self, reason: FlushReason, now: float) -> Batch:
        batch = Batch(
            messages=self.messages,
            records=self.records,
            nbytes=self.nbytes,
            opened_at=now if self.opened_at is None else self.opened_at,
            reason=reason,
            sealed_at=now,
        )
        self.messages, self.records, self.nbytes, self.opened_at = [], 0, 0, None
        return batch


def part_uuid(hour: Hour, message_ids: Iterable[str]) -> uuid.UUID:
    """The same hour and the same set of messages always name the same object."""
    return uuid.uuid5(PART_NAMESPACE, "\n".join([hour.key, *sorted(message_ids)]))


def object_key(*, prefix: str, hour: Hour, message_ids: Iterable[str], compressed: bool) -> str:
    """`part-<uuid>.jsonl[.gz]` in the hour's partition under `prefix`."""
    suffix = ".jsonl.gz" if compressed else ".jsonl"
    return f"{hour.partition(prefix)}part-{part_uuid(hour, message_ids)}{suffix}"


def build_objects(batch: Batch, *, prefix: str, compress: bool, flushed_at: datetime) -> list[PartObject]:
    """One object per hour present in the batch, in hour order."""
    lines_by_hour: dict[str, list[bytes]] = {}
    ids_by_hour: dict[str, set[str]] = {}
    for item in batch.messages:
        for key, lines in item.body.groups.items():
            lines_by_hour.setdefault(key, []).extend(lines)
            ids_by_hour.setdefault(key, set()).add(item.message_id)
    stamp = format_timestamp(flushed_at)
    objects = []
    for key in sorted(lines_by_hour):
        lines, hour = lines_by_hour[key], Hour(key)
        raw = b"\n".join(lines) + b"\n"
        body = gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0) if compress else raw
        objects.append(
            PartObject(
                key=object_key(prefix=prefix, hour=hour, message_ids=ids_by_hour[key], compressed=compress),
                hour=hour,
                body=body,
                raw_bytes=len(raw),
                records=len(lines),
                message_ids=frozenset(ids_by_hour[key]),
                metadata={"record-count": str(len(lines)), "flushed-at": stamp},
                content_type=GZIP_CONTENT_TYPE if compress else JSONL_CONTENT_TYPE,
            )
        )
    return objects
