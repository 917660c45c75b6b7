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
	# CPU torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[cpu,dev,export,load]'
	touch $(STAMP)

demo: setup
	$(BIN)/tritonkit demo

test: setup
	$(BIN)/ruff check tooling tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check tooling tests bench && $(BIN)/ruff format --check tooling tests bench && $(BIN)/mypy

clean:
	rm -rf $(VENV)
