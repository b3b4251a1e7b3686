"""`make demo`: the RDS -> Salesforce slice end to end on the embedded stack, then
the PropertyWare <-> ServiceFusion chain (sandbox/demo_workorders.py), then the legacy
dispatch -> Supabase sync (sandbox/demo_dispatch.py).

It runs the same commands a user types (`python -m extract`, `dbt build`,
`reverse-etl push`), so the demo proves the product, not a shortcut around it,
and ends with one summary table. Safe to run twice: the data is seeded only
into an empty stack, and the second run must report zero writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import typer
from psycopg.rows import dict_row
from rich.console import Console
from rich.table import Table

from sandbox.salesforce_admin import SalesforceAdmin
from sandbox.stack import PROJECT_ROOT, SandboxStack, read_env_file, stack_env, warehouse_dsn

# Piped output (CI, a log file) would fold the summary tables to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 130)
app = typer.Typer(add_completion=False, invoke_without_command=True)

# Exit 1 from a push means "finished, some records rejected": the demo data holds
# a few rows Salesforce refuses on purpose, so that is an expected outcome here.
PUSH_OK_CODES = (0, 1)


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def run_step(title: str, command: list[str], ok_codes: tuple[int, ...] = (0,)) -> int:
    console.rule(f"[bold]{title}[/bold]  [dim]{' '.join(command)}[/dim]")
    started = time.monotonic()
    result = subprocess.run(command, cwd=PROJECT_ROOT, check=False)
    elapsed = time.monotonic() - started
    if result.returncode not in ok_codes:
        console.print(
            f"[red]step failed ({result.returncode}) after {elapsed:.1f} s:[/red] {title}"
        )
        raise typer.Exit(result.returncode or 1)
    console.print(f"[dim]{title}: exit {result.returncode} in {elapsed:.1f} s[/dim]")
    return result.returncode


def _load_stack_env() -> None:
    """Make the stack's variables visible to the child commands (real ones win)."""
    for key, value in read_env_file(SandboxStack.default().env_file).items():
        os.environ.setdefault(key, value)


# -- seeding -----------------------------------------------------------------


def seed_demo_data(properties: int, seed: int) -> tuple[bool, bool]:
    """RDS source and today's Salesforce state, each only where still empty."""
    from sandbox.generate.rds import generate_rds, initial_salesforce_records

    env = stack_env()
    if not env.get("RDS_DATABASE_URL"):
        raise typer.BadParameter("RDS_DATABASE_URL is not set; run `python -m sandbox up` first")
    rds_dsn = env["RDS_DATABASE_URL"]
    seeded_rds = False
    if not _rds_has_data(rds_dsn):
        generate_rds(rds_dsn, properties=properties, seed=seed)
        seeded_rds = True
    admin = SalesforceAdmin.from_env(env)
    seeded_salesforce = False
    if admin.record_count() == 0:
        admin.load_records(initial_salesforce_records(rds_dsn, seed=seed))
        seeded_salesforce = True
    return seeded_rds, seeded_salesforce


def _rds_has_data(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        exists = conn.execute("select to_regclass('public.properties') is not null").fetchone()
        if not exists or not exists[0]:
            return False
        row = conn.execute("select count(*) from public.properties").fetchone()
        return bool(row and row[0])


# -- the Salesforce workflow this project does not own -----------------------


def run_salesforce_workflow(warehouse_dsn: str, admin: SalesforceAdmin) -> int:
    """Imitate the Salesforce flow that links new staging records to production.

    In a real org a Salesforce workflow fills `SF_Property_ID__c` after a create;
    the simulator exposes that as an admin call. The link is the RDS `sfdc_id` of
    the record's property, which is what the real workflow resolves.
    """
    with psycopg.connect(warehouse_dsn) as conn:
        rows = conn.execute(
            """
            select r.payload ->> 'Snappt_Property_ID__c', p.sfdc_id
            from "reverse_etl".sync_records as r
            inner join raw_rds.properties as p
                on p.id::text = r.payload ->> 'Snappt_Property_ID__c'
            where r.destination = 'salesforce' and r.pass = 'create'
              and r.outcome in ('created', 'already_present') and p.sfdc_id is not null
            """
        ).fetchall()
    links = {snappt_id: sfdc_id for snappt_id, sfdc_id in rows}
    if links:
        admin.link(links)
    return len(links)


# -- the summary -------------------------------------------------------------


def read_dashboard(warehouse_dsn: str) -> dict[str, Any]:
    """The slice's figures and each sync's alert level (`alert <sync name>`)."""
    with psycopg.connect(warehouse_dsn, row_factory=dict_row) as conn:
        row = conn.execute("select * from monitoring.salesforce_property_sync_health").fetchone()
        levels = conn.execute(
            "select sync_name, alert_level, alert_reasons "
            "from monitoring.sync_monitoring_dashboard order by sync_name"
        ).fetchall()
    figures = dict(row or {})
    for level in levels:
        reason = f" ({level['alert_reasons']})" if level["alert_reasons"] else ""
        figures[f"alert {level['sync_name']}"] = f"{level['alert_level']}{reason}"
    return figures


# The demo reads the pusher's ledger as what it is to the sandbox: public tables of
# the warehouse (docs/warehouse.md), never the pusher's code. The schema name is
# quoted so that it cannot be mistaken for a Python import of the package.


def read_runs(warehouse_dsn: str, since: float) -> list[dict[str, Any]]:
    with psycopg.connect(warehouse_dsn, row_factory=dict_row) as conn:
        return conn.execute(
            """
            select pass, dry_run, status, rows_in_view, created, updated, already_present,
                   rejected, skipped, api_requests
            from "reverse_etl".sync_runs
            where destination = 'salesforce' and started_at >= to_timestamp(%s)
            order by started_at
            """,
            (since,),
        ).fetchall()


def _percent(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f} %"


def print_summary(
    runs: list[dict[str, Any]],
    before: dict[str, Any],
    after: dict[str, Any],
    write_requests: int,
    all_requests: int,
) -> None:
    table = Table(title="RDS -> Salesforce: this demo run", show_lines=False)
    for column in ("pass", "mode", "status", "in view", "created", "updated",
                   "already present", "rejected", "skipped", "API requests"):
        numeric = column not in ("pass", "mode", "status")
        table.add_column(column, justify="right" if numeric else "left")
    for run in runs:
        table.add_row(
            run["pass"], "dry-run" if run["dry_run"] else "real", run["status"],
            str(run["rows_in_view"]), str(run["created"]), str(run["updated"]),
            str(run["already_present"]), str(run["rejected"]), str(run["skipped"]),
            str(run["api_requests"]),
        )
    console.print(table)

    health = Table(title="Salesforce health (monitoring models)")
    health.add_column("figure")
    health.add_column("before", justify="right")
    health.add_column("after", justify="right")
    figures = [
        ("feature accuracy", "feature_accuracy", _percent),
        ("active groups missing", "active_groups_missing", str),
        ("P1 missing (features on)", "p1_missing", str),
        ("create queue", "create_queue_size", str),
        ("update queue", "update_queue_size", str),
        ("unchanged matched records", "matched_records_in_sync", str),
        ("multi-property groups", "multi_property_groups", str),
        *(
            (key.removeprefix("alert "), key, str)
            for key in sorted({*before, *after})
            if key.startswith("alert ")
        ),
    ]
    for label, key, fmt in figures:
        health.add_row(label, fmt(before.get(key)), fmt(after.get(key)))
    console.print(health)
    console.print(
        f"Salesforce API requests this run: {all_requests} in all, {write_requests} writes "
        "(simulator request log)."
    )
    console.print(
        "\nNext: `reverse-etl runs` (every pass), `reverse-etl rejected` (records refused), "
        "`reverse-etl health` (alert level per sync), `make docs` (lineage), "
        "`make down` (stop the stack)."
    )


@app.callback()
def main(
    ctx: typer.Context,
    properties: int = typer.Option(3000, help="RDS properties to generate on the first run."),
    buildings: int = typer.Option(20, help="PropertyWare buildings to generate on the first run."),
    seed: int = typer.Option(7, help="Random seed of the generated data."),
) -> None:
    """Run the whole demo (default), or only seed the stack with `seed`."""
    if ctx.invoked_subcommand is not None:
        return
    python = sys.executable
    run_step("start the embedded stack", [python, "-m", "sandbox", "up"])
    _load_stack_env()
    env = stack_env()
    warehouse = warehouse_dsn(env)
    admin = SalesforceAdmin.from_env(env)

    seeded_rds, seeded_salesforce = seed_demo_data(properties, seed)
    console.print(
        f"demo data: RDS {'generated' if seeded_rds else 'kept from an earlier run'}, "
        f"Salesforce {'loaded with the current state' if seeded_salesforce else 'kept as it is'}"
    )
    since = time.time()
    log_mark = admin.request_count()

    run_step("extract RDS and read Salesforce back", [python, "-m", "extract", "rds", "salesforce"])
    run_step("dbt build", [_bin("dbt"), "build", "--quiet"])
    before = read_dashboard(warehouse)

    push = [_bin("reverse-etl"), "push", "salesforce"]
    run_step("create pass, dry run", [*push, "--pass", "create", "--dry-run"], PUSH_OK_CODES)
    run_step("update pass, dry run", [*push, "--pass", "update", "--dry-run"], PUSH_OK_CODES)
    run_step("create pass", [*push, "--pass", "create"], PUSH_OK_CODES)
    run_step("update pass", [*push, "--pass", "update"], PUSH_OK_CODES)
    linked = run_salesforce_workflow(warehouse, admin)
    console.print(f"Salesforce workflow (simulated): linked {linked} staging records to production")

    run_step("read Salesforce back", [python, "-m", "extract", "salesforce"])
    run_step("dbt build", [_bin("dbt"), "build", "--quiet"])
    after = read_dashboard(warehouse)

    run_step("data docs", [python, "-m", "reverse_etl", "quality", "docs"])
    requests_log = admin.requests(since_index=log_mark)
    writes = sum(1 for entry in requests_log if entry["method"] in ("POST", "PATCH")
                 and "/composite/sobjects" in entry["path"])
    print_summary(read_runs(warehouse, since), before, after, writes, len(requests_log))

    from sandbox.demo_workorders import run_workorders_demo

    console.rule("[bold]PropertyWare <-> ServiceFusion[/bold]")
    run_workorders_demo(
        run_step, console, python=python, reverse_etl=_bin("reverse-etl"), env=stack_env(),
        warehouse_dsn=warehouse, buildings=buildings, seed=seed,
    )

    from sandbox.demo_dispatch import run_dispatch_demo

    console.rule("[bold]legacy dispatch -> Supabase[/bold]")
    run_dispatch_demo(
        run_step, console, python=python, dbt=_bin("dbt"), reverse_etl=_bin("reverse-etl"),
        env=stack_env(), warehouse_dsn=warehouse, seed=seed,
    )


@app.command("seed")
def seed_command(
    properties: int = typer.Option(3000, help="RDS properties to generate."),
    seed: int = typer.Option(7, help="Random seed of the generated data."),
) -> None:
    """Seed the RDS source and today's Salesforce state where they are empty."""
    seeded_rds, seeded_salesforce = seed_demo_data(properties, seed)
    console.print(f"seeded RDS: {seeded_rds}, seeded Salesforce: {seeded_salesforce}")


if __name__ == "__main__":
    app()
