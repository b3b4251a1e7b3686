#!/usr/bin/env bash
# make test-spark: the RDS -> Salesforce slice built on a local Spark session and compared,
# row for row, with its Postgres build of the same raw tables (docs/spark.md). Own stack,
# own ports and folders, stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_BIN="$PWD/.venv/bin"
export PATH="$VENV_BIN:$PATH"

# PySpark starts a JVM: without one, say so in one line instead of a py4j traceback.
if ! command -v java >/dev/null 2>&1 && [ ! -x "${JAVA_HOME:-/nonexistent}/bin/java" ]; then
    echo "test-spark: Java is missing: install a JDK 17 (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME" >&2
    exit 3
fi

. scripts/own_stack.sh propsync-test-spark
# the Spark metastore and warehouse (profiles.yml.example, target spark)
export PROPSYNC_SPARK_DIR="$SANDBOX_DIR/spark"
# Session time zones west of UTC on both engines: a date read in the session's zone
# instead of UTC differs on the edge cases near midnight.
export PROPSYNC_SPARK_TIMEZONE=America/Los_Angeles PGTZ=America/Los_Angeles
export DBT_PROFILES_DIR="$SANDBOX_DIR"

echo "== sandbox (test stack in $SANDBOX_DIR)"
python -m sandbox up
set -a; . "$SANDBOX_DIR/sandbox.env"; set +a

echo "== raw tables: RDS source and today's Salesforce state, extracted into the warehouse"
python -m sandbox.demo seed --properties 600
python -m extract rds salesforce

dbt_run() {
    # dbt's own output goes to a log; its summary, and the whole log on failure, here
    local name="$1"; shift
    local log="$SANDBOX_DIR/$name.log"
    if ! dbt "$@" --target-path "$SANDBOX_DIR/target-$name" --log-path "$SANDBOX_DIR/logs-$name" \
            >"$log" 2>&1; then
        grep -v -E ' WARN |^\s*at |^\s*$|\[Stage ' "$log" >&2 || true
        echo "test-spark: dbt $* failed (log above)" >&2
        exit 1
    fi
    grep -E 'Finished running|Done\. PASS' "$log" | sed 's/\x1b\[[0-9;]*m//g'
}

echo "== dbt build on Postgres (selector rds_salesforce)"
dbt_run postgres build --selector rds_salesforce

echo "== the same raw tables into the local Spark session"
python -m tests.spark.load_raw 2>"$SANDBOX_DIR/load_raw.err" \
    || { cat "$SANDBOX_DIR/load_raw.err" >&2; exit 1; }

echo "== dbt build --target spark (selector rds_salesforce)"
started=$(date +%s)
dbt_run spark build --target spark --selector rds_salesforce
echo "spark build: $(( $(date +%s) - started )) s"

echo "== Spark rows against Postgres rows"
python -m tests.spark.compare 2>"$SANDBOX_DIR/compare.err" \
    || { grep -v -E ' WARN |^\s*at |\[Stage ' "$SANDBOX_DIR/compare.err" >&2; exit 1; }
echo "test-spark: the Spark build's sync views are identical to Postgres's"
