"""The simulator's state in Postgres, schema `pw`: objects, request log, settings.

Every object is one row: its kind (the DTO name), its `ID`, its fields as JSON (DTO
field names, dates as ISO text, plus the links the DTO does not carry itself:
`Lease.tenantIDs` / `primaryContactID`, `WorkOrder.contactID` / `closingComments`),
and two times the DTOs do not show: when it was created and last modified. The
`lastModified*` criteria read the latter, which is how PropertyWare offers
incremental reads without a last-modified field on its DTOs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from sandbox.state_store import StateStore

SCHEMA_SQL = """
create schema if not exists pw;
create table if not exists pw.objects (
    kind text not null,
    id bigint not null,
    data jsonb not null,
    created_at timestamptz not null,
    last_modified timestamptz not null,
    primary key (kind, id)
);
create index if not exists objects_modified on pw.objects (kind, last_modified);
create table if not exists pw.request_log (
    idx integer primary key,
    entry jsonb not null
);
create table if not exists pw.settings (
    name text primary key,
    value jsonb not null
);
"""
# Serialises the idempotent DDL when two simulators start against one database.
SCHEMA_LOCK_KEY = 0x50575349

KINDS = ("Portfolio", "Building", "Unit", "Contact", "Lease", "Vendor", "WorkOrder")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class Store(StateStore):
    """The state in Postgres; one connection, callers hold `lock`."""

    schema_sql = SCHEMA_SQL
    schema_lock_key = SCHEMA_LOCK_KEY

    def reset(self) -> None:
        with self.transaction() as conn:
            for table in ("objects", "request_log", "settings"):
                conn.execute(f"truncate pw.{table}")

    # settings

    def setting(self, name: str, default: dict[str, Any]) -> dict[str, Any]:
        row = self.conn.execute(
            "select value from pw.settings where name = %s", (name,)
        ).fetchone()
        return {**default, **(row["value"] if row else {})}

    def save_setting(self, name: str, value: dict[str, Any]) -> None:
        self.conn.execute(
            "insert into pw.settings (name, value) values (%s, %s)"
            " on conflict (name) do update set value = excluded.value",
            (name, Jsonb(value)),
        )

    # objects

    def upsert(self, rows: list[tuple[str, int, dict[str, Any], dt.datetime, dt.datetime]]
               ) -> None:
        """(kind, id, fields, created, last modified) rows, in one round trip."""
        with self.conn.cursor() as cursor:
            cursor.executemany(
                "insert into pw.objects (kind, id, data, created_at, last_modified)"
                " values (%s, %s, %s, %s, %s) on conflict (kind, id) do update set"
                " data = excluded.data, created_at = excluded.created_at,"
                " last_modified = excluded.last_modified",
                [(kind, oid, Jsonb(data), created, modified)
                 for kind, oid, data, created, modified in rows],
            )

    def update(self, kind: str, oid: int, changes: dict[str, Any],
               moment: dt.datetime | None = None) -> dict[str, Any] | None:
        """Merge `changes` into an object and stamp it modified; the object, or None."""
        row = self.conn.execute(
            "update pw.objects set data = data || %s, last_modified = %s"
            " where kind = %s and id = %s"
            " returning id, data, created_at, last_modified",
            (Jsonb(changes), moment or utc_now(), kind, oid),
        ).fetchone()
        return _object(row) if row else None

    def get(self, kind: str, oid: int) -> dict[str, Any] | None:
        found = self.by_ids(kind, [oid])
        return found[0] if found else None

    def by_ids(self, kind: str, ids: list[int]) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "select id, data, created_at, last_modified from pw.objects"
            " where kind = %s and id = any(%s) order by id",
            (kind, ids),
        ).fetchall()
        return [_object(row) for row in rows]

    def search(self, kind: str, *, ids: list[int] | None = None,
               created_after: dt.datetime | None = None,
               created_before: dt.datetime | None = None,
               modified_after: dt.datetime | None = None,
               modified_before: dt.datetime | None = None,
               modified_on_or_after: dt.datetime | None = None,
               equals: dict[str, Any] | None = None,
               contains: dict[str, Any] | None = None,
               newest_first: bool = False,
               limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Objects of `kind` matching every given condition, by ID (or newest first).

        `equals` compares a field's JSON value (`data -> field = value`); `contains`
        asks an array field to hold the value (`data -> field @> [value]`).
        """
        where = [sql.SQL("kind = %s")]
        args: list[Any] = [kind]
        for column, op, value in (
            ("created_at", ">", created_after), ("created_at", "<", created_before),
            ("last_modified", ">", modified_after), ("last_modified", "<", modified_before),
            ("last_modified", ">=", modified_on_or_after),
        ):
            if value is not None:
                where.append(sql.SQL("{} " + op + " %s").format(sql.Identifier(column)))
                args.append(value)
        if ids is not None:
            where.append(sql.SQL("id = any(%s)"))
            args.append(ids)
        for name, value in (equals or {}).items():
            where.append(sql.SQL("data -> {} = %s").format(sql.Literal(name)))
            args.append(Jsonb(value))
        for name, value in (contains or {}).items():
            where.append(sql.SQL("data -> {} @> %s").format(sql.Literal(name)))
            args.append(Jsonb([value]))
        order = sql.SQL("created_at desc, id desc" if newest_first else "id")
        query = sql.SQL(
            "select id, data, created_at, last_modified from pw.objects where {} order by {}"
        ).format(sql.SQL(" and ").join(where), order)
        if limit is not None:
            query = query + sql.SQL(" limit %s offset %s")
            args.extend([limit, offset])
        return [_object(row) for row in self.conn.execute(query, args).fetchall()]

    def where_field_in(self, kind: str, name: str, values: list[int]) -> list[dict[str, Any]]:
        """Objects whose field `name` is one of `values` (the units of some buildings)."""
        rows = self.conn.execute(
            sql.SQL(
                "select id, data, created_at, last_modified from pw.objects"
                " where kind = %s and (data ->> {})::bigint = any(%s) order by id"
            ).format(sql.Literal(name)),
            (kind, values),
        ).fetchall()
        return [_object(row) for row in rows]

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute(
            "select kind, count(*) as n from pw.objects group by kind"
        ).fetchall()
        found = {row["kind"]: int(row["n"]) for row in rows}
        return {kind: found.get(kind, 0) for kind in KINDS}

    # request log

    def log(self, entry: dict[str, Any]) -> None:
        row = self.conn.execute(
            "select coalesce(max(idx) + 1, 0) as n from pw.request_log"
        ).fetchone()
        entry["index"] = int(row["n"]) if row else 0
        self.conn.execute(
            "insert into pw.request_log (idx, entry) values (%s, %s)",
            (entry["index"], Jsonb(entry)),
        )

    def log_entries(self, since: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "select entry from pw.request_log where idx >= %s order by idx", (since,)
        ).fetchall()
        return [row["entry"] for row in rows]

    def log_count(self) -> int:
        row = self.conn.execute("select count(*) as n from pw.request_log").fetchone()
        return int(row["n"]) if row else 0

    def clear_log(self) -> None:
        self.conn.execute("truncate pw.request_log")


def _object(row: dict[str, Any]) -> dict[str, Any]:
    """The stored fields with `ID` and the two hidden times (`_created`, `_lastModified`)."""
    return {**row["data"], "ID": int(row["id"]), "_created": iso(row["created_at"]),
            "_lastModified": iso(row["last_modified"])}
