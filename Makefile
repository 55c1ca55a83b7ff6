# Epistola — every habit is one target. `make demo` and `make test` work as the first command on a fresh clone.
SHELL := /bin/bash
# The first interpreter that really runs and is 3.11+ (pyenv shims may exist for versions that do not).
PY ?= $(shell for p in python3 python3.13 python3.12 python3.11; do $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)
B ?=
ARGS ?=

.PHONY: demo test lint fmt bench serve worker lock clean help
help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PY)" || { echo "Epistola needs Python 3.11 or newer on the PATH (python3)"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv>=0.5"
	@$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	@$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP) ## generate a customer base, import, merge, run a campaign over SMTP and report
	$(BIN)/epistola demo $(ARGS)

test: $(STAMP) ## run the whole test suite (SQLite and PostgreSQL)
	@scripts/ensure-test-deps
	$(BIN)/python -m pytest -n 2 $(ARGS)

lint: $(STAMP) ## ruff + mypy
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

fmt: $(STAMP) ## format the code
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP) ## run benchmarks (all, or one area: make bench B=import)
	@scripts/ensure-bench-deps
	$(BIN)/python benchmarks/run.py $(B)

serve: $(STAMP) ## start the API and UI on http://127.0.0.1:8000
	$(BIN)/epistola serve

worker: $(STAMP) ## start one delivery worker
	$(BIN)/epistola worker

lock: ## re-resolve requirements.lock from pyproject.toml
	@test -x $(BIN)/uv || { $(PY) -m venv $(VENV) && $(BIN)/python -m pip install -q uv; }
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean: ## remove the virtual environment, caches and demo output
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache epistola.db* out
