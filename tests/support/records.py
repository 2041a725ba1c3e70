"""Records and SQS bodies in the receiver's format, for every consumer test layer.

Each record carries a unique `seq` signal so a test can prove exactly-once (or count duplicates)
by reading the stored objects back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import orjson

from app.contract import Hour, TelemetryIn


def record_line(
    seq: int,
    *,
    ingest: datetime | None = None,
    event: datetime | None = None,
    vehicle: str = "veh-00001",
) -> bytes:
    """One canonical line (`TelemetryRecord.to_json()`), exactly what the receiver enqueues."""
    ingest = ingest or datetime.now(UTC)
    event = event or ingest - timedelta(milliseconds=150)
    record = TelemetryIn.model_validate(
        {
            "timestamp": event,
            "vehicle_id": vehicle,
            "can_id": "0x1F0",
            "payload": {"seq": seq, "battery_soc": 50.0 + seq % 50, "battery_voltage": 400.0},
        }
    ).stamp(ingest)
    return record.to_json()


def body(lines: Iterable[bytes]) -> str:
    """An SQS body: lines joined with newlines (no trailing newline), as the receiver packs them."""
    return b"\n".join(lines).decode("utf-8")


def packed_bodies(
    seqs: Sequence[int], *, per_message: int, ingest: datetime | None = None, vehicle: str = "veh-00001"
) -> list[str]:
    """`seqs` packed `per_message` records at a time, all in the hour of `ingest`."""
    return [
        body(record_line(s, ingest=ingest, vehicle=vehicle) for s in seqs[i : i + per_message])
        for i in range(0, len(seqs), per_message)
    ]


def seqs_of(jsonl: bytes) -> list[int]:
    """The `seq` of every record line of an object body."""
    return [int(orjson.loads(line)["payload"]["seq"]) for line in jsonl.splitlines() if line]


def partition_of(line: bytes, prefix: str = "raw/") -> str:
    """The partition a stored line belongs in, from its ingest_received_at (the contract's `Hour`)."""
    return Hour.of(datetime.fromisoformat(orjson.loads(line)["ingest_received_at"])).partition(prefix)
