# The two commands: `make demo` (set up everything, serve the node with sample data) and
# `make test` (set up everything, run the test suite against its own throwaway cluster).
PYTHON ?= python3
VENV ?= .venv
SAMPLE ?= var/sample
BIN := $(VENV)/bin

.PHONY: demo test bench lint system venv clean-demo

demo: system venv
	$(BIN)/vo-node init
	@if [ ! -f $(SAMPLE)/truth.csv ]; then $(BIN)/vo-node sample-data $(SAMPLE); fi
	$(BIN)/vo-node ingest $(SAMPLE)
	@echo "serving on http://$${VO_NODE_HOST:-127.0.0.1}:$${VO_NODE_PORT:-8000} (Ctrl-C stops)"
	@# The async (UWS) worker runs beside the web server and stops with it.
	$(BIN)/vo-node worker & worker=$$!; trap "kill $$worker 2>/dev/null" EXIT INT TERM; \
	$(BIN)/vo-node serve

test: system venv
	@# The web pages' tests drive a real browser: Chromium, headless, through its driver.
	scripts/install-system-packages chromium chromium-driver
	scripts/fetch-ivoa-schemas
	$(BIN)/python -m pytest

bench: system venv
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/tap.py
	$(BIN)/python benchmarks/policy.py
	$(BIN)/python benchmarks/lightcurves.py
	$(BIN)/python benchmarks/oai.py
	$(BIN)/python benchmarks/downloads.py
	$(BIN)/python benchmarks/features.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy vo_node ingest tap_schema ssa registry

system:
	scripts/install-system-packages

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Stops the demo's database cluster and removes everything under var/.
clean-demo: venv
	-$(BIN)/vo-node stop
	rm -rf var
