"""`reverse-etl`: push, runs, health.

Every expected failure ends as one line on stderr and an exit code of
docs/design.md: 0 success, 1 some records rejected, 2 bad usage or configuration,
3 service unreachable or pass aborted, 4 blocked by a safety check, 10/11/12 health
alert P2/P1/P0. Unexpected errors keep their traceback, but without local
variables, which could hold a secret.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from enum import StrEnum
from typing import Any, NoReturn

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from common.redaction import redact, register_secrets
from common.settings import ConfigurationError, Settings, load_settings
from reverse_etl.destinations import build_destination, check_destination, sync_view
from reverse_etl.engine import default_gate, run_pass
from reverse_etl.ledger import Ledger
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
        ..., help="salesforce (servicefusion, propertyware, supabase: later slices)"
    ),
    pass_name: PassChoice = typer.Option(..., "--pass", help="create or update"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="record and print what would be sent; send nothing"
    ),
    retry_rejected: bool = typer.Option(
        False, "--retry-rejected", help="send again rows rejected before with the same payload"
    ),
) -> None:
    """Run one pass (create or update) of one destination."""
    with expected_failures():
        check_destination(destination)
        settings = _settings()
        dry_run = dry_run or settings.safety.dry_run
        view = sync_view(destination, pass_name.value)
        target = build_destination(destination, settings, require_credentials=not dry_run)
        try:
            with connect(settings) as conn:
                gate = None if dry_run else default_gate()
                if gate is None and not dry_run:
                    out.print("note: the data-quality gate is not installed; pushing without it")
                mode = " (dry run: nothing is sent)" if dry_run else ""
                out.print(
                    f"[bold]{destination} {pass_name.value} pass[/]: {view} -> "
                    f"{target.object_name}{mode}"
                )
                result = run_pass(
                    settings,
                    Ledger(conn),
                    target,
                    pass_name.value,  # type: ignore[arg-type]
                    view,
                    dry_run=dry_run,
                    retry_rejected=retry_rejected,
                    console=out,
                    gate=gate,
                )
        finally:
            target.close()
    if result.exit_code == 1:
        err.print(
            f"{result.counts.rejected + result.counts.skipped} record(s) rejected: "
            "see reverse_etl.rejected_records",
            markup=False,
            highlight=False,
        )
    elif result.exit_code:
        # The engine printed the whole story; stderr gets its first line.
        fail((result.error or f"pass {result.status}").splitlines()[0], result.exit_code)
    raise typer.Exit(result.exit_code)


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
        ("started (UTC)", "left"),
        ("destination", "left"),
        ("pass", "left"),
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
        started.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if started else "",
        row["destination"],
        row["pass"],
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
def health() -> None:
    """The current alert level of the sync monitoring model; the exit code says it."""
    with expected_failures():
        settings = _settings()
        with connect(settings) as conn:
            if not relation_exists(conn, HEALTH_VIEW):
                fail(f"{HEALTH_VIEW} does not exist: run `dbt build` first", 2)
            cursor = conn.execute(f"select * from {HEALTH_VIEW}")
            columns = [column.name for column in cursor.description or []]
            records = cursor.fetchall()
    if "alert_level" not in columns:
        fail(f"{HEALTH_VIEW} has no alert_level column", 2)
    if len(records) != 1:
        fail(f"{HEALTH_VIEW} should hold one row, it holds {len(records)}", 2)
    figures = dict(zip(columns, records[0], strict=True))
    level = str(figures["alert_level"] or "").upper()
    table = Table(title="sync health", header_style="bold")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, "" if value is None else str(value))
    out.print(table)
    if level not in ALERT_EXIT_CODES:
        fail(f"unexpected alert_level {figures['alert_level']!r} in {HEALTH_VIEW}", 2)
    out.print(f"alert level: {level}")
    raise typer.Exit(ALERT_EXIT_CODES[level])


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
