# The commands a person types. `make demo` and `make test` each install what they need on a fresh machine
# with Python 3.11+, Node.js and git; everything else (uv, Python packages, front-end assets) comes from here.

SHELL := /bin/bash
.DEFAULT_GOAL := help

UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTHON := $(UV) run --frozen python
HOST ?= 127.0.0.1
PORT ?= 8000
# Batch calculation yields the CPU to people's requests where a worker shares a machine with a web server.
WORKER_NICENESS ?= 10

# Production settings refuse to start without their database, broker and secrets; every target here but
# `serve`, `worker` and `beat` is a development machine's, and says so.
DEV := DEBUG=true

# In CI the tests run against the machine's real PostgreSQL and Redis, with a real Celery worker.
ifeq ($(CI),true)
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/cqrs_portal
export REDIS_URL ?= redis://127.0.0.1:6379/0
endif

.PHONY: help demo demo-run test serve worker beat lint format bench install

help:
	@echo "make demo    run the portal with demo data on http://$(HOST):$(PORT) (SQLite, tasks in-process)"
	@echo "make demo-run  beside make demo: a calculation run whose progress bar can be watched"
	@echo "make test    run every test (with CI=true: PostgreSQL, Redis, a real worker and Chromium)"
	@echo "make serve   run the portal for real (gunicorn, production settings: see docs/deployment.md)"
	@echo "make worker  run a Celery worker against REDIS_URL"
	@echo "make beat    run the Celery beat scheduler for the nightly runs"
	@echo "make lint    ruff, formatting and migration checks"
	@echo "make bench   national-scale benchmarks (PostgreSQL and Redis for all but the engine)"

install: .venv/.synced node_modules/.installed

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --quiet uv || python3 -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --frozen
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: install
	$(DEV) $(PYTHON) manage.py migrate --no-input --verbosity 0
	$(DEV) $(PYTHON) manage.py load_demo
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl+C to stop)"
	@echo "To watch a calculation run's progress bar move: sign in as support@nhs.net and type make demo-run in another terminal."
	$(DEV) $(PYTHON) manage.py runserver $(HOST):$(PORT)

# A run of the demo year taken through its stages slowly, for its page to be watched beside `make demo`.
demo-run:
	$(DEV) $(PYTHON) manage.py demo_run

test: install
	$(DEV) ./scripts/run-tests

# Production: gunicorn with the production settings (DEBUG off), so the variables of docs/deployment.md must
# be set; static files are collected and served by the application (WhiteNoise).
serve: install
	$(PYTHON) manage.py migrate --no-input
	$(PYTHON) manage.py collectstatic --no-input --verbosity 0
	HOST=$(HOST) PORT=$(PORT) $(UV) run --frozen gunicorn --config gunicorn.conf.py

worker: install
	@test -n "$$REDIS_URL" || { echo "Set REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run a worker"; exit 1; }
	nice -n $(WORKER_NICENESS) $(UV) run --frozen celery -A cqrs_portal worker --loglevel=INFO

beat: install
	@test -n "$$REDIS_URL" || { echo "Set REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run beat"; exit 1; }
	$(UV) run --frozen celery -A cqrs_portal beat --loglevel=INFO

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports
	$(DEV) $(PYTHON) manage.py makemigrations --check --dry-run

format: install
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

# The PostgreSQL benchmarks use scratch databases of their own (created if missing) on the local server.
bench: export DEBUG = true
bench: install
	$(PYTHON) bench/engine.py
	$(PYTHON) bench/services.py
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cqrs_bench_organisations} $(PYTHON) bench/organisations.py
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cqrs_bench} $(PYTHON) bench/extract_load.py
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cqrs_bench_runs} \
		REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/3} $(PYTHON) bench/calculation_run.py
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cqrs_bench_explain} $(PYTHON) bench/explain.py
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cqrs_bench_year_end} \
		REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/3} $(PYTHON) bench/year_end.py
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cqrs_bench_declarations} $(PYTHON) bench/declarations.py
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cqrs_bench_pay} $(PYTHON) bench/payments.py
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cqrs_bench_audit} $(PYTHON) bench/audit.py
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cqrs_bench_load} \
		REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/5} $(PYTHON) bench/load.py
