# Landslide detection pipeline. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Offline and quiet: no telemetry, Prefect's home inside the repo.
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1

.PHONY: help setup test test-fast lint format demo bench ui clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv and install the package with pinned dependencies (idempotent)
	@# headless Chromium + chromedriver for the gallery's browser test (tests/test_curate_browser.py):
	@# installed only where none is found and apt-get runs as root; never fails setup
	@{ command -v chromium || command -v chromium-browser || command -v google-chrome; } >/dev/null 2>&1 \
	  && { command -v chromedriver || test -x /usr/lib/chromium/chromedriver; } >/dev/null 2>&1 \
	  || if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "setup: installing chromium and chromium-driver (apt-get)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
	      || { apt-get update -q >/dev/null 2>&1 \
	           && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
	      || echo "setup: chromium could not be installed; the browser tests will skip"; \
	  else \
	    echo "setup: no chromium (apt-get not usable as root); the browser tests will skip"; \
	  fi

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-input \
	  -c constraints.txt -e ".[dev]"
	@# a DVC remote that works with no set-up: a local directory (see README for S3/GCS/SSH)
	@$(BIN)/dvc remote add --local --force --default local "$(CURDIR)/.dvc-storage" >/dev/null
	@touch $(STAMP)
	@echo "setup: ok -> $(BIN)/landslide"

test: setup ## Run the whole test suite, slow end-to-end tests included
	$(BIN)/python -m pytest

test-fast: setup ## Run the tests without the slow end-to-end ones
	$(BIN)/python -m pytest -m "not slow"

lint: setup ## ruff check and format check
	$(BIN)/ruff check src tests benchmarks flows
	$(BIN)/ruff format --check src tests benchmarks flows

format: setup ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix src tests benchmarks flows
	$(BIN)/ruff format src tests benchmarks flows

demo: setup ## The whole pipeline offline on the embedded sample (demo profile; SEED=N: another sample); reruns skip
	@test -f data/raw/via_project.json || $(BIN)/landslide sample --out data/raw \
	  --decisions data/curation/decisions.csv --params params.demo.yaml $(if $(SEED),--seed $(SEED))
	@$(BIN)/landslide data track || echo "demo: going on without DVC tracking of data/raw"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/landslide flow run --params params.demo.yaml
	@echo
	@echo "report:     reports/report.md (and reports/report.html)"
	@echo "MLflow:     make ui  -> http://127.0.0.1:5000 (experiment 'landslide')"
	@echo "metrics:    .venv/bin/dvc metrics show"

bench: setup ## Run the benchmarks (ratios measured side by side) and print tables
	@for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

ui: setup ## MLflow UI on http://127.0.0.1:5000 (runs of both backbones side by side)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

clean: ## Remove caches and test leftovers (keeps .venv, data/ and models/)
	rm -rf .pytest_cache .ruff_cache .prefect build src/*.egg-info
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
