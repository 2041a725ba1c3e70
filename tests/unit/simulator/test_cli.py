"""`telemetry simulate`: JSON Lines out, posting to a receiver, one-line errors."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.cli import main
from app.contract import TelemetryIn, ValidationWindow, validation_context
from app.errors import ConfigurationError
from app.simulator import cli as simulate
from tests.unit.simulator.conftest import KEY, TARGET, StubFactory


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_writes_contract_v1_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fleet.jsonl"
    assert main(["simulate", "--vehicles", "3", "--duration", "4", "--seed", "9", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3 * 20 * 2  # vehicles x steps of 200 ms x frames
    window = validation_context(ValidationWindow.around(datetime.now(UTC), max_age_seconds=3600))
    for line in lines:
        TelemetryIn.model_validate_json(line, context=window)
    assert {json.loads(line)["vehicle_id"] for line in lines} == {"veh-00001", "veh-00002", "veh-00003"}
    assert f"wrote 120 records (3 vehicles, 4 s) to {out}" in capsys.readouterr().err


def test_stdout_and_the_seed_make_the_run_reproducible(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    argv = ["simulate", "--vehicles", "2", "--duration", "2", "--seed", "4", "--out", "-"]
    assert main(argv) == 0
    first = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert main(argv) == 0
    second = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert len(first) == 40
    # payloads are the seed's; timestamps follow the wall clock of the run (now - duration)
    assert [r["payload"] for r in first] == [r["payload"] for r in second]
    assert main([*argv[:-4], "--seed", "5", "--out", "-"]) == 0
    third = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert [r["payload"] for r in third] != [r["payload"] for r in first]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--vehicles", "0", "--duration", "1", "--out", "-"], "--vehicles: must be within"),
        (["--vehicles", "1", "--duration", "0", "--out", "-"], "--duration: must be a positive"),
        (["--vehicles", "1", "--duration", "1", "--seed=-3", "--out", "-"], "--seed: must be >= 0"),
        (["--vehicles", "1", "--duration", "1", "--capacity-ah", "5", "--out", "-"], "--capacity-ah"),
        (["--vehicles", "1", "--duration", "1", "--target", TARGET], "--api-key: required with --target"),
        (
            ["--vehicles", "1", "--duration", "1", "--target", "ftp://x", "--api-key", KEY],
            "--target: must be",
        ),
        (
            [
                "--vehicles",
                "1",
                "--duration",
                "1",
                "--target",
                TARGET,
                "--api-key",
                KEY,
                "--batch-size",
                "900",
            ],
            "--batch-size",
        ),
        (["--vehicles", "1", "--duration", "1", "--out", "/nonexistent/dir/x.jsonl"], "--out: cannot write"),
        (
            ["--vehicles", "2", "--duration", "1", "--out", "x.jsonl", "--faults", "fire@veh-00001+1s"],
            "--faults: ",
        ),
        (
            ["--vehicles", "2", "--duration", "1", "--out", "x.jsonl", "--faults", "dropout@veh-00009+1s"],
            "--faults: veh-00009 is not in this fleet (veh-00001..veh-00002)",
        ),
        (["--vehicles", "2", "--duration", "1", "--out", "-", "--faults", "random:5%"], "--truth: say where"),
        (
            ["--vehicles", "2", "--duration", "1", "--out", "x.jsonl", "--truth", "t.jsonl"],
            "--truth: only with",
        ),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("telemetry simulate: error: ") and message in err[0]


def test_out_and_target_are_mutually_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--vehicles", "1", "--duration", "1", "--out", "-", "--target", TARGET])
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_target_retries_a_503_and_reports_every_record_accepted(
    stub_receiver: StubFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    stub, client = stub_receiver([(503, {"Retry-After": "0"})])
    args = parse("--vehicles", "5", "--duration", "12", "--target", TARGET, "--api-key", KEY)
    assert simulate.run(args, client=client) == 0
    # 5 vehicles x 60 steps x 2 frames = 600 records: a full batch of 500 (sent twice) and 100
    assert [n for _, n in stub.seen] == [500, 500, 100]
    assert len(stub.stored) == 600
    out = capsys.readouterr().out.strip()
    assert out == "simulate: accepted=600 rejected=0 failed=0 requests=3 retries=1"


def test_target_exits_1_when_records_cannot_be_delivered(
    stub_receiver: StubFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    _, client = stub_receiver([(503, {"Retry-After": "0"})] * 20)
    args = parse("--vehicles", "1", "--duration", "1", "--target", TARGET, "--api-key", KEY)
    assert simulate.run(args, client=client) == 1
    out = capsys.readouterr().out
    assert "accepted=0" in out and "failed=10" in out and "stopped_early=true" in out


def test_target_with_a_wrong_key_is_a_configuration_error(
    stub_receiver: StubFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    _, client = stub_receiver()
    args = parse("--vehicles", "1", "--duration", "1", "--target", TARGET, "--api-key", "k-wrong-0123456789")
    with pytest.raises(ConfigurationError, match="--api-key: the receiver refused the key"):
        simulate.run(args, client=client)


def test_faults_write_their_ground_truth_beside_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fleet.jsonl"
    spec = "internal_short(cell=7)@veh-00002+2s,dropout(for=2s)@veh-00001+1s"
    argv = [
        "simulate",
        "--vehicles",
        "3",
        "--duration",
        "6",
        "--seed",
        "3",
        "--faults",
        spec,
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    truth = [json.loads(line) for line in (tmp_path / "fleet.faults.jsonl").read_text().splitlines()]
    assert [(t["vehicle_id"], t["fault"]) for t in truth] == [
        ("veh-00001", "dropout"),
        ("veh-00002", "internal_short"),
    ]
    assert truth[1]["params"]["cell"] == 7 and truth[1]["onset"].endswith("Z")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3 * 30 * 2 - 2 * 10  # the dropout removed veh-00001's frames for 2 s
    assert "2 of 2 planned faults started; ground truth in" in capsys.readouterr().err


def test_faults_with_a_target_need_a_truth_file(stub_receiver: StubFactory, tmp_path: Path) -> None:
    _, client = stub_receiver()
    truth = tmp_path / "truth.jsonl"
    args = parse("--vehicles", "2", "--duration", "3", "--target", TARGET, "--api-key", KEY)
    args.faults, args.truth = "sensor_spikes(signal=battery_current)@veh-00002+1s", str(truth)
    assert simulate.run(args, client=client) == 0
    (line,) = truth.read_text().splitlines()
    assert json.loads(line)["fault"] == "sensor_spikes"
