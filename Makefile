# Quick start: `make demo` (main job on the built-in demo corpus) and `make test` (the test suite).
# Both create and fill the project-local virtual environment .venv first; nothing needs installing by hand.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint bench clean-results

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[dev,wav2vec,cluster]'
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores all results/table1.csv

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint

bench: $(STAMP)
	$(BIN)/python benchmarks/preprocess.py
	$(BIN)/python benchmarks/metrics.py
	$(BIN)/python benchmarks/inference.py
