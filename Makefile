# Quick start: `make demo` and `make test`. Both create .venv when missing and
# (re)install the project with its dev extras whenever pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench sample clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/caseload validate data/sample
	$(BIN)/caseload plan data/sample --out plan-sample

lint: $(STAMP)
	$(BIN)/ruff check optimizer tests benchmarks

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_graph.py
	$(BIN)/python benchmarks/bench_plan.py

# Regenerate the bundled synthetic sample district (deterministic).
sample: $(STAMP)
	$(BIN)/caseload generate data/sample --students 1900 --seed 2027 \
		--name "Sample Unified School District (synthetic)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info plan-sample
