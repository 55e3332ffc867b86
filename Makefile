# Every target installs what it needs (scripts/setup.sh is idempotent).
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup setup-test demo test unit integration compat lint typecheck bench clean

setup:
	@scripts/setup.sh base

setup-test:
	@scripts/setup.sh test

demo: setup
	@$(PY) scripts/demo.py

lint: setup
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(PY) -m pytest -q tests/unit

integration: setup-test
	$(PY) -m pytest -q tests/integration

compat: setup-test
	$(PY) -m pytest -q tests/compat

test: setup-test lint typecheck
	$(PY) -m pytest -q tests

bench: setup-test
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
