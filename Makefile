# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
RUNTIME_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: demo test check lint typecheck imports pytest install install-dev browser deploy-tools pdf-deps node clean serve bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements/main.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements/main.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(STAMP): requirements/dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements/dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@ $(RUNTIME_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(RUNTIME_STAMP) $(NODE_STAMP) pdf-deps
install-dev: $(STAMP) $(NODE_STAMP)
node: $(NODE_STAMP)

# Debian's Chromium drives the browser tests; a test tool's own browser download cannot work here.
browser:
	@command -v chromium >/dev/null 2>&1 || scripts/install-chromium

# Pango and fonts for the PDF quotes (Chinese, Persian); without them the PDF route says so.
pdf-deps:
	@scripts/install-pdf-deps

# Debian's Compose and Caddy check compose.yaml and the Caddyfile offline (no Docker daemon).
deploy-tools:
	@scripts/install-deploy-tools

## demo: install, migrate, seed, start the simulated PBX beside the service on http://127.0.0.1:8080
demo: install
	$(BIN)/cti demo

## test: install dev dependencies and run the whole suite (lint, types, import contracts, pytest)
test: install-dev browser deploy-tools pdf-deps
	$(BIN)/python scripts/check

check: install-dev
	$(BIN)/python scripts/check --no-tests

bench: install-dev
	$(BIN)/python bench/ami_bench.py --quick
	$(BIN)/python bench/crm_bench.py --quick
	$(BIN)/python bench/pop_bench.py --quick
	$(BIN)/python bench/report_bench.py --quick
	$(BIN)/python bench/call_crm_bench.py --quick
	$(BIN)/python bench/import_bench.py --quick
	$(BIN)/python bench/robots_bench.py --quick
	$(BIN)/python bench/score_bench.py --quick

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
