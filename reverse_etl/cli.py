"""`reverse-etl`: push, sync, syncs, runs, rejected, health, revert, check, quality.

Every expected failure ends as one line on stderr and an exit code of
docs/commands.md: 0 success, 1 some records rejected, 2 bad usage or configuration,
3 service unreachable or pass aborted, 4 blocked by a safety check, 10/11/12 health
alert P2/P1/P0. Unexpected errors keep their traceback, but without local
variables, which could hold a secret.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

import psycopg
import typer
from pydantic import SecretStr
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from common.http import retry_lines
from common.redaction import redact, register_secrets
from common.settings import ConfigurationError, Settings, load_settings
from reverse_etl import quality, registry, validation
from reverse_etl.destinations import build_destination
from reverse_etl.engine import RunResult, run_pass
from reverse_etl.ledger import RUN_STATUSES, Ledger, migrations
from reverse_etl.observer import ConsoleObserver
from reverse_etl.warehouse import connect, relation_exists

# typer hands some values to pydantic, whose messages start "Value error, "; a user
# needs the sentence after it.
_PYDANTIC_PREFIX = re.compile(r"^(?:Value|Assertion) error, ")


@contextlib.contextmanager
def _plain_parameter_errors() -> Iterator[None]:
    try:
        yield
    except typer.BadParameter as error:
        error.message = _PYDANTIC_PREFIX.sub("", error.message)
        raise


class _Commands(TyperGroup):
    """The command group, with parameter errors in plain words.

    Parsing happens in make_context (options of `reverse-etl` itself) and, for each
    subcommand, inside invoke; both pass through here.
    """

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        with _plain_parameter_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _plain_parameter_errors():
            return super().invoke(ctx)


app = typer.Typer(
    name="reverse-etl",
    cls=_Commands,
    help="Push dbt sync views to destinations, safely and on the record.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    # Plain (click-style) help: the rich layout labels every flag `<bool>` although
    # a flag takes no value.
    rich_markup_mode=None,
)

out = Console()
err = Console(stderr=True)

HEALTH_VIEW = "monitoring.sync_monitoring_dashboard"
# The dashboard columns `reverse-etl health` shows (when it has them), with short
# headings so that one sync stays one line on an 80-column terminal.
HEALTH_COLUMNS = {
    "sync_name": "sync",
    "alert_level": "level",
    "alert_reasons": "why",
    "queue_size": "queue",
    "outstanding_rejections": "rejected",
    "rows_truncated": "cut",
    "last_run_status": "last run",
}
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


def package_version() -> str:
    try:
        return importlib.metadata.version("propsync")
    except importlib.metadata.PackageNotFoundError:  # run from a tree never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        out.print(f"propsync {package_version()}", markup=False, highlight=False)
        raise typer.Exit(0)


@app.callback()
def _reverse_etl(
    ctx: typer.Context,
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version (propsync <version>) and exit.",
    ),
) -> None:
    # Every command gets the short retry lines; the stack closes with the command.
    ctx.with_resource(
        retry_lines(
            lambda line: err.print(
                line, markup=False, highlight=False, no_wrap=True, overflow="ellipsis", crop=True
            )
        )
    )


@app.command()
def push(
    destination: str = typer.Argument(
        ...,
        metavar="DESTINATION",
        help="a destination of the registry (`reverse-etl syncs` lists them)",
    ),
    pass_name: PassChoice = typer.Option(..., "--pass", help="create or update"),
    objects: list[str] | None = typer.Option(
        None,
        "--object",
        metavar="OBJECT",
        help="only this object or entity (repeatable); default: all",
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
        if destination == "servicefusion" and not settings.workorders.enable_service_fusion:
            # The flag is the operators' off switch: show what would go, send nothing.
            err.print(
                "ENABLE_SERVICE_FUSION is off: a dry run, nothing is sent to ServiceFusion",
                markup=False, highlight=False,
            )
            dry_run = True
        with connect(settings) as conn, quality.suite_results_reused():
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
            if (
                worst is None
                and pass_name.value == "update"
                and not dry_run
                and objects is None
                and validation.validates(destination)
            ):
                _validate(conn, destination)
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


def _validate(conn: psycopg.Connection[Any], destination: str) -> None:
    """After a destination's whole update pass: read it back and check it holds what
    the models prescribe; a failed check is the command's exit code."""
    out.print(f"validation: reading {destination} back", markup=False, highlight=False)
    result = validation.validate(conn, destination)
    if result.error is not None:
        fail(result.error, result.exit_code)
    table = Table(title=f"validation of {destination}", header_style="bold")
    for column in ("entity", "check", "scope", "source", "target", "verdict"):
        table.add_column(column, overflow="fold")
    for check in result.checks:
        table.add_row(
            check.entity,
            check.check_name,
            check.check_scope or "",
            check.source_value or "",
            check.target_value or "",
            "pass" if check.passed else "FAIL",
        )
    out.print(table)
    if result.failed:
        for check in result.failed[1:]:
            err.print(validation.failure_line(check), markup=False, highlight=False)
        fail(
            f"validation failed: {validation.failure_line(result.failed[0])}",
            result.exit_code,
        )


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


# -- runs ---------------------------------------------------------------------------

runs_app = typer.Typer(
    help="Past runs, newest first; `reverse-etl runs show RUN_ID` shows one.",
    invoke_without_command=True,
    subcommand_metavar="[show RUN_ID]",
    rich_markup_mode=None,
)
app.add_typer(runs_app, name="runs")

SHORT_ID = 8  # hex digits of a run id in the list; `runs show` and `revert` take them


# A rule under the header and two spaces between columns (a space of padding and the
# blank divider), nothing at the edges: like `ps` or `docker ps`, and 80 columns hold
# the key columns of a run.
_LIST_STYLE: dict[str, Any] = {
    "header_style": "bold",
    "box": box.SIMPLE_HEAD,
    "padding": (0, 1, 0, 0),
    "pad_edge": False,
    "show_edge": False,
}


def _natural_width(table: Table) -> int:
    # Console.measure caps at the console's width; measure against a roomy one.
    return out.measure(table, options=out.options.update_width(10_000)).maximum


def _short_id(run_id: Any) -> str:
    return str(run_id)[:SHORT_ID]


def _utc(moment: dt.datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cells(*values: str) -> list[Text]:
    # Ledger values (keys, messages) are data: a `[...]` in them is no rich markup.
    return [Text(value) for value in values]


def _ago(moment: dt.datetime | None, now: dt.datetime) -> str:
    """`45s ago`, `12m ago`, `5h ago`, `3d ago`: short enough for an 80-column list."""
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size, below in (("s", 1, 60), ("m", 60, 3600), ("h", 3600, 48 * 3600)):
        if seconds < below:
            return f"{seconds // size}{unit} ago"
    return f"{seconds // 86400}d ago"


def _written(row: dict[str, Any]) -> str:
    # A dry run writes nothing; what it would have written is in `--wide` and `show`.
    return "-" if row["dry_run"] else str(row["created"] + row["updated"])


def _key_table(rows: list[dict[str, Any]], title: str, *, compact: bool) -> Table:
    """The default list: the key columns of each run.

    `compact` is for a console too narrow for whole sync names (an 80-column
    terminal): when every run belongs to one destination, its name moves from
    each row into the title, and a dry run's mode is `dry`.
    """
    destinations = {row["destination"] for row in rows}
    strip = compact and len(destinations) == 1
    if strip:
        title = f"{title} ({next(iter(destinations))})"
    table = Table(title=title, **_LIST_STYLE)
    for column, justify in (
        ("run", "left"),
        ("started", "left"),
        ("sync", "left"),
        ("mode", "left"),
        ("status", "left"),
        ("rows", "right"),
        ("written", "right"),
        ("rejected", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    now = dt.datetime.now(dt.UTC)
    for row in rows:
        name = row.get("sync_name") or f"{row['destination']}.{row['object_name']}.{row['pass']}"
        if strip:
            name = name.removeprefix(f"{row['destination']}.")
        mode = ("dry" if compact else "dry run") if row["dry_run"] else "real"
        table.add_row(
            *_cells(
                _short_id(row["run_id"]),
                _ago(row["started_at"], now),
                name,
                mode,
                row["status"],
                str(row["rows_in_view"]),
                _written(row),
                "-" if row["dry_run"] else str(row["rejected"]),
            )
        )
    return table


def _wide_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, **_LIST_STYLE)
    for column, justify in (
        ("run id", "left"),
        ("started (UTC)", "left"),
        ("sync", "left"),
        ("mode", "left"),
        ("status", "left"),
        ("gate", "left"),
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
        ("revert of", "left"),
        ("error", "left"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*_cells(*_run_cells(row)))
    return table


def _run_cells(row: dict[str, Any]) -> list[str]:
    started = row["started_at"]
    finished = row["finished_at"]
    seconds = f"{(finished - started).total_seconds():.1f}" if finished and started else "-"
    error = (row["error"] or "").splitlines()[0] if row["error"] else ""
    return [
        str(row["run_id"]),
        _utc(started),
        row.get("sync_name") or f"{row['destination']} {row['pass']}",
        "dry run" if row["dry_run"] else "real",
        row["status"],
        row.get("gate") or "-",
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
        _short_id(row["revert_of"]) if row.get("revert_of") else "",
        redact(error[:80]),
    ]


def _print_whole(table: Table) -> None:
    """Print a table at its natural width, wider than the terminal if need be.

    `--wide` asks for every column; squeezed into the terminal they would fold into
    unreadable cells, while whole lines can be read with `less -S` or a wide window.
    """
    width = max(out.width, _natural_width(table))
    Console(file=out.file, width=width).print(table)


def _check_status(status: str | None) -> str | None:
    if status is None:
        return None
    if status.lower() not in RUN_STATUSES:
        fail(f"unknown status {status!r}; valid: {', '.join(RUN_STATUSES)}", 2)
    return status.lower()


@runs_app.callback()
def runs(
    ctx: typer.Context,
    last: int = typer.Option(
        20, "--last", "--limit", "-n", min=1, metavar="N", help="how many runs, newest first"
    ),
    sync_name: str | None = typer.Option(
        None, "--sync", metavar="SYNC", help="only this sync (`reverse-etl syncs` lists them)"
    ),
    status: str | None = typer.Option(
        None,
        "--status",
        metavar="STATUS",
        help=f"only runs in this status: {', '.join(RUN_STATUSES)}",
    ),
    wide: bool = typer.Option(False, "--wide", help="every column, full run ids, UTC times"),
) -> None:
    """Past runs, newest first: run id, start, sync, mode, status, rows, written, rejected."""
    if ctx.invoked_subcommand is not None:
        return  # `runs show ...`
    with expected_failures():
        if sync_name is not None:
            registry.by_name(sync_name)
        wanted_status = _check_status(status)
        settings = _settings()
        with connect(settings) as conn:
            ledger = Ledger(conn)
            if not ledger.exists():
                out.print("no runs recorded yet (the ledger is created by the first push)")
                return
            rows = ledger.recent_runs(last, sync_name=sync_name, status=wanted_status)
    filters = [f for f in (sync_name, wanted_status and f"status {wanted_status}") if f]
    scope = f" of {', '.join(filters)}" if filters else ""
    if not rows:
        out.print(f"no runs{scope}", markup=False, highlight=False)
        return
    title = f"last {len(rows)} run(s){scope}"
    if wide:
        _print_whole(_wide_table(rows, title))
        return
    table = _key_table(rows, title, compact=False)
    if _natural_width(table) > out.width:
        table = _key_table(rows, title, compact=True)
    out.print(table)


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(
        ..., metavar="RUN_ID", help="a run id, or its first 8 or more characters"
    ),
    records: int = typer.Option(
        20, "--records", min=0, metavar="N", help="how many records to list (rejected first)"
    ),
) -> None:
    """One run: its fields, its outcomes, and its first records."""
    with expected_failures():
        settings = _settings()
        with connect(settings) as conn:
            ledger = Ledger(conn)
            if not ledger.exists():
                fail("no runs recorded yet (the ledger is created by the first push)", 2)
            wanted = ledger.resolve_run(run_id)
            run = ledger.run(wanted)
            outcomes = ledger.run_outcomes(wanted)
            listed = ledger.run_records(wanted, records) if records else []
    assert run is not None  # resolve_run found it
    _print_run(run, outcomes, listed)


def _record_error(record: dict[str, Any]) -> str:
    """`CODE [fields]: message` of a rejected record; empty for the others."""
    code = record["error_code"] or ""
    if record["error_fields"]:
        code = f"{code} [{record['error_fields']}]".strip()
    message = redact(record["error_message"] or "")
    return ": ".join(part for part in (code, message) if part)


def _print_run(
    run: dict[str, Any], outcomes: dict[str, int], listed: list[dict[str, Any]]
) -> None:
    started, finished = run["started_at"], run["finished_at"]
    took = f" ({(finished - started).total_seconds():.1f} s)" if finished and started else ""
    fields: list[tuple[str, str]] = [
        ("run", str(run["run_id"])),
        ("sync", run.get("sync_name") or "-"),
        ("object", f"{run['destination']} {run['object_name']}, from {run['sync_view']}"),
        ("mode", "dry run" if run["dry_run"] else "real"),
        ("status", run["status"]),
        ("gate", run.get("gate") or "-"),
        ("started", f"{_utc(started)} UTC"),
        ("finished", f"{_utc(finished)} UTC{took}" if finished else "- (not finished)"),
        ("rows", f"{run['rows_in_view']} in the view"),
        ("requests", f"{run['api_requests']} API request(s)"),
    ]
    if run.get("revert_of"):
        fields.append(("revert of", str(run["revert_of"])))
    if run.get("error"):
        fields.append(("error", redact(str(run["error"]).strip().splitlines()[0])))
    for label, value in fields:
        out.print(f"{label:<10} {value}", markup=False, highlight=False, soft_wrap=True)
    total = sum(outcomes.values())
    counts = ", ".join(f"{outcome} {count}" for outcome, count in outcomes.items())
    out.print(
        f"{'outcomes':<10} {total} record(s){': ' + counts if counts else ''}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if not listed:
        return
    errors = [_record_error(record) for record in listed]
    table = Table(**_LIST_STYLE)
    table.add_column("key", overflow="fold")
    table.add_column("outcome", no_wrap=True)
    table.add_column("record id", no_wrap=True)
    if any(errors):
        table.add_column("error", overflow="fold")
    for record, error in zip(listed, errors, strict=True):
        cells = [record["sync_key"], record["outcome"], record["record_id"] or "-"]
        table.add_row(*_cells(*cells, *([error] if any(errors) else [])))
    out.print(table)
    if total > len(listed):
        out.print(
            f"... and {total - len(listed)} more (`--records N` lists more)",
            markup=False,
            highlight=False,
        )


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
    table = Table(
        title="sync health (monitoring.sync_monitoring_dashboard)", header_style="bold"
    )
    for column in shown:
        numeric = column in ("queue_size", "outstanding_rejections", "rows_truncated")
        table.add_column(
            HEALTH_COLUMNS[column], overflow="fold", justify="right" if numeric else "left"
        )
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
    run_id: str = typer.Argument(
        ...,
        metavar="RUN_ID",
        help="the run to undo: its id or first 8+ characters (`reverse-etl runs` shows them)",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="read the destination and show what would be restored"
    ),
) -> None:
    """Undo an update run, field by field, where the destination still holds its values."""
    from reverse_etl.revert import RevertError, revert_run, run_to_revert

    with expected_failures():
        settings = _settings()
        with connect(settings) as conn:
            ledger = Ledger(conn)
            if not ledger.exists():
                raise RevertError("no runs recorded yet: nothing to revert")
            wanted = ledger.resolve_run(run_id)
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


# -- check ----------------------------------------------------------------------------


@dataclass
class PartCheck:
    """One line of `reverse-etl check`: a part, and whether it answered."""

    part: str
    code: int  # 0 answered; otherwise the exit code its failure means (2 or 3)
    detail: str
    skipped: bool = False  # not configured, and no registered sync needs it

    @property
    def label(self) -> str:
        return "SKIP" if self.skipped else ("OK" if self.code == 0 else "FAIL")


def _postgres_failure(error: psycopg.Error) -> tuple[int, str]:
    """(exit code, reason) of a failed connection: 2 when the server answered and
    refused (bad user, password or database), 3 when nothing answered."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    reason = first.rsplit(" failed: ", 1)[-1].removeprefix("connection failed: ")
    reason = " ".join(reason.removeprefix("FATAL:").split())
    if not isinstance(error, psycopg.OperationalError):
        return 2, redact(reason)  # connected, then refused a query (a permission)
    answered = "FATAL:" in first and not any(
        busy in first for busy in ("starting up", "shutting down", "too many clients")
    )
    return (2 if answered else 3), redact(reason)


def _check_warehouse(settings: Settings) -> PartCheck:
    warehouse = settings.warehouse
    where = warehouse.label()
    try:
        with psycopg.connect(warehouse.dsn(), autocommit=True, connect_timeout=10) as conn:
            conn.execute("select 1").fetchone()
            ledger = Ledger(conn)
            applied = ledger.applied_versions() if ledger.exists() else []
    except psycopg.Error as error:
        code, reason = _postgres_failure(error)
        if code == 3 and warehouse.is_embedded():
            hint = "start the embedded one with `python -m sandbox up`"
        elif code == 3:
            hint = "check PGHOST and PGPORT"
        else:
            hint = "check PGUSER, PGPASSWORD and PGDATABASE"
        return PartCheck("warehouse", code, f"{where}: {reason} ({hint})")
    latest = max((m.version for m in migrations()), default=0)
    if not applied:
        schema = "no ledger yet (the first push or `dbt build` creates it)"
    elif max(applied) >= latest:
        schema = f"ledger at migration {max(applied)}, up to date"
    else:
        schema = f"ledger at migration {max(applied)} of {latest} (the next push applies the rest)"
    return PartCheck("warehouse", 0, f"{where}: answered; {schema}")


def _check_database_source(
    part: str, variable: str, command: str, url: SecretStr | None
) -> PartCheck:
    """A Postgres source (RDS, the legacy dispatch database): connect and `select 1`."""
    if url is None or not url.get_secret_value():
        # No registered sync reads a source: only its extract needs it.
        return PartCheck(part, 0, f"not configured: set {variable} (read by `{command}`)",
                         skipped=True)
    try:
        with psycopg.connect(url.get_secret_value(), autocommit=True, connect_timeout=10) as conn:
            conn.execute("select 1").fetchone()
            host = f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}"
    except psycopg.ProgrammingError as error:  # a URL psycopg cannot parse
        return PartCheck(part, 2, f"{variable}: {redact(error)}")
    except psycopg.Error as error:
        code, reason = _postgres_failure(error)
        return PartCheck(part, code, f"{reason} (check {variable})")
    return PartCheck(part, 0, f"{host}: answered")


def _check_rds(settings: Settings) -> PartCheck:
    return _check_database_source(
        "source rds", "RDS_DATABASE_URL", "python -m extract rds", settings.rds.database_url
    )


def _check_dispatch(settings: Settings) -> PartCheck:
    return _check_database_source(
        "source dispatch",
        "DISPATCH_DATABASE_URL",
        "python -m extract dispatch",
        settings.dispatch.database_url,
    )


def _check_destination(destination: str, settings: Settings) -> PartCheck:
    part = f"destination {destination}"
    sync = next(s for s in registry.SYNCS if s.destination == destination)
    group = getattr(settings, destination, None)
    if group is not None and group.unconfigured():
        # Nothing of it is set: this user's syncs go elsewhere. Half a configuration
        # is an error, below.
        return PartCheck(
            part,
            0,
            f"not configured: set {', '.join(group.missing())} "
            f"(read by `reverse-etl push {destination}`)",
            skipped=True,
        )
    try:
        target = build_destination(sync, settings, require_credentials=False)
    except Exception as error:
        return _failed_part(part, error)
    try:
        # Missing variables are named without a request; then the real thing:
        # authenticate and one cheap read.
        target.check_configuration()
        return PartCheck(part, 0, redact(target.health_check()))
    except Exception as error:
        return _failed_part(part, error)
    finally:
        target.close()


def _failed_part(part: str, error: Exception) -> PartCheck:
    code = 2 if isinstance(error, ConfigurationError) else getattr(error, "exit_code", None)
    if not isinstance(code, int):
        raise error  # not an expected failure: keep the traceback
    text = str(error).strip()
    return PartCheck(part, code, redact(text.splitlines()[0] if text else type(error).__name__))


def _checks() -> list[tuple[str, Callable[[Settings], PartCheck]]]:
    """The parts `reverse-etl check` asks, in order: warehouse, sources, destinations."""
    parts: list[tuple[str, Callable[[Settings], PartCheck]]] = [
        ("warehouse", _check_warehouse),
        ("source rds", _check_rds),
        ("source dispatch", _check_dispatch),
    ]
    for name in registry.destinations():
        parts.append((f"destination {name}", lambda s, name=name: _check_destination(name, s)))
    return parts


@app.command()
def check() -> None:
    """Does every part answer? Warehouse, sources, destinations: one line each."""
    with expected_failures():
        settings = _settings()
    parts = _checks()
    width = max(len(part) for part, _ in parts)
    results: list[PartCheck] = []
    for _, probe in parts:
        # Each line as soon as its part has answered: a part that times out shows
        # which one it is while it waits.
        result = probe(settings)
        results.append(result)
        out.print(
            f"{result.part:<{width}}  {result.label:<4}  {result.detail}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    failed = [r for r in results if r.code and not r.skipped]
    if failed:
        # 3 wins over 2: something that does not answer hides what is behind it.
        fail(
            f"{len(failed)} of {len(results)} part(s) failed: {', '.join(r.part for r in failed)}",
            max(r.code for r in failed),
        )
    if all(r.skipped for r in results if r.part.startswith("destination ")):
        fail("no destination is configured: every push would fail", 2)
    raise typer.Exit(0)


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


sync_app = typer.Typer(
    help="Chains of steps: extracts, dbt build and push passes in dependency order.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(sync_app, name="sync")


@sync_app.command("workorders")
def sync_workorders(
    dry_run: bool = typer.Option(
        False, "--dry-run",
        help="extract and build as usual; the push steps record what they would send",
    ),
    steps: list[str] | None = typer.Option(
        None, "--step", metavar="N",
        help="only this step (repeatable): 1-6 extracts, build, 7-11 pushes; "
        "steps not chosen are taken as done",
    ),
    skip_gate: bool = typer.Option(
        False, "--skip-gate", help="push without the data-quality gate (recorded in the runs)"
    ),
) -> None:
    """The PropertyWare <-> ServiceFusion chain: fetch portfolios, work orders, customers,
    jobs, buildings and leases (both systems in parallel), dbt build, then sync portfolios
    and building customers, units, tenants, work orders as jobs, and job statuses back to
    PropertyWare. Prints a step-by-step report; the exit code is the worst step's."""
    from reverse_etl.chain import WorkOrderChain, select_steps
    from reverse_etl.observer import ConsoleChainObserver, QuietPassObserver

    with expected_failures():
        chosen = select_steps(steps)
        settings = _settings()
        dry_run = dry_run or settings.safety.dry_run
        observer = ConsoleChainObserver(out)
        with connect(settings) as conn:
            chain = WorkOrderChain(
                settings, conn, log_dir=_chain_log_dir(), observer=observer,
                pass_observer=QuietPassObserver(out),
            )
            result = chain.run(chosen, dry_run=dry_run, skip_gate=skip_gate)
        rates = {
            "propertyware": settings.propertyware.max_rps,
            "servicefusion": settings.servicefusion.max_rps,
        }
        observer.report(result, rates)
    if result.exit_code:
        failed = [r for r in result.steps if r.status == "failed"]
        if failed:
            first = failed[0]
            fail(f"step {first.step.key} ({first.step.name}) failed: "
                 f"{(first.detail or '').splitlines()[0] if first.detail else ''}",
                 result.exit_code)
        err.print("records were rejected: see `reverse-etl rejected`", markup=False,
                  highlight=False)
    raise typer.Exit(result.exit_code)


def _chain_log_dir() -> Any:
    from common.settings import sandbox_dir

    return sandbox_dir() / "logs" / "chain"


def main() -> None:
    app()


if __name__ == "__main__":
    main()
