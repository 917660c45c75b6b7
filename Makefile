# The README's two commands: `make demo` (main job) and `make test` (the test suite).
# Each creates .venv itself on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov (the manifests' policy check) in its own environment: its many pinned dependencies
# would fight tritonkit's. Inside .venv, so it is ignored by git and removed by `make clean`.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV := checkov==3.3.30

.PHONY: setup checkov demo test lint clean

setup: $(STAMP)

checkov: $(CHECKOV_VENV)/.installed

$(CHECKOV_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet '$(CHECKOV)'
	touch $@

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[cpu,dev,export,load]'
	touch $(STAMP)

demo: setup
	$(BIN)/tritonkit demo

test: setup checkov
	$(BIN)/ruff check tooling tests bench .ci
	$(BIN)/mypy
	$(BIN)/mypy --strict .ci/audit.py
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check tooling tests bench .ci && $(BIN)/ruff format --check tooling tests bench .ci && $(BIN)/mypy

clean:
	rm -rf $(VENV)
