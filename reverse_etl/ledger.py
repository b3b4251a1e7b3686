"""The pusher's ledger: runs, per-record outcomes, rejections (schema `reverse_etl`).

The schema is made and changed by ordered, versioned migrations
(`migrations/NNNN_<name>.sql`, one Jinja macro each) that the runner macro
`reverse_etl_migrate()` (`sql/migrate.sql`) applies in order, each once, under an
advisory lock, recording them in `reverse_etl.schema_migrations`. dbt runs the same
macro on-run-start, so both readers apply the same text. A warehouse made before
migrations existed holds migration 1's tables already; migration 1 is idempotent,
so it is recorded there without change and the later ones upgrade it in place.

Every batch is written in its own transaction together with the run's running
counts, so a crash loses at most the batch in flight and the run row always shows
how far the pass got. Batches are written set-based (COPY, then one insert-select
for the rejections): the ledger must not be what bounds a million-row pass.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from common.redaction import redact

_PACKAGE = Path(__file__).resolve().parent
MIGRATIONS_DIR = _PACKAGE / "migrations"
MIGRATE_SQL = _PACKAGE / "sql" / "migrate.sql"

# `0002_sync_spine.sql` defines the macro reverse_etl_migration_0002_sync_spine().
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# The runner writes this line before each migration it applies; reading it back
# from the rendered text is how Python learns the runner's list without a copy.
_MIGRATION_MARKER = re.compile(r"^-- reverse_etl migration (\d+): (\w+)$", re.MULTILINE)

# Prefix of a pass's advisory-lock key, so it cannot meet the migrations' key
# ('reverse_etl.migrate') or another tool's lock on a bare sync name.
_PASS_LOCK_PREFIX = "reverse_etl.pass:"


class UnknownRun(ValueError):
    """A run id that names no run, or more than one (exit 2): the message says which."""

    exit_code = 2


# Every status a run can have (migration 0002's check constraint says the same).
RUN_STATUSES = ("running", "succeeded", "partial", "failed", "blocked", "abandoned")
# `reverse-etl runs` shows the first 8 hex digits of a run id; a prefix must be at
# least that long, so that a typo does not silently pick some other run.
RUN_PREFIX_MIN = 8
_RUN_PREFIX = re.compile(r"[0-9a-f-]+")  # no LIKE wildcard can get through
_UUID_GROUPS = ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))


class MigrationError(RuntimeError):
    """The migration files and the runner's list disagree: nothing was applied."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def migrations() -> list[Migration]:
    """The migration files, in version order."""
    found: list[Migration] = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: a migration file is named NNNN_<name>.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    return found


def _macros() -> Any:
    """The runner and every migration as one Jinja module, the way dbt sees them.

    dbt puts every macro of its macro paths in one namespace; concatenating the
    files gives plain Jinja the same namespace. The default Environment renders
    whitespace exactly as dbt's does (no trim_blocks), so the texts are identical;
    StrictUndefined makes a listed but missing macro an error instead of nothing.
    """
    sources = [MIGRATE_SQL.read_text(), *(m.path.read_text() for m in migrations())]
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return environment.from_string("\n".join(sources)).module


def migration_sql() -> str:
    """The text both the pusher and dbt's on-run-start run: every migration, guarded."""
    text = str(_macros().reverse_etl_migrate())
    listed = [(int(version), name) for version, name in _MIGRATION_MARKER.findall(text)]
    on_disk = [(m.version, m.name) for m in migrations()]
    if listed != on_disk:
        # A file missing from the runner's list would never run, silently, and a
        # list out of order would apply a migration before the one it builds on.
        raise MigrationError(
            f"reverse_etl/sql/migrate.sql lists migrations {listed}, the folder "
            f"reverse_etl/migrations holds {on_disk}: list every file, in order"
        )
    return text


def _migration_lock_sql() -> str:
    return str(_macros().reverse_etl_migrate_lock())


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


@dataclass(slots=True)
class RecordEntry:
    """One row of `reverse_etl.sync_records` (and of `rejected_records` if rejected).

    Slots and not frozen: a pass builds one per record, and a frozen dataclass
    costs twice as much to build.
    """

    sync_key: str
    outcome: str
    payload: dict[str, Any]
    payload_hash: str
    before_values: dict[str, Any] | None = None
    record_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_fields: Sequence[str] = ()


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
    sync_name: str


# The known-rejection rule, stated once: a row of `wanted` (sync_key, payload_hash)
# is a known rejection when the same key with the same payload hash was rejected
# before (its latest such rejection is reported) and that payload has not been
# accepted since. Another hash (a fixed row) is not known, so it is sent again.
# `{wanted}` is a relation: the batch's keys (known_rejections) or a whole sync
# view (count_known_rejections).
_KNOWN_REJECTIONS = """
with wanted (sync_key, payload_hash) as (
    {wanted}
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
"""

# COPY leaves out recorded_at: its default, now(), is the batch transaction's start,
# later than every batch committed before it, which is all the rule above needs.
_COPY_RECORDS = """
copy reverse_etl.sync_records
    (run_id, sync_key, destination, object_name, pass, record_id, outcome, payload,
     before_values, payload_hash, error_code, error_message, error_fields)
from stdin
"""

# The rejections are copied from the rows just written rather than sent twice: one
# payload serialisation per record, and rejected_records cannot disagree with them.
_INSERT_REJECTIONS = """
insert into reverse_etl.rejected_records
    (run_id, sync_key, destination, object_name, pass, payload, payload_hash,
     error_code, error_message, error_fields, rejected_at)
select run_id, sync_key, destination, object_name, pass, payload, payload_hash,
    coalesce(error_code, 'UNKNOWN'), error_message, error_fields, recorded_at
from reverse_etl.sync_records
where run_id = %s and sync_key = any(%s::text[])
"""


class Ledger:
    """The ledger on one autocommit psycopg connection (each method its own transaction)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    # -- schema ---------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the migrations not yet recorded; return the versions applied now.

        Safe to call before every pass and concurrently with other migrators.
        """
        with self.conn.transaction():
            # The runner takes this lock too (it is re-entrant within a transaction);
            # taking it first makes the versions read here the ones the runner sees.
            self.conn.execute(_migration_lock_sql())  # type: ignore[arg-type]
            before = set(self.applied_versions())
            self.conn.execute(migration_sql())  # type: ignore[arg-type]
            after = set(self.applied_versions())
        return sorted(after - before)

    def applied_versions(self) -> list[int]:
        """The versions recorded in reverse_etl.schema_migrations ([] before any)."""
        row = self.conn.execute(
            "select to_regclass('reverse_etl.schema_migrations') is not null"
        ).fetchone()
        if not (row and row[0]):
            return []
        rows = self.conn.execute(
            "select version from reverse_etl.schema_migrations order by version"
        ).fetchall()
        return [int(version) for (version,) in rows]

    def exists(self) -> bool:
        row = self.conn.execute("select to_regclass('reverse_etl.sync_runs') is not null")
        result = row.fetchone()
        return bool(result and result[0])

    # -- locking --------------------------------------------------------------------

    @contextmanager
    def pass_lock(self, sync_name: str) -> Iterator[bool]:
        """Hold the sync's advisory lock for the block; yield False if another has it.

        Session-level, not transaction-level, because a pass spans many
        transactions; it lives on the connection, so a process killed mid-pass
        releases it when its connection drops. It does not wait: a second pass of
        the same sync is refused, not queued. Re-entrant on the same connection.
        """
        key = _PASS_LOCK_PREFIX + sync_name
        row = self.conn.execute(
            "select pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)
        ).fetchone()
        locked = bool(row and row[0])
        try:
            yield locked
        finally:
            # A closed or broken connection has released the lock with its session.
            if locked and not self.conn.closed and not self.conn.broken:
                self.conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (key,))

    # -- runs -----------------------------------------------------------------------

    def open_run(
        self,
        *,
        sync_name: str,
        destination: str,
        object_name: str,
        sync_view: str,
        pass_name: str,
        dry_run: bool,
        rows_in_view: int,
        gate: str | None = None,
        revert_of: uuid.UUID | None = None,
    ) -> RunContext:
        """Record a run of the registry's sync `sync_name` as `running`."""
        run = RunContext(
            uuid.uuid4(), destination, object_name, sync_view, pass_name, dry_run, sync_name
        )
        with self.conn.transaction():
            self.conn.execute(
                """
                insert into reverse_etl.sync_runs
                    (run_id, sync_name, destination, object_name, sync_view, pass, dry_run,
                     started_at, status, rows_in_view, gate, revert_of)
                values (%s, %s, %s, %s, %s, %s, %s, clock_timestamp(), 'running', %s, %s, %s)
                """,
                (
                    run.run_id,
                    sync_name,
                    destination,
                    object_name,
                    sync_view,
                    pass_name,
                    dry_run,
                    rows_in_view,
                    gate,
                    revert_of,
                ),
            )
        return run

    def set_gate(self, run: RunContext, gate: str) -> None:
        """Record what the gate did as soon as it is known (a crash later keeps it)."""
        self.conn.execute(
            "update reverse_etl.sync_runs set gate = %s where run_id = %s", (gate, run.run_id)
        )

    def abandon_running_runs(self, sync_name: str) -> list[uuid.UUID]:
        """Mark the sync's `running` runs `abandoned`; call only under its pass lock.

        Holding the lock proves no live process is running a pass of this sync, so
        a run still `running` belongs to a process that died (SIGKILL, lost host).
        """
        rows = self.conn.execute(
            """
            update reverse_etl.sync_runs
            set status = 'abandoned',
                finished_at = clock_timestamp(),
                error = coalesce(error, 'the process running this pass died; '
                                        'found by a later pass of the same sync')
            where sync_name = %s and status = 'running'
            returning run_id
            """,
            (sync_name,),
        ).fetchall()
        return [run_id for (run_id,) in rows]

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
                run_values = (run.destination, run.object_name, run.pass_name)
                with cursor.copy(_COPY_RECORDS) as copy:
                    for entry in entries:
                        before = entry.before_values
                        copy.write_row(
                            (
                                run.run_id,
                                entry.sync_key,
                                *run_values,
                                entry.record_id,
                                entry.outcome,
                                _json(entry.payload),
                                None if before is None else _json(before),
                                entry.payload_hash,
                                entry.error_code,
                                entry.error_message,
                                _fields_text(entry.error_fields),
                            )
                        )
                rejected = [entry.sync_key for entry in entries if entry.outcome == "rejected"]
                if rejected:
                    cursor.execute(_INSERT_REJECTIONS, (run.run_id, rejected))
            self._write_counts(cursor, run, counts, api_requests)

    def finish_run(
        self,
        run: RunContext,
        *,
        status: str,
        counts: Counts,
        api_requests: int,
        error: str | None = None,
        gate: str | None = None,
    ) -> None:
        """Close the run; `gate=None` keeps what open_run or set_gate recorded."""
        with self.conn.transaction(), self.conn.cursor() as cursor:
            self._write_counts(cursor, run, counts, api_requests)
            cursor.execute(
                """
                update reverse_etl.sync_runs
                set status = %s, error = %s, gate = coalesce(%s, gate),
                    finished_at = clock_timestamp()
                where run_id = %s
                """,
                (status, error, gate, run.run_id),
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
        """The batch's (sync key, payload hash) pairs that are known rejections.

        Keyed by sync key; the rule is `_KNOWN_REJECTIONS`.
        """
        wanted = list(keys)
        if not wanted:
            return {}
        query = sql.SQL(_KNOWN_REJECTIONS).format(  # type: ignore[arg-type]
            wanted=sql.SQL("select * from unnest(%(keys)s::text[], %(hashes)s::text[])")
        )
        with self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                query,
                {
                    "keys": [key for key, _ in wanted],
                    "hashes": [payload_hash for _, payload_hash in wanted],
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

    def count_known_rejections(
        self, view: str, *, destination: str, object_name: str, pass_name: str
    ) -> int:
        """How many rows of a sync view (`_sync_key`, `_payload_hash`) are known rejections.

        The rule of known_rejections, in one statement over the whole view, so the
        safety caps and the gate can count what a pass will really send before it
        reads the first batch. Without any rejection of this sync on record the answer
        is 0 and the view is not computed (a second time: the pass reads it too).
        """
        params = {"destination": destination, "object_name": object_name, "pass": pass_name}
        any_rejection = self.conn.execute(
            "select exists (select from reverse_etl.rejected_records"
            " where destination = %(destination)s and object_name = %(object_name)s"
            " and pass = %(pass)s)",
            params,
        ).fetchone()
        if not (any_rejection and any_rejection[0]):
            return 0
        view_relation = sql.Identifier(*view.split("."))
        wanted = sql.SQL("select _sync_key::text, _payload_hash::text from {view}").format(
            view=view_relation
        )
        query = sql.SQL("select count(*) from ({rule}) as known").format(
            rule=sql.SQL(_KNOWN_REJECTIONS).format(wanted=wanted)  # type: ignore[arg-type]
        )
        row = self.conn.execute(query, params).fetchone()
        return int(row[0]) if row else 0

    def outstanding_rejections(self, sync_name: str | None = None) -> list[dict[str, Any]]:
        """The last rejection of every record that has not gone through since.

        One row per (sync, sync key): a record rejected twice shows its latest
        reason; a record created, updated or found present after its rejection is
        settled and not listed. Newest first.
        """
        with self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                """
                with latest as (
                    select distinct on (u.sync_name, r.sync_key)
                        u.sync_name, r.sync_key, r.destination, r.object_name, r.pass,
                        r.error_code, r.error_message, r.error_fields, r.rejected_at,
                        r.run_id, r.payload
                    from reverse_etl.rejected_records as r
                    join reverse_etl.sync_runs as u on u.run_id = r.run_id
                    where %(sync)s::text is null or u.sync_name = %(sync)s
                    order by u.sync_name, r.sync_key, r.rejected_at desc
                )
                select l.*
                from latest as l
                where not exists (
                    select 1
                    from reverse_etl.sync_records as s
                    where s.destination = l.destination
                      and s.object_name = l.object_name
                      and s.pass = l.pass
                      and s.sync_key = l.sync_key
                      and s.outcome in ('created', 'updated', 'already_present')
                      and s.recorded_at > l.rejected_at
                )
                order by l.rejected_at desc, l.sync_key
                """,
                {"sync": sync_name},
            )
            return list(cursor.fetchall())

    def recent_runs(
        self, limit: int = 20, *, sync_name: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest runs first, with the record counts the run row does not keep.

        `sync_name` and `status` narrow the list; None means any.
        """
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
                where (%(sync)s::text is null or r.sync_name = %(sync)s)
                  and (%(status)s::text is null or r.status = %(status)s)
                order by r.started_at desc
                limit %(limit)s
                """,
                {"sync": sync_name, "status": status, "limit": limit},
            )
            return list(cursor.fetchall())

    def resolve_run(self, prefix: str) -> uuid.UUID:
        """The run whose id is `prefix` or starts with it (at least 8 characters).

        What `reverse-etl runs` shows is the id's first 8 hex digits; those, or any
        longer part of the id, name a run as long as exactly one run matches.
        Raise UnknownRun (exit 2) for a malformed id, no match or several matches.
        """
        text = prefix.strip().lower()
        try:
            return self._existing(uuid.UUID(text))
        except ValueError:
            pass  # not a whole id: a prefix, or nothing
        digits = text.replace("-", "")
        if not _RUN_PREFIX.fullmatch(text) or not RUN_PREFIX_MIN <= len(digits) <= 32:
            raise UnknownRun(
                f"not a run id: {prefix!r} (give the id `reverse-etl runs` shows, "
                f"at least its first {RUN_PREFIX_MIN} characters)"
            )
        # Compared in the id's text form, so the dashes go where uuid puts them:
        # `1a2b3c4d5e` and `1a2b3c4d-5e` are the same prefix.
        dashed = "-".join(
            digits[start:end] for start, end in _UUID_GROUPS if digits[start:end]
        )
        rows = self.conn.execute(
            """
            select run_id from reverse_etl.sync_runs
            where run_id::text like %s
            order by started_at desc
            limit 6
            """,
            (dashed + "%",),
        ).fetchall()
        if not rows:
            raise UnknownRun(f"no run {prefix} in reverse_etl.sync_runs")
        if len(rows) > 1:
            shown = ", ".join(str(run_id) for (run_id,) in rows[:5])
            many = "more than 5" if len(rows) > 5 else str(len(rows))
            raise UnknownRun(
                f"run id {prefix} is ambiguous: {many} runs start with it ({shown}); "
                "give more characters"
            )
        return uuid.UUID(str(rows[0][0]))

    def _existing(self, run_id: uuid.UUID) -> uuid.UUID:
        row = self.conn.execute(
            "select 1 from reverse_etl.sync_runs where run_id = %s", (run_id,)
        ).fetchone()
        if row is None:
            raise UnknownRun(f"no run {run_id} in reverse_etl.sync_runs")
        return run_id

    def run_outcomes(self, run_id: uuid.UUID) -> dict[str, int]:
        """How many of the run's records ended with each outcome."""
        rows = self.conn.execute(
            """
            select outcome, count(*) from reverse_etl.sync_records
            where run_id = %s group by outcome order by outcome
            """,
            (run_id,),
        ).fetchall()
        return {str(outcome): int(count) for outcome, count in rows}

    def run_records(self, run_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
        """The first `limit` records of a run, rejected ones first, then by key.

        Without payloads: a run may hold a million records, and a listing needs
        what happened to each, not what was sent.
        """
        with self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                """
                select sync_key, outcome, record_id, error_code, error_message, error_fields
                from reverse_etl.sync_records
                where run_id = %s
                order by outcome <> 'rejected', sync_key
                limit %s
                """,
                (run_id, limit),
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

    # -- chains of steps (`reverse-etl sync workorders`) ------------------------------

    def open_chain_run(self, chain: str, *, dry_run: bool) -> uuid.UUID:
        chain_run_id = uuid.uuid4()
        self.conn.execute(
            """
            insert into reverse_etl.chain_runs (chain_run_id, chain, dry_run, status, started_at)
            values (%s, %s, %s, 'running', clock_timestamp())
            """,
            (chain_run_id, chain, dry_run),
        )
        return chain_run_id

    def record_chain_step(
        self,
        chain_run_id: uuid.UUID,
        *,
        step: str,
        step_name: str,
        status: str,
        records: int,
        rejected: int,
        api_requests: dict[str, int],
        rate_wait_s: dict[str, float],
        started_at: float,
        duration_s: float,
        detail: str | None,
        sync_run_ids: Sequence[uuid.UUID],
    ) -> None:
        """One step's row, written as the step ends (a crash keeps the steps before)."""
        self.conn.execute(
            """
            insert into reverse_etl.chain_steps
                (chain_run_id, step, step_name, status, records, rejected, api_requests,
                 rate_wait_s, started_at, duration_s, detail, sync_run_ids)
            values (%s, %s, %s, %s, %s, %s, %s, %s, to_timestamp(%s), %s, %s, %s)
            """,
            (
                chain_run_id, step, step_name, status, records, rejected,
                Jsonb(api_requests), Jsonb(rate_wait_s), started_at, duration_s,
                redact(detail) if detail else None, list(sync_run_ids),
            ),
        )

    def finish_chain_run(self, chain_run_id: uuid.UUID, *, status: str, exit_code: int) -> None:
        self.conn.execute(
            """
            update reverse_etl.chain_runs
            set status = %s, exit_code = %s, finished_at = clock_timestamp()
            where chain_run_id = %s
            """,
            (status, exit_code, chain_run_id),
        )


def _json(value: dict[str, Any]) -> str:
    # COPY takes text, so the payload is serialised here. orjson does it about ten
    # times faster than json.dumps (3 of the client's 6 us per record); what it
    # refuses (ints beyond 64 bits, non-string keys) goes through json.dumps, which
    # psycopg's Jsonb used before, so nothing that was written before fails now.
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _fields_text(fields: Sequence[str]) -> str | None:
    # `error_fields` is text in the DDL: a comma-joined list like Salesforce's own.
    return ",".join(fields) if fields else None
