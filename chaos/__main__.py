"""`make chaos`: run every scenario, print the table, write out/chaos.json, exit 1 on any failure.

A failure is any scenario whose checks fail (above all: an acknowledged record missing from S3),
or the whole run taking longer than the issue's 15 minutes.

    python -m chaos                 # all nine, in order
    python -m chaos --only 3,6      # a subset, by number (for working on one)

The table has one row per scenario: records acknowledged (202), distinct good records in S3, lost
(acknowledged but not in S3: must be 0), duplicates (extra stored copies), DLQ messages, verdict
and seconds. Below it, every failed check is named. The JSON holds each scenario's tally, checks
and measured facts (docs/operations.md quotes them).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from chaos.scenarios import SCENARIOS, Context, Verdict

#: The issue's bound for the whole suite on this machine.
SUITE_BUDGET_SECONDS = 15 * 60


def run_one(scenario: Callable[[Context], Verdict], ctx: Context) -> Verdict:
    """Run one scenario; an exception is a failed verdict carrying its traceback's last line."""
    started = time.monotonic()
    try:
        verdict = scenario(ctx)
    except Exception as exc:  # a scenario that crashes fails; the others still run
        name = scenario.__name__
        verdict = Verdict(name, name, error=f"{type(exc).__name__}: {exc}")
        (ctx.out_dir / f"{name}.traceback.txt").write_text(traceback.format_exc())
    verdict.seconds = time.monotonic() - started
    return verdict


def table(verdicts: list[Verdict]) -> str:
    header = ("scenario", "acked", "in S3", "lost", "dups", "DLQ", "verdict", "s")
    rows = [
        (
            v.key,
            f"{v.tally.acknowledged:,}",
            f"{v.tally.in_s3:,}",
            f"{v.tally.lost:,}",
            f"{v.tally.duplicates:,}",
            str(v.tally.dlq),
            "PASS" if v.passed else "FAIL",
            f"{v.seconds:.0f}",
        )
        for v in verdicts
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for i, row in enumerate([header, *rows]):
        cells = [
            cell.ljust(w) if j == 0 else cell.rjust(w)
            for j, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated scenario numbers, e.g. 3,6")
    parser.add_argument("--out", type=Path, default=Path("out/chaos"), help="logs and chaos.json go here")
    args = parser.parse_args(argv)
    chosen = list(enumerate(SCENARIOS, start=1))
    if args.only:
        wanted = {int(n) for n in args.only.split(",")}
        chosen = [(n, s) for n, s in chosen if n in wanted]
    run_dir = args.out / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(out_dir=run_dir)
    started = time.monotonic()
    verdicts: list[Verdict] = []
    for number, scenario in chosen:
        print(f"chaos: {number}/{len(SCENARIOS)} {scenario.__name__} ...", flush=True)
        verdict = run_one(scenario, ctx)
        verdicts.append(verdict)
        print(
            f"chaos: {verdict.key}: {'PASS' if verdict.passed else 'FAIL'} in {verdict.seconds:.0f} s",
            flush=True,
        )
    total = time.monotonic() - started
    within_budget = total <= SUITE_BUDGET_SECONDS
    report = {
        "started_at": run_dir.name,
        "total_seconds": round(total, 1),
        "within_budget": within_budget,
        "passed": within_budget and all(v.passed for v in verdicts),
        "scenarios": [v.as_dict() for v in verdicts],
    }
    payload = orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    (run_dir / "chaos.json").write_bytes(payload)
    Path("out").mkdir(exist_ok=True)
    Path("out/chaos.json").write_bytes(payload)
    print()
    print(table(verdicts))
    for v in verdicts:
        for name in v.failed_checks():
            print(f"FAILED {v.key}: {name}")
        if v.error:
            print(f"FAILED {v.key}: crashed: {v.error} (see {run_dir})")
    print(f"\nchaos: {len(verdicts)} scenarios in {total:.0f} s; logs and chaos.json in {run_dir}/")
    if not within_budget:
        print(f"FAILED: the suite took over its {SUITE_BUDGET_SECONDS // 60} minute budget")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
