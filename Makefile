# The two commands of the README: `make dev` (install + start the whole stack with the example
# journeys) and `make test` (install + lint + type-check + every test, slow ones included).
# Both create .venv on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TIME_SCALE ?= 60
PYTEST_ARGS ?=

.PHONY: dev test install install-test lint clean

dev: $(VENV)/.installed
	$(BIN)/journeys dev --time-scale $(TIME_SCALE)

test: $(VENV)/.installed-test lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@# The console tests drive Debian's Chromium through playwright (tests/api/console/).
	command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) .journeys .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
