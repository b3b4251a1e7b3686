"""Reading the warehouse: connections and sync views.

A sync view (docs/warehouse.md, "Sync views") holds one row per record to write. Columns starting
with `_` are control columns; every other column is a destination field, sent as it
is. This module turns a row into a JSON-ready payload (dates `YYYY-MM-DD`, numerics
as numbers) and nothing more: it never filters or changes what the view says.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.conninfo import make_conninfo
from psycopg.types.json import set_json_loads
from psycopg.types.string import TextLoader

from common.redaction import redact
from common.settings import Settings

SYNC_KEY = "_sync_key"
PAYLOAD_HASH = "_payload_hash"
# the view's row count, beside every row of its cursor (SyncViewReader.count)
_ROWS_IN_VIEW = "_propsync_rows_in_view"
GROUP_KEY = "_group_key"
BEFORE = "_before"
# Optional: the destination fields whose value the models cut to fit, comma-joined.
TRUNCATED_FIELDS = "_truncated_fields"


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
    # The fields of `payload` cut to fit the destination (`_truncated_fields`);
    # empty when none was, or when the view has no such column.
    truncated: tuple[str, ...] = ()


def connect(settings: Settings) -> psycopg.Connection[Any]:
    """An autocommit connection; the ledger opens its own transactions."""
    warehouse = settings.warehouse
    try:
        return psycopg.connect(warehouse.dsn(), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        where = warehouse.label()
        if warehouse.is_embedded():
            raise WarehouseUnavailable(
                f"the embedded warehouse ({where}) is not running: "
                "start it with `python -m sandbox up`"
            ) from None
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        raise WarehouseUnavailable(
            f"cannot connect to the warehouse {where}: {redact(reason)}"
        ) from None


def relation_exists(conn: psycopg.Connection[Any], qualified_name: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (qualified_name,)).fetchone()
    return bool(row and row[0])


def _identifier(qualified_name: str) -> sql.Composable:
    return sql.Identifier(*qualified_name.split("."))


# Types sent as they are; checked by exact type first, the common case by far.
_AS_IS = frozenset({str, bool, int, float})


def jsonable(value: Any) -> Any:
    """A database value as the destination expects it in JSON."""
    if value is None or type(value) in _AS_IS:
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


def _as_field_names(value: Any) -> tuple[str, ...]:
    """`_truncated_fields` ('Name,City__c' or null) as a tuple of field names."""
    if not value:
        return ()
    return tuple(name for name in (part.strip() for part in str(value).split(",")) if name)


def _as_object(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise SyncViewError(f"{BEFORE} must be a JSON object, got {type(value).__name__}")
    return {key: jsonable(item) for key, item in value.items()}


class _JsonNumberLoader(Loader):
    """numeric as a JSON number: an int when integral, else a float."""

    def load(self, data: Buffer) -> int | float:
        text = bytes(data)
        if b"." not in text and b"e" not in text and b"N" not in text:
            return int(text)
        number = float(text)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number


# A run of digits this long may be a number orjson would not give back exactly (it
# reads an integer beyond 64 bits as a float); json.loads reads such a value. Found by
# mapping every digit to 0 and anything else to a space (5 times faster than a regex).
_DIGITS_AS_ZEROS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_DIGITS = b"0" * 16


def _json_loads(data: Buffer) -> Any:
    """A json or jsonb value of a view as Python objects, as json.loads makes them.
    orjson reads the common value about five times faster (json.loads took a twelfth
    of a 733,000-row create pass); a long run of digits goes through json.loads, and
    so does what orjson refuses but a json column may hold (a lone surrogate escape)."""
    data = bytes(data)
    if _LONG_DIGITS in data.translate(_DIGITS_AS_ZEROS):
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


# Type oids whose values the reader's loaders return ready for JSON: text-like,
# booleans, integers, floats, numeric (_JsonNumberLoader), date and uuid (as
# text), json and jsonb (already parsed).
_JSON_READY = frozenset(
    {16, 18, 19, 20, 21, 23, 25, 114, 700, 701, 1042, 1043, 1082, 1700, 2950, 3802}
)


class SyncViewReader:
    """One sync view, read through a server-side cursor in one snapshot.

    A second connection of its own, so the ledger's batch transactions on the
    pusher's connection do not end the cursor's; `repeatable read` so the count,
    the destination's size and every batch see the same warehouse state.
    Memory holds one fetch of rows at a time, whatever the size of the view.
    """

    def __init__(self, conn: psycopg.Connection[Any], view: str, fetch_size: int = 5000) -> None:
        self.view = view
        self.fetch_size = fetch_size
        self._conninfo = make_conninfo(conn.info.dsn, password=conn.info.password)
        self._conn: psycopg.Connection[Any] | None = None
        self.columns: list[str] = []
        self._types: list[int] = []
        self._cursor: psycopg.ServerCursor[Any] | None = None
        self._first: list[tuple[Any, ...]] = []
        self._rows = 0

    def __enter__(self) -> SyncViewReader:
        conn = psycopg.connect(self._conninfo, autocommit=True)
        self._conn = conn
        # Values arrive JSON-ready (see _JSON_READY): no conversion per value later.
        conn.adapters.register_loader("date", TextLoader)
        conn.adapters.register_loader("uuid", TextLoader)
        conn.adapters.register_loader("numeric", _JsonNumberLoader)
        set_json_loads(_json_loads, context=conn)
        try:
            # ISO: a date's text is `YYYY-MM-DD`, as destinations expect it.
            conn.execute("set datestyle to 'ISO, YMD'")
            conn.execute("begin isolation level repeatable read read only")
            if not relation_exists(conn, self.view):
                raise SyncViewError(f"sync view {self.view} does not exist: run `dbt build` first")
            cursor = conn.execute(
                sql.SQL("select * from {} limit 0").format(_identifier(self.view))
            )
            self.columns = [column.name for column in cursor.description or []]
            self._types = [column.type_code for column in cursor.description or []]
            for control in (SYNC_KEY, PAYLOAD_HASH):
                if control not in self.columns:
                    raise SyncViewError(f"sync view {self.view} has no {control} column")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._cursor is not None:
            with contextlib.suppress(psycopg.Error):
                self._cursor.close()
            self._cursor = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise RuntimeError("SyncViewReader used outside its `with` block")
        return self._conn

    def count(self, relation: str | None = None) -> int | None:
        """Rows of the view (or of another relation, None if it does not exist).

        The view's count comes with its first fetch (`count(*) over ()` beside the
        rows): a sync view can take seconds to compute, and a separate `count(*)`
        computed it twice per pass. The rows are sorted by sync key, so the whole
        result is there before the first row anyway.
        """
        if relation is None:
            return self._open()[2]
        if not relation_exists(self.conn, relation):
            return None
        row = self.conn.execute(
            sql.SQL("select count(*) from {}").format(_identifier(relation))
        ).fetchone()
        return int(row[0]) if row else 0

    def _open(self) -> tuple[psycopg.ServerCursor[Any], list[tuple[Any, ...]], int]:
        """The view's cursor, opened once, its first fetch and the view's row count."""
        if self._cursor is None:
            cursor = self.conn.cursor(name="propsync_sync_view")
            cursor.itersize = self.fetch_size
            cursor.execute(
                sql.SQL("select *, count(*) over () as {} from {} order by {}").format(
                    sql.Identifier(_ROWS_IN_VIEW), _identifier(self.view),
                    sql.Identifier(SYNC_KEY),
                )
            )
            self._cursor = cursor
            self._first = cursor.fetchmany(self.fetch_size)
            self._rows = int(self._first[0][-1]) if self._first else 0
        return self._cursor, self._first, self._rows

    def batches(self) -> Iterator[list[SyncRow]]:
        """Every row, ordered by sync key (reproducible batches), a fetch at a time.

        The payload of a row is built by `dict(zip(...))` over values that the
        connection's loaders already made JSON-ready (dates as text, numerics as
        numbers); only columns of other types (timestamps, ...) pass through
        `jsonable`, so a row costs microseconds, not a Python call per value.
        """
        positions = {name: at for at, name in enumerate(self.columns)}
        fields = [name for name in self.columns if not name.startswith("_")]
        at_field = [positions[name] for name in fields]
        convert = [
            (name, positions[name])
            for name in fields
            if self._types[positions[name]] not in _JSON_READY
        ]
        key_at, hash_at = positions[SYNC_KEY], positions[PAYLOAD_HASH]
        group_at, before_at = positions.get(GROUP_KEY), positions.get(BEFORE)
        truncated_at = positions.get(TRUNCATED_FIELDS)
        cursor, records, _ = self._open()
        while records:
            rows: list[SyncRow] = []
            for record in records:
                key = record[key_at]
                if key is None:
                    raise SyncViewError(
                        f"sync view {self.view} has a row with a null {SYNC_KEY}"
                    )
                payload = dict(zip(fields, [record[at] for at in at_field], strict=True))
                for name, at in convert:
                    payload[name] = jsonable(record[at])
                group = None if group_at is None else record[group_at]
                rows.append(
                    SyncRow(
                        sync_key=str(key),
                        payload_hash=str(record[hash_at]),
                        payload=payload,
                        group_key=None if group is None else str(group),
                        before=None if before_at is None else _as_object(record[before_at]),
                        truncated=(
                            ()
                            if truncated_at is None
                            else _as_field_names(record[truncated_at])
                        ),
                    )
                )
            yield rows
            records = cursor.fetchmany(self.fetch_size)


def read_sync_view(conn: psycopg.Connection[Any], view: str) -> list[SyncRow]:
    """Every row of `view` in memory: for tests and small tools, never the engine."""
    with SyncViewReader(conn, view) as reader:
        return [row for batch in reader.batches() for row in batch]
