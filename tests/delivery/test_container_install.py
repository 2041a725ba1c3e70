"""The container install check: the image built the Dockerfile's way, then each command started.

No Docker engine runs here, so tests/delivery/image.py replays the build stage (the same
docker/install.sh commands, a clean virtualenv, the hash-checked requirements.lock, the build
context filtered by .dockerignore) and this module runs the result the way ECS would: the
Dockerfile's ENV, ENTRYPOINT and CMD, its HEALTHCHECK command and its STOPSIGNAL, against the
embedded AWS stack on loopback. One install per test session, however many pytest workers share it.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.embedded_aws import Provisioned, embedded_aws
from tests.delivery.image import BuildError, LocalImage, build, installed_distributions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "k-delivery-check-0123456789"
START_TIMEOUT = 45.0


@dataclass(frozen=True, slots=True)
class Component:
    """One running part of the pipeline, as ECS starts it from the one image."""

    name: str
    args: tuple[str, ...]  # after the ENTRYPOINT; () is the image's CMD
    command: str  # the `telemetry` sub-command it runs


def _last_hour() -> str:
    return f"{datetime.now(UTC) - timedelta(hours=1):%Y-%m-%dT%H}"


COMPONENTS = (
    Component("receiver", (), "serve"),
    Component("consumer", ("consume",), "consume"),
    Component("aggregator", ("aggregate", "--hour", _last_hour()), "aggregate"),
)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> LocalImage:
    """Built once per session: pytest-xdist's workers share the first one's build (under a lock in
    the folder their temporary folders share) instead of installing the lock once each."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    with (shared / "image.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        built = shared / "image.pickle"
        if built.exists():
            image: LocalImage = pickle.loads(built.read_bytes())
            return image
        workdir = Path(tempfile.mkdtemp(prefix="image-", dir=shared))  # a failed build leaves its own
        log = workdir / "build.log"
        try:
            image = build(ROOT / "Dockerfile", context=ROOT, root=workdir / "rootfs", log=log)
        except BuildError as exc:
            tail = log.read_text(encoding="utf-8")[-3000:] if log.exists() else ""
            pytest.fail(f"the image does not build the Dockerfile's way: {exc}\n{tail}")
        built.write_bytes(pickle.dumps(image))
        return image


@pytest.fixture(scope="module")
def aws() -> Iterator[Provisioned]:
    """The embedded AWS stack on loopback, created from a clean environment."""
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("TELEMETRY_", "AWS_")):
                mp.delenv(key)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with embedded_aws() as provisioned:
            yield provisioned


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every process a test starts; whatever is still alive at the end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _container_env(image: LocalImage, aws: Provisioned, **extra: str) -> dict[str, str]:
    """`docker run -e ...`: the image's ENV, the deployment's settings, the test's overrides.

    The listen address is loopback here (the image says 0.0.0.0, right for a container only).
    """
    return {
        **image.env,
        **aws.env(),
        "TELEMETRY_API_KEYS": API_KEY,
        "TELEMETRY_HOST": "127.0.0.1",
        "TELEMETRY_RECEIVE_WAIT_SECONDS": "1",
        **extra,
    }


def _start(
    image: LocalImage,
    args: tuple[str, ...],
    env: dict[str, str],
    log: Path,
    started: list[subprocess.Popen[bytes]],
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            image.argv(*args),
            cwd=image.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started.append(proc)
    return proc


def _healthcheck(image: LocalImage, env: dict[str, str]) -> int:
    return subprocess.run(
        image.healthcheck_argv(), env=env, cwd=image.workdir, capture_output=True, timeout=10, check=False
    ).returncode


#: uvicorn prints this once in-flight requests finished and the app's lifespan closed (the
#: publisher flushed); the receiver then exits 0. Exit 0 without it would mean no drain happened.
UVICORN_DRAINED = "Application shutdown complete."


def _stop(image: LocalImage, proc: subprocess.Popen[bytes], *, timeout: float = 20.0) -> int:
    """What `docker stop` / ECS does: the image's STOPSIGNAL, then a kill after the grace period."""
    proc.send_signal(image.stopsignal)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"no exit within {timeout:.0f} s of {image.stopsignal.name}")


def _assert_receiver_drained(image: LocalImage, returncode: int, log: Path) -> None:
    text = log.read_text(errors="replace")
    assert returncode == 0, text[-2000:]
    assert UVICORN_DRAINED in text, f"no graceful shutdown in the receiver's log:\n{text[-2000:]}"


def _require_command(image: LocalImage, component: Component) -> None:
    help_text = subprocess.run(
        image.argv("--help"), env=image.env, capture_output=True, text=True, check=False, timeout=60
    ).stdout
    if f" {component.command}" not in help_text:
        pytest.fail(f"`telemetry {component.command}` ({component.name}) is not a command of the image yet")


# --- what is in the image -----------------------------------------------------------------------


def _locked_names() -> set[str]:
    """Distributions requirements.lock installs on this platform (markers evaluated)."""
    names: set[str] = set()
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if not line or line[0] in "# " or line.startswith("--"):
            continue
        spec, _, marker = line.rstrip(" \\").partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        names.add(canonicalize_name(Requirement(spec.strip()).name))
    return names


def test_the_image_holds_the_package_and_the_locked_dependencies_only(image: LocalImage) -> None:
    installed = {canonicalize_name(name) for name in installed_distributions(image)}
    assert installed == _locked_names() | {"fleet-telemetry"}  # no pip, setuptools or dev tools
    located = subprocess.run(
        ["python", "-c", "import app; print(app.__file__)"],
        env=image.env,
        cwd=image.workdir,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(located).is_relative_to(image.root), f"app imported from {located}, not the image"
    assert "site-packages" in located


@pytest.mark.parametrize(
    ("args", "extra", "module"),
    [
        (("local-aws", "--port", "0"), "local", "moto"),
        (("simulate", "--vehicles", "1", "--duration", "1", "--out", "-"), "sim", "numpy"),
    ],
)
def test_the_image_has_no_simulator_or_moto_and_their_commands_name_the_extra(
    image: LocalImage, args: tuple[str, ...], extra: str, module: str
) -> None:
    installed = {canonicalize_name(name) for name in installed_distributions(image)}
    assert not installed & {"numpy", "cantools", "httpx", "moto", "matplotlib", "locust"}
    result = subprocess.run(
        image.argv(*args), env=image.env, cwd=image.workdir, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines() == [
        f"telemetry {args[0]}: error: needs the optional dependencies '{extra}' ({module} is not installed): "
        f"pip install 'fleet-telemetry[{extra}]'"
    ]


def test_no_build_tools_or_caches_in_the_virtualenv(image: LocalImage) -> None:
    venv = image.path("/opt/venv")
    assert not list(venv.glob("bin/pip*"))
    assert not list(venv.rglob("*.whl"))
    assert not (venv / ".cache").exists()


# --- each command starts and reads its settings ---------------------------------------------------


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_each_command_reads_its_settings_and_names_a_bad_one(
    image: LocalImage, aws: Provisioned, component: Component
) -> None:
    """Imports work and Settings is parsed: a malformed setting stops it with one line, exit 2."""
    _require_command(image, component)
    env = _container_env(image, aws, TELEMETRY_LOG_LEVEL="LOUD")
    result = subprocess.run(
        image.argv(*component.args),
        env=env,
        cwd=image.workdir,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and "TELEMETRY_LOG_LEVEL" in lines[0], result.stderr[-2000:]


def test_receiver_passes_the_dockerfile_healthcheck_and_stops_on_the_stopsignal(
    image: LocalImage, aws: Provisioned, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    receiver = COMPONENTS[0]
    _require_command(image, receiver)
    env = _container_env(image, aws, TELEMETRY_PORT=str(_free_port()))
    assert _healthcheck(image, env) != 0, "the healthcheck passes with nothing listening"
    proc = _start(image, receiver.args, env, tmp_path / "receiver.log", processes)
    deadline = time.monotonic() + START_TIMEOUT
    while _healthcheck(image, env) != 0:
        log = (tmp_path / "receiver.log").read_text(errors="replace")
        assert proc.poll() is None, f"the receiver exited at start:\n{log[-2000:]}"
        assert time.monotonic() < deadline, f"the healthcheck never passed:\n{log[-2000:]}"
        time.sleep(0.3)
    _assert_receiver_drained(image, _stop(image, proc), tmp_path / "receiver.log")
    assert _healthcheck(image, env) != 0, "the healthcheck still passes after the receiver stopped"


def test_consumer_runs_until_the_stopsignal(
    image: LocalImage, aws: Provisioned, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    consumer = COMPONENTS[1]
    _require_command(image, consumer)
    proc = _start(image, consumer.args, _container_env(image, aws), tmp_path / "consumer.log", processes)
    time.sleep(3.0)  # long enough to import, read settings, resolve the queue and start polling
    log = tmp_path / "consumer.log"
    assert proc.poll() is None, f"the consumer exited:\n{log.read_text(errors='replace')[-2000:]}"
    assert _stop(image, proc) == 0, log.read_text(errors="replace")[-2000:]


def test_aggregator_rolls_up_one_hour_and_exits(image: LocalImage, aws: Provisioned, tmp_path: Path) -> None:
    aggregator = COMPONENTS[2]
    _require_command(image, aggregator)
    result = subprocess.run(
        image.argv(*aggregator.args),
        env=_container_env(image, aws),
        cwd=image.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


# --- the deploy's smoke test, against the image ---------------------------------------------------


def _smoke(url: str, aws: Provisioned, *, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "smoke.py"),
            "--ingest-url",
            url,
            "--bucket",
            aws.bucket,
            "--timeout",
            str(timeout),
            "--post-attempts",
            "2",
            "--run-id",
            "delivery-check",
        ],
        env={**os.environ, **aws.env(), "SMOKE_API_KEY": API_KEY},
        capture_output=True,
        text=True,
        timeout=timeout + 60,
        check=False,
    )


def test_the_deploy_smoke_test_passes_only_when_records_reach_s3(
    image: LocalImage, aws: Provisioned, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """deploy.yml's last step, run against the image: it fails loudly without a consumer and
    passes once one runs."""
    for component in COMPONENTS[:2]:
        _require_command(image, component)
    port = _free_port()
    env = _container_env(image, aws, TELEMETRY_PORT=str(port))
    receiver = _start(image, (), env, tmp_path / "receiver.log", processes)
    deadline = time.monotonic() + START_TIMEOUT
    while _healthcheck(image, env) != 0:
        assert receiver.poll() is None and time.monotonic() < deadline, (tmp_path / "receiver.log").read_text(
            errors="replace"
        )[-2000:]
        time.sleep(0.3)
    url = f"http://127.0.0.1:{port}/v1/telemetry"

    failed = _smoke(url, aws, timeout=4)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "::error title=smoke test failed::" in failed.stderr

    consumer = _start(image, ("consume",), env, tmp_path / "consumer.log", processes)
    passed = _smoke(url, aws, timeout=60)
    assert passed.returncode == 0, (
        passed.stdout + passed.stderr + (tmp_path / "consumer.log").read_text(errors="replace")[-2000:]
    )
    assert "found in s3://" in passed.stdout
    _assert_receiver_drained(image, _stop(image, receiver), tmp_path / "receiver.log")
    assert _stop(image, consumer) == 0, (tmp_path / "consumer.log").read_text(errors="replace")[-2000:]


def test_a_tampered_lock_fails_the_build(tmp_path: Path) -> None:
    """The check runs the Dockerfile's own commands: a lock whose hash does not match the file
    PyPI serves stops the build, as `docker build` would stop."""
    context = tmp_path / "context"
    for name in ("docker", "app"):
        shutil.copytree(ROOT / name, context / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, context / name)
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    first_block_end = lock.index("    # via")  # every hash of the first locked package
    tampered = re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, lock[:first_block_end])
    tampered += lock[first_block_end:]
    (context / "requirements.lock").write_text(tampered, encoding="utf-8")
    log = tmp_path / "build.log"
    with pytest.raises(BuildError, match=r"RUN exited 1: .*install.sh deps"):
        build(context / "Dockerfile", context=context, root=tmp_path / "rootfs", log=log)
    assert "DO NOT MATCH THE HASHES" in log.read_text(encoding="utf-8")


def test_a_missing_build_context_file_fails_the_build(tmp_path: Path) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    broken = tmp_path / "Dockerfile"
    broken.write_text(
        dockerfile.replace("COPY requirements.lock ", "COPY requirements.missing ", 1), encoding="utf-8"
    )
    with pytest.raises(
        BuildError, match=re.escape("COPY requirements.missing: nothing in the build context")
    ):
        build(broken, context=ROOT, root=tmp_path / "rootfs", log=tmp_path / "build.log")
