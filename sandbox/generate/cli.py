"""`python -m sandbox seed ...`: fill the RDS stand-in (and the PropertyWare simulator)
with demo data.

The lead mounts `app` under `seed`. The DSN defaults to `RDS_DATABASE_URL`
(environment first, then `.local/sandbox.env`); it is never printed, only its
host and database.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import psycopg
import typer
from psycopg.conninfo import conninfo_to_dict
from rich.console import Console

from sandbox.generate.propertyware import generate_propertyware
from sandbox.generate.rds import generate_rds, initial_salesforce_records, mutate_rds
from sandbox.stack import stack_env

app = typer.Typer(help="Seed the sandbox sources with realistic, deterministic data.",
                  no_args_is_help=True)
console = Console()
errors = Console(stderr=True)

EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3

DsnOption = Annotated[
    str | None,
    typer.Option("--dsn", help="RDS database URL; default RDS_DATABASE_URL", show_default=False),
]
SeedOption = Annotated[int, typer.Option("--seed", help="same seed, same rows")]


@app.callback()
def _group() -> None:
    """Keeps `seed` a command group even with one command, so `seed rds` always parses."""


def _fail(message: str, code: int) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _resolve_dsn(dsn: str | None) -> str:
    if dsn:
        return _checked(dsn)
    configured = stack_env().get("RDS_DATABASE_URL")
    if not configured:
        _fail("RDS_DATABASE_URL is not set (or pass --dsn); `python -m sandbox up` sets it",
              EXIT_CONFIG)
    return _checked(configured)


def _checked(dsn: str) -> str:
    try:
        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        _fail("RDS_DATABASE_URL (or --dsn) is not a valid Postgres URL", EXIT_CONFIG)
    return dsn


def _label(dsn: str) -> str:
    """host:port/database, safe to print."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the RDS database"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def _db_failure(error: psycopg.Error, dsn: str, action: str) -> NoReturn:
    if isinstance(error, psycopg.OperationalError):
        _fail(f"cannot {action}: RDS database {_label(dsn)} is unreachable", EXIT_UNREACHABLE)
    _fail(f"cannot {action} in {_label(dsn)}: {type(error).__name__}", EXIT_CONFIG)


@app.command("rds")
def seed_rds(
    properties: Annotated[
        int, typer.Option("--properties", min=60, help="number of RDS property rows")
    ] = 3000,
    seed: SeedOption = 7,
    dsn: DsnOption = None,
) -> None:
    """(Re)create companies, properties and property_features with every edge case."""
    url = _resolve_dsn(dsn)
    try:
        result = generate_rds(url, properties=properties, seed=seed)
    except psycopg.Error as error:
        _db_failure(error, url, "seed")
    console.print(
        f"RDS {_label(url)}: {result.properties} properties ({result.active} active, "
        f"{result.disabled} disabled, {result.null_sfdc_id} without sfdc_id, "
        f"{result.properties_in_multi_groups} in {result.multi_property_groups} shared "
        f"sfdc groups), {result.companies} companies, {result.property_features} "
        f"feature rows, {len(result.edge_cases)} named edge cases (seed {seed})",
        highlight=False,
        soft_wrap=True,
    )


@app.command("rds-changes")
def seed_rds_changes(seed: SeedOption = 7, dsn: DsnOption = None) -> None:
    """Apply a small day of changes (features, churn, new properties, one group move)."""
    url = _resolve_dsn(dsn)
    try:
        summary = mutate_rds(url, seed=seed)
    except ValueError as error:
        _fail(str(error), EXIT_CONFIG)
    except psycopg.Error as error:
        _db_failure(error, url, "change")
    counts = summary.changed_rows()
    console.print(
        f"RDS {_label(url)}: changed {counts['properties']} properties, "
        f"{counts['property_features']} feature rows, {counts['companies']} companies "
        f"at {summary.at.isoformat()}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("salesforce-records")
def seed_salesforce_records(
    out: Annotated[
        Path | None, typer.Option("--out", help="write JSON here instead of stdout")
    ] = None,
    seed: SeedOption = 7,
    dsn: DsnOption = None,
) -> None:
    """Print the Product_Property__c records Salesforce holds 'today', as JSON."""
    url = _resolve_dsn(dsn)
    try:
        records = initial_salesforce_records(url, seed=seed)
    except psycopg.Error as error:
        _db_failure(error, url, "read")
    text = json.dumps(records, indent=1)
    if out is None:
        sys.stdout.write(text + "\n")
        return
    out.write_text(text + "\n")
    console.print(f"{len(records)} Product_Property__c records written to {out}",
                  highlight=False, soft_wrap=True)


@app.command("propertyware")
def seed_propertyware(
    buildings: Annotated[
        int, typer.Option("--buildings", min=1, help="number of PropertyWare buildings")
    ] = 50,
    seed: SeedOption = 7,
    dsn: Annotated[
        str | None,
        typer.Option("--dsn", help="the PropertyWare simulator's state database",
                     show_default=False),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="or the running simulator's base URL (its admin API)",
                     show_default=False),
    ] = None,
    ca_bundle: Annotated[
        Path | None, typer.Option("--ca-bundle", help="the simulator's CA, with --url")
    ] = None,
) -> None:
    """Replace the PropertyWare simulator's objects with a generated data set."""
    # Imported here: only this command needs the simulator's modules.
    from sandbox.propertyware.admin import AdminError, load_objects
    from sandbox.propertyware.store import Store
    from sandbox.propertyware_admin import PropertyWareAdmin, PropertyWareAdminError

    if (dsn is None) == (url is None):
        _fail("give exactly one of --dsn (the simulator's database) and --url", EXIT_CONFIG)
    data = generate_propertyware(buildings=buildings, seed=seed)
    if url is not None:
        admin = PropertyWareAdmin(url, str(ca_bundle) if ca_bundle else None)
        try:
            admin.reset()
            admin.load(data.fixture())
        except PropertyWareAdminError as error:
            _fail(str(error), EXIT_UNREACHABLE)
        target = url
    else:
        checked = _checked(dsn or "")
        store = Store(checked)
        try:
            store.ensure_schema()
            store.reset()
            load_objects(store, data.fixture())
        except AdminError as error:
            _fail(str(error), EXIT_CONFIG)
        except psycopg.Error as error:
            _db_failure(error, checked, "seed")
        finally:
            store.close()
        target = _label(checked)
    counts = data.counts()
    corrupt = data.corruptions
    console.print(
        f"PropertyWare {target}: {counts['portfolios']} portfolios, {counts['buildings']}"
        f" buildings, {counts['units']} units, {counts['leases']} leases,"
        f" {counts['contacts']} contacts, {counts['vendors']} vendors,"
        f" {counts['workOrders']} work orders ({corrupt['unit_is_building_single']}"
        f" + {corrupt['unit_is_building_multi']} with the building as unit,"
        f" {corrupt['unit_of_other_building']} with another building's unit) (seed {seed})",
        highlight=False,
        soft_wrap=True,
    )
