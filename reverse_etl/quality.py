"""The data-quality gate: a Great Expectations checkpoint run before every real push.

The engine calls `run_gate(settings, sync, max_rows=...)` for the gate the registry
names (`Sync.gate`) and refuses to write when `GateResult.ok` is false.
`check_command` is the same gate as a CLI command, `build_data_docs` rebuilds the
HTML report for `make demo`.

What the gate checks (`SUITES`, keyed by gate name), and nothing else:

- the raw tables its sync's models read, as they are when the push starts: keys
  present and unique (a compound key for property_features), column types as the
  models cast them (text keys, timestamps WITH a time zone, booleans), accepted
  values (property status) and the columns the models cannot do without;
- freshness: the newest complete dlt load (`<dataset>._dlt_loads`, status 0) of
  the destination's read-back is at most QUALITY_MAX_RAW_AGE_HOURS old: a decision
  made on a stale read-back re-sends or skips what Salesforce already changed
  (incremental sources write no load when nothing changed; their freshness is
  dbt's source freshness, a warning);
- the SAFE_MODE bound: the sync view holds at most `max_rows` rows, the bound the
  engine computed for this pass (count cap and share of the destination in one
  number); no bound when SAFE_MODE is off.

Three suites: `rds_salesforce` (the RDS -> Salesforce properties syncs), `dispatch`
(the dispatch -> Supabase syncs: keys of raw_dispatch and of the raw_supabase
read-back, the price column's type) and `workorders`
(the PropertyWare <-> ServiceFusion syncs: raw_propertyware's portfolios, buildings,
units, leases and work orders, raw_servicefusion's customers and jobs; the
ServiceFusion read-back's freshness, as a dataset and for the customers, which the
extract replaces on every run it reads them).

dbt owns every invariant of the models and each is stated there only: the sync
views' keys (`_sync_key`, `Snappt_Property_ID__c`, `Id`, `_group_key`: unique, not
null; dbt_project/models/sync/_sync__models.yml), no group in both passes and no
create for a key Salesforce already holds (dbt_project/tests/:
assert_no_group_in_both_create_and_update.sql,
assert_no_create_for_a_key_salesforce_holds.sql).
A feature code the seed does not know is ignored by the models, pinned by the unit
test `enriched_pivots_features_from_the_seed` and reported as a dbt warning, so it
must not block a push here either. A second statement of a rule in this file would
drift from dbt's (as the feature-code check did) and make one rule two reviews.

Design choices, and why:

- The checks are declared below as plain data (`Check`) and turned into GX
  expectations each run, so the whole GX configuration lives in this file and
  can be reviewed in one diff. GX keeps its file project (stores, validation
  results, Data Docs) in `<quality_gx_root>/gx`, by default `.local/gx`, which is
  gitignored: nothing machine-specific is committed.
- The warehouse URL never reaches GX's YAML: the datasource is stored with a
  `${...}` placeholder and the URL is handed over as a runtime variable, so the
  password is not written to disk and the stored config is the same on every
  machine (and for every test database), which also keeps GX's object ids stable.
- GX takes 3 to 5 s to import, so it is imported lazily: loading this module
  (for the CLI, for the registry's tests, or for the pusher's dry runs) costs nothing.
- Before GX runs, one cheap psycopg round trip checks that the warehouse answers
  and that every table and column the checks name exists, so the commonest
  problems (the sandbox is down; an extract or `dbt build` has not run) get a
  one-line explanation instead of a GX exception.
- `run_gate` never raises for bad data or a broken warehouse: every such problem
  is a failed `GateResult`, so the push is blocked (the gate fails closed). Only a
  gate name that no suite defines raises, `GateConfigurationError`: that is a bug
  in the registry, not a state of the data.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

# Set before GX is imported anywhere in the process: GX reads it when a context is
# created, and the machines this runs on have no internet to send events to.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from common.settings import Settings, sandbox_dir
from reverse_etl.registry import Sync

if TYPE_CHECKING:
    import psycopg
    from great_expectations.data_context import FileDataContext

# The name of the runtime variable the datasource's connection string refers to.
WAREHOUSE_URL_VARIABLE = "PROPSYNC_QUALITY_WAREHOUSE_URL"
DATA_DOCS_SITE = "local_site"

RDS_STATUSES = ("ACTIVE", "DISABLED")

# Column types as GX reports them for Postgres (SQLAlchemy's names, compared without
# regard to case). dlt lands RDS uuids as text (VARCHAR); a uuid column is accepted
# too, since the models cast every key to text.
TEXT_TYPES = ("VARCHAR", "TEXT")
KEY_TYPES = (*TEXT_TYPES, "UUID")
# Without a time zone, the models' casts would read the values in the session's
# zone and shift the UTC feature dates Salesforce receives.
TIMESTAMP_TYPES = ("TIMESTAMP WITH TIME ZONE",)
BOOLEAN_TYPES = ("BOOLEAN",)

SAMPLE_SIZE = 5
# Gate results (and their Data Docs pages) kept per table; older ones are pruned.
KEEP_RUNS = 20
# Results listed on the Data Docs index (all tables together, newest first): GX reads
# each listed result to build the index, on every run.
INDEX_LIMIT = 40


class GateConfigurationError(ValueError):
    """A sync names a gate that no suite defines (or the gate of a sync without one
    is asked for): a mistake in the registry or in this file, not in the data."""


@dataclass
class GateResult:
    """What the pusher needs to decide whether to push, and what to tell the user."""

    ok: bool
    summary: str
    failures: list[str] = field(default_factory=list)
    data_docs_path: Path | None = None
    # True when the gate could not run at all (warehouse unreachable), as opposed to
    # having run and found bad data; the CLI maps it to exit code 3, not 4.
    unreachable: bool = False
    # True when the registry declares the sync has no gate (`no_gate_reason`): the
    # push goes ahead, and the summary says that nothing was checked and why.
    skipped: bool = False
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        if self.ok:
            return 0
        return 3 if self.unreachable else 4


# -- what is checked ------------------------------------------------------------

CheckKind = Literal[
    "not_null", "unique", "compound_unique", "in_set", "in_types", "exists", "fresh",
    "max_rows",
]


@dataclass(frozen=True)
class Check:
    """One expectation, described independently of GX so the report can name it."""

    kind: CheckKind
    description: str
    column: str | None = None
    columns: tuple[str, ...] = ()
    values: tuple[str, ...] = ()  # the accepted values (`in_set`) or types (`in_types`)
    max_rows: int | None = None
    # For `fresh`: SQL returning one row when the check fails, `{batch}` standing for
    # the table (GX's own placeholder); `columns` are those of the table it reads
    # (dlt's load table's by default).
    query: str | None = None
    # For `fresh` on a data table: the dlt load table of its dataset. The check is
    # then on the newest complete load that landed the table's rows, its query and
    # the age in its description (`{hours}`) filled in per run by `gate_tables`.
    loads_table: str | None = None

    @property
    def referenced_columns(self) -> tuple[str, ...]:
        if self.kind == "fresh":
            return self.columns or ("status", "inserted_at")
        return (self.column,) if self.column else self.columns


@dataclass(frozen=True)
class TableChecks:
    table: str  # schema-qualified, as in the warehouse
    checks: tuple[Check, ...]
    # What to do when the table is missing, for the one-line report.
    hint: str = "run `dbt build` first"

    @property
    def schema(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.table.split(".", 1)[1]


@dataclass(frozen=True)
class Suite:
    """One gate: the raw tables its syncs' models read, and the dlt datasets (by the
    extract that lands them) whose freshness their decisions rely on."""

    tables: tuple[TableChecks, ...]
    datasets: Mapping[str, str]  # dataset -> the command that lands it

    def __post_init__(self) -> None:
        if not self.tables and not self.datasets:
            raise ValueError("a suite must check something")


def _key_checks(column: str, label: str) -> tuple[Check, Check]:
    return (
        Check("not_null", f"{label} is present", column=column),
        Check("unique", f"{label} is unique", column=column),
    )


def _types(column: str, types: tuple[str, ...]) -> Check:
    return Check(
        "in_types", f"{column} is of type {' or '.join(types)}", column=column, values=types
    )


def _required(*columns: str) -> tuple[Check, ...]:
    """Columns the models read whose type they do not depend on: present, that is all."""
    return tuple(Check("exists", f"column {column} exists", column=column) for column in columns)


RDS_EXTRACT = "run `python -m extract rds` first"
SALESFORCE_EXTRACT = "run `python -m extract salesforce` first"

# The raw RDS tables every model of the Salesforce properties syncs reads.
_RAW_RDS: tuple[TableChecks, ...] = (
    TableChecks(
        "raw_rds.properties",
        (
            *_key_checks("id", "property id"),
            _types("id", KEY_TYPES),
            Check("not_null", "property status is present", column="status"),
            Check(
                "in_set",
                "property status is a known status",
                column="status",
                values=RDS_STATUSES,
            ),
            Check("not_null", "property name is present", column="name"),
            _types("inserted_at", TIMESTAMP_TYPES),
            _types("updated_at", TIMESTAMP_TYPES),
        ),
        hint=RDS_EXTRACT,
    ),
    TableChecks(
        "raw_rds.property_features",
        (
            Check("not_null", "feature property_id is present", column="property_id"),
            Check("not_null", "feature_code is present", column="feature_code"),
            Check(
                "compound_unique",
                "one row per (property_id, feature_code)",
                columns=("property_id", "feature_code"),
            ),
            _types("property_id", KEY_TYPES),
            _types("feature_code", TEXT_TYPES),
            _types("enabled", BOOLEAN_TYPES),
            _types("enabled_at", TIMESTAMP_TYPES),
            _types("updated_at", TIMESTAMP_TYPES),
        ),
        hint=RDS_EXTRACT,
    ),
    TableChecks(
        "raw_rds.companies",
        (
            *_key_checks("id", "company id"),
            _types("id", KEY_TYPES),
            Check("not_null", "company name is present", column="name"),
            _types("updated_at", TIMESTAMP_TYPES),
        ),
        hint=RDS_EXTRACT,
    ),
    TableChecks(
        "raw_salesforce.product_property",
        (*_key_checks("id", "Salesforce record Id"), _types("id", TEXT_TYPES)),
        hint=SALESFORCE_EXTRACT,
    ),
)

PROPERTYWARE_EXTRACT = "run `python -m extract propertyware` first"
SERVICEFUSION_EXTRACT = "run `python -m extract servicefusion` first"
# dlt lands PropertyWare's `long` / `int` fields and ServiceFusion's integer ids as
# bigint; the models join work orders to jobs on `number` = `po_number` (text), so
# those two types matter as much as the keys'.
ID_TYPES = ("BIGINT",)

# The raw tables the work-order models read (PropertyWare: what is true of buildings,
# units, tenants and work orders; ServiceFusion: what the destination holds).
_RAW_WORKORDERS: tuple[TableChecks, ...] = (
    TableChecks(
        "raw_propertyware.portfolios",
        (*_key_checks("id", "portfolio ID"), _types("id", ID_TYPES), *_required("name")),
        hint=PROPERTYWARE_EXTRACT,
    ),
    TableChecks(
        "raw_propertyware.buildings",
        (
            *_key_checks("id", "building ID"),
            _types("id", ID_TYPES),
            _types("portfolio_id", ID_TYPES),
            _types("multi_unit", BOOLEAN_TYPES),
            *_required("name", "address", "address2", "city", "state", "zip"),
        ),
        hint=PROPERTYWARE_EXTRACT,
    ),
    TableChecks(
        "raw_propertyware.units",
        (
            *_key_checks("id", "unit ID"),
            _types("id", ID_TYPES),
            _types("building_id", ID_TYPES),
            *_required("name", "address", "address2", "city", "state", "zip"),
        ),
        hint=PROPERTYWARE_EXTRACT,
    ),
    TableChecks(
        "raw_propertyware.leases",
        (
            *_key_checks("id", "lease ID"),
            _types("id", ID_TYPES),
            _types("unit_id", ID_TYPES),
            _types("active", BOOLEAN_TYPES),
            *_required("building_id"),
        ),
        hint=PROPERTYWARE_EXTRACT,
    ),
    TableChecks(
        "raw_propertyware.work_orders",
        (
            *_key_checks("id", "work order ID"),
            _types("id", ID_TYPES),
            _types("number", ID_TYPES),
            _types("building", ID_TYPES),
            _types("created_date", TIMESTAMP_TYPES),
            # Open or not is decided on the status: a null one would silently drop
            # the work order from every sync (or its job's status from the write-back).
            Check("not_null", "work order status is present", column="status"),
            *_required("description", "category"),
        ),
        hint=PROPERTYWARE_EXTRACT,
    ),
    TableChecks(
        "raw_servicefusion.customers",
        (
            *_key_checks("id", "ServiceFusion customer id"),
            _types("id", ID_TYPES),
            _types("account_number", TEXT_TYPES),
            *_required("customer_name", "parent_customer"),
            # Replaced whole by every extract that reads them, so the newest complete
            # load that landed them is their age (a `--resource jobs` run loads the
            # dataset without them).
            Check(
                "fresh",
                "customers landed by a complete dlt load at most {hours} h old "
                "(QUALITY_MAX_RAW_AGE_HOURS)",
                columns=("_dlt_load_id",),
                loads_table="raw_servicefusion._dlt_loads",
            ),
        ),
        hint=SERVICEFUSION_EXTRACT,
    ),
    TableChecks(
        "raw_servicefusion.jobs",
        (
            *_key_checks("id", "ServiceFusion job id"),
            _types("id", ID_TYPES),
            _types("customer_id", ID_TYPES),
            _types("po_number", TEXT_TYPES),
            _types("created_at", TIMESTAMP_TYPES),
            # ServiceFusion owns the job status: the write-back copies it.
            Check("not_null", "job status is present", column="status"),
            *_required("description", "updated_at"),
        ),
        hint=SERVICEFUSION_EXTRACT,
    ),
)

DISPATCH_EXTRACT = "run `python -m extract dispatch` first"
SUPABASE_EXTRACT = "run `python -m extract supabase` first"
# Serial keys of the legacy schema: integer, or bigint when a loader widened them.
SERIAL_TYPES = ("INTEGER", "BIGINT")

# The raw tables the dispatch models read: the legacy source (its keys and the one
# text column the money rules parse) and the Supabase read-back (its keys, which every
# create/update decision and the uuid mapping compare with).
_RAW_DISPATCH: tuple[TableChecks, ...] = (
    *(
        TableChecks(
            f"raw_dispatch.{table}",
            (*_key_checks("id", f"{table} id"), _types("id", SERIAL_TYPES), *extra),
            hint=DISPATCH_EXTRACT,
        )
        for table, extra in (
            ("dispatch_office", ()),
            ("dispatch_user", ()),
            ("dispatch_doctor", ()),
            ("dispatch_patient_status", ()),
            ("dispatch_patient", ()),
            ("dispatch_instruction", ()),
            # Text on purpose: the models parse it and reject what is not money.
            ("dispatch_operation", (_types("price", TEXT_TYPES),)),
        )
    ),
    *(
        TableChecks(
            f"raw_supabase.{table}",
            (*_key_checks("id", f"Supabase {table} id"), *_key_checks(key, f"{table} {key}")),
            hint=SUPABASE_EXTRACT,
        )
        for table, key in (
            ("offices", "legacy_office_id"),
            ("profiles", "legacy_user_id"),
            ("doctors", "legacy_doctor_id"),
            ("patients", "legacy_patient_id"),
            ("cases", "legacy_instruction_id"),
            ("operations", "legacy_operation_id"),
        )
    ),
)

# Gate name (`Sync.gate` in reverse_etl/registry.py) -> what it checks. A slice that
# adds a destination or a source adds its entry here, or declares in the registry
# why its syncs have none.
SUITES: Mapping[str, Suite] = MappingProxyType(
    {
        "rds_salesforce": Suite(
            tables=_RAW_RDS,
            # Freshness of the read-back, which every create/update decision compares
            # with: it is replaced on every extract, so its newest load is the last
            # extract. An incremental source (raw_rds) writes no load when nothing
            # changed, so its loads say nothing of the extract; dbt's source freshness
            # (warn after 7 days without a change) states that rule instead.
            datasets=MappingProxyType({"raw_salesforce": SALESFORCE_EXTRACT}),
        ),
        "workorders": Suite(
            tables=_RAW_WORKORDERS,
            # The ServiceFusion read-back (customers replaced, jobs merged) says what
            # exists and every job's status; raw_propertyware is the source, read
            # incrementally (no change, no rows), so dbt's source freshness has it.
            datasets=MappingProxyType({"raw_servicefusion": SERVICEFUSION_EXTRACT}),
        ),
        "dispatch": Suite(
            tables=_RAW_DISPATCH,
            # Both sides are read incrementally (no change, no load), so a load's age
            # says nothing of the extract's; none is required here.
            datasets=MappingProxyType({}),
        ),
    }
)


def _freshness_query(max_age_hours: float, loads_table: str | None = None) -> str:
    # One row (the newest complete load and its age) when that load is too old or
    # there is none; no row when fresh. `now()` is the warehouse's clock while dlt
    # stamps `inserted_at` with the loading machine's: minutes of skew are nothing
    # against a limit in hours. `{batch}` is left for GX to fill: the load table
    # itself, or (with `loads_table`) a data table whose rows name their load.
    seconds = round(max_age_hours * 3600, 3)
    source = (
        "from {batch} where status = 0"
        if loads_table is None
        else f"from {loads_table} where status = 0"
        " and load_id in (select distinct _dlt_load_id from {batch})"
    )
    return (
        "select max(inserted_at) as newest_load,"
        " round(cast(extract(epoch from now() - max(inserted_at)) / 3600 as numeric), 1)"
        f" as age_hours {source}"
        " having max(inserted_at) is null"
        f" or max(inserted_at) < now() - make_interval(secs => {seconds})"
    )


def _with_age(checks: TableChecks, max_age_hours: float) -> TableChecks:
    """The table's `fresh` checks on landed rows, with this run's age limit."""
    if not any(item.loads_table for item in checks.checks):
        return checks
    return replace(
        checks,
        checks=tuple(
            replace(
                item,
                description=item.description.format(hours=f"{max_age_hours:g}"),
                query=_freshness_query(max_age_hours, item.loads_table),
            )
            if item.loads_table
            else item
            for item in checks.checks
        ),
    )


def _freshness(dataset: str, hint: str, max_age_hours: float) -> TableChecks:
    return TableChecks(
        f"{dataset}._dlt_loads",
        (
            Check(
                "fresh",
                f"newest complete dlt load of {dataset} at most {max_age_hours:g} h old "
                "(QUALITY_MAX_RAW_AGE_HOURS)",
                query=_freshness_query(max_age_hours),
            ),
        ),
        hint=hint,
    )


def suite(gate: str) -> Suite:
    """The suite of a gate name; raises GateConfigurationError if none defines it."""
    try:
        return SUITES[gate]
    except KeyError:
        raise GateConfigurationError(
            f"no data-quality suite named {gate!r} in reverse_etl/quality.py "
            f"(defined: {', '.join(sorted(SUITES))})"
        ) from None


def gate_tables(settings: Settings, sync: Sync, *, max_rows: int | None) -> list[TableChecks]:
    """The tables and checks of one sync's gate, `max_rows` being its SAFE_MODE bound
    (None: SAFE_MODE is off). Raises GateConfigurationError for a sync without a gate
    or a gate no suite defines."""
    if sync.gate is None:
        raise GateConfigurationError(
            f"{sync.name} has no data-quality gate: {sync.no_gate_reason}"
        )
    chosen = suite(sync.gate)
    age = settings.quality.max_raw_age_hours
    tables = [_with_age(checks, age) for checks in chosen.tables]
    tables += [_freshness(dataset, hint, age) for dataset, hint in chosen.datasets.items()]
    if max_rows is not None:
        tables.append(
            TableChecks(
                sync.view,
                (
                    Check(
                        "max_rows",
                        f"row count within the SAFE_MODE bound ({max_rows})",
                        max_rows=max_rows,
                    ),
                ),
            )
        )
    return tables


# -- running it -----------------------------------------------------------------


def gx_root(settings: Settings) -> Path:
    return settings.quality.gx_root or sandbox_dir()


def _gx_dir(settings: Settings) -> Path:
    return gx_root(settings) / "gx"


def data_docs_index(settings: Settings) -> Path:
    return _gx_dir(settings) / "uncommitted" / "data_docs" / DATA_DOCS_SITE / "index.html"


def _import_gx() -> Any:
    # GX's own imports trip DeprecationWarnings (sre_constants, ...) that say nothing
    # about this project and would clutter every pytest run and CLI call.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx
        import great_expectations.expectations
    return gx


def _sqlalchemy_url(settings: Settings) -> str:
    # Encoded by hand because settings.warehouse.dsn() does not escape the password,
    # which SQLAlchemy parses strictly; the driver is named so that psycopg 3 is used
    # even where psycopg2 is installed as well.
    password = quote(settings.warehouse.password.get_secret_value(), safe="")
    user = quote(settings.warehouse.user, safe="")
    return (
        f"postgresql+psycopg://{user}:{password}@{settings.warehouse.host}:{settings.warehouse.port}"
        f"/{quote(settings.warehouse.database, safe='')}"
    )


def _connect(settings: Settings) -> psycopg.Connection[Any]:
    # Keyword arguments, not settings.warehouse.dsn(): that URL does not escape the
    # password, so a password with `@` or `/` would be misread.
    import psycopg

    warehouse = settings.warehouse
    return psycopg.connect(
        host=warehouse.host,
        port=warehouse.port,
        user=warehouse.user,
        password=warehouse.password.get_secret_value(),
        dbname=warehouse.database,
        connect_timeout=10,
        autocommit=True,
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _precheck(settings: Settings, tables: Sequence[TableChecks]) -> tuple[list[str], str | None]:
    """(missing tables and columns, connection error) via one quick psycopg connection."""
    import psycopg

    try:
        conn = _connect(settings)
    except psycopg.Error as error:
        # libpq's first line names the problem (refused, bad password, no such
        # database) and never the password itself.
        return [], f"warehouse {settings.warehouse.label()} unreachable: {_first_line(error)}"
    problems: list[str] = []
    with conn:
        try:
            for checks in tables:
                present = {
                    name
                    for (name,) in conn.execute(
                        "select attname from pg_attribute"
                        " where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped",
                        (checks.table,),
                    )
                }
                if not present:
                    problems.append(f"{checks.table}: table or view missing ({checks.hint})")
                    continue
                needed = dict.fromkeys(c for item in checks.checks for c in item.referenced_columns)
                problems += [
                    f"{checks.table}: column {column} missing ({checks.hint})"
                    for column in needed
                    if column not in present
                ]
        except psycopg.Error as error:
            problems.append(f"the warehouse could not be inspected: {_first_line(error)}")
    return problems, None


@contextmanager
def _project_lock(settings: Settings) -> Iterator[None]:
    """Serialise gate runs sharing one GX project: GX rewrites its files unlocked."""
    directory = _gx_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".gate.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _context(settings: Settings) -> FileDataContext:
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(
        mode="file",
        project_root_dir=gx_root(settings),
        runtime_environment={WAREHOUSE_URL_VARIABLE: _sqlalchemy_url(settings)},
    )
    variables = context.variables
    site = context.config.data_docs_sites[DATA_DOCS_SITE]
    index_builder = site.setdefault("site_index_builder", {"class_name": "DefaultSiteIndexBuilder"})
    if (
        variables.analytics_enabled is not False
        or getattr(variables.progress_bars, "globally", None) is not False
        or index_builder.get("validation_results_limit") != INDEX_LIMIT
    ):
        # Saved once into the project: no analytics even if the environment variable
        # is unset later, no progress bars interleaving with the pusher's output, and
        # an index page that lists a bounded number of runs.
        variables.analytics_enabled = False
        variables.progress_bars = ProgressBarsConfig(globally=False)
        index_builder["validation_results_limit"] = INDEX_LIMIT
        variables.data_docs_sites = context.config.data_docs_sites
        variables.save()
    return context


def _expectation(check: TableChecks, item: Check) -> Any:
    import great_expectations.expectations as gxe

    meta = {"table": check.table, "kind": item.kind}
    common: dict[str, Any] = {"description": item.description, "meta": meta}
    if item.kind == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=item.column, **common)
    if item.kind == "unique":
        return gxe.ExpectColumnValuesToBeUnique(column=item.column, **common)
    if item.kind == "compound_unique":
        return gxe.ExpectCompoundColumnsToBeUnique(column_list=list(item.columns), **common)
    if item.kind == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(
            column=item.column, value_set=list(item.values), **common
        )
    if item.kind == "exists":
        return gxe.ExpectColumnToExist(column=item.column, **common)
    if item.kind == "in_types":
        # Evaluated on the table's metadata (no scan); GX compares Postgres type names
        # without regard to case, so TIMESTAMP WITH and WITHOUT TIME ZONE differ.
        return gxe.ExpectColumnValuesToBeInTypeList(
            column=item.column, type_list=list(item.values), **common
        )
    if item.kind == "max_rows":
        return gxe.ExpectTableRowCountToBeBetween(
            min_value=0, max_value=item.max_rows, **common
        )
    assert item.kind == "fresh" and item.query
    return gxe.UnexpectedRowsExpectation(unexpected_rows_query=item.query, **common)


def _datasource(context: FileDataContext, schema: str) -> Any:
    """One GX datasource per warehouse schema.

    GX 1.24 deprecates `schema_name` on table assets in favour of a schema carried by
    the connection, so each datasource pins its schema through `search_path`.
    """
    name = f"warehouse_{schema}"
    if name in context.data_sources.all():
        return context.data_sources.get(name)
    return context.data_sources.add_postgres(
        name=name,
        connection_string="${" + WAREHOUSE_URL_VARIABLE + "}",
        kwargs={"connect_args": {"options": f"-csearch_path={schema}"}},
    )


def _suite_name(gate: str, checks: TableChecks) -> str:
    # Per gate: two gates may check one table differently, and a suite is rewritten
    # on every run of its gate.
    return f"gate__{gate}__{checks.schema}__{checks.name}"


def _checkpoint(
    context: FileDataContext, name: str, gate: str, tables: Sequence[TableChecks],
    *, detailed: bool,
) -> Any:
    gx = _import_gx()

    definitions = []
    for checks in tables:
        source = _datasource(context, checks.schema)
        try:
            asset = source.get_asset(checks.name)
        except LookupError:
            asset = source.add_table_asset(name=checks.name, table_name=checks.name)
        try:
            batch = asset.get_batch_definition("whole_table")
        except KeyError:
            batch = asset.add_batch_definition_whole_table("whole_table")
        # Suites are rewritten every run: the SAFE_MODE bound and the freshness limit
        # come from the caller and the settings.
        suite_name = _suite_name(gate, checks)
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(
                name=suite_name,
                expectations=[_expectation(checks, item) for item in checks.checks],
            )
        )
        definitions.append(
            context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
            )
        )
    # No UpdateDataDocsAction: it rebuilds the whole site index once per validation
    # definition (four times a run, 1.9 s against 1.0 s measured); `_update_data_docs`
    # builds it once after the run instead.
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=name,
            validation_definitions=definitions,
            actions=[],
            # BOOLEAN_ONLY asks one query per check (a key check on 1.2M rows: 0.4 to
            # 1.2 s); SUMMARY adds a second for the sample values, wanted only to
            # describe a failure.
            result_format=(
                {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
                if detailed else {"result_format": "BOOLEAN_ONLY"}
            ),
        )
    )


def _prune(settings: Settings, what: Literal["results", "pages"]) -> None:
    """Keep the newest KEEP_RUNS results (or their Data Docs pages) per suite.

    Every gate run stores one JSON result and one HTML page per table, and GX
    re-reads them to build the index, so without a bound the gate slows down run
    after run (measured: 1.6 s to 2.9 s over 40 runs). Layout, as GX writes it:
    `<base>/<suite>/<run name>/<run time>/<batch>.(json|html)`.
    """
    uncommitted = _gx_dir(settings) / "uncommitted"
    base = (
        uncommitted / "validations"
        if what == "results"
        else uncommitted / "data_docs" / DATA_DOCS_SITE / "validations"
    )
    if base.is_dir():
        for suite_dir in base.iterdir():
            runs = sorted(suite_dir.glob("*/*"), key=lambda path: path.name, reverse=True)
            for run in runs[KEEP_RUNS:]:
                shutil.rmtree(run, ignore_errors=True)


def _update_data_docs(context: FileDataContext, outcome: Any) -> None:
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    identifiers: list[Any] = list(outcome.run_results)
    identifiers += [
        ExpectationSuiteIdentifier(name=result.suite_name)
        for result in outcome.run_results.values()
    ]
    context.build_data_docs(site_names=[DATA_DOCS_SITE], resource_identifiers=identifiers)


def _format_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "(" + ", ".join(f"{key}={_format_value(item)}" for key, item in value.items()) + ")"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _sample_rows(settings: Settings, table: str, query: str) -> list[dict[str, Any]]:
    """A few rows of a custom-SQL check: GX's SUMMARY result omits them."""
    from psycopg.rows import dict_row

    sql = query.format(batch=table) + f"\nlimit {SAMPLE_SIZE}"
    with _connect(settings) as conn:
        conn.read_only = True
        return list(conn.cursor(row_factory=dict_row).execute(sql))  # type: ignore[arg-type]


def _exception_message(info: Any) -> str | None:
    """The first line of the error GX caught, if any.

    GX reports an expectation's own error flat, but a failed metric (say a missing
    column) as a dict of such reports keyed by metric id.
    """
    if not isinstance(info, dict):
        return None
    reports = [info] if "raised_exception" in info else list(info.values())
    for report in reports:
        if isinstance(report, dict) and report.get("raised_exception"):
            message = str(report.get("exception_message") or "").strip()
            return message.splitlines()[0] if message else "unknown error"
    return None


def _describe_freshness(settings: Settings, head: str, table: str, query: str) -> str:
    try:
        rows = _sample_rows(settings, table, query)
    except Exception as error:  # the failed check is the finding; the age is a courtesy
        return f"{head}: too old or missing (age unavailable: {type(error).__name__})"
    newest = rows[0] if rows else {}
    loaded = newest.get("newest_load")
    if loaded is None:
        return f"{head}: no complete load"
    when = loaded.isoformat(sep=" ", timespec="seconds") if hasattr(loaded, "isoformat") else loaded
    return f"{head}: newest is {when} ({newest['age_hours']} h old)"


def _describe_failure(settings: Settings, table: str, result: Any) -> str:
    config = result.expectation_config
    kind = (config.meta or {}).get("kind")
    head = f"{table}: {config.description or config.type}"
    error = _exception_message(result.exception_info)
    if error is not None:
        return f"{head}: could not be evaluated: {error}"
    details: dict[str, Any] = result.result or {}
    if kind == "max_rows":
        return f"{head}: {details.get('observed_value')} rows"
    if kind == "in_types":
        return f"{head}: it is {details.get('observed_value')}"
    if kind == "exists":
        return f"{head}: it is missing"
    if kind == "fresh":
        return _describe_freshness(
            settings, head, table, config.kwargs["unexpected_rows_query"]
        )
    values = details.get("partial_unexpected_list") or []
    if kind == "not_null":
        values = []  # "e.g. null, null" tells nothing
    elif kind in ("unique", "compound_unique"):
        # GX lists every duplicated row; one mention per key reads better.
        values = list({_format_value(value): None for value in values})
    else:
        values = [_format_value(value) for value in values]
    text = (
        f"{head}: {details.get('unexpected_count')} of {details.get('element_count')} "
        "rows unexpected"
    )
    return text + (f", e.g. {', '.join(values[:SAMPLE_SIZE])}" if values else "")


def _validate(
    settings: Settings, name: str, gate: str, tables: Sequence[TableChecks]
) -> tuple[int, list[str]]:
    """Run the checkpoint; (expectations evaluated, failure lines).

    Pass or fail first; only a failed run is run again with the figures and samples
    its failure lines give."""
    with _project_lock(settings):
        context = _context(settings)
        outcome = _checkpoint(context, name, gate, tables, detailed=False).run()
        if not outcome.success:
            outcome = _checkpoint(context, name, gate, tables, detailed=True).run()
        # Results before the build, so the index links no deleted result; pages after
        # it, since the build has just written this run's.
        _prune(settings, "results")
        _update_data_docs(context, outcome)
        _prune(settings, "pages")
    table_of = {_suite_name(gate, checks): checks.table for checks in tables}
    evaluated = 0
    failures: list[str] = []
    for validation in outcome.run_results.values():
        for result in validation.results:
            evaluated += 1
            if not result.success:
                failures.append(
                    _describe_failure(settings, table_of[validation.suite_name], result)
                )
    if not outcome.success and not failures:
        failures.append(f"{name}: GX reported a failure without a failed expectation")
    return evaluated, failures


# Within `suite_results_reused()`: (gate, warehouse) -> (expectations, failures) of the
# suite's own tables, checked once for every sync of that gate the command pushes.
_reused: dict[tuple[str, str], tuple[int, list[str]]] | None = None


@contextmanager
def suite_results_reused() -> Iterator[None]:
    """One command pushing several syncs of one gate (a destination's six tables) checks
    the suite's raw tables once: nothing the command does changes them (an extract
    does, and no push runs one). Each sync's own SAFE_MODE bound is still checked."""
    global _reused
    outer, _reused = _reused, {} if _reused is None else _reused
    try:
        yield
    finally:
        _reused = outer


def run_gate(settings: Settings, sync: Sync, *, max_rows: int | None) -> GateResult:
    """Validate the warehouse before a real push of `sync`.

    `max_rows` is the pass's effective SAFE_MODE bound, None when SAFE_MODE is off.
    Never raises for bad data, a missing table or a broken warehouse: those are a
    failed `GateResult` (the gate fails closed). A sync the registry declares
    without a gate passes with `skipped` set and its reason in the summary. Raises
    GateConfigurationError for a gate name no suite defines.
    """
    started = time.monotonic()
    title = f"data-quality gate {sync.name}"
    if sync.gate is None:
        return GateResult(
            ok=True,
            summary=f"{title}: skipped (no gate: {sync.no_gate_reason})",
            skipped=True,
        )
    tables = gate_tables(settings, sync, max_rows=max_rows)

    def result(failures: list[str], status: str, **extra: Any) -> GateResult:
        return GateResult(
            ok=not failures,
            summary="\n".join([f"{title}: {status}", *(f"  {line}" for line in failures)]),
            failures=failures,
            seconds=time.monotonic() - started,
            **extra,
        )

    try:
        missing, unreachable = _precheck(settings, tables)
    except Exception as error:  # whatever stops the look-up must block, not crash
        return result(
            [f"the warehouse could not be checked: {type(error).__name__}: {_first_line(error)}"],
            "ERROR",
        )
    if unreachable:
        return result([unreachable], "ERROR", unreachable=True)
    if missing:
        return result(missing, "FAILED")

    checkpoint = f"gate__{sync.destination}__{sync.entity}__{sync.pass_name}"
    try:
        if _reused is None:
            evaluated, failures = _validate(settings, checkpoint, sync.gate, tables)
        else:
            # The suite once per command, then only this sync's own bound.
            bound = [t for t in tables if t.table == sync.view]
            key = (sync.gate, settings.warehouse.label())
            if key not in _reused:
                suite_tables = [t for t in tables if t.table != sync.view]
                _reused[key] = _validate(settings, checkpoint, sync.gate, suite_tables)
            suite_count, suite_failures = _reused[key]
            own_count, own_failures = (
                _validate(settings, checkpoint, sync.gate, bound) if bound else (0, [])
            )
            evaluated, failures = suite_count + own_count, [*suite_failures, *own_failures]
    except Exception as error:  # any GX surprise must block the push, not crash it
        return result(
            [f"the checks could not run: {type(error).__name__}: {_first_line(error)}"], "ERROR"
        )

    docs = data_docs_index(settings)
    seconds = time.monotonic() - started
    scope = f"on {len(tables)} tables, {seconds:.1f} s"
    gate = result(
        failures,
        f"FAILED ({len(failures)} of {evaluated} expectations failed {scope})"
        if failures
        else f"passed ({evaluated} expectations {scope})",
        data_docs_path=docs if docs.exists() else None,
    )
    gate.summary += f"\n  Data Docs: {docs}"
    return gate


def build_data_docs(settings: Settings) -> Path:
    """Rebuild the Data Docs site from the stored gate results; return its index page."""
    with _project_lock(settings):
        context = _context(settings)
        _prune(settings, "results")
        context.build_data_docs(site_names=[DATA_DOCS_SITE])
        _prune(settings, "pages")
    return data_docs_index(settings)


# Which code a multi-sync check returns: a usage problem first (the command did not
# check what was asked), then an unreachable warehouse, then blocked data.
_EXIT_PRECEDENCE = (2, 3, 4, 0)


def check_command(destination: str, pass_name: str) -> int:
    """CLI hook (`reverse-etl quality check <destination> --pass <pass>`): run the
    gate of every sync of that destination and pass, print the reports.

    Returns 0 passed, 4 blocked, 3 warehouse unreachable, 2 bad usage or a sync
    without a gate (the exit codes of docs/commands.md). Standalone, the SAFE_MODE
    bound is the sync's count cap: the share of the destination is the engine's.
    """
    from rich.console import Console
    from rich.text import Text

    from common.settings import ConfigurationError, load_settings
    from reverse_etl import registry

    out, err = Console(), Console(stderr=True)

    def error(message: str) -> int:
        err.print(Text("error: ", style="red") + Text(message), soft_wrap=True)
        return 2

    if pass_name not in registry.PASSES:
        return error(f"unknown pass {pass_name!r} (use {' or '.join(registry.PASSES)})")
    try:
        syncs = registry.select(destination, pass_name)
        settings = load_settings()
    except (registry.UnknownSync, ConfigurationError) as problem:
        return error(str(problem))
    if not syncs:
        return error(f"{destination} has no {pass_name} sync")
    codes: list[int] = []
    for sync in syncs:
        if sync.gate is None:
            # Asked for by name, a gate that checks nothing would only mislead.
            codes.append(error(f"{sync.name} has no data-quality gate: {sync.no_gate_reason}"))
            continue
        bound = sync.max_rows_for(settings) if settings.safety.safe_mode else None
        try:
            gate = run_gate(settings, sync, max_rows=bound)
        except GateConfigurationError as problem:
            codes.append(error(str(problem)))
            continue
        # Text, not a markup string: the report quotes data values, and `[...]` in
        # them must print as it is. No wrapping: one finding stays one line in logs.
        out.print(Text(gate.summary, style="green" if gate.ok else "red"), soft_wrap=True)
        codes.append(gate.exit_code)
    return next(code for code in _EXIT_PRECEDENCE if code in codes)


__all__ = [
    "SUITES",
    "Check",
    "GateConfigurationError",
    "GateResult",
    "Suite",
    "TableChecks",
    "build_data_docs",
    "check_command",
    "data_docs_index",
    "gate_tables",
    "gx_root",
    "run_gate",
    "suite",
]
