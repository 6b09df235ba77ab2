# The two front doors: `make up` and `make test`. Both install what is missing first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: up down test deps system-deps lint types contracts proto proto-check pytest clean-venv

up: deps
	$(BIN)/kubelab up
	$(BIN)/python scripts/demo.py

down: deps
	$(BIN)/kubelab down

test: deps lint types contracts proto-check pytest

deps: system-deps $(STAMP)

system-deps:
	@scripts/system-deps.sh

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kubelab needs Python >= 3.11; found " + sys.version.split()[0])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types:
	$(BIN)/mypy

contracts:
	$(BIN)/lint-imports

proto:
	$(BIN)/python scripts/genproto.py

proto-check:
	$(BIN)/python scripts/genproto.py --check

# pytest's exit 5 ("no tests collected") is a failure here: the suite must run real tests.
pytest:
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
