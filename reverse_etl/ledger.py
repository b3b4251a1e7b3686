"""The pusher's ledger: runs, per-record outcomes, rejections (schema `reverse_etl`).

The DDL is the Jinja macro in `sql/ledger.sql`, shared with dbt's on-run-start, so
both create the same tables from one text. Every batch is written in its own
transaction together with the run's running counts, so a crash loses at most the
batch in flight and the run row always shows how far the pass got.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

LEDGER_SQL = Path(__file__).resolve().parent / "sql" / "ledger.sql"

# Outcomes that mean the destination answered for the record (as opposed to dry-run,
# skipped or never sent); only these can settle whether a rejection still stands.
SENT_OUTCOMES = ("created", "updated", "already_present", "rejected")


def ledger_ddl() -> str:
    template = jinja2.Environment().from_string(LEDGER_SQL.read_text())
    return str(template.module.reverse_etl_ledger_ddl())  # type: ignore[attr-defined]


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    already_present: int = 0
    rejected: int = 0
    skipped: int = 0
    would_create: int = 0
    would_update: int = 0
    not_sent: int = 0

    def add(self, outcome: str) -> None:
        attribute = "skipped" if outcome == "skipped_known_rejection" else outcome
        setattr(self, attribute, getattr(self, attribute) + 1)


@dataclass(frozen=True)
class RecordEntry:
    """One row of `reverse_etl.sync_records` (and of `rejected_records` if rejected)."""

    sync_key: str
    outcome: str
    payload: dict[str, Any]
    payload_hash: str
    before_values: dict[str, Any] | None = None
    record_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_fields: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class KnownRejection:
    sync_key: str
    payload_hash: str
    error_code: str | None
    error_message: str | None
    error_fields: str | None


@dataclass(frozen=True)
class RunContext:
    run_id: uuid.UUID
    destination: str
    object_name: str
    sync_view: str
    pass_name: str
    dry_run: bool


class Ledger:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def ensure_schema(self) -> None:
        with self.conn.transaction():
            self.conn.execute(ledger_ddl())  # type: ignore[arg-type]

    def exists(self) -> bool:
        row = self.conn.execute("select to_regclass('reverse_etl.sync_runs') is not null")
        result = row.fetchone()
        return bool(result and result[0])

    # -- runs -----------------------------------------------------------------------

    def open_run(
        self,
        *,
        destination: str,
        object_name: str,
        sync_view: str,
        pass_name: str,
        dry_run: bool,
        rows_in_view: int,
    ) -> RunContext:
        run = RunContext(uuid.uuid4(), destination, object_name, sync_view, pass_name, dry_run)
        with self.conn.transaction():
            self.conn.execute(
                """
                insert into reverse_etl.sync_runs
                    (run_id, destination, object_name, sync_view, pass, dry_run,
                     started_at, status, rows_in_view)
                values (%s, %s, %s, %s, %s, %s, clock_timestamp(), 'running', %s)
                """,
                (
                    run.run_id,
                    destination,
                    object_name,
                    sync_view,
                    pass_name,
                    dry_run,
                    rows_in_view,
                ),
            )
        return run

    def record_batch(
        self,
        run: RunContext,
        entries: Sequence[RecordEntry],
        counts: Counts,
        api_requests: int,
    ) -> None:
        """One transaction: the batch's records, its rejections, the run's counts."""
        with self.conn.transaction(), self.conn.cursor() as cursor:
            if entries:
                cursor.executemany(
                    """
                    insert into reverse_etl.sync_records
                        (run_id, sync_key, destination, object_name, pass, record_id,
                         outcome, payload, before_values, payload_hash, error_code,
                         error_message, error_fields, recorded_at)
                    values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                            clock_timestamp())
                    """,
                    [
                        (
                            run.run_id,
                            entry.sync_key,
                            run.destination,
                            run.object_name,
                            run.pass_name,
                            entry.record_id,
                            entry.outcome,
                            Jsonb(entry.payload),
                            None if entry.before_values is None else Jsonb(entry.before_values),
                            entry.payload_hash,
                            entry.error_code,
                            entry.error_message,
                            _fields_text(entry.error_fields),
                        )
                        for entry in entries
                    ],
                )
            rejections = [entry for entry in entries if entry.outcome == "rejected"]
            if rejections:
                cursor.executemany(
                    """
                    insert into reverse_etl.rejected_records
                        (run_id, sync_key, destination, object_name, pass, payload,
                         payload_hash, error_code, error_message, error_fields, rejected_at)
                    values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp())
                    """,
                    [
                        (
                            run.run_id,
                            entry.sync_key,
                            run.destination,
                            run.object_name,
                            run.pass_name,
                            Jsonb(entry.payload),
                            entry.payload_hash,
                            entry.error_code or "UNKNOWN",
                            entry.error_message,
                            _fields_text(entry.error_fields),
                        )
                        for entry in rejections
                    ],
                )
            self._write_counts(cursor, run, counts, api_requests)

    def finish_run(
        self,
        run: RunContext,
        *,
        status: str,
        counts: Counts,
        api_requests: int,
        error: str | None = None,
    ) -> None:
        with self.conn.transaction(), self.conn.cursor() as cursor:
            self._write_counts(cursor, run, counts, api_requests)
            cursor.execute(
                """
                update reverse_etl.sync_runs
                set status = %s, error = %s, finished_at = clock_timestamp()
                where run_id = %s
                """,
                (status, error, run.run_id),
            )

    @staticmethod
    def _write_counts(
        cursor: psycopg.Cursor[Any], run: RunContext, counts: Counts, api_requests: int
    ) -> None:
        # The run's columns keep their plain meaning: in a dry run nothing was created
        # or updated, so would_* counts live only in the records' outcomes.
        cursor.execute(
            """
            update reverse_etl.sync_runs
            set created = %s, updated = %s, already_present = %s, rejected = %s,
                skipped = %s, api_requests = %s
            where run_id = %s
            """,
            (
                counts.created,
                counts.updated,
                counts.already_present,
                counts.rejected,
                counts.skipped,
                api_requests,
                run.run_id,
            ),
        )

    # -- queries --------------------------------------------------------------------

    def known_rejections(
        self,
        *,
        destination: str,
        object_name: str,
        pass_name: str,
        keys: Iterable[tuple[str, str]],
    ) -> dict[str, KnownRejection]:
        """Rows whose identical payload was rejected and has not gone through since.

        Keyed by sync key; a row counts only with the same payload hash, so a fixed
        row (new hash) is sent again.
        """
        wanted = list(keys)
        if not wanted:
            return {}
        sync_keys = [key for key, _ in wanted]
        hashes = [payload_hash for _, payload_hash in wanted]
        with self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                """
                with wanted (sync_key, payload_hash) as (
                    select * from unnest(%(keys)s::text[], %(hashes)s::text[])
                ),
                last_rejection as (
                    select distinct on (r.sync_key)
                        r.sync_key, r.payload_hash, r.error_code, r.error_message,
                        r.error_fields, r.rejected_at
                    from reverse_etl.rejected_records as r
                    join wanted as w
                        on w.sync_key = r.sync_key and w.payload_hash = r.payload_hash
                    where r.destination = %(destination)s
                      and r.object_name = %(object_name)s
                      and r.pass = %(pass)s
                    order by r.sync_key, r.rejected_at desc
                )
                select l.*
                from last_rejection as l
                where not exists (
                    select 1
                    from reverse_etl.sync_records as s
                    where s.destination = %(destination)s
                      and s.object_name = %(object_name)s
                      and s.pass = %(pass)s
                      and s.sync_key = l.sync_key
                      and s.payload_hash = l.payload_hash
                      and s.outcome in ('created', 'updated', 'already_present')
                      and s.recorded_at > l.rejected_at
                )
                """,
                {
                    "keys": sync_keys,
                    "hashes": hashes,
                    "destination": destination,
                    "object_name": object_name,
                    "pass": pass_name,
                },
            )
            return {
                row["sync_key"]: KnownRejection(
                    sync_key=row["sync_key"],
                    payload_hash=row["payload_hash"],
                    error_code=row["error_code"],
                    error_message=row["error_message"],
                    error_fields=row["error_fields"],
                )
                for row in cursor.fetchall()
            }

    def recent_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                """
                select r.*,
                    coalesce(w.would_create, 0) as would_create,
                    coalesce(w.would_update, 0) as would_update,
                    coalesce(w.not_sent, 0) as not_sent
                from reverse_etl.sync_runs as r
                left join lateral (
                    select
                        count(*) filter (where s.outcome = 'would_create') as would_create,
                        count(*) filter (where s.outcome = 'would_update') as would_update,
                        count(*) filter (where s.outcome = 'not_sent') as not_sent
                    from reverse_etl.sync_records as s
                    where s.run_id = r.run_id
                ) as w on true
                order by r.started_at desc
                limit %s
                """,
                (limit,),
            )
            return list(cursor.fetchall())

    def run(self, run_id: uuid.UUID) -> dict[str, Any] | None:
        with self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute("select * from reverse_etl.sync_runs where run_id = %s", (run_id,))
            return cursor.fetchone()

    def records(self, run_id: uuid.UUID) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                "select * from reverse_etl.sync_records where run_id = %s order by sync_key",
                (run_id,),
            )
            return list(cursor.fetchall())


def _fields_text(fields: Sequence[str]) -> str | None:
    # `error_fields` is text in the DDL: a comma-joined list like Salesforce's own.
    return ",".join(fields) if fields else None
