"""`make benchmark`: speed and memory of the slice, each against a baseline of the same run.

- extract: `python -m extract rds` (dlt, incremental merge) against a raw
  `COPY ... TO STDOUT` / `COPY ... FROM STDIN` of the same three tables between
  the same two databases: what dlt's typing, normalising and merging cost.
- push: `reverse-etl push salesforce --pass create` of every group of that data
  (the real sync view, into an empty simulator), against a bare `requests` loop
  posting the same payloads in the same 200-record collections with no ledger,
  gate, retries or rate limiter: what the pusher's safety costs. The rate limit
  is lifted for both, so the figure is the pusher's own.

Each measured step runs in a child process of its own so that its peak memory
(max RSS) is its own. Figures go to benchmarks/results/latest.json and .md.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import requests
import typer
from psycopg.rows import dict_row
from rich.console import Console
from rich.table import Table

from benchmarks.engine import bench_engine
from benchmarks.harness import comparison, measure, stack_env, warehouse_dsn
from sandbox.salesforce_admin import SalesforceAdmin

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BIN = Path(sys.executable).parent
console = Console()
app = typer.Typer(add_completion=False)

def copy_baseline(source_dsn: str, target_dsn: str) -> dict[str, float]:
    """The floor for moving the rows: binary-free text COPY, table by table."""
    tables = ("companies", "properties", "property_features")
    started = time.perf_counter()
    with psycopg.connect(source_dsn) as source, psycopg.connect(target_dsn) as target:
        target.execute("drop schema if exists copy_baseline cascade; create schema copy_baseline")
        for table in tables:
            columns = source.execute(
                "select string_agg(format('%%I %%s', column_name, data_type), ', ' "
                "order by ordinal_position) from information_schema.columns "
                "where table_schema = 'public' and table_name = %s", (table,)
            ).fetchone()
            assert columns is not None
            target.execute(f"create table copy_baseline.{table} ({columns[0]})")
            with source.cursor().copy(f"copy public.{table} to stdout") as out, \
                    target.cursor().copy(f"copy copy_baseline.{table} from stdin") as into:
                for chunk in out:
                    into.write(chunk)
        target.commit()
    return {"seconds": time.perf_counter() - started}


def bench_extract(env: dict[str, str], properties: int) -> dict[str, Any]:
    subprocess.run(
        [sys.executable, "-m", "sandbox", "seed", "rds", "--properties", str(properties)],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
    )
    with psycopg.connect(env["RDS_DATABASE_URL"]) as conn:
        counts = conn.execute(
            "select (select count(*) from companies) + (select count(*) from properties)"
            " + (select count(*) from property_features)"
        ).fetchone()
    rows = int(counts[0]) if counts else 0
    baseline = copy_baseline(env["RDS_DATABASE_URL"], warehouse_dsn(env))
    dlt_run = measure([sys.executable, "-m", "extract", "rds", "--full-refresh"], env)
    return {"rows": rows, **comparison("rows", rows, "dlt", dlt_run, "copy", baseline)}


def _token(env: dict[str, str]) -> str:
    response = requests.post(
        f"{env['SALESFORCE_INSTANCE_URL']}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": env["SALESFORCE_CLIENT_ID"],
              "client_secret": env["SALESFORCE_CLIENT_SECRET"]},
        verify=env["REQUESTS_CA_BUNDLE"], timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def requests_baseline(env: dict[str, str], rows: list[dict[str, Any]]) -> dict[str, float]:
    """The same collections posted with nothing around them."""
    url = f"{env['SALESFORCE_INSTANCE_URL']}/services/data/v62.0/composite/sobjects"
    started = time.perf_counter()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {_token(env)}"
    for start in range(0, len(rows), 200):
        records = [{"attributes": {"type": "Product_Property__c"}, **row}
                   for row in rows[start:start + 200]]
        # verify per request: an exported REQUESTS_CA_BUNDLE outranks a session's own.
        session.post(url, json={"allOrNone": False, "records": records},
                     verify=env["REQUESTS_CA_BUNDLE"], timeout=90).raise_for_status()
    return {"seconds": time.perf_counter() - started}


def _rows_to_create(env: dict[str, str]) -> list[dict[str, Any]]:
    """The payloads of the real create view, as the pusher sends them."""
    with psycopg.connect(warehouse_dsn(env), row_factory=dict_row) as conn:
        rows = conn.execute("select * from sync.properties_to_create").fetchall()
    return [
        {key: value.isoformat() if hasattr(value, "isoformat") else value
         for key, value in row.items() if not key.startswith("_")}
        for row in rows
    ]


def bench_push(env: dict[str, str]) -> dict[str, Any]:
    """Create every group of the extract benchmark's RDS data in an empty Salesforce."""
    for command in ([sys.executable, "-m", "extract", "salesforce"],
                    [str(BIN / "dbt"), "build", "--quiet"]):
        subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    rows = _rows_to_create(env)
    pusher = measure([str(BIN / "reverse-etl"), "push", "salesforce", "--pass", "create"], env)
    with psycopg.connect(warehouse_dsn(env)) as conn:
        row = conn.execute(
            "select api_requests, created from reverse_etl.sync_runs "
            "where not dry_run order by started_at desc limit 1"
        ).fetchone()
    api_requests, created = (int(row[0]), int(row[1])) if row else (0, 0)
    # The baseline writes the same payloads into an emptied Salesforce, so both runs
    # start from the same state and create the same records.
    SalesforceAdmin(env["SALESFORCE_INSTANCE_URL"], env["REQUESTS_CA_BUNDLE"]).reset()
    baseline = requests_baseline(env, rows)
    records = len(rows)
    return {
        "records": records,
        "created": created,
        "api_requests_incl_token": api_requests,
        # The pusher's time includes its data-quality gate, as in real use.
        **comparison("records", records, "pusher", pusher, "baseline", baseline),
    }


def write_results(results: dict[str, Any], name: str = "latest") -> None:
    results.setdefault("when", datetime.now(UTC).isoformat(timespec="seconds"))
    results.setdefault(
        "machine",
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"# Benchmark results ({results['when']})", "", f"Machine: {results['machine']}", ""]
    for benchmark, figures in results["benchmarks"].items():
        lines += [f"## {benchmark}", "", "| figure | value |", "| --- | --- |"]
        lines += [f"| {key} | {value} |" for key, value in figures.items()]
        lines.append("")
    (RESULTS / f"{name}.md").write_text("\n".join(lines))


@app.command()
def main(
    properties: int = typer.Option(
        20000, help="RDS properties: extracted, then created in Salesforce."
    ),
) -> None:
    """Run every benchmark on a stack of its own and write the figures."""
    base = Path(tempfile.mkdtemp(prefix="propsync-bench-"))
    env = stack_env(base)
    try:
        results: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}",
            "benchmarks": {
                "extract_rds": bench_extract(env, properties),
                "push_salesforce_create": bench_push(env),
                "engine": bench_engine(env),
            },
        }
    finally:
        subprocess.run([sys.executable, "-m", "sandbox", "down"], cwd=ROOT, env=env,
                       check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    write_results(results)
    for name, figures in results["benchmarks"].items():
        table = Table("figure", "value", title=name)
        for key, value in figures.items():
            table.add_row(key, str(value))
        console.print(table)
    console.print(f"written to {RESULTS / 'latest.json'}")


if __name__ == "__main__":
    app()
