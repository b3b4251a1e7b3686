"""The data-quality gate against a real Postgres: a clean warehouse passes, each kind
of bad raw data (or a view over its SAFE_MODE bound) blocks the pass with a message
that names the problem, and what dbt owns (an unknown feature code, the sync views'
keys) does not block.

The raw tables, dlt's load tables and the sync views are created here as plain
tables with a handful of hand-written rows, typed as dlt lands them, so the gate is
tested without dlt or dbt. One GX project folder is shared by the module (GX's
first run there creates it, which is the slow part), and each test runs as few
gates as it can: one run takes about a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from common.settings import Settings
from reverse_etl import registry
from reverse_etl.quality import (
    GateConfigurationError,
    build_data_docs,
    check_command,
    run_gate,
)

pytestmark = pytest.mark.integration

CREATE = registry.by_name("salesforce.properties.create")
UPDATE = registry.by_name("salesforce.properties.update")

P1 = "00000000-0000-0000-0000-000000000001"
P2 = "00000000-0000-0000-0000-000000000002"
P3 = "00000000-0000-0000-0000-000000000003"
C1 = "10000000-0000-0000-0000-000000000001"

FEATURE_FIELDS = [
    "Fraud_Detection_Enabled__c",
    "Fraud_Detection_Enabled_Date__c",
    "Income_Verification_Enabled__c",
    "Income_Verification_Enabled_Date__c",
    "IDV_Enabled__c",
    "IDV_Enabled_Date__c",
    "Rent_Verification_Enabled__c",
    "Rent_Verification_Enabled_Date__c",
]
PAYLOAD_COLUMNS = ", ".join(
    [
        '"Name" text',
        '"Company_Name__c" text',
        '"Street__c" text',
        '"City__c" text',
        '"State__c" text',
        '"Postal_Code__c" text',
        *(
            f'"{name}" {"text" if name.endswith("Date__c") else "boolean"}'
            for name in FEATURE_FIELDS
        ),
        '"Active_Property_Count__c" integer',
        '"Contributing_Property_IDs__c" text',
    ]
)

# dlt's load table, as dlt creates it in every dataset.
DLT_LOADS = """(
  load_id varchar not null, schema_name varchar, status bigint not null,
  inserted_at timestamp with time zone not null, schema_version_hash varchar)"""

# Types as dlt lands them: uuids as varchar, timestamps with a time zone.
SCHEMA = f"""
create schema raw_rds;
create schema raw_salesforce;
create schema sync;
create table raw_rds._dlt_loads {DLT_LOADS};
create table raw_salesforce._dlt_loads {DLT_LOADS};
create table raw_rds.companies (
  id varchar, name varchar, updated_at timestamptz, _dlt_load_id varchar, _dlt_id varchar);
create table raw_rds.properties (
  id varchar, company_id varchar, name varchar, street_address varchar, city varchar,
  state varchar, postal_code varchar, status varchar, sfdc_id varchar,
  inserted_at timestamptz, updated_at timestamptz, _dlt_load_id varchar, _dlt_id varchar);
create table raw_rds.property_features (
  property_id varchar, feature_code varchar, enabled boolean, enabled_at timestamptz,
  updated_at timestamptz, _dlt_load_id varchar, _dlt_id varchar);
create table raw_salesforce.product_property (
  id text, name text, snappt_property_id_c text, sf_property_id_c text,
  company_name_c text, active_property_count_c double precision,
  contributing_property_ids_c text);
create table sync.properties_to_create (
  "_sync_key" text, "_payload_hash" text, "_group_key" text,
  "Snappt_Property_ID__c" text, {PAYLOAD_COLUMNS});
create table sync.properties_to_update (
  "_sync_key" text, "_payload_hash" text, "_group_key" text, "_before" jsonb,
  "Id" text, {PAYLOAD_COLUMNS});
"""

# A clean, consistent warehouse, landed an hour ago: P1 and P2 share sfdc SF-A and
# already have a staging record (so one update), P3 is new (so one create).
CLEAN_DATA = f"""
insert into raw_rds._dlt_loads values ('l1', 'rds', 0, now() - interval '1 hour', 'h');
insert into raw_salesforce._dlt_loads values
  ('s1', 'salesforce', 0, now() - interval '1 hour', 'h');
insert into raw_rds.companies values ('{C1}', 'Acme Rentals', now(), 'l1', 'd1');
insert into raw_rds.properties values
  ('{P1}', '{C1}', 'Oak Court', '1 Oak St', 'Austin', 'TX', '78701', 'ACTIVE', 'SF-A',
   now(), now(), 'l1', 'd2'),
  ('{P2}', '{C1}', 'Oak Court East', '3 Oak St', 'Austin', 'TX', '78701', 'DISABLED', 'SF-A',
   now(), now(), 'l1', 'd3'),
  ('{P3}', '{C1}', 'Elm Place', '9 Elm St', 'Dallas', 'TX', '75201', 'ACTIVE', null,
   now(), now(), 'l1', 'd4');
insert into raw_rds.property_features values
  ('{P1}', 'fraud_detection', true, now(), now(), 'l1', 'f1'),
  ('{P1}', 'income_verification', false, null, now(), 'l1', 'f2'),
  ('{P3}', 'identity_verification', true, now(), now(), 'l1', 'f3'),
  ('{P3}', 'rent_verification', true, now(), now(), 'l1', 'f4');
insert into raw_salesforce.product_property values
  ('a0X000000000001AAA', 'Oak Court', '{P1}', 'SF-A', 'Acme Rentals', 1, '{P1}');
insert into sync.properties_to_create ("_sync_key", "_payload_hash", "_group_key",
  "Snappt_Property_ID__c", "Name", "Active_Property_Count__c", "Contributing_Property_IDs__c")
  values ('{P3}', 'h3', '{P3}', '{P3}', 'Elm Place', 1, '{P3}');
insert into sync.properties_to_update ("_sync_key", "_payload_hash", "_group_key", "_before",
  "Id", "Name", "Active_Property_Count__c", "Contributing_Property_IDs__c")
  values ('a0X000000000001AAA', 'h1', 'SF-A', '{{"Name": "Oak Ct"}}', 'a0X000000000001AAA',
          'Oak Court', 1, '{P1}');
"""


@pytest.fixture(scope="module")
def gx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gx-root")


@pytest.fixture
def warehouse(fresh_database: str) -> Iterator[str]:
    """A fresh database holding the clean data set; tests then spoil it."""
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute(CLEAN_DATA)
    yield fresh_database


def make_settings(dsn: str, gx_root: Path, **env: object) -> Settings:
    url = urlparse(dsn)
    return Settings.from_env(
        {
            "PGHOST": url.hostname or "127.0.0.1",
            "PGPORT": url.port or 5432,
            "PGUSER": url.username or "postgres",
            "PGPASSWORD": url.password or "",
            "PGDATABASE": url.path.lstrip("/"),
            "QUALITY_GX_ROOT": gx_root,
            **env,
        }
    )


def execute(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)


def assert_blocked(result_summary: str, ok: bool, *fragments: str) -> None:
    assert not ok, result_summary
    for fragment in fragments:
        assert fragment in result_summary, result_summary


def test_clean_data_passes_both_passes(warehouse: str, gx_root: Path) -> None:
    settings = make_settings(warehouse, gx_root)
    for sync in (CREATE, UPDATE):
        started = time.monotonic()
        result = run_gate(settings, sync, max_rows=100)
        elapsed = time.monotonic() - started
        assert result.ok, result.summary
        assert result.failures == [] and result.exit_code == 0
        assert "passed" in result.summary
        assert result.data_docs_path is not None and result.data_docs_path.exists()
        print(f"gate {sync.name}: {elapsed:.2f} s")
    # The stored GX configuration names the URL only by a placeholder: no password,
    # host or database of this machine is written to disk.
    stored = (gx_root / "gx" / "great_expectations.yml").read_text()
    assert "${PROPSYNC_QUALITY_WAREHOUSE_URL}" in stored
    assert "@" not in stored and settings.warehouse.host not in stored
    assert settings.warehouse.database not in stored


def test_what_dbt_owns_does_not_block(warehouse: str, gx_root: Path) -> None:
    # An unknown feature code is ignored by the models (and a dbt warning), and the
    # sync views' keys are dbt's to test: a duplicate _sync_key and a create whose
    # key Salesforce holds are `dbt build` failures, not the gate's.
    execute(
        warehouse,
        f"""
        insert into raw_rds.property_features values
          ('{P3}', 'pet_screening', true, now(), now(), 'l2', 'f9');
        insert into sync.properties_to_create ("_sync_key", "_group_key", "Snappt_Property_ID__c")
          values ('{P3}', 'SF-A', '{P1}')""",
    )
    result = run_gate(make_settings(warehouse, gx_root), CREATE, max_rows=100)
    assert result.ok, result.summary


def test_null_and_duplicate_raw_keys_block(warehouse: str, gx_root: Path) -> None:
    execute(
        warehouse,
        f"""
        insert into raw_rds.properties (id, company_id, name, status, inserted_at, updated_at)
          values (null, '{C1}', 'No id', 'ACTIVE', now(), now());
        insert into raw_rds.companies values ('{C1}', 'Acme again', now(), 'l1', 'd9');
        insert into raw_rds.property_features values
          ('{P1}', 'fraud_detection', false, null, now(), 'l2', 'f8');
        insert into raw_salesforce.product_property (id, name)
          values ('a0X000000000001AAA', 'Oak Court again')""",
    )
    result = run_gate(make_settings(warehouse, gx_root), UPDATE, max_rows=100)
    assert_blocked(
        result.summary,
        result.ok,
        "raw_rds.properties: property id is present: 1 of 4 rows unexpected",
        f"raw_rds.companies: company id is unique: 2 of 2 rows unexpected, e.g. '{C1}'",
        "raw_rds.property_features: one row per (property_id, feature_code)",
        "fraud_detection",
        "raw_salesforce.product_property: Salesforce record Id is unique: 2 of 2 rows",
    )
    assert len(result.failures) == 4, result.failures
    assert result.exit_code == 4 and not result.unreachable


def test_unknown_status_blocks(warehouse: str, gx_root: Path) -> None:
    execute(warehouse, f"update raw_rds.properties set status = 'PAUSED' where id = '{P3}'")
    result = run_gate(make_settings(warehouse, gx_root), CREATE, max_rows=None)
    assert_blocked(result.summary, result.ok, "raw_rds.properties", "known status", "'PAUSED'")
    assert len(result.failures) == 1, result.failures


def test_column_of_the_wrong_type_blocks(warehouse: str, gx_root: Path) -> None:
    # What a dlt load with text timestamps, or a naive one, would land.
    execute(
        warehouse,
        """
        alter table raw_rds.property_features alter column enabled type text;
        alter table raw_rds.companies alter column updated_at type timestamp""",
    )
    result = run_gate(make_settings(warehouse, gx_root), UPDATE, max_rows=None)
    assert_blocked(
        result.summary,
        result.ok,
        "raw_rds.property_features: enabled is of type BOOLEAN: it is TEXT",
        "raw_rds.companies: updated_at is of type TIMESTAMP WITH TIME ZONE: "
        "it is TIMESTAMP WITHOUT TIME ZONE",
    )
    assert len(result.failures) == 2, result.failures


def test_stale_or_missing_load_blocks(warehouse: str, gx_root: Path) -> None:
    # The read-back's newest load is recent but failed (status 1): the newest complete
    # one is 30 h old. A stale raw_rds load says nothing (incremental: no change, no
    # load) and blocks nothing.
    execute(
        warehouse,
        """
        update raw_salesforce._dlt_loads set inserted_at = now() - interval '30 hours';
        insert into raw_salesforce._dlt_loads values ('l2', 'salesforce', 1, now(), 'h');
        update raw_rds._dlt_loads set inserted_at = now() - interval '300 hours'""",
    )
    result = run_gate(make_settings(warehouse, gx_root), CREATE, max_rows=None)
    assert_blocked(
        result.summary,
        result.ok,
        "raw_salesforce._dlt_loads: newest complete dlt load of raw_salesforce at most 24 h "
        "old (QUALITY_MAX_RAW_AGE_HOURS): newest is",
        "(30.0 h old)",
    )
    assert len(result.failures) == 1, result.failures
    # The limit is the setting: 36 h lets it through.
    relaxed = run_gate(
        make_settings(warehouse, gx_root, QUALITY_MAX_RAW_AGE_HOURS=36), CREATE, max_rows=None
    )
    assert relaxed.ok, relaxed.summary
    # No complete load at all is named as such.
    execute(warehouse, "delete from raw_salesforce._dlt_loads")
    missing = run_gate(make_settings(warehouse, gx_root), CREATE, max_rows=None)
    assert_blocked(
        missing.summary,
        missing.ok,
        "raw_salesforce._dlt_loads: newest complete dlt load of raw_salesforce at most 24 h "
        "old (QUALITY_MAX_RAW_AGE_HOURS): no complete load",
    )


def test_view_over_the_safe_mode_bound_blocks(warehouse: str, gx_root: Path) -> None:
    execute(
        warehouse,
        """
        insert into sync.properties_to_create ("_sync_key", "_group_key", "Snappt_Property_ID__c")
        select 'new-' || n, 'group-' || n, 'new-' || n from generate_series(1, 3) as n""",
    )
    settings = make_settings(warehouse, gx_root)
    capped = run_gate(settings, CREATE, max_rows=2)
    assert_blocked(
        capped.summary,
        capped.ok,
        "sync.properties_to_create: row count within the SAFE_MODE bound (2): 4 rows",
    )
    assert len(capped.failures) == 1, capped.failures
    # SAFE_MODE off (no bound): the view is not counted at all.
    assert run_gate(settings, CREATE, max_rows=None).ok


def test_missing_tables_and_columns_are_a_clear_failure(
    fresh_database: str, gx_root: Path
) -> None:
    execute(
        fresh_database,
        SCHEMA
        + CLEAN_DATA
        + """
        drop table raw_salesforce._dlt_loads;
        alter table raw_rds.properties drop column status;
        drop schema sync cascade;""",
    )
    result = run_gate(make_settings(fresh_database, gx_root), UPDATE, max_rows=10)
    assert not result.ok and result.exit_code == 4 and not result.unreachable
    assert result.failures == [
        "raw_rds.properties: column status missing (run `python -m extract rds` first)",
        "raw_salesforce._dlt_loads: table or view missing "
        "(run `python -m extract salesforce` first)",
        "sync.properties_to_update: table or view missing (run `dbt build` first)",
    ], result.failures


def test_unreachable_warehouse_unknown_gate_and_no_gate(gx_root: Path) -> None:
    settings = make_settings("postgresql://postgres:x@127.0.0.1:1/nowhere", gx_root)
    result = run_gate(settings, CREATE, max_rows=10)
    assert not result.ok and result.unreachable and result.exit_code == 3
    assert "unreachable" in result.summary and ":x@" not in result.summary
    # A gate name no suite defines is a registry bug: it raises, before any I/O.
    with pytest.raises(GateConfigurationError, match="no data-quality suite named 'nope'"):
        run_gate(settings, replace(CREATE, gate="nope"), max_rows=10)
    # A sync the registry declares without a gate passes visibly, with its reason,
    # without touching the warehouse.
    ungated = replace(CREATE, gate=None, no_gate_reason="a test")
    skipped = run_gate(settings, ungated, max_rows=10)
    assert skipped.ok and skipped.skipped
    assert "skipped (no gate: a test)" in skipped.summary


def test_check_command_and_data_docs(
    warehouse: str,
    gx_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = urlparse(warehouse)
    for name, value in {
        "PGHOST": url.hostname,
        "PGPORT": str(url.port),
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.path.lstrip("/"),
        "QUALITY_GX_ROOT": str(gx_root),
        "SAFE_MODE": "on",
        # Standalone, the bound is the count cap: 1 update row is within it.
        "SAFE_MODE_MAX_UPDATES": "1",
    }.items():
        monkeypatch.setenv(name, value or "")
    assert check_command("salesforce", "update") == 0
    out = capsys.readouterr().out
    assert "data-quality gate salesforce.properties.update: passed" in out
    execute(warehouse, "update raw_rds.companies set name = null")
    assert check_command("salesforce", "create") == 4
    assert "raw_rds.companies: company name is present" in capsys.readouterr().out

    assert check_command("salesforce", "delete") == 2
    assert "unknown pass 'delete'" in capsys.readouterr().err
    assert check_command("hubspot", "create") == 2
    assert "no sync is registered for destination 'hubspot'" in capsys.readouterr().err
    ungated = replace(CREATE, gate=None, no_gate_reason="nothing to check")
    monkeypatch.setattr(registry, "SYNCS", (ungated, UPDATE))
    assert check_command("salesforce", "create") == 2
    assert "salesforce.properties.create has no data-quality gate: nothing to check" in (
        capsys.readouterr().err
    )

    index = build_data_docs(make_settings(warehouse, gx_root))
    assert index == gx_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert "gate__rds_salesforce__raw_rds__companies" in index.read_text()
    for page in index.parent.rglob("*.html"):
        assert "postgresql" not in page.read_text(), page
