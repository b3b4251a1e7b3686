"""`python -m sandbox`: the embedded default stack and the demo data generators."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sandbox.generate.cli import app as seed_app
from sandbox.postgres import EmbeddedPostgresError
from sandbox.stack import SIMULATORS, SandboxError, SandboxStack, read_env_file

app = typer.Typer(
    help="Local Postgres and protocol-faithful simulators: the embedded default.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(seed_app, name="seed", help="Generate source data sets.")
# soft_wrap: a message is one line however narrow the terminal (or 80 columns when
# piped), so a log or a test can read it whole.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def _print_notes(stack: SandboxStack) -> None:
    for note in stack.notes:
        console.print(escape(note), highlight=False)


@app.command()
def up() -> None:
    """Start the embedded Postgres and the Salesforce, PropertyWare and ServiceFusion
    simulators (idempotent)."""
    stack = SandboxStack.default()
    try:
        env = stack.up()
    except (SandboxError, EmbeddedPostgresError) as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(3) from None
    simulators = ", ".join(f"{spec.title} {stack.root_url(spec)}" for spec in SIMULATORS)
    console.print(escape(
        f"sandbox up: warehouse {env['PGHOST']}:{env['PGPORT']}/{env['PGDATABASE']}, "
        f"simulators {simulators} "
        f"(variables in {stack.env_file}, dbt profile {stack.dbt_profile})"
    ), highlight=False)
    _print_notes(stack)


@app.command()
def profile() -> None:
    """(Re)write the dbt profile of the stack, as `up` does; `make install` runs it.

    The values are those of the stack's `sandbox.env` when `up` has written one, else
    the ports the stack would start on.
    """
    stack = SandboxStack.default()
    env = read_env_file(stack.env_file) if stack.env_file.exists() else {}
    try:
        stack.write_profiles(env)
    except SandboxError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(2) from None
    values = {**stack.warehouse_env(), **env}
    if stack.dbt_profile is not None:
        console.print(escape(
            f"dbt profile {stack.dbt_profile}: warehouse {values['PGHOST']}:"
            f"{values['PGPORT']}/{values['PGDATABASE']}"
        ), highlight=False)
    _print_notes(stack)


@app.command()
def down() -> None:
    """Stop what `up` started."""
    stack = SandboxStack.default()
    try:
        stack.down()
    except EmbeddedPostgresError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
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
