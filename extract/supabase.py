"""dlt source reading the Supabase target back (docs/dispatch_supabase.md, "Raw layer")
-> dataset `raw_supabase`.

The six target tables of contracts.md section 7 (`offices`, `profiles`, `doctors`,
`patients`, `cases`, `operations`), same column names, on the same fast path as the
dispatch source (extract/dispatch.py: connectorx Arrow batches, parquet, ADBC): merged
on `id`, read incrementally on `updated_at` with a look-back.

What lands: uuid columns as text, and the jsonb columns (`patients.legacy_data`,
`operations.metadata`) as text holding the target's own text form of the value
(`jsonb::text`), so `legacy_data::jsonb` in staging gives back exactly the target's
value. Two reasons, both of the fast path: connectorx would re-serialise json itself
(`1.50` becomes `1.5`), and ADBC cannot load into jsonb, so a dlt `json` column would
be Postgres `json` when a table is created from parquet but `jsonb` when it is created
without rows (an empty target, loaded from an insert-statement file), after which
parquet could no longer load it. See `extract.dispatch.json_as_text`.

A row deleted in the target leaves the raw table: each table's `<table>_deletes`
compares the target's keys with raw's (keys only) and yields, for every key the target
no longer holds, the row as last loaded with dlt's `hard_delete` flag DELETED_FLAG set,
so dlt's merge deletes the key. It also yields the target rows raw lacks whose
`updated_at` is older than this run's incremental read reaches back: the pusher creates
target rows with the legacy row's `updated_at`, which can be far older than what the
read-back already loaded, and an incremental read alone would never see them.

A first load and a full refresh replace the raw tables with the target as it is; the
keys raw held that the target no longer does are then only counted as deleted.
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
    CURSOR,
    LOOKBACK_SECONDS,
    MARKER_METRIC,
    PRIMARY_KEY,
    Credentials,
    DltShape,
    KeyComparisons,
    KeyScan,
    RowIds,
    arrow_table,
    key_batches,
    raw_rows,
    rows_back,
    source_engine,
    text_json_columns,
)
from extract.rds import DELETED_METRIC, DELETES_SUFFIX

DATASET = "raw_supabase"
# dlt's hard_delete column: true on a delete marker; null in every row of raw.
DELETED_FLAG = "_supabase_deleted"

# In foreign-key order (contracts.md section 7).
TABLES: tuple[str, ...] = ("offices", "profiles", "doctors", "patients", "cases", "operations")


def _with_flag(query: sa.Select[Any], table: sa.Table) -> sa.Select[Any]:
    """Every row read carries the flag column, null: both resources of a table write
    batches of one shape through one writer."""
    flag = sa.cast(sa.null(), sa.Boolean).label(DELETED_FLAG)
    return text_json_columns(query, table).add_columns(flag)


def _deletes(
    comparisons: KeyComparisons, scan: KeyScan, full: bool, columns: Any
) -> DltResource:
    """`<table>_deletes`: removes the keys the target deleted, adds the rows it lacks."""

    @dlt.resource(
        name=scan.table + DELETES_SUFFIX,
        table_name=scan.table,
        write_disposition="replace" if full else "merge",
        primary_key=PRIMARY_KEY,
        columns={**columns, DELETED_FLAG: {"data_type": "bool", "hard_delete": True}},
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
        yield from rows_back(changes)

    return deletes()


@dlt.source(name="supabase", max_table_nesting=0)
def supabase(
    credentials: Credentials = dlt.secrets.value,
    schema: str = "public",
    lookback_seconds: float = LOOKBACK_SECONDS,
    batch_rows: int = BATCH_ROWS,
    full: bool = False,
    tables: Sequence[str] = TABLES,
) -> Iterable[DltResource]:
    """The target tables (`tables`, all by default) and their `<table>_deletes`.

    `full` loads everything with `replace` (a first load, a full refresh); otherwise
    the tables merge incrementally.
    """
    flag = f", null::boolean as {DELETED_FLAG}"
    comparisons = KeyComparisons(credentials, [
        KeyScan(table, schema, "uuid[]", "text[]", CURSOR, lookback_seconds, "::text", flag)
        for table in tables
    ])
    ids = RowIds()
    engine = source_engine(credentials)
    for table in tables:
        resource = arrow_table(
            engine, table, schema=schema, cursor=CURSOR,
            lookback_seconds=lookback_seconds, batch_rows=batch_rows,
            write_disposition="replace" if full else "merge", query_adapter=_with_flag,
            ids=ids,
        )
        # first: it reads the table's incremental state before the table binds it
        deletes = _deletes(comparisons, comparisons.scans[table], full, resource.columns)
        yield deletes.add_map(DltShape(resource.columns, ids))
        yield resource
