"""`python -m extract supabase` (the read-back of the target) against real Postgres: a
Supabase database as the initial migration left it (sandbox generator) and a fresh
warehouse. Runs in-process through `extract_source`; one CLI test covers the wiring.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

import extract.dispatch
from common.settings import Settings
from extract.__main__ import app
from extract.dispatch import SCAN_SHARE
from extract.pipelines import EXIT_CONFIG, EXIT_UNREACHABLE, ExtractError, extract_source
from extract.supabase import DELETED_FLAG, TABLES, VERSION
from sandbox.generate.dispatch import generate_dispatch
from sandbox.generate.supabase import create_supabase
from tests.conftest import PostgresServer, free_port

pytestmark = pytest.mark.integration

# json values whose text a re-serialisation would change: trailing zeros, key order,
# big and precise numbers, escapes, unicode, nesting, json null and scalars
TRICKY_JSON = [
    '{"amount": 1.50, "b": 1, "a": [1, 2.0, {"k": null}], "big": 123456789012345678901234567890}',
    '{"pi": 3.141592653589793238462643383279, "e": 1e-7, "s": "quote \\" and \\\\ é 😀"}',
    '"a bare string"',
    "null",
    "[]",
]


@pytest.fixture
def databases(postgres_server: PostgresServer) -> Iterator[tuple[str, str]]:
    """(Supabase DSN as the initial migration left it, empty warehouse database name)."""
    legacy = postgres_server.create_database("ext_dispatch")
    target = postgres_server.create_database("ext_supabase")
    warehouse = postgres_server.create_database("ext_wh")
    generate_dispatch(postgres_server.dsn(legacy), rows=2000, seed=5)
    create_supabase(postgres_server.dsn(target), source_dsn=postgres_server.dsn(legacy),
                    migrated_share=0.8, app_edit_share=0.05, seed=5)
    postgres_server.drop_database(legacy)
    try:
        yield postgres_server.dsn(target), warehouse
    finally:
        postgres_server.drop_database(target)
        postgres_server.drop_database(warehouse)


def make_settings(server: PostgresServer, warehouse: str, supabase_dsn: str) -> Settings:
    return Settings.from_env({**server.env(warehouse), "SUPABASE_DATABASE_URL": supabase_dsn})


def columns(dsn: str, schema: str, table: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute(  # type: ignore[arg-type]
            "select column_name, data_type from information_schema.columns"
            " where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table)).fetchall())


def as_text(names: list[str]) -> str:
    return ", ".join(
        f"to_char({n} at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')" if n.endswith("_at")
        else f"{n}::text" for n in names
    )


def assert_mirrors_target(supabase_dsn: str, warehouse_dsn: str) -> None:
    """raw_supabase holds exactly the target's rows, once each; json as the target's
    own text."""
    for table in TABLES:
        names = list(columns(supabase_dsn, "public", table))
        with psycopg.connect(supabase_dsn) as conn:
            target = set(conn.execute(f"select {as_text(names)} from {table}").fetchall())  # type: ignore[arg-type]
        with psycopg.connect(warehouse_dsn) as conn:
            landed = conn.execute(  # type: ignore[arg-type]
                f"select {as_text(names)} from raw_supabase.{table}").fetchall()
        assert len(landed) == len(set(landed)), table
        assert set(landed) == target, table


def target_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(f"select count(*) from {table}").fetchone()[0]  # type: ignore[index]
            for table in TABLES
        }


def test_read_back_lands_every_row_and_json_round_trips_exactly(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    supabase_dsn, warehouse = databases
    warehouse_dsn = postgres_server.dsn(warehouse)
    with psycopg.connect(supabase_dsn) as conn:
        ids = [row[0] for row in conn.execute(
            "select id from operations order by legacy_operation_id limit %s",
            (len(TRICKY_JSON),)).fetchall()]
        for row_id, value in zip(ids, TRICKY_JSON, strict=True):
            conn.execute("update operations set metadata = %s::jsonb where id = %s",
                         (value, row_id))
    result = extract_source(
        "supabase", make_settings(postgres_server, warehouse, supabase_dsn), pipelines_dir=tmp_path
    )
    assert result.rows == target_counts(supabase_dsn)
    assert_mirrors_target(supabase_dsn, warehouse_dsn)
    patients = columns(warehouse_dsn, "raw_supabase", "patients")
    assert patients["legacy_data"] == "character varying"  # the target's json text
    assert patients["id"] == "character varying"  # uuids as text
    assert patients["updated_at"] == "timestamp with time zone"
    assert {"_dlt_load_id", "_dlt_id", DELETED_FLAG} <= set(patients)
    with psycopg.connect(warehouse_dsn) as conn:
        landed = dict(conn.execute(
            "select id, metadata from raw_supabase.operations where id = any(%s)",
            ([str(i) for i in ids],)).fetchall())
        # as jsonb, every value equals the target's
        assert conn.execute(
            "select count(*) from raw_supabase.operations where metadata::jsonb is null"
        ).fetchone() == (0,)
        assert conn.execute(
            f"select count(*) from raw_supabase.operations where {DELETED_FLAG} is not null"
        ).fetchone() == (0,)
    with psycopg.connect(supabase_dsn) as conn:
        for row_id in ids:
            (text,) = conn.execute("select metadata::text from operations where id = %s",
                                   (row_id,)).fetchone()  # type: ignore[misc]
            assert landed[str(row_id)] == text
            assert json.loads(landed[str(row_id)]) == json.loads(text)


def test_deletes_leave_raw_and_edits_merge(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    supabase_dsn, warehouse = databases
    warehouse_dsn = postgres_server.dsn(warehouse)
    settings = make_settings(postgres_server, warehouse, supabase_dsn)
    extract_source("supabase", settings, pipelines_dir=tmp_path)

    with psycopg.connect(supabase_dsn) as conn:
        deleted = conn.execute(
            "delete from operations where id in (select id from operations"
            " order by legacy_operation_id limit 4)").rowcount
        conn.execute(
            "update cases set notes = 'edited in the app', updated_at = now()"
            " where id in (select id from cases order by legacy_instruction_id limit 3)")
        # a change in the table that lost rows, in the same run: one batch of each kind
        conn.execute(
            "update operations set amount = amount + 0.01, updated_at = now()"
            " where id = (select id from operations order by legacy_operation_id desc limit 1)")
    result = extract_source("supabase", settings, pipelines_dir=tmp_path)
    assert result.deleted == {**dict.fromkeys(TABLES, 0), "operations": deleted}
    assert result.rows["cases"] >= 3 and result.rows["operations"] >= 1
    assert_mirrors_target(supabase_dsn, warehouse_dsn)

    again = extract_source("supabase", settings, pipelines_dir=tmp_path)
    assert again.deleted == dict.fromkeys(TABLES, 0)
    assert_mirrors_target(supabase_dsn, warehouse_dsn)

    # A full refresh reloads the target as it is; what it no longer holds is counted.
    with psycopg.connect(supabase_dsn) as conn:
        conn.execute("delete from operations where id = (select id from operations"
                     " order by legacy_operation_id limit 1)")
    refreshed = extract_source("supabase", settings, full_refresh=True, pipelines_dir=tmp_path)
    assert refreshed.rows == target_counts(supabase_dsn)
    assert refreshed.deleted == {**dict.fromkeys(TABLES, 0), "operations": 1}
    assert_mirrors_target(supabase_dsn, warehouse_dsn)


def test_rows_created_with_an_old_updated_at_are_read_back(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """The pusher creates target rows with the legacy row's updated_at, older than what
    the read-back already read: the key comparison finds them."""
    supabase_dsn, warehouse = databases
    settings = make_settings(postgres_server, warehouse, supabase_dsn)
    extract_source("supabase", settings, pipelines_dir=tmp_path)
    pushed = str(uuid.uuid4())
    with psycopg.connect(supabase_dsn) as conn:
        conn.execute(
            "insert into offices (id, legacy_office_id, name, is_active, created_at, updated_at)"
            " values (%s, 990001, 'Pushed Office', true, '2019-03-01', '2019-03-01')", (pushed,))
    result = extract_source("supabase", settings, pipelines_dir=tmp_path)
    assert result.rows["offices"] >= 1
    assert_mirrors_target(supabase_dsn, postgres_server.dsn(warehouse))


def test_only_rows_written_since_the_last_read_are_read_again(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """A rerun with no change reads nothing; an update that sets updated_at back (the
    pusher writes the legacy value) is read all the same, and only it."""
    supabase_dsn, warehouse = databases
    settings = make_settings(postgres_server, warehouse, supabase_dsn)
    extract_source("supabase", settings, pipelines_dir=tmp_path)
    unchanged = extract_source("supabase", settings, pipelines_dir=tmp_path)
    assert unchanged.rows == dict.fromkeys(TABLES, 0)
    with psycopg.connect(supabase_dsn) as conn:
        pushed = conn.execute(
            "update patients set first_name = 'Pushed', updated_at = '2015-06-01'"
            " where id in (select id from patients order by legacy_patient_id limit 2)"
        ).rowcount
    result = extract_source("supabase", settings, pipelines_dir=tmp_path)
    assert result.rows == {**dict.fromkeys(TABLES, 0), "patients": pushed}
    assert_mirrors_target(supabase_dsn, postgres_server.dsn(warehouse))


@pytest.mark.parametrize("page", ["several pages", "one full page"])
def test_most_rows_written_since_the_last_read_are_read_by_a_scan(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, page: str,
) -> None:
    """A read-back after a first push finds most rows changed and reads them by a scan
    of the table (extract.dispatch.SCAN_SHARE), a page of SCAN_PAGE_ROWS rows a query:
    exactly those rows land, json text and versions as the target's, and the next run
    reads nothing. Pages of 97 rows end on a part page; a page of the whole table ends
    on a query that finds no row."""
    supabase_dsn, warehouse = databases
    settings = make_settings(postgres_server, warehouse, supabase_dsn)
    extract_source("supabase", settings, pipelines_dir=tmp_path)
    with psycopg.connect(supabase_dsn) as conn:
        total = conn.execute("select count(*) from operations").fetchone()[0]  # type: ignore[index]
        monkeypatch.setattr(
            extract.dispatch, "SCAN_PAGE_ROWS", 97 if page == "several pages" else total
        )
        assert total % 97, "the part page this test means to read"
        written = conn.execute(
            "update operations set amount = amount + 1 where id in (select id from operations"
            " order by legacy_operation_id limit %s)", (total * 6 // 10,)).rowcount
        for value in TRICKY_JSON:
            conn.execute(
                "update operations set metadata = %s::jsonb where id = (select id from"
                " operations order by legacy_operation_id desc limit 1)", (value,))
    assert written > SCAN_SHARE * total
    result = extract_source("supabase", settings, pipelines_dir=tmp_path)
    # the last row was written after the first 60 %: it is read once all the same
    assert result.rows == {**dict.fromkeys(TABLES, 0), "operations": written + 1}
    assert_mirrors_target(supabase_dsn, postgres_server.dsn(warehouse))
    unchanged = extract_source("supabase", settings, pipelines_dir=tmp_path)
    assert unchanged.rows == dict.fromkeys(TABLES, 0)


def test_a_raw_table_without_versions_is_read_once_whole(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """A warehouse loaded before raw held row versions: the first run reads every row
    (none of their versions is known), the next only what changed."""
    supabase_dsn, warehouse = databases
    warehouse_dsn = postgres_server.dsn(warehouse)
    settings = make_settings(postgres_server, warehouse, supabase_dsn)
    extract_source("supabase", settings, pipelines_dir=tmp_path)
    with psycopg.connect(warehouse_dsn) as conn:
        conn.execute(f"alter table raw_supabase.offices drop column {VERSION}")
    again = extract_source("supabase", settings, pipelines_dir=tmp_path)
    offices = target_counts(supabase_dsn)["offices"]
    assert again.rows == {**dict.fromkeys(TABLES, 0), "offices": offices}
    assert VERSION in columns(warehouse_dsn, "raw_supabase", "offices")
    unchanged = extract_source("supabase", settings, pipelines_dir=tmp_path)
    assert unchanged.rows == dict.fromkeys(TABLES, 0)
    assert_mirrors_target(supabase_dsn, warehouse_dsn)


def test_an_empty_target_creates_the_raw_tables_and_later_rows_load(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    target = postgres_server.create_database("ext_supabase")
    warehouse = postgres_server.create_database("ext_wh")
    try:
        supabase_dsn, warehouse_dsn = postgres_server.dsn(target), postgres_server.dsn(warehouse)
        create_supabase(supabase_dsn)
        settings = make_settings(postgres_server, warehouse, supabase_dsn)
        empty = extract_source("supabase", settings, pipelines_dir=tmp_path)
        assert empty.rows == dict.fromkeys(TABLES, 0)
        # created without rows, and still text: parquet loads into it later
        assert columns(warehouse_dsn, "raw_supabase", "operations")["metadata"] == (
            "character varying")
        office = str(uuid.uuid4())
        with psycopg.connect(supabase_dsn) as conn:
            conn.execute(
                "insert into offices (id, legacy_office_id, name, is_active, created_at,"
                " updated_at) values (%s, 1, 'First Office', true, now(), now())", (office,))
            conn.execute(
                "insert into profiles (id, legacy_user_id, email, role, office_id, is_active,"
                " created_at, updated_at) values (%s, 1, 'a@example.com', 'doctor', %s, true,"
                " now(), now())", (str(uuid.uuid4()), office))
        filled = extract_source("supabase", settings, pipelines_dir=tmp_path)
        assert filled.rows == {**dict.fromkeys(TABLES, 0), "offices": 1, "profiles": 1}
        assert_mirrors_target(supabase_dsn, warehouse_dsn)
    finally:
        postgres_server.drop_database(target)
        postgres_server.drop_database(warehouse)


def test_unreachable_supabase_is_one_line_without_the_password(
    postgres_server: PostgresServer, fresh_database: str, tmp_path: Path
) -> None:
    secret = "n0t-in-any-message"
    dead = f"postgresql://reader:{secret}@127.0.0.1:{free_port()}/postgres"
    settings = make_settings(postgres_server, fresh_database.rsplit("/", 1)[1], dead)
    with pytest.raises(ExtractError) as caught:
        extract_source("supabase", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert "Supabase database (SUPABASE_DATABASE_URL) is unreachable" in str(caught.value)
    assert secret not in str(caught.value) and "\n" not in str(caught.value)


def test_cli(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    supabase_dsn, warehouse = databases
    for name, value in {
        **postgres_server.env(warehouse),
        "SANDBOX_DIR": str(tmp_path / "sandbox"),
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    unconfigured = runner.invoke(app, ["supabase"])
    assert unconfigured.exit_code == EXIT_CONFIG
    assert unconfigured.output.strip() == "error: SUPABASE_DATABASE_URL is not set"

    monkeypatch.setenv("SUPABASE_DATABASE_URL", supabase_dsn)
    first = runner.invoke(app, ["supabase"])
    assert first.exit_code == 0, first.output
    assert f"supabase: {sum(target_counts(supabase_dsn).values())} rows merged" in first.output
    assert "Traceback" not in first.output
