# `make demo` sets everything up and runs the demo; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: setup demo test test-sqlite lint typecheck format browser-deps clean

setup: $(STAMP) browser-deps

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $@

# Browser tests drive Debian's Chromium; install it where we may, else they skip.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "note: /usr/bin/chromium is missing; browser tests will be skipped (apt-get install chromium)"; fi; \
	fi

demo: setup
	$(PY) manage.py demo

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# mypy over the Django-free libraries and common/ (files and settings: pyproject.toml).
typecheck: $(STAMP)
	$(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# The whole suite, on whatever TEST_DATABASE_URL / TEST_REDIS_URL name (SQLite otherwise).
test: setup lint typecheck
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest

# The Django side once more on the embedded SQLite default (CI runs this after `test`).
test-sqlite: setup
	env -u TEST_DATABASE_URL $(PY) -m pytest -m "not slow" annotation study_site benchmark ops --ignore=benchmark/training

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache
