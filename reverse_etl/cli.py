"""`reverse-etl`: push, syncs, runs, health, quality.

Every expected failure ends as one line on stderr and an exit code of
docs/commands.md: 0 success, 1 some records rejected, 2 bad usage or configuration,
3 service unreachable or pass aborted, 4 blocked by a safety check, 10/11/12 health
alert P2/P1/P0. Unexpected errors keep their traceback, but without local
variables, which could hold a secret.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from enum import StrEnum
from typing import Any, NoReturn

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from common.redaction import redact, register_secrets
from common.settings import ConfigurationError, Settings, load_settings
from reverse_etl import registry
from reverse_etl.destinations import build_destination
from reverse_etl.engine import RunResult, run_pass
from reverse_etl.ledger import Ledger
from reverse_etl.observer import ConsoleObserver
from reverse_etl.warehouse import connect, relation_exists

app = typer.Typer(
    name="reverse-etl",
    help="Push dbt sync views to destinations, safely and on the record.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

out = Console()
err = Console(stderr=True)

HEALTH_VIEW = "monitoring.sync_monitoring_dashboard"
# The columns `reverse-etl health` shows, when the dashboard has them.
HEALTH_COLUMNS = (
    "sync_name",
    "alert_level",
    "alert_reasons",
    "queue_size",
    "last_run_status",
    "last_run_finished_at",
    "last_run_error_rate",
    "outstanding_rejections",
)
ALERT_EXIT_CODES = {"OK": 0, "P2": 10, "P1": 11, "P0": 12}


class PassChoice(StrEnum):
    create = "create"
    update = "update"


def fail(message: str, code: int) -> NoReturn:
    err.print(f"error: {redact(message)}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def expected_failures() -> Iterator[None]:
    """Turn the errors we know into one line and their exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except ConfigurationError as error:
        fail(str(error), 2)
    except psycopg.OperationalError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        fail(f"the warehouse stopped answering: {first}", 3)
    except Exception as error:
        code = getattr(error, "exit_code", None)
        if isinstance(code, int):
            fail(str(error), code)
        raise


def _settings() -> Settings:
    settings = load_settings()
    register_secrets(settings)
    return settings


@app.command()
def push(
    destination: str = typer.Argument(
        ..., help="a destination of the registry (`reverse-etl syncs` lists them)"
    ),
    pass_name: PassChoice = typer.Option(..., "--pass", help="create or update"),
    objects: list[str] | None = typer.Option(
        None, "--object", help="only this object or entity (repeatable); default: all"
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="record and print what would be sent; send nothing"
    ),
    retry_rejected: bool = typer.Option(
        False, "--retry-rejected", help="send again rows rejected before with the same payload"
    ),
    skip_gate: bool = typer.Option(
        False, "--skip-gate", help="push without the data-quality gate (recorded in the run)"
    ),
) -> None:
    """Run one pass of a destination: each of its syncs, in registry order."""
    results: list[RunResult] = []
    with expected_failures():
        syncs = registry.select(destination, pass_name.value, objects)
        settings = _settings()
        dry_run = dry_run or settings.safety.dry_run
        with connect(settings) as conn:
            ledger = Ledger(conn)
            observer = ConsoleObserver(out)
            for sync in syncs:
                target = build_destination(sync, settings, require_credentials=not dry_run)
                try:
                    result = run_pass(
                        settings,
                        ledger,
                        target,
                        sync,
                        dry_run=dry_run,
                        retry_rejected=retry_rejected,
                        skip_gate=skip_gate,
                        observer=observer,
                    )
                finally:
                    target.close()
                results.append(result)
                if result.exit_code not in (0, 1):
                    break  # a later sync may depend on this one's records
    worst = next((r for r in results if r.exit_code not in (0, 1)), None)
    if worst is not None:
        # The observer printed the whole story; stderr gets its first line.
        fail((worst.error or f"pass {worst.status}").splitlines()[0], worst.exit_code)
    rejected = sum(r.counts.rejected for r in results)
    if rejected:
        err.print(
            f"{rejected} record(s) rejected by this run: see `reverse-etl rejected`",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1)
    raise typer.Exit(0)


@app.command()
def syncs() -> None:
    """The registered syncs: destination, object, pass, sync view, key, caps, gate."""
    with expected_failures():
        settings = _settings()
    table = Table(title=f"{len(registry.SYNCS)} registered sync(s)", header_style="bold")
    for column in ("sync", "object", "sync view", "key", "batch", "cap", "gate"):
        table.add_column(column, overflow="fold")
    for sync in registry.SYNCS:
        cap = str(sync.max_rows_for(settings))
        if sync.max_share is not None:
            cap += f" / {sync.max_share:g}x records"
        table.add_row(
            sync.name,
            sync.object_name,
            sync.view,
            sync.key,
            str(sync.batch_size),
            cap if settings.safety.safe_mode else "off",
            sync.gate or f"none: {sync.no_gate_reason}",
        )
    out.print(table)


@app.command()
def runs(
    limit: int = typer.Option(20, "--limit", min=1, help="how many runs, newest first"),
) -> None:
    """Past runs with their counts."""
    with expected_failures():
        settings = _settings()
        with connect(settings) as conn:
            ledger = Ledger(conn)
            if not ledger.exists():
                out.print("no runs recorded yet (the ledger is created by the first push)")
                return
            rows = ledger.recent_runs(limit)
    table = Table(title=f"last {len(rows)} run(s)", header_style="bold")
    for column, justify in (
        ("run id", "left"),
        ("started (UTC)", "left"),
        ("sync", "left"),
        ("mode", "left"),
        ("status", "left"),
        ("rows", "right"),
        ("created", "right"),
        ("updated", "right"),
        ("present", "right"),
        ("rejected", "right"),
        ("skipped", "right"),
        ("would", "right"),
        ("not sent", "right"),
        ("requests", "right"),
        ("seconds", "right"),
        ("error", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*_run_cells(row))
    out.print(table)


def _run_cells(row: dict[str, Any]) -> list[str]:
    started = row["started_at"]
    finished = row["finished_at"]
    seconds = f"{(finished - started).total_seconds():.1f}" if finished else "-"
    error = (row["error"] or "").splitlines()[0] if row["error"] else ""
    return [
        str(row["run_id"]),
        started.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if started else "",
        row.get("sync_name") or f"{row['destination']} {row['pass']}",
        "dry run" if row["dry_run"] else "real",
        row["status"],
        str(row["rows_in_view"]),
        str(row["created"]),
        str(row["updated"]),
        str(row["already_present"]),
        str(row["rejected"]),
        str(row["skipped"]),
        str(row["would_create"] + row["would_update"]),
        str(row["not_sent"]),
        str(row["api_requests"]),
        seconds,
        error[:80],
    ]


@app.command()
def rejected(
    sync_name: str | None = typer.Option(
        None, "--sync", help="only this sync (`reverse-etl syncs` lists them)"
    ),
) -> None:
    """Records rejected and not accepted since, with code, message and fields."""
    with expected_failures():
        if sync_name is not None:
            registry.by_name(sync_name)
        settings = _settings()
        with connect(settings) as conn:
            ledger = Ledger(conn)
            rows = ledger.outstanding_rejections(sync_name) if ledger.exists() else []
    if not rows:
        out.print("no outstanding rejections" + (f" for {sync_name}" if sync_name else ""))
        return
    table = Table(title=f"{len(rows)} outstanding rejection(s)", header_style="bold")
    for column in ("sync", "key", "code", "fields", "message", "rejected (UTC)"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["sync_name"],
            row["sync_key"],
            row["error_code"],
            row["error_fields"] or "",
            redact(row["error_message"] or ""),
            row["rejected_at"].astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        )
    out.print(table)
    out.print(
        "A record is sent again once its payload changes (fix the source), or with "
        "`reverse-etl push ... --retry-rejected`."
    )


@app.command()
def health() -> None:
    """The current alert level of each registered sync; the exit code says the worst."""
    with expected_failures():
        settings = _settings()
        with connect(settings) as conn:
            if not relation_exists(conn, HEALTH_VIEW):
                fail(f"{HEALTH_VIEW} does not exist: run `dbt build` first", 2)
            cursor = conn.execute(f"select * from {HEALTH_VIEW}")
            columns = [column.name for column in cursor.description or []]
            records = cursor.fetchall()
    for needed in ("sync_name", "alert_level"):
        if needed not in columns:
            fail(f"{HEALTH_VIEW} has no {needed} column: run `dbt build`", 2)
    rows = {row["sync_name"]: row for row in (dict(zip(columns, r, strict=True)) for r in records)}
    missing = [sync.name for sync in registry.SYNCS if sync.name not in rows]
    if missing:
        fail(f"{HEALTH_VIEW} has no row for {', '.join(missing)}: run `dbt build`", 2)
    shown = [c for c in HEALTH_COLUMNS if c in columns]
    table = Table(title="sync health", header_style="bold")
    for column in shown:
        table.add_column(column, overflow="fold")
    worst = "OK"
    for sync in registry.SYNCS:
        row = rows[sync.name]
        level = str(row["alert_level"] or "").upper()
        if level not in ALERT_EXIT_CODES:
            fail(f"unexpected alert_level {row['alert_level']!r} for {sync.name}", 2)
        if ALERT_EXIT_CODES[level] > ALERT_EXIT_CODES[worst]:
            worst = level
        table.add_row(*("" if row[c] is None else str(row[c]) for c in shown))
    out.print(table)
    out.print(f"alert level: {worst}")
    raise typer.Exit(ALERT_EXIT_CODES[worst])


@app.command()
def revert(
    run_id: str = typer.Argument(..., help="the run to undo (`reverse-etl runs` shows ids)"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="read the destination and show what would be restored"
    ),
) -> None:
    """Undo an update run, field by field, where the destination still holds its values."""
    from reverse_etl.revert import RevertError, revert_run, run_to_revert

    with expected_failures():
        try:
            wanted = uuid.UUID(run_id)
        except ValueError:
            raise RevertError(f"not a run id: {run_id!r}") from None
        settings = _settings()
        with connect(settings) as conn:
            ledger = Ledger(conn)
            if not ledger.exists():
                raise RevertError("no runs recorded yet: nothing to revert")
            run, sync = run_to_revert(ledger, wanted)
            target = None
            if run["pass"] == "update":
                # Even a dry run reads the destination: the plan depends on what it holds.
                target = build_destination(sync, settings, require_credentials=True)
            try:
                outcome = revert_run(
                    settings,
                    ledger,
                    wanted,
                    target,
                    dry_run=dry_run or settings.safety.dry_run,
                    observer=ConsoleObserver(out),
                )
            finally:
                if target is not None:
                    target.close()
    if outcome.result is None:
        created = outcome.plan.created
        out.print(
            f"run {wanted} was a create pass of {sync.name}: creates are not deleted. "
            f"It created {len(created)} record(s):",
            markup=False,
            highlight=False,
        )
        for key, record_id in created:
            out.print(f"  {record_id or '-'}  {key}", markup=False, highlight=False)
        raise typer.Exit(0)
    result = outcome.result
    conflicts = outcome.plan.conflicts
    if conflicts:
        out.print(
            f"{len(conflicts)} field(s) changed since run {wanted} and were not reverted:",
            markup=False,
        )
        for conflict in conflicts:
            out.print(f"  {conflict.describe()}", markup=False, highlight=False, soft_wrap=True)
    if result.exit_code not in (0, 1):
        fail((result.error or f"revert {result.status}").splitlines()[0], result.exit_code)
    raise typer.Exit(result.exit_code)


quality_app = typer.Typer(
    help="The data-quality gate (Great Expectations) run before every real push.",
    no_args_is_help=True,
)
app.add_typer(quality_app, name="quality")


@quality_app.command("check")
def quality_check(
    destination: str = typer.Argument(..., help="salesforce"),
    pass_name: PassChoice = typer.Option(..., "--pass", help="create or update"),
) -> None:
    """Run the gate of one pass and print its report (exit 0 passed, 4 blocked)."""
    from reverse_etl.quality import check_command

    raise typer.Exit(check_command(destination, pass_name.value))


@quality_app.command("docs")
def quality_docs() -> None:
    """Rebuild the Data Docs site from the stored gate results."""
    from reverse_etl.quality import build_data_docs

    with expected_failures():
        index = build_data_docs(_settings())
    out.print(f"Data Docs: {index}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
