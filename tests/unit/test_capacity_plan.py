"""The capacity plan's model and document (bench/capacity_plan.py), from an invented bench.json."""

from __future__ import annotations

import copy
import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import capacity_plan as cp
from bench.__main__ import SQS_CHUNK

FIXTURE = Path(__file__).parents[1] / "fixtures" / "bench-sample-invented.json"


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def bench(data: dict[str, Any]) -> cp.Bench:
    return cp.Bench.load(data)


@pytest.fixture(scope="module")
def infra() -> cp.Infra:
    return cp.Infra.load()


@pytest.fixture(scope="module")
def app() -> cp.App:
    return cp.App.load()


@pytest.fixture(scope="module")
def doc(bench: cp.Bench, infra: cp.Infra, app: cp.App) -> cp.Document:
    return cp.compute(bench, infra, app)


def _without(data: dict[str, Any], path: str) -> dict[str, Any]:
    broken = copy.deepcopy(data)
    node = broken
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    del node[last]
    return broken


# --- tasks -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", list(cp.MODES))
def test_task_counts_rise_with_the_rate(doc: cp.Document, mode: str) -> None:
    plans = [doc.plans[(rate, mode)] for rate in cp.RATES]
    for low, high in itertools.pairwise(plans):
        assert high.receivers >= low.receivers
        assert high.consumers >= low.consumers
        assert high.hourly.vcpu * high.hourly.tasks >= low.hourly.vcpu * low.hourly.tasks
        assert high.total > low.total
    assert plans[-1].consumers > plans[0].consumers


def test_single_posts_need_more_receivers_than_batches(doc: cp.Document) -> None:
    top = max(cp.RATES)
    assert doc.plans[(top, "single")].receivers > doc.plans[(top, "batch")].receivers


def test_tasks_run_at_most_at_the_cpu_target(doc: cp.Document, infra: cp.Infra) -> None:
    for p in doc.plans.values():
        assert p.receiver_vcpu_s <= p.receivers * infra.vcpu("receiver") * infra.cpu_target + 1e-9
        assert p.consumer_vcpu_s <= p.consumers * infra.vcpu("consumer") * infra.cpu_target + 1e-9
        assert p.receivers >= infra.get("receiver", "min_count")
        assert p.consumers >= infra.get("consumer", "min_count")


def test_tasks_for_rounds_up_and_respects_the_minimum() -> None:
    assert cp.tasks_for(0.0, 0.5, 0.6, 2) == 2
    assert cp.tasks_for(0.3, 0.5, 0.6, 1) == 1  # exactly one task at 60 %
    assert cp.tasks_for(0.31, 0.5, 0.6, 1) == 2


# --- SQS, S3 ---------------------------------------------------------------------------------------
def test_sqs_bills_each_64_kib_chunk_of_a_call(app: cp.App) -> None:
    # 1,000-byte records: a 250-record call carries 250,000 bytes = 4 chunks, not 1 request
    flow = cp.sqs_flow(50_000, "batch", receivers=2, consumers=4, pollers=4, bpr=1000.0, app=app)
    calls = flow.calls_per_task_s
    per_task = 50_000 / 2
    assert flow.send_billed_s == pytest.approx(2 * max(calls, math.ceil(per_task * 1000 / SQS_CHUNK)))
    assert flow.send_billed_s > 2 * calls
    small = cp.sqs_flow(50_000, "batch", receivers=2, consumers=4, pollers=4, bpr=100.0, app=app)
    assert small.send_billed_s == pytest.approx(2 * small.calls_per_task_s)  # under a chunk: one per call


def test_messages_never_exceed_the_message_cap(doc: cp.Document, bench: cp.Bench, app: cp.App) -> None:
    for p in doc.plans.values():
        assert p.sqs.records_per_message * bench.bytes_per_record <= app.message_max_bytes
        assert p.sqs.records_per_message <= app.records_per_message


def test_a_receive_of_enough_records_is_one_flush(app: cp.App) -> None:
    flow = cp.sqs_flow(20_000, "batch", receivers=2, consumers=2, pollers=4, bpr=250.0, app=app)
    assert flow.records_per_receive >= app.flush_max_records
    assert flow.flushes_s == pytest.approx(flow.receives_s)
    trickle = cp.sqs_flow(10, "single", receivers=2, consumers=1, pollers=4, bpr=250.0, app=app)
    assert trickle.flush_s == pytest.approx(app.flush_age_s)  # the age rule at low rates
    assert trickle.records_per_object == pytest.approx(10 * app.flush_age_s)


def test_a_larger_flush_count_means_fewer_puts(doc: cp.Document) -> None:
    default, bigger = doc.levers.values()
    assert bigger.sqs.flushes_s < default.sqs.flushes_s
    assert bigger.total < default.total


# --- Firehose and Kinesis --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "billed"), [(1, 5120), (250, 5120), (5120, 5120), (5121, 10240), (25_000, 25_600)]
)
def test_firehose_rounds_every_record_up_to_5_kb(size: float, billed: float) -> None:
    assert cp.firehose_billed_bytes(size) == billed


@pytest.mark.parametrize(("size", "billed"), [(1, 1024), (250, 1024), (1024, 1024), (1025, 2048)])
def test_kinesis_rounds_every_record_up_to_1_kb(size: float, billed: float) -> None:
    assert cp.kinesis_billed_bytes(size) == billed


def test_firehose_bills_a_small_record_as_5_kb() -> None:
    five_kb = 1000 * cp.SECONDS_PER_MONTH * 5120 / cp.GB * cp.price("firehose_gb")
    assert cp.firehose_ingest_month(1000, 1, 250.0) == pytest.approx(five_kb)
    assert cp.firehose_ingest_month(1000, 1, 5000.0) == pytest.approx(five_kb)
    assert cp.firehose_month(1000, 1, 250.0) > five_kb  # + the S3 PUTs of its buffers
    # 100 records of 250 bytes in one Firehose record bill 25,600 bytes per 100, not 512,000
    assert cp.firehose_ingest_month(1000, 100, 250.0) == pytest.approx(five_kb * 25_600 / 512_000)


def test_the_crossover_is_where_the_cost_curves_meet(
    doc: cp.Document, bench: cp.Bench, infra: cp.Infra, app: cp.App
) -> None:
    kinds = {label: (kind, per) for label, kind, per in cp.ALTERNATIVES}
    found = [c for c in doc.crossovers if c.rate is not None]
    assert found, "the sample has crossovers"
    for c in found:
        assert c.rate is not None
        kind, per = kinds[c.label]

        def diff(rate: float, kind: str = kind, per: int = per, mode: str = c.mode) -> float:
            sqs_side, alt = cp.transport_month(kind, per, rate, mode, b=bench, infra=infra, app=app)
            return alt - sqs_side

        below, above = diff(c.rate * 0.98), diff(c.rate * 1.02)
        assert (below < 0) != (above < 0), c
        assert (above > 0) == (c.cheaper_above == "SQS"), c


def test_no_crossover_means_one_side_is_cheaper_throughout(
    doc: cp.Document, bench: cp.Bench, infra: cp.Infra, app: cp.App
) -> None:
    kinds = {label: (kind, per) for label, kind, per in cp.ALTERNATIVES}
    for c in (c for c in doc.crossovers if c.rate is None):
        kind, per = kinds[c.label]
        for rate in (100, 1000, 20_000, 200_000):
            sqs_side, alt = cp.transport_month(kind, per, rate, c.mode, b=bench, infra=infra, app=app)
            assert (alt > sqs_side) == (c.cheaper_above == "SQS"), (c, rate)


# --- ALB, hourly job, quotas -----------------------------------------------------------------------
def test_lcu_is_the_largest_dimension(doc: cp.Document) -> None:
    for p in doc.plans.values():
        assert p.alb.lcu == max(p.alb.lcu_by_dimension.values())
        assert p.alb.lcu_without_reuse >= p.alb.lcu


def test_the_hourly_job_fits_its_budget_or_splits_the_hour(doc: cp.Document, infra: cp.Infra) -> None:
    for p in doc.plans.values():
        h = p.hourly
        assert h.wall_s <= infra.hourly_budget_s or not h.fits
        assert h.disk_gib <= cp.FARGATE_MAX_EPHEMERAL_GIB
        assert h.fits == (h.tasks == 1)


def test_the_hourly_budget_keeps_the_lookback_within_the_timeout(infra: cp.Infra) -> None:
    assert infra.hourly_budget_s * (infra.lookback_hours + 1) <= infra.get("aggregator", "timeout_seconds")


def test_terraform_object_defaults_are_read() -> None:
    text = 'variable "receiver" {\n  type = object({\n    cpu = optional(number, 512)\n    on = optional(bool, true)\n  })\n}\nvariable "x" {}\n'
    assert cp.tf_defaults(text, "receiver") == {"cpu": 512.0, "on": True}
    with pytest.raises(cp.PlanInputError, match="lacks variable 'nope'"):
        cp.tf_defaults(text, "nope")


def test_maxima_cover_the_design_point_in_both_modes(doc: cp.Document) -> None:
    assert doc.max_count["receiver"] == max(p.receivers for p in doc.design.values())
    assert doc.max_count["consumer"] == max(p.consumers for p in doc.design.values())


@pytest.mark.parametrize(
    ("max_count", "says"), [(1000, "within infra/'s max_count"), (2, "stop at infra/'s max_count")]
)
def test_the_request_policy_sentence_says_whether_max_count_stops_it(
    data: dict[str, Any], infra: cp.Infra, app: cp.App, max_count: int, says: str
) -> None:
    capped = copy.deepcopy(infra)
    capped.receiver["max_count"] = max_count
    text = cp.render(data, FIXTURE, capped, app)
    sentence = text.split("The receiver's request policy would ask for ")[1].split(". ")[0]
    assert f"{says} of {max_count:,}" in sentence


# --- the document and the command ------------------------------------------------------------------
def test_the_document_regenerates_byte_identically(
    data: dict[str, Any], infra: cp.Infra, app: cp.App, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    assert cp.main(["--bench", str(FIXTURE), "--out", str(first)]) == 0
    assert cp.main(["--bench", str(FIXTURE), "--out", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.read_text(encoding="utf-8") == cp.render(data, FIXTURE, infra, app)


def test_the_header_names_the_file_the_date_and_the_machine(
    data: dict[str, Any], infra: cp.Infra, app: cp.App
) -> None:
    dated = copy.deepcopy(data)
    dated["machine"]["date"] = "2026-11-30"
    head = cp.render(dated, Path("out/bench.json"), infra, app).split("\n## ")[0]
    assert "`out/bench.json`" in head
    assert "2026-11-30" in head
    assert "2 cores" in head and "Python 3.11.7" in head
    assert "INVENTED" in head  # the sample says what it is


def test_every_rate_and_price_is_in_the_document(data: dict[str, Any], infra: cp.Infra, app: cp.App) -> None:
    text = cp.render(data, FIXTURE, infra, app)
    for rate in cp.RATES:
        assert f"| {rate:,} | single |" in text
    for key, p in cp.PRICES.items():
        assert f"| {key} |" in text
        assert p.source in text


def test_main_prints_the_maxima(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cp.main(["--bench", str(FIXTURE), "--out", str(tmp_path / "c.md"), "--design-rate", "5000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("design point 5,000 msg/s: receiver max_count >= ")


@pytest.mark.parametrize(
    "path",
    [
        "receiver.batch_cpu_us_per_record",
        "receiver.body_bytes",
        "receiver.workers",
        "receiver.batch_sqs_send_calls_per_1000",
        "e2e.knee",
        "e2e.bytes_per_record",
        "hourly",
    ],
)
def test_a_missing_field_is_one_line_naming_it(
    data: dict[str, Any], path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "bench.json"
    broken.write_text(json.dumps(_without(data, path)), encoding="utf-8")
    out = tmp_path / "capacity.md"
    assert cp.main(["--bench", str(broken), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert path in err
    assert "run make bench" in err
    assert not out.exists()


def test_a_missing_or_broken_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cp.main(["--bench", str(tmp_path / "none.json"), "--out", str(tmp_path / "x.md")]) == 2
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    assert cp.main(["--bench", str(broken), "--out", str(tmp_path / "x.md")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert all("run make bench" in line for line in err)
