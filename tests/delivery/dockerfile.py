"""A small reader of our Dockerfile and .dockerignore, and the rules the image must keep.

No Docker engine runs here, so the Dockerfile is checked in two ways: statically by `problems()`
(the rules the issue names: multi-stage, pinned slim base, non-root user, no secrets in ENV, a
HEALTHCHECK, STOPSIGNAL SIGTERM, dependencies in a layer before the code, and the hourly job's
scratch directory made, owned by that user and declared a VOLUME) and dynamically by
test_container_install.py, which replays the build stage's COPY and RUN instructions on this machine.
The reader handles what our Dockerfile uses (comments, line continuations, exec and shell forms,
`ENV k=v ...`); it is not a full BuildKit parser, and `problems()` refuses constructs it cannot judge.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

#: Our one install path: every RUN of the build stage must go through it (see docker/install.sh).
INSTALL_SCRIPT: Final = "docker/install.sh"
#: The hourly job's disk: infra/ecs.tf mounts a bind volume there (TELEMETRY_HOURLY_WORK_DIR) on a
#: read-only root filesystem. Fargate gives the mount the owner and mode of the image's directory
#: only when the image declares it a VOLUME; otherwise root:root 0755, and the job (not root)
#: cannot write its staging and spill files.
SCRATCH_DIR: Final = "/var/scratch"
#: A base image reference we accept: a full X.Y.Z version tag, optionally plus a digest, or a digest.
_PINNED_TAG = re.compile(r"^[\w./-]+:(?P<tag>\d+\.\d+\.\d+[\w.-]*)(@sha256:[0-9a-f]{64})?$")
_DIGEST = re.compile(r"^[\w./-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")
_SECRET_NAME = re.compile(
    r"(SECRET|PASSWORD|PASSWD|TOKEN|API_?KEYS?|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.IGNORECASE
)
_SECRET_VALUE = re.compile(r"(AKIA|ASIA)[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----")
_ROOT_USERS = frozenset({"root", "0"})
_BUILD_TOOLS = re.compile(r"\b(apt-get|apt|apk|yum|dnf)\s+install\b|\b(gcc|g\+\+|make|build-essential)\b")


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the argument text, continuation lines joined
    line: int  # 1-based line of the keyword

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (CMD ["a", "b"]), else None."""
        if not self.args.startswith("["):
            return None
        value = json.loads(self.args)
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ValueError(f"line {self.line}: {self.keyword} exec form must be a JSON list of strings")
        return value

    def flags(self) -> dict[str, str]:
        """Leading `--name=value` flags (COPY --from=build, RUN --mount=...)."""
        out: dict[str, str] = {}
        for token in shlex.split(self.args):
            if not token.startswith("--"):
                break
            name, _, value = token[2:].partition("=")
            out[name] = value
        return out

    def without_flags(self) -> str:
        """The argument text after the leading `--flag=value` tokens."""
        rest = self.args
        while rest.startswith("--"):
            _, _, rest = rest.partition(" ")
            rest = rest.lstrip()
        return rest


@dataclass(slots=True)
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self, inherited: Mapping[str, str] | None = None) -> dict[str, str]:
        """ENV of this stage in order, `${VAR}`/`$VAR` expanded from earlier values or `inherited`."""
        env = dict(inherited or {})
        for instr in self.all("ENV"):
            for key, value in parse_env(instr.args):
                env[key] = expand(value, env)
        return env


def instructions(text: str) -> list[Instruction]:
    """Instructions in file order: comments dropped, backslash continuations joined."""
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # Docker drops comment lines inside a continuation
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        joined = " ".join(p for p in pending if p)
        pending = []
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword=keyword.upper(), args=args.strip(), line=start))
    if pending:
        raise ValueError(f"line {start}: the file ends inside a line continuation")
    return out


def stages(text: str) -> list[Stage]:
    result: list[Stage] = []
    for instr in instructions(text):
        if instr.keyword == "FROM":
            parts = instr.without_flags().split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            result.append(Stage(base=parts[0], name=name, line=instr.line))
        elif result:
            result[-1].instructions.append(instr)
        elif instr.keyword != "ARG":
            raise ValueError(f"line {instr.line}: {instr.keyword} before the first FROM")
    return result


def parse_env(args: str) -> list[tuple[str, str]]:
    """`ENV a=1 b="two words"` or the legacy `ENV a 1`."""
    tokens = shlex.split(args)
    if tokens and "=" not in tokens[0]:
        return [(tokens[0], args.partition(" ")[2].strip())]
    pairs = []
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep:
            raise ValueError(f"ENV {args!r}: {token!r} is not key=value")
        pairs.append((key, value))
    return pairs


def expand(value: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


def problems(text: str) -> list[str]:
    """Every rule the image breaks, one line each; an empty list means the Dockerfile is fine."""
    try:
        all_stages = stages(text)
    except ValueError as exc:
        return [f"unreadable Dockerfile: {exc}"]
    found: list[str] = []
    if len(all_stages) < 2:
        found.append("not multi-stage: build tools must stay in a build stage, out of the final image")
    if not all_stages:
        return found
    names = {s.name for s in all_stages if s.name}
    for stage in all_stages:
        found.extend(_base_problems(stage, names))
        found.extend(_secret_problems(stage))
    final = all_stages[-1]
    found.extend(_final_stage_problems(final))
    if len(all_stages) >= 2:
        found.extend(_build_stage_problems(all_stages[0]))
    return found


def _base_problems(stage: Stage, stage_names: set[str]) -> Iterable[str]:
    base = stage.base
    if base in stage_names:
        return
    where = f"line {stage.line}: FROM {base}"
    if "$" in base:
        yield f"{where}: the base image must be written out, not taken from an ARG"
    elif base.rsplit(":", 1)[-1].split("@")[0] == "latest":
        yield f"{where}: 'latest' is not a version; pin the base image"
    elif not (_PINNED_TAG.match(base) or _DIGEST.match(base)):
        yield f"{where}: pin the base image by a full X.Y.Z version tag or a digest"
    if not base.startswith("python:") or "slim" not in base:
        yield f"{where}: the base must be the slim Python image"


def _secret_problems(stage: Stage) -> Iterable[str]:
    for instr in stage.instructions:
        if instr.keyword not in {"ENV", "ARG"}:
            continue
        pairs = parse_env(instr.args) if instr.keyword == "ENV" else [_arg_pair(instr.args)]
        for key, value in pairs:
            if _SECRET_NAME.search(key):
                yield (
                    f"line {instr.line}: {instr.keyword} {key}: secrets never go in the image "
                    "(they stay in every layer); pass them at run time"
                )
            elif _SECRET_VALUE.search(value):
                yield f"line {instr.line}: {instr.keyword} {key} holds what looks like a credential"


def _arg_pair(args: str) -> tuple[str, str]:
    key, _, value = args.partition("=")
    return key.strip(), value.strip()


def _final_stage_problems(final: Stage) -> Iterable[str]:
    user = final.last("USER")
    if user is None:
        yield "final stage: no USER; the service must not run as root"
    elif user.args.split(":")[0] in _ROOT_USERS:
        yield f"line {user.line}: USER {user.args} runs the service as root"
    signal = final.last("STOPSIGNAL")
    if signal is None or signal.args.upper() not in {"SIGTERM", "15"}:
        yield "final stage: STOPSIGNAL SIGTERM is missing (ECS stops tasks with SIGTERM)"
    health = final.last("HEALTHCHECK")
    if health is None or health.args.upper() == "NONE":
        yield "final stage: no HEALTHCHECK for the receiver"
    for keyword in ("ENTRYPOINT", "CMD"):
        instr = final.last(keyword)
        if instr is None:
            yield f"final stage: no {keyword}"
        elif instr.exec_form() is None:
            yield f"line {instr.line}: {keyword} must be in exec form so SIGTERM reaches the process"
    yield from _scratch_problems(final, SCRATCH_DIR)
    env = final.env()
    if env.get("PYTHONUNBUFFERED") != "1":
        yield "final stage: PYTHONUNBUFFERED=1 is missing (log lines would sit in a buffer)"
    for instr in final.all("RUN"):
        if _BUILD_TOOLS.search(instr.args) or re.search(r"\bpip\d*\s+install\b", instr.args):
            yield f"line {instr.line}: the final stage installs software; do it in the build stage"


def _commands(run: Instruction) -> list[list[str]]:
    """The simple commands of a shell-form RUN (split on `&&`, `||` and `;`)."""
    return [shlex.split(part) for part in re.split(r"&&|\|\||;", run.without_flags()) if part.strip()]


def _scratch_problems(final: Stage, path: str) -> Iterable[str]:
    """`path` made by a RUN, chowned to the final USER, then declared a VOLUME (in that order)."""
    volumes = [v for v in final.all("VOLUME") if path in (v.exec_form() or v.args.split())]
    if not volumes:
        yield (
            f"final stage: no VOLUME [{json.dumps(path)}]; Fargate mounts the aggregator's scratch volume "
            "there owned by root unless the image declares it"
        )
    made = [r for r in final.all("RUN") if any(c[:1] == ["mkdir"] and path in c for c in _commands(r))]
    if not made:
        yield f"final stage: no RUN makes {path} (mkdir) for the aggregator's scratch volume"
    user = final.last("USER")
    if user is not None:
        owner = user.args.strip()
        chowned = [
            r
            for r in final.all("RUN")
            for c in _commands(r)
            if c[:1] == ["chown"] and path in c and [a for a in c[1:] if not a.startswith("-")][:1] == [owner]
        ]
        if not chowned:
            yield f"final stage: {path} must be owned by the USER the container runs as (chown {owner} {path})"
    if volumes and made and volumes[0].line < made[-1].line:
        yield (
            f"line {volumes[0].line}: VOLUME {path} is declared before the RUN that makes it (line "
            f"{made[-1].line}); build steps that change a volume after its VOLUME are discarded"
        )


def _build_stage_problems(build: Stage) -> Iterable[str]:
    runs = build.all("RUN")
    for instr in runs:
        command = instr.without_flags()
        if not command.startswith(f"sh {INSTALL_SCRIPT} "):
            yield (
                f"line {instr.line}: build-stage RUN must call `sh {INSTALL_SCRIPT}`, the script the "
                "container install check runs too"
            )
    deps = next((i for i in runs if i.without_flags().startswith(f"sh {INSTALL_SCRIPT} deps ")), None)
    code = next((i for i in build.all("COPY") if i.without_flags().split()[0].rstrip("/") == "app"), None)
    if deps is None:
        yield f"build stage: no `{INSTALL_SCRIPT} deps` step installing the locked dependencies"
    elif code is None:
        yield "build stage: the application code (app/) is never copied"
    elif code.line < deps.line:
        yield (
            f"line {code.line}: app/ is copied before the dependencies are installed (line "
            f"{deps.line}); every code change would reinstall them"
        )
    for instr in runs:
        if "--mount=type=cache" not in instr.args:
            yield f"line {instr.line}: RUN without a pip cache mount leaves the cache in a layer or rebuilds it"


# --- .dockerignore ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pattern:
    regex: re.Pattern[str]
    exclude: bool


class DockerIgnore:
    """The build context filter: Docker's rules (last matching pattern wins, `!` re-includes, a
    matched directory takes its contents with it, `**` spans directories)."""

    def __init__(self, text: str) -> None:
        self._patterns: list[_Pattern] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclude = not line.startswith("!")
            pattern = line.lstrip("!").strip().strip("/")
            self._patterns.append(_Pattern(re.compile(_translate(pattern)), exclude))

    def excluded(self, path: str) -> bool:
        parts = path.strip("/").split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for pattern in self._patterns:
            if any(pattern.regex.fullmatch(c) for c in candidates):
                result = pattern.exclude
        return result

    def context_files(self, root: Path, source: str) -> list[Path]:
        """Files under `source` (relative to root) that reach the build context."""
        start = root / source
        files = [start] if start.is_file() else sorted(p for p in start.rglob("*") if p.is_file())
        return [p for p in files if not self.excluded(p.relative_to(root).as_posix())]


def _translate(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)
