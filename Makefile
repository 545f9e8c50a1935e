# Trade Monitor: `make demo` runs the whole system, `make test` the whole suite.
# Both do every set-up step on a fresh machine first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test setup services migrate down status clean

demo: setup services migrate
	@echo "Dashboard: http://127.0.0.1:8000/  (admin: $(PY) manage.py createsuperuser)"
	$(VENV)/bin/daphne -b 127.0.0.1 -p 8000 trademonitor.asgi:application

test: setup services migrate
	$(PY) -m pytest

setup: $(INSTALLED)
	@devservices/install-system-packages.sh

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
