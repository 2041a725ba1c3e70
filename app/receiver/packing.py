"""Records -> SQS messages -> SendMessageBatch calls: pure functions, no I/O, no clock.

The message format is a contract with the consumer: the body is JSON Lines, each line exactly
`TelemetryRecord.to_json()`, lines joined by "\\n". Nothing else about a record travels beside it:
the consumer takes each record's S3 partition from its own `ingest_received_at`, so a message may
hold records of two hours (around the full hour) and becomes part of two objects. Two optional
attributes ride along (`record_count`, `contract`); the consumer must not need them.

Sizes are counted the way SQS counts them: a message's size is its body plus, for every message
attribute, the bytes of its name, data type and value. `message_max_bytes` caps that total, so a
64 KiB message is exactly one billing chunk. SendMessageBatch takes at most 10 entries, and its
total payload must stay within the limit. AWS raised that limit to 1 MiB in 2025, but older
regions, SDK docs and the queue's own MaximumMessageSize (256 KiB, the Terraform provider's cap)
still say 256 KiB, so calls are capped at 256 KiB, which both accept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from app.contract import CONTRACT_VERSION
from app.settings import Settings

#: SendMessageBatch accepts at most this many entries.
SQS_MAX_BATCH_ENTRIES = 10
#: Total payload of one SendMessageBatch call (sum of message sizes), the limit every region accepts.
SQS_MAX_BATCH_BYTES = 262_144
#: The largest message SQS takes on a queue at its 256 KiB MaximumMessageSize.
SQS_MAX_MESSAGE_BYTES = 262_144

RECORD_COUNT_ATTRIBUTE = "record_count"
CONTRACT_ATTRIBUTE = "contract"

Owner = TypeVar("Owner")


@dataclass(frozen=True, slots=True)
class PackLimits:
    """How full one message may get: records and bytes (body + attributes), whichever comes first."""

    records_per_message: int
    message_max_bytes: int

    def __post_init__(self) -> None:
        if self.records_per_message < 1:
            raise ValueError("records_per_message must be at least 1")
        if not 1024 <= self.message_max_bytes <= SQS_MAX_MESSAGE_BYTES:
            raise ValueError(f"message_max_bytes must be within 1024..{SQS_MAX_MESSAGE_BYTES}")

    @classmethod
    def from_settings(cls, settings: Settings) -> PackLimits:
        return cls(
            records_per_message=settings.records_per_message, message_max_bytes=settings.message_max_bytes
        )


def message_attributes(record_count: int) -> dict[str, dict[str, str]]:
    """The optional attributes of one message, in the SendMessageBatch entry shape."""
    return {
        RECORD_COUNT_ATTRIBUTE: {"DataType": "Number", "StringValue": str(record_count)},
        CONTRACT_ATTRIBUTE: {"DataType": "String", "StringValue": CONTRACT_VERSION},
    }


def attributes_size(record_count: int) -> int:
    """Bytes the attributes add to a message's size: name + data type + value, per attribute."""
    return (
        len(RECORD_COUNT_ATTRIBUTE)
        + len("Number")
        + len(str(record_count))
        + len(CONTRACT_ATTRIBUTE)
        + len("String")
        + len(CONTRACT_VERSION)
    )


@dataclass(slots=True)
class Message(Generic[Owner]):
    """One SQS message being filled: its lines, and whose records they are."""

    lines: list[bytes] = field(default_factory=list)
    owners: list[Owner] = field(default_factory=list)
    body_bytes: int = 0

    @property
    def size(self) -> int:
        """The message's size as SQS counts it (body + attributes)."""
        return self.body_bytes + attributes_size(len(self.lines))

    def body(self) -> str:
        return b"\n".join(self.lines).decode("utf-8")

    def entry(self, entry_id: str) -> dict[str, object]:
        """The SendMessageBatch entry for this message."""
        return {
            "Id": entry_id,
            "MessageBody": self.body(),
            "MessageAttributes": message_attributes(len(self.lines)),
        }

    def fits(self, line: bytes, limits: PackLimits) -> bool:
        if not self.lines:
            return True  # a record bigger than the cap still travels, alone in its message
        if len(self.lines) >= limits.records_per_message:
            return False
        added = len(line) + 1  # the "\n" before it
        return self.body_bytes + added + attributes_size(len(self.lines) + 1) <= limits.message_max_bytes

    def add(self, line: bytes, owner: Owner) -> None:
        self.body_bytes += len(line) + (1 if self.lines else 0)
        self.lines.append(line)
        if not self.owners or self.owners[-1] is not owner:
            self.owners.append(owner)


def pack(parts: Iterable[tuple[Owner, Sequence[bytes]]], limits: PackLimits) -> list[Message[Owner]]:
    """Fill messages from `(owner, lines)` parts, in order.

    An owner (one request) whose lines do not fit the current message continues in the next one,
    so a message lists every owner that has at least one record in it; the publisher answers an
    owner only when all of its messages are acknowledged.
    """
    done: list[Message[Owner]] = []
    current: Message[Owner] | None = None
    for owner, lines in parts:
        for line in lines:
            if current is None or not current.fits(line, limits):
                if current is not None:
                    done.append(current)
                current = Message()
            current.add(line, owner)
    if current is not None:
        done.append(current)
    return done


def group_calls(messages: Sequence[Message[Owner]]) -> list[list[Message[Owner]]]:
    """Split messages into SendMessageBatch calls: at most 10 entries and 256 KiB in total each."""
    calls: list[list[Message[Owner]]] = []
    current: list[Message[Owner]] = []
    current_bytes = 0
    for message in messages:
        size = message.size
        if current and (len(current) >= SQS_MAX_BATCH_ENTRIES or current_bytes + size > SQS_MAX_BATCH_BYTES):
            calls.append(current)
            current, current_bytes = [], 0
        current.append(message)
        current_bytes += size
    if current:
        calls.append(current)
    return calls
