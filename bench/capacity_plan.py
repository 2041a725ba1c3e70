"""Capacity and cost plan from 1,000 to 50,000 msg/s, computed from `make bench`'s out/bench.json.

    python -m bench.capacity_plan [--bench out/bench.json] [--out docs/capacity.md]   (make capacity)

Every figure of docs/capacity.md comes from here, from three inputs and one table of prices:

- out/bench.json: CPU per record of the receiver (single-record POSTs and 100-record batches) and
  of the consumer, bytes per stored record, request body sizes, the hourly job's run;
- infra/variables.tf (task sizes, autoscaling targets and ranges, the hourly job's budget) and
  infra/ecs.tf (the hourly job's --lookback), read as text;
- app/settings.py's defaults (packing linger, SQS message size, flush rules, hourly fetchers);
- PRICES below, each with its unit, region, date checked and source.

What is a model rather than a measurement is named in ASSUMPTIONS and printed in the document.
A bench.json without a field the plan needs stops with one line naming it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from app.settings import Settings
from bench.__main__ import PRICE_DATE, SQS_CHUNK, billed
from bench.__main__ import PRICES as BENCH_PRICES

ROOT: Final = Path(__file__).resolve().parents[1]
DEFAULT_BENCH: Final = Path("out/bench.json")
DEFAULT_OUT: Final = Path("docs/capacity.md")
VARIABLES_TF: Final = ROOT / "infra" / "variables.tf"
ECS_TF: Final = ROOT / "infra" / "ecs.tf"
PROD_TFVARS: Final = ROOT / "infra" / "envs" / "prod.tfvars"
DEFAULTS_JSON: Final = ROOT / "app" / "pipeline_defaults.json"

RATES: Final = (1_000, 5_000, 20_000, 50_000)
#: How many records one POST carries, per client mode.
MODES: Final = {"single": 1, "batch": 100}
#: The rate whose task counts autoscaling's max_count must allow (see "Autoscaling maxima").
DESIGN_RATE: Final = 20_000

HOURS_PER_MONTH: Final = 730.0
SECONDS_PER_MONTH: Final = HOURS_PER_MONTH * 3600
GB: Final = 2**30  # every "GB" here is 2^30 bytes, as bench/__main__.py counts storage
KIB: Final = 1024

# --- Assumptions: what the plan models instead of measuring ------------------------------------
#: Round trip of one SendMessageBatch or ReceiveMessage inside the region. Not measured (the bench
#: runs against moto on loopback); it caps SQS calls per receiver task at publish_concurrency / it.
SQS_CALL_LATENCY_S: Final = 0.020
#: A consumer holds a message from receive to delete for its flush time plus this (PUT + delete).
WRITE_S: Final = 0.5
#: Records per second per vehicle: the simulator's fleet sends two CAN frames every 200 ms
#: (bench/hourly_bench.py: 100 vehicles = 1,000 records/s).
RECORDS_PER_VEHICLE_S: Final = 10.0
#: Connection reuse: each vehicle keeps one HTTPS connection open (keep-alive; the ALB's idle
#: timeout is 60 s and a vehicle sends at least every 10 s) and opens a new one every 5 minutes
#: (cellular handovers, carrier NAT timeouts).
CONNECTION_LIFETIME_S: Final = 300.0
#: HTTP request line and headers (X-API-Key included) plus the 202 response, per request.
HTTP_OVERHEAD_BYTES: Final = 550.0
#: Listener rules the ALB evaluates per request beyond its default action (infra/alb.tf: none).
ALB_RULES_EVALUATED: Final = 0
ALB_FREE_RULES: Final = 10
#: CloudWatch Logs bytes per consumer flush: the write_batch line and its EMF event (up to 100
#: samples per latency array). A `make demo` consumer log (2026-12-01) held 4,563 bytes per flush
#: over 90 flushes with three arrays (two of ~100 values, 1,622 and 1,694 bytes); the consumer now
#: also emits VehicleDelayMs, one more 100-value array: + 1,680.
LOG_BYTES_PER_FLUSH: Final = 4_563.0 + 1_680.0
#: The receiver's EMF event, one per metrics interval (10 s) per task: 3,125 bytes in the same demo.
RECEIVER_LOG_BYTES_PER_S: Final = 312.5
#: Median GET latency of a small S3 object, in region. AWS's S3 performance whitepaper puts small
#: requests' median latency "in the tens of milliseconds"; the hourly job's reads are bound by it.
S3_GET_LATENCY_S: Final = 0.050
#: CPU one GET costs the hourly job (boto3 signing and parsing, the write to its scratch disk).
GET_CPU_S: Final = 0.001
#: Scratch disk of the hourly job: the hour's JSON staged once and about as much again spilled
#: (infra/README.md, "The hourly job's disk"), plus the image.
SCRATCH_FACTOR: Final = 2.0
IMAGE_GIB: Final = 1.0
#: Fargate sizes the hourly job may grow to (vCPU, GB), 2 GB per vCPU as infra sizes it.
HOURLY_SIZES: Final = ((1, 2), (2, 4), (4, 8), (8, 16), (16, 32))
FARGATE_FREE_EPHEMERAL_GIB: Final = 20
FARGATE_MAX_EPHEMERAL_GIB: Final = 200
#: Amazon Data Firehose's S3 buffer (its defaults: 5 MiB or 300 s, whichever first).
FIREHOSE_BUFFER_BYTES: Final = 5 * 2**20
FIREHOSE_BUFFER_S: Final = 300.0
#: One Firehose / Kinesis record carries this many telemetry records in the aggregated variant.
AGGREGATE: Final = 100

ASSUMPTIONS: Final = (
    (
        "CPU headroom",
        "tasks are planned at the receiver's autoscaling target, `cpu_target_percent`, of their vCPUs; the consumer at the same share",
    ),
    (
        "CPU per vCPU",
        "one core of the bench machine counts as one Fargate vCPU (no correction; hosts differ by ~1.4x, README)",
    ),
    (
        "SQS round trip",
        f"{SQS_CALL_LATENCY_S * 1000:.0f} ms per SendMessageBatch or ReceiveMessage in region (not measured: the bench runs against moto)",
    ),
    (
        "receiver packing",
        "a flush collects what arrives within the linger after the first waiting record, at most `publish_concurrency` flushes in flight; calls/s per task = max(min(1 / (1/requests_per_s + linger), concurrency / round trip), bytes_per_s / 256 KiB)",
    ),
    (
        "consumer receives",
        "a long poll returns as soon as messages wait: receives/s per task = max(messages_per_s / 10, min(messages_per_s, pollers / round trip))",
    ),
    (
        "consumer flushes",
        "the count rule is checked after each receive (a receive of >= flush_max_records records is one flush), else the age or bytes rule; one object per flush (an hour boundary adds one)",
    ),
    (
        "in flight",
        f"a message is in flight for its flush time + {WRITE_S} s (PUT and delete); the visibility timeout (60 s) is never reached, so no ChangeMessageVisibility calls",
    ),
    (
        "fleet",
        f"{RECORDS_PER_VEHICLE_S:.0f} records/s per vehicle (the simulator's fleet): vehicles = rate / {RECORDS_PER_VEHICLE_S:.0f}",
    ),
    (
        "connection reuse",
        f"one keep-alive HTTPS connection per vehicle, renewed every {CONNECTION_LIFETIME_S:.0f} s; {HTTP_OVERHEAD_BYTES:.0f} bytes of headers and response per request",
    ),
    (
        "logs",
        f"INFO (prod's level): the consumer logs one write_batch line + one EMF event per flush ({LOG_BYTES_PER_FLUSH:,.0f} bytes: a demo log's, + the array added since), the receiver one EMF event per 10 s per task ({RECEIVER_LOG_BYTES_PER_S * 10:,.0f} bytes); no line per request or record (DEBUG adds one per request)",
    ),
    (
        "S3 GET latency",
        f"{S3_GET_LATENCY_S * 1000:.0f} ms per raw object: the hourly job reads an hour in objects x latency / fetchers, and spends {GET_CPU_S * 1000:.0f} ms of CPU per GET",
    ),
    (
        "hourly job scaling",
        "its engine and write phases scale linearly with the task's vCPUs (the bench ran them on all the machine's cores); disk = 2 x the hour's raw bytes + 1 GiB",
    ),
    (
        "storage",
        "raw/ kept raw_retention_days (7) + 7 days as noncurrent versions; curated/ at steady state over its lifecycle (STANDARD, IA, Glacier IR, expiry), bytes per record from the hourly run",
    ),
    (
        "Firehose and Kinesis",
        f"the receiver calls them instead of SQS; aggregated = {AGGREGATE} records per Firehose/Kinesis record (newline-joined, as SQS messages are); a Kinesis consumer costs what the SQS consumer costs (same CPU, PUTs, logs); Firehose writes S3 itself (its default 5 MiB / 300 s buffer)",
    ),
)


class PlanInputError(Exception):
    """bench.json (or infra/) lacks something the plan needs; the message is one line."""


# --- Prices --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Price:
    value: float
    unit: str
    checked: str
    source: str
    how: str


REGION: Final = "us-east-1"
CHECKED: Final = "2026-12-01"
_STORED = f"stored copy read {CHECKED}"
_LIST = f"list price as of {PRICE_DATE}, not re-checked here"
_BENCH = f"bench/__main__.py PRICES ({PRICE_DATE})"

PRICES: Final[dict[str, Price]] = {
    "sqs_request": Price(
        BENCH_PRICES["sqs_standard_per_million_requests"] / 1e6,
        "per request (each 64 KiB chunk of a call's payload is one)",
        PRICE_DATE,
        "https://aws.amazon.com/sqs/pricing/",
        f"{_BENCH}; $0.40 per million and the 64 KB rule also in cloudburn.io/blog/amazon-sqs-pricing (2026-03), {_STORED}",
    ),
    "s3_put": Price(
        BENCH_PRICES["s3_put_per_thousand"] / 1000,
        "per PUT (S3 Standard)",
        PRICE_DATE,
        "https://aws.amazon.com/s3/pricing/",
        f"{_BENCH}; also c3x.dev/blog/s3-request-fees-explained, {_STORED}",
    ),
    "s3_get": Price(
        0.0004 / 1000,
        "per GET (S3 Standard)",
        CHECKED,
        "https://aws.amazon.com/s3/pricing/",
        f"c3x.dev/blog/s3-request-fees-explained, {_STORED}; infra/README.md (2026-11-23)",
    ),
    "s3_standard": Price(
        BENCH_PRICES["s3_standard_per_gb_month"],
        "per GB-month, S3 Standard (first 50 TB)",
        PRICE_DATE,
        "https://aws.amazon.com/s3/pricing/",
        _BENCH,
    ),
    "s3_ia": Price(
        0.0125,
        "per GB-month, S3 Standard-IA",
        "2026-11-23",
        "https://aws.amazon.com/s3/pricing/",
        "infra/README.md, Costs per month (2026-11-23); not re-checked here",
    ),
    "s3_glacier_ir": Price(
        0.004,
        "per GB-month, S3 Glacier Instant Retrieval",
        "2026-11-23",
        "https://aws.amazon.com/s3/pricing/",
        "infra/README.md, Costs per month (2026-11-23); not re-checked here",
    ),
    "fargate_vcpu": Price(
        BENCH_PRICES["fargate_x86_per_vcpu_hour"],
        "per vCPU-hour, Linux/x86, on demand",
        PRICE_DATE,
        "https://aws.amazon.com/fargate/pricing/",
        f"{_BENCH}; also vantage.sh/blog/fargate-pricing (us-east-1 table), {_STORED}",
    ),
    "fargate_gb": Price(
        BENCH_PRICES["fargate_x86_per_gb_hour"],
        "per GB-hour, Linux/x86, on demand",
        PRICE_DATE,
        "https://aws.amazon.com/fargate/pricing/",
        f"{_BENCH}; also vantage.sh/blog/fargate-pricing, {_STORED}",
    ),
    "fargate_ephemeral": Price(
        0.000111,
        "per GB-hour of ephemeral storage beyond the free 20 GB",
        CHECKED,
        "https://aws.amazon.com/fargate/pricing/",
        f"vantage.sh/blog/fargate-pricing, {_STORED}",
    ),
    "alb_hour": Price(
        0.0225,
        "per ALB-hour",
        CHECKED,
        "https://aws.amazon.com/elasticloadbalancing/pricing/",
        f"cloud-horizons.com/blog/alb-the-line-item-nobody-watches (2026-05), {_STORED}",
    ),
    "alb_lcu": Price(
        0.008,
        "per LCU-hour (LCU = max of 25 new conn/s, 3,000 active conn/min, 1 GB/h processed, 1,000 rule evaluations/s)",
        CHECKED,
        "https://aws.amazon.com/elasticloadbalancing/pricing/",
        f"price: cloud-horizons.com (2026-05); LCU dimensions: handbook.vantage.sh/aws/services/elb-pricing; {_STORED}",
    ),
    "waf_acl": Price(
        5.0,
        "per web ACL-month",
        CHECKED,
        "https://aws.amazon.com/waf/pricing/",
        f"c3x.dev/blog/aws-waf-cost-explained, {_STORED}; same in every region (AWS networking blog)",
    ),
    "waf_rule": Price(
        1.0, "per rule-month", CHECKED, "https://aws.amazon.com/waf/pricing/", f"c3x.dev, {_STORED}"
    ),
    "waf_request": Price(
        0.60 / 1e6,
        "per request inspected",
        CHECKED,
        "https://aws.amazon.com/waf/pricing/",
        f"c3x.dev, {_STORED}",
    ),
    "logs_ingest": Price(
        0.50,
        "per GB ingested, CloudWatch Logs standard class",
        CHECKED,
        "https://aws.amazon.com/cloudwatch/pricing/",
        f"c3x.dev/blog/cloudwatch-logs-cost-optimization ('us-east-1, June 2026'), {_STORED}",
    ),
    "firehose_gb": Price(
        0.029,
        "per GB ingested, Direct PUT, first 500 TB/month; each record rounded up to 5 KB (5,120 bytes)",
        PRICE_DATE,
        "https://aws.amazon.com/firehose/pricing/",
        f"rounding rule: AWS's page, {_STORED}; the $0.029 is a {_LIST}",
    ),
    "kinesis_stream_hour": Price(
        0.04,
        "per stream-hour, on-demand",
        PRICE_DATE,
        "https://aws.amazon.com/kinesis/data-streams/pricing/",
        f"billing terms: AWS's page, {_STORED}; the figure is a {_LIST}",
    ),
    "kinesis_in_gb": Price(
        0.08,
        "per GB written, on-demand; each record rounded up to 1 KB (1,024 bytes)",
        PRICE_DATE,
        "https://aws.amazon.com/kinesis/data-streams/pricing/",
        f"rounding rule: AWS's page, {_STORED}; the figure is a {_LIST}",
    ),
    "kinesis_out_gb": Price(
        0.04,
        "per GB read, on-demand (shared-throughput consumers)",
        PRICE_DATE,
        "https://aws.amazon.com/kinesis/data-streams/pricing/",
        f"the figure is a {_LIST}",
    ),
}


def price(key: str) -> float:
    return PRICES[key].value


FARGATE_VCPU_QUOTA: Final = 6  # the default of "Fargate On-Demand vCPU resource count"; accounts differ

#: (name, limit, source): the limits checked in "Quotas and limits".
QUOTA_SOURCES: Final = {
    "sqs_in_flight": "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html",
    "sqs_message": "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html",
    "s3_prefix": "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html",
    "alb": "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html",
    "fargate_vcpu": "https://docs.aws.amazon.com/general/latest/gr/ecs-service.html",
    "ecs": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html",
    "firehose": "https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecord.html",
}


# --- Inputs ---------------------------------------------------------------------------------------
def field(data: Mapping[str, Any], path: str, *, source: str = "bench.json") -> Any:
    """The value at a dotted path, or PlanInputError naming the path and what to run."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node or node[part] is None:
            raise PlanInputError(
                f"{source} lacks {path}: run make bench (it writes every field the plan reads)"
            )
        node = node[part]
    return node


def number(data: Mapping[str, Any], path: str, *, source: str = "bench.json") -> float:
    value = field(data, path, source=source)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanInputError(f"{source}: {path} is {value!r}, not a number: run make bench")
    return float(value)


@dataclass(frozen=True)
class Bench:
    """The figures of out/bench.json the plan uses, each named by its path."""

    bytes_per_record: float
    single_cpu_us: float  # receiver CPU per single-record POST
    batch_cpu_us: float  # receiver CPU per record in 100-record batches
    consumer_cpu_us: float
    body_single: float
    body_batch: float
    batch_send_calls_per_1000: float
    batch_records_per_s: float
    workers: dict[str, dict[str, float]]
    knee_held: dict[str, Any] | None
    knee_failed: dict[str, Any] | None
    hourly_records: float
    hourly_raw_bytes: float
    hourly_curated_bytes: float
    hourly_objects: float
    hourly_cpu_s: float  # engine + write phases (the whole run when phases are missing)
    hourly_read_s: float | None
    hourly_peak_rss_mb: float
    cores: float
    machine: dict[str, Any]

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Bench:
        workers = field(data, "receiver.workers")
        if not isinstance(workers, Mapping) or "1" not in workers:
            raise PlanInputError("bench.json lacks receiver.workers.1: run make bench")
        knee = field(data, "e2e.knee")
        if not isinstance(knee, Mapping) or "last_held" not in knee or "first_failed" not in knee:
            raise PlanInputError(
                "bench.json lacks e2e.knee.last_held or e2e.knee.first_failed: run make bench"
            )
        runs = field(data, "hourly.runs")
        columnar = next((r for r in runs if isinstance(r, Mapping) and r.get("engine") == "columnar"), None)
        if columnar is None:
            raise PlanInputError("bench.json lacks hourly.runs[engine=columnar]: run make bench")
        wall = number(columnar, "wall_s", source="bench.json hourly.runs[columnar]")
        phases = columnar.get("phases_s")
        if isinstance(phases, Mapping) and {"read", "engine", "write"} <= set(phases):
            cpu_s, read_s = float(phases["engine"]) + float(phases["write"]), float(phases["read"])
        else:
            cpu_s, read_s = wall, None
        machine = field(data, "machine")
        return cls(
            bytes_per_record=number(data, "e2e.bytes_per_record"),
            single_cpu_us=number(data, "receiver.cpu_us_per_request.receiver"),
            batch_cpu_us=number(data, "receiver.batch_cpu_us_per_record"),
            consumer_cpu_us=number(data, "e2e.cpu_us_per_record.consumer"),
            body_single=number(data, "receiver.body_bytes.single"),
            body_batch=number(data, "receiver.body_bytes.batch"),
            batch_send_calls_per_1000=number(data, "receiver.batch_sqs_send_calls_per_1000"),
            batch_records_per_s=number(data, "receiver.batch_records_per_s"),
            workers={
                str(w): {
                    k: number(v, k, source=f"bench.json receiver.workers.{w}")
                    for k in ("records_per_s", "cpu_us_per_record", "p50_ms", "p99_ms")
                }
                for w, v in sorted(workers.items())
            },
            knee_held=knee["last_held"],
            knee_failed=knee["first_failed"],
            hourly_records=number(data, "hourly.records"),
            hourly_raw_bytes=number(data, "hourly.raw_bytes"),
            hourly_curated_bytes=number(data, "hourly.curated_bytes"),
            hourly_objects=number(data, "hourly.objects"),
            hourly_cpu_s=cpu_s,
            hourly_read_s=read_s,
            hourly_peak_rss_mb=number(columnar, "peak_rss_mb", source="bench.json hourly.runs[columnar]"),
            cores=number(data, "machine.cores"),
            machine=dict(machine),
        )

    def receiver_cpu_us(self, mode: str) -> float:
        return self.single_cpu_us if mode == "single" else self.batch_cpu_us

    def body_bytes(self, mode: str) -> float:
        return self.body_single if mode == "single" else self.body_batch

    @property
    def hourly_records_per_vcpu_s(self) -> float:
        return self.hourly_records / self.hourly_cpu_s / self.cores


def _tf_block(text: str, name: str) -> str:
    start = text.find(f'variable "{name}"')
    if start < 0:
        raise PlanInputError(f"infra/variables.tf lacks variable {name!r}")
    end = text.find("\nvariable ", start + 1)
    return text[start : end if end > 0 else len(text)]


def tf_defaults(text: str, name: str) -> dict[str, float | bool]:
    """`optional(number|bool, X)` defaults of one object variable of a .tf file."""
    found: dict[str, float | bool] = {}
    for key, kind, value in re.findall(
        r"(\w+)\s*=\s*optional\((number|bool),\s*([^)\s]+)\)", _tf_block(text, name)
    ):
        found[key] = value == "true" if kind == "bool" else float(value)
    return found


@dataclass(frozen=True)
class Infra:
    """infra/'s defaults that size the plan (variables.tf, ecs.tf)."""

    receiver: dict[str, float | bool]
    consumer: dict[str, float | bool]
    aggregator: dict[str, float | bool]
    alarms: dict[str, float | bool]
    waf_enabled: bool
    lookback_hours: int
    prod_max_count: dict[str, int]  # envs/prod.tfvars' max_count per service, where it sets one

    @classmethod
    def load(cls, variables: Path = VARIABLES_TF, ecs: Path = ECS_TF, prod: Path = PROD_TFVARS) -> Infra:
        text = variables.read_text(encoding="utf-8")
        lookback = re.search(r'"--lookback",\s*"(\d+)"', ecs.read_text(encoding="utf-8"))
        prod_text = prod.read_text(encoding="utf-8") if prod.exists() else ""
        prod_max = {
            name: int(found.group(1))
            for name in ("receiver", "consumer")
            if (found := re.search(rf"^{name}\s*=\s*\{{[^}}]*\bmax_count\s*=\s*(\d+)", prod_text, re.M))
        }
        infra = cls(
            receiver=tf_defaults(text, "receiver"),
            consumer=tf_defaults(text, "consumer"),
            aggregator=tf_defaults(text, "aggregator"),
            alarms=tf_defaults(text, "alarm_thresholds"),
            waf_enabled=bool(tf_defaults(text, "waf").get("enabled", False)),
            lookback_hours=int(lookback.group(1)) if lookback else 0,
            prod_max_count=prod_max,
        )
        for where, block, keys in (
            (
                "receiver",
                infra.receiver,
                ("cpu", "memory", "min_count", "max_count", "cpu_target_percent", "requests_per_target"),
            ),
            ("consumer", infra.consumer, ("cpu", "memory", "min_count", "max_count", "pollers")),
            ("aggregator", infra.aggregator, ("cpu", "memory", "timeout_seconds", "ephemeral_storage_gib")),
            ("alarm_thresholds", infra.alarms, ("aggregator_runtime_seconds", "records_per_second")),
        ):
            missing = [k for k in keys if k not in block]
            if missing:
                raise PlanInputError(
                    f"infra/variables.tf: variable {where} has no default for {', '.join(missing)}"
                )
        return infra

    def get(self, block: str, key: str) -> float:
        return float(getattr(self, block)[key])

    def vcpu(self, block: str) -> float:
        return self.get(block, "cpu") / 1024

    def memory_gb(self, block: str) -> float:
        return self.get(block, "memory") / 1024

    @property
    def cpu_target(self) -> float:
        return self.get("receiver", "cpu_target_percent") / 100

    @property
    def hourly_budget_s(self) -> float:
        """Per hour processed: the runtime alarm, and the run (lookback + 1 hours) within its timeout."""
        per_run = self.get("aggregator", "timeout_seconds") / (self.lookback_hours + 1)
        return min(self.get("alarms", "aggregator_runtime_seconds"), per_run)


@dataclass(frozen=True)
class App:
    """app/settings.py's defaults the model follows."""

    linger_s: float
    publish_concurrency: int
    message_max_bytes: int
    records_per_message: int
    flush_max_records: int
    flush_max_bytes: int
    flush_age_s: float
    hourly_fetchers: int
    raw_retention_days: int
    noncurrent_days: int
    curated_ia_day: int
    curated_glacier_day: int
    curated_expiry_day: int

    @classmethod
    def load(cls, defaults: Path = DEFAULTS_JSON) -> App:
        f = Settings.model_fields
        lifecycle = json.loads(defaults.read_text(encoding="utf-8"))["lifecycle"]
        return cls(
            linger_s=float(f["publish_linger_ms"].default) / 1000,
            publish_concurrency=int(f["publish_concurrency"].default),
            message_max_bytes=int(f["message_max_bytes"].default),
            records_per_message=int(f["records_per_message"].default),
            flush_max_records=int(f["flush_max_records"].default),
            flush_max_bytes=int(f["flush_max_bytes"].default),
            flush_age_s=float(f["flush_max_age_seconds"].default),
            hourly_fetchers=int(f["hourly_fetchers"].default),
            raw_retention_days=int(lifecycle["raw_expiration_days"]),
            noncurrent_days=int(lifecycle["noncurrent_version_expiration_days"]),
            curated_ia_day=int(lifecycle["curated_transition_ia_days"]),
            curated_glacier_day=int(lifecycle["curated_transition_glacier_ir_days"]),
            curated_expiry_day=int(lifecycle["curated_expiration_days"]),
        )


# --- The model ------------------------------------------------------------------------------------
def tasks_for(cpu_s_per_s: float, vcpu: float, target: float, minimum: float) -> int:
    """Tasks of `vcpu` each that run `cpu_s_per_s` CPU-seconds per second at `target` utilisation."""
    return max(int(minimum), math.ceil(cpu_s_per_s / (vcpu * target) - 1e-9))


@dataclass(frozen=True)
class Sqs:
    """Requests and flushes per second at one rate: the receiver's packing and the consumer's rules."""

    receivers: int
    consumers: int
    calls_per_task_s: float
    records_per_call: float
    records_per_message: float
    messages_s: float
    send_billed_s: float
    receives_s: float
    records_per_receive: float
    receive_billed_s: float
    deletes_s: float
    flushes_s: float  # = S3 PUTs
    records_per_object: float
    flush_s: float  # seconds between flushes of one consumer task
    in_flight: float

    @property
    def billed_s(self) -> float:
        return self.send_billed_s + self.receive_billed_s + self.deletes_s


def receiver_calls_per_s(records_s: float, request_records: int, bpr: float, app: App) -> float:
    """SendMessageBatch calls per second of one receiver task (see ASSUMPTIONS, receiver packing)."""
    if records_s <= 0:
        return 0.0
    requests_s = records_s / request_records
    by_linger = 1 / (1 / requests_s + app.linger_s)
    by_slots = app.publish_concurrency / SQS_CALL_LATENCY_S
    full_call = min(262_144, 10 * app.message_max_bytes)
    return max(min(by_linger, by_slots), records_s * bpr / full_call)


def sqs_flow(
    rate: float, mode: str, *, receivers: int, consumers: int, pollers: int, bpr: float, app: App
) -> Sqs:
    k = MODES[mode]
    r_task = rate / receivers
    calls = receiver_calls_per_s(r_task, k, bpr, app)
    per_call = r_task / calls
    messages_per_call = max(
        1,
        math.ceil(per_call * bpr / app.message_max_bytes - 1e-9),
        math.ceil(per_call / app.records_per_message - 1e-9),
    )
    messages = receivers * calls * messages_per_call
    m_c, r_c = messages / consumers, rate / consumers
    receives = max(m_c / 10, min(m_c, pollers / SQS_CALL_LATENCY_S))
    per_receive = r_c / receives
    by_count = (
        1 if per_receive >= app.flush_max_records else math.ceil(app.flush_max_records / per_receive)
    ) / receives
    flush = min(by_count, app.flush_age_s, app.flush_max_bytes / (r_c * bpr))
    messages_per_flush = m_c * flush
    return Sqs(
        receivers=receivers,
        consumers=consumers,
        calls_per_task_s=calls,
        records_per_call=per_call,
        records_per_message=per_call / messages_per_call,
        messages_s=messages,
        send_billed_s=receivers * billed(calls, r_task, bpr),
        receives_s=consumers * receives,
        records_per_receive=per_receive,
        receive_billed_s=consumers * billed(receives, r_c, bpr),
        deletes_s=consumers / flush * math.ceil(messages_per_flush / 10 - 1e-9),
        flushes_s=consumers / flush,
        records_per_object=r_c * flush,
        flush_s=flush,
        in_flight=messages * (flush + WRITE_S),
    )


@dataclass(frozen=True)
class Alb:
    requests_s: float
    new_connections_s: float
    active_connections: float
    gb_per_hour: float
    rule_evaluations_s: float

    @property
    def lcu_by_dimension(self) -> dict[str, float]:
        return {
            "new connections": self.new_connections_s / 25,
            "active connections": self.active_connections / 3000,
            "processed bytes": self.gb_per_hour,
            "rule evaluations": self.rule_evaluations_s / 1000,
        }

    @property
    def lcu(self) -> float:
        return max(self.lcu_by_dimension.values())

    @property
    def binding(self) -> str:
        dims = self.lcu_by_dimension
        return max(dims, key=lambda d: dims[d])

    @property
    def lcu_without_reuse(self) -> float:
        """Every request on a new connection: the new-connections dimension at the request rate."""
        return max(self.requests_s / 25, self.lcu)


def alb_load(rate: float, mode: str, b: Bench) -> Alb:
    requests = rate / MODES[mode]
    vehicles = rate / RECORDS_PER_VEHICLE_S
    return Alb(
        requests_s=requests,
        new_connections_s=vehicles / CONNECTION_LIFETIME_S,
        active_connections=vehicles,
        gb_per_hour=requests * (b.body_bytes(mode) + HTTP_OVERHEAD_BYTES) * 3600 / GB,
        rule_evaluations_s=requests * max(0, ALB_RULES_EVALUATED - ALB_FREE_RULES),
    )


@dataclass(frozen=True)
class Hourly:
    records: float  # per hour
    raw_gb: float
    objects: float
    vcpu: int
    memory_gb: int
    fetchers: int
    read_s: float
    compute_s: float
    disk_gib: float
    tasks: int  # per hour processed; > 1 means the hour must be split (not supported by the job today)
    fits: bool

    @property
    def wall_s(self) -> float:
        return self.read_s + self.compute_s


def hourly_job(rate: float, objects_per_hour: float, b: Bench, infra: Infra, app: App) -> Hourly:
    """The smallest task (then the fewest fetchers, then a split hour) that ends within the budget."""
    records = rate * 3600
    raw = records * b.bytes_per_record
    disk = SCRATCH_FACTOR * raw / GB + IMAGE_GIB
    budget = infra.hourly_budget_s
    per_vcpu = b.hourly_records_per_vcpu_s
    base_vcpu = int(infra.vcpu("aggregator"))
    sizes = [s for s in HOURLY_SIZES if s[0] >= base_vcpu]
    fetcher_options = [f for f in (app.hourly_fetchers, 16, 32, 64) if f >= app.hourly_fetchers]

    def plan(vcpu: int, memory: int, fetchers: int, tasks: int, fits: bool) -> Hourly:
        return Hourly(
            records=records,
            raw_gb=raw / GB,
            objects=objects_per_hour,
            vcpu=vcpu,
            memory_gb=memory,
            fetchers=fetchers,
            read_s=objects_per_hour * S3_GET_LATENCY_S / fetchers / tasks,
            compute_s=(records / per_vcpu + objects_per_hour * GET_CPU_S) / vcpu / tasks,
            disk_gib=disk / tasks,
            tasks=tasks,
            fits=fits,
        )

    for vcpu, memory in sizes:
        for fetchers in fetcher_options:
            candidate = plan(vcpu, memory, fetchers, 1, True)
            if candidate.wall_s <= budget and candidate.disk_gib <= FARGATE_MAX_EPHEMERAL_GIB:
                return candidate
    vcpu, memory = HOURLY_SIZES[-1]
    one = plan(vcpu, memory, fetcher_options[-1], 1, False)
    tasks = max(
        math.ceil(one.wall_s / budget - 1e-9), math.ceil(one.disk_gib / FARGATE_MAX_EPHEMERAL_GIB - 1e-9)
    )
    return plan(vcpu, memory, fetcher_options[-1], tasks, False)


def hourly_cost_month(h: Hourly, infra: Infra) -> float:
    """Fargate of the scheduled runs (each processes lookback + 1 hours) and their GETs."""
    runs_hours = HOURS_PER_MONTH * (infra.lookback_hours + 1) * h.tasks * h.wall_s / 3600
    ephemeral = max(
        FARGATE_FREE_EPHEMERAL_GIB,
        math.ceil(max(h.disk_gib, infra.get("aggregator", "ephemeral_storage_gib"))),
    )
    per_hour = (
        h.vcpu * price("fargate_vcpu")
        + h.memory_gb * price("fargate_gb")
        + (ephemeral - FARGATE_FREE_EPHEMERAL_GIB) * price("fargate_ephemeral")
    )
    gets = HOURS_PER_MONTH * (infra.lookback_hours + 1) * h.objects * price("s3_get")
    return runs_hours * per_hour + gets


@dataclass(frozen=True)
class Plan:
    rate: float
    mode: str
    receivers: int
    receivers_by_requests: int
    consumers: int
    vcpu_receiver: float
    vcpu_consumer: float
    receiver_vcpu_s: float
    consumer_vcpu_s: float
    sqs: Sqs
    alb: Alb
    hourly: Hourly
    bill: dict[str, float]
    waf_month: float

    @property
    def total(self) -> float:
        return sum(self.bill.values())

    @property
    def vcpu_running(self) -> float:
        return (
            self.receivers * self.vcpu_receiver
            + self.consumers * self.vcpu_consumer
            + self.hourly.vcpu * self.hourly.tasks
        )


def fargate_month(tasks: int, vcpu: float, memory_gb: float) -> float:
    return tasks * HOURS_PER_MONTH * (vcpu * price("fargate_vcpu") + memory_gb * price("fargate_gb"))


def storage_month(rate: float, b: Bench, app: App) -> tuple[float, float]:
    """(raw/, curated/) S3 cost per month at steady state."""
    raw_gb = rate * 86_400 * (app.raw_retention_days + app.noncurrent_days) * b.bytes_per_record / GB
    curated_per_month_gb = rate * SECONDS_PER_MONTH * (b.hourly_curated_bytes / b.hourly_records) / GB
    month_days = 365 / 12
    gb_months = {
        "s3_standard": app.curated_ia_day / month_days,
        "s3_ia": (app.curated_glacier_day - app.curated_ia_day) / month_days,
        "s3_glacier_ir": (app.curated_expiry_day - app.curated_glacier_day) / month_days,
    }
    curated = curated_per_month_gb * sum(months * price(k) for k, months in gb_months.items())
    return raw_gb * price("s3_standard"), curated


def plan_for(rate: float, mode: str, b: Bench, infra: Infra, app: App) -> Plan:
    target = infra.cpu_target
    receiver_cpu = rate * b.receiver_cpu_us(mode) / 1e6
    consumer_cpu = rate * b.consumer_cpu_us / 1e6
    receivers = tasks_for(receiver_cpu, infra.vcpu("receiver"), target, infra.get("receiver", "min_count"))
    consumers = tasks_for(consumer_cpu, infra.vcpu("consumer"), target, infra.get("consumer", "min_count"))
    pollers = int(infra.get("consumer", "pollers"))
    sqs = sqs_flow(
        rate, mode, receivers=receivers, consumers=consumers, pollers=pollers, bpr=b.bytes_per_record, app=app
    )
    alb = alb_load(rate, mode, b)
    hourly = hourly_job(rate, sqs.flushes_s * 3600, b, infra, app)
    raw, curated = storage_month(rate, b, app)
    logs_gb = (
        (sqs.flushes_s * LOG_BYTES_PER_FLUSH + receivers * RECEIVER_LOG_BYTES_PER_S) * SECONDS_PER_MONTH / GB
    )
    bill = {
        "Fargate receivers": fargate_month(receivers, infra.vcpu("receiver"), infra.memory_gb("receiver")),
        "Fargate consumers": fargate_month(consumers, infra.vcpu("consumer"), infra.memory_gb("consumer")),
        "Fargate hourly job (+ its S3 GETs)": hourly_cost_month(hourly, infra),
        "SQS requests": sqs.billed_s * SECONDS_PER_MONTH * price("sqs_request"),
        "S3 PUTs (consumer flushes)": sqs.flushes_s * SECONDS_PER_MONTH * price("s3_put"),
        "S3 storage: raw/ (retention + noncurrent)": raw,
        "S3 storage: curated/ (steady state)": curated,
        "CloudWatch Logs ingestion": logs_gb * price("logs_ingest"),
        "ALB (hours + LCU)": HOURS_PER_MONTH * (price("alb_hour") + alb.lcu * price("alb_lcu")),
    }
    waf = price("waf_acl") + price("waf_rule") + alb.requests_s * SECONDS_PER_MONTH * price("waf_request")
    return Plan(
        rate=rate,
        mode=mode,
        receivers=receivers,
        receivers_by_requests=math.ceil(
            alb.requests_s * 60 / infra.get("receiver", "requests_per_target") - 1e-9
        ),
        consumers=consumers,
        receiver_vcpu_s=receiver_cpu,
        consumer_vcpu_s=consumer_cpu,
        sqs=sqs,
        alb=alb,
        hourly=hourly,
        bill=bill,
        waf_month=waf,
        vcpu_receiver=infra.vcpu("receiver"),
        vcpu_consumer=infra.vcpu("consumer"),
    )


# --- Firehose and Kinesis against SQS ------------------------------------------------------------
def firehose_billed_bytes(record_bytes: float) -> float:
    """Firehose rounds every record up to the next 5 KB (5,120 bytes)."""
    return math.ceil(record_bytes / 5120 - 1e-9) * 5120


def kinesis_billed_bytes(record_bytes: float) -> float:
    """Kinesis Data Streams rounds every record up to the next 1 KB (1,024 bytes)."""
    return math.ceil(record_bytes / 1024 - 1e-9) * 1024


def firehose_ingest_month(rate: float, per_record: int, bpr: float) -> float:
    """Firehose Direct PUT ingestion: records of `per_record` telemetry records, each rounded to 5 KB."""
    records = rate / per_record
    return records * firehose_billed_bytes(per_record * bpr) * SECONDS_PER_MONTH / GB * price("firehose_gb")


def firehose_month(rate: float, per_record: int, bpr: float) -> float:
    """Ingestion + the S3 PUTs of Firehose's own buffers."""
    objects_s = max(1 / FIREHOSE_BUFFER_S, rate * bpr / FIREHOSE_BUFFER_BYTES)
    return firehose_ingest_month(rate, per_record, bpr) + objects_s * SECONDS_PER_MONTH * price("s3_put")


def kinesis_month(rate: float, per_record: int, bpr: float) -> float:
    records = rate / per_record
    written = records * kinesis_billed_bytes(per_record * bpr) * SECONDS_PER_MONTH / GB
    read = rate * bpr * SECONDS_PER_MONTH / GB
    return (
        HOURS_PER_MONTH * price("kinesis_stream_hour")
        + written * price("kinesis_in_gb")
        + read * price("kinesis_out_gb")
    )


#: The lines of the bill each transport takes over (Firehose also replaces the consumer).
CONSUMER_LINES: Final = ("Fargate consumers", "S3 PUTs (consumer flushes)", "CloudWatch Logs ingestion")
ALTERNATIVES: Final = (
    ("Firehose Direct PUT, 1 record each", "firehose", 1),
    (f"Firehose Direct PUT, {AGGREGATE} records each", "firehose", AGGREGATE),
    ("Kinesis on-demand, 1 record each", "kinesis", 1),
    (f"Kinesis on-demand, {AGGREGATE} records each", "kinesis", AGGREGATE),
)


def consumer_logs_month(p: Plan) -> float:
    """The consumer's share of the logs line (the receiver's EMF stays with any transport)."""
    return p.sqs.flushes_s * LOG_BYTES_PER_FLUSH * SECONDS_PER_MONTH / GB * price("logs_ingest")


def transport_month(
    kind: str, per_record: int, rate: float, mode: str, *, b: Bench, infra: Infra, app: App
) -> tuple[float, float]:
    """(SQS side, alternative side): the monthly lines that differ between the two at this rate.

    SQS side: SQS requests + consumer tasks + their PUTs + their logs. Kinesis side: the stream +
    the same consumer lines (a Kinesis consumer does the same work). Firehose side: ingestion +
    Firehose's own S3 PUTs (no consumer).
    """
    p = plan_for(rate, mode, b, infra, app)
    consumer = p.bill["Fargate consumers"] + p.bill["S3 PUTs (consumer flushes)"] + consumer_logs_month(p)
    sqs_side = p.bill["SQS requests"] + consumer
    if kind == "firehose":
        return sqs_side, firehose_month(rate, per_record, b.bytes_per_record)
    return sqs_side, kinesis_month(rate, per_record, b.bytes_per_record) + consumer


@dataclass(frozen=True)
class Crossover:
    label: str
    mode: str
    rate: float | None  # msg/s where the two monthly costs meet; None: no meeting in the range
    cheaper_above: str  # which side is cheaper above the crossover (or everywhere when rate is None)


def crossover(
    kind: str,
    per_record: int,
    mode: str,
    *,
    b: Bench,
    infra: Infra,
    app: App,
    lo: float = 100.0,
    hi: float = 200_000.0,
) -> tuple[float | None, str]:
    """The rate where SQS and the alternative cost the same per month, found on a 1 % grid then
    bisected to 1 msg/s; the side cheaper above it. The curves are step functions (whole tasks):
    the crossover is where the difference changes sign."""

    def diff(r: float) -> float:
        sqs_side, alt = transport_month(kind, per_record, r, mode, b=b, infra=infra, app=app)
        return alt - sqs_side

    grid = [lo]
    while grid[-1] < hi:
        grid.append(min(hi, grid[-1] * 1.01))
    values = [diff(r) for r in grid]
    for i in range(1, len(grid)):
        d0, d1 = values[i - 1], values[i]
        if (d0 < 0) != (d1 < 0):
            a, fa, z = grid[i - 1], d0, grid[i]
            while z - a > 1:
                mid = (a + z) / 2
                fm = diff(mid)
                if (fm < 0) == (fa < 0):
                    a, fa = mid, fm
                else:
                    z = mid
            return round(z), ("SQS" if d1 > 0 else "the alternative")
    return None, ("SQS" if values[-1] > 0 else "the alternative")


# --- Rendering ------------------------------------------------------------------------------------
def money(x: float) -> str:
    return f"${x:,.0f}" if abs(x) >= 10 else f"${x:,.2f}"


def num(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return ["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(r) + " |" for r in rows), ""]


def _when(bench_path: Path, data: Mapping[str, Any]) -> str:
    for holder in (data.get("machine") or {}, data):
        stamp = holder.get("date") if isinstance(holder, Mapping) else None
        if isinstance(stamp, str) and stamp:
            return stamp
    modified = datetime.fromtimestamp(bench_path.stat().st_mtime, tz=UTC)
    return f"{modified:%Y-%m-%d} (the file's modification time; bench.json records no date)"


def _step(s: Mapping[str, Any] | None) -> str:
    if not s:
        return "none"
    return (
        f"{num(float(s['offered_records_per_s']))} offered, {num(float(s['accepted_records_per_s']))} accepted, "
        f"p95 {num(float(s['p95_ms']))} ms"
    )


@dataclass(frozen=True)
class Document:
    plans: dict[tuple[int, str], Plan]
    crossovers: list[Crossover]
    design_rate: int
    design: dict[str, Plan]
    levers: dict[str, Plan]

    @property
    def max_count(self) -> dict[str, int]:
        """What autoscaling's max_count must allow: the design point in the mode needing more tasks."""
        return {
            "receiver": max(p.receivers for p in self.design.values()),
            "consumer": max(p.consumers for p in self.design.values()),
        }


def compute(b: Bench, infra: Infra, app: App, design_rate: int = DESIGN_RATE) -> Document:
    plans = {(r, m): plan_for(r, m, b, infra, app) for r in RATES for m in MODES}
    crossovers = []
    for label, kind, per in ALTERNATIVES:
        for mode in MODES:
            rate, cheaper = crossover(kind, per, mode, b=b, infra=infra, app=app)
            crossovers.append(Crossover(label=label, mode=mode, rate=rate, cheaper_above=cheaper))
    design = {m: plan_for(design_rate, m, b, infra, app) for m in MODES}
    levers = {
        "defaults": design["batch"],
        "TELEMETRY_FLUSH_MAX_RECORDS=2000": plan_for(
            design_rate, "batch", b, infra, dataclasses.replace(app, flush_max_records=2000)
        ),
    }
    return Document(plans=plans, crossovers=crossovers, design_rate=design_rate, design=design, levers=levers)


def render(
    data: Mapping[str, Any], bench_path: Path, infra: Infra, app: App, design_rate: int = DESIGN_RATE
) -> str:
    """docs/capacity.md's text: the same bench.json, infra/ and app/ always give the same bytes."""
    return build(data, bench_path, infra, app, design_rate)[0]


def build(
    data: Mapping[str, Any], bench_path: Path, infra: Infra, app: App, design_rate: int = DESIGN_RATE
) -> tuple[str, Document]:
    b = Bench.load(data)
    doc = compute(b, infra, app, design_rate)
    m = b.machine
    load = m.get("load_average_at_end")
    note = data.get("_comment")
    out: list[str] = [
        "# Capacity and cost plan: 1,000 to 50,000 msg/s",
        "",
        "<!-- Generated by `make capacity` (python -m bench.capacity_plan): do not edit by hand. -->",
        "",
        f"**Generated from `{bench_path.as_posix()}`**, measured on {_when(bench_path, data)}, on "
        f"{m.get('cores')} cores ({m.get('cpu')}), {m.get('memory_gb')} GB, Python {m.get('python')}"
        + (f", load average at the end {float(load[0]):.1f}" if isinstance(load, list) and load else "")
        + "."
        + (f" **{note.split(':')[0]}.**" if isinstance(note, str) else "")
        + f" Prices: {REGION}, on demand, each dated in [Prices](#prices). Regenerate with `make capacity` "
        "after `make bench`: every figure below is computed from those inputs, none is typed.",
        "",
        "A msg/s is one telemetry record per second. *single*: each record in its own POST; *batch*: "
        f"{MODES['batch']} records per POST (`/v1/telemetry/batch`). Tasks are planned at {infra.cpu_target:.0%} "
        "CPU; what is modelled rather than measured is listed under [Assumptions](#assumptions).",
        "",
        "## Summary",
        "",
    ]
    rows = []
    for (rate, mode), p in doc.plans.items():
        h = p.hourly
        rows.append(
            [
                num(rate),
                mode,
                str(p.receivers),
                str(p.consumers),
                f"{h.tasks} x {h.vcpu} vCPU" + ("" if h.fits else " (hour split)"),
                num(p.sqs.flushes_s, 1),
                num(p.alb.lcu, 1),
                money(p.total),
                money(p.total / (rate * SECONDS_PER_MONTH / 1e6)),
            ]
        )
    out += table(
        [
            "msg/s",
            "POSTs",
            "receiver tasks",
            "consumer tasks",
            "hourly job tasks",
            "S3 PUT/s",
            "ALB LCU",
            "monthly bill",
            "per million records",
        ],
        rows,
    )
    out += ["Crossover against the managed alternatives ([Crossover](#crossover)):", ""]
    out += table(
        ["alternative", "single POSTs", f"{MODES['batch']}-record batches"],
        [
            [
                label,
                *(
                    _crossover_text(next(c for c in doc.crossovers if c.label == label and c.mode == mode))
                    for mode in MODES
                ),
            ]
            for label, _, _ in ALTERNATIVES
        ],
        "lll",
    )
    mx = doc.max_count
    out += [
        f"Autoscaling maxima for the design point, {num(doc.design_rate)} msg/s: receiver max_count >= {mx['receiver']}, "
        f"consumer max_count >= {mx['consumer']} ([Autoscaling maxima](#autoscaling-maxima)).",
        "",
    ]
    out += _inputs(b, infra, app)
    out += _tasks(doc, b, infra)
    out += _sqs(doc, b, app)
    out += _alb(doc)
    out += _hourly(doc, b, infra, app)
    out += _bill(doc, infra)
    out += _quotas(doc, b, app)
    out += _crossover(doc, b, infra, app)
    out += _maxima(doc, b, infra, app)
    out += _prices()
    out += _excluded()
    return "\n".join(out).rstrip() + "\n", doc


def _crossover_text(c: Crossover) -> str:
    if c.rate is None:
        return f"none in 100-200,000 msg/s: {c.cheaper_above} cheaper throughout"
    return f"**{num(c.rate)} msg/s**, {c.cheaper_above} cheaper above"


def _inputs(b: Bench, infra: Infra, app: App) -> list[str]:
    w = b.workers
    rows = [
        [
            "e2e.bytes_per_record",
            num(b.bytes_per_record),
            "bytes per stored record: SQS message lines, S3 objects, Firehose/Kinesis records",
        ],
        [
            "receiver.cpu_us_per_request.receiver",
            num(b.single_cpu_us, 1),
            "receiver CPU µs per single-record POST",
        ],
        [
            "receiver.batch_cpu_us_per_record",
            num(b.batch_cpu_us, 1),
            "receiver CPU µs per record in 100-record batches, 1 worker",
        ],
        [
            "e2e.cpu_us_per_record.consumer",
            num(b.consumer_cpu_us, 1),
            "consumer CPU µs per record at the sustained end-to-end step",
        ],
        [
            "receiver.body_bytes.single / .batch",
            f"{num(b.body_single)} / {num(b.body_batch)}",
            "request body bytes (ALB processed bytes)",
        ],
        [
            "receiver.batch_sqs_send_calls_per_1000",
            num(b.batch_send_calls_per_1000, 2),
            f"SendMessageBatch calls per 1,000 records at {num(b.batch_records_per_s)} records/s on one task: checks the packing model",
        ],
    ]
    for workers, fig in w.items():
        rows.append(
            [
                f"receiver.workers.{workers}",
                f"{num(fig['records_per_s'])} records/s",
                f"100-record batches, {workers} uvicorn worker(s): {num(fig['cpu_us_per_record'], 1)} µs CPU per record, p50/p99 {num(fig['p50_ms'])}/{num(fig['p99_ms'])} ms",
            ]
        )
    if "1" in w and "2" in w and w["1"]["records_per_s"] > 0:
        rows.append(
            [
                "(2 workers / 1)",
                f"{w['2']['records_per_s'] / w['1']['records_per_s']:.2f}x",
                "on the bench host; a 1-vCPU receiver task with 2 workers is the next size up (one Python process uses one core at most)",
            ]
        )
    rows += [
        [
            "e2e.knee.last_held",
            _step(b.knee_held),
            "one receiver, one consumer and moto sharing the bench host",
        ],
        [
            "e2e.knee.first_failed",
            _step(b.knee_failed),
            "(the host's limit, moto included: not a per-task figure)",
        ],
        [
            "hourly (columnar run)",
            f"{num(b.hourly_records)} records, {num(b.hourly_objects)} objects",
            f"engine + write {num(b.hourly_cpu_s, 1)} s on {num(b.cores)} cores = {num(b.hourly_records_per_vcpu_s)} records/s per vCPU; "
            f"peak RSS {num(b.hourly_peak_rss_mb)} MB; curated/ {b.hourly_raw_bytes / b.hourly_curated_bytes:.0f}x smaller than raw/",
        ],
    ]
    out = ["## Inputs", "", "Measured, from bench.json:", ""]
    out += table(["field", "value", "used for"], rows, "lrl")
    r, c, a = infra.receiver, infra.consumer, infra.aggregator
    out += ["infra/ defaults (`infra/variables.tf`, `infra/ecs.tf`):", ""]
    out += table(
        ["component", "task", "count", "scaling, budget"],
        [
            [
                "receiver",
                f"{num(float(r['cpu']) / 1024, 2)} vCPU / {num(float(r['memory']) / 1024)} GB",
                f"{num(float(r['min_count']))}-{num(float(r['max_count']))}",
                f"target tracking on CPU ({num(float(r['cpu_target_percent']))} %) and on ALB requests ({num(float(r['requests_per_target']))} per task per minute)",
            ],
            [
                "consumer",
                f"{num(float(c['cpu']) / 1024, 2)} vCPU / {num(float(c['memory']) / 1024)} GB",
                f"{num(float(c['min_count']))}-{num(float(c['max_count']))}",
                f"target tracking on SQS backlog ({num(float(c['backlog_per_task']))} messages per task); {num(float(c['pollers']))} pollers",
            ],
            [
                "hourly job",
                f"{num(float(a['cpu']) / 1024)} vCPU / {num(float(a['memory']) / 1024)} GB, {num(float(a['ephemeral_storage_gib']))} GiB disk",
                "1 per run",
                f"each run does {infra.lookback_hours + 1} hours (`--lookback {infra.lookback_hours}`) within {num(float(a['timeout_seconds']))} s; "
                f"runtime alarm {num(infra.get('alarms', 'aggregator_runtime_seconds'))} s: {num(infra.hourly_budget_s)} s per hour processed",
            ],
            [
                "WAF",
                "",
                "",
                "on by default: " + ("yes" if infra.waf_enabled else "no (prod.tfvars turns it on)"),
            ],
        ],
        "llll",
    )
    out += ["app/settings.py defaults and app/pipeline_defaults.json:", ""]
    out += table(
        ["setting", "value"],
        [
            [
                "`TELEMETRY_PUBLISH_LINGER_MS`, `TELEMETRY_PUBLISH_CONCURRENCY`",
                f"{num(app.linger_s * 1000)} ms, {app.publish_concurrency}",
            ],
            [
                "`TELEMETRY_MESSAGE_MAX_BYTES`, `TELEMETRY_RECORDS_PER_MESSAGE`",
                f"{num(app.message_max_bytes)}, {num(app.records_per_message)}",
            ],
            [
                "`TELEMETRY_FLUSH_MAX_RECORDS`, `_BYTES`, `_AGE_SECONDS`",
                f"{num(app.flush_max_records)}, {num(app.flush_max_bytes)}, {num(app.flush_age_s)} s",
            ],
            ["`TELEMETRY_HOURLY_FETCHERS`", str(app.hourly_fetchers)],
            [
                "raw/ retention + noncurrent versions",
                f"{app.raw_retention_days} + {app.noncurrent_days} days",
            ],
            [
                "curated/ lifecycle",
                f"IA at day {app.curated_ia_day}, Glacier IR at {app.curated_glacier_day}, expiry at {app.curated_expiry_day}",
            ],
        ],
        "ll",
    )
    out += ["### Assumptions", "", *[f"- **{name}**: {text}." for name, text in ASSUMPTIONS], ""]
    return out


def _tasks(doc: Document, b: Bench, infra: Infra) -> list[str]:
    rows = []
    for (rate, mode), p in doc.plans.items():
        rows.append(
            [
                num(rate),
                mode,
                num(p.alb.requests_s),
                num(p.receiver_vcpu_s, 2),
                str(p.receivers),
                str(p.receivers_by_requests),
                num(rate / p.receivers),
                num(p.consumer_vcpu_s, 2),
                str(p.consumers),
                num(p.vcpu_running, 1),
            ]
        )
    one_consumer = infra.cpu_target / (b.consumer_cpu_us / 1e6)
    out = [
        "## Tasks",
        "",
        f"Receiver tasks = max(min_count, CPU-seconds per second / ({num(infra.vcpu('receiver'), 2)} vCPU x {infra.cpu_target:.0%})), "
        "the consumer's likewise. *Request policy asks*: the task count the receiver's other target-tracking policy "
        f"(`requests_per_target`, {num(infra.get('receiver', 'requests_per_target'))} ALB requests per task per minute) would set; "
        "the policy asking for more tasks wins, so with single-record POSTs that policy, not CPU, sizes the service "
        "(up to `max_count`; see [Autoscaling maxima](#autoscaling-maxima)). *vCPU at peak* counts the hourly job while it runs.",
        "",
    ]
    out += table(
        [
            "msg/s",
            "POSTs",
            "POST/s",
            "receiver vCPU",
            "receiver tasks",
            "request policy asks",
            "records/s per receiver",
            "consumer vCPU",
            "consumer tasks",
            "vCPU at peak",
        ],
        rows,
    )
    out += [
        f"The live anomaly rules (`TELEMETRY_LIVE_RULES=all`, the default) need a single consumer task. One process uses "
        f"one core at most, so one consumer of 1 vCPU carries {num(one_consumer)} msg/s at {infra.cpu_target:.0%}; "
        "beyond one task the rules run as `per_sample`.",
        "",
    ]
    return out


def _sqs(doc: Document, b: Bench, app: App) -> list[str]:
    rows = []
    for (rate, mode), p in doc.plans.items():
        s = p.sqs
        rows.append(
            [
                num(rate),
                mode,
                num(s.calls_per_task_s * s.receivers, 1),
                num(s.records_per_call, 1),
                num(s.messages_s, 1),
                num(s.receives_s, 1),
                num(s.records_per_receive, 1),
                num(s.deletes_s, 1),
                num(s.billed_s * SECONDS_PER_MONTH / 1e6, 1),
                num(s.flushes_s, 1),
                num(s.records_per_object),
            ]
        )
    check = receiver_calls_per_s(b.batch_records_per_s, MODES["batch"], b.bytes_per_record, app)
    modeled = 1000 * check / b.batch_records_per_s
    out = [
        "## SQS requests and S3 PUTs",
        "",
        f"Billed SQS requests count each 64 KiB ({num(SQS_CHUNK)}-byte) chunk of a call's payload and at least one per call "
        "(`billed()` of bench/__main__.py): sends + receives + delete batches. Each consumer flush is one S3 PUT; the "
        f"consumer flushes at {num(app.flush_max_records)} records (checked after each receive), {num(app.flush_max_bytes)} "
        f"bytes or {num(app.flush_age_s)} s.",
        "",
    ]
    out += table(
        [
            "msg/s",
            "POSTs",
            "sends/s",
            "records per send",
            "messages/s",
            "receives/s",
            "records per receive",
            "delete batches/s",
            "billed requests, M/month",
            "S3 PUT/s",
            "records per object",
        ],
        rows,
    )
    out += [
        f"Check of the packing model against the bench: at {num(b.batch_records_per_s)} records/s on one task in "
        f"100-record batches the model gives {modeled:.2f} SendMessageBatch calls per 1,000 records; the bench "
        f"measured {b.batch_send_calls_per_1000:.2f} (against moto, whose round trip is not SQS's).",
        "",
    ]
    return out


def _alb(doc: Document) -> list[str]:
    rows = []
    for (rate, mode), p in doc.plans.items():
        a = p.alb
        d = a.lcu_by_dimension
        rows.append(
            [
                num(rate),
                mode,
                num(a.new_connections_s, 1),
                num(a.active_connections),
                num(a.gb_per_hour, 1),
                num(a.rule_evaluations_s),
                *(
                    num(d[k], 2)
                    for k in ("new connections", "active connections", "processed bytes", "rule evaluations")
                ),
                f"**{num(a.lcu, 1)}** ({a.binding})",
                num(a.lcu_without_reuse, 1),
            ]
        )
    out = [
        "## ALB capacity units",
        "",
        "An LCU-hour bills the largest of four dimensions: 25 new connections/s, 3,000 active connections/min, "
        "1 GB processed per hour (requests and responses), 1,000 rule evaluations/s (the first "
        f"{ALB_FREE_RULES} rules of a request are free; the HTTPS listener has only its default action). "
        f"Connection reuse: one keep-alive connection per vehicle ({num(RECORDS_PER_VEHICLE_S)} records/s each), renewed "
        f"every {num(CONNECTION_LIFETIME_S)} s. The last column is the LCU count if every request opened a new connection.",
        "",
    ]
    out += table(
        [
            "msg/s",
            "POSTs",
            "new conn/s",
            "active conn",
            "GB/hour",
            "rule evals/s",
            "LCU: new",
            "LCU: active",
            "LCU: bytes",
            "LCU: rules",
            "LCU",
            "LCU without reuse",
        ],
        rows,
    )
    return out


def _hourly(doc: Document, b: Bench, infra: Infra, app: App) -> list[str]:
    rows = []
    for (rate, mode), p in doc.plans.items():
        h = p.hourly
        rows.append(
            [
                num(rate),
                mode,
                f"{h.records / 1e6:,.1f} M",
                num(h.raw_gb, 1),
                num(h.objects),
                f"{h.vcpu} vCPU / {h.memory_gb} GB",
                str(h.fetchers),
                num(h.read_s),
                num(h.compute_s),
                f"**{num(h.wall_s)}**",
                num(h.disk_gib, 1),
                str(h.tasks),
            ]
        )
    vcpu, disk_now, budget = (
        infra.vcpu("aggregator"),
        infra.get("aggregator", "ephemeral_storage_gib"),
        infra.hourly_budget_s,
    )
    today = []
    for rate in RATES:
        worst = max((doc.plans[(rate, m)] for m in MODES), key=lambda p: p.hourly.objects)
        h = worst.hourly
        wall = (
            h.objects * S3_GET_LATENCY_S / app.hourly_fetchers
            + (h.records / b.hourly_records_per_vcpu_s + h.objects * GET_CPU_S) / vcpu
        )
        disk = h.disk_gib * h.tasks
        over = [f"{num(wall)} s > {num(budget)} s"] if wall > budget else []
        over += [f"{num(disk, 1)} GiB > {num(disk_now)} GiB"] if disk > disk_now else []
        today.append(
            f"{num(rate)} msg/s: "
            + (", ".join(over) if over else f"fits, {num(wall)} s and {num(disk, 1)} GiB")
        )
    out = [
        "## Hourly job",
        "",
        f"Per hour processed: read = objects x {num(S3_GET_LATENCY_S * 1000)} ms / fetchers; compute = (records / "
        f"{num(b.hourly_records_per_vcpu_s)} records/s per vCPU + objects x {num(GET_CPU_S * 1000)} ms) / vCPUs. The budget "
        f"is {num(budget)} s per hour (the runtime alarm; each scheduled run redoes the {infra.lookback_hours} hours before the "
        f"last one too, within its {num(infra.get('aggregator', 'timeout_seconds'))} s timeout, and the bill counts "
        f"{infra.lookback_hours + 1} hours per run). The plan takes the smallest task that fits, with the fewest fetchers "
        "(`TELEMETRY_HOURLY_FETCHERS`, up to 64), then splits the hour. Memory does not bind: DuckDB keeps to "
        "`TELEMETRY_HOURLY_MEMORY_MB` (half the task) and spills to the scratch disk, which binds instead "
        f"({num(SCRATCH_FACTOR)} x the hour's raw bytes + the image; Fargate allows {FARGATE_MAX_EPHEMERAL_GIB} GiB). "
        "Objects per hour come from the consumer's flushes above: the read, not DuckDB, takes most of the time.",
        "",
    ]
    out += table(
        [
            "msg/s",
            "POSTs",
            "records/hour",
            "raw GB/hour",
            "objects/hour",
            "task",
            "fetchers",
            "read s",
            "compute s",
            "wall s",
            "disk GiB",
            "tasks per hour",
        ],
        rows,
    )
    out += [
        f"infra/'s task today ({num(vcpu)} vCPU, {num(disk_now)} GiB, {app.hourly_fetchers} fetchers), for the POST mode with "
        "more objects: "
        + "; ".join(today)
        + ". Where the table's task is larger, `aggregator.cpu`, `memory` and "
        "`ephemeral_storage_gib` (and `TELEMETRY_HOURLY_FETCHERS`) need to grow to it, for the POST mode with more objects "
        "(clients choose). Where it shows more than one task per hour, no Fargate size does the hour in time: the job "
        "would have to split an hour (by vehicle hash or quarter-hour; today one task does one hour) or, far cheaper, "
        "the consumer write fewer, larger objects ([What moves the bill](#what-moves-the-bill)).",
        "",
    ]
    return out


def _bill(doc: Document, infra: Infra) -> list[str]:
    keys = list(doc.plans)
    lines = list(doc.plans[keys[0]].bill)
    out = [
        "## Monthly bill",
        "",
        f"US dollars per month ({num(HOURS_PER_MONTH)} hours), {REGION} list prices, on demand, before free tiers.",
        "",
    ]
    rows = [[line, *(money(doc.plans[k].bill[line]) for k in keys)] for line in lines]
    rows.append(["**total**", *(f"**{money(doc.plans[k].total)}**" for k in keys)])
    rows.append(
        ["per million records", *(money(doc.plans[k].total / (k[0] * SECONDS_PER_MONTH / 1e6)) for k in keys)]
    )
    rows.append(
        [
            "WAF, if enabled (off by default, on in prod.tfvars; not in the total)"
            if not infra.waf_enabled
            else "WAF (on by default; not in the total)",
            *(money(doc.plans[k].waf_month) for k in keys),
        ]
    )
    out += table(["line", *(f"{num(r)} {m}" for r, m in keys)], rows)
    out += [
        "### What moves the bill",
        "",
        f"At the design point ({num(doc.design_rate)} msg/s, 100-record batches), the flush count decides the size of "
        "S3 objects, and with it the PUTs, the consumer's log lines, the hourly job's reads and some SQS deletes:",
        "",
    ]
    out += table(
        ["setting", "S3 PUT/s", "records per object", "SQS", "S3 PUTs", "logs", "hourly job", "total"],
        [
            [
                name,
                num(p.sqs.flushes_s, 1),
                num(p.sqs.records_per_object),
                money(p.bill["SQS requests"]),
                money(p.bill["S3 PUTs (consumer flushes)"]),
                money(p.bill["CloudWatch Logs ingestion"]),
                money(p.bill["Fargate hourly job (+ its S3 GETs)"]),
                money(p.total),
            ]
            for name, p in doc.levers.items()
        ],
    )
    return out


def _quotas(doc: Document, b: Bench, app: App) -> list[str]:
    def cell(value: float, limit: float, digits: int = 0, unit: str = "") -> str:
        text = f"{num(value, digits)}{unit}"
        return f"**binds: {text}**" if value >= limit else f"{text}: no"

    rows: list[list[str]] = []

    def row(
        name: str,
        limit: str,
        source: str,
        *,
        key: Callable[[Plan], float],
        bound: float,
        digits: int = 0,
        unit: str = "",
    ) -> None:
        cells = []
        for rate in RATES:
            p = max((doc.plans[(rate, m)] for m in MODES), key=key)
            cells.append(f"{cell(key(p), bound, digits, unit)} ({p.mode})")
        rows.append([name, limit, source, *cells])

    def link(label: str, key: str) -> str:
        return f"[{label}]({QUOTA_SOURCES[key]})"

    hold = app.flush_age_s + WRITE_S
    row(
        "SQS messages in flight, standard queue",
        "~120,000",
        link("SQS quotas", "sqs_in_flight"),
        key=lambda p: p.sqs.in_flight,
        bound=120_000,
    )
    rows.append(
        [
            "... the same with one record per message (no packing)",
            "~120,000",
            link("SQS quotas", "sqs_in_flight"),
            *(cell(rate * hold, 120_000) for rate in RATES),
        ]
    )
    rows.append(
        [
            "SQS message size",
            "256 KiB (the queue's setting)",
            link("SQS message quotas", "sqs_message"),
            *([f"{num(app.message_max_bytes / KIB)} KiB messages: no"] * len(RATES)),
        ]
    )
    row(
        "S3 PUT/s per partitioned prefix (an hour's raw/ prefix)",
        "3,500",
        link("S3 performance", "s3_prefix"),
        key=lambda p: p.sqs.flushes_s,
        bound=3500,
    )
    row(
        "S3 GET/s per partitioned prefix (the hourly job)",
        "5,500",
        link("S3 performance", "s3_prefix"),
        key=lambda p: p.hourly.fetchers * p.hourly.tasks / S3_GET_LATENCY_S,
        bound=5500,
    )
    row(
        "ALB targets per load balancer and per target group",
        "1,000",
        link("ALB quotas", "alb"),
        key=lambda p: float(p.receivers),
        bound=1000,
    )
    row(
        "ALB reserved LCUs per load balancer (for a step change)",
        "15,000",
        link("ALB quotas", "alb"),
        key=lambda p: p.alb.lcu,
        bound=15_000,
        digits=1,
    )
    row(
        "Fargate On-Demand vCPU per region (tasks x 2 during a rolling deploy + the hourly job)",
        f"{FARGATE_VCPU_QUOTA} by default (adjustable)",
        link("ECS endpoints and quotas", "fargate_vcpu"),
        key=lambda p: (
            2 * (p.receivers * p.vcpu_receiver + p.consumers * p.vcpu_consumer)
            + p.hourly.vcpu * p.hourly.tasks
        ),
        bound=FARGATE_VCPU_QUOTA,
        digits=1,
    )
    row(
        "ECS tasks per service",
        "5,000",
        link("ECS quotas", "ecs"),
        key=lambda p: float(max(p.receivers, p.consumers)),
        bound=5000,
    )
    row(
        "Fargate ephemeral storage per task (the hourly job)",
        "200 GiB",
        link("ECS quotas", "ecs"),
        key=lambda p: p.hourly.disk_gib,
        bound=FARGATE_MAX_EPHEMERAL_GIB,
        digits=1,
        unit=" GiB",
    )
    rows.append(
        [
            "Firehose stream records/s (alternative; 1 record each)",
            "5,000 (default; adjustable)",
            link("Firehose PutRecord", "firehose"),
            *(cell(rate, 5000) for rate in RATES),
        ]
    )
    rows.append(
        [
            "Firehose stream MB/s (alternative)",
            "5 (default; adjustable)",
            link("Firehose PutRecord", "firehose"),
            *(cell(rate * b.bytes_per_record / 1e6, 5, 1) for rate in RATES),
        ]
    )
    out = [
        "## Quotas and limits",
        "",
        "Each at the worse of the two POST modes (in brackets); *binds* means the rate needs the quota raised, or the "
        "design changed, before it is reached. The Fargate vCPU quota is per account and region: AWS starts new "
        f"accounts at or below {FARGATE_VCPU_QUOTA} and raises it with use, so request it ahead of the rate. SQS standard "
        "queues and the ALB have no request-rate quota that these rates reach; the ALB scales by itself, and a sudden "
        "step (a fleet switched on at once) is what LCU reservation is for.",
        "",
    ]
    out += table(
        ["quota or limit", "value", "source", *(f"{num(r)} msg/s" for r in RATES)],
        rows,
        "lll" + "l" * len(RATES),
    )
    return out


def _crossover(doc: Document, b: Bench, infra: Infra, app: App) -> list[str]:
    out = [
        "## Crossover",
        "",
        "Each alternative against what it replaces, per month. Against **Firehose** Direct PUT, which writes S3 itself: "
        "SQS requests + consumer tasks + their S3 PUTs + their logs. Against **Kinesis** Data Streams on-demand: the "
        "same SQS side, and the stream (stream-hours, GB written rounded per record, GB read) + the same consumer, which a "
        "stream needs as much as a queue does. The receiver, ALB, storage and hourly job are the same either way and left "
        f"out. Firehose rounds each record up to 5 KB: a {num(b.bytes_per_record)}-byte record bills "
        f"{num(firehose_billed_bytes(b.bytes_per_record))} bytes, {AGGREGATE} aggregated ({num(AGGREGATE * b.bytes_per_record)} "
        f"bytes) bill {num(firehose_billed_bytes(AGGREGATE * b.bytes_per_record))}; Kinesis rounds to 1 KB: "
        f"{num(kinesis_billed_bytes(b.bytes_per_record))} and {num(kinesis_billed_bytes(AGGREGATE * b.bytes_per_record))}.",
        "",
    ]
    for mode in MODES:
        rows = []
        for rate in RATES:
            sides = [
                transport_month(kind, per, rate, mode, b=b, infra=infra, app=app)
                for _, kind, per in ALTERNATIVES
            ]
            rows.append([num(rate), money(sides[0][0]), *(money(alt) for _, alt in sides)])
        out += [f"Monthly cost, {mode} POSTs:", ""]
        out += table(["msg/s", "SQS side", *(label for label, _, _ in ALTERNATIVES)], rows)
    out += table(
        ["alternative", "POSTs", "crossover", "cheaper above it"],
        [
            [
                c.label,
                c.mode,
                f"{num(c.rate)} msg/s" if c.rate is not None else "none in 100-200,000 msg/s",
                c.cheaper_above,
            ]
            for c in doc.crossovers
        ],
        "llrl",
    )
    out += [
        "The crossover is where the two monthly costs meet (task counts are whole, so the curves step; it is where "
        "their difference changes sign), found on a 1 % grid from 100 to 200,000 msg/s. Not priced: Firehose buffers "
        "before S3 (0-900 s and 1-128 MiB; at its default 300 s / 5 MiB, priced here, records reach S3 minutes later, "
        "where the consumer flushes within 2 s; a shorter buffer adds PUTs) and has no consumer for the live anomaly "
        "rules; Kinesis adds per-shard order and replay (ADR 0001's other triggers). Aggregating 100 records into one "
        "Firehose or Kinesis record is the packing the receiver already does for SQS messages.",
        "",
        "**ADR 0001's throughput trigger.** " + _adr_verdict(doc, infra),
        "",
    ]
    return out


def _adr_verdict(doc: Document, infra: Infra) -> str:
    """Whether the crossovers confirm '> N records/s sustained -> Kinesis' (N: the throughput alarm)."""
    threshold = infra.get("alarms", "records_per_second")
    kinesis = [c for c in doc.crossovers if c.label.startswith("Kinesis")]
    firehose = [c for c in doc.crossovers if c.label.startswith("Firehose")]
    if all(c.cheaper_above == "SQS" for c in kinesis):
        worst = max((c for c in kinesis if c.rate is not None), key=lambda c: c.rate or 0.0, default=None)
        where = (
            f"only below {num(worst.rate or 0)} msg/s (at most; {worst.label}, {worst.mode} POSTs) and dearer above"
            if worst is not None
            else "at no rate from 100 to 200,000 msg/s"
        )
        verdict = (
            f"Kinesis on-demand is cheaper than SQS {where}, in both POST modes: the cost half of "
            f'"above {num(threshold)} records/s sustained: Kinesis" is not confirmed, since the rate works the other '
            "way (the receiver packs more records per SQS message as its rate per task grows, while Kinesis bills every "
            "record or GB alike). The trigger stays a capacity check (the task counts, quotas and hourly job above); a "
            "move to Kinesis needs one of ADR 0001's functional triggers (per-vehicle order, replay, a second consumer)."
        )
    else:
        above = sorted(
            (c for c in kinesis if c.cheaper_above != "SQS" and c.rate is not None),
            key=lambda c: c.rate or 0.0,
        )
        verdict = (
            "Kinesis on-demand becomes cheaper than SQS above "
            + ", ".join(f"{num(c.rate or 0)} msg/s ({c.label}, {c.mode} POSTs)" for c in above)
            + f": the trigger at {num(threshold)} records/s is "
            + ("confirmed." if above and (above[0].rate or 0) <= threshold else "replaced by that figure.")
        )
    if all(c.cheaper_above != "SQS" for c in firehose if c.label.endswith(f"{AGGREGATE} records each")):
        verdict += (
            f" Firehose with {AGGREGATE} records per Firehose record is cheaper than SQS + the consumer at every "
            "rate here; what it gives up (2 s to S3, the live rules) is the reason to stay, not cost."
        )
    return verdict


def _maxima(doc: Document, b: Bench, infra: Infra, app: App) -> list[str]:
    single, batch = doc.design["single"], doc.design["batch"]
    mx = doc.max_count
    rate = doc.design_rate
    per_task_rps = infra.vcpu("receiver") * infra.cpu_target / (b.single_cpu_us / 1e6)
    kinesis_cheaper = []
    for mode in MODES:
        for _, kind, per in ALTERNATIVES:
            sqs_side, alt = transport_month(kind, per, rate, mode, b=b, infra=infra, app=app)
            if kind == "kinesis" and alt < sqs_side:
                kinesis_cheaper.append(mode)
    largest = max(RATES)
    big = {m: doc.plans[(largest, m)] for m in MODES}

    def one_task(plans: Mapping[str, Plan]) -> str:
        fits = [m for m, p in plans.items() if p.hourly.tasks == 1]
        if len(fits) == len(plans):
            return "does an hour in one task in both POST modes"
        if fits:
            return (
                f"does an hour in one task only with {', '.join(fits)} POSTs (with the other mode it needs "
                "fewer, larger objects or a split hour)"
            )
        return (
            "does an hour in one task in neither POST mode (it needs fewer, larger objects or a split hour)"
        )

    def today(service: str) -> str:
        prod = infra.prod_max_count.get(service)
        return num(infra.get(service, "max_count")) + (f" (prod.tfvars: {prod})" if prod is not None else "")

    kinesis_text = (
        "cheaper than SQS in " + ", ".join(sorted(set(kinesis_cheaper))) + " mode"
        if kinesis_cheaper
        else "not cheaper than SQS in either mode"
    )
    beyond = (
        f" At {num(largest)} msg/s the hourly job {one_task(big)}, and the services need "
        f"{max(p.receivers for p in big.values())} receivers and {max(p.consumers for p in big.values())} consumers."
        if rate != largest
        else ""
    )
    receiver_max = infra.get("receiver", "max_count")
    asks_within = (
        f", within infra/'s max_count of {num(receiver_max)}"
        if single.receivers_by_requests <= receiver_max
        else f" and stop at infra/'s max_count of {num(receiver_max)}"
    )
    return [
        "## Autoscaling maxima",
        "",
        f"Design point: **{num(rate)} msg/s** (`--design-rate`), in whichever POST mode needs more tasks, since vehicles "
        f"choose the mode. At it Kinesis is {kinesis_text}, and the hourly job {one_task(doc.design)}.{beyond}",
        "",
        *table(
            ["", "single POSTs", "100-record batches", "max_count should allow", "infra/ today"],
            [
                [
                    "receiver tasks",
                    str(single.receivers),
                    str(batch.receivers),
                    f"**{mx['receiver']}**",
                    today("receiver"),
                ],
                [
                    "consumer tasks",
                    str(single.consumers),
                    str(batch.consumers),
                    f"**{mx['consumer']}**",
                    today("consumer"),
                ],
            ],
            "lrrrr",
        ),
        f"At max_count the tasks run at {infra.cpu_target:.0%} CPU at the design point; a burst above it uses the rest. "
        f"The receiver's request policy would ask for {single.receivers_by_requests} tasks at {num(rate)} single POSTs/s "
        f"({num(infra.get('receiver', 'requests_per_target'))} requests per task per minute){asks_within}. At the "
        f"measured CPU per POST a task serves {num(per_task_rps)} POSTs/s at the CPU target, {num(per_task_rps * 60)} a minute: "
        "that is the `requests_per_target` at which the two policies agree (CPU then governs batches, which are heavier "
        "per request).",
        "",
    ]


def _prices() -> list[str]:
    rows = [[key, f"{p.value:.10g}", p.unit, REGION, p.checked, p.source, p.how] for key, p in PRICES.items()]
    return [
        "## Prices",
        "",
        "The stored copies are what the search index held of each page, read on the date given; where it held AWS's "
        "page without the figure, the figure is marked as a list price not re-checked here.",
        "",
        *table(["price", "USD", "unit", "region", "checked", "source", "how checked"], rows, "lrlllll"),
    ]


def _excluded() -> list[str]:
    return [
        "## Excluded",
        "",
        "Not in the bill: VPC interface endpoints or NAT gateways, public IPv4 addresses, Container Insights, custom "
        "metrics, alarms and the dashboard, KMS, Secrets Manager, ECR, Budgets, EventBridge Scheduler, data transfer "
        "(in is free; the 202s are small), CloudWatch Logs storage, Athena, aggregates/ and vehicle_stats/ objects, "
        "the DLQ, the WAF (shown apart), AWS free tiers, Savings Plans, Spot and ARM64, tax, and Firehose's and "
        'Kinesis\'s cheaper volume tiers. infra/README.md ("Costs per month") prices the fixed lines.',
        "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.capacity_plan", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--bench", type=Path, default=DEFAULT_BENCH, help="bench.json to plan from (default: out/bench.json)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="markdown to write (default: docs/capacity.md)"
    )
    parser.add_argument(
        "--design-rate", type=int, default=DESIGN_RATE, help="msg/s autoscaling's maxima are sized for"
    )
    args = parser.parse_args(argv)
    try:
        try:
            data = json.loads(args.bench.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PlanInputError(f"{args.bench} does not exist: run make bench") from None
        except json.JSONDecodeError as exc:
            raise PlanInputError(
                f"{args.bench} is not JSON ({exc.msg}, line {exc.lineno}): run make bench"
            ) from None
        if not isinstance(data, dict):
            raise PlanInputError(f"{args.bench} holds no JSON object: run make bench")
        text, doc = build(data, args.bench, Infra.load(), App.load(), args.design_rate)
    except PlanInputError as exc:
        print(f"capacity_plan: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} from {args.bench}")
    mx = doc.max_count
    print(
        f"design point {args.design_rate:,} msg/s: receiver max_count >= {mx['receiver']}, consumer max_count >= {mx['consumer']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
