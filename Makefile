# Two commands for a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KERAS_BACKEND := torch

.PHONY: demo test lint typecheck install bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch first, pinned: the CPU build that lies on this machine's disk (a bare `torch` would pull CUDA).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,keras,ray]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/stridescope study

test: $(STAMP)
	bash .ci/browser.sh
	bash .ci/speech.sh
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy --strict src
	$(BIN)/python -m pytest

# Every script runs even if an earlier one misses its goal; the target fails if any did.
BENCHES := bench/summary_speed.py bench/lint_speed.py bench/ops_speed.py bench/train_overhead.py
bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	@failed=""; for b in $(BENCHES); do echo "== $$b"; $(BIN)/python $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "goals missed in:$$failed"; exit 1; fi; echo "all benchmarks met their goals"

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
