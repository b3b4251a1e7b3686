"""The harnesses of the conformance suite, one entry per destination.

A destination joins the suite by implementing `DestinationHarness` (harness.py)
against its simulator and adding its `HarnessEntry` to `HARNESSES`: every test of
test_destination_conformance.py then runs against it, with the entry's id.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conformance.harness import Bench, DestinationHarness, HarnessEntry
from tests.conformance.propertyware import (  # noqa: F401 (the simulator's fixture)
    PropertyWareHarness,
    propertyware_sim,
)
from tests.conformance.salesforce import SalesforceHarness
from tests.conformance.salesforce_bulk import SalesforceBulkHarness
from tests.conformance.servicefusion import (  # noqa: F401 (the simulator's fixture)
    ServiceFusionHarness,
    servicefusion_sim,
)
from tests.conformance.supabase import (  # noqa: F401 (the target's fixture)
    SupabaseHarness,
    supabase_target,
)

# The simulators' fixtures live with the integration tests; importing them here makes
# them visible to this folder too (pytest resolves fixtures by conftest folder).
from tests.integration.conftest import (  # noqa: F401
    salesforce_sim,
    simulator_certs_dir,
)

salesforce = HarnessEntry(
    destination="salesforce", simulator_fixture="salesforce_sim", make=SalesforceHarness
)

# The same destination above SALESFORCE_BULK_THRESHOLD: Bulk API 2.0 ingest jobs.
salesforce_bulk = HarnessEntry(
    destination="salesforce", simulator_fixture="salesforce_sim", make=SalesforceBulkHarness
)

servicefusion = HarnessEntry(
    destination="servicefusion",
    simulator_fixture="servicefusion_sim",
    make=ServiceFusionHarness,
)

propertyware = HarnessEntry(
    destination="propertyware",
    simulator_fixture="propertyware_sim",
    make=PropertyWareHarness,
)

supabase = HarnessEntry(
    destination="supabase", simulator_fixture="supabase_target", make=SupabaseHarness
)

HARNESSES: list[HarnessEntry] = [salesforce, salesforce_bulk, servicefusion, propertyware,
                                 supabase]
HARNESS_IDS = ["salesforce", "salesforce_bulk", "servicefusion", "propertyware", "supabase"]


@pytest.fixture(autouse=True)
def no_developer_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings read `<SANDBOX_DIR>/sandbox.env`; a developer's must not leak in."""
    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path / "no-sandbox"))


@pytest.fixture(params=HARNESSES, ids=HARNESS_IDS)
def harness(request: pytest.FixtureRequest) -> DestinationHarness:
    """One destination's harness on a fresh simulator of its own."""
    entry: HarnessEntry = request.param
    return entry.make(request.getfixturevalue(entry.simulator_fixture))


@pytest.fixture
def bench(harness: DestinationHarness, fresh_database: str, tmp_path: Path) -> Iterator[Bench]:
    """The harness with a fresh warehouse holding its (empty) sync views."""
    conn: psycopg.Connection[Any]
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        harness.create_views(conn)
        yield Bench(harness, conn, tmp_path / "no-sandbox")
