"""dlt source reading the Supabase target back (docs/dispatch_supabase.md, "Raw layer")
-> dataset `raw_supabase`.

The six target tables of contracts.md section 7 (`offices`, `profiles`, `doctors`,
`patients`, `cases`, `operations`), same column names, on the same fast path as the
dispatch source (extract/dispatch.py: connectorx Arrow batches, parquet, ADBC), merged
on `id`.

What changed is found by row version, not by `updated_at`. The pusher writes target
rows with the legacy row's `updated_at`, which can be far older than what a cursor on
`updated_at` has already passed, so such a cursor would never see the pusher's own
creates and updates (and the validation after a push would read stale values). Every
row lands with its `xmin` (`_supabase_xmin`: the id of the transaction that last wrote
it, which any insert or update sets and no writer can set back); each run compares the
target's (id, xmin) pairs with raw's (`KeyComparisons` with a version, one key-and-
version query per database) and reads, by key, only the rows whose pair raw lacks. The
versions are compared for inequality only, so xmin's wrap-around does not matter; a
dump and restore of the target changes every xmin and costs one whole re-read.

What lands: uuid columns as text, and the jsonb columns (`patients.legacy_data`,
`operations.metadata`) as text holding the target's own text form of the value
(`jsonb::text`), so `legacy_data::jsonb` in staging gives back exactly the target's
value. Two reasons, both of the fast path: connectorx would re-serialise json itself
(`1.50` becomes `1.5`), and ADBC cannot load into jsonb, so a dlt `json` column would
be Postgres `json` when a table is created from parquet but `jsonb` when it is created
without rows (an empty target, loaded from an insert-statement file), after which
parquet could no longer load it. See `extract.dispatch.json_as_text`.

A row deleted in the target leaves the raw table: `<table>_deletes` yields, for every
key the target no longer holds, the row as last loaded with dlt's `hard_delete` flag
DELETED_FLAG set, so dlt's merge deletes the key.

A first load and a full refresh replace the raw tables with the target as it is (one
`sql_table` read per table); the keys raw held that the target no longer does are then
only counted as deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import dlt
import pyarrow as pa
import sqlalchemy as sa
from dlt.extract import DltResource

from extract.dispatch import (
    BATCH_ROWS,
    MARKER_METRIC,
    PRIMARY_KEY,
    Credentials,
    DltShape,
    KeyComparisons,
    KeyScan,
    RowIds,
    arrow_table,
    changed_rows,
    key_batches,
    raw_rows,
    source_engine,
    text_json_columns,
)
from extract.rds import DELETED_METRIC, DELETES_SUFFIX

DATASET = "raw_supabase"
# dlt's hard_delete column: true on a delete marker; null in every row of raw.
DELETED_FLAG = "_supabase_deleted"
# The row's version: its xmin as a number (xid has no cast to an integer type but text's).
VERSION = "_supabase_xmin"
VERSION_SQL = "xmin::text::bigint"

# In foreign-key order (contracts.md section 7).
TABLES: tuple[str, ...] = ("offices", "profiles", "doctors", "patients", "cases", "operations")


def _with_version_and_flag(query: sa.Select[Any], table: sa.Table) -> sa.Select[Any]:
    """Every row read carries its version and the flag column, null, in the columns'
    order of `source_select` with the scan's `extra`: all resources of a table write
    batches of one shape through one writer."""
    version = sa.literal_column(VERSION_SQL, sa.BigInteger).label(VERSION)
    flag = sa.cast(sa.null(), sa.Boolean).label(DELETED_FLAG)
    return text_json_columns(query, table).add_columns(version, flag)


def _hints(columns: Any) -> Any:
    return {
        **columns,
        VERSION: {"data_type": "bigint", "nullable": True},
        DELETED_FLAG: {"data_type": "bool", "nullable": True, "hard_delete": True},
    }


def _deletes(
    comparisons: KeyComparisons, scan: KeyScan, full: bool, columns: Any
) -> DltResource:
    """`<table>_deletes`: removes the keys the target deleted."""

    @dlt.resource(
        name=scan.table + DELETES_SUFFIX,
        table_name=scan.table,
        write_disposition="replace" if full else "merge",
        primary_key=PRIMARY_KEY,
        columns=_hints(columns),
        file_format="parquet",
    )
    def deletes() -> Iterator[pa.Table]:
        changes = comparisons(scan.table)
        if changes is None:
            return
        metrics = dlt.current.resource_metrics()
        metrics[DELETED_METRIC] = len(changes.gone)
        # raw is emptied and reloaded from the target by a full load: the deleted keys
        # only count, no marker is written
        metrics[MARKER_METRIC] = 0 if full else len(changes.gone)
        if full:
            return
        for ids in key_batches(changes.gone):
            rows = raw_rows(changes, ids)
            flag = pa.array([True] * rows.num_rows, type=pa.bool_())
            index = rows.column_names.index(DELETED_FLAG)
            yield rows.set_column(index, pa.field(DELETED_FLAG, pa.bool_()), flag)

    return deletes()


def _changed(comparisons: KeyComparisons, scan: KeyScan, columns: Any) -> DltResource:
    """`<table>` on an incremental run: the target rows whose version raw lacks (new
    rows and rows written since they were last read), read by key."""

    @dlt.resource(
        name=scan.table,
        table_name=scan.table,
        write_disposition="merge",
        primary_key=PRIMARY_KEY,
        columns=_hints(columns),
        file_format="parquet",
    )
    def changed() -> Iterator[pa.Table]:
        changes = comparisons(scan.table)
        if changes is None:  # no raw table: such a run is a full load (extract_source)
            return
        yield from changed_rows(changes, changes.changed)

    return changed()


@dlt.source(name="supabase", max_table_nesting=0)
def supabase(
    credentials: Credentials = dlt.secrets.value,
    schema: str = "public",
    batch_rows: int = BATCH_ROWS,
    full: bool = False,
    tables: Sequence[str] = TABLES,
) -> Iterable[DltResource]:
    """The target tables (`tables`, all by default) and their `<table>_deletes`.

    `full` loads everything with `replace` (a first load, a full refresh); otherwise
    each table merges the rows whose version changed.
    """
    extra = f", {VERSION_SQL} as {VERSION}, null::boolean as {DELETED_FLAG}"
    comparisons = KeyComparisons(credentials, [
        # no cursor: rows are found by version, none by `updated_at`
        KeyScan(table, schema, "uuid[]", "text[]", None, 0.0, True, extra,
                version=(VERSION_SQL, VERSION))
        for table in tables
    ])
    ids = RowIds()
    engine = source_engine(credentials)
    for table in tables:
        # reflected even when not read: its column hints shape the incremental batches
        resource = arrow_table(
            engine, table, schema=schema, cursor=None, lookback_seconds=0.0,
            batch_rows=batch_rows, write_disposition="replace",
            query_adapter=_with_version_and_flag, ids=ids,
        )
        scan = comparisons.scans[table]
        yield _deletes(comparisons, scan, full, resource.columns).add_map(
            DltShape(resource.columns, ids)
        )
        if full:
            yield resource
        else:
            yield _changed(comparisons, scan, resource.columns).add_map(
                DltShape(resource.columns, ids)
            )
