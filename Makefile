# Groundwork — two commands on a fresh machine:
#   make run    install what is missing, start PostgreSQL+pgvector, Redis, a Celery worker, beat and the web server
#   make test   the same bootstrap, then ruff, mypy and the whole pytest suite on real services
# With DATABASE_URL / REDIS_URL unset, embedded servers under var/ are used (see config/embedded.py).

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
export HF_HUB_OFFLINE := 1

.PHONY: run test install browser lint typecheck pytest stop status clean help

help:
	@echo "make run     start everything (Ctrl-C stops it); data lives in var/"
	@echo "make test    lint, type-check and run the test suite on real services"
	@echo "make stop    stop the embedded PostgreSQL and Redis"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Groundwork needs $(PYTHON) on PATH."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet --group dev
	@touch $@

install: $(STAMP)

# Debian's chromium drives the end-to-end tests (Playwright cannot download its own browser here).
browser:
	@test -x $(CHROMIUM) || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null; \
		else \
			echo "Install Debian's chromium (sudo apt-get install chromium) or set CHROMIUM=/path/to/chromium."; exit 1; \
		fi; }

static: $(STAMP)
	@$(PY) manage.py collectstatic --noinput --verbosity 0

# Production-like by default: no debug pages (they show settings and code to anyone who reaches the
# port), hashed static files served by WhiteNoise. Debug only when asked: DEBUG=true make run.
# A single-machine install: HOST/PORT (127.0.0.1:8000) give PUBLIC_URL=http://HOST:PORT for the widget
# snippet and emailed links, and model servers on this machine are allowed (ALLOW_PRIVATE_MODEL_ENDPOINTS);
# set either to override (run_platform.platform_environment).
run: $(STAMP) static
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py run_platform

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

pytest: $(STAMP) browser static
	$(VENV)/bin/pytest

test: lint typecheck pytest

stop: $(STAMP)
	@$(PY) -m config.embedded stop

status: $(STAMP)
	@$(PY) -m config.embedded status

clean: stop
	rm -rf var
