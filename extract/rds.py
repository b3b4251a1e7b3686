"""dlt source over the RDS Postgres (docs/warehouse.md, "The RDS source") -> dataset `raw_rds`.

One `sql_table` resource per table, merged on the primary key and read
incrementally on `updated_at`: a run selects only rows with `updated_at` at or
after the highest value already loaded. dlt remembers which rows carried that
exact value, so a re-run with no change loads nothing, while a row that is written
later with that same timestamp is still picked up.

Deletes are not propagated: the application never deletes properties (it disables
them), and a merged table keeps what it had.
"""

from __future__ import annotations

from collections.abc import Iterable

import dlt
from dlt.common.configuration.specs import ConnectionStringCredentials
from dlt.extract import DltResource
from dlt.sources.sql_database import sql_table
from sqlalchemy import Engine

DATASET = "raw_rds"

# table -> primary key, as in docs/warehouse.md ("The RDS source")
TABLES: dict[str, tuple[str, ...]] = {
    "companies": ("id",),
    "properties": ("id",),
    "property_features": ("property_id", "feature_code"),
}


@dlt.source(name="rds", max_table_nesting=0)
def rds(
    credentials: ConnectionStringCredentials | Engine | str = dlt.secrets.value,
    schema: str = "public",
    chunk_size: int = 10_000,
) -> Iterable[DltResource]:
    """companies, properties and property_features of the RDS database."""
    for table, primary_key in TABLES.items():
        yield sql_table(
            credentials=credentials,
            table=table,
            schema=schema,
            # Full reflection keeps source types (timestamptz, boolean) even for
            # columns that are null in every row of a run; uuids land as text.
            reflection_level="full",
            # Arrow reads and loads in columnar batches: 75k rows in 6.0 s instead of
            # 9.2 s row by row, for ~100 MiB more peak memory (benchmarks/).
            backend="pyarrow",
            chunk_size=chunk_size,
            incremental=dlt.sources.incremental("updated_at"),
            write_disposition="merge",
            primary_key=list(primary_key),
        )
