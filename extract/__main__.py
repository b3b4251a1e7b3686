"""`python -m extract <source>... [--full-refresh]`: land the sources in the warehouse.

Sources: `rds`, `dispatch`, `salesforce` (read-back), `supabase` (read-back),
`propertyware`, `servicefusion` and `all` (`dispatch` and `supabase` only when their
database is configured). The named sources run at once (`--workers N`: at most N),
each its own dlt pipeline in a thread; each prints one summary line when it ends,
an expected failure one line on stderr. Every named source is attempted, and the
exit code is the worst one (2 configuration, 3 unreachable).

dlt's own log (warnings such as a cursor shared by many rows) goes to
`<DLT_DATA_DIR>/extract.log`, not to the terminal; each retry of an HTTP request is
one short line on stderr.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import logging.handlers
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from common.http import retry_lines
from common.redaction import RedactingFilter
from common.settings import ConfigurationError, Settings, load_settings
from extract.pipelines import (
    EXIT_CONFIG,
    PLANNED_SOURCES,
    SOURCES,
    ExtractError,
    SourceResult,
    dlt_data_dir,
    extract_sources,
)

console = Console(soft_wrap=True, highlight=False)
errors = Console(stderr=True, soft_wrap=True, highlight=False)

# `\b` keeps click from rewrapping the paragraph that follows (the commands).
HELP = """Run the dlt pipelines of the named sources into the warehouse.

The named sources run at once (--workers N: at most N at once). Each prints one
summary line when it ends; the exit code is the worst one (0 success,
2 configuration, 3 unreachable).

`all` runs dispatch and supabase only when DISPATCH_DATABASE_URL and
SUPABASE_DATABASE_URL are set.

dlt keeps the pipelines (rds_to_warehouse, dispatch_to_warehouse,
salesforce_to_warehouse, supabase_to_warehouse, propertyware_to_warehouse,
servicefusion_to_warehouse) in
<DLT_DATA_DIR>/pipelines, by default .local/dlt/pipelines of the project, and its
log in <DLT_DATA_DIR>/extract.log. dlt's own commands, from the project folder:

\b
  DLT_DATA_DIR=.local/dlt dlt pipeline rds_to_warehouse info
  DLT_DATA_DIR=.local/dlt dlt pipeline rds_to_warehouse trace
"""

app = typer.Typer(add_completion=False, rich_markup_mode=None)

# dlt's log file: rotated, so a scheduled extract cannot fill the disk with it.
LOG_FILE_NAME = "extract.log"
LOG_FILE_BYTES = 5 * 1024 * 1024

def _all(settings: Settings) -> tuple[str, ...]:
    """What `all` runs: every source, less the optional ones not configured."""
    return tuple(
        name for name, spec in SOURCES.items() if spec.in_all is None or spec.in_all(settings)
    )


def _selected(names: list[str], settings: Settings) -> list[str]:
    chosen: list[str] = []
    for name in names:
        for expanded in _all(settings) if name == "all" else (name,):
            if expanded not in chosen:
                chosen.append(expanded)
    return chosen


def summary_line(result: SourceResult, settings: Settings) -> str:
    tables = escape(", ".join(f"{table} {count}" for table, count in result.rows.items()))
    return (
        f"[bold]{result.source}[/bold]: {result.total} rows {result.disposition} into "
        f"{settings.warehouse.label()} {result.dataset} ({tables}) in {result.seconds:.1f} s"
    )


def package_version() -> str:
    try:
        return importlib.metadata.version("propsync")
    except importlib.metadata.PackageNotFoundError:  # run from a tree never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        console.print(f"propsync {package_version()}", markup=False)
        raise typer.Exit(0)


@contextlib.contextmanager
def dlt_log_to_file(path: Path) -> Iterator[None]:
    """dlt's logger and Python warnings go to `path` while the block runs.

    dlt gives its logger a stderr handler of its own (and reuses the first handler
    it finds there when a pipeline starts), so its warnings would reach the user's
    terminal between our summary lines. The file keeps them, errors included; what
    the user needs of an error is the one line `classify` prints.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=LOG_FILE_BYTES, backupCount=1, encoding="utf-8"
    )
    handler.addFilter(RedactingFilter())  # dlt's messages can hold a DSN
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger("dlt"), logging.getLogger("py.warnings")]
    saved = [(logger, list(logger.handlers), logger.propagate) for logger in loggers]
    for logger in loggers:
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.propagate = False
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        for logger, handlers, propagate in saved:
            logger.removeHandler(handler)
            for old in handlers:
                logger.addHandler(old)
            logger.propagate = propagate
        handler.close()


def _print_retry(line: str) -> None:
    errors.print(
        line, markup=False, no_wrap=True, overflow="ellipsis", crop=True, soft_wrap=False
    )


@app.command(help=HELP)
def main(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE",
            help=f"one or more of: {', '.join((*SOURCES, *PLANNED_SOURCES, 'all'))}",
            show_default=False,
        ),
    ],
    full_refresh: Annotated[
        bool,
        typer.Option("--full-refresh", help="forget incremental state and reload everything"),
    ] = False,
    resource: Annotated[
        list[str] | None,
        typer.Option(
            "--resource",
            metavar="RESOURCE",
            help="only this resource of the source (repeatable; one source only), "
            "e.g. `propertyware --resource work_orders`",
            show_default=False,
        ),
    ] = None,
    report_json: Annotated[
        Path | None,
        typer.Option(
            "--report-json",
            metavar="PATH",
            help="also write each source's result (rows per table, requests and "
            "rate-limit waits per API) to PATH as JSON; `reverse-etl sync` reads it",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            min=1,
            help="run at most N sources at once (default: every named source at once; "
            "1: one after another)",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version (propsync <version>) and exit.",
        ),
    ] = False,
) -> None:
    """Run the dlt pipelines of the named sources into the warehouse."""
    known = {*SOURCES, *PLANNED_SOURCES, "all"}
    unknown = [name for name in sources if name not in known]
    if unknown:
        errors.print(
            f"[red]error:[/red] unknown source {', '.join(unknown)} "
            f"(choose from {', '.join(sorted(known))})"
        )
        raise typer.Exit(EXIT_CONFIG)
    planned = [name for name in sources if name in PLANNED_SOURCES]
    if planned:
        errors.print(f"[red]error:[/red] source {', '.join(planned)} is not available yet")
        raise typer.Exit(EXIT_CONFIG)
    try:
        settings = load_settings()
    except ConfigurationError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(EXIT_CONFIG) from None
    selected = _selected(sources, settings)
    resources = tuple(resource or ())
    if resources and len(selected) != 1:
        errors.print("[red]error:[/red] --resource needs exactly one source")
        raise typer.Exit(EXIT_CONFIG)

    # dlt keeps pipeline state and writes config/telemetry files under DLT_DATA_DIR;
    # point it at the project, not the user's home, and keep usage data local.
    os.environ.setdefault("DLT_DATA_DIR", str(dlt_data_dir()))
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

    worst = 0
    report: dict[str, dict[str, object]] = {}
    with dlt_log_to_file(dlt_data_dir() / LOG_FILE_NAME), retry_lines(_print_retry):
        # Each line as its source ends (they run at once); the report in the order named.
        for name, outcome in extract_sources(
            selected, settings, full_refresh=full_refresh, resources=resources,
            workers=workers,
        ):
            if isinstance(outcome, ExtractError):
                errors.print(f"[red]error:[/red] {escape(str(outcome))}")
                worst = max(worst, outcome.exit_code)
                report[name] = {"source": name, "error": str(outcome),
                                "exit_code": outcome.exit_code}
                continue
            console.print(summary_line(outcome, settings))
            report[name] = outcome.as_json()
    if report_json is not None:
        report_json.parent.mkdir(parents=True, exist_ok=True)
        ordered = [report[name] for name in selected if name in report]
        report_json.write_text(json.dumps(ordered, indent=2), encoding="utf-8")
    raise typer.Exit(worst)


if __name__ == "__main__":
    app()
