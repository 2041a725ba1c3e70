"""infra/bootstrap (state bucket, GitHub OIDC provider, deploy role), checked by Terraform itself.

fmt, init without a backend, validate and the module's own `terraform test` (plan-time, mocked
provider); checkov scans it with the rest of infra/ in `make infra-check`. Terraform runs on a copy so nothing is written into the working tree. The
provider comes from the offline mirror TF_PLUGIN_DIR names, if set; otherwise from the registry,
as in GitHub Actions.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "infra" / "bootstrap"
PLUGIN_DIR = os.environ.get("TF_PLUGIN_DIR") or None

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")


def _terraform(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(
        ["terraform", *args, "-no-color"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    copy = tmp_path_factory.mktemp("bootstrap") / "bootstrap"
    shutil.copytree(MODULE, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    args = ["init", "-backend=false", "-input=false"]
    if PLUGIN_DIR is not None:
        args.append(f"-plugin-dir={PLUGIN_DIR}")
    result = _terraform(*args, cwd=copy)
    assert result.returncode == 0, result.stdout + result.stderr
    yield copy


def test_fmt() -> None:
    result = _terraform("fmt", "-check", "-recursive", "-diff", cwd=MODULE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate(initialised: Path) -> None:
    result = _terraform("validate", cwd=initialised)
    assert result.returncode == 0, result.stdout + result.stderr


def test_terraform_test(initialised: Path) -> None:
    result = _terraform("test", cwd=initialised)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout


def _lock(text: str) -> tuple[str, str, set[str]]:
    version = re.search(r'^\s*version\s*=\s*"([^"]+)"', text, re.M)
    constraints = re.search(r'^\s*constraints\s*=\s*"([^"]+)"', text, re.M)
    assert version and constraints, text
    return version.group(1), constraints.group(1), set(re.findall(r'"((?:h1|zh):[^"]+)"', text))


def test_the_lock_file_is_committed_and_matches_the_constraints(initialised: Path) -> None:
    """init keeps the committed provider version; a registry download may only add hashes of
    other platforms (zh:), never drop or change the committed ones."""
    committed = _lock((MODULE / ".terraform.lock.hcl").read_text(encoding="utf-8"))
    after_init = _lock((initialised / ".terraform.lock.hcl").read_text(encoding="utf-8"))
    assert committed[:2] == after_init[:2]
    assert committed[2] <= after_init[2]
