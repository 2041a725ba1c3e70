# The one command set: developers, CI (.ci/run) and the docs call these targets and nothing else.
# Every target that runs Python builds .venv first; it re-installs only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST := $(BIN)/pytest

.DEFAULT_GOAL := help
.PHONY: help venv lint fmt test test-fast demo loadtest bench chaos schema clean
.PHONY: lock

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

venv: $(STAMP) ## create .venv with the package and its dev tools

lint: $(STAMP) ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app tests loadtest

fmt: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint ## lint, then every test (unit, integration, e2e, infra, delivery checks)
	$(PYTEST) -q

test-fast: $(STAMP) ## unit and integration tests only, no processes started
	$(PYTEST) -q tests/unit tests/integration

demo: $(STAMP) ## run the whole pipeline end to end on the embedded AWS stack
	$(BIN)/python -m loadtest.demo

bench: $(STAMP) ## benchmarks: simulator records/s for 100 vehicles (>= 20,000 required)
	$(BIN)/python -m bench.simulator_bench

schema: $(STAMP) ## regenerate docs/schema (JSON Schema of contract v1)
	$(BIN)/telemetry schema

# The image installs from requirements.lock (docker/install.sh). --exclude-newer makes the lock a
# function of pyproject.toml and this date alone: bump LOCK_DATE to take newer releases.
LOCK_DATE ?= 2026-11-20T00:00:00Z
lock: $(STAMP) ## regenerate requirements.lock (the image's pinned, hash-checked dependencies)
	$(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 --generate-hashes \
		--exclude-newer $(LOCK_DATE) --custom-compile-command "make lock" -o requirements.lock

clean: ## remove the virtualenv, caches and out/
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache build *.egg-info
