"""The ledger against a real Postgres: migrations, batch writes, rejections, the pass lock.

The upgrade tests start from the ledger exactly as the pusher made it before
migrations existed: `TODAYS_DDL` is the text of reverse_etl/sql/ledger.sql at that
version (the file is gone since; this copy must never change), with runs, records
and rejections in it, so `migrate()` is tested on the warehouses that exist today.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import psycopg
import pytest
import yaml

from reverse_etl import ledger as ledger_module
from reverse_etl.ledger import (
    Counts,
    Ledger,
    MigrationError,
    RecordEntry,
    RunContext,
    migration_sql,
    migrations,
)
from tests.conftest import PostgresServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# reverse_etl/sql/ledger.sql of the last version without migrations, verbatim.
TODAYS_DDL = r"""{#-
  The pusher's ledger. One text for two readers: dbt runs this macro on-run-start
  (this folder is one of dbt's macro paths) so that the monitoring models can read
  the ledger before the first push, and reverse_etl/ledger.py renders the same
  macro with Jinja before its first write. Every statement is idempotent.
-#}
{% macro reverse_etl_ledger_ddl() %}
create schema if not exists reverse_etl;

create table if not exists reverse_etl.sync_runs (
    run_id uuid primary key,
    destination text not null,
    object_name text not null,
    sync_view text not null,
    pass text not null check (pass in ('create', 'update')),
    dry_run boolean not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    status text not null check (status in ('running', 'succeeded', 'partial', 'failed', 'blocked')),
    rows_in_view integer not null default 0,
    created integer not null default 0,
    updated integer not null default 0,
    already_present integer not null default 0,
    rejected integer not null default 0,
    skipped integer not null default 0,
    api_requests integer not null default 0,
    error text
);

create table if not exists reverse_etl.sync_records (
    run_id uuid not null references reverse_etl.sync_runs (run_id),
    sync_key text not null,
    destination text not null,
    object_name text not null,
    pass text not null,
    record_id text,
    outcome text not null,
    payload jsonb not null,
    before_values jsonb,
    payload_hash text not null,
    error_code text,
    error_message text,
    error_fields text,
    recorded_at timestamptz not null default now(),
    primary key (run_id, sync_key)
);

create table if not exists reverse_etl.rejected_records (
    run_id uuid not null references reverse_etl.sync_runs (run_id),
    sync_key text not null,
    destination text not null,
    object_name text not null,
    pass text not null,
    payload jsonb not null,
    payload_hash text not null,
    error_code text not null,
    error_message text,
    error_fields text,
    rejected_at timestamptz not null default now(),
    primary key (run_id, sync_key)
);

-- The pusher looks up earlier outcomes of a record by its key on every pass.
create index if not exists sync_records_by_key
    on reverse_etl.sync_records (destination, object_name, pass, sync_key);

create index if not exists rejected_records_lookup
    on reverse_etl.rejected_records (destination, object_name, pass, sync_key, payload_hash);
{% endmacro %}
"""

ALL_VERSIONS = [m.version for m in migrations()]
Conn = psycopg.Connection[Any]


def render_macro(text: str, macro: str) -> str:
    return str(getattr(jinja2.Environment().from_string(text).module, macro)())


def connect(dsn: str) -> Conn:
    return psycopg.connect(dsn, autocommit=True)


@pytest.fixture
def conn(fresh_database: str) -> Iterator[Conn]:
    with connect(fresh_database) as connection:
        yield connection


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.md5(repr(sorted(payload.items())).encode()).hexdigest()


def entry(
    key: str, outcome: str, payload: dict[str, Any] | None = None, **extra: Any
) -> RecordEntry:
    payload = payload if payload is not None else {"Name": key}
    return RecordEntry(
        sync_key=key,
        outcome=outcome,
        payload=payload,
        payload_hash=extra.pop("payload_hash", payload_hash(payload)),
        **extra,
    )


def open_create_run(ledger: Ledger, **overrides: Any) -> RunContext:
    arguments: dict[str, Any] = {
        "sync_name": "salesforce.properties.create",
        "destination": "salesforce",
        "object_name": "Product_Property__c",
        "sync_view": "sync.properties_to_create",
        "pass_name": "create",
        "dry_run": False,
        "rows_in_view": 3,
        **overrides,
    }
    return ledger.open_run(**arguments)


# -- the ledger of today, with history ---------------------------------------------

OLD_RUNS = (
    # run id, destination, object, pass, status
    (
        "00000000-0000-0000-0000-00000000000a",
        "salesforce",
        "Product_Property__c",
        "create",
        "succeeded",
    ),
    (
        "00000000-0000-0000-0000-00000000000b",
        "salesforce",
        "Product_Property__c",
        "update",
        "partial",
    ),
    ("00000000-0000-0000-0000-00000000000c", "supabase", "Properties", "update", "failed"),
)


def make_todays_ledger(conn: Conn) -> None:
    """The schema as today's pusher creates it, and a little history in it."""
    conn.execute(render_macro(TODAYS_DDL, "reverse_etl_ledger_ddl"))  # type: ignore[arg-type]
    for run_id, destination, object_name, pass_name, status in OLD_RUNS:
        conn.execute(
            """
            insert into reverse_etl.sync_runs
                (run_id, destination, object_name, sync_view, pass, dry_run, started_at,
                 finished_at, status, rows_in_view, created, rejected, api_requests)
            values (%s, %s, %s, 'sync.v', %s, false, now() - interval '1 day',
                    now() - interval '1 day', %s, 2, 1, 1, 1)
            """,
            (run_id, destination, object_name, pass_name, status),
        )
        for key, outcome in (("k1", "created"), ("k2", "rejected")):
            conn.execute(
                """
                insert into reverse_etl.sync_records
                    (run_id, sync_key, destination, object_name, pass, outcome, payload,
                     payload_hash, error_code, recorded_at)
                values (%s, %s, %s, %s, %s, %s, '{"Name": "x"}', 'h-' || %s, %s,
                        now() - interval '1 day')
                """,
                (
                    run_id,
                    key,
                    destination,
                    object_name,
                    pass_name,
                    outcome,
                    key,
                    "REQUIRED_FIELD_MISSING" if outcome == "rejected" else None,
                ),
            )
        conn.execute(
            """
            insert into reverse_etl.rejected_records
                (run_id, sync_key, destination, object_name, pass, payload, payload_hash,
                 error_code, rejected_at)
            values (%s, 'k2', %s, %s, %s, '{"Name": "x"}', 'h-k2', 'REQUIRED_FIELD_MISSING',
                    now() - interval '1 day')
            """,
            (run_id, destination, object_name, pass_name),
        )


def table_rows(conn: Conn, table: str, columns: str = "*") -> list[tuple[Any, ...]]:
    return conn.execute(
        f"select {columns} from reverse_etl.{table} order by 1, 2"  # type: ignore[arg-type]
    ).fetchall()


def columns_of(conn: Conn, table: str) -> dict[str, str]:
    rows = conn.execute(
        """
        select column_name, data_type from information_schema.columns
        where table_schema = 'reverse_etl' and table_name = %s
        """,
        (table,),
    ).fetchall()
    return dict(rows)


OLD_RUN_COLUMNS = (
    "run_id, destination, object_name, sync_view, pass, dry_run, started_at, finished_at, "
    "status, rows_in_view, created, updated, already_present, rejected, skipped, "
    "api_requests, error"
)


# -- migrations -----------------------------------------------------------------------


def test_migration_1_is_todays_ddl() -> None:
    initial = migrations()[0]
    assert (initial.version, initial.name) == (1, "initial")
    assert render_macro(initial.path.read_text(), "reverse_etl_migration_0001_initial") == (
        render_macro(TODAYS_DDL, "reverse_etl_ledger_ddl")
    )


def test_the_runner_lists_every_migration_file_in_order() -> None:
    assert list(range(1, len(ALL_VERSIONS) + 1)) == ALL_VERSIONS
    assert ALL_VERSIONS[:3] == [1, 2, 3]
    text = migration_sql()
    positions = [text.index(f"-- reverse_etl migration {v}:") for v in ALL_VERSIONS]
    assert positions == sorted(positions)


def test_an_unlisted_migration_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(ledger_module.MIGRATIONS_DIR, folder)
    next_version = len(ALL_VERSIONS) + 1
    (folder / f"{next_version:04d}_forgotten.sql").write_text(
        f"{{% macro reverse_etl_migration_{next_version:04d}_forgotten() %}}"
        "select 1;{% endmacro %}"
    )
    monkeypatch.setattr(ledger_module, "MIGRATIONS_DIR", folder)
    with pytest.raises(MigrationError, match="forgotten"):
        migration_sql()


def test_upgrade_from_todays_ledger_keeps_its_history(conn: Conn) -> None:
    make_todays_ledger(conn)
    runs_before = table_rows(conn, "sync_runs", OLD_RUN_COLUMNS)
    records_before = table_rows(conn, "sync_records")
    rejections_before = table_rows(conn, "rejected_records")
    ledger = Ledger(conn)
    assert ledger.exists()
    assert ledger.applied_versions() == []

    assert ledger.migrate() == ALL_VERSIONS

    assert ledger.applied_versions() == ALL_VERSIONS
    names = conn.execute(
        "select version, name from reverse_etl.schema_migrations order by version"
    ).fetchall()
    assert names[:3] == [(1, "initial"), (2, "sync_spine"), (3, "records_without_run_fkey")]
    # History kept, row for row.
    assert table_rows(conn, "sync_runs", OLD_RUN_COLUMNS) == runs_before
    assert table_rows(conn, "sync_records") == records_before
    assert table_rows(conn, "rejected_records") == rejections_before
    # The new columns, with the old runs named after their syncs.
    assert {"sync_name": "text", "gate": "text", "revert_of": "uuid"}.items() <= (
        columns_of(conn, "sync_runs").items()
    )
    named = dict(conn.execute("select run_id::text, sync_name from reverse_etl.sync_runs"))
    assert named == {
        OLD_RUNS[0][0]: "salesforce.properties.create",
        OLD_RUNS[1][0]: "salesforce.properties.update",
        OLD_RUNS[2][0]: "supabase.properties.update",
    }
    assert conn.execute(
        "select count(*) from reverse_etl.sync_runs where gate is not null or revert_of is not null"
    ).fetchone() == (0,)
    assert conn.execute(
        "select count(*) from pg_indexes where indexname = 'sync_runs_by_sync_name'"
    ).fetchone() == (1,)
    # `abandoned` is a status now; anything else still is not.
    conn.execute(
        "update reverse_etl.sync_runs set status = 'abandoned' where run_id = %s",
        (OLD_RUNS[2][0],),
    )
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("update reverse_etl.sync_runs set status = 'lost'")
    # The old rejections still count: k2 of the old create run is known.
    known = ledger.known_rejections(
        destination="salesforce",
        object_name="Product_Property__c",
        pass_name="create",
        keys=[("k1", "h-k1"), ("k2", "h-k2")],
    )
    assert set(known) == {"k2"}
    assert known["k2"].error_code == "REQUIRED_FIELD_MISSING"
    # The migrated ledger takes new runs next to the old ones.
    run = open_create_run(ledger)
    ledger.record_batch(run, [entry("k3", "created")], Counts(created=1), 1)
    assert [r["sync_key"] for r in ledger.records(run.run_id)] == ["k3"]
    assert len(ledger.recent_runs()) == 4


def test_a_second_migrate_applies_nothing(conn: Conn) -> None:
    make_todays_ledger(conn)
    ledger = Ledger(conn)
    assert ledger.migrate() == ALL_VERSIONS
    applied_at = table_rows(conn, "schema_migrations")
    assert ledger.migrate() == []
    assert table_rows(conn, "schema_migrations") == applied_at


def test_a_fresh_database_migrates_from_nothing(conn: Conn) -> None:
    ledger = Ledger(conn)
    assert not ledger.exists()
    assert ledger.migrate() == ALL_VERSIONS
    assert ledger.exists()
    assert set(columns_of(conn, "sync_runs")) >= {"sync_name", "gate", "revert_of"}
    assert columns_of(conn, "schema_migrations") == {
        "version": "integer",
        "name": "text",
        "applied_at": "timestamp with time zone",
    }
    assert ledger.recent_runs() == []


def test_two_migrators_at_once_both_succeed(fresh_database: str) -> None:
    """Both wait on the migrators' lock; the first applies everything, the second nothing."""
    results: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def migrate(name: str) -> None:
        try:
            with connect(fresh_database) as connection:
                results[name] = Ledger(connection).migrate()
        except BaseException as error:  # the assertion below reports it
            errors.append(error)

    with connect(fresh_database) as holder:
        # Hold the lock first, so that both migrators are surely inside at once.
        with holder.transaction():
            holder.execute(ledger_module._migration_lock_sql())  # type: ignore[arg-type]
            threads = [threading.Thread(target=migrate, args=(n,)) for n in ("a", "b")]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 20
            while waiting_on_advisory_locks(holder) < 2:
                assert time.monotonic() < deadline, "the migrators never queued on the lock"
                time.sleep(0.05)
        for thread in threads:
            thread.join(timeout=30)
        assert not errors, errors
        assert sorted([results["a"], results["b"]]) == [[], ALL_VERSIONS]
        assert holder.execute(
            "select count(*), count(distinct version) from reverse_etl.schema_migrations"
        ).fetchone() == (len(ALL_VERSIONS), len(ALL_VERSIONS))


def waiting_on_advisory_locks(conn: Conn) -> int:
    row = conn.execute(
        "select count(*) from pg_locks where locktype = 'advisory' and not granted"
    ).fetchone()
    return int(row[0]) if row else 0


def test_dbt_on_run_start_runs_the_text_python_runs(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """dbt renders the project's own hook with the project's own macro paths.

    The project here is a minimal one (one trivial model) carrying the real
    project's on-run-start and its reverse_etl macro paths, so the check does not
    depend on every other model of the real project parsing at this moment.
    """
    real = yaml.safe_load((ROOT / "dbt_project.yml").read_text())
    # The ledger's hook; the project's other hooks (extensions) are not the ledger's.
    hooks = [hook for hook in real["on-run-start"] if "reverse_etl_migrate" in hook]
    assert len(hooks) == 1, real["on-run-start"]
    ledger_paths = [p for p in real["macro-paths"] if p.startswith("reverse_etl/")]
    assert set(ledger_paths) == {"reverse_etl/sql", "reverse_etl/migrations"}
    # The guard: on any adapter but Postgres the hook renders nothing.
    macros = "\n".join(
        path.read_text()
        for folder in ledger_paths
        for path in sorted((ROOT / folder).glob("*.sql"))
    )
    for adapter, expected in (("postgres", migration_sql()), ("spark", "")):
        rendered = [
            jinja2.Environment().from_string(macros + hook).render(target={"type": adapter})
            for hook in hooks
        ]
        assert [text.strip() for text in rendered] == [expected.strip()]

    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "reverse_etl").mkdir()
    for folder in ledger_paths:
        (project / folder).symlink_to(ROOT / folder)
    (project / "models" / "one.sql").write_text("select 1 as one\n")
    (project / "dbt_project.yml").write_text(
        yaml.safe_dump(
            {
                "name": "ledger_hook_check",
                "version": "0.1.0",
                "config-version": 2,
                "profile": "ledger_hook_check",
                "model-paths": ["models"],
                "macro-paths": ledger_paths,
                "on-run-start": hooks,
            }
        )
    )
    database = postgres_server.create_database("dbthook")
    try:
        env = postgres_server.env(database)
        (project / "profiles.yml").write_text(
            yaml.safe_dump(
                {
                    "ledger_hook_check": {
                        "target": "dev",
                        "outputs": {
                            "dev": {
                                "type": "postgres",
                                "host": env["PGHOST"],
                                "port": int(env["PGPORT"]),
                                "user": env["PGUSER"],
                                "password": env["PGPASSWORD"],
                                "dbname": database,
                                "schema": "public",
                                "threads": 1,
                            }
                        },
                    }
                }
            )
        )
        result = subprocess.run(
            [
                str(BIN / "dbt"),
                "run",
                "--profiles-dir",
                str(project),
                "--project-dir",
                str(project),
                "--target-path",
                str(tmp_path / "target"),
                "--log-path",
                str(tmp_path / "logs"),
            ],
            cwd=project,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
            timeout=240,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        compiled = (
            tmp_path
            / "target/compiled/ledger_hook_check/dbt_project.yml/hooks"
            / "ledger_hook_check-on-run-start-0.sql"
        ).read_text()
        assert compiled == migration_sql()
        with connect(postgres_server.dsn(database)) as connection:
            ledger = Ledger(connection)
            assert ledger.applied_versions() == ALL_VERSIONS
            assert ledger.migrate() == []
    finally:
        postgres_server.drop_database(database)


# -- runs and batches -------------------------------------------------------------------


def test_record_batch_writes_records_rejections_and_counts(conn: Conn) -> None:
    ledger = Ledger(conn)
    ledger.migrate()
    run = open_create_run(ledger, gate="passed")
    assert run.sync_name == "salesforce.properties.create"
    awkward = {
        "Name": 'Tab\there, "quotes", back\\slash, new\nline, é',
        "Units__c": 2**70,  # beyond 64 bits: orjson refuses, json.dumps writes it
        "Active__c": True,
        "Note__c": None,
    }
    entries = [
        entry("a", "created", record_id="a0X1"),
        entry("b", "updated", record_id="a0X2", before_values={"Name": "old"}),
        entry(
            "c",
            "rejected",
            error_code="REQUIRED_FIELD_MISSING",
            error_message="Required fields are missing: [Name]",
            error_fields=("Name", "City"),
        ),
        entry("d", "rejected", awkward),
        entry("e", "would_create"),
    ]
    counts = Counts()
    for item in entries:
        counts.add(item.outcome)
    ledger.record_batch(run, entries, counts, api_requests=2)

    records = {r["sync_key"]: r for r in ledger.records(run.run_id)}
    assert set(records) == {"a", "b", "c", "d", "e"}
    assert records["a"]["record_id"] == "a0X1"
    assert records["a"]["pass"] == "create" and records["a"]["destination"] == "salesforce"
    assert records["b"]["before_values"] == {"Name": "old"}
    assert records["a"]["before_values"] is None
    assert records["c"]["error_fields"] == "Name,City"
    assert records["d"]["payload"] == awkward
    assert records["e"]["payload_hash"] == payload_hash({"Name": "e"})
    rejections = conn.execute(
        """
        select r.sync_key, r.error_code, r.error_message, r.error_fields, r.payload,
            r.payload_hash, r.rejected_at = s.recorded_at
        from reverse_etl.rejected_records as r
        join reverse_etl.sync_records as s using (run_id, sync_key)
        where r.run_id = %s order by 1
        """,
        (run.run_id,),
    ).fetchall()
    assert rejections == [
        (
            "c",
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [Name]",
            "Name,City",
            {"Name": "c"},
            payload_hash({"Name": "c"}),
            True,
        ),
        ("d", "UNKNOWN", None, None, awkward, payload_hash(awkward), True),
    ]
    row = ledger.run(run.run_id)
    assert row is not None
    assert (row["created"], row["updated"], row["rejected"], row["api_requests"]) == (1, 1, 2, 2)
    assert (row["status"], row["gate"], row["sync_name"]) == (
        "running",
        "passed",
        "salesforce.properties.create",
    )

    # An empty batch still moves the counts; finish keeps the gate unless told.
    ledger.record_batch(run, [], counts, api_requests=3)
    ledger.finish_run(run, status="partial", counts=counts, api_requests=3)
    row = ledger.run(run.run_id)
    assert row is not None
    assert (row["status"], row["gate"], row["api_requests"]) == ("partial", "passed", 3)
    assert row["finished_at"] is not None
    ledger.set_gate(run, "skipped_by_user")
    ledger.finish_run(run, status="failed", counts=counts, api_requests=3, error="x", gate="error")
    row = ledger.run(run.run_id)
    assert row is not None
    assert (row["status"], row["gate"], row["error"]) == ("failed", "error", "x")
    (recent,) = ledger.recent_runs()
    assert recent["would_create"] == 1


def test_a_failed_batch_leaves_nothing_of_itself(conn: Conn) -> None:
    ledger = Ledger(conn)
    ledger.migrate()
    run = open_create_run(ledger)
    ledger.record_batch(run, [entry("a", "created")], Counts(created=1), 1)
    with pytest.raises(psycopg.errors.UniqueViolation):
        # "a" again: the primary key refuses the whole batch, rejection and counts too.
        ledger.record_batch(
            run, [entry("b", "rejected"), entry("a", "created")], Counts(created=2), 5
        )
    assert [r["sync_key"] for r in ledger.records(run.run_id)] == ["a"]
    assert table_rows(conn, "rejected_records") == []
    row = ledger.run(run.run_id)
    assert row is not None and (row["created"], row["api_requests"]) == (1, 1)


def test_a_revert_run_names_the_run_it_undoes(conn: Conn) -> None:
    ledger = Ledger(conn)
    ledger.migrate()
    old_style = open_create_run(
        ledger, sync_name="salesforce.properties.update", pass_name="update", dry_run=True
    )
    revert = ledger.open_run(
        sync_name="salesforce.properties.update",
        destination="salesforce",
        object_name="Product_Property__c",
        sync_view="revert",
        pass_name="update",
        dry_run=False,
        rows_in_view=1,
        revert_of=old_style.run_id,
    )
    row = ledger.run(revert.run_id)
    assert row is not None and row["revert_of"] == old_style.run_id and row["gate"] is None


def test_abandon_running_runs_marks_only_that_syncs_running_runs(conn: Conn) -> None:
    ledger = Ledger(conn)
    ledger.migrate()
    dead = open_create_run(ledger)
    done = open_create_run(ledger)
    ledger.finish_run(done, status="succeeded", counts=Counts(), api_requests=0)
    other = open_create_run(ledger, sync_name="salesforce.properties.update", pass_name="update")
    assert ledger.abandon_running_runs("salesforce.properties.create") == [dead.run_id]
    statuses = {run.run_id: (ledger.run(run.run_id) or {})["status"] for run in (dead, done, other)}
    assert statuses == {dead.run_id: "abandoned", done.run_id: "succeeded", other.run_id: "running"}


# -- known rejections -------------------------------------------------------------------


def test_count_known_rejections_agrees_with_known_rejections(conn: Conn) -> None:
    ledger = Ledger(conn)
    ledger.migrate()
    first = open_create_run(ledger)
    ledger.record_batch(
        first,
        [
            entry("still_rejected", "rejected", payload_hash="h-a"),
            entry("accepted_since", "rejected", payload_hash="h-b"),
            entry("fixed", "rejected", payload_hash="h-c-old"),
            entry("rejected_twice", "rejected", payload_hash="h-f"),
            entry("accepted_before", "created", payload_hash="h-g"),
            entry("never_rejected", "created", payload_hash="h-d"),
        ],
        Counts(),
        0,
    )
    # Another pass and another destination: their rejections are not this sync's.
    update = open_create_run(ledger, sync_name="salesforce.properties.update", pass_name="update")
    ledger.record_batch(update, [entry("other_pass", "rejected", payload_hash="h-o")], Counts(), 0)
    elsewhere = open_create_run(
        ledger,
        sync_name="supabase.properties.create",
        destination="supabase",
        object_name="properties",
    )
    ledger.record_batch(
        elsewhere, [entry("elsewhere", "rejected", payload_hash="h-e")], Counts(), 0
    )
    second = open_create_run(ledger)
    ledger.record_batch(
        second,
        [
            entry("accepted_since", "created", payload_hash="h-b"),
            entry("rejected_twice", "rejected", payload_hash="h-f"),
            entry("accepted_before", "rejected", payload_hash="h-g"),
        ],
        Counts(),
        0,
    )
    view = [
        ("still_rejected", "h-a"),  # known
        ("accepted_since", "h-b"),  # accepted after its rejection: not known
        ("fixed", "h-c-new"),  # a new payload: not known
        ("rejected_twice", "h-f"),  # known (once)
        ("accepted_before", "h-g"),  # the rejection is the later: known
        ("never_rejected", "h-d"),
        ("other_pass", "h-o"),
        ("elsewhere", "h-e"),
        ("brand_new", "h-n"),
    ]
    conn.execute("create schema sync")
    conn.execute("create table sync.properties_to_create (_sync_key text, _payload_hash text)")
    with (
        conn.cursor() as cursor,
        cursor.copy("copy sync.properties_to_create (_sync_key, _payload_hash) from stdin") as copy,
    ):
        for row in view:
            copy.write_row(row)
    where = {
        "destination": "salesforce",
        "object_name": "Product_Property__c",
        "pass_name": "create",
    }

    known = ledger.known_rejections(**where, keys=view)
    count = ledger.count_known_rejections("sync.properties_to_create", **where)

    assert set(known) == {"still_rejected", "rejected_twice", "accepted_before"}
    assert count == len(known)
    assert known["rejected_twice"].payload_hash == "h-f"
    assert ledger.known_rejections(**where, keys=[]) == {}
    # The same view read as the update pass: only that pass's own rejection counts.
    as_update = {**where, "pass_name": "update"}
    assert set(ledger.known_rejections(**as_update, keys=view)) == {"other_pass"}
    assert ledger.count_known_rejections("sync.properties_to_create", **as_update) == 1



def test_without_a_rejection_on_record_the_view_is_not_computed(conn: Conn) -> None:
    """No rejection of this destination, object and pass: the count is 0 without
    reading the view (here one that fails whenever it is computed)."""
    ledger = Ledger(conn)
    ledger.migrate()
    other = open_create_run(ledger, sync_name="salesforce.properties.update", pass_name="update")
    ledger.record_batch(other, [entry("other_pass", "rejected", payload_hash="h-o")], Counts(), 0)
    conn.execute("create schema sync")
    conn.execute(
        "create view sync.fails as select 'other_pass'::text as _sync_key,"
        " (1 / (g - g))::text as _payload_hash from generate_series(1, 3) as g"
    )
    where = {"destination": "salesforce", "object_name": "Product_Property__c"}

    assert ledger.count_known_rejections("sync.fails", **where, pass_name="create") == 0
    # a rejection of that pass on record: the view is computed (and here it fails)
    with pytest.raises(psycopg.errors.DivisionByZero):
        ledger.count_known_rejections("sync.fails", **where, pass_name="update")


# -- the pass lock ------------------------------------------------------------------------


def lock_is_free(dsn: str, sync_name: str, timeout_s: float = 10.0) -> bool:
    """Whether another session gets the lock within the time (a dead backend takes a moment)."""
    deadline = time.monotonic() + timeout_s
    with connect(dsn) as other:
        while True:
            with Ledger(other).pass_lock(sync_name) as locked:
                if locked:
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def test_pass_lock_refuses_a_second_session_without_waiting(fresh_database: str) -> None:
    name = "salesforce.properties.create"
    with connect(fresh_database) as first, connect(fresh_database) as second:
        holder, contender = Ledger(first), Ledger(second)
        with holder.pass_lock(name) as locked:
            assert locked
            started = time.monotonic()
            with contender.pass_lock(name) as also:
                assert not also
            assert time.monotonic() - started < 1.0
            # Another sync is not blocked, and the holder may take its lock again.
            with contender.pass_lock("salesforce.properties.update") as other_sync:
                assert other_sync
            with holder.pass_lock(name) as again:
                assert again
            with contender.pass_lock(name) as still:
                assert not still  # the inner release left the outer hold in place
        with contender.pass_lock(name) as after:
            assert after


def test_pass_lock_is_released_when_its_connection_closes(fresh_database: str) -> None:
    name = "salesforce.properties.update"
    first = connect(fresh_database)
    with Ledger(first).pass_lock(name) as locked:
        assert locked
        assert not lock_is_free(fresh_database, name, timeout_s=0)
        first.close()  # the unlock on exit must not fail on a closed connection
    assert lock_is_free(fresh_database, name)


def test_pass_lock_is_released_when_its_process_is_killed(fresh_database: str) -> None:
    name = "salesforce.properties.create"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, psycopg\n"
            "from reverse_etl.ledger import Ledger\n"
            "conn = psycopg.connect(sys.argv[1], autocommit=True)\n"
            "with Ledger(conn).pass_lock(sys.argv[2]) as locked:\n"
            "    print('locked' if locked else 'busy', flush=True)\n"
            "    time.sleep(120)\n",
            fresh_database,
            name,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        assert not lock_is_free(fresh_database, name, timeout_s=0)
        holder.send_signal(signal.SIGKILL)  # no exit handler, no unlock, no goodbye
        holder.wait(timeout=10)
        assert lock_is_free(fresh_database, name)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
