# The verbs people type. Everything goes through scripts/uv.sh, which installs uv if missing.
UV := ./scripts/uv.sh
RUN := $(UV) run --frozen
NOLG_VENV := .venv-nolg

.PHONY: help sync services demo test test-py test-nolg lint typecheck generate check-generated bench format

help:
	@echo "make demo      run the main job"
	@echo "make test      every check and test (what CI runs)"
	@echo "make lint      ruff lint + format check, mypy --strict, generated-code check"
	@echo "make bench     benchmarks (pytest-benchmark)"
	@echo "make generate  regenerate the sync twins of *_async.py files"

sync:
	$(UV) sync --frozen --all-packages

# PostgreSQL and Redis for the backend tests: started if installed and down.
services:
	./scripts/services.sh

demo: sync
	$(RUN) python examples/approval_demo.py

lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy checkpoint-base/src checkpoint-postgres/src checkpoint-redis/src checkpoint-sqlite/src conformance-tests/src tools/async_to_sync.py
	$(RUN) python tools/async_to_sync.py --check

typecheck: sync
	$(RUN) mypy checkpoint-base/src checkpoint-postgres/src checkpoint-redis/src checkpoint-sqlite/src conformance-tests/src tools/async_to_sync.py

generate: sync
	$(RUN) python tools/async_to_sync.py

check-generated: sync
	$(RUN) python tools/async_to_sync.py --check

format: sync
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

# The whole suite with LangGraph installed.
test-py: sync services
	$(RUN) pytest -q

# The base package alone: no LangGraph, no langchain-core, no pydantic, no cryptography.
# The no-LangGraph run prefers a Python whose sqlite3 can load extensions (Debian's does), so the
# SQLite store's sqlite-vec path is tested too; otherwise the store falls back and says so.
NOLG_PY := $(shell /usr/bin/python3 -c "import sqlite3; sqlite3.connect(':memory:').enable_load_extension" 2>/dev/null && echo /usr/bin/python3 || echo python3)

# The venv is named with --python, not VIRTUAL_ENV: uv started as `python3 -m uv` (scripts/uv.sh on a
# machine without a uv binary) installs into that parent interpreter whatever VIRTUAL_ENV says.
test-nolg: services
	$(UV) venv --quiet --allow-existing --python $(NOLG_PY) $(NOLG_VENV)
	$(UV) pip install --quiet --python $(NOLG_VENV)/bin/python -e checkpoint-base -e 'checkpoint-sqlite[vec]' -e conformance-tests pytest pytest-asyncio hypothesis
	$(NOLG_VENV)/bin/python -m pytest -q -p no:cacheprovider -o addopts="-ra" checkpoint-base/tests checkpoint-sqlite/tests conformance-tests/tests --ignore=checkpoint-base/tests/bench

test: lint test-py test-nolg

bench: sync
	$(RUN) pytest -q --benchmark-enable --benchmark-only checkpoint-base/tests/bench
