# cell-twin: `make run` (the main job) and `make test` (everything the tests need, then the tests).
# Both do all set-up on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RUN_DIR ?= runs/default

NODE_STAMP := node/node_modules/.installed-stamp

.PHONY: run simulate test lint typecheck pytest bench clean setup deps nodesets services bench-telemetry

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# the main job: the default cell in real time (x60), served over OPC UA until Ctrl-C
run: $(STAMP) nodesets
	$(BIN)/twin run scenarios/default.toml

simulate: $(STAMP)
	$(BIN)/twin simulate scenarios/default.toml --out $(RUN_DIR)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check twin opcua_server adapters dashboards tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# npm project with the independent node-opcua client (interop tests, fan-out benchmark)
$(NODE_STAMP): node/package.json node/package-lock.json
	cd node && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# companion-spec NodeSet2 files into a git-ignored cache (or TWIN_NODESETS_DIR)
nodesets:
	bash scripts/fetch-nodesets.sh

# real servers the tests start (VictoriaMetrics, InfluxDB 1.x), from Debian packages
services:
	bash scripts/install-services.sh

deps: $(STAMP) $(NODE_STAMP) nodesets services

pytest: deps
	TWIN_REQUIRE_SERVICES=1 $(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/sim_speed.py

# telemetry write throughput into a local VictoriaMetrics (Point baseline vs the twin's sink)
bench-telemetry: $(STAMP) services
	$(BIN)/python bench/telemetry_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
