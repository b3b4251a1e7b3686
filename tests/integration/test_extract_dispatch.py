"""`python -m extract dispatch` against real Postgres: a legacy dispatch database and a
fresh warehouse. Runs in-process through `extract_source`; the CLI tests cover the
wiring (configuration errors, unreachable source, `all`).

Expected figures are the source database's (counted or changed by the test), never
numbers read off a previous run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from common.settings import Settings
from extract.__main__ import app
from extract.dispatch import DELETED_AT, LOOKBACK_SECONDS
from extract.pipelines import EXIT_CONFIG, EXIT_UNREACHABLE, ExtractError, extract_source
from sandbox.generate.dispatch import DDL, TABLES, generate_dispatch
from tests.conftest import PostgresServer, free_port

pytestmark = pytest.mark.integration

CURSOR_TABLES = tuple(table for table in TABLES if table != "dispatch_patient_status")


@pytest.fixture
def databases(postgres_server: PostgresServer) -> Iterator[tuple[str, str]]:
    """(dispatch DSN filled by the generator, empty warehouse database name)."""
    source = postgres_server.create_database("ext_dispatch")
    warehouse = postgres_server.create_database("ext_wh")
    generate_dispatch(postgres_server.dsn(source), rows=2000, seed=5)
    try:
        yield postgres_server.dsn(source), warehouse
    finally:
        postgres_server.drop_database(source)
        postgres_server.drop_database(warehouse)


def make_settings(server: PostgresServer, warehouse: str, dispatch_dsn: str) -> Settings:
    return Settings.from_env({**server.env(warehouse), "DISPATCH_DATABASE_URL": dispatch_dsn})


def columns(dsn: str, schema: str, table: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute(  # type: ignore[arg-type]
            "select column_name, data_type from information_schema.columns"
            " where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table)).fetchall())


def rows_as_text(dsn: str, query: str) -> set[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return set(conn.execute(query).fetchall())  # type: ignore[arg-type]


def select_text(names: list[str]) -> str:
    # timestamps compared as UTC text: the two sessions' time zones do not matter
    return ", ".join(
        f"to_char({n} at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')" if n.endswith("_at")
        else f"{n}::text" for n in names
    )


def assert_mirrors_source(dispatch_dsn: str, warehouse_dsn: str) -> None:
    """raw_dispatch holds every source row once, unmarked, with the source's values; the
    rows it holds beyond those are marked deleted."""
    for table in TABLES:
        names = list(columns(dispatch_dsn, "public", table))
        source = rows_as_text(dispatch_dsn, f"select {select_text(names)} from {table}")
        live = rows_as_text(
            warehouse_dsn,
            f"select {select_text(names)} from raw_dispatch.{table} where {DELETED_AT} is null",
        )
        assert live == source, table
        duplicates = rows_as_text(
            warehouse_dsn,
            f"select id from raw_dispatch.{table} group by id having count(*) > 1",
        )
        assert duplicates == set(), table


def source_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(f"select count(*) from {table}").fetchone()[0]  # type: ignore[index]
            for table in TABLES
        }


def overlap(dsn: str, since: dict[str, datetime]) -> dict[str, int]:
    """Rows an incremental read re-reads: updated_at within the look-back of `since`
    (each table's highest updated_at when the previous run read it); the patient
    statuses are replaced, so all of them."""
    with psycopg.connect(dsn) as conn:
        counts = {
            table: conn.execute(  # type: ignore[index]
                f"select count(*) from {table} where updated_at >= %s",
                (since[table] - timedelta(seconds=LOOKBACK_SECONDS),),
            ).fetchone()[0]
            for table in CURSOR_TABLES
        }
        counts["dispatch_patient_status"] = conn.execute(  # type: ignore[index]
            "select count(*) from dispatch_patient_status").fetchone()[0]
    return counts


def newest(dsn: str) -> dict[str, datetime]:
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(f"select max(updated_at) from {table}").fetchone()[0]  # type: ignore[index]
            for table in CURSOR_TABLES
        }


def test_first_run_lands_every_table_with_its_names_and_price_as_text(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    dispatch_dsn, warehouse = databases
    warehouse_dsn = postgres_server.dsn(warehouse)
    result = extract_source(
        "dispatch", make_settings(postgres_server, warehouse, dispatch_dsn), pipelines_dir=tmp_path
    )
    assert result.rows == source_counts(dispatch_dsn)
    assert result.deleted == dict.fromkeys(TABLES, 0)
    assert_mirrors_source(dispatch_dsn, warehouse_dsn)
    for table in TABLES:
        landed = columns(warehouse_dsn, "raw_dispatch", table)
        assert list(landed)[: len(columns(dispatch_dsn, "public", table))] == list(
            columns(dispatch_dsn, "public", table)), table
        assert {"_dlt_load_id", "_dlt_id"} <= set(landed), table
        assert landed[DELETED_AT] == "timestamp with time zone", table
    operation = columns(warehouse_dsn, "raw_dispatch", "dispatch_operation")
    assert operation["price"] == "character varying"
    assert operation["updated_at"] == "timestamp with time zone"
    with psycopg.connect(warehouse_dsn) as conn:
        marked = conn.execute(
            f"select count(*) from raw_dispatch.dispatch_operation where {DELETED_AT} is not null"
        ).fetchone()
        # the legacy quirks land as they are: '', NULL, '$1,234.50', 'N/A'
        prices = {row[0] for row in conn.execute(
            "select price from raw_dispatch.dispatch_operation").fetchall()}
    assert marked == (0,)
    assert "" in prices and None in prices and any(p and "$" in p for p in prices)


def test_incremental_runs_load_changed_rows_and_the_look_back(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    dispatch_dsn, warehouse = databases
    warehouse_dsn = postgres_server.dsn(warehouse)
    settings = make_settings(postgres_server, warehouse, dispatch_dsn)
    extract_source("dispatch", settings, pipelines_dir=tmp_path)

    # Nothing changed: only the look-back window is read again, and merges by key.
    read_up_to = newest(dispatch_dsn)
    unchanged = extract_source("dispatch", settings, pipelines_dir=tmp_path)
    assert unchanged.rows == overlap(dispatch_dsn, read_up_to)
    assert_mirrors_source(dispatch_dsn, warehouse_dsn)

    # Updated rows (their updated_at bumped) and a row whose transaction committed
    # late: its updated_at is older than what the last run read, within the look-back.
    read_up_to = newest(dispatch_dsn)
    late = read_up_to["dispatch_instruction"] - timedelta(seconds=LOOKBACK_SECONDS / 2)
    with psycopg.connect(dispatch_dsn) as conn:
        conn.execute(
            "update dispatch_operation set price = '77.70', updated_at = now()"
            " where id in (select id from dispatch_operation order by id limit 5)"
        )
        conn.execute(
            "insert into dispatch_instruction (patient_id, doctor_id, type, status, notes,"
            " created_at, updated_at) values (1, null, 'aligner', 'submitted', 'late commit',"
            " %s, %s)", (late, late),
        )
    changed = extract_source("dispatch", settings, pipelines_dir=tmp_path)
    expected = overlap(dispatch_dsn, read_up_to)
    assert changed.rows == expected
    assert changed.rows["dispatch_operation"] >= 5
    assert_mirrors_source(dispatch_dsn, warehouse_dsn)
    with psycopg.connect(warehouse_dsn) as conn:
        assert conn.execute(
            "select count(*) from raw_dispatch.dispatch_instruction where notes = 'late commit'"
        ).fetchone() == (1,)
        assert conn.execute(
            "select count(*) from raw_dispatch.dispatch_operation where price = '77.70'"
        ).fetchone() == (5,)


def test_a_row_older_than_the_look_back_is_found_by_its_key(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """A row the incremental read can never see (committed with an updated_at far
    older than anything read since) arrives through the key comparison, once."""
    dispatch_dsn, warehouse = databases
    settings = make_settings(postgres_server, warehouse, dispatch_dsn)
    extract_source("dispatch", settings, pipelines_dir=tmp_path)
    with psycopg.connect(dispatch_dsn) as conn:
        conn.execute(
            "insert into dispatch_operation (id, patient_id, type, price, created_at,"
            " updated_at) values (900001, 1, 'payment', '12.50', '2019-05-01', '2019-05-01')"
        )
    read_up_to = newest(dispatch_dsn)
    result = extract_source("dispatch", settings, pipelines_dir=tmp_path)
    expected = overlap(dispatch_dsn, read_up_to)
    expected["dispatch_operation"] += 1
    assert result.rows == expected
    assert_mirrors_source(dispatch_dsn, postgres_server.dsn(warehouse))


def test_hard_deletes_are_marked_kept_and_cleared_when_the_key_comes_back(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    dispatch_dsn, warehouse = databases
    warehouse_dsn = postgres_server.dsn(warehouse)
    settings = make_settings(postgres_server, warehouse, dispatch_dsn)
    extract_source("dispatch", settings, pipelines_dir=tmp_path)

    with psycopg.connect(dispatch_dsn) as conn:
        conn.execute("create table saved as select * from dispatch_operation"
                     " where id in (select id from dispatch_operation order by id limit 3)")
        conn.execute("delete from dispatch_operation where id in (select id from saved)")
        conn.execute("delete from dispatch_instruction where id = (select max(id)"
                     " from dispatch_instruction)")
        # a change in the same table in the same run: marks and changed rows together
        conn.execute("update dispatch_operation set price = '1.00', updated_at = now()"
                     " where id = (select max(id) from dispatch_operation)")
        gone = [row[0] for row in conn.execute("select id from saved order by id").fetchall()]
    before = datetime.now().astimezone()
    first = extract_source("dispatch", settings, pipelines_dir=tmp_path)
    assert first.deleted == {**dict.fromkeys(TABLES, 0), "dispatch_operation": 3,
                             "dispatch_instruction": 1}
    assert_mirrors_source(dispatch_dsn, warehouse_dsn)
    with psycopg.connect(warehouse_dsn) as conn:
        marks = dict(conn.execute(
            f"select id, {DELETED_AT} from raw_dispatch.dispatch_operation where id = any(%s)",
            (gone,)).fetchall())
    assert set(marks) == set(gone)  # kept in raw
    assert all(mark is not None and mark >= before for mark in marks.values())

    # Found again on the next run: not counted again, the mark keeps its time.
    again = extract_source("dispatch", settings, pipelines_dir=tmp_path)
    assert again.deleted == dict.fromkeys(TABLES, 0)
    with psycopg.connect(warehouse_dsn) as conn:
        assert dict(conn.execute(
            f"select id, {DELETED_AT} from raw_dispatch.dispatch_operation where id = any(%s)",
            (gone,)).fetchall()) == marks

    # One comes back with its old updated_at: the mark is cleared, the values are the
    # source's.
    with psycopg.connect(dispatch_dsn) as conn:
        conn.execute("insert into dispatch_operation select * from saved where id = %s",
                     (gone[0],))
    back = extract_source("dispatch", settings, pipelines_dir=tmp_path)
    assert back.rows["dispatch_operation"] >= 1
    assert_mirrors_source(dispatch_dsn, warehouse_dsn)
    with psycopg.connect(warehouse_dsn) as conn:
        assert dict(conn.execute(
            f"select id, {DELETED_AT} from raw_dispatch.dispatch_operation where id = any(%s)",
            (gone,)).fetchall()) == {**marks, gone[0]: None}

    # A full refresh reloads the source and keeps the rows still deleted, marked as they were.
    refreshed = extract_source("dispatch", settings, full_refresh=True, pipelines_dir=tmp_path)
    assert refreshed.rows == source_counts(dispatch_dsn)
    assert_mirrors_source(dispatch_dsn, warehouse_dsn)
    with psycopg.connect(warehouse_dsn) as conn:
        assert dict(conn.execute(
            f"select id, {DELETED_AT} from raw_dispatch.dispatch_operation where id = any(%s)",
            (gone,)).fetchall()) == {**marks, gone[0]: None}
        assert conn.execute(
            f"select count(*) from raw_dispatch.dispatch_instruction where {DELETED_AT} is not null"
        ).fetchone() == (1,)


def test_empty_tables_and_files_the_row_limit_fills_exactly(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADBC refuses a parquet file without rows. An empty source table still gets its
    raw table, and a file limit that the rows reach exactly (connectorx ends with an
    empty batch) loads."""
    source = postgres_server.create_database("ext_dispatch")
    warehouse = postgres_server.create_database("ext_wh")
    try:
        dispatch_dsn = postgres_server.dsn(source)
        settings = make_settings(postgres_server, warehouse, dispatch_dsn)
        # a database without the tables: one line naming the first one missing
        with pytest.raises(ExtractError) as caught:
            extract_source("dispatch", settings, pipelines_dir=tmp_path)
        assert caught.value.exit_code == EXIT_CONFIG
        assert str(caught.value) == (
            "dispatch: dispatch database (DISPATCH_DATABASE_URL) has no table dispatch_office")
        with psycopg.connect(dispatch_dsn) as conn:
            conn.execute(DDL)  # type: ignore[arg-type]
        empty = extract_source("dispatch", settings, pipelines_dir=tmp_path)
        assert empty.rows == dict.fromkeys(TABLES, 0)
        for table in TABLES:
            landed = columns(postgres_server.dsn(warehouse), "raw_dispatch", table)
            assert {DELETED_AT, "_dlt_load_id", "_dlt_id"} <= set(landed), table

        # 200 offices in batches of 100 into files of at most 100 rows
        monkeypatch.setenv("SOURCES__DISPATCH__BATCH_ROWS", "100")
        monkeypatch.setenv("DATA_WRITER__FILE_MAX_ITEMS", "100")
        with psycopg.connect(dispatch_dsn) as conn:
            conn.execute(
                "insert into dispatch_office (name, created_at, updated_at)"
                " select 'Office ' || g, now(), now() from generate_series(1, 200) g"
            )
        filled = extract_source("dispatch", settings, pipelines_dir=tmp_path)
        assert filled.rows == {**dict.fromkeys(TABLES, 0), "dispatch_office": 200}
        assert_mirrors_source(dispatch_dsn, postgres_server.dsn(warehouse))
    finally:
        postgres_server.drop_database(source)
        postgres_server.drop_database(warehouse)


def test_unreachable_dispatch_is_one_line_without_the_password(
    postgres_server: PostgresServer, fresh_database: str, tmp_path: Path
) -> None:
    secret = "n0t-in-any-message"
    dead = f"postgresql://legacy:{secret}@127.0.0.1:{free_port()}/dispatch"
    settings = make_settings(postgres_server, fresh_database.rsplit("/", 1)[1], dead)
    with pytest.raises(ExtractError) as caught:
        extract_source("dispatch", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert "dispatch database (DISPATCH_DATABASE_URL) is unreachable" in str(caught.value)
    assert secret not in str(caught.value) and "\n" not in str(caught.value)


def test_unreachable_warehouse_is_named(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    dispatch_dsn, _ = databases
    dead = PostgresServer(postgres_server.host, free_port(), "loader", "wh-secret-pw")
    settings = make_settings(dead, "wh", dispatch_dsn)
    with pytest.raises(ExtractError) as caught:
        extract_source("dispatch", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert f"warehouse {settings.warehouse.label()} is unreachable" in str(caught.value)
    assert "wh-secret-pw" not in str(caught.value)


def test_cli(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dispatch_dsn, warehouse = databases
    for name, value in {
        **postgres_server.env(warehouse),
        "SANDBOX_DIR": str(tmp_path / "sandbox"),  # no sandbox.env of the developer
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    unconfigured = runner.invoke(app, ["dispatch"])
    assert unconfigured.exit_code == EXIT_CONFIG
    assert unconfigured.output.strip() == "error: DISPATCH_DATABASE_URL is not set"

    secret = "n0t-in-any-message"
    monkeypatch.setenv("DISPATCH_DATABASE_URL",
                       f"postgresql://legacy:{secret}@127.0.0.1:{free_port()}/dispatch")
    unreachable = runner.invoke(app, ["dispatch"])
    assert unreachable.exit_code == EXIT_UNREACHABLE
    lines = unreachable.output.strip().splitlines()
    assert len(lines) == 1
    assert "dispatch database (DISPATCH_DATABASE_URL) is unreachable" in lines[0]
    assert secret not in unreachable.output and "Traceback" not in unreachable.output

    monkeypatch.setenv("DISPATCH_DATABASE_URL", dispatch_dsn)
    counts = source_counts(dispatch_dsn)
    first = runner.invoke(app, ["dispatch"])
    assert first.exit_code == 0, first.output
    assert f"dispatch: {sum(counts.values())} rows merged" in first.output
    assert (tmp_path / "dlt" / "pipelines" / "dispatch_to_warehouse").is_dir()

    # `all` runs dispatch once it is configured (rds is not: that one fails)
    everything = runner.invoke(app, ["all"])
    assert everything.exit_code == EXIT_CONFIG
    assert "dispatch: " in everything.output and "RDS_DATABASE_URL is not set" in everything.output
    assert "supabase" not in everything.output  # not configured: not part of `all`
