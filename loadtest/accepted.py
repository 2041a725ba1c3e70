"""The list of records a load generator saw accepted: what `verify` must find in S3.

A record is identified as the aggregator identifies duplicates: vehicle, timestamp, can_id and
payload. The load generator writes one identity per accepted record; verification reads S3 back
and checks that every one of them is there (zero loss), counting the extra copies (duplicates).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from app.contract import TelemetryIn, format_timestamp


def identity(record: TelemetryIn) -> str:
    """A short, stable digest of (vehicle, timestamp, can_id, payload) in their canonical form.

    Works for a sent record (`TelemetryIn`) and a stored one (`TelemetryRecord`, a subclass):
    `ingest_received_at` is not part of a record's identity, so a redelivered copy matches.
    """
    key = orjson.dumps(
        [record.vehicle_id, format_timestamp(record.timestamp), record.can_id, sorted(record.payload.items())]
    )
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def identity_of(record: dict[str, Any]) -> str:
    """Identity of a record as a client sends it (validated, so the spelling is canonical)."""
    return identity(TelemetryIn.model_validate(record))


class AcceptedLog:
    """Append-only file of accepted identities, one per line."""

    FILE = "accepted.txt"

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / self.FILE
        self._file: IO[str] = self.path.open("w", encoding="ascii")
        self.count = 0

    def add(self, identities: Iterable[str]) -> None:
        for identity in identities:
            self._file.write(identity + "\n")
            self.count += 1

    def close(self) -> None:
        self._file.close()


def read_accepted(run_dir: Path) -> Iterator[str]:
    with (run_dir / AcceptedLog.FILE).open(encoding="ascii") as file:
        for line in file:
            if line.strip():
                yield line.strip()
