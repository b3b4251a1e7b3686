#!/usr/bin/env bash
# make test: every check on a stack of its own (own folder, own ports), stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_BIN="$PWD/.venv/bin"
export PATH="$VENV_BIN:$PATH"

. scripts/own_stack.sh propsync-test

echo "== ruff"
ruff check .

echo "== import-linter"
lint-imports --no-cache

echo "== sandbox (test stack in $SANDBOX_DIR)"
python -m sandbox up
set -a; . "$SANDBOX_DIR/sandbox.env"; set +a

echo "== test data: RDS source and today's Salesforce state"
python -m sandbox.demo seed --properties 600

echo "== test data: PropertyWare and ServiceFusion (overlapping, every dedup case)"
python -m sandbox seed workorders --buildings 20 --seed 7

echo "== test data: legacy dispatch and a Supabase half-migrated, with new-app edits"
python -m sandbox seed dispatch --rows 5000 --seed 7 --migrated-share 0.5 --app-edit-share 0.05

echo "== extract"
python -m extract rds salesforce propertyware servicefusion dispatch supabase

echo "== dbt seed, sqlfluff, dbt build"
dbt seed --quiet
sqlfluff lint dbt_project --processes 2
# A session time zone west of UTC: a naive timestamp-to-date cast fails the unit tests.
PGTZ=America/Los_Angeles dbt build

echo "== pytest"
set +e
pytest -q -p no:cacheprovider "$@"
status=$?
set -e
# pytest's 5 means no test ran: that is a failure of the suite, not a pass.
if [ "$status" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$status"
