# Two commands for a fresh machine with python3 (3.11+) and the package registries:
#   make demo   set up .venv with the app extra and run the main job
#   make test   set up .venv with the app and test extras and run the test suite
# `pip install .` alone is the light core (evaluation only); see README "Install".
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo example test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# one stamp per set of extras, rebuilt when pyproject.toml changes
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[$(subst +,$(comma),$*)]'
	touch $@

comma := ,

demo: $(VENV)/.installed-app
	$(BIN)/aquaembed demo --data data

example: $(VENV)/.installed-app
	$(BIN)/aquaembed synth --out data/synthetic --frames 500
	$(BIN)/aquaembed evaluate --gt data/synthetic/gt.json --pred data/synthetic/pred.json --map --json data/synthetic/evaluation.json

test: $(VENV)/.installed-test+ray
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check aquaembed dashboard tests benchmarks
	$(BIN)/mypy aquaembed

bench: $(VENV)/.installed-test+bench
	$(BIN)/python benchmarks/bench_evaluate.py
	$(BIN)/python benchmarks/bench_startup.py

clean:
	rm -rf $(VENV) data/synthetic data/demo data/_demo_build data/.cache
