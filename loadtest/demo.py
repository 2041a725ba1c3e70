"""`make demo`: the whole pipeline end to end on one machine, verified from what landed in S3.

Starts the embedded AWS stack, the receiver and the consumer as real processes on loopback, runs
Locust headless (each user a simulated vehicle posting every 200 ms) until 10,000 records were
accepted, waits for the queue to drain, runs the hourly aggregator, and reports: accepted vs
distinct records in S3 (zero loss), the DLQ, duplicates, latency percentiles from the persisted
data, the per-vehicle table, and the answer of one SQL query over the curated Parquet of the hour.
Files land in out/: locust.html, report.json, latency.png.
Every process stops at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from app.aggregator.job import aggregate_hour
from app.aggregator.report import HourlyResult, render_table, to_document
from app.aws import s3_client
from app.contract import Hour
from app.object_store import S3ObjectStore
from app.observability import InMemoryMetrics
from app.query import render, run_query
from app.settings import load_settings
from loadtest.run import LoadOptions, LoadResult, print_result, run_against
from loadtest.stack import PipelineStack

#: Our latency target for the demo; the original requirement (the load test's default) is 5 s.
DEMO_BUDGET_MS = 1_000.0


def plot_latency(result: LoadResult, path: Path) -> None:
    """Histogram of ingest-to-persist and end-to-end latency, with the p95 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = result.verification
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    for values, label, colour in (
        (v.ingest_latencies_ms, "ingest → persist", "tab:blue"),
        (v.e2e_latencies_ms, "vehicle timestamp → persist (end to end)", "tab:orange"),
    ):
        if values:
            ax.hist(values, bins=60, alpha=0.6, label=label, color=colour)
    if v.ingest_to_persist_ms:
        p95 = v.ingest_to_persist_ms["p95"]
        ax.axvline(p95, color="tab:blue", linestyle="--", label=f"ingest → persist p95 = {p95:.0f} ms")
    ax.axvline(DEMO_BUDGET_MS, color="tab:red", linestyle=":", label=f"target {DEMO_BUDGET_MS:.0f} ms")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("records")
    ax.set_title(f"Latency of {v.found:,} records, measured from the objects in S3")
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


#: The demo's closing question, asked of the curated layer (docs/queries.md asks it of Athena too).
DEMO_QUERY = (
    "SELECT vehicle_id, count(*) AS records, round(max(cell_temp_max), 1) AS hottest_c, "
    "round(min(cell_voltage_min), 3) AS lowest_cell_v, round(avg(battery_soc), 1) AS mean_soc "
    "FROM curated GROUP BY vehicle_id ORDER BY hottest_c DESC LIMIT 10"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="records to get accepted")
    parser.add_argument("--users", type=int, default=100, help="simulated vehicles (Locust users)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="where the reports go")
    args = parser.parse_args(argv)
    out: Path = args.out
    run_dir = out / "demo-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    options = LoadOptions(users=args.users, messages=args.messages, budget_ms=DEMO_BUDGET_MS)
    started = datetime.now(UTC)

    with PipelineStack(run_dir / "processes") as stack:
        print("1/5 starting the embedded AWS stack (moto server) ...", flush=True)
        os.environ.update(stack.start_aws())
        print("2/5 starting the receiver and the consumer ...", flush=True)
        url = stack.start_receiver()
        stack.start_consumer()
        print(
            f"3/5 Locust: {options.users} vehicles posting to {url} until {options.messages:,} accepted ...",
            flush=True,
        )
        result = run_against(url, api_key=stack.api_key, run_dir=run_dir, options=options)
        print("4/5 queue drained; running the hourly aggregator ...", flush=True)
        settings = load_settings()
        store = S3ObjectStore(s3_client(settings), settings.bucket)
        hours = Hour.covering(started, datetime.now(UTC))
        hourly: list[HourlyResult] = [
            aggregate_hour(store=store, settings=settings, hour=hour, metrics=InMemoryMetrics(keep=False))
            for hour in hours
        ]
        answer = render(*run_query(DEMO_QUERY, store=store, settings=settings, hours=hours), "table")
    print("5/5 every process stopped\n", flush=True)

    print_result(result)
    for hour in hourly:
        print(f"\nper-vehicle statistics, hour {hour.hour_label} (from the aggregator's vehicle_stats.json):")
        print(render_table(hour))

    print(f"\nSQL over the curated Parquet (telemetry query, the Athena table curated):\n  {DEMO_QUERY}\n")
    print(answer, end="")

    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(run_dir / "locust.html", out / "locust.html")
    plot_latency(result, out / "latency.png")
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(),
        "locust_seconds": round(result.locust_seconds, 1),
        "verification": result.verification.summary(),
        "aggregates": [to_document(hour) for hour in hourly],
    }
    (out / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"\nfiles: {out / 'locust.html'}, {out / 'report.json'}, {out / 'latency.png'}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
