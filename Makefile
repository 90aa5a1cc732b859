# Two commands do all the set-up on a fresh machine (see README): `make run` and `make test`.
# Each creates the virtual environment when it is missing or older than the project files.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test lint format bench-forecast bench-fetch bench-anomaly bench-train bench-run bench-cluster clean

$(STAMP): pyproject.toml setup.py constraints.txt examples/candlecast-conv-gru/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]" -e examples/candlecast-conv-gru
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/candlecast run $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-forecast: $(STAMP)
	$(BIN)/python bench/forecast.py $(ARGS)

bench-fetch: $(STAMP)
	$(BIN)/python bench/fetch.py $(ARGS)

bench-anomaly: $(STAMP)
	$(BIN)/python bench/anomaly.py $(ARGS)

bench-train: $(STAMP)
	$(BIN)/python bench/train.py $(ARGS)

bench-run: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

bench-cluster: $(STAMP)
	$(BIN)/python bench/cluster.py $(ARGS)

clean:
	rm -rf $(VENV) candlecast-data build *.egg-info
