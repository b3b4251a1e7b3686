"""Build and run the dlt pipelines of `python -m extract`, with expected failures named.

Everything a run needs comes from `common.settings.Settings`, so tests can
run a source in-process against their own databases. Errors that a user can fix
or wait out become `ExtractError` with one readable line and an exit code; the
line never holds a secret (dlt and driver messages can carry connection strings).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import importlib.util
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.common.runtime import signals
from dlt.extract import DltSource
from dlt.pipeline.exceptions import PipelineStepFailed
from sqlalchemy.exc import NoSuchTableError

from common.http import HttpError, PolicySession, ServiceUnavailable, TlsError, policy_session
from common.redaction import redact, register_secrets
from common.settings import ConfigurationError, Settings, sandbox_dir
from extract.dispatch import DATASET as DISPATCH_DATASET
from extract.dispatch import MARKER_METRIC, WarehouseReadError, dispatch
from extract.dispatch import TABLES as DISPATCH_TABLES
from extract.propertyware import AUTH_MESSAGE as PROPERTYWARE_AUTH_MESSAGE
from extract.propertyware import DATASET as PROPERTYWARE_DATASET
from extract.propertyware import TABLES as PROPERTYWARE_TABLES
from extract.propertyware import PropertyWareAuthError, PropertyWareError, propertyware
from extract.rds import DATASET as RDS_DATASET
from extract.rds import DELETED_METRIC, DELETES_SUFFIX, rds
from extract.rds import TABLES as RDS_TABLES
from extract.salesforce import DATASET as SALESFORCE_DATASET
from extract.salesforce import TABLE as SALESFORCE_TABLE
from extract.salesforce import SalesforceAuthError, SalesforceError, salesforce
from extract.servicefusion import DATASET as SERVICEFUSION_DATASET
from extract.servicefusion import TABLES as SERVICEFUSION_TABLES
from extract.servicefusion import ServiceFusionAuthError, ServiceFusionError, servicefusion
from extract.supabase import DATASET as SUPABASE_DATASET
from extract.supabase import TABLES as SUPABASE_TABLES
from extract.supabase import supabase

EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3

# Contract sources (docs/commands.md) that this package does not serve yet.
PLANNED_SOURCES: tuple[str, ...] = ()

# dlt's settings for a source on the fast path (connectorx -> parquet -> ADBC), as the
# run's defaults: a variable the user exports wins. Measured in
# benchmarks/results/extract_dispatch.md (2M rows on 2 cores).
FAST_PATH_CONFIG: dict[str, str] = {
    # Parquet files of at most this many rows: a load job reads its file one row group
    # (one Arrow batch) at a time, but pyarrow's buffers grow with the file (2M rows:
    # about 130 MiB less peak than with 500,000, in the same time). A limit the rows
    # reach exactly cannot leave an empty file behind (extract.dispatch.EmptyBatches).
    "DATA_WRITER__FILE_MAX_ITEMS": "250000",
    # One ADBC copy per core: more only queue on the server and add memory.
    "LOAD__WORKERS": "2",
    # The files of a loaded package are a copy of the data (hundreds of MiB at 2M
    # rows): dlt's trace keeps the counts, the warehouse the rows.
    "LOAD__DELETE_COMPLETED_JOBS": "true",
}
# ... and of its destination: no unique index on `_dlt_id` (dlt's default). Nothing
# reads by it, and maintaining it doubled the load of a first extract.
FAST_PATH_DESTINATION: dict[str, Any] = {"create_indexes": False}


class ExtractError(RuntimeError):
    """An expected failure: `str(error)` is safe to print, `exit_code` is the CLI's."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class SourceSpec:
    name: str
    pipeline_name: str
    dataset: str
    tables: tuple[str, ...]
    # The source; every HTTP session it talks through is appended to the list, so
    # that the run can report its requests and rate-limit waits per API. The flag says
    # the run loads everything (a full refresh; a first load on the fast path).
    build: Callable[[Settings, list[PolicySession], bool], DltSource]
    disposition: str
    # An HTTP source: how its failures read (None for the database sources).
    http: Callable[[Settings], HttpFailures] | None = None
    # A database source: where it is, safe to print ("RDS database (RDS_DATABASE_URL)").
    where: str | None = None
    # A Postgres source on dlt's fast path (FAST_PATH_CONFIG); a missing raw table
    # makes its run a full load, which replaces instead of merging.
    fast_path: bool = False
    # Whether `all` runs it: None always (unconfigured, it fails); else only when this
    # says the user configured it.
    in_all: Callable[[Settings], bool] | None = None


@dataclass(frozen=True)
class HttpFailures:
    """What one line about an HTTP source's failure needs: its name, where it is, its
    refused-credentials error (and the line for it) and its API error."""

    service: str
    where: str | None
    auth_error: type[BaseException]
    auth_line: Callable[[str, BaseException], str]
    api_error: type[BaseException]


def _rds_source(settings: Settings, _sessions: list[PolicySession], _full: bool) -> DltSource:
    if settings.rds.database_url is None:
        raise ExtractError("RDS_DATABASE_URL is not set", EXIT_CONFIG)
    return rds(credentials=settings.rds.database_url.get_secret_value())


def _dispatch_source(settings: Settings, _sessions: list[PolicySession], full: bool) -> DltSource:
    if settings.dispatch.database_url is None:
        raise ExtractError("DISPATCH_DATABASE_URL is not set", EXIT_CONFIG)
    return dispatch(credentials=settings.dispatch.database_url.get_secret_value(), full=full)


def _supabase_source(settings: Settings, _sessions: list[PolicySession], full: bool) -> DltSource:
    if settings.supabase.database_url is None:
        raise ExtractError("SUPABASE_DATABASE_URL is not set", EXIT_CONFIG)
    # merged by row version (extract/supabase.py): the pusher's own writes are found
    return supabase(credentials=settings.supabase.database_url.get_secret_value(), full=full)


def _salesforce_source(
    settings: Settings, sessions: list[PolicySession], _full: bool
) -> DltSource:
    missing = [
        name for name, value in (
            ("SALESFORCE_INSTANCE_URL", settings.salesforce.instance_url),
            ("SALESFORCE_CLIENT_ID", settings.salesforce.client_id),
            ("SALESFORCE_CLIENT_SECRET", settings.salesforce.client_secret),
        ) if not value
    ]
    if missing:
        raise ExtractError(f"{', '.join(missing)} not set", EXIT_CONFIG)
    instance = str(settings.salesforce.instance_url)
    if not instance.startswith("https://"):
        raise ExtractError("SALESFORCE_INSTANCE_URL must start with https://", EXIT_CONFIG)
    if settings.http.requests_ca_bundle and not Path(settings.http.requests_ca_bundle).is_file():
        raise ExtractError(
            f"REQUESTS_CA_BUNDLE points at a missing file: {settings.http.requests_ca_bundle}",
            EXIT_CONFIG,
        )
    try:
        session = policy_session(settings, "salesforce")
    except ConfigurationError as error:
        raise ExtractError(str(error), EXIT_CONFIG) from None
    sessions.append(session)
    return salesforce(settings, session)


def _servicefusion_source(
    settings: Settings, sessions: list[PolicySession], _full: bool
) -> DltSource:
    missing = settings.servicefusion.missing()
    if missing:
        raise ExtractError(f"{', '.join(missing)} not set", EXIT_CONFIG)
    if not settings.servicefusion.base_url.startswith("https://"):
        raise ExtractError("SERVICEFUSION_BASE_URL must start with https://", EXIT_CONFIG)
    try:
        session = policy_session(settings, "servicefusion")
    except ConfigurationError as error:
        raise ExtractError(str(error), EXIT_CONFIG) from None
    sessions.append(session)
    return servicefusion(settings, session)


def _propertyware_source(
    settings: Settings, sessions: list[PolicySession], _full: bool
) -> DltSource:
    missing = settings.propertyware.missing()
    if missing:
        raise ExtractError(f"{', '.join(name.upper() for name in missing)} not set", EXIT_CONFIG)
    if settings.http.requests_ca_bundle and not Path(settings.http.requests_ca_bundle).is_file():
        raise ExtractError(
            f"REQUESTS_CA_BUNDLE points at a missing file: {settings.http.requests_ca_bundle}",
            EXIT_CONFIG,
        )
    try:
        # Keep-alive off (Connection: close): reused sockets hang or are reset.
        session = policy_session(settings, "propertyware", keep_alive=False)
    except ConfigurationError as error:
        raise ExtractError(str(error), EXIT_CONFIG) from None
    sessions.append(session)
    return propertyware(settings, session)


SOURCES: dict[str, SourceSpec] = {
    "rds": SourceSpec(
        "rds", "rds_to_warehouse", RDS_DATASET, tuple(RDS_TABLES), _rds_source, "merged",
        where="RDS database (RDS_DATABASE_URL)",
    ),
    # The legacy dispatch database and the Supabase read-back: run by `all` only when
    # configured, so a warehouse of the other slices needs no dispatch at all.
    "dispatch": SourceSpec(
        "dispatch", "dispatch_to_warehouse", DISPATCH_DATASET, tuple(DISPATCH_TABLES),
        _dispatch_source, "merged", where="dispatch database (DISPATCH_DATABASE_URL)",
        fast_path=True, in_all=lambda settings: settings.dispatch.database_url is not None,
    ),
    "supabase": SourceSpec(
        "supabase", "supabase_to_warehouse", SUPABASE_DATASET, tuple(SUPABASE_TABLES),
        _supabase_source, "merged", where="Supabase database (SUPABASE_DATABASE_URL)",
        fast_path=True, in_all=lambda settings: settings.supabase.database_url is not None,
    ),
    "salesforce": SourceSpec(
        "salesforce", "salesforce_to_warehouse", SALESFORCE_DATASET, (SALESFORCE_TABLE,),
        _salesforce_source, "replaced",
        lambda settings: HttpFailures(
            "Salesforce", settings.salesforce.instance_url, SalesforceAuthError,
            lambda _name, cause: redact(str(cause)), SalesforceError,
        ),
    ),
    "propertyware": SourceSpec(
        "propertyware", "propertyware_to_warehouse", PROPERTYWARE_DATASET, PROPERTYWARE_TABLES,
        _propertyware_source, "merged",
        # The WSDL URL without its query (`?wsdl`), which is no secret but no help either.
        lambda settings: HttpFailures(
            "PropertyWare", (settings.propertyware.wsdl_url or "").split("?", 1)[0],
            PropertyWareAuthError, lambda _name, _cause: PROPERTYWARE_AUTH_MESSAGE,
            PropertyWareError,
        ),
    ),
    # Jobs merge incrementally; customers and the reference lists are replaced.
    "servicefusion": SourceSpec(
        "servicefusion", "servicefusion_to_warehouse", SERVICEFUSION_DATASET,
        SERVICEFUSION_TABLES, _servicefusion_source, "loaded",
        lambda settings: HttpFailures(
            "ServiceFusion", settings.servicefusion.base_url, ServiceFusionAuthError,
            lambda name, cause: f"{name}: {redact(str(cause))} (check "
            "SERVICEFUSION_CLIENT_ID and SERVICEFUSION_CLIENT_SECRET)",
            ServiceFusionError,
        ),
    ),
}


def dlt_data_dir() -> Path:
    """dlt's working folder: DLT_DATA_DIR, else `.local/dlt` (never the home folder)."""
    configured = os.environ.get("DLT_DATA_DIR")
    return Path(configured) if configured else sandbox_dir() / "dlt"


def warehouse_destination(settings: Settings, **options: Any) -> Any:
    """dlt's postgres destination from the PG* settings (fields, so no URL quoting)."""
    return dlt.destinations.postgres(
        credentials={
            "drivername": "postgresql",
            "host": settings.warehouse.host,
            "port": settings.warehouse.port,
            "username": settings.warehouse.user,
            "password": settings.warehouse.password.get_secret_value(),
            "database": settings.warehouse.database,
        },
        **options,
    )


# Sources run at once in threads (`extract_sources`), and what the two blocks below
# change is the process's: the environment and pyarrow's default pool. So each change
# is counted and undone when the last run that needed it ends, never under a run
# still going. Meanwhile the other sources see them too; they are performance
# settings (file size, load workers, freeing memory), never what is loaded.
_PROCESS_WIDE = threading.Lock()
_DEFAULTS_HELD: dict[str, int] = {}
_ARROW_POOL: list[Any] = []  # [the pool before, runs holding jemalloc] while held


@contextlib.contextmanager
def arrow_memory_pool() -> Iterator[None]:
    """Arrow allocates from jemalloc while the block runs, unless ARROW_DEFAULT_MEMORY_POOL
    chooses a pool. pyarrow's default (mimalloc) keeps what a batch freed for the next
    one; jemalloc gives it back, and a 2M-row extract peaks 100 MiB lower."""
    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        yield
        return
    with _PROCESS_WIDE:
        if not _ARROW_POOL:
            try:
                pool = pa.jemalloc_memory_pool()
            except NotImplementedError:  # a pyarrow built without jemalloc
                pool = None
            if pool is not None:
                _ARROW_POOL[:] = [pa.default_memory_pool(), 0]
                pa.set_memory_pool(pool)
        holding = bool(_ARROW_POOL)
        if holding:
            _ARROW_POOL[1] += 1
    try:
        yield
    finally:
        if holding:
            with _PROCESS_WIDE:
                _ARROW_POOL[1] -= 1
                if not _ARROW_POOL[1]:
                    pa.set_memory_pool(_ARROW_POOL[0])
                    _ARROW_POOL.clear()


@contextlib.contextmanager
def dlt_defaults(values: Mapping[str, str]) -> Iterator[None]:
    """dlt settings (environment variables) for the length of one run; a variable
    already set, by the user or an earlier default, keeps its value."""
    with _PROCESS_WIDE:
        # Ours: not set, or set by a default still held (a run in another thread).
        ours = [name for name in values if name in _DEFAULTS_HELD or name not in os.environ]
        for name in ours:
            if name not in _DEFAULTS_HELD:
                os.environ[name] = values[name]
            _DEFAULTS_HELD[name] = _DEFAULTS_HELD.get(name, 0) + 1
    try:
        yield
    finally:
        with _PROCESS_WIDE:
            for name in ours:
                _DEFAULTS_HELD[name] -= 1
                if not _DEFAULTS_HELD[name]:
                    del _DEFAULTS_HELD[name]
                    os.environ.pop(name, None)


def build_pipeline(spec: SourceSpec, settings: Settings, pipelines_dir: Path | None = None) -> Any:
    # Arrow-backed resources (the RDS tables) skip dlt's lineage columns unless asked;
    # every raw table carries them, whichever backend read it.
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")
    options = FAST_PATH_DESTINATION if spec.fast_path else {}
    return dlt.pipeline(
        pipeline_name=spec.pipeline_name,
        destination=warehouse_destination(settings, **options),
        dataset_name=spec.dataset,
        pipelines_dir=str(pipelines_dir or dlt_data_dir() / "pipelines"),
        progress=None,
    )


@dataclass
class ApiUsage:
    requests: int = 0
    retries: int = 0
    rate_wait_s: float = 0.0


def api_usage(sessions: list[PolicySession]) -> dict[str, ApiUsage]:
    usage: dict[str, ApiUsage] = {}
    for session in sessions:
        entry = usage.setdefault(session.name, ApiUsage())
        entry.requests += session.requests_sent
        entry.retries += session.retries
        entry.rate_wait_s = round(entry.rate_wait_s + session.rate_wait_s, 3)
    return usage


@dataclass
class SourceResult:
    source: str
    dataset: str
    disposition: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # Rows deleted from each table because the source no longer holds them
    # (extract.rds, `<table>_deletes`); not part of `rows`.
    deleted: dict[str, int] = field(default_factory=dict)
    # Per API the source called: requests sent (retries and tokens included),
    # retries, and seconds spent waiting on the client-side rate limit.
    api: dict[str, ApiUsage] = field(default_factory=dict)
    # The resources that ran (all of the source's when none were named).
    resources: tuple[str, ...] = ()
    # When the run began and ended (epoch seconds): sources run at once, and these say
    # which overlapped.
    started_at: float = 0.0
    ended_at: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "dataset": self.dataset, "rows": self.rows,
            "deleted": self.deleted, "seconds": round(self.seconds, 3),
            "resources": list(self.resources),
            "api": {name: vars(usage) for name, usage in self.api.items()},
            "started_at": round(self.started_at, 3), "ended_at": round(self.ended_at, 3),
        }

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def extract_source(
    name: str,
    settings: Settings,
    *,
    full_refresh: bool = False,
    pipelines_dir: Path | None = None,
    resources: tuple[str, ...] = (),
) -> SourceResult:
    """Run one source into the warehouse; raise ExtractError on an expected failure.

    `full_refresh` empties the source's tables and forgets its incremental state
    (dlt refresh `drop_data`), then loads everything again. The tables are
    truncated rather than dropped so that dbt views built on them survive. The
    resources that look for deleted keys (`<table>_deletes`) run in a refresh
    too: dlt truncates the tables of the selected resources, and a table that
    both write may be registered to either, so leaving them out could leave a
    table untruncated. Their markers delete nothing more from an emptied table;
    `deleted` then counts the rows the reload no longer holds.

    A source on the fast path (`SourceSpec.fast_path`: dispatch, supabase) whose raw
    tables are not all in the warehouse runs as a full refresh: a first load replaces
    (no staging copy) and reads every row whatever dlt's local state says.
    """
    if name in PLANNED_SOURCES:
        raise ExtractError(f"source '{name}' is not available yet", EXIT_CONFIG)
    spec = SOURCES.get(name)
    if spec is None:
        raise ExtractError(f"unknown source '{name}'", EXIT_CONFIG)
    register_secrets(settings)
    started = time.monotonic()
    started_at = time.time()
    sessions: list[PolicySession] = []
    try:
        pipeline = build_pipeline(spec, settings, pipelines_dir)
        full = full_refresh or (spec.fast_path and _raw_tables_missing(pipeline, spec, settings))
        source = spec.build(settings, sessions, full)
        if resources:
            unknown = sorted(set(resources) - set(source.resources))
            if unknown:
                raise ExtractError(
                    f"{name} has no resource {', '.join(unknown)} "
                    f"(resources: {', '.join(source.resources)})",
                    EXIT_CONFIG,
                )
            source = source.with_resources(*resources)
        with contextlib.ExitStack() as fast_path:
            if spec.fast_path:
                fast_path.enter_context(dlt_defaults({
                    **FAST_PATH_CONFIG,
                    # the sources give every row its _dlt_id (extract.dispatch.DltShape):
                    # dlt imports their parquet files instead of rewriting them
                    f"{spec.pipeline_name.upper()}__NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID":
                        "false",
                }))
                fast_path.enter_context(arrow_memory_pool())
            info: LoadInfo = pipeline.run(source, refresh="drop_data" if full else None)
        info.raise_on_failed_jobs()
    except ExtractError:
        raise
    except Exception as error:  # dlt wraps everything; classify by the root causes
        raise classify(error, spec, settings) from None
    finally:
        for session in sessions:
            session.close()
    counts = pipeline.last_trace.last_normalize_info.row_counts if pipeline.last_trace else {}
    deleted, markers = _deleted_counts(pipeline, spec)
    rows = {
        table: int(counts.get(table, 0)) - markers.get(table, 0) for table in spec.tables
    }
    ran = tuple(resources) or tuple(source.selected_resources)
    return SourceResult(
        name, spec.dataset, spec.disposition, rows, time.monotonic() - started, deleted,
        api_usage(sessions), ran, started_at, time.time(),
    )


def extract_sources(
    names: list[str],
    settings: Settings,
    *,
    full_refresh: bool = False,
    resources: tuple[str, ...] = (),
    workers: int | None = None,
    pipelines_dir: Path | None = None,
) -> Iterator[tuple[str, SourceResult | ExtractError]]:
    """Run the named sources, up to `workers` at once (default: all of them), and
    yield each one's result, or its expected failure, as it ends.

    The sources are independent: each reads its own system into its own dataset
    through its own dlt pipeline (its own name, so its own folder and state under
    DLT_DATA_DIR). dlt runs such pipelines in parallel threads of one process (its
    injection container is thread-affine), and threads suit what bounds these runs:
    waiting on an API's rate limit and on databases, with the GIL released. Two
    sources of one API would still share its rate limit (common.rate_limit).

    In threads dlt cannot take SIGINT/SIGTERM itself (only the main thread can), so
    the main thread does while they run: a first Ctrl-C asks every pipeline to stop
    at its next step, as it would one pipeline run on its own.
    """
    def outcome(name: str) -> SourceResult | ExtractError:
        try:
            return extract_source(
                name, settings, full_refresh=full_refresh, resources=resources,
                pipelines_dir=pipelines_dir,
            )
        except ExtractError as error:
            return error

    workers = min(workers or len(names), len(names))
    if workers <= 1:
        for name in names:
            yield name, outcome(name)
        return
    _import_detected_libraries()
    with (
        signals.intercepted_signals(),
        concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="extract") as pool,
    ):
        running = {pool.submit(outcome, name): name for name in names}
        for done in concurrent.futures.as_completed(running):
            yield running[done], done.result()


# dlt tells data items apart by the dataframe libraries already in sys.modules
# (dlt.common.libs: `isinstance(item, sys.modules["pandas"].DataFrame)`). A library
# that one source's thread is still importing is in there half initialised, and
# another thread's check fails on it ("partially initialized module 'pandas'"), so
# those installed are imported before the threads start.
_DETECTED_LIBRARIES = ("pyarrow", "pandas", "polars", "pydantic")


def _import_detected_libraries() -> None:
    for name in _DETECTED_LIBRARIES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def _deleted_counts(pipeline: Any, spec: SourceSpec) -> tuple[dict[str, int], dict[str, int]]:
    """Rows deleted per table, and marker rows written per table: the DELETED_METRIC
    and MARKER_METRIC of the `<table>_deletes` resources.

    dlt counts a delete marker as a row of its table (normalize), and its writer
    metrics go to whichever resource the table is registered to, so the count
    comes from the resource's own custom metric. A marker is a deleted row unless the
    resource says otherwise (a full refresh of dispatch writes the rows deleted earlier
    back with their mark).
    """
    trace = pipeline.last_trace
    extract_info = trace.last_extract_info if trace else None
    deleted = dict.fromkeys(spec.tables, 0)
    markers = dict.fromkeys(spec.tables, 0)
    for step_metrics in extract_info.metrics.values() if extract_info else ():
        for metrics in step_metrics:
            for resource, writer in metrics["resource_metrics"].items():
                table = resource.removesuffix(DELETES_SUFFIX)
                if resource.endswith(DELETES_SUFFIX) and table in deleted:
                    custom = writer.custom_metrics
                    deleted[table] += int(custom.get(DELETED_METRIC, 0))
                    markers[table] += int(custom.get(MARKER_METRIC, custom.get(DELETED_METRIC, 0)))
    return deleted, markers


def _raw_tables_missing(pipeline: Any, spec: SourceSpec, settings: Settings) -> bool:
    """Whether a raw table of `spec` is not in the warehouse (a first load)."""
    try:
        with pipeline.sql_client() as client:
            names = [client.make_qualified_table_name(table) for table in spec.tables]
            with client.execute_query(
                "select count(*) from unnest(%s::text[]) as t(name)"
                " where to_regclass(name) is null", names,
            ) as cursor:
                row = cursor.fetchone()
    except Exception as error:  # dlt wraps the driver's errors; classify by the causes
        raise classify(error, spec, settings, side="warehouse") from None
    return bool(row and row[0])


# -- failures ---------------------------------------------------------------------------


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps (dlt nests several levels deep)."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (
            getattr(current, "exception", None), current.__cause__, current.__context__,
            getattr(current, "orig", None),
        ):
            if isinstance(inner, BaseException):
                stack.append(inner)


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


_UNREACHABLE_DB = (
    "connection refused", "could not connect", "could not translate host name",
    "timeout expired", "no route to host", "network is unreachable", "connection timed out",
    "server closed the connection", "name or service not known", "temporary failure in name",
    "the database system is starting up", "the database system is shutting down",
)


def classify(
    error: BaseException, spec: SourceSpec, settings: Settings, side: str | None = None
) -> ExtractError:
    """Map a failed run to one printable line and an exit code (`side`: "warehouse"
    when only the warehouse was talked to)."""
    causes = list(_causes(error))
    if spec.http is not None:
        found = _classify_http(causes, spec.name, spec.http(settings))
        if found is not None:
            return found
    side = (
        f"warehouse {settings.warehouse.label()}" if side == "warehouse"
        or any(isinstance(cause, WarehouseReadError) for cause in causes)
        else _failed_side(causes, spec, settings)
    )
    for cause in causes:
        if isinstance(cause, NoSuchTableError):  # reflection: a source not set up (seeded)
            return ExtractError(f"{spec.name}: {side} has no table {cause}", EXIT_CONFIG)
        if type(cause).__module__.startswith(("psycopg", "sqlalchemy")) or _is_connectorx(cause):
            message = redact(_first_line(getattr(cause, "orig", None) or cause))
            lowered = str(cause).lower()
            if any(marker in lowered for marker in _UNREACHABLE_DB):
                return ExtractError(f"{spec.name}: {side} is unreachable: {message}",
                                    EXIT_UNREACHABLE)
            return ExtractError(f"{spec.name}: {side}: {message}", EXIT_CONFIG)
    innermost = causes[-1] if causes else error
    return ExtractError(
        f"{spec.name}: {type(innermost).__name__}: {redact(_first_line(innermost))}",
        EXIT_CONFIG,
    )


def _classify_http(
    causes: list[BaseException], name: str, failures: HttpFailures
) -> ExtractError | None:
    """An HTTP source's failure as one line; None leaves the warehouse's to the rest.

    The policy session (common.http) has already retried what was worth it (resets,
    timeouts, 5xx, 429s): what reaches here is final.
    """
    for cause in causes:
        if isinstance(cause, failures.auth_error):
            return ExtractError(failures.auth_line(name, cause), EXIT_CONFIG)
    for cause in causes:
        if isinstance(cause, TlsError):
            return ExtractError(
                f"{name}: TLS verification of {failures.where} failed; "
                "set REQUESTS_CA_BUNDLE to the CA that signed its certificate",
                EXIT_CONFIG,
            )
        if isinstance(cause, ServiceUnavailable):
            state = "unreachable" if cause.unreachable else "unavailable"
            return ExtractError(
                f"{name}: {failures.service} at {failures.where} is {state}: {cause.detail}",
                EXIT_UNREACHABLE,
            )
        if isinstance(cause, HttpError):
            return ExtractError(f"{name}: {cause.detail}", cause.exit_code)
        if isinstance(cause, failures.api_error):
            response = getattr(cause, "response", None)
            status = response.status_code if response is not None else 0
            text = redact(str(cause))
            # A spent daily allocation (Salesforce) waits for tomorrow, like a 5xx.
            spent = status >= 500 or status == 429 or "REQUEST_LIMIT_EXCEEDED" in text
            return ExtractError(f"{name}: {text}", EXIT_UNREACHABLE if spent else EXIT_CONFIG)
    return None


def _is_connectorx(error: BaseException) -> bool:
    """connectorx (the fast path's reader) fails with a bare RuntimeError."""
    if isinstance(error, WarehouseReadError):
        return True
    return type(error) is RuntimeError and any(
        marker in str(error) for marker in ("db error:", "error connecting to server")
    )


def _failed_side(causes: list[BaseException], spec: SourceSpec, settings: Settings) -> str:
    """Which database failed, safe to print: dlt names the failed step (sync, extract,
    normalize, load); only `extract` reads the source. Without a step the source
    itself failed while it was built (sql_table reflects the table right away)."""
    steps = [c.step for c in causes if isinstance(c, PipelineStepFailed)]
    if steps and steps[0] != "extract":
        return f"warehouse {settings.warehouse.label()}"
    return spec.where or f"{spec.name} source"
