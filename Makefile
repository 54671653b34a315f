# Carbon Track — the two commands (DESIGN.md "The two commands"). See README.md.
#   make run   create .venv, install, fill the SQLite demo database if empty, start everything
#   make test  create .venv, install with test extras, firmware host tests, the pytest suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FIRMWARE_HOST_TESTS := firmware/test/host
PYTEST_ARGS ?=

.PHONY: run test install install-test lint firmware-test bench clean check-python

run: $(VENV)/.installed
	$(BIN)/carbontrack init-db --demo
	$(BIN)/carbontrack run

# pytest exit code 5 means "no tests collected": never a silent success.
test: $(VENV)/.installed-test firmware-test
	@$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests (exit 5); failing" >&2; fi; \
	exit $$status

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The firmware engineer's host tests (doctest); skipped with a message while they do not exist.
firmware-test:
	@if [ -f $(FIRMWARE_HOST_TESTS)/Makefile ]; then \
		$(MAKE) -C $(FIRMWARE_HOST_TESTS) test; \
	else \
		echo "firmware host tests: $(FIRMWARE_HOST_TESTS)/Makefile not found; skipped"; \
	fi

bench: $(VENV)/.installed
	$(BIN)/python bench/bench_init_db.py

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Carbon Track needs Python 3.11 or newer; set PYTHON=python3.11")'

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Marker files: reinstall when the package metadata changes.
$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) build *.egg-info $(FIRMWARE_HOST_TESTS)/build
