"""Reading the warehouse: connections and sync views.

A sync view (docs/design.md) holds one row per record to write. Columns starting
with `_` are control columns; every other column is a destination field, sent as it
is. This module turns a row into a JSON-ready payload (dates `YYYY-MM-DD`, numerics
as numbers) and nothing more: it never filters or changes what the view says.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from common.settings import Settings

SYNC_KEY = "_sync_key"
PAYLOAD_HASH = "_payload_hash"
GROUP_KEY = "_group_key"
BEFORE = "_before"


class WarehouseUnavailable(RuntimeError):
    """The warehouse cannot be reached (exit 3); the message names what to do."""

    exit_code = 3


class SyncViewError(RuntimeError):
    """The sync view is missing or lacks its control columns (exit 2: run dbt build)."""

    exit_code = 2


@dataclass(frozen=True)
class SyncRow:
    sync_key: str
    payload_hash: str
    payload: dict[str, Any]
    group_key: str | None = None
    before: dict[str, Any] | None = field(default=None)


def connect(settings: Settings) -> psycopg.Connection[Any]:
    """An autocommit connection; the ledger opens its own transactions."""
    try:
        return psycopg.connect(settings.warehouse.dsn(), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        where = settings.warehouse.label()
        if settings.warehouse.is_embedded():
            raise WarehouseUnavailable(
                f"the embedded warehouse ({where}) is not running: "
                "start it with `python -m sandbox up`"
            ) from None
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        # libpq messages name host and port, never the password, but be sure.
        reason = reason.replace(settings.warehouse.password.get_secret_value(), "***")
        raise WarehouseUnavailable(f"cannot connect to the warehouse {where}: {reason}") from None


def relation_exists(conn: psycopg.Connection[Any], qualified_name: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (qualified_name,)).fetchone()
    return bool(row and row[0])


def _identifier(qualified_name: str) -> sql.Composable:
    return sql.Identifier(*qualified_name.split("."))


def jsonable(value: Any) -> Any:
    """A database value as the destination expects it in JSON."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return str(value)


def _as_object(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise SyncViewError(f"{BEFORE} must be a JSON object, got {type(value).__name__}")
    return {key: jsonable(item) for key, item in value.items()}


def read_sync_view(conn: psycopg.Connection[Any], view: str) -> list[SyncRow]:
    """Every row of `view`, ordered by its sync key so that batches are reproducible."""
    if not relation_exists(conn, view):
        raise SyncViewError(f"sync view {view} does not exist: run `dbt build` first")
    query = sql.SQL("select * from {} order by {}").format(
        _identifier(view), sql.Identifier(SYNC_KEY)
    )
    try:
        with conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(query)
            records = cursor.fetchall()
            columns = [column.name for column in cursor.description or []]
    except psycopg.errors.UndefinedColumn:
        raise SyncViewError(f"sync view {view} has no {SYNC_KEY} column") from None
    if PAYLOAD_HASH not in columns:
        raise SyncViewError(f"sync view {view} has no {PAYLOAD_HASH} column")
    fields = [name for name in columns if not name.startswith("_")]
    rows: list[SyncRow] = []
    for record in records:
        key = record[SYNC_KEY]
        if key is None:
            raise SyncViewError(f"sync view {view} has a row with a null {SYNC_KEY}")
        rows.append(
            SyncRow(
                sync_key=str(key),
                payload_hash=str(record[PAYLOAD_HASH]),
                payload={name: jsonable(record[name]) for name in fields},
                group_key=None if record.get(GROUP_KEY) is None else str(record[GROUP_KEY]),
                before=_as_object(record.get(BEFORE)),
            )
        )
    return rows
