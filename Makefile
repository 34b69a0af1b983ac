# Two entry points for a new user; both create .venv on first use.
#   make demo   set up, then fit/score/evaluate on generated data, logged to ./mlruns
#   make test   set up, then run the test suite (what .ci/run runs)
#   make docs   set up, then serve the documentation site at http://127.0.0.1:8000 while you edit it
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test docs ui bench clean

setup: $(VENV)/.installed

# torch 2.13.0 first: it is the CPU build; an unpinned torch would pull a CUDA build of several GB.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,spark,docs]'
	touch $@

demo: setup
	$(BIN)/seqae demo

# Two worker processes (pytest-xdist), one test module each at a time: much of the suite waits on
# servers and subprocesses starting, so two workers keep two cores busy. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

docs: setup
	$(BIN)/mkdocs serve

ui: setup
	$(BIN)/seqae ui

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache
