"""The image, built without Docker: the Dockerfile's build stage replayed on this machine.

`build()` reads the Dockerfile and performs its build stage in a scratch directory that stands for
the container's `/`: WORKDIR, COPY (through .dockerignore, like a build context) and RUN, whose
absolute paths are mapped into that directory. Every build-stage RUN calls docker/install.sh (a rule
of dockerfile.problems()), so the commands run here are the image's own commands, on the local
python3 of the same minor version. The runtime stage contributes its ENV, ENTRYPOINT, CMD,
HEALTHCHECK and STOPSIGNAL; its RUN lines (removing the base image's pip, adding the user and the
scratch directory) change the system, so they are left to the real build in CI, and dockerfile.py
checks them statically.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from tests.delivery.dockerfile import DockerIgnore, Instruction, Stage, stages


class BuildError(RuntimeError):
    """A build-stage step failed, or the Dockerfile uses something this replay cannot perform."""


@dataclass(frozen=True, slots=True)
class LocalImage:
    root: Path  # stands for the container's /
    env: dict[str, str]  # the container's environment: image ENV with paths mapped under root
    entrypoint: list[str]
    cmd: list[str]
    healthcheck: list[str]
    stopsignal: signal.Signals
    workdir: Path

    def path(self, container_path: str) -> Path:
        return _map(self.root, container_path)

    def argv(self, *args: str) -> list[str]:
        """What `docker run IMAGE args...` executes: ENTRYPOINT plus args (CMD when none)."""
        first, *rest = self.entrypoint
        resolved = shutil.which(first, path=self.env["PATH"])
        if resolved is None:
            raise BuildError(f"ENTRYPOINT {first!r} is not on the image's PATH {self.env['PATH']}")
        return [resolved, *rest, *(args or self.cmd)]

    def healthcheck_argv(self) -> list[str]:
        first, *rest = self.healthcheck
        resolved = shutil.which(first, path=self.env["PATH"])
        if resolved is None:
            raise BuildError(f"HEALTHCHECK {first!r} is not on the image's PATH")
        return [resolved, *rest]


def build(dockerfile: Path, *, context: Path, root: Path, log: Path) -> LocalImage:
    text = dockerfile.read_text(encoding="utf-8")
    all_stages = stages(text)
    if len(all_stages) < 2:
        raise BuildError("expected a build stage and a runtime stage")
    build_stage, runtime = all_stages[0], all_stages[-1]
    _check_python(build_stage.base)
    ignore = DockerIgnore((context / ".dockerignore").read_text(encoding="utf-8"))
    root.mkdir(parents=True, exist_ok=True)
    workdir = "/"
    env: dict[str, str] = {}
    with log.open("a", encoding="utf-8") as out:
        for instr in build_stage.instructions:
            if instr.keyword == "WORKDIR":
                workdir = str(PurePosixPath(workdir, instr.args))
                _map(root, workdir).mkdir(parents=True, exist_ok=True)
            elif instr.keyword == "COPY":
                _copy(instr, context=context, root=root, workdir=workdir, ignore=ignore)
            elif instr.keyword == "RUN":
                _run(instr, root=root, workdir=workdir, env=env, out=out)
            elif instr.keyword == "ENV":
                env = build_stage.env()
            elif instr.keyword not in {"ARG", "LABEL"}:
                raise BuildError(f"line {instr.line}: {instr.keyword} is not replayed by the install check")
    _check_runtime_copies(runtime, build_stage)
    return _runtime_image(runtime, root)


def _check_python(base: str) -> None:
    match = re.match(r"python:(\d+)\.(\d+)\.", base)
    if not match:
        raise BuildError(f"cannot tell the Python version of base image {base}")
    wanted = (int(match.group(1)), int(match.group(2)))
    found = subprocess.run(
        ["python3", "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if tuple(int(x) for x in found) != wanted:
        raise BuildError(f"python3 here is {'.'.join(found)}, the image has {wanted[0]}.{wanted[1]}")


def _map(root: Path, container_path: str) -> Path:
    return root / container_path.lstrip("/")


def _copy(instr: Instruction, *, context: Path, root: Path, workdir: str, ignore: DockerIgnore) -> None:
    if instr.flags():
        raise BuildError(f"line {instr.line}: COPY flags in the build stage are not replayed")
    *sources, dest = instr.without_flags().split()
    target = _map(root, str(PurePosixPath(workdir, dest)))
    into_dir = dest.endswith("/") or len(sources) > 1
    for source in sources:
        files = ignore.context_files(context, source)
        if not files:
            raise BuildError(f"line {instr.line}: COPY {source}: nothing in the build context")
        source_path = context / source
        for file in files:
            if source_path.is_dir():
                destination = target / file.relative_to(source_path)
            elif into_dir:
                destination = target / file.name
            else:
                destination = target
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, destination)


def _run(instr: Instruction, *, root: Path, workdir: str, env: dict[str, str], out: IO[str]) -> None:
    argv = [str(_map(root, t)) if t.startswith("/") else t for t in shlex.split(instr.without_flags())]
    child_env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    child_env.update(env)
    print(f"$ {' '.join(argv)}", file=out, flush=True)
    result = subprocess.run(
        argv,
        cwd=_map(root, workdir),
        env=child_env,
        stdout=out,
        stderr=subprocess.STDOUT,
        check=False,
    )
    if result.returncode != 0:
        raise BuildError(f"line {instr.line}: RUN exited {result.returncode}: {instr.args}")


def _check_runtime_copies(runtime: Stage, build_stage: Stage) -> None:
    for copy in runtime.all("COPY"):
        flags = copy.flags()
        if flags.get("from") != build_stage.name:
            raise BuildError(f"line {copy.line}: the runtime stage copies only from the build stage")
        *sources, dest = copy.without_flags().split()
        if sources != [dest]:
            raise BuildError(f"line {copy.line}: COPY --from must keep the path ({sources} -> {dest})")


def _runtime_image(runtime: Stage, root: Path) -> LocalImage:
    image_env = runtime.env(inherited={"PATH": os.defpath})
    mapped_path = os.pathsep.join(
        str(_map(root, entry)) if _map(root, entry).exists() else entry
        for entry in image_env["PATH"].split(os.pathsep)
        if entry
    )
    image_env["PATH"] = mapped_path
    image_env.setdefault("HOME", str(root / "nonexistent"))
    image_env.setdefault("LANG", "C.UTF-8")
    workdir = runtime.last("WORKDIR")
    entrypoint = runtime.last("ENTRYPOINT")
    cmd = runtime.last("CMD")
    health = runtime.last("HEALTHCHECK")
    stop = runtime.last("STOPSIGNAL")
    if entrypoint is None or cmd is None or health is None or stop is None:
        raise BuildError("the runtime stage lacks ENTRYPOINT, CMD, HEALTHCHECK or STOPSIGNAL")
    health_cmd = health.args[health.args.index("CMD ") + 4 :].strip()
    return LocalImage(
        root=root,
        env=image_env,
        entrypoint=entrypoint.exec_form() or shlex.split(entrypoint.args),
        cmd=cmd.exec_form() or shlex.split(cmd.args),
        healthcheck=json.loads(health_cmd) if health_cmd.startswith("[") else ["sh", "-c", health_cmd],
        stopsignal=signal.Signals[stop.args.upper()],
        workdir=_map(root, workdir.args if workdir else "/"),
    )


def installed_distributions(image: LocalImage) -> set[str]:
    """Names of the distributions in the image's virtualenv (without pip, which is gone)."""
    python = shutil.which("python", path=image.env["PATH"]) or sys.executable
    out = subprocess.run(
        [
            python,
            "-c",
            "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=image.env,
    ).stdout
    return {line.strip().lower() for line in out.splitlines() if line.strip()}
