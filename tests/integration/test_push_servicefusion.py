"""The ServiceFusion push (customers, jobs) against the simulators over HTTPS.

Each test writes the sync views itself (plain tables with the contract's columns,
tests/conformance/servicefusion.py) in a fresh warehouse, runs a pass through the
registry's client and checks the simulator's state and request log. Waits between
retries are recorded instead of slept. The jobs' PropertyWare verification runs
against the PropertyWare simulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from common.settings import Settings
from reverse_etl import registry
from reverse_etl.destinations.base import DestinationConfigError, PassAborted
from reverse_etl.destinations.servicefusion import ServiceFusionDestination
from reverse_etl.engine import RunResult, run_pass
from reverse_etl.ledger import Ledger
from tests.conformance import propertyware as pw_harness
from tests.conformance import servicefusion as sf_harness
from tests.conformance.harness import Sleeps
from tests.conformance.propertyware import PropertyWareSim, work_order
from tests.conformance.servicefusion import (
    CUSTOMERS_VIEW,
    JOBS_VIEW,
    PARENTS_VIEW,
    ServiceFusionSim,
    build_client,
    create_view,
    put_rows,
)

pytestmark = pytest.mark.integration

# The simulators' fixtures (defined with the conformance harnesses).
servicefusion_sim = sf_harness.servicefusion_sim
propertyware_sim = pw_harness.propertyware_sim

PARENTS = registry.by_name("servicefusion.parent_customers.create")
CUSTOMERS = registry.by_name("servicefusion.customers.create")
JOBS = registry.by_name("servicefusion.jobs.create")


@pytest.fixture(autouse=True)
def no_developer_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path / "no-sandbox"))


@pytest.fixture
def warehouse(fresh_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        for view in (PARENTS_VIEW, CUSTOMERS_VIEW, JOBS_VIEW):
            create_view(conn, view)
        yield conn


def env_of(conn: psycopg.Connection[Any], sf: ServiceFusionSim,
           pw: PropertyWareSim | None = None, **extra: str) -> dict[str, str]:
    info = conninfo_to_dict(conn.info.dsn)
    env = {
        "PGHOST": str(info.get("host", "127.0.0.1")),
        "PGPORT": str(info.get("port", 5432)),
        "PGUSER": str(info.get("user", "postgres")),
        "PGPASSWORD": conn.info.password or "postgres",
        "PGDATABASE": str(info["dbname"]),
        "SAFE_MODE": "on",
        "HTTP_BACKOFF_INITIAL_S": "0.05",
        "HTTP_MAX_ATTEMPTS": "4",
        "SERVICEFUSION_MAX_RPS": "1000",
        "PROPERTYWARE_MAX_RPS": "1000",
        **sf.settings_env(),
    }
    if pw is not None:
        env.update({k: v for k, v in pw.settings_env().items() if k != "REQUESTS_CA_BUNDLE"})
    env.update(extra)
    return env


def push(conn: psycopg.Connection[Any], settings: Settings, sync: registry.Sync, *,
         dry_run: bool = False, sleeps: Sleeps | None = None
         ) -> tuple[RunResult, ServiceFusionDestination]:
    client = build_client(sync, settings, sleeps if sleeps is not None else Sleeps(),
                          dry_run=dry_run)
    assert isinstance(client, ServiceFusionDestination)
    try:
        result = run_pass(settings, Ledger(conn), client, sync, dry_run=dry_run, skip_gate=True)
    finally:
        client.close()
    return result, client


def outcomes(conn: psycopg.Connection[Any], result: RunResult) -> dict[str, int]:
    assert result.run_id is not None
    counts: dict[str, int] = {}
    for record in Ledger(conn).records(result.run_id):
        counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
    return counts


def customer(number: int, **changes: Any) -> dict[str, Any]:
    return {
        "customer_name": f"Building {number}",
        "account_number": f"PW-B-{number}",
        "parent_customer": "Portfolio A",
        "private_notes": None,
        "locations": [{"street_1": f"{number} Main St", "city": "Austin", "state_prov": "TX",
                       "postal_code": "78701", "nickname": "Unit 1", "is_primary": True}],
        "contacts": [{"fname": "Ana", "lname": f"Diaz {number}",
                      "emails": [{"email": f"ana{number}@example.com"}],
                      "phones": [{"phone": "555-123-4567"}]}],
        **changes,
    }


def job(customer_id: int, number: int) -> dict[str, Any]:
    return {
        "customer_name": str(customer_id), "po_number": str(5000 + number),
        "description": f"Leaking tap {number}", "category": "Plumbing",
        "status": "Unscheduled", "street_1": f"{number} Main St", "street_2": None,
        "city": "Austin", "state_prov": "TX", "postal_code": "78701",
        "location_name": "Unit 1",
    }


def log(sf: ServiceFusionSim, since: int = 0) -> list[dict[str, Any]]:
    return sf.admin.requests(since_index=since)


def posts(sf: ServiceFusionSim, resource: str, since: int = 0) -> list[dict[str, Any]]:
    return [e for e in log(sf, since) if e["method"] == "POST" and e["path"] == f"/v1/{resource}"]


def by_key(records: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        found.setdefault(str(record.get(key)), []).append(record)
    return found


@pytest.fixture
def parent(servicefusion_sim: ServiceFusionSim) -> int:
    (parent_id,) = servicefusion_sim.admin.load_customers(
        [{"customer_name": "Portfolio A", "account_number": "PW-P-1"}]
    )
    return parent_id


# -- customers -----------------------------------------------------------------------


def test_a_bad_phone_is_rejected_alone_and_the_run_goes_on(
    warehouse: psycopg.Connection[Any], servicefusion_sim: ServiceFusionSim, parent: int
) -> None:
    sf = servicefusion_sim
    bad = customer(2)
    bad["contacts"][0]["phones"] = [{"phone": "12345"}]
    put_rows(warehouse, CUSTOMERS_VIEW, [customer(1), bad, customer(3)])
    settings = Settings.from_env(env_of(warehouse, sf))

    result, _ = push(warehouse, settings, CUSTOMERS)

    assert (result.status, result.exit_code) == ("partial", 1)
    assert outcomes(warehouse, result) == {"created": 2, "rejected": 1}
    held = by_key(sf.admin.customers(), "account_number")
    assert sorted(held) == ["PW-B-1", "PW-B-3", "PW-P-1"]
    assert held["PW-B-1"][0]["contacts"][0]["phones"][0]["phone"] == "555-123-4567"
    (row,) = warehouse.execute(
        "select sync_key, error_code, error_fields, error_message "
        "from reverse_etl.rejected_records where run_id = %s", (result.run_id,)
    ).fetchall()
    sync_key, code, fields, message = row
    assert (sync_key, code) == ("PW-B-2", "VALIDATION_ERROR")
    assert "phone" in fields and "phone" in message, (fields, message)
    # One request a record, the token and the pre-flight list: nothing else.
    assert len(log(sf)) == 1 + 1 + 3


def test_a_dropped_response_after_a_create_makes_no_second_customer(
    warehouse: psycopg.Connection[Any], servicefusion_sim: ServiceFusionSim, parent: int
) -> None:
    sf = servicefusion_sim
    put_rows(warehouse, CUSTOMERS_VIEW, [customer(1), customer(2)])
    settings = Settings.from_env(env_of(warehouse, sf))
    sf.admin.set_faults(next=["drop_after"], methods=["POST"], paths=["/v1/customers"])
    sleeps = Sleeps()

    result, _ = push(warehouse, settings, CUSTOMERS, sleeps=sleeps)

    assert result.status == "succeeded", result.error
    assert outcomes(warehouse, result) == {"already_present": 1, "created": 1}
    held = by_key(sf.admin.customers(), "account_number")
    assert {k: len(v) for k, v in held.items()} == {"PW-P-1": 1, "PW-B-1": 1, "PW-B-2": 1}
    # The lost create was looked up by name, not sent again.
    assert len(posts(sf, "customers")) == 2
    lookups = [e for e in log(sf) if e["method"] == "GET" and "filters[name]" in str(e["query"])]
    assert len(lookups) == 1
    recorded = warehouse.execute(
        "select record_id from reverse_etl.sync_records where run_id = %s and sync_key = %s",
        (result.run_id, "PW-B-1"),
    ).fetchone()
    assert recorded is not None and recorded[0] == str(held["PW-B-1"][0]["id"])


def test_a_503_after_the_create_is_looked_up_then_not_resent(
    warehouse: psycopg.Connection[Any], servicefusion_sim: ServiceFusionSim, parent: int
) -> None:
    sf = servicefusion_sim
    put_rows(warehouse, PARENTS_VIEW, [
        {"customer_name": "Portfolio B", "account_number": "PW-P-2", "private_notes": None},
    ])
    settings = Settings.from_env(env_of(warehouse, sf))
    sf.admin.set_faults(next=["503_before"], methods=["POST"], paths=["/v1/customers"])

    result, _ = push(warehouse, settings, PARENTS)

    # 503 before applying: the lookup finds nothing, so the record is sent again, once.
    assert result.status == "succeeded", result.error
    assert outcomes(warehouse, result) == {"created": 1}
    assert len(posts(sf, "customers")) == 2
    assert len(by_key(sf.admin.customers(), "account_number")["PW-P-2"]) == 1


def test_a_crashed_runs_record_is_found_by_the_pre_flight_list(
    warehouse: psycopg.Connection[Any], servicefusion_sim: ServiceFusionSim, parent: int
) -> None:
    sf = servicefusion_sim
    # Created by a run that died before recording it: the view still lists it.
    (orphan,) = sf.admin.load_customers([customer(1)])
    put_rows(warehouse, CUSTOMERS_VIEW, [customer(1), customer(2)])
    settings = Settings.from_env(env_of(warehouse, sf))

    result, _ = push(warehouse, settings, CUSTOMERS)

    assert result.status == "succeeded", result.error
    assert outcomes(warehouse, result) == {"already_present": 1, "created": 1}
    assert len(by_key(sf.admin.customers(), "account_number")["PW-B-1"]) == 1
    assert len(posts(sf, "customers")) == 1
    lists = [e for e in log(sf) if e["method"] == "GET"]
    assert len(lists) == 1 and "sort" in str(lists[0]["query"])
    ids = dict(warehouse.execute(
        "select sync_key, record_id from reverse_etl.sync_records where run_id = %s",
        (result.run_id,),
    ).fetchall())
    assert ids["PW-B-1"] == str(orphan)


def test_a_dry_run_and_an_empty_view_send_nothing(
    warehouse: psycopg.Connection[Any], servicefusion_sim: ServiceFusionSim,
    propertyware_sim: PropertyWareSim, parent: int,
) -> None:
    sf, pw = servicefusion_sim, propertyware_sim
    pw.admin.load({"workOrders": [work_order(1)]})
    put_rows(warehouse, JOBS_VIEW, [job(parent, 1)])
    settings = Settings.from_env(env_of(warehouse, sf, pw))

    dry, _ = push(warehouse, settings, JOBS, dry_run=True)
    put_rows(warehouse, CUSTOMERS_VIEW, [])
    empty, _ = push(warehouse, settings, CUSTOMERS)

    assert outcomes(warehouse, dry) == {"would_create": 1}
    assert (empty.status, empty.rows_in_view, empty.api_requests) == ("succeeded", 0, 0)
    assert log(sf) == [] and pw.admin.requests() == []


# -- jobs ------------------------------------------------------------------------------


def test_jobs_429_is_retried_and_a_dropped_create_makes_no_second_job(
    warehouse: psycopg.Connection[Any], servicefusion_sim: ServiceFusionSim,
    propertyware_sim: PropertyWareSim, parent: int,
) -> None:
    sf, pw = servicefusion_sim, propertyware_sim
    pw.admin.load({"workOrders": [work_order(n) for n in (1, 2, 3)]})
    put_rows(warehouse, JOBS_VIEW, [job(parent, n) for n in (1, 2, 3)])
    settings = Settings.from_env(env_of(warehouse, sf, pw))
    sf.admin.set_faults(next=["429", "drop_after"], methods=["POST"], paths=["/v1/jobs"])
    sleeps = Sleeps()

    result, client = push(warehouse, settings, JOBS, sleeps=sleeps)

    assert result.status == "succeeded", result.error
    assert outcomes(warehouse, result) == {"created": 2, "already_present": 1}
    held = by_key(sf.admin.jobs(), "po_number")
    assert {k: len(v) for k, v in held.items()} == {"5001": 1, "5002": 1, "5003": 1}
    # 429 (not applied) resent without a lookup; the dropped one looked up, not resent.
    assert len(posts(sf, "jobs")) == 4
    lookups = [e for e in log(sf) if "filters[po_number]" in str(e["query"])]
    assert len(lookups) == 1
    assert len(sleeps) >= 2, sleeps  # a backoff before each new attempt
    assert client.warnings == []
    # Three verification reads of PropertyWare, one per job.
    assert [e["operation"] for e in pw.admin.requests()] == ["getWorkOrders"] * 3


@pytest.mark.parametrize("strict", [True, False])
def test_verification_of_the_work_order_strict_or_flexible(
    warehouse: psycopg.Connection[Any], servicefusion_sim: ServiceFusionSim,
    propertyware_sim: PropertyWareSim, parent: int, strict: bool,
) -> None:
    sf, pw = servicefusion_sim, propertyware_sim
    # 1 is open; 2 was closed since the view was built; 3 is gone from PropertyWare.
    pw.admin.load({"workOrders": [work_order(1, " WO Received "), work_order(2, "Completed")]})
    put_rows(warehouse, JOBS_VIEW, [job(parent, n) for n in (1, 2, 3)])
    settings = Settings.from_env(
        env_of(warehouse, sf, pw, PW_WO_VERIFY_STRICT="true" if strict else "false")
    )

    result, client = push(warehouse, settings, JOBS)

    rows = dict(
        (key, (outcome, code, message))
        for key, outcome, code, message in warehouse.execute(
            "select sync_key, outcome, error_code, error_message "
            "from reverse_etl.sync_records where run_id = %s", (result.run_id,)
        ).fetchall()
    )
    assert rows["5001"][:2] == ("created", None)
    held = sorted(by_key(sf.admin.jobs(), "po_number"))
    if strict:
        assert (result.status, result.exit_code) == ("partial", 1)
        assert rows["5002"][:2] == ("rejected", "PW_VERIFY_FAILED")
        assert rows["5003"][:2] == ("rejected", "PW_VERIFY_FAILED")
        assert "no longer open" in rows["5002"][2] and "not found" in rows["5003"][2]
        assert held == ["5001"]
        assert client.warnings == []
    else:
        assert result.status == "succeeded", result.error
        assert rows["5002"][:2] == ("created", "PW_VERIFY_WARNING")
        assert rows["5003"][:2] == ("created", "PW_VERIFY_WARNING")
        assert held == ["5001", "5002", "5003"]
        assert len(client.warnings) == 2 and "5002" in client.warnings[0]
        # and the run says so, not only the ledger
        assert [note.split(":")[:2] for note in result.notes] == [
            ["5002", " PW_VERIFY_WARNING"], ["5003", " PW_VERIFY_WARNING"]]


def test_update_refuses_and_missing_variables_are_named(servicefusion_sim: ServiceFusionSim
                                                         ) -> None:
    settings = Settings.from_env({"SERVICEFUSION_BASE_URL": servicefusion_sim.url,
                                  "REQUESTS_CA_BUNDLE": servicefusion_sim.ca_bundle})
    client = ServiceFusionDestination(settings, object_name="jobs")
    with pytest.raises(DestinationConfigError) as missing:
        client.check_configuration()
    for variable in ("SERVICEFUSION_CLIENT_ID", "SERVICEFUSION_CLIENT_SECRET",
                     "PROPERTYWARE_WSDL_URL"):
        assert variable in str(missing.value)
    with pytest.raises(PassAborted, match="no update API"):
        client.update([{"id": "1"}])
    assert client.update([]) == []
    assert client.api_requests == 0


def test_health_check_and_read_records(
    servicefusion_sim: ServiceFusionSim, parent: int
) -> None:
    settings = Settings.from_env(
        {**servicefusion_sim.settings_env(), "SERVICEFUSION_MAX_RPS": "1000"}
    )
    client = ServiceFusionDestination(settings, object_name="customers")
    try:
        assert "authenticated" in client.health_check()
        found = client.read_records([str(parent), "999999"], ["customer_name", "account_number"])
        assert found == {str(parent): {"customer_name": "Portfolio A",
                                       "account_number": "PW-P-1"}}
    finally:
        client.close()
