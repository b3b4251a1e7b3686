"""`python -m extract salesforce` against the Salesforce simulator (HTTPS, real paging,
sessions and faults) and a fresh warehouse database, run in-process.

Expected values are the fixture records written below, or counts of what the test
itself loaded into the simulator.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pyrate_limiter.limiter
import pytest
from pyrate_limiter import AbstractClock

from common.http import PolicySession, policy_session
from common.settings import Settings
from extract import pipelines
from extract.pipelines import EXIT_CONFIG, EXIT_UNREACHABLE, ExtractError, extract_source
from sandbox.generate import generate_rds, initial_salesforce_records
from tests.conftest import PostgresServer, free_port
from tests.integration.conftest import SalesforceSim

pytestmark = pytest.mark.integration

# docs/warehouse.md, "raw_salesforce.product_property": names and types, in this order.
EXPECTED_COLUMNS = [
    ("id", "character varying"),
    ("name", "character varying"),
    ("snappt_property_id_c", "character varying"),
    ("sf_property_id_c", "character varying"),
    ("company_name_c", "character varying"),
    ("street_c", "character varying"),
    ("city_c", "character varying"),
    ("state_c", "character varying"),
    ("postal_code_c", "character varying"),
    ("fraud_detection_enabled_c", "boolean"),
    ("fraud_detection_enabled_date_c", "date"),
    ("income_verification_enabled_c", "boolean"),
    ("income_verification_enabled_date_c", "date"),
    ("idv_enabled_c", "boolean"),
    ("idv_enabled_date_c", "date"),
    ("rent_verification_enabled_c", "boolean"),
    ("rent_verification_enabled_date_c", "date"),
    ("active_property_count_c", "double precision"),
    ("contributing_property_ids_c", "character varying"),
    ("created_date", "timestamp with time zone"),
    ("last_modified_date", "timestamp with time zone"),
    ("_dlt_load_id", "character varying"),
    ("_dlt_id", "character varying"),
]

P1 = "5b0c1f7e-0000-4000-8000-000000000001"
P2 = "5b0c1f7e-0000-4000-8000-000000000002"
P3 = "5b0c1f7e-0000-4000-8000-000000000003"


def record(snappt_id: str, **fields: Any) -> dict[str, Any]:
    """A staging record with every feature off; Rent's date stays null everywhere."""
    base: dict[str, Any] = {
        "Name": f"Property {snappt_id[-1]}",
        "Snappt_Property_ID__c": snappt_id,
        "Company_Name__c": "Capitol Row Residential",
        "Street__c": "1 Main St",
        "City__c": "Austin",
        "State__c": "TX",
        "Postal_Code__c": "78701",
        "Fraud_Detection_Enabled__c": False,
        "Income_Verification_Enabled__c": False,
        "IDV_Enabled__c": False,
        "Rent_Verification_Enabled__c": False,
        "Active_Property_Count__c": 1,
        "Contributing_Property_IDs__c": snappt_id,
    }
    base.update(fields)
    return base


FIXTURE = [
    record(P1, Fraud_Detection_Enabled__c=True, Fraud_Detection_Enabled_Date__c="2024-07-02",
           IDV_Enabled__c=True, IDV_Enabled_Date__c="2024-02-29", SF_Property_ID__c=
           "a1B5f000001PkKnEAK", Active_Property_Count__c=2,
           Contributing_Property_IDs__c=f"{P1},{P3}"),
    record(P2, Street__c=None, City__c=None, State__c=None, Postal_Code__c=None),
    record(P3, Active_Property_Count__c=0, Contributing_Property_IDs__c=None),
]


@pytest.fixture
def warehouse(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database("wh")
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def make_settings(
    server: PostgresServer, warehouse: str, sim: SalesforceSim, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "pghost": server.host,
        "pgport": server.port,
        "pguser": server.user,
        "pgpassword": server.password,
        "pgdatabase": warehouse,
        "salesforce_instance_url": sim.url,
        "salesforce_client_id": sim.client_id,
        "salesforce_client_secret": sim.client_secret,
        "requests_ca_bundle": sim.ca_bundle,
        "salesforce_max_rps": 1000.0,
        "http_max_attempts": 4,
    }
    values.update(overrides)
    return Settings.from_env(values)  # type: ignore[call-arg]


def landed(server: PostgresServer, warehouse: str) -> list[dict[str, Any]]:
    with psycopg.connect(server.dsn(warehouse)) as conn:
        cur = conn.execute("select * from raw_salesforce.product_property order by name")
        names = [c.name for c in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def columns(server: PostgresServer, warehouse: str) -> list[tuple[str, str]]:
    with psycopg.connect(server.dsn(warehouse)) as conn:
        return conn.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'raw_salesforce' and table_name = 'product_property'"
            " order by ordinal_position"
        ).fetchall()


def query_gets(sim: SalesforceSim) -> list[dict[str, Any]]:
    return [r for r in sim.admin.requests() if r["method"] == "GET" and "/query" in r["path"]]


def test_columns_types_and_values(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path,
) -> None:
    ids = salesforce_sim.admin.load_records(FIXTURE)
    settings = make_settings(postgres_server, warehouse, salesforce_sim)
    result = extract_source("salesforce", settings, pipelines_dir=tmp_path)
    assert result.rows == {"product_property": 3}
    assert columns(postgres_server, warehouse) == EXPECTED_COLUMNS

    rows = {row["snappt_property_id_c"]: row for row in landed(postgres_server, warehouse)}
    first = rows[P1]
    assert first["id"] == ids[0]
    assert first["sf_property_id_c"] == "a1B5f000001PkKnEAK"
    assert (first["fraud_detection_enabled_c"], first["fraud_detection_enabled_date_c"]) == (
        True, dt.date(2024, 7, 2))
    assert (first["idv_enabled_c"], first["idv_enabled_date_c"]) == (True, dt.date(2024, 2, 29))
    assert first["income_verification_enabled_c"] is False
    assert first["income_verification_enabled_date_c"] is None
    assert first["active_property_count_c"] == 2.0
    assert first["contributing_property_ids_c"] == f"{P1},{P3}"
    assert isinstance(first["created_date"], dt.datetime)
    assert first["created_date"].tzinfo is not None
    assert first["last_modified_date"] >= first["created_date"]
    assert (rows[P2]["street_c"], rows[P2]["city_c"], rows[P2]["postal_code_c"]) == (None,) * 3
    assert rows[P3]["active_property_count_c"] == 0.0
    assert rows[P3]["contributing_property_ids_c"] is None
    assert all(row["rent_verification_enabled_date_c"] is None for row in rows.values())


def test_paging_follows_next_records_url(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path,
) -> None:
    many = [record(f"5b0c1f7e-0000-4000-9000-{n:012d}") for n in range(4500)]
    salesforce_sim.admin.load_records(many)
    salesforce_sim.admin.clear_requests()
    result = extract_source("salesforce", make_settings(postgres_server, warehouse,
                                                        salesforce_sim), pipelines_dir=tmp_path)
    assert result.rows == {"product_property": 4500}
    gets = query_gets(salesforce_sim)
    # The query, then two nextRecordsUrl pages starting at records 2,000 and 4,000.
    assert len(gets) == 3
    assert [g["path"].endswith(("-2000", "-4000")) for g in gets] == [False, True, True]
    with psycopg.connect(postgres_server.dsn(warehouse)) as conn:
        distinct = conn.execute(
            "select count(distinct id), count(distinct snappt_property_id_c)"
            " from raw_salesforce.product_property").fetchone()
    assert distinct == (4500, 4500)


def test_empty_object_gives_an_empty_table_with_every_column(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path,
) -> None:
    result = extract_source("salesforce", make_settings(postgres_server, warehouse,
                                                        salesforce_sim), pipelines_dir=tmp_path)
    assert result.rows == {"product_property": 0}
    assert columns(postgres_server, warehouse) == EXPECTED_COLUMNS
    assert landed(postgres_server, warehouse) == []


def test_replace_drops_records_that_left_salesforce(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path,
) -> None:
    settings = make_settings(postgres_server, warehouse, salesforce_sim)
    salesforce_sim.admin.load_records(FIXTURE)
    extract_source("salesforce", settings, pipelines_dir=tmp_path)
    stored = salesforce_sim.admin.records()
    kept = [r for r in stored if r["Snappt_Property_ID__c"] != P2]

    # The simulator has no delete; start it over with the same records minus one.
    salesforce_sim.admin.reset()
    writable = {
        "Id", "Name", "Snappt_Property_ID__c", "SF_Property_ID__c", "Company_Name__c",
        "Street__c", "City__c", "State__c", "Postal_Code__c", "Active_Property_Count__c",
        "Contributing_Property_IDs__c",
    }
    salesforce_sim.admin.load_records([
        {k: v for k, v in r.items() if k in writable or k.endswith(("Enabled__c", "Date__c"))}
        for r in kept
    ])
    second = extract_source("salesforce", settings, pipelines_dir=tmp_path)
    assert second.rows == {"product_property": 2}
    assert {r["snappt_property_id_c"] for r in landed(postgres_server, warehouse)} == {P1, P3}
    assert {r["id"] for r in landed(postgres_server, warehouse)} == {r["Id"] for r in kept}

    salesforce_sim.admin.reset()
    third = extract_source("salesforce", settings, pipelines_dir=tmp_path)
    assert third.rows == {"product_property": 0}
    assert landed(postgres_server, warehouse) == []
    assert columns(postgres_server, warehouse) == EXPECTED_COLUMNS


def test_retries_server_errors_and_dropped_connections(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path,
) -> None:
    salesforce_sim.admin.load_records(FIXTURE)
    salesforce_sim.admin.set_faults(next=["503_before", "drop_before", "429"])
    result = extract_source("salesforce", make_settings(postgres_server, warehouse,
                                                        salesforce_sim), pipelines_dir=tmp_path)
    assert result.rows == {"product_property": 3}
    faults = [r["fault"] for r in salesforce_sim.admin.requests() if r["fault"]]
    assert faults == ["503_before", "drop_before", "429"]


def test_expired_session_is_renewed_between_pages(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path,
) -> None:
    salesforce_sim.admin.load_records(
        [record(f"5b0c1f7e-0000-4000-9000-{n:012d}") for n in range(4100)]
    )
    # The limiter spaces every request (token requests too) 0.67 s apart
    # (SALESFORCE_MAX_RPS = 1.5) and sessions last 1 s: a fresh token serves the next
    # request and has expired by the one after.
    salesforce_sim.admin.configure(token_ttl_s=1.0)
    salesforce_sim.admin.clear_requests()
    settings = make_settings(postgres_server, warehouse, salesforce_sim, salesforce_max_rps=1.5)
    result = extract_source("salesforce", settings, pipelines_dir=tmp_path)
    assert result.rows == {"product_property": 4100}
    log = salesforce_sim.admin.requests()
    assert 401 in [r["status"] for r in log]
    assert sum(1 for r in log if r["path"].endswith("/oauth2/token")) >= 2


def test_bad_credentials_are_a_configuration_error(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path,
) -> None:
    secret = "wrong-secret-not-to-print"
    settings = make_settings(postgres_server, warehouse, salesforce_sim,
                             salesforce_client_secret=secret)
    with pytest.raises(ExtractError) as caught:
        extract_source("salesforce", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_CONFIG
    assert "invalid_client" in str(caught.value)
    assert secret not in str(caught.value)


def test_untrusted_certificate_fails_fast_without_retries(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only the system CAs: the simulator's private CA is not among them.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    settings = make_settings(postgres_server, warehouse, salesforce_sim,
                             requests_ca_bundle=None, http_max_attempts=6)
    started = dt.datetime.now()
    with pytest.raises(ExtractError) as caught:
        extract_source("salesforce", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_CONFIG
    assert "TLS verification" in str(caught.value)
    assert (dt.datetime.now() - started).total_seconds() < 10  # backoff would take ~30 s


def test_unreachable_salesforce(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path,
) -> None:
    settings = make_settings(postgres_server, warehouse, salesforce_sim,
                             salesforce_instance_url=f"https://127.0.0.1:{free_port()}",
                             http_max_attempts=2)
    with pytest.raises(ExtractError) as caught:
        extract_source("salesforce", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert "unreachable" in str(caught.value)


def test_reads_back_the_generated_salesforce_state(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path,
) -> None:
    """The demo's path: generated RDS, today's staging records in the simulator, read back."""
    rds = postgres_server.create_database("rds")
    try:
        generate_rds(postgres_server.dsn(rds), properties=600, seed=7)
        records = initial_salesforce_records(postgres_server.dsn(rds), seed=7)
    finally:
        postgres_server.drop_database(rds)
    salesforce_sim.admin.load_records(records)
    result = extract_source("salesforce", make_settings(postgres_server, warehouse,
                                                        salesforce_sim), pipelines_dir=tmp_path)
    assert result.rows == {"product_property": len(records)}
    rows = landed(postgres_server, warehouse)
    assert {r["snappt_property_id_c"] for r in rows} == {
        r["Snappt_Property_ID__c"] for r in records
    }
    by_id = {r["snappt_property_id_c"]: r for r in rows}
    for sent in records:
        back = by_id[sent["Snappt_Property_ID__c"]]
        assert back["idv_enabled_c"] == sent["IDV_Enabled__c"]
        day = sent["Fraud_Detection_Enabled_Date__c"]
        assert back["fraud_detection_enabled_date_c"] == (
            dt.date.fromisoformat(str(day)) if day else None
        )
        assert back["active_property_count_c"] == float(sent["Active_Property_Count__c"])


# -- the read-back on the project's policy session (common.http) -----------------------


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class FakeClock(AbstractClock):
    def __init__(self) -> None:
        self.ms = 1_000_000

    def now(self) -> int:
        return self.ms


@dataclass
class Built:
    sessions: list[PolicySession] = field(default_factory=list)
    backoffs: Sleeps = field(default_factory=Sleeps)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Built:
    """The sessions the read-back builds, with backoff waits recorded, not slept."""
    record = Built()

    def recording(settings: Settings, api: str, **options: Any) -> PolicySession:
        session = policy_session(settings, api, sleep=record.backoffs, **options)
        record.sessions.append(session)
        return session

    monkeypatch.setattr(pipelines, "policy_session", recording)
    return record


def test_read_back_retries_through_the_policy_session(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path, built: Built, caplog: pytest.LogCaptureFixture,
) -> None:
    salesforce_sim.admin.load_records(FIXTURE)
    salesforce_sim.admin.clear_requests()
    salesforce_sim.admin.set_faults(next=["503_before", "503_before"], paths=["/query"])
    caplog.set_level(logging.WARNING, logger="common.http")
    result = extract_source("salesforce", make_settings(postgres_server, warehouse,
                                                        salesforce_sim), pipelines_dir=tmp_path)
    assert result.rows == {"product_property": 3}
    [session] = built.sessions
    log = salesforce_sim.admin.requests()
    # The token, two 503s, the page: every request the simulator saw was counted.
    assert [r["status"] for r in log] == [200, 503, 503, 200]
    assert session.requests_sent == len(log) == 4
    assert session.retries == 2
    assert len(built.backoffs) == 2
    assert sum("attempt 1 failed (HTTP 503" in r.getMessage() for r in caplog.records) == 1


def test_read_back_gives_up_once_after_the_configured_attempts(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path, built: Built,
) -> None:
    salesforce_sim.admin.load_records(FIXTURE)
    salesforce_sim.admin.clear_requests()
    salesforce_sim.admin.set_faults(next=["503_before"] * 5, paths=["/query"])
    settings = make_settings(postgres_server, warehouse, salesforce_sim, http_max_attempts=3)
    with pytest.raises(ExtractError) as caught:
        extract_source("salesforce", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_UNREACHABLE
    message = str(caught.value)
    assert "is unavailable: gave up after 3 attempts: HTTP 503" in message
    # No second retry layer on top: three attempts in all, not three times three.
    assert len(query_gets(salesforce_sim)) == 3 == built.sessions[0].requests_sent - 1


def test_read_back_waits_for_the_rate_limiter(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path, built: Built, monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    blocked: list[float] = []

    def fake_sleep(seconds: float) -> None:
        blocked.append(seconds)
        clock.ms += round(seconds * 1000)

    monkeypatch.setattr(pyrate_limiter.limiter, "sleep", fake_sleep)
    real = pipelines.policy_session
    monkeypatch.setattr(
        pipelines, "policy_session",
        lambda settings, api, **options: real(settings, api, clock=clock, **options),
    )
    salesforce_sim.admin.load_records(FIXTURE)
    settings = make_settings(postgres_server, warehouse, salesforce_sim, salesforce_max_rps=0.5)
    result = extract_source("salesforce", settings, pipelines_dir=tmp_path)
    assert result.rows == {"product_property": 3}
    # The token request goes at once; the query waits its two seconds.
    assert built.sessions[0].requests_sent == 2 and built.backoffs == []
    assert len(blocked) == 1 and 1.9 <= blocked[0] <= 2.1
