"""The legacy dispatch -> Supabase part of `make demo`.

A modest legacy database (every quirk: text prices with garbage, orphans) and a
Supabase target half-migrated by the "initial migration" (random uuids to keep, rows
the new app has edited since) are generated once; then the user's commands run:
`python -m extract dispatch supabase`, `dbt build --selector dispatch`, the create
pass as a dry run and for real, and the update pass (which validates). The summary
per table: created and updated (the ledger's runs of this demo), unchanged, rejected
with reasons, conflicts and the validation verdict (monitoring.dispatch_sync_summary).

Like the other demo modules, this one runs the product's commands and reads the
warehouse; it imports no product code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row
from rich.console import Console
from rich.table import Table

RunStep = Callable[..., int]
DEMO_ROWS = 20_000
# The update pass exits 5 when the validation fails: the summary shows which check.
PUSH_OK_CODES = (0, 1, 5)


def _target_is_empty(supabase_dsn: str) -> bool:
    with psycopg.connect(supabase_dsn) as conn:
        row = conn.execute("select to_regclass('public.operations') is null").fetchone()
        if row and row[0]:
            return True
        count = conn.execute("select count(*) from public.offices").fetchone()
        return not count or count[0] == 0


def _written(warehouse_dsn: str, since: float) -> dict[str, dict[str, int]]:
    with psycopg.connect(warehouse_dsn, row_factory=dict_row) as conn:
        rows = conn.execute(
            "select object_name, sum(created) as created, sum(updated) as updated "
            "from reverse_etl.sync_runs where destination = 'supabase' and not dry_run "
            "and started_at >= to_timestamp(%s) group by object_name",
            (since,),
        ).fetchall()
    return {row["object_name"]: row for row in rows}


def _summary(warehouse_dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(warehouse_dsn, row_factory=dict_row) as conn:
        present = conn.execute(
            "select to_regclass('monitoring.dispatch_sync_summary') is not null as ok"
        ).fetchone()
        if not present or not present["ok"]:
            return []
        return conn.execute(
            "select * from monitoring.dispatch_sync_summary order by push_order"
        ).fetchall()


def run_dispatch_demo(
    run_step: RunStep, console: Console, *, python: str, dbt: str, reverse_etl: str,
    env: dict[str, str], warehouse_dsn: str, seed: int,
) -> None:
    if _target_is_empty(env["SUPABASE_DATABASE_URL"]):
        run_step(
            "seed the legacy dispatch database and a half-migrated Supabase",
            [python, "-m", "sandbox", "seed", "dispatch", "--rows", str(DEMO_ROWS),
             "--seed", str(seed), "--migrated-share", "0.5", "--app-edit-share", "0.05"],
        )
    else:
        console.print("dispatch data: kept from an earlier run")
    since = time.time()
    run_step("extract dispatch and read Supabase back",
             [python, "-m", "extract", "dispatch", "supabase"])
    run_step("dbt build (dispatch)", [dbt, "build", "--selector", "dispatch", "--quiet"])
    push = [reverse_etl, "push", "supabase"]
    run_step("Supabase create pass, dry run", [*push, "--pass", "create", "--dry-run"],
             PUSH_OK_CODES)
    run_step("Supabase create pass", [*push, "--pass", "create"], PUSH_OK_CODES)
    run_step("Supabase update pass, then the validation", [*push, "--pass", "update"],
             PUSH_OK_CODES)

    written = _written(warehouse_dsn, since)
    table = Table(title="legacy dispatch -> Supabase, per table (this run)")
    for column in ("table", "created", "updated", "unchanged", "rejected (reasons)",
                   "conflicts (held)", "verdict"):
        table.add_column(column, justify="left" if column in ("table", "verdict") else "right")
    for row in _summary(warehouse_dsn):
        done = written.get(row["entity"], {})
        reasons = f" ({row['rejected_by_reason']})" if row.get("rejected_by_reason") else ""
        table.add_row(
            str(row["entity"]),
            str(done.get("created") or 0),
            str(done.get("updated") or 0),
            str(row["unchanged"]),
            f"{row['rejected']}{reasons}",
            f"{row['conflicts']} ({row['conflicts_held']})",
            str(row["verdict"]),
        )
    console.print(table)
    console.print(
        "Next: `select * from marts.dispatch_rejected_records`, "
        "`select * from marts.sync_conflicts`, `select * from monitoring.dispatch_validation`."
    )
