"""`python -m sandbox seed ...`: fill the RDS stand-in (and the PropertyWare and
ServiceFusion simulators) with demo data.

`seed servicefusion` and `seed workorders` generate the PropertyWare data of the same
`--buildings` and `--seed` first, so the ServiceFusion customers and jobs overlap it as
`sandbox.generate.servicefusion` describes; `workorders` seeds both simulators.

`seed dispatch` (re)creates the legacy dispatch tables and the Supabase tables (empty, or
as the initial migration left them), `seed dispatch-changes` applies a day of legacy
changes and `seed supabase-edits` lets the new app edit Supabase rows; their databases
default to DISPATCH_DATABASE_URL and SUPABASE_DATABASE_URL.

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

from sandbox.generate.propertyware import GeneratedPropertyWare, generate_propertyware
from sandbox.generate.rds import generate_rds, initial_salesforce_records, mutate_rds
from sandbox.generate.servicefusion import GeneratedServiceFusion, generate_servicefusion
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


BuildingsOption = Annotated[
    int, typer.Option("--buildings", min=1, help="number of PropertyWare buildings")
]
CaBundleOption = Annotated[
    Path | None,
    typer.Option("--ca-bundle", help="the simulator's CA, with --url; default REQUESTS_CA_BUNDLE",
                 show_default=False),
]


def _seed_propertyware(data: GeneratedPropertyWare, dsn: str | None, url: str | None,
                       ca_bundle: Path | None) -> str:
    """Replace the PropertyWare simulator's objects with `data`; returns what was seeded."""
    # Imported here: only the seeding commands need the simulator's modules.
    from sandbox.propertyware.admin import AdminError, load_objects
    from sandbox.propertyware.store import Store
    from sandbox.propertyware_admin import PropertyWareAdmin, PropertyWareAdminError

    if url is not None:
        admin = PropertyWareAdmin(url, str(ca_bundle) if ca_bundle else None)
        try:
            admin.reset()
            admin.load(data.fixture())
        except PropertyWareAdminError as error:
            _fail(str(error), EXIT_UNREACHABLE)
        return url
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
    return _label(checked)


def _propertyware_summary(target: str, data: GeneratedPropertyWare, seed: int) -> str:
    counts = data.counts()
    corrupt = data.corruptions
    return (
        f"PropertyWare {target}: {counts['portfolios']} portfolios, {counts['buildings']}"
        f" buildings, {counts['units']} units, {counts['leases']} leases,"
        f" {counts['contacts']} contacts, {counts['vendors']} vendors,"
        f" {counts['workOrders']} work orders ({corrupt['unit_is_building_single']}"
        f" + {corrupt['unit_is_building_multi']} with the building as unit,"
        f" {corrupt['unit_of_other_building']} with another building's unit) (seed {seed})"
    )


@app.command("propertyware")
def seed_propertyware(
    buildings: BuildingsOption = 50,
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
    if (dsn is None) == (url is None):
        _fail("give exactly one of --dsn (the simulator's database) and --url", EXIT_CONFIG)
    data = generate_propertyware(buildings=buildings, seed=seed)
    target = _seed_propertyware(data, dsn, url, ca_bundle)
    console.print(_propertyware_summary(target, data, seed), highlight=False, soft_wrap=True)


def _stack_url(given: str | None, variable: str, what: str) -> str:
    """A simulator's base URL: the option, else the stack's variable (a PropertyWare
    WSDL URL is cut to its base)."""
    if given:
        return given
    value = stack_env().get(variable)
    if not value:
        _fail(f"{variable} is not set (or pass {what}); `python -m sandbox up` sets it",
              EXIT_CONFIG)
    return value.split("/pw/", 1)[0] if variable == "PROPERTYWARE_WSDL_URL" else value


def _ca(given: Path | None) -> Path | None:
    if given is not None:
        return given
    configured = stack_env().get("REQUESTS_CA_BUNDLE")
    return Path(configured) if configured else None


def _seed_servicefusion(data: GeneratedServiceFusion, url: str, ca_bundle: Path | None) -> None:
    """Replace the ServiceFusion simulator's customers and jobs (reset, then load)."""
    from sandbox.servicefusion_admin import ServiceFusionAdmin, ServiceFusionAdminError

    admin = ServiceFusionAdmin(url, str(ca_bundle) if ca_bundle else None)
    try:
        admin.reset()
        admin.load_customers(data.customers)
        admin.load_jobs(data.jobs)
    except ServiceFusionAdminError as error:
        _fail(str(error), EXIT_UNREACHABLE)


def _servicefusion_summary(target: str, data: GeneratedServiceFusion, seed: int) -> str:
    counts = data.counts()
    return (
        f"ServiceFusion {target}: {counts['customers']} customers, {counts['jobs']} jobs;"
        f" buildings: {counts['customer_exact']} exact (PW-B-), {counts['customer_auto']}"
        f" automatic matches, {counts['customer_review']} for review, {counts['customer_far']}"
        f" far duplicates, {counts['customer_absent']} absent; parents:"
        f" {counts['parent_exact']} exact, {counts['parent_name_match']} by name;"
        f" work orders: {counts['job_exact_in_step']} jobs in step,"
        f" {counts['job_exact_status_differs']} with another status,"
        f" {counts['job_temporal_match']} temporal match, {counts['job_temporal_outside']}"
        f" outside the window; {len(data.unrelated)} other clients (seed {seed})"
    )


@app.command("servicefusion")
def seed_servicefusion(
    buildings: BuildingsOption = 50,
    seed: SeedOption = 7,
    url: Annotated[
        str | None,
        typer.Option("--url", help="the running simulator's base URL (its admin API);"
                     " default SERVICEFUSION_BASE_URL", show_default=False),
    ] = None,
    ca_bundle: CaBundleOption = None,
) -> None:
    """Replace the ServiceFusion simulator's customers and jobs with ones that overlap
    the PropertyWare data of the same --buildings and --seed (every dedup case)."""
    target = _stack_url(url, "SERVICEFUSION_BASE_URL", "--url")
    data = generate_servicefusion(generate_propertyware(buildings=buildings, seed=seed), seed)
    _seed_servicefusion(data, target, _ca(ca_bundle))
    console.print(_servicefusion_summary(target, data, seed), highlight=False, soft_wrap=True)


@app.command("workorders")
def seed_workorders(
    buildings: BuildingsOption = 50,
    seed: SeedOption = 7,
    propertyware_url: Annotated[
        str | None,
        typer.Option("--propertyware-url", help="the PropertyWare simulator's base URL;"
                     " default from PROPERTYWARE_WSDL_URL", show_default=False),
    ] = None,
    propertyware_dsn: Annotated[
        str | None,
        typer.Option("--propertyware-dsn", help="or its state database",
                     show_default=False),
    ] = None,
    servicefusion_url: Annotated[
        str | None,
        typer.Option("--servicefusion-url", help="the ServiceFusion simulator's base URL;"
                     " default SERVICEFUSION_BASE_URL", show_default=False),
    ] = None,
    ca_bundle: CaBundleOption = None,
) -> None:
    """Seed both simulators consistently: PropertyWare's data set and the ServiceFusion
    customers and jobs that overlap it."""
    if propertyware_url is not None and propertyware_dsn is not None:
        _fail("give at most one of --propertyware-url and --propertyware-dsn", EXIT_CONFIG)
    pw_url = None if propertyware_dsn is not None else _stack_url(
        propertyware_url, "PROPERTYWARE_WSDL_URL", "--propertyware-url")
    sf_url = _stack_url(servicefusion_url, "SERVICEFUSION_BASE_URL", "--servicefusion-url")
    ca = _ca(ca_bundle)
    pw = generate_propertyware(buildings=buildings, seed=seed)
    sf = generate_servicefusion(pw, seed)
    target = _seed_propertyware(pw, propertyware_dsn, pw_url, ca)
    console.print(_propertyware_summary(target, pw, seed), highlight=False, soft_wrap=True)
    _seed_servicefusion(sf, sf_url, ca)
    console.print(_servicefusion_summary(sf_url, sf, seed), highlight=False, soft_wrap=True)


# -- legacy dispatch -> Supabase -------------------------------------------------------------

DispatchDsnOption = Annotated[
    str | None,
    typer.Option("--dsn", help="the legacy dispatch database; default DISPATCH_DATABASE_URL",
                 show_default=False),
]
SupabaseDsnOption = Annotated[
    str | None,
    typer.Option("--target-dsn", help="the Supabase database; default SUPABASE_DATABASE_URL",
                 show_default=False),
]

_DISPATCH_LABELS = {
    "dispatch_office": "offices", "dispatch_user": "users", "dispatch_doctor": "doctors",
    "dispatch_patient_status": "patient statuses", "dispatch_patient": "patients",
    "dispatch_instruction": "instructions", "dispatch_operation": "operations",
}


def _named_dsn(given: str | None, variable: str, option: str) -> str:
    """A database URL: the option, else `variable` (environment, then sandbox.env)."""
    value = given or stack_env().get(variable)
    if not value:
        _fail(f"{variable} is not set (or pass {option}); `python -m sandbox up` sets it",
              EXIT_CONFIG)
    try:
        conninfo_to_dict(value)
    except psycopg.ProgrammingError:
        _fail(f"{variable} (or {option}) is not a valid Postgres URL", EXIT_CONFIG)
    return value


def _named_db_failure(error: psycopg.Error, dsn: str, what: str, action: str) -> NoReturn:
    if isinstance(error, psycopg.OperationalError):
        _fail(f"cannot {action}: {what} database {_label(dsn)} is unreachable",
              EXIT_UNREACHABLE)
    _fail(f"cannot {action} in {what} database {_label(dsn)}: {type(error).__name__}",
          EXIT_CONFIG)


def _reachable(dsn: str, what: str, action: str) -> None:
    """Fail before writing anything when a database of the command does not answer."""
    try:
        psycopg.connect(dsn, connect_timeout=10).close()
    except psycopg.Error as error:
        _named_db_failure(error, dsn, what, action)


def _per_table(counts: dict[str, int], labels: dict[str, str] | None = None) -> str:
    return ", ".join(f"{(labels or {}).get(t, t)} {n:,}" for t, n in counts.items())


@app.command("dispatch")
def seed_dispatch(
    rows: Annotated[
        int, typer.Option("--rows", min=1000, help="rows in total across the legacy tables")
    ] = 20_000,
    seed: SeedOption = 7,
    migrated_share: Annotated[
        float, typer.Option("--migrated-share", min=0.0, max=1.0,
                            help="share of the source rows the initial migration wrote to"
                                 " Supabase (random uuids)")
    ] = 0.0,
    app_edit_share: Annotated[
        float, typer.Option("--app-edit-share", min=0.0, max=1.0,
                            help="share of the migrated rows the new app edited since")
    ] = 0.0,
    dsn: DispatchDsnOption = None,
    target_dsn: SupabaseDsnOption = None,
) -> None:
    """(Re)create the legacy dispatch tables with every quirk, and the Supabase tables,
    empty or as the initial migration left them."""
    # Imported here: the other seed commands do not need these modules.
    from sandbox.generate.dispatch import generate_dispatch
    from sandbox.generate.supabase import create_supabase

    source = _named_dsn(dsn, "DISPATCH_DATABASE_URL", "--dsn")
    target = _named_dsn(target_dsn, "SUPABASE_DATABASE_URL", "--target-dsn")
    if app_edit_share > 0 and migrated_share == 0:
        _fail("--app-edit-share needs --migrated-share: the new app edits migrated rows",
              EXIT_CONFIG)
    _reachable(source, "dispatch", "seed")
    _reachable(target, "Supabase", "seed")
    try:
        generated = generate_dispatch(source, rows=rows, seed=seed)
    except psycopg.Error as error:
        _named_db_failure(error, source, "dispatch", "seed")
    console.print(
        f"dispatch {_label(source)}: {generated.total:,} rows in {generated.seconds:.1f} s"
        f" ({_per_table(generated.counts, _DISPATCH_LABELS)}) (seed {seed})",
        highlight=False, soft_wrap=True,
    )
    try:
        result = create_supabase(target, source_dsn=source, migrated_share=migrated_share,
                                 app_edit_share=app_edit_share, seed=seed)
    except psycopg.Error as error:
        _named_db_failure(error, target, "Supabase", "seed")
    if result.cutover is None and migrated_share == 0:
        state = "empty tables (no initial migration)"
    else:
        when = "everything" if result.cutover is None else f"cutover {result.cutover:%Y-%m-%d}"
        edited = {t: len(ids) for t, ids in result.app_edited.items()}
        state = (f"initial migration ({when}): {_per_table(result.migrated)};"
                 f" {sum(result.stale.values()):,} rows changed in the legacy app since,"
                 f" {sum(edited.values()):,} edited in the new app")
    console.print(f"Supabase {_label(target)}: {state}, in {result.seconds:.1f} s",
                  highlight=False, soft_wrap=True)


@app.command("dispatch-changes")
def seed_dispatch_changes(
    share: Annotated[
        float, typer.Option("--share", min=0.0001, max=0.5,
                            help="share of the legacy rows to touch")
    ] = 0.01,
    seed: SeedOption = 7,
    dsn: DispatchDsnOption = None,
) -> None:
    """Apply a day of legacy changes: updates (some moving a treatment phase without
    touching the patient), new rows, hard deletes."""
    from sandbox.generate.dispatch import mutate_dispatch

    source = _named_dsn(dsn, "DISPATCH_DATABASE_URL", "--dsn")
    try:
        changes = mutate_dispatch(source, share=share, seed=seed)
    except ValueError as error:
        _fail(str(error), EXIT_CONFIG)
    except psycopg.Error as error:
        _named_db_failure(error, source, "dispatch", "change")
    deleted = {t: len(ids) for t, ids in changes.deleted.items()}
    console.print(
        f"dispatch {_label(source)}: {changes.touched:,} rows touched at"
        f" {changes.at.isoformat()} in {changes.seconds:.1f} s; updated"
        f" {_per_table(changes.updated, _DISPATCH_LABELS)}; inserted"
        f" {_per_table(changes.inserted, _DISPATCH_LABELS)}; deleted"
        f" {_per_table(deleted, _DISPATCH_LABELS)}; {changes.phase_changes:,} treatment"
        f" phases moved by instructions alone",
        highlight=False, soft_wrap=True,
    )


@app.command("supabase-edits")
def seed_supabase_edits(
    share: Annotated[
        float, typer.Option("--share", min=0.0001, max=1.0,
                            help="share of the live Supabase rows the new app edits")
    ] = 0.01,
    seed: SeedOption = 7,
    target_dsn: SupabaseDsnOption = None,
) -> None:
    """Let the new application edit Supabase rows (conflicts for the next sync)."""
    from sandbox.generate.supabase import app_edit

    target = _named_dsn(target_dsn, "SUPABASE_DATABASE_URL", "--target-dsn")
    try:
        edits = app_edit(target, share=share, seed=seed)
    except psycopg.Error as error:
        _named_db_failure(error, target, "Supabase", "edit")
    counts = {t: len(ids) for t, ids in edits.edited.items()}
    console.print(f"Supabase {_label(target)}: the new app edited {_per_table(counts)}",
                  highlight=False, soft_wrap=True)
