"""`python -m extract rds` against real Postgres: a generated RDS database and a fresh
warehouse. Runs in-process through `extract_source`; one CLI test covers the wiring.

Expected counts are those of the source database or of the change set that
`mutate_rds` documents, never numbers read off a previous run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from common.settings import Settings
from extract.__main__ import app
from extract.pipelines import EXIT_CONFIG, EXIT_UNREACHABLE, ExtractError, extract_source
from sandbox.generate import generate_rds, mutate_rds
from tests.conftest import PostgresServer, free_port

pytestmark = pytest.mark.integration

TABLES = {
    "companies": ("id",),
    "properties": ("id",),
    "property_features": ("property_id", "feature_code"),
}


@pytest.fixture
def databases(postgres_server: PostgresServer) -> Iterator[tuple[str, str]]:
    """(RDS DSN filled by the generator, empty warehouse database name)."""
    rds = postgres_server.create_database("rds")
    warehouse = postgres_server.create_database("wh")
    generate_rds(postgres_server.dsn(rds), properties=600, seed=3)
    try:
        yield postgres_server.dsn(rds), warehouse
    finally:
        postgres_server.drop_database(rds)
        postgres_server.drop_database(warehouse)


def make_settings(server: PostgresServer, warehouse: str, rds_dsn: str) -> Settings:
    return Settings.from_env(
        {
            "PGHOST": server.host,
            "PGPORT": server.port,
            "PGUSER": server.user,
            "PGPASSWORD": server.password,
            "PGDATABASE": warehouse,
            "RDS_DATABASE_URL": rds_dsn,
        }
    )


def source_columns(dsn: str, table: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'public'"
            " and table_name = %s order by ordinal_position", (table,))]


def source_rows(dsn: str, table: str) -> set[tuple[object, ...]]:
    select = ", ".join(f"{c}::text" if c in {"id", "company_id", "property_id"} else c
                       for c in source_columns(dsn, table))
    with psycopg.connect(dsn) as conn:
        return set(conn.execute(f"select {select} from public.{table}").fetchall())


def warehouse_rows(dsn: str, table: str, columns: list[str]) -> set[tuple[object, ...]]:
    """The source's columns, unchanged, as landed by dlt."""
    with psycopg.connect(dsn) as conn:
        return set(conn.execute(
            f"select {', '.join(columns)} from raw_rds.{table}").fetchall())


def assert_mirrors_source(rds_dsn: str, warehouse_dsn: str) -> None:
    with psycopg.connect(warehouse_dsn) as conn:
        for table, key in TABLES.items():
            duplicates = conn.execute(
                f"select count(*) from (select {', '.join(key)} from raw_rds.{table}"
                f" group by {', '.join(key)} having count(*) > 1) as d"
            ).fetchone()
            assert duplicates == (0,), table
    for table in TABLES:
        landed = warehouse_rows(warehouse_dsn, table, source_columns(rds_dsn, table))
        assert landed == source_rows(rds_dsn, table), table


def source_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(f"select count(*) from public.{table}").fetchone()[0]  # type: ignore[index]
            for table in TABLES
        }


def test_first_run_lands_every_row_with_source_types(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    rds_dsn, warehouse = databases
    settings = make_settings(postgres_server, warehouse, rds_dsn)
    result = extract_source("rds", settings, pipelines_dir=tmp_path)
    assert result.rows == source_counts(rds_dsn)
    warehouse_dsn = postgres_server.dsn(warehouse)
    assert_mirrors_source(rds_dsn, warehouse_dsn)
    with psycopg.connect(warehouse_dsn) as conn:
        types = dict(conn.execute(
            "select table_name || '.' || column_name, data_type from information_schema.columns"
            " where table_schema = 'raw_rds' and table_name in"
            " ('companies', 'properties', 'property_features')").fetchall())
    assert types["properties.updated_at"] == "timestamp with time zone"
    assert types["property_features.enabled_at"] == "timestamp with time zone"
    assert types["property_features.enabled"] == "boolean"
    assert types["properties.id"] == "character varying"  # uuid lands as text
    assert {"properties._dlt_load_id", "properties._dlt_id"} <= set(types)


def test_incremental_runs_merge_only_changes(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    rds_dsn, warehouse = databases
    warehouse_dsn = postgres_server.dsn(warehouse)
    settings = make_settings(postgres_server, warehouse, rds_dsn)
    extract_source("rds", settings, pipelines_dir=tmp_path)

    unchanged = extract_source("rds", settings, pipelines_dir=tmp_path)
    assert unchanged.rows == dict.fromkeys(TABLES, 0)

    summary = mutate_rds(rds_dsn, seed=9)
    changed = extract_source("rds", settings, pipelines_dir=tmp_path)
    assert changed.rows == summary.changed_rows()
    assert_mirrors_source(rds_dsn, warehouse_dsn)

    # A row written later with exactly the last loaded updated_at is not lost.
    with psycopg.connect(rds_dsn) as conn:
        conn.execute(
            "insert into properties (id, company_id, name, status, inserted_at, updated_at)"
            " select gen_random_uuid(), company_id, 'Late Arrival Lofts', 'ACTIVE',"
            " updated_at, updated_at from properties order by updated_at desc limit 1"
        )
    late = extract_source("rds", settings, pipelines_dir=tmp_path)
    assert late.rows == {"companies": 0, "properties": 1, "property_features": 0}
    assert_mirrors_source(rds_dsn, warehouse_dsn)

    assert extract_source("rds", settings, pipelines_dir=tmp_path).rows == dict.fromkeys(
        TABLES, 0
    )


def delete_at_source(rds_dsn: str) -> dict[str, int]:
    """Delete a property with its features, and one feature of another property;
    return the rows deleted per table."""
    with psycopg.connect(rds_dsn) as conn:
        (doomed,) = conn.execute(
            "select property_id from property_features group by property_id"
            " having count(*) >= 2 order by property_id limit 1"
        ).fetchone()  # type: ignore[misc]
        features = conn.execute(
            "delete from property_features where property_id = %s", (doomed,)
        ).rowcount
        conn.execute("delete from properties where id = %s", (doomed,))
        conn.execute(
            "delete from property_features where (property_id, feature_code) ="
            " (select property_id, feature_code from property_features"
            "  order by property_id desc, feature_code limit 1)"
        )
    return {"companies": 0, "properties": 1, "property_features": features + 1}


def loads(warehouse_dsn: str) -> int:
    with psycopg.connect(warehouse_dsn) as conn:
        return conn.execute("select count(*) from raw_rds._dlt_loads").fetchone()[0]  # type: ignore[index]


def test_rows_deleted_at_the_source_leave_raw_rds_on_the_next_run(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    rds_dsn, warehouse = databases
    warehouse_dsn = postgres_server.dsn(warehouse)
    settings = make_settings(postgres_server, warehouse, rds_dsn)
    first = extract_source("rds", settings, pipelines_dir=tmp_path)
    assert first.deleted == dict.fromkeys(TABLES, 0)

    # Deletes and ordinary changes in one incremental run: both land.
    deleted = delete_at_source(rds_dsn)
    summary = mutate_rds(rds_dsn, seed=9)
    changed = extract_source("rds", settings, pipelines_dir=tmp_path)
    assert changed.deleted == deleted
    assert changed.rows == summary.changed_rows()  # the delete markers are not merged rows
    assert_mirrors_source(rds_dsn, warehouse_dsn)
    with psycopg.connect(warehouse_dsn) as conn:
        # dlt's hard_delete flag column, added by the first delete: a marker (the
        # only row with the flag set) is never inserted
        for table in ("properties", "property_features"):
            flagged = conn.execute(
                f"select count(*) from raw_rds.{table} where _rds_deleted is not null"
            ).fetchone()
            assert flagged == (0,), table

    # Nothing changed since: nothing deleted, nothing loaded.
    before = loads(warehouse_dsn)
    again = extract_source("rds", settings, pipelines_dir=tmp_path)
    assert again.rows == dict.fromkeys(TABLES, 0)
    assert again.deleted == dict.fromkeys(TABLES, 0)
    assert loads(warehouse_dsn) == before
    assert_mirrors_source(rds_dsn, warehouse_dsn)

    # A full refresh still reloads exactly the source; what it no longer holds
    # is counted as deleted.
    deleted = delete_at_source(rds_dsn)
    refreshed = extract_source("rds", settings, full_refresh=True, pipelines_dir=tmp_path)
    assert refreshed.rows == source_counts(rds_dsn)
    assert refreshed.deleted == deleted
    assert_mirrors_source(rds_dsn, warehouse_dsn)
    after = extract_source("rds", settings, pipelines_dir=tmp_path)
    assert (after.rows, after.deleted) == (dict.fromkeys(TABLES, 0), dict.fromkeys(TABLES, 0))


def test_an_unknown_feature_code_lands_like_any_other_row(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """The extract has no opinion on feature codes: a code the seed product_features
    does not list lands as it is, and the models ignore it (docs/warehouse.md)."""
    rds_dsn, warehouse = databases
    settings = make_settings(postgres_server, warehouse, rds_dsn)
    extract_source("rds", settings, pipelines_dir=tmp_path)
    with psycopg.connect(rds_dsn) as conn:
        conn.execute(
            "insert into property_features"
            " select id, 'pet_screening', true, now(), now() from properties"
            " order by id limit 1"
        )

    result = extract_source("rds", settings, pipelines_dir=tmp_path)

    assert result.rows == {"companies": 0, "properties": 0, "property_features": 1}
    assert_mirrors_source(rds_dsn, postgres_server.dsn(warehouse))


def test_full_refresh_reloads_everything(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    rds_dsn, warehouse = databases
    warehouse_dsn = postgres_server.dsn(warehouse)
    settings = make_settings(postgres_server, warehouse, rds_dsn)
    extract_source("rds", settings, pipelines_dir=tmp_path)
    # A view on a raw table, as dbt builds them: a full refresh must not break it.
    with psycopg.connect(warehouse_dsn) as conn:
        conn.execute("create view public.active_properties as"
                     " select id from raw_rds.properties where status = 'ACTIVE'")
        # Values the source does not hold: the reload replaces them.
        conn.execute("update raw_rds.properties set name = 'stale' where true")
    mutate_rds(rds_dsn, seed=4)

    result = extract_source("rds", settings, full_refresh=True, pipelines_dir=tmp_path)
    assert result.rows == source_counts(rds_dsn)
    assert_mirrors_source(rds_dsn, warehouse_dsn)
    with psycopg.connect(warehouse_dsn) as conn:
        active = conn.execute("select count(*) from public.active_properties").fetchone()
    with psycopg.connect(rds_dsn) as conn:
        expected = conn.execute(
            "select count(*) from properties where status = 'ACTIVE'").fetchone()
    assert active == expected

    # Incremental state was rebuilt by the refresh: the next run has nothing to do.
    assert extract_source("rds", settings, pipelines_dir=tmp_path).rows == dict.fromkeys(
        TABLES, 0
    )


def test_a_lost_warehouse_is_reloaded_despite_local_state(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """dlt wipes local state whose dataset is gone, so a new warehouse gets every row."""
    rds_dsn, warehouse = databases
    extract_source("rds", make_settings(postgres_server, warehouse, rds_dsn),
                   pipelines_dir=tmp_path)
    other = postgres_server.create_database("wh")
    try:
        result = extract_source("rds", make_settings(postgres_server, other, rds_dsn),
                                pipelines_dir=tmp_path)
        assert result.rows == source_counts(rds_dsn)
    finally:
        postgres_server.drop_database(other)


def test_unreachable_rds_is_one_line_without_the_password(
    postgres_server: PostgresServer, fresh_database: str, tmp_path: Path
) -> None:
    secret = "n0t-in-any-message"
    dead = f"postgresql://loader:{secret}@127.0.0.1:{free_port()}/rds"
    settings = make_settings(postgres_server, fresh_database.rsplit("/", 1)[1], dead)
    with pytest.raises(ExtractError) as caught:
        extract_source("rds", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert "RDS" in str(caught.value) and "unreachable" in str(caught.value)
    assert secret not in str(caught.value) and "\n" not in str(caught.value)


def test_missing_rds_database_is_a_configuration_error(
    postgres_server: PostgresServer, fresh_database: str, tmp_path: Path
) -> None:
    settings = make_settings(postgres_server, fresh_database.rsplit("/", 1)[1],
                             postgres_server.dsn("no_such_database"))
    with pytest.raises(ExtractError) as caught:
        extract_source("rds", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_CONFIG
    assert "no_such_database" in str(caught.value)


def test_unreachable_warehouse_is_named(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    rds_dsn, _ = databases
    dead = PostgresServer(postgres_server.host, free_port(), "loader", "wh-secret-pw")
    settings = make_settings(dead, "wh", rds_dsn)
    with pytest.raises(ExtractError) as caught:
        extract_source("rds", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert f"warehouse {settings.warehouse.label()} is unreachable" in str(caught.value)
    assert "wh-secret-pw" not in str(caught.value)


def test_cli(
    databases: tuple[str, str], postgres_server: PostgresServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rds_dsn, warehouse = databases
    for name, value in {
        **postgres_server.env(warehouse),
        "RDS_DATABASE_URL": rds_dsn,
        "SANDBOX_DIR": str(tmp_path / "sandbox"),  # no sandbox.env of the developer
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    first = runner.invoke(app, ["rds"])
    assert first.exit_code == 0, first.output
    counts = source_counts(rds_dsn)
    assert f"{sum(counts.values())} rows merged" in first.output
    assert all(f"{table} {count}" in first.output for table, count in counts.items())
    assert (tmp_path / "dlt" / "pipelines" / "rds_to_warehouse").is_dir()

    again = runner.invoke(app, ["rds", "--full-refresh"])
    assert again.exit_code == 0 and f"{sum(counts.values())} rows merged" in again.output

    # dispatch is not configured here: named, it fails alone; rds still runs
    unconfigured = runner.invoke(app, ["rds", "dispatch"])
    assert unconfigured.exit_code == EXIT_CONFIG
    assert "rds: 0 rows merged" in unconfigured.output
    assert "DISPATCH_DATABASE_URL is not set" in unconfigured.output

    unknown = runner.invoke(app, ["hubspot"])
    assert unknown.exit_code == EXIT_CONFIG and "unknown source hubspot" in unknown.output

    monkeypatch.delenv("SALESFORCE_INSTANCE_URL", raising=False)
    salesforce = runner.invoke(app, ["all"])
    assert salesforce.exit_code == EXIT_CONFIG  # rds ran, salesforce is not configured
    assert "rds: 0 rows merged" in salesforce.output
    assert "SALESFORCE_INSTANCE_URL" in salesforce.output
    assert "Traceback" not in salesforce.output
