"""Staging files are bounded, and DuckDB reads each one as a single buffer.

DuckDB 2.0.1's CSV reader raised an internal error on a line that crossed from one of its buffers
into the next (once, in an 18 M-record hour). The staging files are cut so that every file fits
one buffer and `scan` sizes the buffer to the largest file: no line ever crosses a boundary.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from app.aggregator.columnar import buffer_bytes, scan
from app.aggregator.staging import MAX_FILE_BYTES, stage_hour
from tests.support.storage import MemoryStore

PREFIX = "raw/year=2025/month=10/day=19/hour=12/"


def _object(n: int, lines: int, width: int) -> bytes:
    return b"".join(b'{"n":%d,"i":%d,"pad":"%s"}\n' % (n, i, b"x" * width) for i in range(lines))


def _store(bodies: list[bytes]) -> MemoryStore:
    store = MemoryStore()
    for n, body in enumerate(bodies):
        store.put(
            key=f"{PREFIX}part-{n:05d}.jsonl", body=body, metadata={}, content_type="application/x-ndjson"
        )
    return store


def test_no_file_passes_the_limit_unless_one_object_alone_does(tmp_path: Path) -> None:
    bodies = [_object(n, lines=40, width=50) for n in range(30)]  # ~3 KB each
    bodies.insert(7, _object(99, lines=400, width=50))  # ~30 KB: over the limit on its own
    limit = 10_000
    staged = stage_hour(_store(bodies), prefix=PREFIX, directory=tmp_path, fetchers=3, max_file_bytes=limit)

    sizes = {path: path.stat().st_size for path in staged.files}
    assert len(sizes) > 3
    big = [obj.extent for obj in staged.objects if obj.extent and obj.extent[2] - obj.extent[1] > limit]
    assert len(big) == 1 and big[0][1] == 0 and big[0][2] == sizes[big[0][0]]  # alone in its file
    assert all(size <= limit for path, size in sizes.items() if path != big[0][0])
    assert sum(sizes.values()) == sum(len(b) for b in bodies) + sum(
        len(b"%d\x1f" % o.number) * o.lines for o in staged.objects
    )


def test_the_scan_buffer_holds_the_largest_file_and_reads_every_line(tmp_path: Path) -> None:
    bodies = [_object(n, lines=50, width=30) for n in range(12)]
    staged = stage_hour(_store(bodies), prefix=PREFIX, directory=tmp_path, fetchers=2, max_file_bytes=4_000)

    assert buffer_bytes(staged.files) == MAX_FILE_BYTES  # small files: DuckDB's default buffer
    rows = duckdb.connect().execute(f"SELECT obj, line FROM {scan(staged.files)}").fetchall()
    expected = [(n, line.decode()) for n, body in enumerate(bodies) for line in body.splitlines()]
    assert sorted(rows) == sorted(expected)


def test_a_file_larger_than_the_default_buffer_gets_a_buffer_that_holds_it(tmp_path: Path) -> None:
    small, large = tmp_path / "a.txt", tmp_path / "b.txt"
    small.write_bytes(b"0\x1f{}\n")
    with large.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 5)
    assert buffer_bytes([small, large]) == MAX_FILE_BYTES + 6
    assert f"buffer_size={MAX_FILE_BYTES + 6}" in scan([small, large])
