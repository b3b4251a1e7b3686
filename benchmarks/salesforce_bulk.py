"""`python -m benchmarks.salesforce_bulk --records N`: one create pass of N records,
through sObject Collections and through Bulk API 2.0, in the same run.

On a stack of its own: N create payloads in `sync.properties_to_create` (a table
with the sync view's columns), then `reverse-etl push salesforce --pass create
--skip-gate` twice into an emptied simulator, each in a measured process of its own
(wall time, peak RSS):

- collections: `SALESFORCE_BULK_THRESHOLD=N` (the pass is not above it): 200-record
  `POST /composite/sobjects` requests;
- bulk: `SALESFORCE_BULK_THRESHOLD=0`: ingest jobs of `SALESFORCE_BULK_JOB_RECORDS`
  (default 10,000 records a job; the engine cuts batches across its 5,000-row fetches).

Requests are counted in the simulator's request log (token included) and checked
against the run's own count in the ledger; every record must be created once. The
simulator applies a job's rows when it is closed and reports `JobComplete` at once
(`bulk_processing_s` 0), so the Bulk figure has no server-side queueing in it: on a
real org a job waits its turn, which costs time, not requests. The rate limit is
lifted for both (SALESFORCE_MAX_RPS=1000); at the default of 5 a second, the
collections pass would also wait out about 50 s of limiter for 50,000 records.

Figures go to benchmarks/results/salesforce_bulk.json and .md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from benchmarks.harness import ROOT, measure, stack_env, warehouse_dsn
from sandbox.salesforce_admin import SalesforceAdmin

RESULTS = ROOT / "benchmarks" / "results"
BIN = Path(sys.executable).parent
app = typer.Typer(add_completion=False)
console = Console()

FEATURES = ("Fraud_Detection", "Income_Verification", "IDV", "Rent_Verification")
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Name", "text"), ("Snappt_Property_ID__c", "text"), ("Company_Name__c", "text"),
    ("Street__c", "text"), ("City__c", "text"), ("State__c", "text"),
    ("Postal_Code__c", "text"),
    *[pair for f in FEATURES
      for pair in ((f"{f}_Enabled__c", "boolean"), (f"{f}_Enabled_Date__c", "date"))],
    ("Active_Property_Count__c", "integer"), ("Contributing_Property_IDs__c", "text"),
)


def payload(number: int) -> dict[str, Any]:
    pid = str(uuid.UUID(int=number + 1))
    row: dict[str, Any] = {
        "Name": f"Property {number}", "Snappt_Property_ID__c": pid,
        "Company_Name__c": f"Company {number % 97}", "Street__c": f"{number} Main St",
        "City__c": "Austin", "State__c": "TX", "Postal_Code__c": f"{78700 + number % 100}",
    }
    for index, feature in enumerate(FEATURES):
        enabled = (number + index) % 3 == 0
        row[f"{feature}_Enabled__c"] = enabled
        row[f"{feature}_Enabled_Date__c"] = (
            dt.date(2024, 1, 1) + dt.timedelta(days=number % 300) if enabled else None
        )
    row["Active_Property_Count__c"] = 1 + number % 2
    row["Contributing_Property_IDs__c"] = pid
    return row


def write_view(dsn: str, records: int) -> None:
    """The create view as a table: the payload columns and the control columns."""
    columns = ", ".join(f'"{name}" {kind}' for name, kind in COLUMNS)
    names = [name for name, _ in COLUMNS]
    with psycopg.connect(dsn) as conn:
        conn.execute("create schema if not exists sync")
        conn.execute("drop table if exists sync.properties_to_create")
        conn.execute(f"create table sync.properties_to_create ({columns}, "
                     "_sync_key text, _payload_hash text, _group_key text)")
        quoted = ", ".join(f'"{n}"' for n in names)
        with conn.cursor().copy(f"copy sync.properties_to_create ({quoted}, _sync_key, "
                                "_payload_hash, _group_key) from stdin") as copy:
            for number in range(records):
                row = payload(number)
                digest = hashlib.md5(
                    json.dumps(row, sort_keys=True, default=str).encode()
                ).hexdigest()
                key = row["Snappt_Property_ID__c"]
                copy.write_row([*(row[n] for n in names), key, digest, key])


def one_pass(env: dict[str, str], admin: SalesforceAdmin, threshold: int,
             records: int) -> dict[str, Any]:
    admin.reset()
    with psycopg.connect(warehouse_dsn(env), autocommit=True) as conn:
        conn.execute("drop schema if exists reverse_etl cascade")
    run_env = {**env, "SALESFORCE_BULK_THRESHOLD": str(threshold)}
    figures = measure([str(BIN / "reverse-etl"), "push", "salesforce", "--pass", "create",
                       "--skip-gate"], run_env)
    log = admin.requests()
    with psycopg.connect(warehouse_dsn(env)) as conn:
        row = conn.execute("select status, created, api_requests from reverse_etl.sync_runs"
                           " where not dry_run order by started_at desc limit 1").fetchone()
    assert row is not None, "the pass recorded no run"
    status, created, api_requests = row
    held = admin.record_count()
    if (status, created, held) != ("succeeded", records, records):
        raise RuntimeError(f"threshold {threshold}: {status}, {created} created, {held} held")
    if api_requests != len(log):
        raise RuntimeError(f"the ledger counts {api_requests} requests, the log {len(log)}")
    writes = [e for e in log if e["method"] in ("POST", "PUT", "PATCH")
              and "oauth2" not in e["path"]]
    return {
        "requests": len(log),
        "write_requests": len(writes),
        "bulk_jobs": len(admin.bulk_jobs()),
        "seconds": round(figures["seconds"], 2),
        "records_per_s": round(records / figures["seconds"]),
        "peak_mib": round(figures["peak_mib"], 1),
    }


def bench_salesforce_bulk(env: dict[str, str], records: int) -> dict[str, Any]:
    write_view(warehouse_dsn(env), records)
    admin = SalesforceAdmin(env["SALESFORCE_INSTANCE_URL"], env["REQUESTS_CA_BUNDLE"])
    collections = one_pass(env, admin, records, records)
    bulk = one_pass(env, admin, 0, records)
    return {
        "records": records,
        "collections": collections,
        "bulk": bulk,
        "requests_collections_vs_bulk": round(collections["requests"] / bulk["requests"], 1),
        "seconds_collections_vs_bulk": round(collections["seconds"] / bulk["seconds"], 2),
    }


def write_results(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "salesforce_bulk.json").write_text(json.dumps(results, indent=2) + "\n")
    figures = results["salesforce_bulk"]
    c, b = figures["collections"], figures["bulk"]
    lines = [
        f"# Salesforce create pass: sObject Collections vs Bulk API 2.0 ({results['when']})",
        "",
        f"Machine: {results['machine']}. {figures['records']:,} creates into an empty "
        "simulator, each path in a process of its own, the same run; requests from the "
        "simulator's request log (token included). The simulator reports a closed job "
        "complete at once, so the Bulk time has no server-side queueing in it.",
        "",
        "| path | requests | write requests | Bulk jobs | wall s | records/s | peak MiB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| sObject Collections (200 a request) | {c['requests']} | {c['write_requests']} | "
        f"{c['bulk_jobs']} | {c['seconds']} | {c['records_per_s']} | {c['peak_mib']} |",
        f"| Bulk API 2.0 (a job per 10,000 records) | {b['requests']} | "
        f"{b['write_requests']} | {b['bulk_jobs']} | {b['seconds']} | {b['records_per_s']} | "
        f"{b['peak_mib']} |",
        "",
        f"Collections use {figures['requests_collections_vs_bulk']}x the requests and "
        f"{figures['seconds_collections_vs_bulk']}x the wall time of Bulk API 2.0.",
        "",
    ]
    (RESULTS / "salesforce_bulk.md").write_text("\n".join(lines))


@app.command()
def main(
    records: Annotated[int, typer.Option(help="Create payloads in the view.")] = 50_000,
) -> None:
    """Run the comparison on a stack of its own and write the figures."""
    base = Path(tempfile.mkdtemp(prefix="propsync-bench-bulk-"))
    env = stack_env(base)
    try:
        results = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}",
            "salesforce_bulk": bench_salesforce_bulk(env, records),
        }
    finally:
        subprocess.run([sys.executable, "-m", "sandbox", "down"], cwd=ROOT, env=env,
                       check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    write_results(results)
    table = Table("path", "requests", "write requests", "jobs", "wall s", "records/s",
                  "peak MiB", title=f"{records:,} creates")
    for path in ("collections", "bulk"):
        f = results["salesforce_bulk"][path]
        table.add_row(path, str(f["requests"]), str(f["write_requests"]), str(f["bulk_jobs"]),
                      str(f["seconds"]), str(f["records_per_s"]), str(f["peak_mib"]))
    console.print(table)
    console.print(f"written to {RESULTS / 'salesforce_bulk.json'}")


if __name__ == "__main__":
    app()
