# Trade Monitor: `make demo` runs the whole system, `make test` the whole suite.
# Both do every set-up step on a fresh machine first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed

.PHONY: demo test lint setup services migrate down status clean admin-user screenshots faults-report bench

demo: setup services migrate admin-user
	$(PY) manage.py demo

# With DJANGO_SUPERUSER_USERNAME, _EMAIL and _PASSWORD set, creates that admin user once.
admin-user: setup
	@if [ -n "$$DJANGO_SUPERUSER_USERNAME" ]; then \
	  $(PY) manage.py createsuperuser --noinput 2>/dev/null || true; \
	else echo "No admin user created: set DJANGO_SUPERUSER_USERNAME/_EMAIL/_PASSWORD, or run $(PY) manage.py createsuperuser"; fi

screenshots: setup services migrate
	$(PY) manage.py screenshots --out docs

test: lint services migrate
	node --test tests/js/
	$(PY) -m pytest

# Lint and import order (ruff), types (mypy: strict on contract.py, workers/, clickhouse/; every
# function typed everywhere else it checks, and the web app strict but for untyped libraries;
# pyproject.toml).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The fault-injection suite alone, then RELIABILITY.md from its results (written even when a scenario fails).
faults-report: setup services migrate
	rm -f docs/reliability.jsonl
	FAULTS_RESULTS=docs/reliability.jsonl $(PY) -m pytest -m faults; status=$$?; \
	  $(PY) manage.py report reliability docs/reliability.jsonl; exit $$status

# Every benchmark at its documented size (figures in docs/benchmarks/), then BENCHMARKS.md with plots.
bench: setup services migrate
	$(PY) manage.py report benchmarks --run

setup: $(INSTALLED) $(NODE_INSTALLED)
	@devservices/install-system-packages.sh

# The browser libraries (chart; axe-core for the tests), exactly as package-lock.json pins them.
$(NODE_INSTALLED): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

services: setup
	$(PY) manage.py devservices up

migrate: setup
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py chmigrate
	$(PY) manage.py loadsymbols

down:
	$(PY) manage.py devservices down

status:
	$(PY) manage.py devservices status

clean: down
	rm -rf .devservices $(VENV) devservices/kafka/target
