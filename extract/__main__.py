"""`python -m extract <source>... [--full-refresh]`: land the sources in the warehouse.

Sources: `rds`, `salesforce` (read-back) and `all`. Each prints one summary line;
an expected failure prints one line on stderr. Every named source is attempted,
and the exit code is the worst one (2 configuration, 3 unreachable).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from common.settings import ConfigurationError, Settings, load_settings
from extract.pipelines import (
    EXIT_CONFIG,
    PLANNED_SOURCES,
    SOURCES,
    ExtractError,
    SourceResult,
    dlt_data_dir,
    extract_source,
)

console = Console(soft_wrap=True, highlight=False)
errors = Console(stderr=True, soft_wrap=True, highlight=False)

app = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)

ALL = tuple(SOURCES)  # the planned ones join once they exist


def _selected(names: list[str]) -> list[str]:
    chosen: list[str] = []
    for name in names:
        for expanded in ALL if name == "all" else (name,):
            if expanded not in chosen:
                chosen.append(expanded)
    return chosen


def summary_line(result: SourceResult, settings: Settings) -> str:
    tables = escape(", ".join(f"{table} {count}" for table, count in result.rows.items()))
    return (
        f"[bold]{result.source}[/bold]: {result.total} rows {result.disposition} into "
        f"{settings.warehouse.label()} {result.dataset} ({tables}) in {result.seconds:.1f} s"
    )


@app.command()
def main(
    sources: Annotated[
        list[str],
        typer.Argument(
            help=f"one or more of: {', '.join((*SOURCES, *PLANNED_SOURCES, 'all'))}",
            show_default=False,
        ),
    ],
    full_refresh: Annotated[
        bool,
        typer.Option("--full-refresh", help="forget incremental state and reload everything"),
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

    # dlt keeps pipeline state and writes config/telemetry files under DLT_DATA_DIR;
    # point it at the project, not the user's home, and keep usage data local.
    os.environ.setdefault("DLT_DATA_DIR", str(dlt_data_dir()))
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

    worst = 0
    for name in _selected(sources):
        try:
            result = extract_source(name, settings, full_refresh=full_refresh)
        except ExtractError as error:
            errors.print(f"[red]error:[/red] {escape(str(error))}")
            worst = max(worst, error.exit_code)
            continue
        console.print(summary_line(result, settings))
    raise typer.Exit(worst)


if __name__ == "__main__":
    app()
