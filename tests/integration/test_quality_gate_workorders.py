"""The `workorders` data-quality gate (the PropertyWare <-> ServiceFusion syncs) against
a real Postgres: a clean warehouse passes; each check blocks the pass when its data is
spoiled, with a message naming the problem.

As in test_quality_gate.py, the raw tables and dlt's load tables are plain tables typed
as dlt lands them (checked against a real extract: ids bigint, timestamps with a time
zone), filled with a handful of hand-written rows; the sync view is a stand-in table,
since the dbt models of the slice do not exist yet.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from reverse_etl import registry
from reverse_etl.quality import gate_tables, run_gate
from tests.integration.test_quality_gate import (
    DLT_LOADS,
    assert_blocked,
    execute,
    make_settings,
)

pytestmark = pytest.mark.integration

# A stand-in for the slice's job create sync (not yet in the registry).
JOBS_CREATE = replace(
    registry.by_name("salesforce.properties.create"),
    destination="servicefusion",
    object_name="jobs",
    entity="jobs",
    view="sync.jobs_to_create",
    key="po_number",
    destination_table="raw_servicefusion.jobs",
    gate="workorders",
)

SCHEMA = f"""
create schema raw_propertyware;
create schema raw_servicefusion;
create schema sync;
create table raw_propertyware._dlt_loads {DLT_LOADS};
create table raw_servicefusion._dlt_loads {DLT_LOADS};
create table raw_propertyware.portfolios (
  id bigint, abbreviation varchar, active boolean, management_company varchar, name varchar,
  _dlt_load_id varchar, _dlt_id varchar);
create table raw_propertyware.buildings (
  id bigint, abbreviation varchar, active boolean, address varchar, address2 varchar,
  building_id bigint, city varchar, multi_unit boolean, name varchar, state varchar,
  zip varchar, portfolio_id bigint, _dlt_load_id varchar, _dlt_id varchar);
create table raw_propertyware.units (
  id bigint, address varchar, address2 varchar, building_id bigint, city varchar,
  name varchar, state varchar, zip varchar, _dlt_load_id varchar, _dlt_id varchar);
create table raw_propertyware.leases (
  id bigint, active boolean, building_id bigint, unit_id bigint, lease_status varchar,
  start_date timestamptz, end_date timestamptz, _dlt_load_id varchar, _dlt_id varchar);
create table raw_propertyware.work_orders (
  id bigint, building bigint, category varchar, created_date timestamptz,
  description varchar, number bigint, portfolio bigint, status varchar,
  _dlt_load_id varchar, _dlt_id varchar);
create table raw_servicefusion.customers (
  created_at timestamptz, updated_at timestamptz, parent_customer varchar,
  account_number varchar, id bigint, customer_name varchar, fully_qualified_name varchar,
  _dlt_load_id varchar, _dlt_id varchar);
create table raw_servicefusion.jobs (
  created_at timestamptz, updated_at timestamptz, po_number varchar, description varchar,
  id bigint, number varchar, customer_id bigint, customer_name varchar, status varchar,
  _dlt_load_id varchar, _dlt_id varchar);
create table sync.jobs_to_create (
  "_sync_key" text, "_payload_hash" text, customer_name text, po_number text, status text);
"""

# One portfolio, one building with two units and a lease, two work orders (one has a
# job already), the ServiceFusion parent and building customers; all landed an hour ago.
CLEAN_DATA = """
insert into raw_propertyware._dlt_loads values ('p1', 'propertyware', 0,
  now() - interval '1 hour', 'h');
insert into raw_servicefusion._dlt_loads values ('s1', 'servicefusion', 0,
  now() - interval '1 hour', 'h');
insert into raw_propertyware.portfolios values (11, 'CR', true, 'Cobalt PM',
  'Cobalt Residential', 'p1', 'a1');
insert into raw_propertyware.buildings values (21, 'B0001', true, '2990 Spring Ave', null,
  21, 'Austin', true, 'Sunset Ridge Village', 'TX', '78701', 11, 'p1', 'b1');
insert into raw_propertyware.units values
  (31, '2990 Spring Ave', 'Unit 101', 21, 'Austin', '101', 'TX', '78701', 'p1', 'u1'),
  (32, '2990 Spring Ave', 'Unit 102', 21, 'Austin', '102', 'TX', '78701', 'p1', 'u2');
insert into raw_propertyware.leases values (41, true, 21, 31, 'Active', now(), now(),
  'p1', 'l1');
insert into raw_propertyware.work_orders values
  (51, 21, 'Plumbing', now() - interval '2 days', 'Leaking faucet', 1001, 11, 'Scheduled',
   'p1', 'w1'),
  (52, 21, 'HVAC', now() - interval '1 day', 'AC not cooling', 1002, 11, ' WO Received ',
   'p1', 'w2');
insert into raw_servicefusion.customers values
  (now(), now(), null, 'PW-P-11', 1000001, 'Cobalt Residential', 'Cobalt Residential',
   's1', 'c1'),
  (now(), now(), 'Cobalt Residential', 'PW-B-21', 1000002, 'Sunset Ridge Village',
   'Cobalt Residential:Sunset Ridge Village', 's1', 'c2');
insert into raw_servicefusion.jobs values
  (now(), now(), '1001', 'Leaking faucet', 5000001, '1001', 1000002, 'Sunset Ridge Village',
   'On Site', 's1', 'j1');
insert into sync.jobs_to_create values ('1002', 'h1', '1000002', '1002', 'Unscheduled');
"""

KEYED = {
    "raw_propertyware.portfolios": "portfolio ID",
    "raw_propertyware.buildings": "building ID",
    "raw_propertyware.units": "unit ID",
    "raw_propertyware.leases": "lease ID",
    "raw_propertyware.work_orders": "work order ID",
    "raw_servicefusion.customers": "ServiceFusion customer id",
    "raw_servicefusion.jobs": "ServiceFusion job id",
}


@pytest.fixture(scope="module")
def gx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gx-root-workorders")


@pytest.fixture
def warehouse(fresh_database: str) -> str:
    execute(fresh_database, SCHEMA + CLEAN_DATA)
    return fresh_database


def test_the_suite_covers_the_slice_tables() -> None:
    settings = make_settings("postgresql://u:p@127.0.0.1:1/db", Path("/nonexistent"))
    tables = {t.table: t for t in gate_tables(settings, JOBS_CREATE, max_rows=5)}
    assert set(KEYED) <= set(tables)
    assert "raw_servicefusion._dlt_loads" in tables  # the read-back's freshness
    assert "raw_propertyware._dlt_loads" not in tables  # incremental source: dbt's
    (landed,) = [c for c in tables["raw_servicefusion.customers"].checks if c.kind == "fresh"]
    assert "24 h" in landed.description and "load_id in" in (landed.query or "")
    assert tables["sync.jobs_to_create"].checks[0].max_rows == 5


def test_clean_data_passes(warehouse: str, gx_root: Path) -> None:
    result = run_gate(make_settings(warehouse, gx_root), JOBS_CREATE, max_rows=10)
    assert result.ok, result.summary
    assert "passed" in result.summary


def test_null_and_duplicate_keys_block(warehouse: str, gx_root: Path) -> None:
    # In every keyed table: one row without an id, one row repeating an id.
    execute(
        warehouse,
        """
        insert into raw_propertyware.portfolios (id, name) values (null, 'x'), (11, 'again');
        insert into raw_propertyware.buildings (id, name) values (null, 'x'), (21, 'again');
        insert into raw_propertyware.units (id, name) values (null, 'x'), (31, 'again');
        insert into raw_propertyware.leases (id) values (null), (41);
        insert into raw_propertyware.work_orders (id, status) values (null, 'Open'),
          (51, 'Open');
        insert into raw_servicefusion.customers (id, customer_name, _dlt_load_id)
          values (null, 'x', 's1'), (1000001, 'again', 's1');
        insert into raw_servicefusion.jobs (id, status) values (null, 'Unscheduled'),
          (5000001, 'Unscheduled')""",
    )
    result = run_gate(make_settings(warehouse, gx_root), JOBS_CREATE, max_rows=None)
    assert not result.ok and result.exit_code == 4
    fragments = []
    for table, label in KEYED.items():
        fragments += [f"{table}: {label} is present: 1 of", f"{table}: {label} is unique: 2 of"]
    assert_blocked(result.summary, result.ok, *fragments)
    assert len(result.failures) == 2 * len(KEYED), result.failures


def test_null_statuses_block(warehouse: str, gx_root: Path) -> None:
    execute(
        warehouse,
        """
        update raw_propertyware.work_orders set status = null where id = 52;
        update raw_servicefusion.jobs set status = null""",
    )
    result = run_gate(make_settings(warehouse, gx_root), JOBS_CREATE, max_rows=None)
    assert_blocked(
        result.summary,
        result.ok,
        "raw_propertyware.work_orders: work order status is present: 1 of 2 rows unexpected",
        "raw_servicefusion.jobs: job status is present: 1 of 1 rows unexpected",
    )
    assert len(result.failures) == 2, result.failures


def test_columns_of_the_wrong_type_block(warehouse: str, gx_root: Path) -> None:
    # A work-order number landed as text and a po_number as a number would break the
    # number = po_number match; a naive timestamp would shift the 48 h window.
    execute(
        warehouse,
        """
        alter table raw_propertyware.work_orders alter column number type varchar;
        alter table raw_servicefusion.jobs alter column po_number type bigint
          using po_number::bigint;
        alter table raw_servicefusion.jobs alter column created_at type timestamp;
        alter table raw_propertyware.buildings alter column portfolio_id type varchar""",
    )
    result = run_gate(make_settings(warehouse, gx_root), JOBS_CREATE, max_rows=None)
    assert_blocked(
        result.summary,
        result.ok,
        "raw_propertyware.work_orders: number is of type BIGINT: it is VARCHAR",
        "raw_servicefusion.jobs: po_number is of type VARCHAR or TEXT: it is BIGINT",
        "raw_servicefusion.jobs: created_at is of type TIMESTAMP WITH TIME ZONE: "
        "it is TIMESTAMP WITHOUT TIME ZONE",
        "raw_propertyware.buildings: portfolio_id is of type BIGINT: it is VARCHAR",
    )
    assert len(result.failures) == 4, result.failures


def test_missing_required_columns_and_tables_are_named(
    warehouse: str, gx_root: Path
) -> None:
    execute(
        warehouse,
        """
        alter table raw_propertyware.units drop column address2;
        alter table raw_servicefusion.customers drop column parent_customer;
        alter table raw_propertyware.work_orders drop column description;
        drop table raw_propertyware.leases""",
    )
    result = run_gate(make_settings(warehouse, gx_root), JOBS_CREATE, max_rows=None)
    assert not result.ok and result.exit_code == 4
    assert result.failures == [
        "raw_propertyware.units: column address2 missing "
        "(run `python -m extract propertyware` first)",
        "raw_propertyware.leases: table or view missing "
        "(run `python -m extract propertyware` first)",
        "raw_propertyware.work_orders: column description missing "
        "(run `python -m extract propertyware` first)",
        "raw_servicefusion.customers: column parent_customer missing "
        "(run `python -m extract servicefusion` first)",
    ], result.failures


def test_stale_read_back_blocks(warehouse: str, gx_root: Path) -> None:
    # The newest complete ServiceFusion load is 30 h old (a newer one failed); the
    # PropertyWare source's age blocks nothing.
    execute(
        warehouse,
        """
        update raw_servicefusion._dlt_loads set inserted_at = now() - interval '30 hours';
        insert into raw_servicefusion._dlt_loads values ('s2', 'servicefusion', 1, now(), 'h');
        update raw_propertyware._dlt_loads set inserted_at = now() - interval '300 hours'""",
    )
    result = run_gate(make_settings(warehouse, gx_root), JOBS_CREATE, max_rows=None)
    assert_blocked(
        result.summary,
        result.ok,
        "raw_servicefusion._dlt_loads: newest complete dlt load of raw_servicefusion at "
        "most 24 h old (QUALITY_MAX_RAW_AGE_HOURS): newest is",
        "raw_servicefusion.customers: customers landed by a complete dlt load at most 24 h "
        "old (QUALITY_MAX_RAW_AGE_HOURS): newest is",
        "(30.0 h old)",
    )
    assert len(result.failures) == 2, result.failures
    relaxed = run_gate(
        make_settings(warehouse, gx_root, QUALITY_MAX_RAW_AGE_HOURS=36), JOBS_CREATE,
        max_rows=None,
    )
    assert relaxed.ok, relaxed.summary


def test_customers_not_landed_recently_block(warehouse: str, gx_root: Path) -> None:
    # A jobs-only extract (`--resource jobs`) just loaded: the dataset is fresh, but
    # the customers the decisions compare with are two days old.
    execute(
        warehouse,
        """
        update raw_servicefusion._dlt_loads set inserted_at = now() - interval '48 hours';
        insert into raw_servicefusion._dlt_loads values ('s2', 'servicefusion', 0, now(), 'h');
        update raw_servicefusion.jobs set _dlt_load_id = 's2'""",
    )
    result = run_gate(make_settings(warehouse, gx_root), JOBS_CREATE, max_rows=None)
    assert_blocked(
        result.summary,
        result.ok,
        "raw_servicefusion.customers: customers landed by a complete dlt load at most 24 h "
        "old (QUALITY_MAX_RAW_AGE_HOURS): newest is",
        "(48.0 h old)",
    )
    assert len(result.failures) == 1, result.failures
    # Customers from no complete load at all (their load failed) are named as such.
    execute(warehouse, "update raw_servicefusion.customers set _dlt_load_id = 'nope'")
    missing = run_gate(make_settings(warehouse, gx_root), JOBS_CREATE, max_rows=None)
    assert_blocked(missing.summary, missing.ok, "at most 24 h old (QUALITY_MAX_RAW_AGE_HOURS):"
                   " no complete load")


def test_view_over_the_safe_mode_bound_blocks(warehouse: str, gx_root: Path) -> None:
    execute(
        warehouse,
        """
        insert into sync.jobs_to_create ("_sync_key", po_number)
        select 'wo-' || n, 'wo-' || n from generate_series(1, 3) as n""",
    )
    settings = make_settings(warehouse, gx_root)
    capped = run_gate(settings, JOBS_CREATE, max_rows=2)
    assert_blocked(
        capped.summary,
        capped.ok,
        "sync.jobs_to_create: row count within the SAFE_MODE bound (2): 4 rows",
    )
    assert len(capped.failures) == 1, capped.failures
    assert run_gate(settings, JOBS_CREATE, max_rows=None).ok
