"""The pass engine alone: a destination that accepts every record at once.

`python -m benchmarks.engine` builds sync views of 100k and 1M rows (the columns
of `sync.properties_to_create`) on a stack of its own and runs a create pass of
each through the real engine and ledger (streaming read, known-rejection lookup
per fetch, set-based ledger writes), in a child process of its own so its peak
memory is its own. The destination answers `ok` at once for a whole batch, so
the figures are the engine's and the ledger's, not an API's.

Baseline of the same run: a raw text `COPY` of the same view out of Postgres and
into a plain table, the least any pass must do to read every row and write a
record of it. Targets (issue "One spine"): 50k records/s or more, peak memory
under 300 MiB and within 20 % between the two sizes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from benchmarks.harness import ROOT, comparison, measure, stack_env, warehouse_dsn

SIZES = (100_000, 1_000_000)
BATCH = 10_000
app = typer.Typer(add_completion=False, invoke_without_command=True)
console = Console()


def view_name(rows: int) -> str:
    return f"sync.bench_engine_{rows}"


def build_view(dsn: str, rows: int) -> None:
    """A table shaped like sync.properties_to_create, filled by the server itself."""
    features = ("Fraud_Detection", "Income_Verification", "IDV", "Rent_Verification")
    feature_columns = ", ".join(
        f'(g % {n + 2} = 0) as "{f}_Enabled__c", '
        f"case when g % {n + 2} = 0 then date '2024-01-01' + (g % 365) end "
        f'as "{f}_Enabled_Date__c"'
        for n, f in enumerate(features)
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create schema if not exists sync")
        conn.execute(f"drop table if exists {view_name(rows)}")
        conn.execute(
            f"""
            create table {view_name(rows)} as
            select
                'Property ' || g as "Name",
                md5('p' || g) as "Snappt_Property_ID__c",
                'Company ' || (g % 997) as "Company_Name__c",
                g || ' Main Street' as "Street__c",
                'Austin' as "City__c",
                'TX' as "State__c",
                lpad((g % 99999)::text, 5, '0') as "Postal_Code__c",
                {feature_columns},
                (1 + g % 3)::numeric as "Active_Property_Count__c",
                md5('id' || g) as "Contributing_Property_IDs__c",
                md5('p' || g) as _sync_key,
                md5('payload' || g) as _payload_hash,
                md5('p' || g) as _group_key
            from generate_series(1, {rows}) as g
            """
        )
        conn.execute(f"analyze {view_name(rows)}")


def copy_baseline(dsn: str, rows: int) -> dict[str, float]:
    """Read every row out with COPY and write it into a plain table with COPY."""
    with psycopg.connect(dsn) as conn:
        conn.execute("drop table if exists public.bench_engine_copy")
        conn.execute(f"create table public.bench_engine_copy (like {view_name(rows)})")
        conn.commit()
    started = time.perf_counter()
    with psycopg.connect(dsn) as source, psycopg.connect(dsn) as target:
        with (
            source.cursor().copy(f"copy (select * from {view_name(rows)}) to stdout") as out,
            target.cursor().copy("copy public.bench_engine_copy from stdin") as into,
        ):
            for chunk in out:
                into.write(chunk)
        target.commit()
    return {"seconds": time.perf_counter() - started}


class AcceptAll:
    """A destination that creates every record at once, with no network."""

    name = "bench"
    object_name = "Product_Property__c"
    max_batch = BATCH

    def __init__(self) -> None:
        self.requests = 0

    @property
    def api_requests(self) -> int:
        return self.requests

    def create(self, batch: Sequence[Any]) -> list[Any]:
        from reverse_etl.destinations.base import ok

        self.requests += 1
        return [ok(None)] * len(batch)

    def update(self, batch: Sequence[Any]) -> list[Any]:
        return self.create(batch)

    def check_configuration(self) -> None:
        pass

    def health_check(self) -> str:
        return "bench: accepts everything"

    def close(self) -> None:
        pass


@app.command("pass")
def run_one_pass(rows: int) -> None:
    """Child process: one create pass of the view of `rows` rows; figures as JSON."""
    from common.settings import load_settings
    from reverse_etl.engine import run_pass
    from reverse_etl.ledger import Ledger
    from reverse_etl.registry import Sync
    from reverse_etl.warehouse import connect

    settings = load_settings()
    sync = Sync(
        destination="bench",
        object_name="Product_Property__c",
        entity=f"engine_{rows}",
        pass_name="create",
        view=view_name(rows),
        key="Snappt_Property_ID__c",
        batch_size=BATCH,
        no_gate_reason="the benchmark measures the engine alone",
    )
    with connect(settings) as conn:
        started = time.perf_counter()
        result = run_pass(settings, Ledger(conn), AcceptAll(), sync)
        seconds = time.perf_counter() - started
    # The pass alone, without the interpreter's start and imports.
    print(json.dumps({"created": result.counts.created, "pass_seconds": seconds}))


def bench_engine(env: dict[str, str]) -> dict[str, Any]:
    dsn = warehouse_dsn(env)
    figures: dict[str, Any] = {}
    peaks: list[float] = []
    for rows in SIZES:
        build_view(dsn, rows)
        engine = measure([sys.executable, "-m", "benchmarks.engine", "pass", str(rows)], env)
        baseline = copy_baseline(dsn, rows)
        peaks.append(engine["peak_mib"])
        label = f"{rows // 1000}k"
        pass_seconds = engine["reported"]["pass_seconds"]
        figures[f"{label}_pass_seconds"] = round(pass_seconds, 2)
        figures[f"{label}_pass_records_per_s"] = round(rows / pass_seconds)
        figures.update(
            {
                f"{label}_{key}": value
                for key, value in comparison(
                    "records", rows, "engine", engine, "copy", baseline
                ).items()
            }
        )
        with psycopg.connect(dsn, autocommit=True) as conn:
            # The next size starts from an equally empty ledger.
            conn.execute("truncate reverse_etl.sync_records, reverse_etl.rejected_records")
            conn.execute(f"drop table {view_name(rows)}")
    figures["peak_mib_growth_1m_vs_100k"] = round(peaks[-1] / peaks[0] - 1, 3)
    return figures


@app.callback()
def main(ctx: typer.Context) -> None:
    """Run the engine benchmark on a stack of its own and print the figures."""
    from benchmarks.__main__ import write_results

    if ctx.invoked_subcommand is not None:
        return
    base = Path(tempfile.mkdtemp(prefix="propsync-bench-engine-"))
    env = stack_env(base)
    try:
        figures = bench_engine(env)
    finally:
        subprocess.run([sys.executable, "-m", "sandbox", "down"], cwd=ROOT, env=env,
                       check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    write_results({"benchmarks": {"engine": figures}}, name="engine")
    table = Table("figure", "value", title="pass engine + ledger")
    for key, value in figures.items():
        table.add_row(key, str(value))
    console.print(table)


if __name__ == "__main__":
    app()
