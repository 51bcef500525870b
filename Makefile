# ccbridge. `make run` and `make test` each set up their own virtual environment.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test codegen check-generated snapshots bench lint format clean ui-vendor

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[codegen,test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ccbridge serve

test: $(STAMP) check-generated
	$(BIN)/python -m pytest

codegen: $(STAMP)
	$(BIN)/python -m codegen

check-generated: $(STAMP)
	$(BIN)/python -m codegen --check

snapshots: $(STAMP)
	$(BIN)/python -m pytest --snapshot-update tests/unit/codegen

bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check ccbridge codegen tests bench
	$(BIN)/ruff format --check ccbridge codegen tests bench

format: $(STAMP)
	$(BIN)/ruff format ccbridge codegen tests bench
	$(BIN)/ruff check --fix ccbridge codegen tests bench

# Refresh the web UI's browser libraries from npm (needs npm; the result is committed).
ui-vendor:
	bash scripts/ui-vendor.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
