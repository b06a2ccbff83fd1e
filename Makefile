# Two commands for a fresh machine with python3 (3.11+) and the package registries:
#   make demo   set up .venv and run the main job
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo example test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/aquaembed demo --data data

example: $(STAMP)
	$(BIN)/aquaembed synth --out data/synthetic --frames 500
	$(BIN)/aquaembed evaluate --gt data/synthetic/gt.json --pred data/synthetic/pred.json --map --json data/synthetic/evaluation.json

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_evaluate.py

clean:
	rm -rf $(VENV) data/synthetic data/demo data/_demo_build data/.cache
