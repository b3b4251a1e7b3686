"""`make demo`, second part: the PropertyWare <-> ServiceFusion chain on the simulators.

Like the first part it runs the commands a user types: `python -m sandbox seed
workorders` (only into empty simulators), `reverse-etl sync workorders --dry-run`,
`reverse-etl sync workorders`, then two technician updates in ServiceFusion (what a
dispatcher's day brings) and the chain once more, which writes exactly those two
statuses back to PropertyWare. The summary counts the writes each simulator
logged, so it shows the product's effect from the outside.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row
from rich.console import Console
from rich.table import Table

from sandbox.propertyware_admin import PropertyWareAdmin
from sandbox.servicefusion_admin import ServiceFusionAdmin

# Exit 1 = finished with rejected records: the demo data holds a few on purpose
# (a tenant phone ServiceFusion refuses, names cut to fit).
CHAIN_OK_CODES = (0, 1)
TECHNICIAN_STATUSES = ("On Site", "Completed")

RunStep = Callable[..., int]


def _base_url(wsdl_url: str) -> str:
    parts = urlsplit(wsdl_url)
    return f"{parts.scheme}://{parts.netloc}"


def admins(env: dict[str, str]) -> tuple[PropertyWareAdmin, ServiceFusionAdmin]:
    ca = env.get("REQUESTS_CA_BUNDLE")
    return (
        PropertyWareAdmin(_base_url(env["PROPERTYWARE_WSDL_URL"]), ca),
        ServiceFusionAdmin(env["SERVICEFUSION_BASE_URL"], ca),
    )


def _writes(pw_log: list[dict[str, Any]], sf_log: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "ServiceFusion customers created": sum(
            1 for e in sf_log if e.get("method") == "POST" and
            str(e.get("path", "")).rstrip("/").endswith("/customers")
        ),
        "ServiceFusion jobs created": sum(
            1 for e in sf_log if e.get("method") == "POST" and
            str(e.get("path", "")).rstrip("/").endswith("/jobs")
        ),
        "PropertyWare work orders updated": sum(
            1 for e in pw_log if e.get("operation") == "updateWorkOrder"
        ),
        "ServiceFusion requests": len(sf_log),
        "PropertyWare requests": len(pw_log),
    }


def _created_jobs(warehouse_dsn: str) -> list[int]:
    """The ids of the jobs the chain created, oldest first (the ledger says which)."""
    with psycopg.connect(warehouse_dsn) as conn:
        rows = conn.execute(
            """
            select distinct r.record_id::bigint
            from "reverse_etl".sync_records as r
            inner join "reverse_etl".sync_runs as s on s.run_id = r.run_id
            where s.sync_name = 'servicefusion.jobs.create' and r.outcome = 'created'
              and r.record_id is not null
            order by 1
            """
        ).fetchall()
    return [int(row[0]) for row in rows]


def technician_updates(warehouse_dsn: str, sf: ServiceFusionAdmin) -> list[str]:
    """Move the first two jobs the chain created on, as technicians would; a job
    already at its status (a second demo run) is left alone."""
    changed = []
    jobs = {int(job["id"]): job for job in sf.jobs()}
    for job_id, status in zip(_created_jobs(warehouse_dsn), TECHNICIAN_STATUSES, strict=False):
        if jobs.get(job_id, {}).get("status") != status:
            sf.set_job_status(job_id, status)
            changed.append(f"job {job_id} -> {status}")
    return changed


def read_metrics(warehouse_dsn: str) -> list[dict[str, Any]]:
    """The rows of monitoring.workorder_sync_metrics (one per metric and entity)."""
    with psycopg.connect(warehouse_dsn, row_factory=dict_row) as conn:
        exists = conn.execute(
            "select to_regclass('monitoring.workorder_sync_metrics') is not null as present"
        ).fetchone()
        if not exists or not exists["present"]:
            return []
        return list(conn.execute(
            "select * from monitoring.workorder_sync_metrics order by metric_id"
        ).fetchall())


def _figure(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float) or hasattr(value, "as_integer_ratio"):
        number = float(value)
        return f"{number:.0f}" if number.is_integer() else f"{number:.3f}"
    return str(value)


def run_workorders_demo(
    run_step: RunStep, console: Console, *, python: str, reverse_etl: str,
    env: dict[str, str], warehouse_dsn: str, buildings: int, seed: int,
) -> None:
    pw, sf = admins(env)
    if not any(pw.counts().values()):
        run_step("seed PropertyWare and ServiceFusion (overlapping data)",
                 [python, "-m", "sandbox", "seed", "workorders", "--buildings", str(buildings),
                  "--seed", str(seed)])
    else:
        console.print("work-order data: kept from an earlier run")
    chain = [reverse_etl, "sync", "workorders"]
    rows: list[tuple[str, dict[str, int]]] = []

    def measured(title: str, command: list[str]) -> None:
        pw_mark, sf_mark = pw.request_count(), sf.request_count()
        run_step(title, command, CHAIN_OK_CODES)
        rows.append((title, _writes(pw.requests(since_index=pw_mark),
                                    sf.requests(since_index=sf_mark))))

    measured("work-order chain, dry run", [*chain, "--dry-run"])
    measured("work-order chain", chain)
    changed = technician_updates(warehouse_dsn, sf)
    console.print("technicians (ServiceFusion admin API): "
                  + (", ".join(changed) if changed else "no change (already done)"))
    measured("work-order chain after the technicians' updates", chain)

    table = Table(title="PropertyWare <-> ServiceFusion: what the simulators saw")
    table.add_column("run")
    figures = list(rows[0][1])
    for figure in figures:
        table.add_column(figure, justify="right")
    for title, counts in rows:
        table.add_row(title, *(str(counts[figure]) for figure in figures))
    console.print(table)
    metrics = read_metrics(warehouse_dsn)
    if metrics:
        health = Table(title="work-order monitoring (monitoring.workorder_sync_metrics)")
        for column in ("metric", "value", "of", "target"):
            health.add_column(column, justify="left" if column == "metric" else "right")
        for row in metrics:
            health.add_row(str(row.get("metric_id")), _figure(row.get("metric_value")),
                           _figure(row.get("denominator")), _figure(row.get("target_value")))
        console.print(health)
    console.print(
        "Next: `reverse-etl runs --sync servicefusion.jobs.create`, "
        "`select * from marts.manual_review_queue`, "
        "`select * from marts.servicefusion_drift_report`, "
        "`select * from monitoring.sync_history`."
    )
