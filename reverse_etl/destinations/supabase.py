"""Supabase (a Postgres): the target of the legacy dispatch sync, written set-based.

- One table per sync (`offices`, ..., `operations`, schema `public`), identified by its
  unique legacy id column (`legacy_office_id`, ...). A row of a sync view is the
  target row exactly (docs/dispatch_supabase.md): the models decided every value,
  uuids included; this module only decides how to write them.
- Set-based, one transaction per batch: the batch is copied (`COPY`) into a
  temporary table shaped like the target, then one statement writes it:
  `insert ... on conflict do nothing returning` for the create pass (a row already
  there, by legacy id or id, is `already_present`: a rerun after a crash converges
  with no duplicate), `update ... from` for the update pass (by `id`; a row the
  target no longer holds is `NOT_FOUND`). Nothing is ever deleted: a source delete
  arrives as an update of `deleted_at`.
- A batch the database refuses as a whole (a foreign key whose parent is missing, a
  NOT NULL or CHECK violation, a value of the wrong type) is split in halves under
  savepoints until the offending rows stand alone: only they are rejected, each with
  the constraint's words; the others are written. A lost connection aborts the pass
  (exit 3); what was committed stays, and the rerun finds it.
- `api_requests` counts round trips to the target (statements and COPYs), the
  database's analogue of the HTTP destinations' requests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import JsonbDumper

from common.redaction import redact
from common.settings import Settings
from reverse_etl.destinations.base import (
    DestinationConfigError,
    Outcome,
    PassAborted,
    Payload,
    already_present,
    ok,
    rejected,
)

SCHEMA = "public"
ID = "id"
# table -> its unique legacy id column (contracts.md section 7)
LEGACY_KEYS: dict[str, str] = {
    "offices": "legacy_office_id",
    "profiles": "legacy_user_id",
    "doctors": "legacy_doctor_id",
    "patients": "legacy_patient_id",
    "cases": "legacy_instruction_id",
    "operations": "legacy_operation_id",
}
STAGE = "propsync_stage"
# Errors that concern a row's values, not the connection: the row is rejected.
_ROW_ERRORS = (psycopg.errors.IntegrityError, psycopg.errors.DataError)


def _compact_json(value: Any) -> bytes:
    # orjson: a seventh of a 2M-row create pass went into json.dumps. What it refuses
    # (ints beyond 64 bits) goes through json.dumps; both write JSON that the target
    # reads as the same jsonb.
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class _CompactJsonbDumper(JsonbDumper):
    # psycopg's set_json_dumps(context=...) changes only its Json/Jsonb wrappers' dumpers;
    # plain dicts and lists need a dumper class of their own to use another function.
    _dumps = _compact_json


def _json_for_copy(cursor: psycopg.Cursor[Any]) -> None:
    """On `cursor` only, JSON objects and arrays are copied as their compact JSON text:
    psycopg dumps each value of a row itself, where a Python call per value cost 1 s
    per 150,000 rows. (A list is a Postgres array elsewhere: the ids of `read_records`.)"""
    for kind in (dict, list):
        cursor.adapters.register_dumper(kind, _CompactJsonbDumper)


class SupabaseDestination:
    name = "supabase"
    # Rows per transaction: large enough that a round trip is noise, small enough that
    # a crash loses little work and a refused batch is cheap to write row by row.
    max_batch = 10_000

    def __init__(self, settings: Settings, *, object_name: str) -> None:
        if object_name not in LEGACY_KEYS:
            raise DestinationConfigError(
                f"supabase: unknown table {object_name!r}; known: {', '.join(LEGACY_KEYS)}"
            )
        self._settings = settings
        self.object_name = object_name
        self.legacy_key = LEGACY_KEYS[object_name]
        self._conn: psycopg.Connection[Any] | None = None
        self._requests = 0

    # -- the protocol ------------------------------------------------------------------

    @property
    def api_requests(self) -> int:
        return self._requests

    def check_configuration(self) -> None:
        missing = self._settings.supabase.missing()
        if missing:
            raise DestinationConfigError(
                f"Supabase is not configured: set {', '.join(missing)} "
                "(or run `python -m sandbox up` for the local stand-in)"
            )

    def create(self, batch: Sequence[Payload]) -> list[Outcome]:
        if not batch:
            return []
        return self._write(batch, self._insert_statement, self._created)

    def update(self, batch: Sequence[Payload]) -> list[Outcome]:
        if not batch:
            return []
        missing_id = [i for i, row in enumerate(batch) if not row.get(ID)]
        if missing_id:
            raise PassAborted(
                f"supabase.{self.object_name}: an update row without {ID}: the sync view "
                "is malformed (run `dbt build`)",
                exit_code=2,
            )
        return self._write(batch, self._update_statement, self._updated)

    def read_records(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        if not record_ids:
            return {}
        columns = [ID, *[f for f in fields if f != ID]]
        query = sql.SQL("select {} from {} where {} = any(%s::uuid[])").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            self._table(),
            sql.Identifier(ID),
        )
        cursor = self._execute(query, (list(record_ids),))
        found: dict[str, dict[str, Any]] = {}
        for row in cursor.fetchall():
            values = dict(zip(columns, row, strict=True))
            found[str(values.pop(ID))] = values
        return found

    def health_check(self) -> str:
        cursor = self._execute(
            sql.SQL("select count(*) from (select 1 from {} limit 1) as one").format(
                self._table()
            )
        )
        cursor.fetchone()
        info = self._connection().info
        return (
            f"Supabase at {info.host}:{info.port}/{info.dbname}: answered, "
            f"{SCHEMA}.{self.object_name} readable"
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- writing -----------------------------------------------------------------------

    def _write(
        self,
        batch: Sequence[Payload],
        statement: Callable[[list[str]], sql.Composed],
        outcomes: Callable[[Sequence[Payload], Mapping[str, str]], list[Outcome]],
    ) -> list[Outcome]:
        columns = list(batch[0].keys())
        conn = self._connection()
        try:
            with conn.transaction():
                return self._write_part(conn, batch, columns, statement, outcomes)
        except psycopg.OperationalError as error:
            self.close()
            raise PassAborted(f"supabase: {self._reason(error)}") from None

    def _write_part(
        self,
        conn: psycopg.Connection[Any],
        rows: Sequence[Payload],
        columns: list[str],
        statement: Callable[[list[str]], sql.Composed],
        outcomes: Callable[[Sequence[Payload], Mapping[str, str]], list[Outcome]],
    ) -> list[Outcome]:
        """Write `rows` under a savepoint; a refusal splits them in halves until the
        rows refused are alone (k bad rows of n cost about k log n statements, not n)."""
        try:
            with conn.transaction():
                written = self._stage_and_write(conn, rows, columns, statement)
            return outcomes(rows, written)
        except _ROW_ERRORS as error:
            if len(rows) == 1:
                return [self._refused(error)]
            half = len(rows) // 2
            return self._write_part(
                conn, rows[:half], columns, statement, outcomes
            ) + self._write_part(conn, rows[half:], columns, statement, outcomes)

    def _stage_and_write(
        self,
        conn: psycopg.Connection[Any],
        batch: Sequence[Payload],
        columns: list[str],
        statement: Callable[[list[str]], sql.Composed],
    ) -> dict[str, str]:
        """Copy the batch into the stage, write it; legacy key -> id of the rows written."""
        with conn.cursor() as cursor:
            # A part written under a savepoint leaves its rows until the transaction
            # ends: the stage holds this part only.
            cursor.execute(sql.SQL("truncate {}").format(sql.Identifier(STAGE)))
            _json_for_copy(cursor)
            with cursor.copy(
                sql.SQL("copy {} ({}) from stdin").format(
                    sql.Identifier(STAGE),
                    sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                )
            ) as copy:
                for row in batch:
                    copy.write_row([row.get(c) for c in columns])
            cursor.execute(statement(columns))
            self._requests += 3
            return {str(key): str(record_id) for key, record_id in cursor.fetchall()}

    def _insert_statement(self, columns: list[str]) -> sql.Composed:
        names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        # No conflict target: a row already there by its legacy id or by its id is
        # the same row (the models assign ids once, uuid_mappings), so both mean
        # "already present".
        return sql.SQL(
            "insert into {table} ({names}) select {names} from {stage} "
            "on conflict do nothing returning {key}, {id}"
        ).format(
            table=self._table(),
            names=names,
            stage=sql.Identifier(STAGE),
            key=sql.Identifier(self.legacy_key),
            id=sql.Identifier(ID),
        )

    def _update_statement(self, columns: list[str]) -> sql.Composed:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = s.{}").format(sql.Identifier(c), sql.Identifier(c))
            for c in columns
            if c != ID
        )
        return sql.SQL(
            "update {table} as t set {assignments} from {stage} as s "
            "where t.{id} = s.{id} returning t.{id}, t.{id}"
        ).format(
            table=self._table(),
            assignments=assignments,
            stage=sql.Identifier(STAGE),
            id=sql.Identifier(ID),
        )

    def _created(self, batch: Sequence[Payload], written: Mapping[str, str]) -> list[Outcome]:
        """ok for the rows inserted; the others were there already: their ids."""
        absent = [row for row in batch if str(row.get(self.legacy_key)) not in written]
        present = self._ids_of(absent)
        results: list[Outcome] = []
        for row in batch:
            key = str(row.get(self.legacy_key))
            if key in written:
                results.append(ok(written[key]))
            elif key in present:
                results.append(already_present(present[key]))
            else:
                # Neither inserted nor there by legacy id: its id belongs to another row.
                results.append(
                    rejected(
                        "DUPLICATE_ID",
                        f"id {row.get(ID)} is held by another {self.object_name} row",
                        (ID,),
                    )
                )
        return results

    def _updated(self, batch: Sequence[Payload], written: Mapping[str, str]) -> list[Outcome]:
        return [
            ok(str(row[ID]))
            if str(row[ID]) in written
            else rejected("NOT_FOUND", f"no {self.object_name} row with id {row[ID]}", (ID,))
            for row in batch
        ]

    def _ids_of(self, rows: Sequence[Payload]) -> dict[str, str]:
        """legacy key -> id of the rows the target already holds."""
        keys = [row.get(self.legacy_key) for row in rows]
        if not keys:
            return {}
        cursor = self._execute(
            sql.SQL("select {}, {} from {} where {} = any(%s)").format(
                sql.Identifier(self.legacy_key),
                sql.Identifier(ID),
                self._table(),
                sql.Identifier(self.legacy_key),
            ),
            (keys,),
        )
        return {str(key): str(record_id) for key, record_id in cursor.fetchall()}

    @staticmethod
    def _refused(error: psycopg.Error) -> Outcome:
        diag = error.diag
        code = {
            psycopg.errors.ForeignKeyViolation: "FOREIGN_KEY",
            psycopg.errors.NotNullViolation: "REQUIRED_FIELD_MISSING",
            psycopg.errors.CheckViolation: "CHECK_VIOLATION",
            psycopg.errors.UniqueViolation: "DUPLICATE_VALUE",
        }.get(type(error), "INVALID_VALUE")
        message = (diag.message_primary or str(error)).strip()
        if diag.message_detail:
            message = f"{message}: {diag.message_detail.strip()}"
        fields = (diag.column_name,) if diag.column_name else ()
        return rejected(code, redact(message), fields)

    # -- the connection ----------------------------------------------------------------

    def _table(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(self.object_name))

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            self.check_configuration()
            url = self._settings.supabase.database_url
            assert url is not None  # check_configuration said so
            try:
                self._conn = psycopg.connect(
                    url.get_secret_value(), autocommit=True, connect_timeout=10
                )
            except psycopg.OperationalError as error:
                reason = self._reason(error)
                if "password authentication failed" in reason or "does not exist" in reason:
                    raise DestinationConfigError(
                        f"Supabase refused the connection ({reason}); "
                        "check SUPABASE_DATABASE_URL"
                    ) from None
                raise PassAborted(f"Supabase does not answer: {reason}") from None
            self._requests += 1
            # The stage lives as long as the session; made outside any transaction so
            # that a batch rolled back does not take it along.
            try:
                self._execute(
                    sql.SQL("create temporary table {} (like {})").format(
                        sql.Identifier(STAGE), self._table()
                    )
                )
            except psycopg.errors.UndefinedTable:
                self.close()
                raise DestinationConfigError(
                    f"Supabase has no table {SCHEMA}.{self.object_name}: create the target "
                    "schema first (contracts.md section 7)"
                ) from None
        return self._conn

    def _execute(self, query: sql.Composable, params: Sequence[Any] | None = None) -> Any:
        conn = self._connection()
        try:
            cursor = conn.execute(query, params)
        except psycopg.OperationalError as error:
            self.close()
            raise PassAborted(f"supabase: {self._reason(error)}") from None
        self._requests += 1
        return cursor

    @staticmethod
    def _reason(error: psycopg.Error) -> str:
        text = str(error).strip()
        first = text.splitlines()[0] if text else type(error).__name__
        return redact(" ".join(first.split()))
