# LeadCRM: `make run` serves the demo, `make test` runs lint and the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Where `make test` looks for local services; used only when they answer.
LOCAL_PG_URL ?= postgres://postgres@127.0.0.1:5432/leadcrm
LOCAL_REDIS_URL ?= redis://127.0.0.1:6379/0
PYTEST_ARGS ?=
# --- make run serves with DEBUG off (issue 17): a newcomer sees the styled error pages, never
# Django's debug pages. Plain http on 127.0.0.1, static files by WhiteNoise from the source folders,
# and a secret key kept in var/ so sessions survive a restart.
RUN_SECRET := var/run-secret-key
RUN_ENV = DEBUG=false SECRET_KEY="$$(cat $(RUN_SECRET))" SECURE_COOKIES=false SECURE_SSL_REDIRECT=false \
  SECURE_HSTS_SECONDS=0 STATIC_MANIFEST=false WHITENOISE_USE_FINDERS=true

.PHONY: help venv install install-dev browser run serve worker migrate demo lint format test test-fast bench clean

help:
	@echo "make run    - set up and serve the demo on http://$(HOST):$(PORT) (web + worker + beat)"
	@echo "make serve  - the Procfile's processes (gunicorn, workers per queue, beat) under honcho"
	@echo "make test   - lint and run the whole test suite (PostgreSQL/Redis when they answer)"
	@echo "make bench  - run the benchmarks (see BENCHMARKS.md)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

venv: $(BIN)/python
install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's chromium for the browser tests (Playwright cannot download its own here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@command -v chromium >/dev/null 2>&1 && chromium --version

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo --if-empty --leads 2000 --seed 7

$(RUN_SECRET): | $(BIN)/python
	@mkdir -p var staticfiles && $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" > $@

# --- Running: `make run` (embedded, no services) and `make serve` (the Procfile) -------------------
# Both run their processes under honcho: one command, and Ctrl-C stops every process it started.
run: demo $(RUN_SECRET)
	$(BIN)/python manage.py bootstrap_scoring
	@echo ""
	@echo "  LeadCRM is serving on http://$(HOST):$(PORT)/ with a Celery worker and beat beside it"
	@echo "  ($${REDIS_URL:+Redis}$${REDIS_URL:-the filesystem broker under var/broker/, no server needed}). Ctrl-C stops all three."
	@echo "  Log in as alice / leadcrm-demo (rep), manager / leadcrm-demo (manager) or admin / leadcrm-demo (admin)."
	@echo ""
	$(RUN_ENV) PATH="$(abspath $(BIN)):$$PATH" HOST=$(HOST) $(BIN)/honcho start -f Procfile.embedded -p $(PORT)

# The production topology on one host (Procfile: gunicorn, a worker per queue, beat). Set DEBUG=false,
# SECRET_KEY, DATABASE_URL, REDIS_URL, ... first (docs/deploy.md).
serve: migrate
	$(BIN)/python manage.py collectstatic --noinput -v0
	PATH="$(abspath $(BIN)):$$PATH" HOST=$(HOST) $(BIN)/honcho start -f Procfile -p $(PORT)

worker: install
	$(BIN)/celery -A leadcrm worker --loglevel=INFO

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Uses PostgreSQL and Redis when they answer on 127.0.0.1 (or when DATABASE_URL / REDIS_URL
# are set already). Under CI=true the suite fails, never skips, when one is missing. With
# PostgreSQL the suite runs a second time on SQLite with eager Celery (tests marked postgres,
# worker or browser are PostgreSQL-only), so the embedded default's code paths are tested too.
test: install-dev browser lint
	@set -o pipefail; \
	if [ -z "$$DATABASE_URL" ] && $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
	  export DATABASE_URL=$(LOCAL_PG_URL); fi; \
	if [ -z "$$REDIS_URL" ] && $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 6379), 1)" 2>/dev/null; then \
	  export REDIS_URL=$(LOCAL_REDIS_URL); fi; \
	echo "DATABASE_URL=$${DATABASE_URL:-<sqlite>} REDIS_URL=$${REDIS_URL:-<eager, no broker>}"; \
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS) || exit $$?; \
	if [ -n "$$DATABASE_URL" ]; then \
	  echo "Again on the embedded default (SQLite, eager Celery): the paths a newcomer's make run takes."; \
	  env -u DATABASE_URL -u REDIS_URL $(BIN)/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider \
	    -m "not postgres and not worker and not browser" $(PYTEST_ARGS); \
	fi

test-fast: install-dev
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not browser and not worker" $(PYTEST_ARGS)

# Every figure in BENCHMARKS.md, on PostgreSQL at 127.0.0.1 in databases named *bench* (about 20 minutes).
# Each script exits non-zero on a missed target; `make -k bench` runs them all regardless.
bench: install-dev
	$(BIN)/python bench/make_data.py --leads 1000000 --activities 5000000
	$(BIN)/python bench/queue_bench.py
	$(BIN)/python bench/detail_bench.py
	$(BIN)/python bench/load_bench.py
	$(BIN)/python bench/reports_bench.py
	for db in leadcrm_bench_import leadcrm_bench_scoring; do \
	  psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = '$$db'" | grep -q 1 || \
	    psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE $$db" >/dev/null; \
	  DATABASE_URL=postgres://postgres@127.0.0.1:5432/$$db $(BIN)/python manage.py migrate --noinput -v0; done
	$(BIN)/python bench/import_bench.py --rows 1000000
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_bench_scoring $(BIN)/python bench/score_bench.py --steps train,rescore,single
	@if [ -f ../shared/data/x_education_leads.csv ]; then \
	  DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_bench_scoring $(BIN)/python bench/score_bench.py --steps xedu; fi
	# The cost curve: import, training, rescore (1 and 2 workers), queue and reports at 10k, 100k and 1M.
	$(BIN)/python bench/cost_curve.py --sizes 10000,100000,1000000

clean:
	rm -rf $(VENV) db.sqlite3 var staticfiles test-artifacts .pytest_cache .ruff_cache
