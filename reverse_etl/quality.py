"""The data-quality gate: a Great Expectations checkpoint run before every real push.

The pusher calls `run_gate(settings, destination, pass_name)` and refuses to write
when `GateResult.ok` is false. `check_command` is the same gate as a CLI command,
`build_data_docs` rebuilds the HTML report for `make demo`.

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
  (for the CLI, or for the pusher's dry runs) costs nothing.
- Before GX runs, one cheap psycopg round trip checks that the warehouse answers
  and that every table the pass needs exists, so the two commonest problems (the
  sandbox is down; dbt has not built the views yet) get a one-line explanation
  instead of a GX exception.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

# Set before GX is imported anywhere in the process: GX reads it when a context is
# created, and the machines this runs on have no internet to send events to.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from common.product_features import feature_codes
from common.settings import Settings, sandbox_dir

if TYPE_CHECKING:
    from great_expectations.data_context import FileDataContext

PassName = Literal["create", "update"]
PASSES: tuple[PassName, ...] = ("create", "update")

GATED_DESTINATIONS = frozenset({"salesforce"})

# The name of the runtime variable the datasource's connection string refers to.
WAREHOUSE_URL_VARIABLE = "PROPSYNC_QUALITY_WAREHOUSE_URL"
DATA_DOCS_SITE = "local_site"

RDS_STATUSES = ("ACTIVE", "DISABLED")

SAMPLE_SIZE = 5
# Gate results (and their Data Docs pages) kept per table; older ones are pruned.
KEEP_RUNS = 20
# Results listed on the Data Docs index (all tables together, newest first): GX reads
# each listed result to build the index, on every run.
INDEX_LIMIT = 40


class GateConfigurationError(ValueError):
    """The gate was asked for a pass it does not know, or checks nobody wrote."""


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
    # True when the destination has no checks (only Salesforce has so far): the push
    # goes ahead, and the summary says that nothing was checked.
    skipped: bool = False
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        if self.ok:
            return 0
        return 3 if self.unreachable else 4


# -- what is checked ------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One expectation, described independently of GX so the report can name it."""

    kind: Literal["not_null", "unique", "in_set", "compound_unique", "max_rows", "no_rows"]
    description: str
    column: str | None = None
    columns: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    max_rows: int | None = None
    # For `no_rows`: SQL returning the offending rows, `{batch}` standing for the table.
    query: str | None = None


@dataclass(frozen=True)
class TableChecks:
    table: str  # schema-qualified, as in the warehouse
    checks: tuple[Check, ...]

    @property
    def schema(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.table.split(".", 1)[1]

    @property
    def suite_name(self) -> str:
        return f"gate__{self.schema}__{self.name}"


def _key_checks(column: str, label: str) -> tuple[Check, Check]:
    return (
        Check("not_null", f"{label} is present", column=column),
        Check("unique", f"{label} is unique", column=column),
    )


# GX substitutes `{batch}` with an already aliased subquery (unless the query has a
# JOIN), so the batch's columns are referenced unqualified and only the lookups are
# aliased.
CREATE_ALREADY_IN_SALESFORCE = """
select "_sync_key", "Snappt_Property_ID__c", "_group_key",
       case
         when "_group_key" in (select u."_group_key" from sync.properties_to_update as u)
           then 'group is in the update queue'
         else 'id already in Salesforce'
       end as problem
from {batch}
where "_group_key" in (
        select u."_group_key" from sync.properties_to_update as u
        where u."_group_key" is not null)
   or "Snappt_Property_ID__c" in (
        select p.snappt_property_id_c from raw_salesforce.product_property as p
        where p.snappt_property_id_c is not null)
"""


def _raw_tables() -> list[TableChecks]:
    return [
        TableChecks(
            "raw_rds.properties",
            (
                *_key_checks("id", "property id"),
                Check("not_null", "property status is present", column="status"),
                Check(
                    "in_set",
                    "property status is a known status",
                    column="status",
                    values=RDS_STATUSES,
                ),
                Check("not_null", "property name is present", column="name"),
            ),
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
                Check(
                    "in_set",
                    "feature_code is a known feature",
                    column="feature_code",
                    values=feature_codes(),
                ),
            ),
        ),
        TableChecks(
            "raw_rds.companies",
            (
                *_key_checks("id", "company id"),
                Check("not_null", "company name is present", column="name"),
            ),
        ),
    ]


def gate_tables(settings: Settings, destination: str, pass_name: str) -> list[TableChecks]:
    """The tables and checks of one pass; raises GateConfigurationError if unknown."""
    if destination not in GATED_DESTINATIONS:
        raise GateConfigurationError(
            f"no data-quality gate for destination {destination!r} "
            f"(gated: {', '.join(sorted(GATED_DESTINATIONS))})"
        )
    if pass_name not in PASSES:
        raise GateConfigurationError(f"unknown pass {pass_name!r} (use create or update)")
    tables = _raw_tables()
    if pass_name == "create":
        checks: list[Check] = [
            *_key_checks("_sync_key", "_sync_key"),
            *_key_checks("Snappt_Property_ID__c", "Snappt_Property_ID__c"),
            Check(
                "no_rows",
                "no create for a group that already has a staging record in Salesforce",
                query=CREATE_ALREADY_IN_SALESFORCE,
            ),
        ]
        if settings.safety.safe_mode:
            checks.append(
                Check(
                    "max_rows",
                    f"create queue within SAFE_MODE cap ({settings.safety.safe_mode_max_creates})",
                    max_rows=settings.safety.safe_mode_max_creates,
                )
            )
        tables.append(TableChecks("sync.properties_to_create", tuple(checks)))
    else:
        checks = [
            *_key_checks("_sync_key", "_sync_key"),
            *_key_checks("Id", "Salesforce Id"),
        ]
        if settings.safety.safe_mode:
            checks.append(
                Check(
                    "max_rows",
                    f"update queue within SAFE_MODE cap ({settings.safety.safe_mode_max_updates})",
                    max_rows=settings.safety.safe_mode_max_updates,
                )
            )
        tables.append(TableChecks("sync.properties_to_update", tuple(checks)))
    return tables


def required_tables(pass_name: str) -> list[str]:
    """Every relation a pass reads, including those only its custom SQL looks up."""
    raw = [checks.table for checks in _raw_tables()]
    if pass_name == "create":
        return [
            *raw,
            "sync.properties_to_create",
            "sync.properties_to_update",
            "raw_salesforce.product_property",
        ]
    return [*raw, "sync.properties_to_update"]


def has_gate(destination: str) -> bool:
    """Whether any checks exist for this destination (`run_gate` skips the others)."""
    return destination in GATED_DESTINATIONS


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


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _precheck(settings: Settings, tables: Sequence[str]) -> tuple[list[str], str | None]:
    """(missing tables, connection error) via one quick psycopg connection."""
    import psycopg

    try:
        with psycopg.connect(settings.warehouse.dsn(), connect_timeout=10, autocommit=True) as conn:
            missing = [
                table
                for table in tables
                if conn.execute("select to_regclass(%s)", (table,)).fetchone() == (None,)
            ]
    except psycopg.Error as error:
        # libpq's first line names the problem (refused, bad password, no such
        # database) and never the password itself.
        return [], f"warehouse {settings.warehouse.label()} unreachable: {_first_line(error)}"
    return missing, None


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
    if item.kind == "not_null":
        assert item.column
        return gxe.ExpectColumnValuesToNotBeNull(
            column=item.column, description=item.description, meta=meta
        )
    if item.kind == "unique":
        assert item.column
        return gxe.ExpectColumnValuesToBeUnique(
            column=item.column, description=item.description, meta=meta
        )
    if item.kind == "in_set":
        assert item.column
        return gxe.ExpectColumnValuesToBeInSet(
            column=item.column,
            value_set=list(item.values),
            description=item.description,
            meta=meta,
        )
    if item.kind == "compound_unique":
        return gxe.ExpectCompoundColumnsToBeUnique(
            column_list=list(item.columns), description=item.description, meta=meta
        )
    if item.kind == "max_rows":
        return gxe.ExpectTableRowCountToBeBetween(
            min_value=0, max_value=item.max_rows, description=item.description, meta=meta
        )
    assert item.query
    return gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=item.query, description=item.description, meta=meta
    )


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


def _checkpoint(context: FileDataContext, name: str, tables: Sequence[TableChecks]) -> Any:
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
        # Suites are rewritten every run: the SAFE_MODE bounds come from settings.
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(
                name=checks.suite_name,
                expectations=[_expectation(checks, item) for item in checks.checks],
            )
        )
        definitions.append(
            context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=checks.suite_name, data=batch, suite=suite)
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
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE},
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
    """A few offending rows of a custom-SQL check: GX's SUMMARY result omits them."""
    import psycopg
    from psycopg.rows import dict_row

    sql = query.format(batch=table) + f"\nlimit {SAMPLE_SIZE}"
    with psycopg.connect(settings.warehouse.dsn(), connect_timeout=10, autocommit=True) as conn:
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
    if kind == "no_rows":
        count = details.get("observed_value")
        try:
            rows = _sample_rows(settings, table, config.kwargs["unexpected_rows_query"])
        except Exception as sample_error:  # the count is the finding; samples are a courtesy
            rows, note = [], f" (samples unavailable: {type(sample_error).__name__})"
        else:
            note = ""
        samples = "; ".join(_format_value(row) for row in rows)
        return f"{head}: {count} offending row(s){note}" + (f", e.g. {samples}" if samples else "")
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
    settings: Settings, name: str, tables: Sequence[TableChecks]
) -> tuple[int, list[str]]:
    """Run the checkpoint; (expectations evaluated, failure lines)."""
    with _project_lock(settings):
        context = _context(settings)
        outcome = _checkpoint(context, name, tables).run()
        # Results before the build, so the index links no deleted result; pages after
        # it, since the build has just written this run's.
        _prune(settings, "results")
        _update_data_docs(context, outcome)
        _prune(settings, "pages")
    table_of = {checks.suite_name: checks.table for checks in tables}
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


def run_gate(settings: Settings, destination: str, pass_name: str) -> GateResult:
    """Validate the warehouse for one pass.

    Never raises for bad data, a missing table or a broken warehouse: those are a
    failed `GateResult` (the gate fails closed). A destination without checks passes
    with `skipped` set, because the pusher asks before every real push of every
    destination. Raises GateConfigurationError for an unknown pass.
    """
    started = time.monotonic()
    title = f"data-quality gate {destination}/{pass_name}"
    if pass_name not in PASSES:
        raise GateConfigurationError(f"unknown pass {pass_name!r} (use create or update)")
    if not has_gate(destination):
        return GateResult(
            ok=True, summary=f"{title}: skipped (no checks for this destination)", skipped=True
        )
    tables = gate_tables(settings, destination, pass_name)

    def result(failures: list[str], status: str, **extra: Any) -> GateResult:
        return GateResult(
            ok=not failures,
            summary="\n".join([f"{title}: {status}", *(f"  {line}" for line in failures)]),
            failures=failures,
            seconds=time.monotonic() - started,
            **extra,
        )

    missing, unreachable = _precheck(settings, required_tables(pass_name))
    if unreachable:
        return result([unreachable], "ERROR", unreachable=True)
    if missing:
        return result(
            [
                f"{table}: table or view missing (run the extracts and `dbt build` first)"
                for table in missing
            ],
            "FAILED",
        )

    try:
        evaluated, failures = _validate(settings, f"gate__{destination}__{pass_name}", tables)
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


def check_command(destination: str, pass_name: str) -> int:
    """CLI hook: run the gate and print its report.

    Returns 0 passed, 4 blocked, 2 bad usage or configuration, 3 warehouse unreachable
    (the exit codes of docs/design.md).
    """
    from rich.console import Console
    from rich.text import Text

    from common.settings import ConfigurationError, load_settings

    try:
        if not has_gate(destination):
            # Asked for by name, a gate that checks nothing would only mislead.
            raise GateConfigurationError(
                f"no data-quality checks for destination {destination!r} "
                f"(checked: {', '.join(sorted(GATED_DESTINATIONS))})"
            )
        settings = load_settings()
        gate = run_gate(settings, destination, pass_name)
    except (ConfigurationError, GateConfigurationError) as error:
        Console(stderr=True).print(Text("error: ", style="red") + Text(str(error)), soft_wrap=True)
        return 2
    # Text, not a markup string: the report quotes data values, and `[...]` in them
    # must print as it is. No wrapping: one finding stays one line in logs and CI.
    Console().print(Text(gate.summary, style="green" if gate.ok else "red"), soft_wrap=True)
    return gate.exit_code
