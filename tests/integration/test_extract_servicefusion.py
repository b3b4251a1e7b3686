"""`python -m extract servicefusion` against the ServiceFusion simulator (HTTPS, real
paging, tokens and rate limit) and a fresh warehouse database, run in-process.

Expected values are the fixture records written below, or counts of what the test
itself loaded into the simulator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.http import PolicySession, policy_session
from common.settings import Settings
from extract import pipelines
from extract.pipelines import EXIT_CONFIG, EXIT_UNREACHABLE, ExtractError, extract_source
from sandbox.servicefusion import ServiceFusionSimulator
from sandbox.servicefusion_admin import ServiceFusionAdmin
from tests.conftest import PostgresServer, free_port

pytestmark = pytest.mark.integration

CLIENT_ID, CLIENT_SECRET = "sf-test-client", "-sf-test-secret"
JOBS = 120  # three pages of 50
FIRST_UPDATE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def updated(n: int) -> dt.datetime:
    """Job n was last changed n hours after FIRST_UPDATE."""
    return FIRST_UPDATE + dt.timedelta(hours=n)


@dataclass
class ServiceFusionSim:
    url: str
    ca_bundle: str
    admin: ServiceFusionAdmin


@pytest.fixture
def sf(postgres_server: PostgresServer, simulator_certs_dir: Path
       ) -> Iterator[ServiceFusionSim]:
    """A simulator per test: its own database on the session Postgres, a free port."""
    database = postgres_server.create_database("sfusim")
    simulator = ServiceFusionSimulator(postgres_server.dsn(database), free_port(),
                                       simulator_certs_dir, CLIENT_ID, CLIENT_SECRET)
    simulator.start()
    ca_bundle = str(simulator_certs_dir / "ca.pem")
    try:
        yield ServiceFusionSim(simulator.url, ca_bundle,
                               ServiceFusionAdmin(simulator.url, ca_bundle))
    finally:
        simulator.stop()
        postgres_server.drop_database(database)


@pytest.fixture
def warehouse(fresh_database: str) -> str:
    return fresh_database


def make_settings(server: PostgresServer, warehouse_dsn: str, sim: ServiceFusionSim,
                  **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "pghost": server.host, "pgport": server.port, "pguser": server.user,
        "pgpassword": server.password, "pgdatabase": warehouse_dsn.rsplit("/", 1)[-1],
        "servicefusion_base_url": sim.url, "servicefusion_client_id": CLIENT_ID,
        "servicefusion_client_secret": CLIENT_SECRET, "requests_ca_bundle": sim.ca_bundle,
        "servicefusion_max_rps": 200.0, "http_max_attempts": 4,
        "http_backoff_initial_s": 0.05,
    }
    values.update(overrides)
    return Settings.from_env(values)


def load_fixtures(sim: ServiceFusionSim, jobs: int = JOBS) -> list[int]:
    """Two customers (one with two contacts, phones, an email and two locations, one
    bare) and `jobs` jobs alternating between them; returns the customer ids."""
    sim.admin.configure(rate_limit=1000)  # the default 60/min would slow the tests
    ids = sim.admin.load_customers([
        {"customer_name": "Capitol Row Residential", "account_number": "CR-1",
         "contacts": [
             {"fname": "Ana", "lname": "Diaz", "is_primary": True,
              "phones": [{"phone": "555-123-4567", "type": "Mobile"},
                         {"phone": "555-123-0000", "type": "Office"}],
              "emails": [{"email": "ana@example.com"}]},
             {"fname": "Ben", "lname": "Ng"},
         ],
         "locations": [
             {"street_1": "1 Main St", "city": "Austin", "state_prov": "TX",
              "postal_code": "78701"},
             {"street_1": "9 Oak Ave", "city": "Austin", "state_prov": "TX",
              "postal_code": "78702"},
         ]},
        {"customer_name": "Lakeside Homes"},
    ])
    sim.admin.load_jobs([
        {"customer_name": str(ids[n % 2]), "description": f"job {n}",
         "po_number": f"PO-{n:04d}", "category": "Plumbing",
         "updated_at": updated(n).isoformat()}
        for n in range(jobs)
    ])
    return ids


def query(dsn: str, sql: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return conn.execute(sql).fetchall()


def token_requests(sim: ServiceFusionSim) -> int:
    return sum(1 for r in sim.admin.requests() if r["path"].endswith("/oauth/access_token"))


def test_every_record_lands_once_with_its_nested_rows(
    sf: ServiceFusionSim, postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
) -> None:
    ids = load_fixtures(sf)
    result = extract_source("servicefusion", make_settings(postgres_server, warehouse, sf),
                            pipelines_dir=tmp_path)
    assert result.rows == {
        "customers": 2, "customers__contacts": 2, "customers__contacts__phones": 2,
        "customers__contacts__emails": 1, "customers__locations": 2, "jobs": JOBS,
        "job_statuses": 13, "job_categories": 10, "techs": 4,
    }
    jobs = query(warehouse, "select count(*) n, count(distinct id) d, min(updated_at) lo,"
                            " max(updated_at) hi from raw_servicefusion.jobs")[0]
    assert (jobs["n"], jobs["d"]) == (JOBS, JOBS)
    assert (jobs["lo"], jobs["hi"]) == (FIRST_UPDATE, updated(JOBS - 1))
    contacts = query(warehouse, "select customer_id, fname from raw_servicefusion."
                                "customers__contacts order by _dlt_list_idx")
    assert contacts == [{"customer_id": ids[0], "fname": "Ana"},
                        {"customer_id": ids[0], "fname": "Ben"}]
    phones = query(warehouse, "select p.phone, c.fname from raw_servicefusion."
                              "customers__contacts__phones p join raw_servicefusion."
                              "customers__contacts c on p._dlt_parent_id = c._dlt_id"
                              " order by p.phone")
    assert phones == [{"phone": "555-123-0000", "fname": "Ana"},
                      {"phone": "555-123-4567", "fname": "Ana"}]
    locations = query(warehouse, "select l.customer_id, l.street_1 from raw_servicefusion."
                                 "customers__locations l join raw_servicefusion.customers c"
                                 " on l._dlt_parent_id = c._dlt_id and l.customer_id = c.id"
                                 " order by l.street_1")
    assert locations == [{"customer_id": ids[0], "street_1": "1 Main St"},
                         {"customer_id": ids[0], "street_1": "9 Oak Ave"}]
    # Optional fields null in every record still get their typed columns.
    typed = query(warehouse, "select table_name t, column_name c, data_type d from"
                             " information_schema.columns where table_schema ="
                             " 'raw_servicefusion' and column_name in ('sub_status',"
                             " 'duration', 'latitude', 'types_accepted', 'agent') order by 1, 2")
    assert [(r["t"], r["c"], r["d"]) for r in typed] == [
        ("customers", "agent", "character varying"),
        ("customers__contacts__emails", "types_accepted", "character varying"),
        ("customers__locations", "latitude", "double precision"),
        ("jobs", "duration", "bigint"),
        ("jobs", "sub_status", "character varying"),
    ]
    # One token for the whole run; three job pages, then no page past the end.
    assert token_requests(sf) == 1
    job_pages = [r["query"].get("page") for r in sf.admin.requests() if r["path"] == "/v1/jobs"]
    assert job_pages == ["1", "2", "3"]


def test_incremental_jobs_and_a_technicians_status_change(
    sf: ServiceFusionSim, postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
) -> None:
    load_fixtures(sf)
    settings = make_settings(postgres_server, warehouse, sf)
    extract_source("servicefusion", settings, pipelines_dir=tmp_path)
    sf.admin.clear_requests()

    again = extract_source("servicefusion", settings, pipelines_dir=tmp_path)
    assert again.rows["jobs"] == 0
    # Only the newest job matches `gte` the watermark; dlt drops it as already loaded.
    (jobs_get,) = [r for r in sf.admin.requests() if r["path"] == "/v1/jobs"]
    assert jobs_get["query"]["filters[updated_date][gte]"] == updated(JOBS - 1).isoformat()

    job_id = sf.admin.jobs()[7]["id"]
    sf.admin.set_job_status(job_id, "Completed", at="2025-02-03T08:00:00+00:00")
    sf.admin.clear_requests()
    changed = extract_source("servicefusion", settings, pipelines_dir=tmp_path)
    assert changed.rows["jobs"] == 1
    (jobs_get,) = [r for r in sf.admin.requests() if r["path"] == "/v1/jobs"]
    assert jobs_get["query"]["filters[updated_date][gte]"] == updated(JOBS - 1).isoformat()
    rows = query(warehouse, f"select status, closed_at, updated_at from raw_servicefusion.jobs"
                            f" where id = {job_id}")
    assert len(rows) == 1
    assert rows[0]["status"] == "Completed"
    assert rows[0]["closed_at"] is not None
    assert rows[0]["updated_at"].isoformat() == "2025-02-03T08:00:00+00:00"
    total = query(warehouse, "select count(*) n from raw_servicefusion.jobs")[0]["n"]
    assert total == JOBS

    # A full refresh forgets the watermark and reloads every job into emptied tables.
    sf.admin.clear_requests()
    refreshed = extract_source("servicefusion", settings, full_refresh=True,
                               pipelines_dir=tmp_path)
    assert refreshed.rows["jobs"] == JOBS
    assert all("filters[updated_date][gte]" not in r["query"]
               for r in sf.admin.requests() if r["path"] == "/v1/jobs")
    counts = query(warehouse, "select (select count(*) from raw_servicefusion.jobs) j,"
                              " (select count(*) from raw_servicefusion.customers__contacts) c")
    assert counts == [{"j": JOBS, "c": 2}]


def test_an_expired_token_mid_run_gets_one_new_token(
    sf: ServiceFusionSim, postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_fixtures(sf)
    sent: list[str] = []

    def expiring_session(settings: Settings, api: str) -> PolicySession:
        session = policy_session(settings, api)
        send = session.send

        def send_and_expire(request: Any, **kwargs: Any) -> Any:
            response = send(request, **kwargs)
            sent.append(str(request.url))
            if len(sent) == 3:  # the token, customers, the first page of jobs
                sf.admin.expire_tokens()
            return response

        session.send = send_and_expire  # type: ignore[method-assign]
        return session

    monkeypatch.setattr(pipelines, "policy_session", expiring_session)
    result = extract_source("servicefusion", make_settings(postgres_server, warehouse, sf),
                            pipelines_dir=tmp_path)
    assert result.rows["jobs"] == JOBS
    assert token_requests(sf) == 2
    statuses = [r["status"] for r in sf.admin.requests() if r["path"].startswith("/v1/")]
    assert statuses.count(401) == 1


def test_429s_without_retry_after_are_retried(
    sf: ServiceFusionSim, postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
) -> None:
    load_fixtures(sf)
    # The simulator's own limiter answers with exactly these 429s (same body, no
    # Retry-After); queued, so the test does not hang on the machine's speed.
    sf.admin.set_faults(next=["429", "429", "429"], paths=["/v1/"])
    settings = make_settings(postgres_server, warehouse, sf, http_max_attempts=10)
    result = extract_source("servicefusion", settings, pipelines_dir=tmp_path)
    assert result.rows["jobs"] == JOBS
    statuses = [r["status"] for r in sf.admin.requests() if r["path"].startswith("/v1/")]
    assert statuses.count(429) == 3
    # Customers, three job pages and three reference lists answered once each.
    assert statuses.count(200) == 7


def test_wrong_secret_is_one_line_exit_2(
    sf: ServiceFusionSim, postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
) -> None:
    settings = make_settings(postgres_server, warehouse, sf,
                             servicefusion_client_secret="wrong-secret")
    with pytest.raises(ExtractError) as caught:
        extract_source("servicefusion", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_CONFIG
    message = str(caught.value)
    assert "\n" not in message
    assert "invalid_client" in message
    assert "wrong-secret" not in message


def test_missing_credentials_are_named(
    postgres_server: PostgresServer, tmp_path: Path,
) -> None:
    settings = Settings.from_env({"servicefusion_client_id": "", "servicefusion_client_secret": ""})
    with pytest.raises(ExtractError) as caught:
        extract_source("servicefusion", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_CONFIG
    assert str(caught.value) == "SERVICEFUSION_CLIENT_ID, SERVICEFUSION_CLIENT_SECRET not set"


def test_rate_limit_exhausted_is_exit_3(
    sf: ServiceFusionSim, postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
) -> None:
    load_fixtures(sf)
    sf.admin.configure(rate_limit=1, rate_window_s=3600)  # one request, then only 429s
    settings = make_settings(postgres_server, warehouse, sf, http_max_attempts=2)
    with pytest.raises(ExtractError) as caught:
        extract_source("servicefusion", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert str(caught.value).startswith(f"servicefusion: ServiceFusion at {sf.url} is unavailable")
    assert "429" in str(caught.value) and "\n" not in str(caught.value)


def test_unreachable_service_is_exit_3(
    postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
) -> None:
    dead = ServiceFusionSim(f"https://127.0.0.1:{free_port()}", "", ServiceFusionAdmin("", None))
    settings = make_settings(postgres_server, warehouse, dead, requests_ca_bundle=None,
                             http_max_attempts=1)
    with pytest.raises(ExtractError) as caught:
        extract_source("servicefusion", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert f"ServiceFusion at {dead.url} is unreachable" in str(caught.value)
