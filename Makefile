# Two commands: `make demo` runs Vault, `make test` runs every check the project has.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: demo test lint types pytest bench clean

$(STAMP): pyproject.toml examples/vault/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,bench]' -e examples/vault
	touch $(STAMP)

demo: $(STAMP)
	PORT=$(PORT) bash scripts/demo.sh

test: $(STAMP)
	bash scripts/test.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py bastion bare
	$(BIN)/python benchmarks/overhead.py seed bare

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .coverage
