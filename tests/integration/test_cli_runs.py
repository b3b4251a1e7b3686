"""`reverse-etl runs`, `runs show` and run-id prefixes, against a real ledger.

The runs are written through the Ledger API into a fresh warehouse (no simulator:
what is tested is how the history reads, not how a pass makes it), then read
through the CLI with CliRunner at the widths users have.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from typer.testing import CliRunner

from reverse_etl import cli
from reverse_etl.ledger import RUN_STATUSES, Counts, Ledger, RecordEntry, RunContext, UnknownRun

pytestmark = pytest.mark.integration

CREATE = "salesforce.properties.create"
UPDATE = "salesforce.properties.update"


@pytest.fixture
def warehouse(fresh_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        Ledger(conn).migrate()
        yield conn


def env_for(conn: psycopg.Connection[Any], tmp_path: Path, columns: int = 80) -> dict[str, str]:
    info = conninfo_to_dict(conn.info.dsn)
    return {
        "SANDBOX_DIR": str(tmp_path / "no-sandbox"),  # no sandbox.env of the developer
        "PGHOST": str(info.get("host", "127.0.0.1")),
        "PGPORT": str(info.get("port", 5432)),
        "PGUSER": str(info.get("user", "postgres")),
        "PGPASSWORD": conn.info.password or "postgres",
        "PGDATABASE": str(info["dbname"]),
        "COLUMNS": str(columns),
    }


def invoke(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args), env=env)


def entry(key: str, outcome: str, **fields: Any) -> RecordEntry:
    return RecordEntry(
        sync_key=key, outcome=outcome, payload={"k": key}, payload_hash=f"h-{key}", **fields
    )


def record_run(
    ledger: Ledger,
    *,
    sync_name: str = CREATE,
    status: str = "succeeded",
    dry_run: bool = False,
    entries: list[RecordEntry] | None = None,
    error: str | None = None,
) -> RunContext:
    pass_name = sync_name.rsplit(".", 1)[-1]
    run = ledger.open_run(
        destination="salesforce",
        object_name="Product_Property__c",
        sync_view=f"sync.properties_to_{pass_name}",
        pass_name=pass_name,
        dry_run=dry_run,
        rows_in_view=len(entries or []),
        sync_name=sync_name,
    )
    counts = Counts()
    for item in entries or []:
        counts.add(item.outcome)
    if entries:
        ledger.record_batch(run, entries, counts, api_requests=1)
    if status != "running":
        ledger.finish_run(run, status=status, counts=counts, api_requests=1, error=error)
    return run


@pytest.fixture
def history(warehouse: psycopg.Connection[Any]) -> dict[str, RunContext]:
    """A day of runs: a dry run, a partial create, a failed update, a dead pass."""
    ledger = Ledger(warehouse)
    return {
        "dry": record_run(
            ledger,
            dry_run=True,
            entries=[entry("p-1", "would_create"), entry("p-2", "would_create")],
        ),
        "partial": record_run(
            ledger,
            status="partial",
            entries=[
                entry("p-1", "created", record_id="a0B000000000001AAA"),
                entry(
                    "p-2",
                    "rejected",
                    error_code="REQUIRED_FIELD_MISSING",
                    error_message="Required fields are missing: [Name]",
                    error_fields=["Name"],
                ),
                entry("p-3", "created", record_id="a0B000000000003AAA"),
            ],
        ),
        "failed": record_run(
            ledger, sync_name=UPDATE, status="failed", error="circuit open after 3 failures\nmore"
        ),
        "abandoned": record_run(ledger, status="running"),
    }


def test_the_list_fits_80_columns_with_the_key_columns(
    warehouse: psycopg.Connection[Any], history: dict[str, RunContext], tmp_path: Path
) -> None:
    Ledger(warehouse).abandon_running_runs(CREATE)

    outcome = invoke(env_for(warehouse, tmp_path, 80), "runs")

    assert outcome.exit_code == 0, outcome.output
    lines = outcome.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, outcome.stdout
    header = next(line for line in lines if line.startswith("run "))
    assert header.split() == [
        "run", "started", "sync", "mode", "status", "rows", "written", "rejected"
    ]
    # Whole cells, never cut with an ellipsis: the destination moved to the title.
    assert "…" not in outcome.stdout
    assert "(salesforce)" in lines[0]
    partial = next(line for line in lines if line.startswith(str(history["partial"].run_id)[:8]))
    assert partial.split()[3:] == ["properties.create", "real", "partial", "3", "2", "1"]
    dry = next(line for line in lines if line.startswith(str(history["dry"].run_id)[:8]))
    assert dry.split()[3:] == ["properties.create", "dry", "succeeded", "2", "-", "-"]
    assert "abandoned" in outcome.stdout and "properties.update" in outcome.stdout
    assert str(history["partial"].run_id) not in outcome.stdout  # the short id only


def test_a_wide_console_shows_whole_sync_names(
    warehouse: psycopg.Connection[Any], history: dict[str, RunContext], tmp_path: Path
) -> None:
    outcome = invoke(env_for(warehouse, tmp_path, 200), "runs")
    assert outcome.exit_code == 0, outcome.output
    assert outcome.stdout.count(CREATE) == 3 and "dry run" in outcome.stdout


def test_wide_shows_every_column_without_squeezing(
    warehouse: psycopg.Connection[Any], history: dict[str, RunContext], tmp_path: Path
) -> None:
    outcome = invoke(env_for(warehouse, tmp_path, 80), "runs", "--wide")

    assert outcome.exit_code == 0, outcome.output
    assert str(history["failed"].run_id) in outcome.stdout
    for column in ("would", "not sent", "requests", "seconds", "revert of", "error"):
        assert column in outcome.stdout
    assert "circuit open after 3 failures" in outcome.stdout
    assert "more" not in outcome.stdout  # the error's first line only


def test_filters_by_sync_status_and_count(
    warehouse: psycopg.Connection[Any], history: dict[str, RunContext], tmp_path: Path
) -> None:
    env = env_for(warehouse, tmp_path, 120)
    short = {name: str(run.run_id)[:8] for name, run in history.items()}

    by_sync = invoke(env, "runs", "--sync", UPDATE)
    assert by_sync.exit_code == 0, by_sync.output
    assert short["failed"] in by_sync.stdout and short["partial"] not in by_sync.stdout

    by_status = invoke(env, "runs", "--status", "partial")
    assert by_status.exit_code == 0, by_status.output
    assert short["partial"] in by_status.stdout and short["dry"] not in by_status.stdout

    last = invoke(env, "runs", "--last", "2")
    assert last.exit_code == 0, last.output
    assert short["abandoned"] in last.stdout and short["failed"] in last.stdout
    assert short["partial"] not in last.stdout
    limit = invoke(env, "runs", "--limit", "2")  # the older name of --last
    assert limit.stdout == last.stdout

    none = invoke(env, "runs", "--sync", UPDATE, "--status", "succeeded")
    assert none.exit_code == 0 and "no runs of salesforce.properties.update" in none.stdout


def test_unknown_filters_are_usage_errors_naming_the_valid_values(
    warehouse: psycopg.Connection[Any], history: dict[str, RunContext], tmp_path: Path
) -> None:
    env = env_for(warehouse, tmp_path)

    sync = invoke(env, "runs", "--sync", "salesforce.nope")
    assert sync.exit_code == 2
    assert sync.stderr.strip().count("\n") == 0
    assert CREATE in sync.stderr and UPDATE in sync.stderr

    status = invoke(env, "runs", "--status", "done")
    assert status.exit_code == 2
    assert status.stderr.strip().count("\n") == 0
    assert all(name in status.stderr for name in RUN_STATUSES)


def test_show_prints_the_run_and_its_outcomes(
    warehouse: psycopg.Connection[Any], history: dict[str, RunContext], tmp_path: Path
) -> None:
    run_id = history["partial"].run_id

    outcome = invoke(env_for(warehouse, tmp_path, 120), "runs", "show", str(run_id)[:8])

    assert outcome.exit_code == 0, outcome.output
    text = outcome.stdout
    assert str(run_id) in text
    assert "status     partial" in text and "mode       real" in text
    assert "outcomes   3 record(s): created 2, rejected 1" in text
    lines = text.splitlines()
    rejected = next(i for i, line in enumerate(lines) if line.startswith("p-2"))
    created = next(i for i, line in enumerate(lines) if line.startswith("p-1"))
    assert rejected < created, "rejected records first"
    assert "REQUIRED_FIELD_MISSING [Name]: Required fields are missing: [Name]" in text
    assert "a0B000000000001AAA" in text
    assert "more" not in text

    few = invoke(env_for(warehouse, tmp_path), "runs", "show", str(run_id), "--records", "1")
    assert few.exit_code == 0, few.output
    assert "p-2" in few.stdout and "p-1" not in few.stdout
    assert "... and 2 more" in few.stdout


def test_show_of_a_failed_run_prints_its_error(
    warehouse: psycopg.Connection[Any], history: dict[str, RunContext], tmp_path: Path
) -> None:
    outcome = invoke(env_for(warehouse, tmp_path), "runs", "show", str(history["failed"].run_id))
    assert outcome.exit_code == 0, outcome.output
    assert "error      circuit open after 3 failures" in outcome.stdout
    assert "outcomes   0 record(s)" in outcome.stdout


def _run_with_id(conn: psycopg.Connection[Any], run_id: str, *, dry_run: bool = True) -> None:
    conn.execute(
        """
        insert into reverse_etl.sync_runs
            (run_id, sync_name, destination, object_name, sync_view, pass, dry_run,
             started_at, finished_at, status, rows_in_view)
        values (%s, %s, 'salesforce', 'Product_Property__c', 'sync.properties_to_update',
                'update', %s, now(), now(), 'succeeded', 0)
        """,
        (run_id, UPDATE, dry_run),
    )


def test_resolve_run_takes_a_unique_prefix_of_8_or_more(
    warehouse: psycopg.Connection[Any],
) -> None:
    _run_with_id(warehouse, "abcdef01-1111-4111-8111-111111111111")
    _run_with_id(warehouse, "abcdef01-2222-4222-8222-222222222222")
    _run_with_id(warehouse, "12345678-3333-4333-8333-333333333333")
    ledger = Ledger(warehouse)

    whole = uuid.UUID("12345678-3333-4333-8333-333333333333")
    assert ledger.resolve_run("12345678") == whole
    assert ledger.resolve_run(" 12345678-33 ") == whole
    assert ledger.resolve_run("1234567833") == whole  # the dashes are optional
    assert ledger.resolve_run(str(whole).upper()) == whole
    assert ledger.resolve_run("abcdef01-1") == uuid.UUID("abcdef01-1111-4111-8111-111111111111")

    with pytest.raises(UnknownRun, match="ambiguous: 2 runs start with it") as ambiguous:
        ledger.resolve_run("abcdef01")
    assert "abcdef01-1111" in str(ambiguous.value) and "abcdef01-2222" in str(ambiguous.value)
    with pytest.raises(UnknownRun, match="no run 99999999"):
        ledger.resolve_run("99999999")
    with pytest.raises(UnknownRun, match="no run"):
        ledger.resolve_run(str(uuid.uuid4()))
    for bad in ("1234567", "not-a-uuid", "12345678%", "1234_678", ""):
        with pytest.raises(UnknownRun, match="not a run id"):
            ledger.resolve_run(bad)


def test_show_and_revert_take_a_prefix(
    warehouse: psycopg.Connection[Any], tmp_path: Path
) -> None:
    _run_with_id(warehouse, "abcdef01-1111-4111-8111-111111111111")
    _run_with_id(warehouse, "abcdef01-2222-4222-8222-222222222222")
    env = env_for(warehouse, tmp_path)

    ambiguous = invoke(env, "runs", "show", "abcdef01")
    assert ambiguous.exit_code == 2
    assert "ambiguous" in ambiguous.stderr and "Traceback" not in ambiguous.output
    shown = invoke(env, "runs", "show", "abcdef01-2")
    assert shown.exit_code == 0, shown.output
    assert "abcdef01-2222-4222-8222-222222222222" in shown.stdout

    # revert resolves the prefix, then refuses what it always refused: a dry run.
    refused = invoke(env, "revert", "abcdef01-1")
    assert refused.exit_code == 2
    assert "run abcdef01-1111-4111-8111-111111111111 was a dry run" in refused.stderr
    too_short = invoke(env, "revert", "abcd")
    assert too_short.exit_code == 2 and "not a run id" in too_short.stderr
    also_ambiguous = invoke(env, "revert", "abcdef01")
    assert also_ambiguous.exit_code == 2 and "ambiguous" in also_ambiguous.stderr


def test_an_empty_warehouse_says_there_are_no_runs(
    fresh_database: str, tmp_path: Path
) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        env = env_for(conn, tmp_path)
        listed = invoke(env, "runs")
        assert listed.exit_code == 0 and "no runs recorded yet" in listed.stdout
        shown = invoke(env, "runs", "show", "12345678")
        assert shown.exit_code == 2 and "no runs recorded yet" in shown.stderr
