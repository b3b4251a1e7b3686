"""`python -m tests.spark.load_raw`: copy the slice's raw tables from the warehouse (the
PG* variables) into the local Spark session's metastore, same columns, same types, same
rows, replacing what an earlier run left there."""

from __future__ import annotations

import sys

import psycopg

from tests.spark.raw_tables import RAW_TABLES, spark_type
from tests.spark.session import spark_session


def main() -> int:
    from pyspark.sql.types import StructField, StructType

    spark = spark_session("propsync-load-raw")
    try:
        with psycopg.connect("") as conn:
            for schema, table in RAW_TABLES:
                columns = conn.execute(
                    "select column_name, data_type from information_schema.columns"
                    " where table_schema = %s and table_name = %s order by ordinal_position",
                    (schema, table),
                ).fetchall()
                if not columns:
                    print(f"load_raw: {schema}.{table} is not in the warehouse", file=sys.stderr)
                    return 2
                names = ", ".join(f'"{name}"' for name, _ in columns)
                rows = conn.execute(f'select {names} from "{schema}"."{table}"').fetchall()
                struct = StructType(
                    [StructField(name, spark_type(kind), True) for name, kind in columns]
                )
                spark.sql(f"create database if not exists {schema}")
                frame = spark.createDataFrame(rows, struct)
                frame.write.mode("overwrite").format("parquet").saveAsTable(f"{schema}.{table}")
                print(f"load_raw: {schema}.{table}: {len(rows)} rows")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
