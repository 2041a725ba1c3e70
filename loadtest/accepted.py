"""The list of records a load generator saw accepted: what `verify` must find in S3.

A record is identified by the contract's `record_identity`, the one the hourly job dedupes by. The
load generator writes one identity per accepted record; verification reads S3 back and checks that
every one of them is there (zero loss), counting the extra copies (duplicates).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from app.contract import TelemetryIn, record_identity


def identity_of(record: dict[str, Any]) -> str:
    """Identity of a record as a client sends it (validated first, so its spelling is canonical)."""
    return record_identity(TelemetryIn.model_validate(record))


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
