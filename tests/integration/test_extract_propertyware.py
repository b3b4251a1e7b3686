"""`python -m extract propertyware` against the PropertyWare SOAP simulator (HTTPS, real
paging, faults, request log) and a fresh warehouse database, run in-process.

Expected values come from the simulator's own state (its admin API), which the
generated data (`sandbox.generate.propertyware`) was loaded into.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from typer.testing import CliRunner

from common.http import PolicySession
from common.settings import Settings
from extract import pipelines
from extract.__main__ import app
from extract.pipelines import EXIT_CONFIG, EXIT_UNREACHABLE, ExtractError, extract_source
from extract.propertyware import AUTH_MESSAGE, TABLES
from sandbox.generate.propertyware import generate_propertyware
from sandbox.propertyware import SERVICE_PATH, PropertyWareSimulator
from sandbox.propertyware_admin import PropertyWareAdmin
from tests.conftest import PostgresServer, free_port

pytestmark = pytest.mark.integration

USER, PASSWORD = "api-user@org-4711", "pw-secret-4711"
# Admin collection and simulator kind of each landed table.
COLLECTIONS = {
    "portfolios": ("portfolios", "Portfolio"), "buildings": ("buildings", "Building"),
    "units": ("units", "Unit"), "leases": ("leases", "Lease"),
    "vendors": ("vendors", "Vendor"), "work_orders": ("workOrders", "WorkOrder"),
}
# Tables read whole on every run (their operations take no criteria).
UNFILTERED = ("portfolios", "vendors")


@dataclass
class PwSim:
    url: str
    ca_bundle: str
    admin: PropertyWareAdmin


@pytest.fixture
def pw_sim(postgres_server: PostgresServer, simulator_certs_dir: Path) -> Iterator[PwSim]:
    """A simulator of its own per test (state database, port), as in
    tests/integration/test_propertyware_simulator.py."""
    database = postgres_server.create_database("pwsim")
    simulator = PropertyWareSimulator(
        postgres_server.dsn(database), free_port(), simulator_certs_dir, USER, PASSWORD
    )
    simulator.start()
    ca_bundle = str(simulator_certs_dir / "ca.pem")
    try:
        yield PwSim(simulator.url, ca_bundle, PropertyWareAdmin(simulator.url, ca_bundle))
    finally:
        simulator.stop()
        postgres_server.drop_database(database)


@pytest.fixture
def warehouse(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database("wh")
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def make_settings(
    server: PostgresServer, warehouse: str, sim: PwSim, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "pghost": server.host,
        "pgport": server.port,
        "pguser": server.user,
        "pgpassword": server.password,
        "pgdatabase": warehouse,
        "propertyware_wsdl_url": f"{sim.url}{SERVICE_PATH}?wsdl",
        "propertyware_username": USER,
        "propertyware_password": PASSWORD,
        "requests_ca_bundle": sim.ca_bundle,
        "propertyware_max_rps": 1000.0,
        "http_max_attempts": 4,
        "http_backoff_initial_s": 0.05,
    }
    values.update(overrides)
    return Settings.from_env(values)  # type: ignore[call-arg]


def query(server: PostgresServer, warehouse: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(server.dsn(warehouse)) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def table_counts(server: PostgresServer, warehouse: str) -> dict[str, tuple[int, int]]:
    """(rows, distinct ids) of every landed table."""
    return {
        table: query(server, warehouse,
                     f"select count(*), count(distinct id) from raw_propertyware.{table}")[0]
        for table in TABLES
    }


def column_types(server: PostgresServer, warehouse: str, table: str) -> dict[str, str]:
    return dict(query(server, warehouse,  # type: ignore[arg-type]
                      "select column_name, data_type from information_schema.columns"
                      f" where table_schema = 'raw_propertyware' and table_name = '{table}'"))


def iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat().replace(
        "+00:00", "Z")


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[requests.Response]:
    """Every final response of the source's policy session (its request included)."""
    responses: list[requests.Response] = []
    real = pipelines.policy_session

    def recording(*args: Any, **kwargs: Any) -> PolicySession:
        session = real(*args, **kwargs)
        session.hooks["response"].append(lambda response, **_: responses.append(response))
        return session

    monkeypatch.setattr(pipelines, "policy_session", recording)
    return responses


def test_loads_everything_then_only_what_changed(
    pw_sim: PwSim, postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
) -> None:
    data = generate_propertyware(buildings=12, seed=3)
    pw_sim.admin.load(data.fixture())
    settings = make_settings(postgres_server, warehouse, pw_sim)
    stored = {table: pw_sim.admin.objects(collection)
              for table, (collection, _) in COLLECTIONS.items()}

    first = extract_source("propertyware", settings, pipelines_dir=tmp_path)
    assert first.dataset == "raw_propertyware"
    assert first.rows == {table: len(objects) for table, objects in stored.items()}
    assert table_counts(postgres_server, warehouse) == {
        table: (len(objects), len(objects)) for table, objects in stored.items()
    }

    # Field values, for every work order: text as PropertyWare holds it (stray spaces
    # kept), numbers, times, and the ID lists as child tables.
    rows = query(postgres_server, warehouse,
                 "select id, number, status, priority, building, portfolio, lease,"
                 " created_date, completed_date, cost_estimate"
                 " from raw_propertyware.work_orders order by id")
    assert [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], iso(r[7]), iso(r[8]), r[9])
            for r in rows] == [
        (w["ID"], w["number"], w["status"], w["priority"], w["building"], w["portfolio"],
         w.get("lease"), w["createdDate"], w.get("completedDate"), w.get("costEstimate"))
        for w in stored["work_orders"]
    ]
    assert any(status != status.strip() for (status,) in query(
        postgres_server, warehouse, "select status from raw_propertyware.work_orders"))
    unit_links = query(postgres_server, warehouse,
                       "select w.id, u.value from raw_propertyware.work_orders w"
                       " join raw_propertyware.work_orders__unit_ids u"
                       " on u._dlt_parent_id = w._dlt_id order by w.id, u._dlt_list_idx")
    assert unit_links == [(w["ID"], unit) for w in stored["work_orders"] for unit in w["unitIDs"]]
    tenants = query(postgres_server, warehouse,
                    "select lease_id, id from raw_propertyware.leases__tenants"
                    " order by lease_id, _dlt_list_idx")
    assert tenants == [(lease["ID"], tenant) for lease in stored["leases"]
                       for tenant in lease["tenantIDs"]]
    units = query(postgres_server, warehouse,
                  "select id, building_id, name from raw_propertyware.units order by id")
    assert units == [(u["ID"], u["buildingID"], u["name"]) for u in stored["units"]]
    # A column exists, typed, even where every value is null (no contact of these has an
    # address2), in flattened beans and child tables too; Building.units is not landed.
    assert column_types(postgres_server, warehouse, "leases")["primary_contact__address2"] == (
        "character varying")
    tenant_columns = column_types(postgres_server, warehouse, "leases__tenants")
    assert (tenant_columns["address2"], tenant_columns["lease_id"]) == (
        "character varying", "bigint")
    work_order_columns = column_types(postgres_server, warehouse, "work_orders")
    assert work_order_columns["completed_date"] == "timestamp with time zone"
    assert work_order_columns["cost_estimate"] == "double precision"
    assert column_types(postgres_server, warehouse, "work_orders__vendor_ids")["value"] == (
        "bigint")
    assert "units" not in column_types(postgres_server, warehouse, "buildings")

    # Nothing changed: only the unfiltered lists come again, merged onto their rows.
    second = extract_source("propertyware", settings, pipelines_dir=tmp_path)
    assert second.rows == {
        table: len(stored[table]) if table in UNFILTERED else 0 for table in TABLES
    }
    assert table_counts(postgres_server, warehouse) == {
        table: (len(objects), len(objects)) for table, objects in stored.items()
    }

    # An edit in PropertyWare (stamped modified now): exactly that row comes again.
    target = stored["work_orders"][3]
    pw_sim.admin.edit("workOrders", target["ID"], {"status": "Dispatched"})
    third = extract_source("propertyware", settings, pipelines_dir=tmp_path)
    assert third.rows["work_orders"] == 1
    assert {t: n for t, n in third.rows.items() if t not in UNFILTERED} == {
        "buildings": 0, "units": 0, "leases": 0, "work_orders": 1,
    }
    statuses = dict(query(postgres_server, warehouse,
                          "select id, status from raw_propertyware.work_orders"))
    assert statuses == {
        w["ID"]: "Dispatched" if w["ID"] == target["ID"] else w["status"]
        for w in stored["work_orders"]
    }
    assert table_counts(postgres_server, warehouse)["work_orders"] == (
        len(stored["work_orders"]), len(stored["work_orders"]))
    # Its child rows were replaced, not doubled.
    assert query(postgres_server, warehouse,
                 "select count(*) from raw_propertyware.work_orders__unit_ids")[0][0] == len(
        [u for w in stored["work_orders"] for u in w["unitIDs"]])


def test_resets_and_a_soap_fault_are_survived_politely(
    pw_sim: PwSim, postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
    recorded: list[requests.Response],
) -> None:
    data = generate_propertyware(buildings=8, seed=5)
    pw_sim.admin.load(data.fixture())
    # Every request on a reused connection is reset; one Axis fault on the first read.
    pw_sim.admin.set_faults(rate=1.0, kinds=["reset_on_reuse"], next=["soap_fault"])
    max_rps = 5.0
    settings = make_settings(postgres_server, warehouse, pw_sim, propertyware_max_rps=max_rps)

    result = extract_source("propertyware", settings, pipelines_dir=tmp_path)
    assert result.rows == {table: n for table, n in (
        ("portfolios", len(data.portfolios)), ("buildings", len(data.buildings)),
        ("units", len(data.units)), ("leases", len(data.leases)),
        ("vendors", len(data.vendors)), ("work_orders", len(data.work_orders)),
    )}
    log = pw_sim.admin.requests()
    assert [e["fault"] for e in log if e["fault"]] == ["soap_fault"]
    faulted = next(e for e in log if e["fault"])
    assert faulted["status"] == 500
    retried = log[log.index(faulted) + 1]
    assert (retried["operation"], retried["status"]) == (faulted["operation"], 200)
    assert all(e["status"] in (200, 500) for e in log)
    assert not any(e["reused_connection"] for e in log)  # so never reset

    # Connection: close on every request sent, the WSDL download included, and the
    # server's answer confirms it. (The hook sees final answers: not the retried 500.)
    assert [r.request.method for r in recorded] == ["GET"] + ["POST"] * (len(log) - 1)
    assert all(r.request.headers.get("Connection") == "close" for r in recorded)
    assert all(r.headers.get("Connection") == "close" for r in recorded)

    # The rate: no window of one second holds more than max_rps requests (the
    # server's clock, a little slack for the time between sending and logging).
    times = [dt.datetime.fromisoformat(e["at"]) for e in log]
    window = int(max_rps)
    assert len(times) > window
    gaps = [(later - earlier).total_seconds()
            for earlier, later in zip(times, times[window:], strict=False)]
    assert min(gaps) > 0.9, gaps


def test_wrong_password_is_one_line_and_exit_2(
    pw_sim: PwSim, postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
) -> None:
    settings = make_settings(postgres_server, warehouse, pw_sim,
                             propertyware_password="not-the-password")
    with pytest.raises(ExtractError) as caught:
        extract_source("propertyware", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_CONFIG
    assert str(caught.value) == AUTH_MESSAGE
    # 401 is an answer, not a failure worth retrying.
    assert [e["status"] for e in pw_sim.admin.requests()] == [401]


def test_missing_variables_are_named(
    postgres_server: PostgresServer, warehouse: str, tmp_path: Path
) -> None:
    settings = Settings.from_env({  # type: ignore[call-arg]
        "pghost": postgres_server.host, "pgport": postgres_server.port,
        "pgdatabase": warehouse, "propertyware_wsdl_url": "",
        "propertyware_username": "someone", "propertyware_password": "",
    })
    with pytest.raises(ExtractError) as caught:
        extract_source("propertyware", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_CONFIG
    assert str(caught.value) == "PROPERTYWARE_WSDL_URL, PROPERTYWARE_PASSWORD not set"


def test_unreachable_service_is_exit_3(
    postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
    simulator_certs_dir: Path,
) -> None:
    url = f"https://127.0.0.1:{free_port()}{SERVICE_PATH}?wsdl"  # nobody listens
    sim = PwSim(url="", ca_bundle=str(simulator_certs_dir / "ca.pem"),
                admin=PropertyWareAdmin("https://127.0.0.1:1", None))
    settings = make_settings(postgres_server, warehouse, sim, propertyware_wsdl_url=url,
                             http_max_attempts=2)
    with pytest.raises(ExtractError) as caught:
        extract_source("propertyware", settings, pipelines_dir=tmp_path)
    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert str(caught.value).startswith(
        f"propertyware: PropertyWare at {url.split('?')[0]} is unreachable")


def test_cli_runs_it_and_all_goes_on_past_unconfigured_sources(
    pw_sim: PwSim, postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = generate_propertyware(buildings=3, seed=1)
    pw_sim.admin.load(data.fixture())
    for name in ("RDS_DATABASE_URL", "SALESFORCE_INSTANCE_URL", "SERVICEFUSION_CLIENT_ID",
                 "SERVICEFUSION_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        **postgres_server.env(warehouse),
        "PROPERTYWARE_WSDL_URL": f"{pw_sim.url}{SERVICE_PATH}?wsdl",
        "PROPERTYWARE_USERNAME": USER,
        "PROPERTYWARE_PASSWORD": PASSWORD,
        "PROPERTYWARE_MAX_RPS": "1000",
        "REQUESTS_CA_BUNDLE": pw_sim.ca_bundle,
        "SANDBOX_DIR": str(tmp_path / "sandbox"),  # no sandbox.env of the developer
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    alone = runner.invoke(app, ["propertyware"])
    assert alone.exit_code == 0, alone.output
    total = sum(data.counts()[c] for c, _ in COLLECTIONS.values())
    assert f"propertyware: {total} rows merged into" in alone.output
    assert "raw_propertyware" in alone.output
    assert (tmp_path / "dlt" / "pipelines" / "propertyware_to_warehouse").is_dir()

    everything = runner.invoke(app, ["all"])
    assert everything.exit_code == EXIT_CONFIG  # rds is not configured; the others ran
    assert "RDS_DATABASE_URL is not set" in everything.output
    unfiltered = len(data.portfolios) + len(data.vendors)
    assert f"propertyware: {unfiltered} rows merged into" in everything.output
    assert "Traceback" not in everything.output
    assert PASSWORD not in everything.output
