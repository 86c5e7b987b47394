# The two set-up commands of the README: `make demo` (the example comparison, offline) and `make test`.
# Both create the virtual environment when it is missing and install everything they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.promptlab-installed
DEMO_OUT ?= out/demo
# The example's candidate regresses German billing requests, so its gate blocks: `make demo` succeeds when the gate
# decides exactly that and fails otherwise. With `make demo DEMO_EXPECT=` the notebook run exits with the gate's own
# code (0 pass, 1 block, 3 needs approval; 4 when a cell fails), so make fails unless the gate passes.
DEMO_EXPECT ?= block

.PHONY: demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (promptlab)" >/dev/null
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/promptlab notebook run compare --out-dir $(DEMO_OUT) --html -p out_dir $(DEMO_OUT) \
		$(if $(DEMO_EXPECT),--expect-decision $(DEMO_EXPECT))
	@echo "report: $(DEMO_OUT)/report.html   bundle: $(DEMO_OUT)/bundle.tar.gz   notebook: $(DEMO_OUT)/compare.ipynb"

lint: $(STAMP)
	$(BIN)/ruff check promptlab tests benchmarks examples
	$(BIN)/ruff format --check promptlab tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP)
	bash .ci/system-deps.sh
	$(MAKE) --no-print-directory lint typecheck
	$(BIN)/pytest -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_runner.py
	$(BIN)/python benchmarks/bench_harvest.py
	$(BIN)/python benchmarks/bench_registry.py

clean:
	rm -rf $(VENV) out test-artifacts .mypy_cache .ruff_cache
