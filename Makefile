# Two commands from a fresh clone: `make demo` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install demo test test-spark lint docs sandbox-up sandbox-down down benchmark clean

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(INSTALLED)

# Generated, not copied: the defaults name the stack's actual port (from
# .local/sandbox.env once `python -m sandbox up` ran), and a profiles.yml you edited
# is left alone with a note instead of being overwritten.
profiles.yml: profiles.yml.example | $(INSTALLED)
	$(PY) -m sandbox profile

install: $(INSTALLED) profiles.yml

## demo: the whole RDS -> Salesforce flow on the embedded stack, with a summary
demo: install
	$(PY) -m sandbox.demo

## test: linters, dbt build on generated test data, pytest (own ports and folders)
test: install
	bash scripts/test.sh

# The spark extra (dbt-spark with PySpark) on top of the dev install, for test-spark.
SPARK_INSTALLED := $(VENV)/.installed-spark
$(SPARK_INSTALLED): pyproject.toml | $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[dev,spark]'
	@touch $(SPARK_INSTALLED)

## test-spark: the RDS -> Salesforce slice built on a local Spark session, compared with Postgres
test-spark: install $(SPARK_INSTALLED)
	bash scripts/test_spark.sh

lint: install
	$(VENV)/bin/ruff check .

## docs: dbt docs for the embedded stack (lineage from raw_rds to Salesforce)
docs: install sandbox-up
	set -a && . .local/sandbox.env && set +a && $(VENV)/bin/dbt docs generate && $(VENV)/bin/dbt docs serve --host 127.0.0.1

sandbox-up: install
	$(PY) -m sandbox up

sandbox-down: install
	$(PY) -m sandbox down

## down: stop the embedded stack (the same as sandbox-down)
down: sandbox-down

benchmark: install
	$(PY) -m benchmarks

clean: down
	rm -rf .local target logs
