"""Integration fixtures: a real Salesforce simulator over HTTPS.

`salesforce_sim` gives each test its own simulator (fresh state database on the
session Postgres, free port, one CA per session) and stops it afterwards:

    def test_push(salesforce_sim):
        token = requests.post(f"{salesforce_sim.url}/services/oauth2/token", data={
            "grant_type": "client_credentials",
            "client_id": salesforce_sim.client_id,
            "client_secret": salesforce_sim.client_secret,
        }, verify=salesforce_sim.ca_bundle)
        salesforce_sim.admin.load_records([...])        # fixture records
        salesforce_sim.admin.set_faults(next=["drop_after"])
        ...
        assert salesforce_sim.admin.record_count() == 3

`settings_env()` returns the contract variables (SALESFORCE_INSTANCE_URL,
SALESFORCE_CLIENT_ID/SECRET, REQUESTS_CA_BUNDLE) for code that reads Settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.certs import ensure_certificates
from sandbox.salesforce import SalesforceSimulator
from sandbox.salesforce_admin import SalesforceAdmin
from tests.conftest import PostgresServer, free_port


@dataclass
class SalesforceSim:
    """What a test needs of a running simulator."""

    url: str
    client_id: str
    client_secret: str
    ca_bundle: str
    admin: SalesforceAdmin
    simulator: SalesforceSimulator
    dsn: str

    def settings_env(self) -> dict[str, str]:
        return {
            "SALESFORCE_INSTANCE_URL": self.url,
            "SALESFORCE_CLIENT_ID": self.client_id,
            "SALESFORCE_CLIENT_SECRET": self.client_secret,
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
        }


@pytest.fixture(scope="session")
def simulator_certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA and server certificate for the whole session (RSA keys take a moment)."""
    # pytest's own temp folder: it prunes old runs, so no certificate folder piles up.
    certs_dir = tmp_path_factory.mktemp("simulator-certs")
    ensure_certificates(certs_dir)
    return certs_dir


@pytest.fixture
def salesforce_sim(
    postgres_server: PostgresServer, simulator_certs_dir: Path
) -> Iterator[SalesforceSim]:
    database = postgres_server.create_database("sfsim")
    dsn = postgres_server.dsn(database)
    simulator = SalesforceSimulator(
        dsn, free_port(), simulator_certs_dir, "test-client-id", "test-client-secret"
    )
    simulator.start()
    ca_bundle = str(simulator_certs_dir / "ca.pem")
    try:
        yield SalesforceSim(
            url=simulator.url,
            client_id="test-client-id",
            client_secret="test-client-secret",
            ca_bundle=ca_bundle,
            admin=SalesforceAdmin(simulator.url, ca_bundle),
            simulator=simulator,
            dsn=dsn,
        )
    finally:
        simulator.stop()
        postgres_server.drop_database(database)
