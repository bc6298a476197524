# mailbeacon: `make run` serves the embedded default, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The install is redone only when pyproject.toml changes.
STAMP := $(VENV)/.installed

.PHONY: run test test-sqlite test-postgres lint schema migrations bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

# `make run PORT=8080` serves on another port (the same as MAILBEACON_PORT=8080 make run).
run: $(STAMP)
	$(if $(PORT),MAILBEACON_PORT=$(PORT) )$(BIN)/mailbeacon serve

# Both backends run even when the first fails; the summary names each, and make fails if
# either did.
test: $(STAMP)
	@sqlite=0; postgres=0; \
	$(MAKE) --no-print-directory test-sqlite || sqlite=$$?; \
	$(MAKE) --no-print-directory test-postgres || postgres=$$?; \
	echo "make test: SQLite $$([ $$sqlite -eq 0 ] && echo passed || echo FAILED)," \
	     "PostgreSQL $$([ $$postgres -eq 0 ] && echo passed || echo FAILED)"; \
	[ $$sqlite -eq 0 ] && [ $$postgres -eq 0 ]

# pytest exits 5 when it collected nothing: that is a broken suite, not a pass.
PYTEST = $(BIN)/pytest -q -p no:cacheprovider
define run_pytest
	$(1) $(PYTEST) || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest ran no tests" >&2; exit $$rc; }
endef

test-sqlite: $(STAMP)
	$(call run_pytest,MAILBEACON_TEST_DB=sqlite)

test-postgres: $(STAMP)
	$(call run_pytest,MAILBEACON_TEST_DB=postgres)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy plugin graphql_schema workers consent
	$(BIN)/deptry .
	$(BIN)/lint-imports

schema: $(STAMP)
	$(BIN)/mailbeacon schema --output schema.graphql

# Regenerate the migration from the models (tortoise's native migrations).
migrations: $(STAMP)
	MAILBEACON_DATA_DIR=$$(mktemp -d) $(BIN)/tortoise -c plugin.db.TORTOISE_ORM makemigrations

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[test,bench]"
	$(BIN)/python bench/bench_instrument.py

clean:
	rm -rf $(VENV) var build *.egg-info
