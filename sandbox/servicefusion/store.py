"""The simulator's state in Postgres, schema `servicefusion_sim`.

Customers and jobs are JSON documents (the nested contacts and locations live inside
their customer, as they do in the API); ids, job numbers and the two timestamps are
columns so that fixture loads and the technician's status change can set them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg.types.json import Jsonb

from sandbox.state_store import StateStore

SCHEMA = "servicefusion_sim"
# A schema of its own: the stack may give the Salesforce simulator (schema `sim`) and
# this one the same database.
SCHEMA_SQL = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.customers (
    id bigint primary key,
    doc jsonb not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create sequence if not exists {SCHEMA}.customer_id start 1000001;
create table if not exists {SCHEMA}.jobs (
    id bigint primary key,
    number text not null unique,
    customer_id bigint not null,
    doc jsonb not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create sequence if not exists {SCHEMA}.job_id start 5000001;
create sequence if not exists {SCHEMA}.job_number start 1001;
create table if not exists {SCHEMA}.tokens (
    token text primary key,
    refresh_token text not null unique,
    issued_at timestamptz not null,
    expires_at timestamptz not null
);
create table if not exists {SCHEMA}.allowance (
    token text primary key,
    allowance integer not null,
    at bigint not null
);
create table if not exists {SCHEMA}.request_log (
    idx integer primary key,
    entry jsonb not null
);
create table if not exists {SCHEMA}.settings (
    name text primary key,
    value jsonb not null
);
"""
SCHEMA_LOCK_KEY = 0x5EF0510E  # serialises the DDL when two simulators share a database
TABLES = ("customers", "jobs", "tokens", "allowance", "request_log", "settings")

DEFAULT_CONFIG: dict[str, Any] = {
    "token_ttl_s": 3600,  # the real `expires_in`
    "rate_limit": 60,  # requests per window per token, the documented "about 60/minute"
    "rate_window_s": 60,
}


def utc_now() -> dt.datetime:
    # Whole seconds: the API shows RFC 3339 without fractions, and a filter must compare
    # the same value a client has seen.
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def rfc3339(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


class Store(StateStore):
    """One connection, autocommit; callers hold `lock` (the server is threaded)."""

    schema_sql = SCHEMA_SQL
    schema_lock_key = SCHEMA_LOCK_KEY

    def reset(self) -> None:
        with self.transaction() as conn:
            for table in TABLES:
                conn.execute(f"truncate {SCHEMA}.{table}")
            for sequence in ("customer_id", "job_id", "job_number"):
                conn.execute(f"alter sequence {SCHEMA}.{sequence} restart")

    # settings

    def setting(self, name: str, default: dict[str, Any]) -> dict[str, Any]:
        row = self.conn.execute(
            f"select value from {SCHEMA}.settings where name = %s", (name,)
        ).fetchone()
        return {**default, **(row["value"] if row else {})}

    def save_setting(self, name: str, value: dict[str, Any]) -> None:
        self.conn.execute(
            f"insert into {SCHEMA}.settings (name, value) values (%s, %s)"
            " on conflict (name) do update set value = excluded.value",
            (name, Jsonb(value)),
        )

    def config(self) -> dict[str, Any]:
        return self.setting("config", DEFAULT_CONFIG)

    # ids

    def next_id(self, table: str) -> int:
        """A fresh id from the table's sequence, skipping ids that fixtures brought."""
        sequence = "customer_id" if table == "customers" else "job_id"
        while True:
            row = self.conn.execute(f"select nextval('{SCHEMA}.{sequence}') as n").fetchone()
            new_id = int(row["n"]) if row else 0
            if not self.conn.execute(
                f"select 1 from {SCHEMA}.{table} where id = %s", (new_id,)
            ).fetchone():
                return new_id

    def next_job_number(self) -> str:
        while True:
            row = self.conn.execute(f"select nextval('{SCHEMA}.job_number') as n").fetchone()
            number = str(row["n"]) if row else "0"
            if not self.conn.execute(
                f"select 1 from {SCHEMA}.jobs where number = %s", (number,)
            ).fetchone():
                return number

    def id_taken(self, table: str, record_id: int) -> bool:
        return self.conn.execute(
            f"select 1 from {SCHEMA}.{table} where id = %s", (record_id,)
        ).fetchone() is not None

    # customers

    def insert_customer(self, record_id: int, doc: dict[str, Any], created: dt.datetime,
                        updated: dt.datetime) -> None:
        self.conn.execute(
            f"insert into {SCHEMA}.customers (id, doc, created_at, updated_at)"
            " values (%s, %s, %s, %s)", (record_id, Jsonb(doc), created, updated),
        )

    def customers(self) -> list[dict[str, Any]]:
        return list(self.conn.execute(
            f"select id, doc, created_at, updated_at from {SCHEMA}.customers order by id"
        ).fetchall())

    def customer(self, record_id: int) -> dict[str, Any] | None:
        return self.conn.execute(
            f"select id, doc, created_at, updated_at from {SCHEMA}.customers where id = %s",
            (record_id,),
        ).fetchone()

    def customers_named(self, name: str) -> list[dict[str, Any]]:
        return list(self.conn.execute(
            f"select id, doc, created_at, updated_at from {SCHEMA}.customers"
            " where doc ->> 'customer_name' = %s order by id", (name,),
        ).fetchall())

    def customer_count(self) -> int:
        row = self.conn.execute(f"select count(*) as n from {SCHEMA}.customers").fetchone()
        return int(row["n"]) if row else 0

    # jobs

    def insert_job(self, record_id: int, number: str, customer_id: int, doc: dict[str, Any],
                   created: dt.datetime, updated: dt.datetime) -> None:
        self.conn.execute(
            f"insert into {SCHEMA}.jobs (id, number, customer_id, doc, created_at, updated_at)"
            " values (%s, %s, %s, %s, %s, %s)",
            (record_id, number, customer_id, Jsonb(doc), created, updated),
        )

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.conn.execute(
            f"select id, number, customer_id, doc, created_at, updated_at from {SCHEMA}.jobs"
            " order by id"
        ).fetchall())

    def job(self, record_id: int) -> dict[str, Any] | None:
        return self.conn.execute(
            f"select id, number, customer_id, doc, created_at, updated_at from {SCHEMA}.jobs"
            " where id = %s", (record_id,),
        ).fetchone()

    def job_number_taken(self, number: str) -> bool:
        return self.conn.execute(
            f"select 1 from {SCHEMA}.jobs where number = %s", (number,)
        ).fetchone() is not None

    def update_job(self, record_id: int, changes: dict[str, Any], moment: dt.datetime) -> None:
        self.conn.execute(
            f"update {SCHEMA}.jobs set doc = doc || %s, updated_at = %s where id = %s",
            (Jsonb(changes), moment, record_id),
        )

    def job_count(self) -> int:
        row = self.conn.execute(f"select count(*) as n from {SCHEMA}.jobs").fetchone()
        return int(row["n"]) if row else 0

    # tokens

    def save_token(self, token: str, refresh_token: str, issued: dt.datetime,
                   expires: dt.datetime) -> None:
        # A long-lived stack issues a token per command; keep the table small.
        self.conn.execute(
            f"delete from {SCHEMA}.tokens where expires_at < now() - interval '1 day'"
        )
        self.conn.execute(
            f"insert into {SCHEMA}.tokens (token, refresh_token, issued_at, expires_at)"
            " values (%s, %s, %s, %s)", (token, refresh_token, issued, expires),
        )

    def token_valid(self, token: str) -> bool:
        return self.conn.execute(
            f"select 1 from {SCHEMA}.tokens where token = %s and expires_at > now()", (token,)
        ).fetchone() is not None

    def take_refresh_token(self, refresh_token: str) -> bool:
        """Spend a refresh token (once); the access token it came with dies with it."""
        cursor = self.conn.execute(
            f"delete from {SCHEMA}.tokens where refresh_token = %s", (refresh_token,)
        )
        return cursor.rowcount > 0

    def expire_tokens(self) -> int:
        cursor = self.conn.execute(
            f"update {SCHEMA}.tokens set expires_at = now() where expires_at > now()"
        )
        return cursor.rowcount

    # rate-limit allowance

    def allowance(self, token: str) -> tuple[int, int] | None:
        row = self.conn.execute(
            f"select allowance, at from {SCHEMA}.allowance where token = %s", (token,)
        ).fetchone()
        return (int(row["allowance"]), int(row["at"])) if row else None

    def save_allowance(self, token: str, allowance: int, at: int) -> None:
        self.conn.execute(
            f"insert into {SCHEMA}.allowance (token, allowance, at) values (%s, %s, %s)"
            " on conflict (token) do update set allowance = excluded.allowance, at = excluded.at",
            (token, allowance, at),
        )

    def clear_allowances(self) -> None:
        self.conn.execute(f"truncate {SCHEMA}.allowance")

    # request log

    def log(self, entry: dict[str, Any]) -> None:
        row = self.conn.execute(
            f"select coalesce(max(idx) + 1, 0) as n from {SCHEMA}.request_log"
        ).fetchone()
        entry["index"] = int(row["n"]) if row else 0
        self.conn.execute(
            f"insert into {SCHEMA}.request_log (idx, entry) values (%s, %s)",
            (entry["index"], Jsonb(entry)),
        )

    def log_entries(self, since: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            f"select entry from {SCHEMA}.request_log where idx >= %s order by idx", (since,)
        ).fetchall()
        return [row["entry"] for row in rows]

    def log_count(self) -> int:
        row = self.conn.execute(f"select count(*) as n from {SCHEMA}.request_log").fetchone()
        return int(row["n"]) if row else 0

    def clear_log(self) -> None:
        self.conn.execute(f"truncate {SCHEMA}.request_log")
