# ccbridge. Each target installs only what it needs into one virtual environment:
# `make run` the package alone, `make codegen` adds the codegen extra, `make test`
# (and lint, bench) the codegen and test extras. A stamp file per set.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_RUN     := $(VENV)/.installed-run
STAMP_CODEGEN := $(VENV)/.installed-codegen
STAMP         := $(VENV)/.installed

.PHONY: run test codegen check-generated snapshots bench lint typecheck format clean ui-vendor

# A current pip first: it installs the run set in about half the time of the
# pip that venv bundles (3.11: pip 23.2). Installed by the host's pip when it
# has one (--python, pip 22.3+), which skips ensurepip's copy: ~10 s less.
$(BIN)/python:
	$(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(BIN)/python install --quiet --upgrade pip \
	  || ($(BIN)/python -m ensurepip && $(BIN)/python -m pip install --quiet --upgrade pip)

# Reinstall when the dependency list changes.
$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_CODEGEN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[codegen]'
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[codegen,test]'
	touch $@

run: $(STAMP_RUN)
	$(BIN)/ccbridge serve

test: $(STAMP) check-generated
	$(BIN)/python -m pytest

codegen: $(STAMP_CODEGEN)
	$(BIN)/python -m codegen

check-generated: $(STAMP_CODEGEN)
	$(BIN)/python -m codegen --check

snapshots: $(STAMP)
	$(BIN)/python -m pytest --snapshot-update tests/unit/codegen

bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: $(STAMP) typecheck
	$(BIN)/ruff check ccbridge codegen generated tests bench
	$(BIN)/ruff format --check ccbridge codegen generated tests bench
	$(BIN)/lint-imports

# The paths are [tool.mypy] files in pyproject.toml.
typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format ccbridge codegen tests bench
	$(BIN)/ruff check --fix ccbridge codegen tests bench

# Refresh the web UI's browser libraries from npm (needs npm; the result is committed).
ui-vendor:
	bash scripts/ui-vendor.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
