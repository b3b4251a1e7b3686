"""`python -m sandbox`: the embedded default stack and the demo data generators."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from sandbox.generate.cli import app as seed_app
from sandbox.postgres import EmbeddedPostgresError
from sandbox.stack import SandboxError, SandboxStack

app = typer.Typer(
    help="Local Postgres and protocol-faithful simulators: the embedded default.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(seed_app, name="seed", help="Generate source data sets.")
console = Console()
errors = Console(stderr=True)


@app.command()
def up() -> None:
    """Start the embedded Postgres and the simulators (idempotent)."""
    stack = SandboxStack.default()
    try:
        env = stack.up()
    except (SandboxError, EmbeddedPostgresError) as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(3) from None
    console.print(
        f"sandbox up: warehouse {env['PGHOST']}:{env['PGPORT']}/{env['PGDATABASE']}, "
        f"Salesforce simulator {env['SALESFORCE_INSTANCE_URL']} "
        f"(variables in {stack.env_file})"
    )


@app.command()
def down() -> None:
    """Stop what `up` started."""
    stack = SandboxStack.default()
    try:
        stack.down()
    except EmbeddedPostgresError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(3) from None
    console.print("sandbox down")


@app.command()
def status() -> None:
    """Show which parts of the stack run; exit 3 when one does not."""
    state = SandboxStack.default().status()
    table = Table("component", "running")
    for name, running in state.items():
        table.add_row(name, "[green]yes[/green]" if running else "[red]no[/red]")
    console.print(table)
    if not all(state.values()):
        raise typer.Exit(3)


if __name__ == "__main__":
    app()
