# One image for the three running parts of the pipeline; the command picks the part:
#   docker run IMAGE                                  receiver  (telemetry serve, port 8000)
#   docker run --no-healthcheck IMAGE consume         consumer  (long-running, no HTTP port)
#   docker run --no-healthcheck IMAGE aggregate       aggregator (one hour, then exits)
# Every setting is an environment variable (README, "Configuration"); none is baked in here but
# where the container differs from a laptop (listen address, port).
#
# No Docker engine runs on our development machines: `make test` installs the package with the
# same script (docker/install.sh) into a clean virtualenv and starts each command, and checks this
# file statically (tests/delivery/). CI (.github/workflows/ci.yml) runs the real build and a scan.

# ---- build: a virtualenv with the locked dependencies, then the package --------------------------
# Pinned by full version and by digest (the multi-platform index of python:3.11.15-slim-trixie as
# docker-library/repo-info records it, repos/python/remote/3.11.15-slim-trixie.md): the tag is
# rebuilt for Debian updates, the digest never changes. Dependabot (.github/dependabot.yml)
# proposes new versions and digests. Both stages use the same base so the virtualenv's
# interpreter path (/usr/local/bin/python3.11) exists in both.
FROM python:3.11.15-slim-trixie@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff AS build

WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when requirements.lock changes.
# pip's cache lives in a BuildKit cache mount (BuildKit is Docker's default builder), never in a layer.
COPY docker/install.sh docker/install.sh
COPY requirements.lock requirements.lock
RUN --mount=type=cache,target=/root/.cache/pip \
    sh docker/install.sh deps /opt/venv requirements.lock

COPY pyproject.toml README.md ./
COPY app/ app/
RUN --mount=type=cache,target=/root/.cache/pip \
    sh docker/install.sh app /opt/venv /src

# ---- runtime: the virtualenv on a clean base, no build tools, no pip, not root -------------------
FROM python:3.11.15-slim-trixie@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff AS runtime

# The base image's pip, setuptools and wheel are build tools (and scanner findings) the service
# never uses; without them nothing can be pip-installed into a running container.
# /var/scratch is the hourly job's disk (TELEMETRY_HOURLY_WORK_DIR, infra/ecs.tf): created here,
# owned by the user the container runs as, and declared a VOLUME below.
RUN python -m pip uninstall --yes --no-input --disable-pip-version-check pip setuptools wheel \
    && rm -rf /usr/local/lib/python3.11/ensurepip/_bundled \
    && groupadd --system --gid 10001 telemetry \
    && useradd --system --uid 10001 --gid telemetry --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin telemetry \
    && mkdir -p /var/scratch \
    && chown 10001:10001 /var/scratch

COPY --from=build /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TELEMETRY_HOST=0.0.0.0 \
    TELEMETRY_PORT=8000 \
    AWS_EMF_ENVIRONMENT=local

# The aggregator's task mounts a bind volume of its ephemeral storage at /var/scratch (the root
# filesystem is read-only). Fargate gives such a mount root:root 0755, where the job cannot write,
# unless the image declares the path as a VOLUME: then it takes the image's owner and mode
# (ECS developer guide, "Use bind mounts with Amazon ECS"). Declared after the RUN that makes it:
# build steps that change a path once it is a VOLUME are discarded.
VOLUME ["/var/scratch"]

USER 10001:10001
EXPOSE 8000

# ECS stops a task with SIGTERM, then SIGKILL after the container's stopTimeout: the receiver
# drains in-flight requests and the consumer flushes its buffer on SIGTERM.
STOPSIGNAL SIGTERM

# Liveness of the receiver without curl (not in a slim image). The consumer and the aggregator run
# this image with another command and no HTTP port: run them with --no-healthcheck under plain
# Docker. ECS ignores this instruction and uses the task definition's healthCheck instead.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TELEMETRY_PORT', '8000'), timeout=2)"]

ENTRYPOINT ["telemetry"]
CMD ["serve"]
