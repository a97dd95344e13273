# tgdesk: `make run` installs and starts the bot, `make test` installs and checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

run: $(VENV)/.installed
	$(BIN)/python main.py

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The ingest benchmark also starts a throwaway PostgreSQL (needs its server binaries).
bench: $(VENV)/.installed
	$(BIN)/python -m bench.ingest --backend both
	$(BIN)/python -m bench.delivery

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
