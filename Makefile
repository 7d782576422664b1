# Quick start: `make demo` and `make test`. Both create .venv when missing and
# (re)install the project with its dev extras whenever pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench sample clean browser mutate notebooks

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/caseload validate data/sample
	$(BIN)/caseload plan data/sample --out plan-sample
	$(BIN)/caseload report plan-sample --html plan-sample/report.html
	$(BIN)/caseload plan data/sample-services --out plan-sample-services --quiet
	$(BIN)/caseload report plan-sample-services --html plan-sample-services/report.html
	@echo "Workbook: $(CURDIR)/plan-sample/plan.xlsx"
	@echo "Report:   $(CURDIR)/plan-sample/report.html"
	@echo "Service providers and case managers together: $(CURDIR)/plan-sample-services/"

# The planner notebooks in JupyterLab (a dev extra): opens a browser tab on
# notebooks/; stop it with Ctrl-C. NOTEBOOK_ARGS adds options (e.g. --no-browser).
NOTEBOOK_ARGS ?=
notebooks: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(NOTEBOOK_ARGS)

# Style (ruff), the architecture contract (import-linter, docs/architecture.md)
# and the type check (mypy, strictness in pyproject.toml [tool.mypy]).
lint: $(STAMP)
	$(BIN)/ruff check optimizer tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

# The HTML report is tested in a real browser: install Debian's chromium when
# missing and we may (root with apt-get); otherwise that one test is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& echo "Installing chromium for the report's browser test…" \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		>/dev/null 2>&1; } || echo "note: chromium unavailable; the browser test will be skipped"

test: lint browser
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_graph.py
	$(BIN)/python benchmarks/bench_plan.py
	$(BIN)/python benchmarks/bench_service_e2e.py --xlsx --repeat 3 --json benchmarks/results.json
	$(BIN)/python benchmarks/bench_stability.py

# Mutation score of the rules, planning, check and validation code: prints the
# survivors and writes benchmarks/mutation.json. Not part of `make test` or CI.
# A random sample of MUTATE_SAMPLE mutants (score with its 95% margin, about
# 20 minutes on 2 cores); MUTATE_SAMPLE=0 runs all ~7,700 (over an hour).
MUTATE_SAMPLE ?= 600
mutate: $(STAMP)
	$(BIN)/python benchmarks/mutate.py --sample $(MUTATE_SAMPLE)

# Regenerate the bundled synthetic sample districts (deterministic):
# data/sample-services is the generated district with services.csv (minutes and
# this year's providers; `caseload generate --services` writes the same);
# data/sample is the same district without it, so it plans case managers only.
SAMPLE_FILES := schools.csv educators.csv students.csv locks.csv district.toml
sample: $(STAMP)
	$(BIN)/python -c 'from optimizer.generator import generate_district as g; \
		from optimizer.outputs.export import write_district as w; \
		w(g(1900, seed=2027, name="Sample Unified School District (synthetic)", \
		services=True), "data/sample-services", force=True)'
	rm -rf data/sample && mkdir -p data/sample
	rm -f data/sample-services/.caseload-output
	cd data/sample-services && cp $(SAMPLE_FILES) ../sample/

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info plan-sample plan-sample-services mutants
