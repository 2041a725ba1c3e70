"""The pipeline as real processes on loopback: embedded AWS, receiver(s), consumer(s).

The demo, the load test, the e2e tests, the benchmarks and the chaos suite all need the same thing:
start `telemetry local-aws`, `telemetry serve` and `telemetry consume` as separate processes on
free 127.0.0.1 ports, wait until each is usable, and stop every one of them whatever happens.
Children get their own session (a Ctrl-C in the terminal reaches only us, and we stop them in
order: receivers, then consumers so they flush, then AWS) and, on Linux, a parent-death signal, so
even a SIGKILLed parent leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

#: The key every local run uses; long enough to pass the receiver's weak-key check.
DEFAULT_API_KEY = "local-demo-key-0123456789abcdef"
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the parent dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ManagedProcess:
    """One child process with its log file; stop() is SIGTERM, a grace period, then SIGKILL."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: signal.Signals) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 35.0) -> int:
        """Graceful stop; returns the exit code (negative: killed by that signal)."""
        self.send(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._log.close()
        return int(self.popen.returncode)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to flush (what the chaos tests want)."""
        if self.alive():
            self.popen.kill()
        self.popen.wait()
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


class PipelineStack:
    """Starts pipeline processes against one embedded AWS stack and stops them all on exit."""

    def __init__(
        self,
        workdir: Path,
        *,
        api_key: str = DEFAULT_API_KEY,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.api_key = api_key
        self.start_timeout = start_timeout
        self.aws_env: dict[str, str] = {}
        self._base_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._processes: list[ManagedProcess] = []
        self._aws: ManagedProcess | None = None
        self._counter = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> PipelineStack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Receivers first (no new work), then consumers (they flush), then AWS."""
        for proc in sorted(self._processes, key=lambda p: 0 if p.name.startswith("receiver") else 1):
            if proc.alive():
                proc.stop()
        self._processes.clear()
        if self._aws is not None and self._aws.alive():
            self._aws.stop(timeout=10)
        self._aws = None

    @property
    def child_env(self) -> dict[str, str]:
        """Environment of every pipeline child: the caller's plus the embedded AWS variables."""
        return {**self._base_env, **self.aws_env}

    def _spawn(self, name: str, args: list[str], env: Mapping[str, str]) -> ManagedProcess:
        self._counter += 1
        log_path = self.workdir / f"{name}-{self._counter}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads exist in the child yet
        )
        return ManagedProcess(name=name, popen=popen, log_path=log_path, _log=log)

    # -- the parts ---------------------------------------------------------------------------
    def start_aws(self) -> dict[str, str]:
        """Run `telemetry local-aws` on a free port; returns the variables it printed."""
        port = free_port()
        proc = self._spawn("local-aws", ["local-aws", "--port", str(port)], self._base_env)
        self._aws = proc
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            env = _parse_exports(proc.log())
            if "TELEMETRY_BUCKET" in env:
                self.aws_env = env
                return dict(env)
            if not proc.alive():
                break
            time.sleep(0.1)
        raise RuntimeError(f"embedded AWS did not start; log:\n{proc.log()[-2000:]}")

    def start_receiver(self, **env: str) -> str:
        """Run `telemetry serve` on a free port; returns its base URL once /healthz answers."""
        port = free_port()
        child_env = {
            **self.child_env,
            "TELEMETRY_HOST": "127.0.0.1",
            "TELEMETRY_PORT": str(port),
            "TELEMETRY_API_KEYS": self.api_key,
            **env,
        }
        proc = self._spawn("receiver", ["serve"], child_env)
        self._processes.append(proc)
        url = f"http://127.0.0.1:{port}"
        self.wait_http(f"{url}/healthz", proc)
        return url

    def start_consumer(self, **env: str) -> ManagedProcess:
        """Run `telemetry consume`; it is up once its process lives (it has no port)."""
        proc = self._spawn("consumer", ["consume"], {**self.child_env, **env})
        self._processes.append(proc)
        time.sleep(0.2)
        if not proc.alive():
            raise RuntimeError(f"consumer exited at start; log:\n{proc.log()[-2000:]}")
        return proc

    def receivers(self) -> list[ManagedProcess]:
        return [p for p in self._processes if p.name == "receiver"]

    def consumers(self) -> list[ManagedProcess]:
        return [p for p in self._processes if p.name == "consumer"]

    def wait_http(self, url: str, proc: ManagedProcess) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited at start; log:\n{proc.log()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{proc.name} did not answer {url}; log:\n{proc.log()[-2000:]}")


def _parse_exports(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").strip().partition("=")
            env[key] = value
    return env
