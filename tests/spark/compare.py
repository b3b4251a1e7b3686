"""`python -m tests.spark.compare`: the slice's sync views (and the tables they are built
from) as the Spark build holds them against the Postgres build of the same raw tables,
row for row. Exit 0 when every relation is identical, 1 with the differences listed.

Rows are compared as text, the way each engine prints its values (a uuid or a date as
Postgres writes it, a boolean as true/false, a jsonb as Postgres prints it), sorted;
timestamps as instants in UTC. A row that only one side has is listed, with its
relation and columns.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from tests.spark.session import spark_session

# The slice's sync views first (what the pusher sends), then what they are built from:
# a difference upstream says where a sync-view difference comes from.
RELATIONS = (
    ("sync", "properties_to_create"),
    ("sync", "properties_to_update"),
    ("intermediate", "properties_aggregated_by_sfdc_id"),
    ("intermediate", "int_product_properties_desired"),
    ("intermediate", "int_product_property_matches"),
    ("intermediate", "int_property_groups_sync_status"),
    ("marts", "dim_properties"),
    ("marts", "dim_property_groups"),
)
SHOWN_DIFFERENCES = 5
# json, jsonb (pg_type)
JSON_TYPE_OIDS = (114, 3802)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

Row = tuple[str | None, ...]


def as_text(value: Any) -> str | None:
    """One value as both sides print it: None stays None, instants in UTC."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError("a timestamp without a time zone: not an instant")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def rows_differ(name: str, columns: Sequence[str], postgres: Iterable[Row],
                spark: Iterable[Row]) -> list[str]:
    """The differences between two multisets of rows, as lines to print (none: identical)."""
    postgres_rows, spark_rows = Counter(postgres), Counter(spark)
    only_postgres = sorted((postgres_rows - spark_rows).elements(), key=str)
    only_spark = sorted((spark_rows - postgres_rows).elements(), key=str)
    lines: list[str] = []
    for side, rows in (("only in Postgres", only_postgres), ("only in Spark", only_spark)):
        if rows:
            lines.append(f"{name}: {len(rows)} row(s) {side}")
            for row in rows[:SHOWN_DIFFERENCES]:
                shown = ", ".join(f"{c}={v!r}" for c, v in zip(columns, row, strict=True))
                lines.append(f"    {shown}")
    return lines


def postgres_rows(conn: psycopg.Connection, schema: str, table: str) -> tuple[list[str], list[Row]]:
    with conn.cursor() as cursor:
        cursor.execute(f'select * from "{schema}"."{table}"')
        columns = [column.name for column in cursor.description or ()]
        # jsonb as Postgres prints it (psycopg would parse it into a dict)
        kinds = [column.type_code for column in cursor.description or ()]
    selected = ", ".join(
        f'cast("{name}" as text)' if kind in JSON_TYPE_OIDS else f'"{name}"'
        for name, kind in zip(columns, kinds, strict=True)
    )
    rows = conn.execute(f'select {selected} from "{schema}"."{table}"').fetchall()
    return columns, [tuple(as_text(value) for value in row) for row in rows]


def spark_rows(frame: Any) -> list[Row]:
    """The frame's rows as text. PySpark hands a timestamp back as a naive local time
    (the Python process's zone), so each is read as microseconds since the epoch."""
    from pyspark.sql import functions
    from pyspark.sql.types import TimestampType

    instants = {f.name for f in frame.schema.fields if isinstance(f.dataType, TimestampType)}
    selected = frame.select([
        functions.unix_micros(functions.col(f"`{name}`")).alias(name) if name in instants
        else functions.col(f"`{name}`")
        for name in frame.columns
    ])
    def instant(micros: int | None) -> dt.datetime | None:
        return None if micros is None else EPOCH + dt.timedelta(microseconds=micros)

    return [
        tuple(
            as_text(instant(value) if name in instants else value)
            for name, value in zip(frame.columns, row, strict=True)
        )
        for row in selected.collect()
    ]


def main() -> int:
    spark = spark_session("propsync-compare")
    problems: list[str] = []
    try:
        with psycopg.connect("") as conn:
            for schema, table in RELATIONS:
                name = f"{schema}.{table}"
                columns, expected = postgres_rows(conn, schema, table)
                frame = spark.table(name)
                spark_columns = frame.columns
                if [c.lower() for c in spark_columns] != [c.lower() for c in columns]:
                    problems.append(
                        f"{name}: columns differ: Postgres {columns}, Spark {spark_columns}")
                    continue
                actual = spark_rows(frame)
                found = rows_differ(name, columns, expected, actual)
                problems.extend(found)
                verdict = "differs" if found else "identical"
                print(f"compare: {name}: {len(expected)} Postgres rows, "
                      f"{len(actual)} Spark rows: {verdict}")
    finally:
        spark.stop()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
