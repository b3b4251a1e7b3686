"""dlt source over the legacy dispatch Postgres (docs/dispatch_supabase.md, "Raw layer")
-> dataset `raw_dispatch`.

One `sql_table` resource per table of contracts.md section 6, same table and column
names, on dlt's fast path for Postgres: connectorx streams each query as Arrow record
batches (`backend="connectorx"`, `return_type="arrow_stream"`), dlt writes them as
parquet and the postgres destination loads parquet through ADBC (binary COPY). No row
ever becomes a Python object. The tables are merged on `id` and read incrementally on
`updated_at` with a look-back (`incremental(lag=...)`): each run re-reads the last
LOOKBACK_SECONDS before the highest `updated_at` already loaded, so a row whose
transaction committed after the previous run had read past its `updated_at` is still
caught; the re-read rows merge by key (dlt's delete-insert merge deduplicates the staged
rows on `id`). `dispatch_patient_status` (five rows, no `updated_at`) is replaced. The
look-back and the batch size are the source's arguments, so dlt's configuration sets
them too (`SOURCES__DISPATCH__LOOKBACK_SECONDS`, `SOURCES__DISPATCH__BATCH_ROWS`).

Keys, not rows, find what an incremental read cannot see. Each merged table has a
second resource, `<table>_deletes`, ahead of it; the first of them compares, for every
table at once, the source's key set with the raw table's (key-only queries through
ADBC, compared as Arrow arrays: `KeyComparisons`), and each yields for its table:

- for a key the source no longer holds (a hard delete): the raw row as it was last
  loaded with `_dispatch_deleted_at` set to the time of detection. The row stays in raw
  with that mark; the models turn it into a soft delete. A mark, once set, keeps its
  time on later runs.
- for a key the source holds that raw lacks or has marked deleted, and whose
  `updated_at` is older than where this run's incremental read starts: the source row,
  unmarked (a key that reappears, or a row committed later than the look-back allows).
  The newer rows come from the incremental read itself (see `incremental_start`).

`_dispatch_deleted_at` is null in every row the incremental read yields (its query
selects a typed null), so a key that comes back is unmarked by the merge.

A first load (a raw table missing) and a full refresh load with `replace` instead of
`merge`: straight into the raw tables, without a staging copy and its deduplication.
The rows a full refresh no longer finds in the source are written again from raw with
their mark, so the models keep seeing those deletes.

connectorx ends each stream with an empty batch, and ADBC refuses a parquet file
without rows (`EmptyBatches`). The speed and memory figures are in
benchmarks/results/extract_dispatch.md; dlt's settings for them in
extract.pipelines.FAST_PATH_CONFIG.
"""

from __future__ import annotations

import binascii
import contextlib
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from dlt.common.configuration.specs import ConnectionStringCredentials
from dlt.common.schema.typing import C_DLT_ID
from dlt.common.time import ensure_pendulum_datetime
from dlt.extract import DltResource
from dlt.sources.sql_database import sql_table
from dlt.sources.sql_database.helpers import engine_from_credentials
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql

from extract.rds import DELETED_METRIC, DELETES_SUFFIX

DATASET = "raw_dispatch"
# null while the source holds the row; the time the extract found its key gone
DELETED_AT = "_dispatch_deleted_at"
PRIMARY_KEY = "id"
CURSOR = "updated_at"
# The look-back of every incremental read: longer than any legacy transaction runs.
LOOKBACK_SECONDS = 300.0
# Rows per Arrow batch, and so per parquet row group: what one batch costs in memory
# (2M rows: 100,000 peaked 80 MiB higher than 50,000, in the same time).
BATCH_ROWS = 50_000
# Keys per `= any(...)` query when rows are read back by key.
KEYS_PER_QUERY = 50_000
# Changed rows above this share of a table are read by a scan of it (changed_rows), in
# batches of BATCH_ROWS (1M changed of 1.2M rows: 200,000 peaked 140 MiB higher).
SCAN_SHARE = 0.2
# Rows per query of that scan (changed_rows): what it can hold in memory at most.
SCAN_PAGE_ROWS = 200_000
# The custom resource metric holding the rows `<table>_deletes` wrote from raw (marks),
# when they are more than the keys it found deleted (DELETED_METRIC).
MARKER_METRIC = "marker_rows"

# table -> its cursor column; None: replaced on every run (no updated_at)
TABLES: dict[str, str | None] = {
    "dispatch_office": CURSOR,
    "dispatch_user": CURSOR,
    "dispatch_doctor": CURSOR,
    "dispatch_patient_status": None,
    "dispatch_patient": CURSOR,
    "dispatch_instruction": CURSOR,
    "dispatch_operation": CURSOR,
}

Credentials = ConnectionStringCredentials | str


def connection_url(credentials: Credentials) -> str:
    """A plain `postgresql://` URL (connectorx takes no SQLAlchemy driver suffix)."""
    if isinstance(credentials, ConnectionStringCredentials):
        credentials = credentials.to_native_representation()
    url = sa.engine.make_url(credentials)
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=False)


def _arrow_stream(url: str, query: str) -> Any:
    """connectorx's stream of `query`, BATCH_ROWS rows a batch (its types differ from its
    whole-table reads: int8 for int4; sql_table's batches come from the stream)."""
    import connectorx as cx

    return cx.read_sql(url, query, return_type="arrow_stream", batch_size=BATCH_ROWS)


def _as_dlt_types(table: pa.Table) -> pa.Table:
    """Time zones and timestamp units fixed as dlt's connectorx backend fixes them."""
    from dlt.common.libs.pyarrow import (
        cast_connectorx_temporal_columns,
        set_plus0000_timezone_to_utc,
    )

    return cast_connectorx_temporal_columns(set_plus0000_timezone_to_utc(table))


def read_arrow(url: str, query: str) -> pa.Table:
    """One query through connectorx, typed exactly like sql_table's batches."""
    reader = _arrow_stream(url, query)
    return _as_dlt_types(pa.Table.from_batches(list(reader), schema=reader.schema))


class WarehouseReadError(RuntimeError):
    """A key comparison could not read the warehouse (the source reads raise as they are)."""


def _is_json(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, sa.JSON | postgresql.JSON | postgresql.JSONB)


def json_as_text(column_type: Any) -> Any:
    """sql_table's type adapter: json and jsonb columns land as text.

    connectorx re-serialises json (`1.50` becomes `1.5`, keys re-ordered), so the query
    casts them to text (`text_json_columns`) and the raw column keeps the source's text
    exactly. A dlt `json` column would be Postgres `json` when loaded from parquet but
    `jsonb` when a table is first created without rows (then loaded from insert
    statements), and ADBC cannot load jsonb: text is the one type both paths share.
    """
    if isinstance(column_type, sa.JSON | postgresql.JSON | postgresql.JSONB):
        return sa.Text()
    return column_type  # None would drop the reflected type


def text_json_columns(query: sa.Select[Any], table: sa.Table) -> sa.Select[Any]:
    """sql_table's query adapter: json columns read as their text."""
    if not any(_is_json(column) for column in table.columns):
        return query
    return query.with_only_columns(
        *(sa.cast(c, sa.Text).label(c.name) if _is_json(c) else c for c in table.columns),
        maintain_column_froms=True,
    )


def _with_live_mark(query: sa.Select[Any], table: sa.Table) -> sa.Select[Any]:
    """Every row the source holds carries `_dispatch_deleted_at` null, typed, so the
    column exists from the first load and a merged row clears an earlier mark."""
    null = sa.cast(sa.null(), postgresql.TIMESTAMP(timezone=True)).label(DELETED_AT)
    return text_json_columns(query, table).add_columns(null)


def raw_table_exists(table: str) -> bool:
    """Whether the running pipeline's dataset holds `table` (keys cannot be compared
    with a table never loaded)."""
    pipeline = dlt.current.pipeline()
    with pipeline.sql_client() as client:
        qualified = client.make_qualified_table_name(table)
        with client.execute_query("select to_regclass(%s)", qualified) as cursor:
            row = cursor.fetchone()
    return bool(row and row[0])


def read_warehouse(url: str, query: str) -> pa.Table:
    """`read_arrow` on the warehouse: a failure says so (the extract step's errors are
    otherwise the source's)."""
    try:
        return read_arrow(url, query)
    except RuntimeError as error:
        raise WarehouseReadError(str(error)) from error


class EmptyBatches:
    """A map step that drops empty Arrow batches before they reach a parquet file.

    ADBC refuses to load a parquet file without rows, and connectorx ends every stream
    with an empty batch: written after a file rotation (DATA_WRITER__FILE_MAX_ITEMS, a
    limit the rows reach exactly) or alone (an empty table, an incremental read that
    found nothing), it would be such a file. One empty batch is kept when it is the
    first, so that the source has no row, and the raw table must still be created or
    emptied (a replaced table; a table never loaded): it is loaded from an insert
    statement file instead of parquet, which an empty file does not break.
    """

    def __init__(self, table: str, replaced: bool) -> None:
        self.table = table
        self.replaced = replaced
        self.first = True

    def __call__(self, item: Any) -> Any:
        first, self.first = self.first, False
        if not isinstance(item, pa.Table | pa.RecordBatch) or item.num_rows:
            return item
        if first and (self.replaced or not raw_table_exists(self.table)):
            return dlt.mark.with_hints(item, dlt.mark.make_hints(file_format="insert_values"))
        return None


class DltShape:
    """A map step that gives each Arrow batch its final shape at extract: the table's
    nullability and dlt's `_dlt_id`.

    dlt's parquet normalizer rewrites every file whose batches do not already match
    the table's schema, or to which it must add `_dlt_id` (random ids made one Python
    string at a time): 3 s of a 2M-row first load, and a second copy of the data. With
    the column here (`NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID` off for the pipeline,
    extract.pipelines.FAST_PATH_CONFIG) and the schema's nullability, it imports the
    extracted files as they are. An id is unique within the dataset: a random prefix
    per run, the row's number within the run.
    """

    def __init__(self, columns: Any, ids: RowIds) -> None:
        self.required = {
            name for name, column in (columns or {}).items()
            if column.get("nullable") is False
        }
        # connectorx reads numeric(12, 2) as decimal(38, 10): the schema's precision
        self.decimals = {
            name: pa.decimal128(column["precision"], column.get("scale", 0))
            for name, column in (columns or {}).items()
            if column.get("data_type") == "decimal" and column.get("precision")
        }
        self.ids = ids

    def _field(self, field: pa.Field) -> pa.Field:
        kind = self.decimals.get(field.name, field.type)
        return pa.field(field.name, kind, nullable=field.name not in self.required)

    def __call__(self, item: Any) -> Any:
        if not isinstance(item, pa.Table) or C_DLT_ID in item.column_names:
            return item
        schema = pa.schema(
            [self._field(field) for field in item.schema], metadata=item.schema.metadata
        )
        shaped = item.cast(schema) if schema != item.schema else item
        return shaped.append_column(pa.field(C_DLT_ID, pa.string(), nullable=False),
                                    self.ids.take(item.num_rows))


class RowIds:
    """`_dlt_id` values for one run: `<random prefix>.<row number>`."""

    def __init__(self) -> None:
        self.prefix = secrets.token_urlsafe(9)
        self.next = 0

    def take(self, count: int) -> pa.Array:
        numbers = pa.array(np.arange(self.next, self.next + count, dtype=np.int64))
        self.next += count
        return pc.binary_join_element_wise(
            pa.scalar(self.prefix), pc.cast(numbers, pa.string()), "."
        )


def source_engine(credentials: Credentials | Engine) -> Engine:
    """One SQLAlchemy engine for all of a source's tables: each `sql_table` given a URL
    makes an engine of its own, whose first connection (and the dialect's set-up
    queries) cost more than reflecting the table; seven of them were half a second of
    every run. dlt disposes of its pool after each table it read."""
    return engine_from_credentials(credentials, may_dispose_after_use=True)


def arrow_table(
    credentials: Credentials | Engine,
    table: str,
    *,
    schema: str,
    cursor: str | None,
    lookback_seconds: float,
    batch_rows: int,
    write_disposition: str,
    primary_key: str = PRIMARY_KEY,
    query_adapter: Callable[[sa.Select[Any], sa.Table], sa.Select[Any]] = text_json_columns,
    ids: RowIds | None = None,
) -> DltResource:
    """`sql_table` on the fast path: connectorx Arrow batches, parquet, ADBC; with `ids`,
    each batch gets its `_dlt_id` at extract (`DltShape`)."""
    resource = sql_table(
        credentials=credentials,
        table=table,
        schema=schema,
        # Full reflection keeps the source's types even for columns null in every row.
        reflection_level="full",
        backend="connectorx",
        backend_kwargs={"return_type": "arrow_stream", "batch_size": batch_rows},
        chunk_size=batch_rows,
        incremental=dlt.sources.incremental(cursor, lag=lookback_seconds) if cursor else None,
        write_disposition=write_disposition,  # type: ignore[arg-type]
        primary_key=primary_key,
        type_adapter_callback=json_as_text,
        query_adapter_callback=query_adapter,
    )
    resource.apply_hints(file_format="parquet")
    if ids is not None:
        resource.add_map(DltShape(resource.columns, ids))
    return resource.add_map(EmptyBatches(table, replaced=write_disposition == "replace"))


@dataclass(frozen=True)
class KeyScan:
    """What `<table>_deletes` compares and how it reads rows back, for one table."""

    table: str
    schema: str
    # SQL array types of the key in the source and in raw (`= any('{...}'::int[])`)
    source_key_type: str
    raw_key_type: str
    # the incremental read's cursor, whose start `back` rows older than are re-read
    # (None: the table has no incremental read by cursor; `back` rows are not re-read)
    cursor: str | None
    lookback_seconds: float
    # uuid keys (text in raw): compared as their 16 bytes, not as 36 characters of
    # text (2.5 times the memory, and more for the hash tables of the comparison);
    # the keys a comparison finds are handed on as text, as raw holds them
    uuid_keys: bool = False
    # the typed null columns the table's own reads add (`, null::timestamptz as ...`)
    extra: str = ""
    # the raw column whose non-null value says the row is gone already (None: a deleted
    # row leaves raw)
    mark: str | None = None
    # A row version, compared with raw's beside the keys: (source expression, raw
    # column). A key whose version differs from raw's is `changed` (None: not compared).
    version: tuple[str, str] | None = None


def _ids_literal(ids: pa.Array, sql_type: str) -> str:
    values = ",".join(str(value) for value in ids.to_pylist())
    return f"'{{{values}}}'::{sql_type}"


def source_select(url: str, scan: KeyScan) -> str:
    """`select <columns> from <table>` as the table's own resource reads it: json
    columns as text, the extra typed nulls."""
    columns = read_arrow(
        url,
        "select column_name, data_type from information_schema.columns"
        f" where table_schema = '{scan.schema}' and table_name = '{scan.table}'"
        " order by ordinal_position",
    ).to_pylist()
    names = ", ".join(
        f'"{c["column_name"]}"::text as "{c["column_name"]}"'
        if c["data_type"] in ("json", "jsonb") else f'"{c["column_name"]}"'
        for c in columns
    )
    return f'select {names}{scan.extra} from "{scan.schema}"."{scan.table}"'


@dataclass
class KeyChanges:
    """The outcome of one table's key comparison (Arrow arrays of keys), and what reads
    the rows behind them."""

    scan: KeyScan
    gone: pa.Array  # in raw and unmarked, not in the source
    still_gone: pa.Array  # in raw and marked, not in the source
    back: pa.Array  # in the source, missing from raw or marked there
    # in the source with a version raw does not hold (missing keys included); empty
    # when the scan compares no version
    changed: pa.Array
    # `back` rows older than this are not re-read incrementally (None: every row is)
    since: datetime | None
    raw: str  # the raw table, qualified
    warehouse: str  # its database, a URL
    source: str  # the source database, a URL
    source_rows: int = 0  # the rows the source holds (its keys compared)
    _select: str | None = None
    _schema: pa.Schema | None = None

    def select(self) -> str:
        if self._select is None:
            self._select = source_select(self.source, self.scan)
        return self._select

    def schema(self) -> pa.Schema:
        """The Arrow schema of the table's own batches (connectorx's types of the same
        select): both resources write one table through one writer, whose buffer joins
        batches only when their schemas are the same."""
        if self._schema is None:
            self._schema = read_arrow(self.source, f"{self.select()} limit 0").schema
        return self._schema


def conform(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """`rows` in `schema`: its columns in order and type, a column it lacks as nulls."""
    columns = [
        rows[field.name].cast(field.type) if field.name in rows.column_names
        else pa.nulls(rows.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


class _KeyReader:
    """Key-only queries on one ADBC connection (the driver dlt loads parquet with): it
    reads with binary COPY, twice as fast as connectorx for a column of 1M keys.
    `is_warehouse` turns its errors into WarehouseReadError (ADBC's errors have no common
    base of their own)."""

    def __init__(self, url: str, *, is_warehouse: bool = False) -> None:
        from adbc_driver_manager import dbapi
        from dlt.destinations.impl.postgres.factory import get_adbc_driver_location

        self.is_warehouse = is_warehouse
        with self._errors():
            self._conn = dbapi.connect(
                driver=get_adbc_driver_location(), db_kwargs={"uri": url}
            )

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            if self.is_warehouse:
                raise WarehouseReadError(str(error)) from error
            raise

    def read(self, query: str) -> pa.Table:
        with self._errors(), self._conn.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetch_arrow_table()

    def close(self) -> None:
        self._conn.close()


def incremental_start(table: str, cursor: str, lookback_seconds: float) -> datetime | None:
    """Where the incremental read of `table` starts this run: its last value, as dlt's
    state holds it, less the look-back; None before the first load.

    Read before the table's own resource binds its incremental (`<table>_deletes` comes
    first in the source), this is exactly the start of the query, so the rows a key
    comparison re-reads and the incremental rows never overlap. Read after (dlt may
    evaluate resources in any order), the last value has advanced: the two may overlap
    in the newest rows, which the merge deduplicates, and they never leave a gap.
    """
    resources = dlt.current.source_state().get("resources", {})
    state = resources.get(table, {}).get("incremental", {}).get(cursor, {})
    last = state.get("last_value")
    if last is None:
        return None
    return ensure_pendulum_datetime(last) - timedelta(seconds=lookback_seconds)


class KeyComparisons:
    """The key comparisons of every table of one run, made once, when the first
    `<table>_deletes` asks: one connection per database, and the source's keys read
    while the warehouse's are (two threads; ADBC releases the GIL)."""

    def __init__(self, credentials: Credentials, scans: Sequence[KeyScan]) -> None:
        self.credentials = credentials
        self.scans = {scan.table: scan for scan in scans}
        self._done: dict[str, KeyChanges | None] | None = None

    def __call__(self, table: str) -> KeyChanges | None:
        """`table`'s comparison; None before its raw table exists."""
        if self._done is None:
            self._done = self._compare()
        return self._done[table]

    def _compare(self) -> dict[str, KeyChanges | None]:
        source = connection_url(self.credentials)
        pipeline = dlt.current.pipeline()
        with pipeline.sql_client() as client:
            raws = {table: client.make_qualified_table_name(table) for table in self.scans}
            versions = [s.version[1] if s.version else "" for s in self.scans.values()]
            # a raw table loaded before its version column existed: no version of it
            # matches, so every row is read once and the column gets its values
            with client.execute_query(
                "select name, exists (select 1 from pg_attribute"
                " where attrelid = to_regclass(name) and attname = version and not attisdropped)"
                " from unnest(%s::text[], %s::text[]) as t(name, version)"
                " where to_regclass(name) is not null", list(raws.values()), versions,
            ) as cursor:
                existing = dict(cursor.fetchall())
            warehouse = connection_url(client.credentials.to_native_representation())
        scans = [scan for table, scan in self.scans.items() if raws[table] in existing]
        done: dict[str, KeyChanges | None] = dict.fromkeys(self.scans)
        # One table's keys at a time, the source's read while the warehouse's are (two
        # threads; ADBC releases the GIL): memory holds one table's keys, not all of
        # them (2M uuid keys as text: about 400 MiB).
        landed_reader = _KeyReader(warehouse, is_warehouse=True)
        present_reader = _KeyReader(source)
        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                for scan in scans:
                    raw = raws[scan.table]
                    landed_future = pool.submit(landed_reader.read, (
                        f"select {_compared_key(scan, raw=True)} as k,"
                        f" {f'{scan.mark} is not null' if scan.mark else 'false'} as gone"
                        f"{_raw_version(scan, existing[raw])} from {raw}"
                    ))
                    present_future = pool.submit(present_reader.read, (
                        f"select {_compared_key(scan, raw=False)} as k"
                        f"{f', {scan.version[0]} as v' if scan.version else ''}"
                        f' from "{scan.schema}"."{scan.table}"'
                    ))
                    done[scan.table] = self._changes(
                        scan, landed_future.result(), present_future.result(),
                        raw=raw, warehouse=warehouse, source=source,
                    )
                    # Arrow's pool keeps what the comparison freed for later use; the
                    # next table's keys would come on top of it.
                    pa.default_memory_pool().release_unused()
        finally:
            landed_reader.close()
            present_reader.close()
        return done

    @staticmethod
    def _changes(
        scan: KeyScan, landed: pa.Table, present_table: pa.Table, *,
        raw: str, warehouse: str, source: str,
    ) -> KeyChanges:
        present = present_table["k"].combine_chunks()
        keys = landed["k"].combine_chunks()
        if scan.uuid_keys:
            keys = _uuid_bytes(keys)
            landed = landed.set_column(landed.schema.get_field_index("k"), "k", keys)
        keys = keys.cast(present.type)
        marked = landed["gone"].combine_chunks()
        in_source = pc.is_in(keys, value_set=present)
        # source keys missing from raw, and raw keys marked gone the source holds again
        missing = present.filter(pc.invert(pc.is_in(present, value_set=keys)))
        as_raw = _uuid_text if scan.uuid_keys else _unchanged
        return KeyChanges(
            scan=scan,
            gone=as_raw(keys.filter(pc.and_(pc.invert(in_source), pc.invert(marked)))),
            still_gone=as_raw(keys.filter(pc.and_(pc.invert(in_source), marked))),
            back=as_raw(
                pa.concat_arrays([missing, keys.filter(pc.and_(in_source, marked))])
            ),
            changed=as_raw(_changed_versions(present_table, landed, present.type))
            if scan.version else as_raw(present.slice(0, 0)),
            since=incremental_start(scan.table, scan.cursor, scan.lookback_seconds)
            if scan.cursor else None,
            raw=raw, warehouse=warehouse, source=source, source_rows=len(present),
        )


def _compared_key(scan: KeyScan, *, raw: bool) -> str:
    # raw's text keys become bytes here (`_uuid_bytes`): parsing 1.2M uuids in the
    # warehouse took it 0.4 s longer than sending the text
    if not scan.uuid_keys or raw:
        return PRIMARY_KEY
    return f"uuid_send({PRIMARY_KEY})"


def _uuid_bytes(keys: pa.Array) -> pa.Array:
    """uuids in their canonical text (raw's keys) as their 16 bytes; any other
    spelling (braces, upper case, no hyphens) goes through Python's uuid parser."""
    text = keys.cast(pa.string())
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[
        text.offset:text.offset + len(text) + 1
    ]
    data = np.frombuffer(text.buffers()[2] or b"", dtype=np.uint8)
    rows = data[offsets[0]:offsets[-1]]
    if text.null_count or not np.all(np.diff(offsets) == 36) or len(rows) % 36:
        return pa.array([uuid.UUID(value).bytes for value in text.to_pylist()], pa.binary())
    digits = np.delete(rows.reshape(-1, 36), [8, 13, 18, 23], axis=1)
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(text), [None, pa.py_buffer(binascii.unhexlify(digits.tobytes()))]
    )
    return fixed.cast(pa.binary())


def _unchanged(keys: pa.Array) -> pa.Array:
    return keys


def _uuid_text(keys: pa.Array) -> pa.Array:
    """16-byte uuids as their canonical text (`8-4-4-4-12` lowercase hex digits)."""
    fixed = keys.cast(pa.binary(16))
    data = fixed.buffers()[1]
    digits = np.frombuffer(
        binascii.hexlify(
            np.frombuffer(data, dtype=np.uint8)[fixed.offset * 16:(fixed.offset + len(fixed)) * 16]
        ),
        dtype=np.uint8,
    ).reshape(-1, 32)
    dash = np.full((len(fixed), 1), ord("-"), dtype=np.uint8)
    text = np.hstack([
        digits[:, :8], dash, digits[:, 8:12], dash, digits[:, 12:16], dash,
        digits[:, 16:20], dash, digits[:, 20:],
    ])
    offsets = np.arange(0, 36 * (len(fixed) + 1), 36, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), len(fixed), [None, pa.py_buffer(offsets), pa.py_buffer(text.tobytes())]
    )


def _raw_version(scan: KeyScan, landed: bool) -> str:
    if scan.version is None:
        return ""
    return f", {scan.version[1] if landed else 'null::bigint'} as v"


def _changed_versions(present: pa.Table, landed: pa.Table, key_type: pa.DataType) -> pa.Array:
    """The source keys whose (key, version) pair raw does not hold: a hash anti-join,
    so a version is only ever compared for inequality (a wrapped-around counter such as
    xmin is still a different value)."""
    landed = pa.table({
        "k": landed["k"].cast(key_type),
        "v": landed["v"].cast(present.schema.field("v").type),
    })
    differing = present.select(["k", "v"]).join(landed, keys=["k", "v"], join_type="left anti")
    return differing["k"].combine_chunks()


def rows_by_key(changes: KeyChanges, ids: pa.Array, condition: str = "") -> pa.Table:
    """The source rows of `ids` (and `condition`, ` and ...`), in the shape of the
    table's own batches."""
    rows = read_arrow(
        changes.source,
        f"{changes.select()} where {PRIMARY_KEY}"
        f" = any({_ids_literal(ids, changes.scan.source_key_type)}){condition}",
    )
    return conform(rows, changes.schema())


def changed_rows(changes: KeyChanges, ids: pa.Array) -> Iterator[pa.Table]:
    """The source rows of `ids`, in the shape of the table's own batches: by key, or,
    when they are more than SCAN_SHARE of the table's rows, by a scan of the table
    that keeps them (a read-back after a first push re-reads most of the target:
    at 1.2M rows, 50,000 keys per query read 110,000 rows a second, a scan 700,000).

    The scan reads pages of SCAN_PAGE_ROWS rows in key order (`id > last`), each its
    own query: connectorx reads a stream ahead of its consumer without bound, so one
    query over the table held most of it in memory while dlt wrote the batches (a
    read-back of 812,000 of 1.1M operations peaked at 1.2 GiB). Each page is its own
    snapshot, and a key is read at most once: a row written meanwhile comes in one
    version or the other, and the version that lands is the one read, so the next
    comparison sees any later write."""
    if len(ids) <= SCAN_SHARE * changes.source_rows:
        for batch in key_batches(ids):
            rows = rows_by_key(changes, batch)
            if rows.num_rows:
                yield rows
        return
    wanted: pa.Array | None = None
    key_type = changes.scan.source_key_type.removesuffix("[]")
    after: Any = None
    while True:
        last = str(after).replace("'", "''")
        where = "" if after is None else f" where {PRIMARY_KEY} > '{last}'::{key_type}"
        query = f"{changes.select()}{where} order by {PRIMARY_KEY} limit {SCAN_PAGE_ROWS}"
        read = 0
        for batch in _arrow_stream(changes.source, query):
            if not batch.num_rows:
                continue
            read += batch.num_rows
            after = batch.column(PRIMARY_KEY)[-1].as_py()
            rows = _as_dlt_types(pa.Table.from_batches([batch]))
            keys = rows[PRIMARY_KEY].combine_chunks()
            if wanted is None:
                wanted = ids.cast(keys.type)
            kept = rows.filter(_among(keys, wanted))
            if kept.num_rows:
                yield conform(kept, changes.schema())
        if read < SCAN_PAGE_ROWS:
            return


def _among(keys: pa.Array, wanted: pa.Array) -> pa.Array:
    """Which of `keys` are in `wanted`. `is_in` hashes its whole value set on every
    call (800,000 wanted uuids: about 0.6 s per batch of 50,000), so the set is only the
    wanted keys between the batch's least and greatest key: in Arrow's order, so a
    database that orders keys otherwise makes the set larger, never wrong."""
    bounds = pc.min_max(keys)
    low, high = bounds["min"], bounds["max"]
    if not low.is_valid:
        return pc.is_in(keys, value_set=wanted.slice(0, 0))
    near = pc.and_(pc.greater_equal(wanted, low), pc.less_equal(wanted, high))
    return pc.is_in(keys, value_set=wanted.filter(near))


def key_batches(ids: pa.Array) -> Iterator[pa.Array]:
    """`ids` in slices of KEYS_PER_QUERY."""
    for start in range(0, len(ids), KEYS_PER_QUERY):
        yield ids.slice(start, KEYS_PER_QUERY)


def rows_back(changes: KeyChanges) -> Iterator[pa.Table]:
    """The source rows of `changes.back` that the incremental read does not re-read
    (none when it has no start yet: then it reads every row)."""
    if not len(changes.back) or changes.since is None:
        return
    older = f" and {changes.scan.cursor} < '{changes.since.isoformat()}'"
    for ids in key_batches(changes.back):
        rows = rows_by_key(changes, ids, older)
        if rows.num_rows:
            yield rows


def raw_rows(changes: KeyChanges, ids: pa.Array) -> pa.Table:
    """The raw rows of `ids` as last loaded, in the shape of the table's own batches."""
    rows = read_warehouse(
        changes.warehouse,
        f"select * from {changes.raw}"
        f" where {PRIMARY_KEY} = any({_ids_literal(ids, changes.scan.raw_key_type)})",
    )
    return conform(rows, changes.schema())


def _set_column(rows: pa.Table, name: str, values: pa.Array) -> pa.Table:
    index = rows.column_names.index(name)
    return rows.set_column(index, pa.field(name, values.type), values)


def _dispatch_deletes(
    comparisons: KeyComparisons, scan: KeyScan, full: bool, columns: Any
) -> DltResource:
    """`<table>_deletes`: marks hard deletes, restores rows the incremental read misses.

    `columns` are the table resource's (reflected) hints: dlt shapes both resources'
    batches of the table alike.
    """

    @dlt.resource(
        name=scan.table + DELETES_SUFFIX,
        table_name=scan.table,
        write_disposition="replace" if full else "merge",
        primary_key=PRIMARY_KEY,
        columns=columns,
        file_format="parquet",
    )
    def deletes() -> Iterator[pa.Table]:
        changes = comparisons(scan.table)
        if changes is None:
            return
        found = datetime.now(UTC)
        gone = changes.gone
        if full:
            # raw is emptied: every key still gone is written back, with its mark
            gone = pa.concat_arrays([gone, changes.still_gone])
        metrics = dlt.current.resource_metrics()
        metrics[DELETED_METRIC], metrics[MARKER_METRIC] = len(changes.gone), len(gone)
        for ids in key_batches(gone):
            rows = raw_rows(changes, ids)
            marks = pc.coalesce(
                rows[DELETED_AT], pa.scalar(found, type=rows.schema.field(DELETED_AT).type)
            ).combine_chunks()
            yield _set_column(rows, DELETED_AT, marks)
        if not full:
            yield from rows_back(changes)

    return deletes()


@dlt.source(name="dispatch", max_table_nesting=0)
def dispatch(
    credentials: Credentials = dlt.secrets.value,
    schema: str = "public",
    lookback_seconds: float = LOOKBACK_SECONDS,
    batch_rows: int = BATCH_ROWS,
    full: bool = False,
    tables: Sequence[str] = tuple(TABLES),
) -> Iterable[DltResource]:
    """The dispatch tables (`tables`, all by default) and their `<table>_deletes`.

    `full` loads everything with `replace` (a first load, a full refresh: dlt's own
    incremental state must be gone too, as `refresh="drop_data"` makes it); otherwise
    the cursor tables merge incrementally.
    """
    live = f", null::timestamptz as {DELETED_AT}"
    scans = [
        KeyScan(table, schema, "int[]", "bigint[]", cursor, lookback_seconds, "", live, DELETED_AT)
        for table in tables if (cursor := TABLES[table]) is not None
    ]
    comparisons = KeyComparisons(credentials, scans)
    ids = RowIds()
    engine = source_engine(credentials)
    for table in tables:
        cursor = TABLES[table]
        merged = cursor is not None and not full
        resource = arrow_table(
            engine, table, schema=schema, cursor=cursor,
            lookback_seconds=lookback_seconds, batch_rows=batch_rows,
            write_disposition="merge" if merged else "replace", query_adapter=_with_live_mark,
            ids=ids,
        )
        if cursor is not None:
            # first: it reads the table's incremental state before the table binds it
            scan = comparisons.scans[table]
            deletes = _dispatch_deletes(comparisons, scan, full, resource.columns)
            yield deletes.add_map(DltShape(resource.columns, ids))
        yield resource
