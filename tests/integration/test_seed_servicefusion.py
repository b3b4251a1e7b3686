"""`python -m sandbox seed servicefusion` and `seed workorders` against real simulators:
the generated fixtures load (the API's own validation), replace what the simulator
held, and line up with the PropertyWare data the same options generate; extracted by
the real dlt pipelines, they pass the `workorders` data-quality gate."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from common.settings import Settings
from extract.pipelines import extract_source
from reverse_etl import registry
from reverse_etl.quality import run_gate
from sandbox.generate.cli import app
from sandbox.generate.propertyware import generate_propertyware
from sandbox.generate.servicefusion import generate_servicefusion
from sandbox.propertyware import PropertyWareSimulator
from sandbox.propertyware_admin import PropertyWareAdmin
from sandbox.servicefusion import ServiceFusionSimulator
from sandbox.servicefusion_admin import ServiceFusionAdmin
from tests.conftest import PostgresServer, free_port

pytestmark = pytest.mark.integration

SF_ID, SF_SECRET = "sf-seed-id", "sf-seed-secret"
PW_USER, PW_PASSWORD = "pw-seed-user", "pw-seed-password"


@pytest.fixture
def servicefusion_url(postgres_server: PostgresServer, simulator_certs_dir: Path
                      ) -> Iterator[str]:
    database = postgres_server.create_database("sfseed")
    simulator = ServiceFusionSimulator(postgres_server.dsn(database), free_port(),
                                       simulator_certs_dir, SF_ID, SF_SECRET)
    simulator.start()
    try:
        yield simulator.url
    finally:
        simulator.stop()
        postgres_server.drop_database(database)


@pytest.fixture
def propertyware_url(postgres_server: PostgresServer, simulator_certs_dir: Path
                     ) -> Iterator[str]:
    database = postgres_server.create_database("pwseed")
    simulator = PropertyWareSimulator(postgres_server.dsn(database), free_port(),
                                      simulator_certs_dir, PW_USER, PW_PASSWORD)
    simulator.start()
    try:
        yield simulator.url
    finally:
        simulator.stop()
        postgres_server.drop_database(database)


def test_seed_servicefusion_replaces_customers_and_jobs(
    servicefusion_url: str, simulator_certs_dir: Path
) -> None:
    ca = str(simulator_certs_dir / "ca.pem")
    admin = ServiceFusionAdmin(servicefusion_url, ca)
    admin.load_customers([{"customer_name": "Left over from an earlier run"}])
    args = ["servicefusion", "--buildings", "20", "--seed", "7",
            "--url", servicefusion_url, "--ca-bundle", ca]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    expected = generate_servicefusion(generate_propertyware(buildings=20, seed=7), seed=7)
    assert admin.counts() == {"customers": len(expected.customers),
                              "jobs": len(expected.jobs)}
    assert "4 exact (PW-B-)" in result.output and "2 for review" in result.output
    customers = {c["id"]: c for c in admin.customers()}
    assert "Left over from an earlier run" not in {c["customer_name"] for c in customers.values()}
    for fixture in expected.customers:
        stored = customers[fixture["id"]]
        assert stored["customer_name"] == fixture["customer_name"]
        assert stored.get("account_number") == fixture.get("account_number")
        assert stored["created_at"] == fixture["created_at"]
        assert len(stored["locations"]) == len(fixture.get("locations", []))
        assert len(stored["contacts"]) == len(fixture.get("contacts", []))
    for building_id in expected.expected["customer_exact"]:
        stored = customers[expected.candidates[building_id]]
        assert stored["account_number"] == f"PW-B-{building_id}"
        assert stored["fully_qualified_name"].endswith(":" + stored["customer_name"])
    jobs = {j["id"]: j for j in admin.jobs()}
    for order_id, (_, status) in expected.status_changes.items():
        assert jobs[expected.candidates[order_id]]["status"] == status
    for order_id in expected.expected["job_exact_in_step"]:
        job = jobs[expected.candidates[order_id]]
        assert job["po_number"] and job["customer_id"] in customers
    # Seeding again gives the same state, ids included.
    assert CliRunner().invoke(app, args).exit_code == 0
    assert sorted(customers) == sorted(c["id"] for c in admin.customers())


def test_seed_workorders_seeds_both_simulators_consistently(
    propertyware_url: str, servicefusion_url: str, simulator_certs_dir: Path
) -> None:
    ca = str(simulator_certs_dir / "ca.pem")
    result = CliRunner().invoke(app, [
        "workorders", "--buildings", "12", "--seed", "3",
        "--propertyware-url", propertyware_url, "--servicefusion-url", servicefusion_url,
        "--ca-bundle", ca,
    ])
    assert result.exit_code == 0, result.output
    pw = generate_propertyware(buildings=12, seed=3)
    sf = generate_servicefusion(pw, seed=3)
    assert PropertyWareAdmin(propertyware_url, ca).counts()["Building"] == 12
    stored = ServiceFusionAdmin(servicefusion_url, ca).customers()
    numbers = {c["account_number"] for c in stored if c["account_number"]}
    assert numbers == {f"PW-B-{b}" for b in sf.expected["customer_exact"]} | {
        f"PW-P-{p}" for p in sf.expected["parent_exact"]}
    building_ids = {b["ID"] for b in pw.buildings}
    assert set(sf.expected["customer_exact"]) <= building_ids


def test_unreachable_simulator_is_one_line(simulator_certs_dir: Path) -> None:
    result = CliRunner().invoke(app, [
        "servicefusion", "--buildings", "5", "--url", f"https://127.0.0.1:{free_port()}",
        "--ca-bundle", str(simulator_certs_dir / "ca.pem"),
    ])
    assert result.exit_code == 3
    assert "unreachable" in result.output and "Traceback" not in result.output


def test_seeded_simulators_extract_and_pass_the_workorders_gate(
    propertyware_url: str, servicefusion_url: str, simulator_certs_dir: Path,
    postgres_server: PostgresServer, fresh_database: str, tmp_path: Path,
) -> None:
    ca = str(simulator_certs_dir / "ca.pem")
    result = CliRunner().invoke(app, [
        "workorders", "--buildings", "8", "--seed", "5", "--propertyware-url",
        propertyware_url, "--servicefusion-url", servicefusion_url, "--ca-bundle", ca,
    ])
    assert result.exit_code == 0, result.output
    ServiceFusionAdmin(servicefusion_url, ca).configure(rate_limit=1000)
    settings = Settings.from_env({
        "pghost": postgres_server.host, "pgport": postgres_server.port,
        "pguser": postgres_server.user, "pgpassword": postgres_server.password,
        "pgdatabase": fresh_database.rsplit("/", 1)[-1], "requests_ca_bundle": ca,
        "propertyware_wsdl_url": f"{propertyware_url}/pw/services/PWServices?wsdl",
        "propertyware_username": PW_USER, "propertyware_password": PW_PASSWORD,
        "propertyware_max_rps": 1000.0, "servicefusion_base_url": servicefusion_url,
        "servicefusion_client_id": SF_ID, "servicefusion_client_secret": SF_SECRET,
        "servicefusion_max_rps": 1000.0, "quality_gx_root": tmp_path,
    })
    for source in ("propertyware", "servicefusion"):
        extract_source(source, settings, pipelines_dir=tmp_path / "dlt")
    pw = generate_propertyware(buildings=8, seed=5)
    sf = generate_servicefusion(pw, seed=5)
    with psycopg.connect(fresh_database) as conn:
        landed = conn.execute(
            "select (select count(*) from raw_propertyware.work_orders),"
            " (select count(*) from raw_servicefusion.customers),"
            " (select count(*) from raw_servicefusion.jobs),"
            " (select count(*) from raw_servicefusion.jobs j join raw_propertyware.work_orders w"
            "  on j.po_number = w.number::text)"
        ).fetchone()
    po_jobs = len(sf.expected["job_exact_in_step"]) + len(
        sf.expected["job_exact_status_differs"])
    assert landed == (len(pw.work_orders), len(sf.customers), len(sf.jobs), po_jobs)
    # The gate of the slice's syncs, on what dlt really landed.
    sync = replace(registry.by_name("salesforce.properties.create"), destination="servicefusion",
                   entity="jobs", view="raw_servicefusion.jobs", gate="workorders")
    gate = run_gate(settings, sync, max_rows=None)
    assert gate.ok, gate.summary
