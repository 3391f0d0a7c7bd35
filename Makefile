# The two commands of the quick start, and a few for development.
#   make run    poll the example feeds and print alerts (Ctrl-C stops)
#   make test   the whole test suite (starts local Redis/PostgreSQL if needed)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run once test lint bench clean

$(BIN)/.installed: pyproject.toml setup.py service/matching/_core.c service/stories/_sketch.c \
		service/stories/_segments.c service/_language.c
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "newswatch needs Python 3.11 or newer (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

run: $(BIN)/.installed
	$(BIN)/newswatch run --config config

once: $(BIN)/.installed
	$(BIN)/newswatch run --config config --once

# Two test processes: most tests wait on real subprocesses, services and sockets.
test: $(BIN)/.installed
	.ci/services
	$(BIN)/pytest -n 2

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .hypothesis
