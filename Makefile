# Two entry points: `make run` (product with demo data on SQLite) and `make test` (all checks).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck unit clean browser independent

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed; installing Debian's python3-venv ..."; \
	  rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq python3-venv; fi; \
	  $(PYTHON) -m venv $(VENV); }
	@$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/coordinator db upgrade
	$(BIN)/coordinator demo --if-empty
	@echo "Open http://$(HOST):$(PORT)/  (API: /api/v1, OpenAPI: /schema/openapi.json)"
	@echo "Demo sign-in: admin, coordinator, lead, leadership / demo-password-2026"
	@echo "(admin sets up an authenticator app at its first sign-in: admins must use a second factor)"
	@echo "API token:    $(BIN)/coordinator tokens create --username admin --name me"
	$(BIN)/coordinator serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check coordinator tests bench alembic
	$(BIN)/ruff format --check coordinator tests bench alembic/env.py

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# The browser tests drive Debian's Chromium through Playwright (no browser download).
browser:
	@dpkg -s chromium fonts-noto-color-emoji >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests ..."; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium fonts-noto-color-emoji; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium fonts-noto-color-emoji; fi; }

# An independent Bot API emulator (npm telegram-test-api, pinned by the lockfile) that the
# bot's main journeys also run against: tests/independent/. Node.js from Debian if missing.
INDEPENDENT := tests/independent
$(INDEPENDENT)/node_modules/.installed: $(INDEPENDENT)/package-lock.json
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  echo "Installing Debian's nodejs and npm for the independent Telegram tests ..."; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nodejs npm; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq nodejs npm; fi; }
	cd $(INDEPENDENT) && npm ci --no-audit --no-fund
	@touch $@

independent: $(INDEPENDENT)/node_modules/.installed

# The whole suite on SQLite, then on PostgreSQL when COORDINATOR_TEST_POSTGRES_URL is set.
test: lint typecheck browser independent
	$(BIN)/pytest -q
	@if [ -n "$$COORDINATOR_TEST_POSTGRES_URL" ]; then \
	  echo "== the same suite on PostgreSQL =="; \
	  COORDINATOR_TEST_DB=postgres $(BIN)/pytest -q; \
	else echo "(COORDINATOR_TEST_POSTGRES_URL unset: PostgreSQL run skipped)"; fi

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis $(INDEPENDENT)/node_modules
