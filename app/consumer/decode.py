"""One SQS message body (JSON Lines of contract-v1 records) into what a flush needs, or a refusal.

Each line is read by `app.stored.decode_line` (the contract's fast path, the model behind it), so a
message is buffered only when every line in it is a record, and what is buffered is canonical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.errors import ContractError
from app.stored import decode_line


@dataclass(slots=True)
class DecodedBody:
    """The records of one message, grouped by the UTC hour of their `ingest_received_at`.

    Lines are canonical and carry no newline. `event_ms` and `ingest_ms` are the records' vehicle
    and receiver times in epoch milliseconds, for the latency figures of the batch; `vehicles` and
    `payloads` (parallel to them) are what the live anomaly rules read once the batch is stored.
    """

    groups: dict[str, list[bytes]] = field(default_factory=dict)
    vehicles: list[str] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    event_ms: list[float] = field(default_factory=list)
    ingest_ms: list[float] = field(default_factory=list)
    nbytes: int = 0

    @property
    def count(self) -> int:
        return len(self.event_ms)


def decode_body(body: bytes) -> DecodedBody:
    """All records of one message; raises ContractError naming the first bad line (1-based)."""
    decoded = DecodedBody()
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line:
            continue  # a trailing newline or a blank separator is not a record
        record = decode_line(line, number=number)
        hour = record.hour_key
        group = decoded.groups.get(hour)
        if group is None:
            group = decoded.groups[hour] = []
        group.append(record.line)
        decoded.event_ms.append(record.event_ms)
        decoded.ingest_ms.append(record.ingest_ms)
        decoded.vehicles.append(record.fields["vehicle_id"])
        decoded.payloads.append(record.fields["payload"])
        decoded.nbytes += len(record.line) + 1
    if not decoded.event_ms:
        raise ContractError("body", "holds no record")
    return decoded
