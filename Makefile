# The README's two commands: `make demo` (main job) and `make test` (the test suite).
# Each creates .venv itself on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[cpu,dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/tritonkit demo

test: setup
	$(BIN)/ruff check tooling tests
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check tooling tests && $(BIN)/ruff format --check tooling tests && $(BIN)/mypy

clean:
	rm -rf $(VENV)
