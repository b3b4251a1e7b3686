"""`python -m benchmarks.extract_dispatch --rows N`: the dispatch extract at scale.

Fills N rows into a legacy dispatch database (`sandbox.generate.dispatch`, the
generator of the slice's test data: set-based SQL, the spec's quirks) and measures,
in one run and against one warehouse database:

- baseline: a raw text `COPY ... TO STDOUT` / `COPY ... FROM STDIN` of the same seven
  tables into a scratch schema of the warehouse, table by table: the least any extract
  must do to move the rows;
- full: `python -m extract dispatch` into an empty warehouse (a first load);
- no change: the same again with nothing changed at the source;
- 1 % incremental: after `mutate_dispatch` touched 1 % of the rows (updates, inserts,
  hard deletes);
- full refresh: `--full-refresh` over the loaded tables.

Each extract is the real command in a child process of its own, so its wall time and
peak memory (max RSS) are its own; dlt's trace gives its step times (extract,
normalize, load), and the rest is its fixed cost (interpreter, imports, pipeline and
source setup: reflection of the tables). `--repeat N` runs N rounds and keeps each
extract's fastest (the machine may be shared) and the highest peak memory.

By default the databases live on a stack of their own (`python -m sandbox up` in a
temporary folder, like `make benchmark`); `--server DSN` uses an existing Postgres
instead, creating `ext_bench_*` databases there and dropping them after. Figures go to
benchmarks/results/extract_dispatch.json and .md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from benchmarks.harness import ROOT, measure, stack_env
from sandbox.generate.dispatch import TABLES, generate_dispatch, mutate_dispatch

app = typer.Typer(add_completion=False)
console = Console()


def copy_baseline(source_dsn: str, target_dsn: str) -> dict[str, float]:
    """Text COPY of every dispatch table into `copy_baseline` of the warehouse."""
    started = time.perf_counter()
    with psycopg.connect(source_dsn) as source, psycopg.connect(target_dsn) as target:
        target.execute("drop schema if exists copy_baseline cascade; create schema copy_baseline")
        for table in TABLES:
            row = source.execute(
                "select string_agg(format('%%I %%s', column_name, data_type), ', '"
                " order by ordinal_position) from information_schema.columns"
                " where table_schema = 'public' and table_name = %s", (table,)
            ).fetchone()
            assert row is not None
            target.execute(f"create table copy_baseline.{table} ({row[0]})")  # type: ignore[arg-type]
            with source.cursor().copy(f"copy public.{table} to stdout") as out, \
                    target.cursor().copy(f"copy copy_baseline.{table} from stdin") as into:
                for chunk in out:
                    into.write(chunk)
        target.commit()
        target.execute("drop schema copy_baseline cascade")
        target.commit()
    return {"seconds": time.perf_counter() - started}


def run_extract(env: dict[str, str], work: Path, *args: str) -> dict[str, Any]:
    """`python -m extract dispatch` in a process of its own: wall time and peak RSS
    (harness.measure), rows and deletes (its --report-json), dlt's step times (the
    pipeline's trace); the rest of the wall time is the fixed cost: the interpreter,
    imports, settings, pipeline and source setup (reflection of the seven tables)."""
    import dlt

    report = work / "report.json"
    run = measure(
        [sys.executable, "-m", "extract", "dispatch", *args, "--report-json", str(report)], env
    )
    if run["code"] != 0:
        raise RuntimeError(f"extract dispatch exited {run['code']}")
    result = json.loads(report.read_text())[0]
    pipeline = dlt.attach(
        "dispatch_to_warehouse", pipelines_dir=str(Path(env["DLT_DATA_DIR"]) / "pipelines")
    )
    trace = pipeline.last_trace
    steps = {
        step.step: round((step.finished_at - step.started_at).total_seconds(), 2)
        for step in trace.steps if step.step != "run"
    }
    return {
        "seconds": run["seconds"], "peak_mib": run["peak_mib"], "steps": steps,
        "rows": sum(result["rows"].values()), "deleted": sum(result["deleted"].values()),
        "fixed_seconds": round(run["seconds"] - sum(steps.values()), 2),
    }


def _figures(label: str, run: dict[str, Any], baseline: float | None) -> dict[str, Any]:
    """One extract's figures: wall time, rows per second, memory, fixed cost, dlt's
    steps, and (`baseline`: the copy's seconds) the ratio to the baseline."""
    figures = {
        f"{label}_seconds": round(run["seconds"], 2),
        f"{label}_rows_loaded": run["rows"],
        f"{label}_rows_deleted": run["deleted"],
        f"{label}_rows_per_s": round(run["rows"] / run["seconds"]),
        f"{label}_peak_mib": round(run["peak_mib"], 1),
        f"{label}_fixed_seconds": run["fixed_seconds"],
        f"{label}_steps": run["steps"],
    }
    if baseline:
        figures[f"{label}_vs_copy"] = round(run["seconds"] / baseline, 2)
    return figures


def _reset_warehouse(warehouse_dsn: str, work: Path) -> None:
    """An empty warehouse and no dlt state: the next extract is a first load."""
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        conn.execute("drop schema if exists raw_dispatch cascade;"
                     " drop schema if exists raw_dispatch_staging cascade")
    shutil.rmtree(work / "dlt", ignore_errors=True)


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of repeated runs, with the highest peak memory of them all: the
    machine is shared, so the minimum time is the least disturbed one, and memory is
    reported at its worst."""
    best = dict(min(runs, key=lambda run: run["seconds"]))
    best["peak_mib"] = max(run["peak_mib"] for run in runs)
    return best


def bench_extract_dispatch(
    server: str, rows: int, seed: int = 7, repeat: int = 1
) -> dict[str, Any]:
    """Fill `rows` rows on `server` (a libpq URL of any database there), then time the
    baseline and the extracts, `repeat` times each (a round: first load, no change,
    1 % changes, full refresh); the two databases it creates are dropped after."""
    name = f"ext_bench_{uuid.uuid4().hex[:8]}"
    source_db, warehouse_db = f"{name}_source", f"{name}_warehouse"
    base_url = server.rsplit("/", 1)[0]
    work = Path(tempfile.mkdtemp(prefix="propsync-bench-dispatch-"))
    with psycopg.connect(server, autocommit=True) as conn:
        for database in (source_db, warehouse_db):
            conn.execute(f'create database "{database}"')  # type: ignore[arg-type]
    try:
        source_dsn, warehouse_dsn = f"{base_url}/{source_db}", f"{base_url}/{warehouse_db}"
        generated = generate_dispatch(source_dsn, rows=rows, seed=seed)
        total = sum(generated.counts.values())
        info = psycopg.conninfo.conninfo_to_dict(warehouse_dsn)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PG", "DISPATCH_"))},
            "PGHOST": str(info.get("host", "127.0.0.1")), "PGPORT": str(info.get("port", 5432)),
            "PGUSER": str(info.get("user", "postgres")),
            "PGPASSWORD": str(info.get("password", "")), "PGDATABASE": warehouse_db,
            "DISPATCH_DATABASE_URL": source_dsn,
            # no sandbox.env of the developer, a dlt folder of its own
            "SANDBOX_DIR": str(work / "sandbox"), "DLT_DATA_DIR": str(work / "dlt"),
        }
        rounds: dict[str, list[dict[str, Any]]] = {
            "full": [], "unchanged": [], "incremental": [], "full_refresh": []
        }
        baselines: list[float] = []
        touched: list[int] = []
        for _ in range(repeat):
            baselines.append(copy_baseline(source_dsn, warehouse_dsn)["seconds"])
            _reset_warehouse(warehouse_dsn, work)
            rounds["full"].append(run_extract(env, work))
            rounds["unchanged"].append(run_extract(env, work))
            touched.append(mutate_dispatch(source_dsn, share=0.01, seed=seed).touched)
            rounds["incremental"].append(run_extract(env, work))
            rounds["full_refresh"].append(run_extract(env, work, "--full-refresh"))
        baseline = min(baselines)
        return {
            "rows": total,
            "tables": generated.counts,
            "rounds": repeat,
            # what else the 2 cores were doing (1, 5, 15 minutes): the figures are
            # comparable only between quiet runs
            "load_average_after": [round(value, 2) for value in os.getloadavg()],
            "fill_seconds": round(generated.seconds, 2),
            "copy_seconds": round(baseline, 2),
            "copy_rows_per_s": round(total / baseline),
            **_figures("full", _best(rounds["full"]), baseline),
            # each round's first load against the copy of the same round, back to back:
            # the ratio least moved by what else runs on the machine
            "full_vs_copy_per_round": [
                round(run["seconds"] / copy, 2)
                for run, copy in zip(rounds["full"], baselines, strict=True)
            ],
            **_figures("unchanged", _best(rounds["unchanged"]), None),
            "incremental_source_rows_touched": touched[0],
            **_figures("incremental", _best(rounds["incremental"]), None),
            **_figures("full_refresh", _best(rounds["full_refresh"]), baseline),
        }
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            for database in (source_db, warehouse_db):
                conn.execute(f'drop database if exists "{database}" with (force)')  # type: ignore[arg-type]
        shutil.rmtree(work, ignore_errors=True)


def _write(figures: dict[str, Any]) -> None:
    from benchmarks.__main__ import write_results

    write_results({"benchmarks": {"extract_dispatch": figures}}, name="extract_dispatch")


@app.command()
def main(
    rows: Annotated[int, typer.Option(help="rows filled into the dispatch source")] = 2_000_000,
    server: Annotated[
        str | None,
        typer.Option(help="an existing Postgres (libpq URL); default: a stack of its own"),
    ] = None,
    seed: Annotated[int, typer.Option(help="the generator's seed")] = 7,
    repeat: Annotated[
        int, typer.Option(help="rounds; the figures are each extract's fastest round")
    ] = 1,
) -> None:
    """Fill, measure, write the figures."""
    base: Path | None = None
    env: dict[str, str] = {}
    if server is None:
        base = Path(tempfile.mkdtemp(prefix="propsync-bench-stack-"))
        env = stack_env(base)
        server = (f"postgresql://{env['PGUSER']}:{env['PGPASSWORD']}@{env['PGHOST']}:"
                  f"{env['PGPORT']}/postgres")
    try:
        figures = bench_extract_dispatch(server, rows, seed, repeat)
    finally:
        if base is not None:
            subprocess.run([sys.executable, "-m", "sandbox", "down"], cwd=ROOT, env=env,
                           check=False, stdout=subprocess.DEVNULL)
            shutil.rmtree(base, ignore_errors=True)
    _write(figures)
    table = Table("figure", "value", title="extract dispatch")
    for key, value in figures.items():
        table.add_row(key, str(value))
    console.print(table)


if __name__ == "__main__":
    app()
