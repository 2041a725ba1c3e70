# The one command set: developers, CI (.ci/run) and the docs call these targets and nothing else.
# Every target that runs Python builds .venv first; it re-installs only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST := $(BIN)/pytest

.DEFAULT_GOAL := help
.PHONY: help venv lint fmt test coverage test-fast demo loadtest bench capacity chaos detection schema clean
.PHONY: lock

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# .venv holds exactly the pins of requirements-dev.lock, hash-checked: what a registry publishes
# tomorrow changes nothing here until `make lock UPGRADE=1` is run and committed.
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
$(STAMP): pyproject.toml requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes --no-deps -r requirements-dev.lock
	$(PIP) install --no-deps -e .
	@touch $@

venv: $(STAMP) ## create .venv with the package and its dev tools

lint: $(STAMP) ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app tests loadtest bench chaos

fmt: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Coverage of app/ (pyproject.toml [tool.coverage]): the receiver, consumer and moto processes the
# tests start are measured too (patch = subprocess); the report fails under 95 %.
# pytest runs one worker per CPU this process may use (pytest-xdist), at most 4: each e2e test
# starts several processes of its own, so more workers than that only queue for the cores.
# PYTEST_WORKERS=0 runs every test in one process. Much of a test's time is spent waiting on
# those processes, so the Terraform checks (one core) run beside pytest: on 2 cores, make test
# went from 19 minutes to 9 from a fresh clone (.venv and checkov installed, then both halves).
# The provider is installed first, so no two `terraform init`s fill an empty plugin cache at once
# (they race: hashicorp/terraform#31964). -Otarget (GNU make >= 4) prints each half whole once done.
COVERAGE := $(BIN)/coverage
PYTEST_WORKERS ?= $(shell $(BIN)/python -c 'import os; print(min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))')
OUTPUT_SYNC    := $(if $(filter output-sync,$(.FEATURES)),-Otarget)
test: lint infra/.terraform/.initialized ## lint, Terraform checks, every test (unit, integration, e2e, infra, delivery) under coverage (>= 95 %)
	@$(MAKE) --no-print-directory -j2 $(OUTPUT_SYNC) infra-check coverage

coverage: $(STAMP) ## every test under coverage (>= 95 %), without lint and Terraform checks
	rm -rf out/coverage
	$(COVERAGE) run -m pytest -q -n $(PYTEST_WORKERS)
	$(COVERAGE) combine --quiet
	$(COVERAGE) report

test-fast: $(STAMP) ## unit and integration tests only, no processes started
	$(PYTEST) -q tests/unit tests/integration

demo: $(STAMP) ## run the whole pipeline end to end on the embedded AWS stack
	$(BIN)/python -m loadtest.demo

# LOADTEST_ARGS adds options, e.g. --target https://ingest.example --api-key ... --mode batch
LOADTEST_ARGS ?=
loadtest: $(STAMP) ## Locust, 10,000 records by default, then zero-loss and p95 checks against S3
	$(BIN)/python -m loadtest.run --messages 10000 $(LOADTEST_ARGS)

# DETECTION_ARGS adds options, e.g. --vehicles 50 --minutes 5 for a quick look
DETECTION_ARGS ?=
detection: $(STAMP) ## faults in 5 % of 500 simulated vehicles for an hour (30 min at 2x): recall, delay, false alarms; out/detection.json
	$(BIN)/python -m bench.detection_bench $(DETECTION_ARGS)

# CHAOS_ARGS adds options, e.g. --only 3,6
CHAOS_ARGS ?=
chaos: $(STAMP) ## attack the running pipeline (9 scenarios), check nothing acknowledged is lost; table + out/chaos.json
	$(BIN)/python -m chaos $(CHAOS_ARGS)

bench: $(STAMP) ## all benchmarks in one run (~12 min): receiver vs bare FastAPI, batches at 1 and 2 workers, end-to-end knee, hourly job on 3.6 M records vs the old aggregator, cost per million records, RSS, simulator; writes out/bench.json
	$(BIN)/python -m bench

# CAPACITY_ARGS adds options, e.g. --bench tests/fixtures/bench-sample-invented.json or --design-rate 50000
CAPACITY_ARGS ?=
capacity: $(STAMP) ## docs/capacity.md from out/bench.json: tasks, SQS/S3 requests, ALB LCUs, the monthly bill, quotas and the Firehose/Kinesis crossover at 1,000-50,000 msg/s
	$(BIN)/python -m bench.capacity_plan $(CAPACITY_ARGS)

schema: $(STAMP) ## regenerate docs/schema (JSON Schema of contract v1) and docs/openapi.json (the receiver)
	$(BIN)/telemetry schema

# Two hash-checked locks: requirements.lock is what the image installs (docker/install.sh), runtime
# dependencies only; requirements-dev.lock is what .venv installs, with the runtime pins as
# constraints so the tests run the image's versions. uv prefers the pins already in the output
# file, so `make lock` changes only what pyproject.toml asks to change; UPGRADE=1 takes the newest
# releases instead. tests/delivery/test_lock.py checks both against pyproject.toml.
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade,)
lock: $(STAMP) ## re-resolve requirements.lock (image) and requirements-dev.lock (.venv); UPGRADE=1 for newer releases
	$(UV_COMPILE) -o requirements.lock
	$(UV_COMPILE) --extra dev -c requirements.lock -o requirements-dev.lock

clean: ## remove the virtualenv, caches and out/
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache build *.egg-info

# --- Terraform (infra/) -------------------------------------------------------------------------
# fmt, validate and `terraform test` (mocked provider) of the root module, validate of
# infra/bootstrap, checkov over all of infra/. Providers come from the public registry, downloaded
# once into a plugin cache, unless TF_PLUGIN_DIR names an offline mirror (the folder that holds
# registry.terraform.io/hashicorp/aws/...), for machines without a route to the registry.
# checkov pins many packages, so it lives in its own virtualenv, .venv-tools/.
.PHONY: infra-check infra-apply-test
TERRAFORM       ?= terraform
TF_PLUGIN_DIR   ?=
TF_INIT_FLAGS   := -input=false -backend=false $(if $(TF_PLUGIN_DIR),-plugin-dir=$(TF_PLUGIN_DIR),)
TOOLS           := .venv-tools
CHECKOV_VERSION ?= 3.3.30
CHECKOV_STAMP   := $(TOOLS)/.checkov-$(CHECKOV_VERSION)
TF_BOOTSTRAP    := out/infra-bootstrap
export TF_PLUGIN_DIR
export CHECKPOINT_DISABLE := 1
export TF_PLUGIN_CACHE_DIR ?= $(if $(TF_PLUGIN_DIR),,$(CURDIR)/$(TOOLS)/terraform-plugins)
# checkov: no calls home (guidelines download, update check); the scan is offline.
CHECKOV_ENV     := CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE

$(CHECKOV_STAMP):
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'
	@touch $@

infra/.terraform/.initialized: infra/versions.tf infra/.terraform.lock.hcl
	@command -v $(TERRAFORM) >/dev/null || { echo "terraform not found: install Terraform >= 1.7 (CI uses 1.11)"; exit 1; }
	@$(if $(TF_PLUGIN_CACHE_DIR),mkdir -p $(TF_PLUGIN_CACHE_DIR))
	$(TERRAFORM) -chdir=infra init $(TF_INIT_FLAGS)
	@touch $@

infra-check: $(CHECKOV_STAMP) infra/.terraform/.initialized ## Terraform fmt, validate, terraform test (mocked AWS), checkov
	$(TERRAFORM) fmt -check -recursive infra
	$(TERRAFORM) -chdir=infra validate -no-color
	$(TERRAFORM) -chdir=infra test -no-color
	@if [ -d infra/bootstrap ]; then \
		rm -rf $(TF_BOOTSTRAP)/*.tf && mkdir -p $(TF_BOOTSTRAP) && cp infra/bootstrap/*.tf $(TF_BOOTSTRAP)/ && \
		{ [ ! -f infra/bootstrap/.terraform.lock.hcl ] || cp infra/bootstrap/.terraform.lock.hcl $(TF_BOOTSTRAP)/; } && \
		echo "$(TERRAFORM) validate infra/bootstrap (in $(TF_BOOTSTRAP))" && \
		$(TERRAFORM) -chdir=$(TF_BOOTSTRAP) init $(TF_INIT_FLAGS) >/dev/null && \
		$(TERRAFORM) -chdir=$(TF_BOOTSTRAP) validate -no-color; \
	fi
	$(CHECKOV_ENV) $(TOOLS)/bin/checkov --directory infra --framework terraform --skip-download --quiet --compact

infra-apply-test: $(STAMP) infra/.terraform/.initialized ## terraform apply infra/ on moto server, run receiver + consumer on it, destroy (slow; CI)
	$(PYTEST) -q -m infra_apply tests/infra
