"""`python -m benchmarks.dispatch_sync --rows N`: the whole dispatch -> Supabase sync.

Generates N legacy rows (`sandbox.generate.dispatch`) and a Supabase target as the
initial migration left it (`--migrated-share` of the rows, random uuids), then measures
in one run, on databases of one Postgres server:

- baseline: a raw text `COPY ... TO STDOUT | COPY ... FROM STDIN` of the seven source
  tables into the warehouse database: the physical floor of moving the rows;
- the initial sync, stage by stage, each the user's command in a process of its own
  (wall time, peak RSS): extract (`python -m extract dispatch supabase`), build
  (`dbt run --selector dispatch`), tests (`dbt test --selector dispatch`, reported
  beside, not in the sync's total: a scheduled sync may test less often), create pass,
  update pass (which reads the target back and validates);
- the same stages again with nothing changed: what a run costs when it has nothing
  to do (process start, imports, dbt parse, gate, reflection, and every comparison
  that still reads whole tables to find that nothing changed), so that the rest of
  the initial run's time is what the rows to move cost. A smaller `--rows` run tells
  the first part (it does not grow with rows) from the second;
- an incremental sync after `mutate_dispatch` touched 1 % of the rows.

Figures go to benchmarks/results/dispatch_sync.json and .md.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from psycopg.conninfo import conninfo_to_dict
from rich.console import Console

from benchmarks.extract_dispatch import copy_baseline
from benchmarks.harness import ROOT, measure, stack_env
from sandbox.generate.dispatch import generate_dispatch, mutate_dispatch
from sandbox.generate.supabase import create_supabase

RESULTS = ROOT / "benchmarks" / "results"
BIN = Path(sys.executable).parent
app = typer.Typer(add_completion=False)
console = Console()

# stage -> the command a user runs; `sync` stages add up to the sync's total.
STAGES: tuple[tuple[str, list[str], bool], ...] = (
    ("extract", [sys.executable, "-m", "extract", "dispatch", "supabase"], True),
    ("build", [str(BIN / "dbt"), "run", "--selector", "dispatch", "--quiet"], True),
    ("tests", [str(BIN / "dbt"), "test", "--selector", "dispatch", "--quiet"], False),
    ("create", [str(BIN / "reverse-etl"), "push", "supabase", "--pass", "create"], True),
    ("update", [str(BIN / "reverse-etl"), "push", "supabase", "--pass", "update"], True),
)


def run_stages(env: dict[str, str]) -> dict[str, dict[str, float]]:
    return {name: measure(command, env) for name, command, _ in STAGES}


def _total(stages: dict[str, dict[str, float]]) -> float:
    return sum(stages[name]["seconds"] for name, _, in_sync in STAGES if in_sync)


def bench_dispatch_sync(
    server: str, rows: int, migrated_share: float, seed: int = 7
) -> dict[str, Any]:
    name = f"sync_bench_{uuid.uuid4().hex[:8]}"
    databases = {role: f"{name}_{role}" for role in ("source", "target", "warehouse")}
    base_url = server.rsplit("/", 1)[0]
    work = Path(tempfile.mkdtemp(prefix="propsync-bench-sync-"))
    with psycopg.connect(server, autocommit=True) as conn:
        for database in databases.values():
            conn.execute(f'create database "{database}"')  # type: ignore[arg-type]
    try:
        dsn = {role: f"{base_url}/{database}" for role, database in databases.items()}
        generated = generate_dispatch(dsn["source"], rows=rows, seed=seed)
        create_supabase(
            dsn["target"], source_dsn=dsn["source"], migrated_share=migrated_share, seed=seed
        )
        total_rows = sum(generated.counts.values())
        info = conninfo_to_dict(dsn["warehouse"])
        env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("PG", "DISPATCH_", "SUPABASE_", "DBT_"))},
            "PGHOST": str(info.get("host", "127.0.0.1")), "PGPORT": str(info.get("port", 5432)),
            "PGUSER": str(info.get("user", "postgres")),
            "PGPASSWORD": str(info.get("password", "")), "PGDATABASE": databases["warehouse"],
            "DISPATCH_DATABASE_URL": dsn["source"], "SUPABASE_DATABASE_URL": dsn["target"],
            "SANDBOX_DIR": str(work / "sandbox"), "DLT_DATA_DIR": str(work / "dlt"),
            "DBT_TARGET_PATH": str(work / "dbt-target"), "DBT_LOG_PATH": str(work / "dbt-logs"),
            # A first load writes the whole legacy database; the caps are for daily runs.
            "SAFE_MODE": "off",
        }
        baseline = copy_baseline(dsn["source"], dsn["warehouse"])["seconds"]
        measure([str(BIN / "dbt"), "seed", "--quiet"], env)
        initial = run_stages(env)
        unchanged = run_stages(env)
        touched = mutate_dispatch(dsn["source"], share=0.01, seed=seed).touched
        incremental = run_stages(env)
        with psycopg.connect(dsn["target"]) as conn:
            held = {
                table: conn.execute(f"select count(*) from {table}").fetchone()[0]  # type: ignore[index]
                for table in ("offices", "profiles", "doctors", "patients", "cases",
                              "operations")
            }
        return {
            "rows": total_rows,
            "tables": generated.counts,
            "migrated_share": migrated_share,
            "target_rows_after": held,
            "copy_seconds": round(baseline, 2),
            "initial": initial,
            "unchanged": unchanged,
            "incremental_rows_touched": touched,
            "incremental": incremental,
            "initial_total_seconds": round(_total(initial), 2),
            "unchanged_total_seconds": round(_total(unchanged), 2),
            "incremental_total_seconds": round(_total(incremental), 2),
        }
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            for database in databases.values():
                conn.execute(f'drop database if exists "{database}" with (force)')  # type: ignore[arg-type]
        shutil.rmtree(work, ignore_errors=True)


def table_lines(figures: dict[str, Any]) -> list[str]:
    copy = figures["copy_seconds"]
    rows = figures["rows"]
    lines = [
        f"{rows:,} source rows, {figures['migrated_share']:.0%} pre-migrated to the target; "
        f"baseline text COPY of the source tables: {copy:.2f} s",
        "",
        "| stage | initial s | rows/s | x COPY | no change s | initial - no change s "
        "| peak MiB | 1 % incremental s | peak MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, _, in_sync in STAGES:
        first, none, inc = (figures[k][name] for k in ("initial", "unchanged", "incremental"))
        label = name if in_sync else f"{name} (beside)"
        lines.append(
            f"| {label} | {first['seconds']:.2f} | {rows / first['seconds']:,.0f} "
            f"| {first['seconds'] / copy:.1f} | {none['seconds']:.2f} "
            f"| {max(first['seconds'] - none['seconds'], 0):.2f} | {first['peak_mib']:.0f} "
            f"| {inc['seconds']:.2f} | {inc['peak_mib']:.0f} |"
        )
    total, inc_total = figures["initial_total_seconds"], figures["incremental_total_seconds"]
    lines += [
        f"| **sync (extract+build+create+update)** | **{total:.2f}** | {rows / total:,.0f} "
        f"| **{total / copy:.1f}** | {figures['unchanged_total_seconds']:.2f} "
        f"| {max(total - figures['unchanged_total_seconds'], 0):.2f} | "
        f"| **{inc_total:.2f}** ({inc_total / total:.0%} of the initial) | |",
    ]
    return lines


def write_results(figures: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamped = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}"
        ),
        **figures,
    }
    (RESULTS / "dispatch_sync.json").write_text(json.dumps(stamped, indent=2) + "\n")
    (RESULTS / "dispatch_sync.md").write_text(
        "\n".join([
            f"# dispatch -> Supabase sync ({stamped['measured_at']})",
            "",
            f"Machine: {stamped['machine']}",
            "",
            *table_lines(figures),
            "",
        ])
    )


@app.command()
def main(
    rows: Annotated[int, typer.Option(help="legacy rows in total")] = 2_000_000,
    migrated_share: Annotated[float, typer.Option(help="share pre-migrated")] = 0.5,
    server: Annotated[str | None, typer.Option(
        help="an existing Postgres (libpq URL of any database there); default: a stack "
             "of its own")] = None,
) -> None:
    """Generate, then time the initial, no-change and 1 % syncs against a raw COPY."""
    base: Path | None = None
    try:
        if server is None:
            base = Path(tempfile.mkdtemp(prefix="propsync-bench-stack-"))
            env = stack_env(base)
            server = env["DISPATCH_DATABASE_URL"]
        figures = bench_dispatch_sync(server, rows, migrated_share)
    finally:
        if base is not None:
            measure(
                [sys.executable, "-m", "sandbox", "down"], {**os.environ, "SANDBOX_DIR": str(base)}
            )
            shutil.rmtree(base, ignore_errors=True)
    write_results(figures)
    console.print("\n".join(table_lines(figures)), markup=False, highlight=False)


if __name__ == "__main__":
    app()
