"""The simulator's state in Postgres, schema `sim`: records, tokens, log, settings, usage."""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg.types.json import Jsonb

from sandbox.salesforce.ids import make_id
from sandbox.salesforce.sobject import (
    EXTERNAL_ID,
    STORED_FIELDS,
    output_value,
    sf_datetime,
    utc_now,
)
from sandbox.state_store import StateStore

SCHEMA_SQL = """
create schema if not exists sim;
create table if not exists sim.records (
    id text primary key,
    fields jsonb not null,
    created_date timestamptz not null,
    last_modified_date timestamptz not null,
    system_modstamp timestamptz not null
);
create index if not exists records_external_id
    on sim.records (lower(fields ->> 'Snappt_Property_ID__c'));
create sequence if not exists sim.record_number;
create table if not exists sim.tokens (
    token text primary key,
    issued_at timestamptz not null,
    expires_at timestamptz not null
);
create table if not exists sim.request_log (
    idx integer primary key,
    entry jsonb not null
);
create table if not exists sim.settings (
    name text primary key,
    value jsonb not null
);
create table if not exists sim.api_usage (
    day date primary key,
    used integer not null
);
create table if not exists sim.bulk_jobs (
    id text primary key,
    info jsonb not null,
    data text,
    header jsonb,
    results jsonb,
    ready_at timestamptz,
    created_at timestamptz not null
);
create table if not exists sim.cursors (
    locator text primary key,
    fields jsonb not null,
    ids text[] not null,
    created_at timestamptz not null
);
"""
# Serialises the idempotent DDL when two simulators start against one database.
SCHEMA_LOCK_KEY = 0x5F5A1E50

DEFAULT_TOKEN_TTL_S = 7200.0  # Salesforce's default session timeout: 2 hours
DEFAULT_DAILY_LIMIT = 100_000  # Enterprise Edition base allocation
DEFAULT_CONFIG: dict[str, Any] = {
    "token_ttl_s": DEFAULT_TOKEN_TTL_S,
    "daily_limit": DEFAULT_DAILY_LIMIT,
    # How long a Bulk API 2.0 job reads InProgress after UploadComplete.
    "bulk_processing_s": 0.0,
}


class Store(StateStore):
    """The simulator's state in Postgres; one connection, callers hold `lock`."""

    schema_sql = SCHEMA_SQL
    schema_lock_key = SCHEMA_LOCK_KEY

    # settings

    def setting(self, name: str, default: dict[str, Any]) -> dict[str, Any]:
        row = self.conn.execute(
            "select value from sim.settings where name = %s", (name,)
        ).fetchone()
        return {**default, **(row["value"] if row else {})}

    def save_setting(self, name: str, value: dict[str, Any]) -> None:
        self.conn.execute(
            "insert into sim.settings (name, value) values (%s, %s)"
            " on conflict (name) do update set value = excluded.value",
            (name, Jsonb(value)),
        )

    def reset(self) -> None:
        with self.transaction() as conn:
            for table in ("records", "tokens", "request_log", "settings", "api_usage", "cursors",
                          "bulk_jobs"):
                conn.execute(f"truncate sim.{table}")
            conn.execute("alter sequence sim.record_number restart")

    # records

    def new_ids(self, count: int, exclude: frozenset[str] = frozenset()) -> list[str]:
        ids: list[str] = []
        while len(ids) < count:
            rows = self.conn.execute(
                "select nextval('sim.record_number') as n from generate_series(1, %s)",
                (count - len(ids),),
            ).fetchall()
            candidates = [make_id(int(row["n"])) for row in rows]
            # Loaded fixtures may carry their own Ids; never hand one out twice.
            taken = {row["id"] for row in self.conn.execute(
                "select id from sim.records where id = any(%s)", (candidates,)
            )}
            ids.extend(c for c in candidates if c not in taken and c not in exclude)
        return ids

    def insert(self, rows: list[tuple[str, dict[str, Any], dt.datetime, dt.datetime]]) -> None:
        """(id, fields, created, last modified) rows, in one round trip."""
        with self.conn.cursor() as cursor:
            cursor.executemany(
                "insert into sim.records (id, fields, created_date, last_modified_date,"
                " system_modstamp) values (%s, %s, %s, %s, %s)",
                [(i, Jsonb(f), created, modified, modified) for i, f, created, modified in rows],
            )

    def update_fields(self, record_id: str, fields: dict[str, Any], moment: dt.datetime) -> None:
        self.conn.execute(
            "update sim.records set fields = fields || %s, last_modified_date = %s,"
            " system_modstamp = %s where id = %s",
            (Jsonb(fields), moment, moment, record_id),
        )

    def stored_fields(self, record_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "select fields from sim.records where id = %s", (record_id,)
        ).fetchone()
        return row["fields"] if row else None

    def id_by_external_id(self, value: str) -> str | None:
        # The key is spelled out, not a parameter: only then can the planner use the
        # expression index records_external_id (a parameter hides it in generic plans,
        # and every duplicate check became a scan of the whole table).
        row = self.conn.execute(
            "select id from sim.records"
            f" where lower(fields ->> '{EXTERNAL_ID}') = lower(%s) order by id limit 1",
            (value,),
        ).fetchone()
        return row["id"] if row else None

    def ids_by_external_id(self, value: str) -> list[str]:
        """Every record holding `value` (fixtures may repeat it: upsert answers 300 then)."""
        rows = self.conn.execute(
            "select id from sim.records"
            f" where lower(fields ->> '{EXTERNAL_ID}') = lower(%s) order by id",
            (value,),
        ).fetchall()
        return [row["id"] for row in rows]

    def delete(self, record_id: str) -> bool:
        # A hard delete: the simulator keeps no recycle bin (see sandbox/DEVIATIONS.md).
        cursor = self.conn.execute("delete from sim.records where id = %s", (record_id,))
        return cursor.rowcount > 0

    def records(self, ids: list[str] | None = None) -> list[dict[str, Any]]:
        sql = (
            "select id, fields, created_date, last_modified_date, system_modstamp"
            " from sim.records"
        )
        if ids is None:
            rows = self.conn.execute(sql + " order by id").fetchall()
        else:
            rows = self.conn.execute(sql + " where id = any(%s)", (ids,)).fetchall()
        return [_full_record(row) for row in rows]

    def record_count(self) -> int:
        row = self.conn.execute("select count(*) as n from sim.records").fetchone()
        return int(row["n"]) if row else 0

    # request log

    def log(self, entry: dict[str, Any]) -> None:
        row = self.conn.execute(
            "select coalesce(max(idx) + 1, 0) as n from sim.request_log"
        ).fetchone()
        entry["index"] = int(row["n"]) if row else 0
        self.conn.execute(
            "insert into sim.request_log (idx, entry) values (%s, %s)",
            (entry["index"], Jsonb(entry)),
        )

    def log_entries(self, since: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "select entry from sim.request_log where idx >= %s order by idx", (since,)
        ).fetchall()
        return [row["entry"] for row in rows]

    def log_count(self) -> int:
        row = self.conn.execute("select count(*) as n from sim.request_log").fetchone()
        return int(row["n"]) if row else 0

    # usage

    def usage(self) -> int:
        row = self.conn.execute(
            "select used from sim.api_usage where day = %s", (utc_now().date(),)
        ).fetchone()
        return int(row["used"]) if row else 0

    def count_usage(self) -> None:
        self.conn.execute(
            "insert into sim.api_usage (day, used) values (%s, 1)"
            " on conflict (day) do update set used = sim.api_usage.used + 1",
            (utc_now().date(),),
        )


def _full_record(row: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"Id": row["id"]}
    for spec in STORED_FIELDS:
        record[spec.name] = output_value(spec, row["fields"].get(spec.name))
    record["CreatedDate"] = sf_datetime(row["created_date"])
    record["LastModifiedDate"] = sf_datetime(row["last_modified_date"])
    record["SystemModstamp"] = sf_datetime(row["system_modstamp"])
    record["IsDeleted"] = False
    return record
