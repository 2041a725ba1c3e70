"""Bring one hour of raw objects onto the task's disk, in the shape the columnar engine reads fast.

Objects are read through the `ObjectStore` seam, several at once (S3 serves parallel GETs; the
work per object is a GET and a decompress, both of which release the GIL), and written in key
order, one line per record, prefixed with the object's number and the unit separator (0x1F):

    <object number>\x1f<stored line>\n

DuckDB then reads each file as two columns with its CSV reader (no quoting, no escaping). 0x1F can
never appear unescaped inside a JSON line, so an object whose bytes hold one is not a stream of
records as written by the consumer: its lines are handed to the contract's own reader instead
(`odd_lines`), which decides, line by line, what is a record. Memory holds at most `fetchers` * 2
objects at a time, never the hour; the files are bounded by `max_file_bytes` each.

A gzip object whose stream turns out corrupt or truncated keeps the whole lines decompressed before
the damage (they are real records) and is counted unreadable, as the Python aggregator did.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Final

from app.object_store import ObjectStore, StoredObject
from app.observability import kv

log = logging.getLogger(__name__)

PLAIN_SUFFIX: Final = ".jsonl"
GZIP_SUFFIX: Final = ".jsonl.gz"
METADATA_FLUSHED_AT: Final = "flushed-at"
METADATA_RECORD_COUNT: Final = "record-count"
UNIT_SEPARATOR: Final = b"\x1f"
#: A staging file holds at most this many bytes (an object larger than that gets a file of its
#: own), so no file grows with the hour and DuckDB reads each one as a single buffer (`scan`):
#: no line then crosses a buffer boundary, where DuckDB 2.0.1's CSV reader once failed with an
#: internal error on an 18 M-record hour.
MAX_FILE_BYTES: Final = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StagedObject:
    """One raw object: its number in the staging files, its key and the consumer's metadata.

    `extent` is (staging file, first byte, end byte) of its lines there, so the line number of a
    line the contract refuses can be found again without keeping the object in memory.
    """

    number: int
    key: str
    flushed_at_ms: int | None
    record_count: int | None
    lines: int
    unreadable: bool
    extent: tuple[Path, int, int] | None = None

    def staged_lines(self) -> list[bytes]:
        """The object's lines as staged (prefix removed), read back from disk; [] if not staged."""
        if self.extent is None:
            return []
        path, start, end = self.extent
        with path.open("rb") as file:
            file.seek(start)
            data = file.read(end - start)
        return [line.split(UNIT_SEPARATOR, 1)[1] for line in data.split(b"\n")[:-1]]


@dataclass(slots=True)
class StagedHour:
    """What `stage_hour` left on disk, and what it learnt on the way."""

    files: list[Path] = field(default_factory=list)
    objects: list[StagedObject] = field(default_factory=list)
    #: (object number, line number, line) of objects the staging format cannot carry (module docstring).
    odd_lines: list[tuple[int, int, bytes]] = field(default_factory=list)
    skipped_keys: list[str] = field(default_factory=list)

    @property
    def unreadable_objects(self) -> int:
        return sum(1 for o in self.objects if o.unreadable)


def data_keys(store: ObjectStore, prefix: str, skipped: list[str]) -> Iterator[str]:
    """Keys of the partition's data objects, in S3's (lexicographic) order; others are logged."""
    for key in store.keys(prefix):
        if key.endswith((PLAIN_SUFFIX, GZIP_SUFFIX)):
            yield key
        else:
            skipped.append(key)
            log.warning(kv("aggregate_skip_object", key=key, reason="not_jsonl"))


def stage_hour(
    store: ObjectStore,
    *,
    prefix: str,
    directory: Path,
    fetchers: int,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> StagedHour:
    """Read every data object under `prefix` and write the staging files into `directory`."""
    staged = StagedHour()
    writer = _Writer(directory, max_file_bytes, staged.files)
    keys = list(data_keys(store, prefix, staged.skipped_keys))
    with ThreadPoolExecutor(max_workers=fetchers, thread_name_prefix="raw-get") as pool:
        window: list[tuple[int, str, Future[tuple[StoredObject, bytes, bool]]]] = []
        for number, key in enumerate(keys):
            window.append((number, key, pool.submit(_fetch, store, key)))
            if len(window) >= 2 * fetchers:
                _stage_one(staged, writer, *window.pop(0))
        for item in window:
            _stage_one(staged, writer, *item)
    writer.close()
    return staged


def _fetch(store: ObjectStore, key: str) -> tuple[StoredObject, bytes, bool]:
    """The object, its JSON Lines (decompressed) and whether its gzip stream was whole."""
    stored = store.get(key)
    if not key.endswith(GZIP_SUFFIX):
        return stored, stored.body, True
    body, whole = _gunzip(stored.body)
    if not whole:
        log.error(kv("aggregate_unreadable_object", key=key, bytes_read=len(body)))
    return stored, body, whole


def _gunzip(data: bytes) -> tuple[bytes, bool]:
    """All of a gzip member, or the whole lines before a corruption or truncation and False."""
    try:
        return gzip.decompress(data), True
    except (gzip.BadGzipFile, EOFError, zlib.error):
        pass
    partial = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    out = b""
    try:
        out = partial.decompress(data)
    except zlib.error:
        out = b""
    return out[: out.rfind(b"\n") + 1], False


def _stage_one(
    staged: StagedHour,
    writer: _Writer,
    number: int,
    key: str,
    future: Future[tuple[StoredObject, bytes, bool]],
) -> None:
    stored, body, whole = future.result()
    metadata = stored.metadata
    lines = _record_lines(body)
    extent = None
    if UNIT_SEPARATOR in body:
        staged.odd_lines.extend(
            (number, line_number, line)
            for line_number, line in enumerate(body.split(b"\n"), start=1)
            if line.strip()
        )
    elif body:
        extent = writer.write(number, body)
    staged.objects.append(
        StagedObject(
            number=number,
            key=key,
            flushed_at_ms=_flushed_at_ms(metadata.get(METADATA_FLUSHED_AT), key),
            record_count=_int_or_none(metadata.get(METADATA_RECORD_COUNT)),
            lines=lines,
            unreadable=not whole,
            extent=extent,
        )
    )


def _record_lines(body: bytes) -> int:
    """Lines that are not blank: counted at C speed, and line by line only when blanks are about."""
    quick = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
    if b"\n\n" not in body and not body.startswith(b"\n") and b"\r" not in body and b" " not in body:
        return quick
    return sum(1 for line in body.splitlines() if line.strip())


def _flushed_at_ms(raw: str | None, key: str) -> int | None:
    """The object's flush time in epoch ms, or None (no latency figures from it) if absent or bad."""
    if raw is None:
        return None
    try:
        flushed = datetime.fromisoformat(raw)
        if flushed.tzinfo is None:
            raise ValueError("no UTC offset")
    except ValueError:
        log.warning(kv("aggregate_bad_metadata", key=key, field=METADATA_FLUSHED_AT))
        return None
    return round(flushed.timestamp() * 1000)


def _int_or_none(raw: str | None) -> int | None:
    try:
        return None if raw is None else int(raw)
    except ValueError:
        return None


class _Writer:
    """Appends objects to the current staging file, `<n>\\x1f` before every line."""

    def __init__(self, directory: Path, max_bytes: int, files: list[Path]) -> None:
        self._directory = directory
        self._max_bytes = max_bytes
        self._files = files
        self._file: IO[bytes] | None = None
        self._size = 0

    def write(self, number: int, body: bytes) -> tuple[Path, int, int]:
        """Append one object; returns where its lines are: (file, first byte, end byte)."""
        prefix = b"%d\x1f" % number
        if not body.endswith(b"\n"):
            body += b"\n"
        # One C-level pass: the prefix before the first line and after every newline but the last.
        data = prefix + body[:-1].replace(b"\n", b"\n" + prefix) + b"\n"
        if self._file is None or (self._size and self._size + len(data) > self._max_bytes):
            self.close()
            path = self._directory / f"stage-{len(self._files):04d}.txt"
            self._files.append(path)
            self._file = path.open("wb")
            self._size = 0
        start = self._size
        self._file.write(data)
        self._size += len(data)
        return self._files[-1], start, self._size

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
