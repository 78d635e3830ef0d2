# fewerbits — two commands on a fresh machine:
#   make demo   train -> QONNX -> FINN build -> report on the built-in TFC w2a2 MNIST example
#   make test   the test suite (what CI runs)
# Both create .venv and install the pinned stack on first use; later runs reinstall nothing.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.fewerbits-installed
OUT    ?= runs/demo
# the demo's folding: the fastest that fits 70 % of the board's LUT, BRAM and DSP (--fit)
# instead of FINN's fixed SetFolding target; benchmarks/docs_numbers.py reads this line
DEMO_ARGS ?= --fit 0.7
PYTEST_ARGS ?=

.PHONY: demo test lint lint-docker setup lock clean doctor bench docs-numbers docs-cli

setup: $(STAMP)

# torch is installed first and exactly (a range would pull a multi-GB CUDA build); then the
# full lock without dependency resolution (finn-plus 1.6.1 declares brevitas==0.13.0, which
# is broken with torch 2.13, so nothing may re-resolve it); then this project, editable.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q "$$(grep -m1 '^torch==' requirements.lock)"
	$(PIP) install -q --no-deps -r requirements.lock
	$(PIP) install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fewerbits run --out $(OUT) $(DEMO_ARGS)

test: $(STAMP) lint-docker
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP) lint-docker
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Dockerfile and docker/*.sh; both linters are wheels pinned in requirements.lock
lint-docker: $(STAMP)
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/shellcheck -x docker/*.sh

doctor: $(STAMP)
	$(VENV)/bin/fewerbits doctor

bench: $(STAMP)
	$(PY) benchmarks/accuracy.py

# the demo run measured afresh into docs/numbers/demo.{json,md} (the docs quote only these)
docs-numbers: $(STAMP)
	$(PY) benchmarks/docs_numbers.py --run-args "$(DEMO_ARGS)"

# docs/cli.md from the argparse parser (tests/test_docs.py fails when it is out of date)
docs-cli: $(STAMP)
	$(PY) benchmarks/docs_cli.py

# Re-resolve requirements.in into requirements.lock in a scratch venv.
lock:
	rm -rf /tmp/fewerbits-lock && $(PYTHON) -m venv /tmp/fewerbits-lock
	/tmp/fewerbits-lock/bin/pip install -q torch==2.13.0
	/tmp/fewerbits-lock/bin/pip install -q -r requirements.in
	/tmp/fewerbits-lock/bin/pip install -q --no-deps finn-plus==1.6.1
	@echo "review and merge: /tmp/fewerbits-lock/bin/pip freeze"

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
