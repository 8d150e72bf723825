# Two commands on a fresh machine (Python 3.11+, make):
#   make run    the service with demo data on SQLite at http://127.0.0.1:8000, jobs beside it
#               (the supervisor console at http://127.0.0.1:8000/console)
#   make test   the whole test suite (SQLite; PostgreSQL too when HOMECARE_TEST_DATABASE_URL is set)
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install run test lint openapi bench

$(BIN)/homecare: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/homecare

install: $(BIN)/homecare

run: install
	$(BIN)/homecare db upgrade
	$(BIN)/homecare demo
	@echo "homecare at http://127.0.0.1:8000  (docs: /docs; Ctrl-C stops both processes)"
	@echo "supervisor console: http://127.0.0.1:8000/console  (phone 13800000001, password homecare-demo)"
	$(BIN)/homecare jobs & JOBS=$$!; trap 'kill $$JOBS 2>/dev/null' EXIT INT TERM; \
	$(BIN)/homecare serve --host 127.0.0.1 --port 8000

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

openapi: install
	$(BIN)/homecare openapi

bench: install
	$(BIN)/python bench/match.py
	$(BIN)/python bench/solomon.py
	$(BIN)/python bench/homecare_day.py
