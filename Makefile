# The two commands: `make demo` and `make test`. Each creates .venv and installs everything first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: demo test test-learning install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, CPU build: a bare torch requirement would pull a multi-GB CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/harness run quickstart --algo dqn --seeds 2 --workers 2 --study quickstart
	$(BIN)/harness report quickstart --out results/quickstart/report

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal --timeout 900 --durations=25 -m "not slow" tests $(PYTEST_ARGS)

test-learning: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal --timeout 3600 --durations=25 tests $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
