"""The data-quality gate against a real Postgres: a clean warehouse passes, each kind
of bad data blocks the pass with a message that names the problem.

The raw tables and sync views are created here as plain tables with a handful of
hand-written rows, so the gate is tested without dlt or dbt. One GX project folder
is shared by the module (GX's first run there creates it, which is the slow part).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from common.settings import Settings
from reverse_etl.quality import GateConfigurationError, build_data_docs, check_command, run_gate

pytestmark = pytest.mark.integration

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

SCHEMA = f"""
create schema raw_rds;
create schema raw_salesforce;
create schema sync;
create table raw_rds.companies (
  id uuid, name text, updated_at timestamptz, _dlt_load_id text, _dlt_id text);
create table raw_rds.properties (
  id uuid, company_id uuid, name text, street_address text, city text, state text,
  postal_code text, status text, sfdc_id text, inserted_at timestamptz,
  updated_at timestamptz, _dlt_load_id text, _dlt_id text);
create table raw_rds.property_features (
  property_id uuid, feature_code text, enabled boolean, enabled_at timestamptz,
  updated_at timestamptz, _dlt_load_id text, _dlt_id text);
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

# A clean, consistent warehouse: P1 and P2 share sfdc SF-A and already have a staging
# record (so one update), P3 is new (so one create).
CLEAN_DATA = f"""
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


def make_settings(
    dsn: str,
    gx_root: Path,
    *,
    safe_mode: bool = True,
    max_creates: int = 100,
    max_updates: int = 100,
) -> Settings:
    url = urlparse(dsn)
    return Settings.from_env(
        {
            "PGHOST": url.hostname or "127.0.0.1",
            "PGPORT": url.port or 5432,
            "PGUSER": url.username or "postgres",
            "PGPASSWORD": url.password or "",
            "PGDATABASE": url.path.lstrip("/"),
            "SAFE_MODE": safe_mode,
            "SAFE_MODE_MAX_CREATES": max_creates,
            "SAFE_MODE_MAX_UPDATES": max_updates,
            "QUALITY_GX_ROOT": gx_root,
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
    for pass_name in ("create", "update"):
        started = time.monotonic()
        result = run_gate(settings, "salesforce", pass_name)
        elapsed = time.monotonic() - started
        assert result.ok, result.summary
        assert result.failures == []
        assert "passed" in result.summary
        assert result.data_docs_path is not None and result.data_docs_path.exists()
        print(f"gate {pass_name}: {elapsed:.2f} s")
    # The stored GX configuration names the URL only by a placeholder: no password,
    # host or database of this machine is written to disk.
    stored = (gx_root / "gx" / "great_expectations.yml").read_text()
    assert "${PROPSYNC_QUALITY_WAREHOUSE_URL}" in stored
    assert "@" not in stored and settings.warehouse.host not in stored
    assert settings.warehouse.database not in stored


def test_duplicate_property_id_blocks(warehouse: str, gx_root: Path) -> None:
    execute(
        warehouse,
        f"""
        insert into raw_rds.properties (id, company_id, name, status, inserted_at, updated_at)
        values ('{P1}', '{C1}', 'Oak Court again', 'ACTIVE', now(), now())""",
    )
    result = run_gate(make_settings(warehouse, gx_root), "salesforce", "update")
    assert_blocked(result.summary, result.ok, "raw_rds.properties", "property id is unique", P1)
    assert len(result.failures) == 1, result.failures


def test_unknown_status_blocks(warehouse: str, gx_root: Path) -> None:
    execute(warehouse, f"update raw_rds.properties set status = 'PAUSED' where id = '{P3}'")
    result = run_gate(make_settings(warehouse, gx_root), "salesforce", "create")
    assert_blocked(result.summary, result.ok, "raw_rds.properties", "known status", "'PAUSED'")


def test_unknown_feature_code_blocks(warehouse: str, gx_root: Path) -> None:
    execute(
        warehouse,
        f"""
        insert into raw_rds.property_features values
        ('{P3}', 'pet_screening', true, now(), now(), 'l2', 'f9')""",
    )
    result = run_gate(make_settings(warehouse, gx_root), "salesforce", "create")
    assert_blocked(
        result.summary, result.ok, "raw_rds.property_features", "known feature", "'pet_screening'"
    )


def test_duplicate_sync_key_blocks(warehouse: str, gx_root: Path) -> None:
    execute(
        warehouse,
        f"""
        insert into sync.properties_to_create ("_sync_key", "_group_key", "Snappt_Property_ID__c")
        values ('{P3}', 'G-other', 'other-id')""",
    )
    result = run_gate(make_settings(warehouse, gx_root), "salesforce", "create")
    assert_blocked(
        result.summary, result.ok, "sync.properties_to_create", "_sync_key is unique", P3
    )


def test_create_for_group_already_in_salesforce_blocks(warehouse: str, gx_root: Path) -> None:
    # P1's group already has a staging record, so creating it again would duplicate it.
    execute(
        warehouse,
        f"""
        insert into sync.properties_to_create ("_sync_key", "_group_key", "Snappt_Property_ID__c")
        values ('{P1}', 'SF-A', '{P1}')""",
    )
    result = run_gate(make_settings(warehouse, gx_root), "salesforce", "create")
    assert_blocked(
        result.summary,
        result.ok,
        "sync.properties_to_create",
        "already has a staging record",
        "1 offending row",
        P1,
    )
    # The update pass does not read the create queue, so it is not blocked by it.
    assert run_gate(make_settings(warehouse, gx_root), "salesforce", "update").ok


def test_create_queue_above_safe_mode_cap(warehouse: str, gx_root: Path) -> None:
    execute(
        warehouse,
        """
        insert into sync.properties_to_create ("_sync_key", "_group_key", "Snappt_Property_ID__c")
        select 'new-' || n, 'group-' || n, 'new-' || n from generate_series(1, 3) as n""",
    )
    capped = run_gate(make_settings(warehouse, gx_root, max_creates=2), "salesforce", "create")
    assert_blocked(capped.summary, capped.ok, "SAFE_MODE cap (2)", "4 rows")
    unsafe = make_settings(warehouse, gx_root, safe_mode=False, max_creates=2)
    assert run_gate(unsafe, "salesforce", "create").ok


def test_missing_views_are_a_clear_failure(fresh_database: str, gx_root: Path) -> None:
    execute(fresh_database, SCHEMA + "drop schema sync cascade;")
    result = run_gate(make_settings(fresh_database, gx_root), "salesforce", "update")
    assert_blocked(
        result.summary, result.ok, "sync.properties_to_update: table or view missing", "dbt build"
    )
    assert result.exit_code == 4


def test_view_without_a_checked_column_is_reported(warehouse: str, gx_root: Path) -> None:
    execute(warehouse, 'alter table sync.properties_to_update drop column "Id"')
    result = run_gate(make_settings(warehouse, gx_root), "salesforce", "update")
    assert_blocked(
        result.summary,
        result.ok,
        "sync.properties_to_update: Salesforce Id is present",
        "could not be evaluated",
    )


def test_unreachable_warehouse_and_bad_usage(gx_root: Path) -> None:
    settings = make_settings("postgresql://postgres:x@127.0.0.1:1/nowhere", gx_root)
    result = run_gate(settings, "salesforce", "create")
    assert not result.ok and result.unreachable and result.exit_code == 3
    assert "unreachable" in result.summary and ":x@" not in result.summary
    with pytest.raises(GateConfigurationError):
        run_gate(settings, "salesforce", "upsert")
    # The pusher asks before every push; a destination without checks is let through,
    # visibly, and without touching the warehouse.
    skipped = run_gate(settings, "supabase", "create")
    assert skipped.ok and skipped.skipped and "skipped" in skipped.summary


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
    }.items():
        monkeypatch.setenv(name, value or "")
    assert check_command("salesforce", "create") == 0
    assert "passed" in capsys.readouterr().out
    execute(warehouse, "update raw_rds.companies set name = null")
    assert check_command("salesforce", "update") == 4
    out = capsys.readouterr().out
    assert "raw_rds.companies: company name is present" in out
    assert check_command("salesforce", "delete") == 2
    assert check_command("supabase", "create") == 2
    assert "no data-quality checks for destination 'supabase'" in capsys.readouterr().err

    index = build_data_docs(make_settings(warehouse, gx_root))
    assert index == gx_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert "gate__raw_rds__companies" in index.read_text()
    for page in index.parent.rglob("*.html"):
        assert "postgresql" not in page.read_text(), page
