# The two set-up commands in the README: `make demo` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench

$(BIN)/.installed: pyproject.toml scripts/install.sh $(wildcard scripts/install-*.sh)
	bash scripts/install.sh $(VENV)
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/privtune demo

test: install
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
