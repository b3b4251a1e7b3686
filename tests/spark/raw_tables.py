"""The raw tables the RDS -> Salesforce slice's staging reads (dbt sources `rds` and
`salesforce`), and the Spark type of each Postgres column type dlt lands them with."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql.types import DataType

RAW_TABLES = (
    ("raw_rds", "companies"),
    ("raw_rds", "properties"),
    ("raw_rds", "property_features"),
    ("raw_salesforce", "product_property"),
)


def spark_type(postgres_type: str) -> DataType:
    """The Spark type holding the same values as a column of `postgres_type`."""
    from pyspark.sql import types

    mapping: dict[str, DataType] = {
        "character varying": types.StringType(),
        "text": types.StringType(),
        "boolean": types.BooleanType(),
        "bigint": types.LongType(),
        "integer": types.IntegerType(),
        "double precision": types.DoubleType(),
        "date": types.DateType(),
        # an instant: Spark's timestamp is one (shown in the session time zone)
        "timestamp with time zone": types.TimestampType(),
    }
    try:
        return mapping[postgres_type]
    except KeyError:
        raise SystemExit(f"no Spark type for the Postgres type {postgres_type!r}") from None
