# cell-twin: `make run` (the main job) and `make test` (everything the tests need, then the tests).
# Both do all set-up on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RUN_DIR ?= runs/default

.PHONY: run simulate test lint typecheck pytest bench clean setup

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/twin simulate scenarios/default.toml --out $(RUN_DIR)

simulate: run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check twin tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	TWIN_REQUIRE_SERVICES=1 $(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/sim_speed.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
