# Carbon Track — the two commands (DESIGN.md "The two commands"). See README.md.
#   make run   create .venv, install, fill the SQLite demo database if empty, start everything
#              (make run PORT=8051 HOST=0.0.0.0 to choose where the portals listen)
#   make demo-reset  delete the SQLite demo database and its files, load the demo again
#   make test  create .venv, install with test extras, firmware host tests, the pytest suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FIRMWARE_HOST_TESTS := firmware/test/host
PYTEST_ARGS ?=
PORT ?= 8050
HOST ?= 127.0.0.1
TEST_WORKERS ?= 3

.PHONY: run demo-reset test test-dates install install-test lint firmware-test bench clean check-python

# `carbontrack run` binds the web port first (a taken port: one line, exit), then creates or
# upgrades the database and loads the demo if it is empty, then starts everything.
run: $(VENV)/.installed
	$(BIN)/carbontrack run --host $(HOST) --port $(PORT)

demo-reset: $(VENV)/.installed
	$(BIN)/carbontrack demo-reset

# pytest exit code 5 means "no tests collected": never a silent success.
# The suite runs in TEST_WORKERS processes (pytest-xdist), whole test files per process (--dist
# loadfile: a file's module fixtures and order stay together). Each test makes its own databases,
# ports, topics and directories, so files do not see each other. TEST_WORKERS=0 runs it in one.
test: $(VENV)/.installed-test firmware-test
	@$(BIN)/pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests (exit 5); failing" >&2; fi; \
	exit $$status

# The date-sensitive tests again at awkward dates (issue 16): the first minute of a month in EAT
# (1 Feb 2027 00:00:30 EAT), 31 December 23:59 EAT, and 29 February (2028). The whole session's
# clock is moved with time-machine (tests/conftest.py: CARBONTRACK_TEST_NOW, CARBONTRACK_TEST_SUBSET);
# tests marked clock_independent in those modules (sign-in, menus, CSP) run once, in make test.
# The browser tests of those modules run at the first moment only (`dates`); the two others run
# every date-sensitive callback, query, workbook and scheduler test without a browser
# (`dates-server`): the pages' dates come from the same callbacks, and CI's two cores cannot fit
# three browser runs beside the main suite in its 20 minutes.
AWKWARD_DATES := 2027-01-31T21:00:30+00:00 2026-12-31T20:59:00+00:00 2028-02-29T09:00:00+00:00
test-dates: $(VENV)/.installed-test
	@subset=dates; for when in $(AWKWARD_DATES); do \
		echo "== date-sensitive tests at $$when ($$subset)"; \
		CARBONTRACK_TEST_NOW=$$when CARBONTRACK_TEST_SUBSET=$$subset $(BIN)/pytest -q $(PYTEST_ARGS) || exit $$?; \
		subset=dates-server; \
	done

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
