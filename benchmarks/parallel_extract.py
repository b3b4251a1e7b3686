"""`python -m benchmarks.parallel_extract`: `python -m extract all` at once against its
sources one by one.

On a stack of its own (`python -m sandbox up` in a temporary folder) seeded as
scripts/test.sh seeds `make test`'s (RDS with `--properties` and today's Salesforce
state, PropertyWare and ServiceFusion with `--buildings`, dispatch and a half-migrated
Supabase with `--rows`), every mode starts from an empty warehouse database and no
dlt state (a first load of all six sources):

- one by one: `python -m extract <source>` for each source, each a process of its own;
  the baseline is the sum of their wall times (what a scheduler running them one after
  another pays);
- `all --workers 1`: one process, the sources one after another (the sum without five
  interpreter starts);
- `all`: one process, every source at once (extract/pipelines.py `extract_sources`).

Each command is the real one in a child process (benchmarks.harness.measure: wall
time and peak RSS); its --report-json gives each source's own time, requests sent and
seconds spent waiting on the client-side rate limit. The API sources are bound by
their rate limits (`--rates documented`: SALESFORCE_MAX_RPS 5, PROPERTYWARE_MAX_RPS 2,
SERVICEFUSION_MAX_RPS 0.5, the defaults): the parallel run cannot end before its
slowest source, and the table says which that is. `--rates lifted` raises the client
limits to 1000 requests/s (and the ServiceFusion simulator's own per-token limit), to
show what running at once gains when nothing waits on a limit. Figures go to
benchmarks/results/parallel_extract.json and .md.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from benchmarks.harness import ROOT, measure, stack_env, warehouse_dsn
from sandbox.servicefusion_admin import ServiceFusionAdmin

app = typer.Typer(add_completion=False)
console = Console()
RESULTS = ROOT / "benchmarks" / "results"
SOURCES = ("rds", "dispatch", "supabase", "salesforce", "propertyware", "servicefusion")
LIFTED_RPS = "1000"


def seed(env: dict[str, str], properties: int, buildings: int, rows: int) -> None:
    """The commands scripts/test.sh seeds `make test`'s stack with, at these sizes."""
    for command in (
        ["-m", "sandbox.demo", "seed", "--properties", str(properties)],
        ["-m", "sandbox", "seed", "workorders", "--buildings", str(buildings), "--seed", "7"],
        ["-m", "sandbox", "seed", "dispatch", "--rows", str(rows), "--seed", "7",
         "--migrated-share", "0.5", "--app-edit-share", "0.05"],
    ):
        subprocess.run([sys.executable, *command], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)


def fresh_warehouse(env: dict[str, str], work: Path, name: str) -> dict[str, str]:
    """The environment of one mode: its own empty warehouse database and dlt folder."""
    with psycopg.connect(warehouse_dsn(env, "postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    folder = work / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return {**env, "PGDATABASE": name, "DLT_DATA_DIR": str(folder / "dlt")}


def run(env: dict[str, str], work: Path, label: str, *args: str) -> dict[str, Any]:
    """`python -m extract ARGS` in a process of its own: wall time, peak RSS and the
    report of each source it ran."""
    report = work / f"{label}.json"
    figures = measure([sys.executable, "-m", "extract", *args, "--report-json", str(report)],
                      env)
    entries = json.loads(report.read_text())
    failed = [entry for entry in entries if "error" in entry]
    if figures["code"] != 0 or failed:
        raise RuntimeError(f"extract {' '.join(args)} exited {figures['code']}: {failed}")
    return {"seconds": figures["seconds"], "peak_mib": figures["peak_mib"],
            "sources": {entry["source"]: entry for entry in entries}}


def _source_figures(entry: dict[str, Any]) -> dict[str, Any]:
    api = entry.get("api", {})
    return {
        "seconds": round(entry["seconds"], 2),
        "rows": sum(entry["rows"].values()),
        "requests": sum(usage["requests"] for usage in api.values()),
        "rate_wait_s": round(sum(usage["rate_wait_s"] for usage in api.values()), 2),
    }


def bench_round(env: dict[str, str], work: Path, rates: str) -> dict[str, Any]:
    if rates == "lifted":
        env = {**env, "SALESFORCE_MAX_RPS": LIFTED_RPS, "PROPERTYWARE_MAX_RPS": LIFTED_RPS,
               "SERVICEFUSION_MAX_RPS": LIFTED_RPS}
    one_by_one: dict[str, dict[str, Any]] = {}
    mode_env = fresh_warehouse(env, work, f"bench_{rates}_one_by_one")
    for source in SOURCES:
        measured = run(mode_env, work, f"{rates}-{source}", source)
        one_by_one[source] = {
            "wall_seconds": round(measured["seconds"], 2),
            "peak_mib": round(measured["peak_mib"], 1),
            **_source_figures(measured["sources"][source]),
        }
    sequential = run(fresh_warehouse(env, work, f"bench_{rates}_workers1"), work,
                     f"{rates}-workers1", "all", "--workers", "1")
    parallel = run(fresh_warehouse(env, work, f"bench_{rates}_parallel"), work,
                   f"{rates}-parallel", "all")
    in_parallel = {name: _source_figures(entry) for name, entry in parallel["sources"].items()}
    if set(in_parallel) != set(SOURCES):
        raise RuntimeError(f"`all` ran {sorted(in_parallel)}, expected {sorted(SOURCES)}")
    rows_alone = {name: figures["rows"] for name, figures in one_by_one.items()}
    rows_at_once = {name: figures["rows"] for name, figures in in_parallel.items()}
    if rows_alone != rows_at_once:
        raise RuntimeError(f"rows differ: one by one {rows_alone}, at once {rows_at_once}")
    total = sum(figures["wall_seconds"] for figures in one_by_one.values())
    slowest = max(in_parallel, key=lambda name: in_parallel[name]["seconds"])
    return {
        "rates": rates,
        "rows": sum(rows_alone.values()),
        "sum_one_by_one_seconds": round(total, 2),
        "all_workers_1_seconds": round(sequential["seconds"], 2),
        "all_parallel_seconds": round(parallel["seconds"], 2),
        "all_parallel_peak_mib": round(parallel["peak_mib"], 1),
        "all_workers_1_peak_mib": round(sequential["peak_mib"], 1),
        "speedup_vs_sum": round(total / parallel["seconds"], 2),
        "speedup_vs_workers_1": round(sequential["seconds"] / parallel["seconds"], 2),
        "slowest_source_in_parallel": slowest,
        "slowest_source_seconds": in_parallel[slowest]["seconds"],
        "one_by_one": one_by_one,
        "in_parallel": in_parallel,
    }


def write_results(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "parallel_extract.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"# Parallel extraction ({results['when']})", "",
        f"Machine: {results['machine']}. Data: {results['data']}.", "",
        "Each mode is a first load of all six sources into an empty warehouse database.",
        "", "| rates | rows | sum of `extract <source>` one by one | `all --workers 1` | "
        "`all` (at once) | at once vs sum | at once vs workers 1 | slowest source at once | "
        "peak MiB at once / workers 1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for figures in results["rounds"]:
        lines.append(
            f"| {figures['rates']} | {figures['rows']} | {figures['sum_one_by_one_seconds']} s"
            f" | {figures['all_workers_1_seconds']} s | {figures['all_parallel_seconds']} s"
            f" | {figures['speedup_vs_sum']}x | {figures['speedup_vs_workers_1']}x"
            f" | {figures['slowest_source_in_parallel']} "
            f"{figures['slowest_source_seconds']} s"
            f" | {figures['all_parallel_peak_mib']} / {figures['all_workers_1_peak_mib']} |"
        )
    for figures in results["rounds"]:
        lines += [
            "", f"## Per source, rates {figures['rates']}", "",
            "| source | rows | alone: wall s | alone: source s | at once: source s | "
            "requests | rate-limit wait s (alone / at once) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for source in SOURCES:
            alone, together = figures["one_by_one"][source], figures["in_parallel"][source]
            lines.append(
                f"| {source} | {alone['rows']} | {alone['wall_seconds']} | {alone['seconds']}"
                f" | {together['seconds']} | {alone['requests']} | {alone['rate_wait_s']} /"
                f" {together['rate_wait_s']} |"
            )
    lines += ["", results["note"], ""]
    (RESULTS / "parallel_extract.md").write_text("\n".join(lines))


NOTE = (
    "\"alone: wall s\" is the whole command (interpreter start, imports, the source's "
    "own run); \"source s\" is the source's own run as its report gives it. At the "
    "documented rates the API sources spend most of their time waiting on their client-"
    "side rate limit, so `all` at once cannot end before the slowest of them: the gain "
    "is the other sources' time hidden behind it, not a faster API."
)


@app.command()
def main(
    properties: Annotated[int, typer.Option(help="RDS properties (and Salesforce state)")] = 600,
    buildings: Annotated[int, typer.Option(help="PropertyWare buildings")] = 20,
    rows: Annotated[int, typer.Option(help="dispatch rows")] = 5000,
    rates: Annotated[
        list[str] | None,
        typer.Option(help="rounds: documented (the default rates), lifted (1000/s)"),
    ] = None,
) -> None:
    """Run the rounds on a stack of their own and write the figures."""
    rounds = rates or ["documented", "lifted"]
    base = Path(tempfile.mkdtemp(prefix="propsync-bench-parallel-"))
    env = stack_env(base)
    # The rates under test are the documented ones unless a round lifts them.
    for name in ("SALESFORCE_MAX_RPS", "PROPERTYWARE_MAX_RPS", "SERVICEFUSION_MAX_RPS"):
        env.pop(name, None)
    try:
        seed(env, properties, buildings, rows)
        results: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}",
            "data": f"--properties {properties}, --buildings {buildings}, --rows {rows}",
            "note": NOTE,
            "rounds": [],
        }
        for chosen in rounds:
            if chosen not in ("documented", "lifted"):
                raise typer.BadParameter(f"unknown rates {chosen!r}")
            if chosen == "lifted":
                # The simulator's own limit (60 a minute per token) would bind instead.
                ServiceFusionAdmin(env["SERVICEFUSION_BASE_URL"], env["REQUESTS_CA_BUNDLE"]
                                   ).configure(rate_limit=100000, rate_window_s=60)
            results["rounds"].append(bench_round(env, base, chosen))
    finally:
        subprocess.run([sys.executable, "-m", "sandbox", "down"], cwd=ROOT, env=env,
                       check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    write_results(results)
    table = Table("rates", "sum one by one", "all --workers 1", "all at once", "vs sum",
                  "slowest at once")
    for figures in results["rounds"]:
        table.add_row(
            figures["rates"], f"{figures['sum_one_by_one_seconds']} s",
            f"{figures['all_workers_1_seconds']} s", f"{figures['all_parallel_seconds']} s",
            f"{figures['speedup_vs_sum']}x",
            f"{figures['slowest_source_in_parallel']} {figures['slowest_source_seconds']} s",
        )
    console.print(table)
    console.print(f"written to {RESULTS / 'parallel_extract.md'}")


if __name__ == "__main__":
    app()
