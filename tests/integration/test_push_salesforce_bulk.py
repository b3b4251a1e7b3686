"""The Salesforce push through Bulk API 2.0 (a pass above SALESFORCE_BULK_THRESHOLD),
against the simulator over HTTPS and a real warehouse, faults on.

Expected request sequences and outcomes are written by hand from the Bulk 2.0 flow
(create job, upload, UploadComplete, poll, results) and the rows each test writes.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from common.http import policy_session
from common.settings import Settings
from reverse_etl.destinations.salesforce import SalesforceDestination, id18
from reverse_etl.ledger import Ledger
from tests.conformance.harness import Sleeps
from tests.conformance.salesforce import (
    KEY,
    TOO_LONG_CITY,
    WRITE_PATH,
    as_sent,
    create_payload,
    put_creates,
    put_updates,
)
from tests.integration import test_push_salesforce as collections_tests
from tests.integration.test_push_salesforce import Sim, assert_holds_exactly, push, settings_for

pytestmark = pytest.mark.integration

# The fixtures of the collections tests: a fresh simulator and warehouse per test.
sim = collections_tests.sim
warehouse = collections_tests.warehouse
no_developer_sandbox = collections_tests.no_developer_sandbox

JOBS = "/jobs/ingest"


def bulk_destination(
    settings: Settings, sleeps: Sleeps | None = None, job_records: int | None = None
) -> SalesforceDestination:
    sleeps = sleeps if sleeps is not None else Sleeps()
    destination = SalesforceDestination(
        settings, session=policy_session(settings, "salesforce", sleep=sleeps), sleep=sleeps
    )
    if job_records is not None:
        destination.job_records = job_records
    return destination


def api_calls(sim: Sim, since: int = 0) -> list[tuple[str, str]]:
    """(method, path after /services/data/vNN.N) of each API request, token as TOKEN."""
    calls = []
    for entry in sim.log(since):
        path = entry["path"]
        if "/oauth2/token" in path:
            calls.append(("POST", "TOKEN"))
            continue
        rest = path.split("/services/data/", 1)[1].split("/", 1)[1]
        calls.append((entry["method"], "/" + rest))
    return calls


def job_steps(job_id: str) -> list[tuple[str, str]]:
    """A clean job without failures: what each costs, in order."""
    return [
        ("PUT", f"/jobs/ingest/{job_id}/batches"),
        ("PATCH", f"/jobs/ingest/{job_id}"),
        ("GET", f"/jobs/ingest/{job_id}"),
        ("GET", f"/jobs/ingest/{job_id}/successfulResults"),
    ]


def ledger_view(conn: psycopg.Connection[Any], run_id: Any) -> dict[str, tuple[Any, ...]]:
    return {
        r["sync_key"]: (r["outcome"], r["record_id"], r["error_code"], r["error_message"],
                        r["error_fields"])
        for r in Ledger(conn).records(run_id)
    }


def test_a_pass_above_the_threshold_is_one_bulk_job_and_below_it_collections(
    sim: Sim, warehouse: psycopg.Connection[Any]
) -> None:
    payloads = [create_payload(n) for n in range(30)]
    put_creates(warehouse, payloads)
    # 30 records: above a threshold of 29, not above one of 30.
    at_threshold = settings_for(sim, warehouse, salesforce_bulk_threshold=30)
    collections = push(at_threshold, warehouse, "create",
                       destination=bulk_destination(at_threshold))
    assert collections.counts.created == 30
    assert [(e["method"], e["records"]) for e in sim.writes()] == [("POST", 30)]
    assert not sim.admin.bulk_jobs()

    sim.admin.reset()
    settings = settings_for(sim, warehouse, salesforce_bulk_threshold=29)
    destination = bulk_destination(settings)
    result = push(settings, warehouse, "create", destination=destination)

    assert (result.status, result.counts.created) == ("succeeded", 30)
    assert_holds_exactly(sim, payloads)
    (job,) = sim.admin.bulk_jobs()
    assert (job["operation"], job["state"]) == ("insert", "JobComplete")
    assert api_calls(sim) == [("POST", "TOKEN"), ("POST", JOBS), *job_steps(job["id"])]
    assert [e["records"] for e in sim.log() if e["method"] == "PUT"] == [30]
    assert not sim.writes(), "no sObject Collections request"
    assert result.api_requests == 6
    ids = {r[KEY]: r["Id"] for r in sim.admin.records()}
    for record in Ledger(warehouse).records(result.run_id):  # type: ignore[arg-type]
        assert (record["outcome"], record["record_id"]) == ("created", ids[record["sync_key"]])


def test_bulk_results_reach_the_ledger_exactly_as_collections_results_do(
    sim: Sim, warehouse: psycopg.Connection[Any]
) -> None:
    payloads = [create_payload(n) for n in range(6)]
    payloads[2] = {**payloads[2], "City__c": TOO_LONG_CITY}  # refused: STRING_TOO_LONG
    put_creates(warehouse, payloads)
    existing = as_sent(payloads[4])  # already in Salesforce: DUPLICATE_VALUE

    views = {}
    for threshold in (1000, 0):  # collections first, then Bulk, on the same start
        sim.admin.reset()
        (existing_id,) = sim.admin.load_records([existing])
        settings = settings_for(sim, warehouse, salesforce_bulk_threshold=threshold)
        # The second pass sends the refused row again instead of setting it aside.
        result = push(settings, warehouse, "create", destination=bulk_destination(settings),
                      retry_rejected=True)
        assert (result.status, result.exit_code) == ("partial", 1)
        views[threshold] = ledger_view(warehouse, result.run_id)
        assert bool(sim.admin.bulk_jobs()) == (threshold == 0)

    assert views[0] == views[1000]
    bulk = views[0]
    assert bulk[payloads[4][KEY]][:2] == ("already_present", existing_id)
    outcome, record_id, code, message, fields = bulk[payloads[2][KEY]]
    assert (outcome, record_id, code) == ("rejected", None, "STRING_TOO_LONG")
    assert list(fields or []) == ["City__c"] or fields == "City__c"
    assert TOO_LONG_CITY in message
    assert sorted(o for o, *_ in bulk.values()) == (
        ["already_present"] + ["created"] * 4 + ["rejected"])
    assert len(sim.by_key()[payloads[4][KEY]]) == 1


@pytest.mark.parametrize("kind", ["drop_after", "503_after", "drop_before"])
def test_a_lost_job_create_answer_never_makes_a_second_job(
    sim: Sim, warehouse: psycopg.Connection[Any], kind: str
) -> None:
    payloads = [create_payload(n) for n in range(12)]
    put_creates(warehouse, payloads)
    settings = settings_for(sim, warehouse, salesforce_bulk_threshold=0)
    sim.admin.set_faults(next=[kind], paths=[JOBS], methods=["POST"])

    destination = bulk_destination(settings)
    result = push(settings, warehouse, "create", destination=destination)

    assert result.status == "succeeded", result.error
    assert result.counts.created == 12
    assert_holds_exactly(sim, payloads)
    (job,) = sim.admin.bulk_jobs()  # one job, whatever happened to the first answer
    assert job["state"] == "JobComplete" and destination.bulk_jobs == [job["id"]]
    calls = api_calls(sim)
    assert calls[:3] == [("POST", "TOKEN"), ("POST", JOBS), ("GET", f"{JOBS}?jobType=V2Ingest")
                         ] or calls[:3] == [("POST", "TOKEN"), ("POST", JOBS), ("GET", JOBS)]
    if kind == "drop_before":
        # Nothing was made: the search finds nothing and the job is created again.
        assert calls[3] == ("POST", JOBS)
        assert calls[4:] == job_steps(job["id"])
    else:
        assert calls[3:] == job_steps(job["id"])


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("kind", ["drop_after", "503_after"])
def test_a_lost_upload_or_close_answer_keeps_the_one_job(
    sim: Sim, warehouse: psycopg.Connection[Any], method: str, kind: str
) -> None:
    payloads = [create_payload(n) for n in range(12)]
    put_creates(warehouse, payloads)
    settings = settings_for(sim, warehouse, salesforce_bulk_threshold=0)
    sim.admin.set_faults(next=[kind], paths=[JOBS], methods=[method])

    result = push(settings, warehouse, "create", destination=bulk_destination(settings))

    assert result.status == "succeeded", result.error
    assert (result.counts.created, result.counts.already_present) == (12, 0)
    assert_holds_exactly(sim, payloads)
    (job,) = sim.admin.bulk_jobs()
    job_path = f"{JOBS}/{job['id']}"
    repeated = ("PUT", f"{job_path}/batches") if method == "PUT" else ("PATCH", job_path)
    log = [(e["method"], e["status"], e["fault"]) for e in sim.log()
           if (e["method"], "/" + e["path"].split("/", 4)[-1]) == repeated]
    # The lost one, then its retry refused 409 (the job takes one upload / one close).
    assert log == [(method, None if kind == "drop_after" else 503, kind), (method, 409, None)]


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_429_on_the_bulk_endpoints_is_waited_out(
    sim: Sim, warehouse: psycopg.Connection[Any], method: str
) -> None:
    payloads = [create_payload(n) for n in range(5)]
    put_creates(warehouse, payloads)
    settings = settings_for(sim, warehouse, salesforce_bulk_threshold=0)
    sleeps = Sleeps()
    # The create is retried by the client itself, the upload by the HTTP stack.
    sim.admin.set_faults(next=["429"], paths=[JOBS], methods=[method])

    result = push(settings, warehouse, "create", destination=bulk_destination(settings, sleeps))

    assert (result.status, result.counts.created) == ("succeeded", 5)
    assert_holds_exactly(sim, payloads)
    assert len(sim.admin.bulk_jobs()) == 1
    sent = [(e["method"], e["status"]) for e in sim.log()
            if e["method"] == method and JOBS in e["path"]]
    assert sent == [(method, 429), (method, 201 if method == "PUT" else 200)]
    # Retry-After: 1 (the stack reads it; the create's single attempt waits a second).
    assert 1.0 in sleeps, sleeps
    # A refused create made nothing, so no job was searched for.
    assert not [e for e in sim.log() if e["method"] == "GET" and e["path"].endswith(JOBS)]


def test_update_pass_through_bulk_updates_by_id_and_never_creates(
    sim: Sim, warehouse: psycopg.Connection[Any]
) -> None:
    existing = [create_payload(n) for n in range(3)]
    ids = sim.admin.load_records([as_sent(p) for p in existing])
    rows = []
    for record_id, payload in zip(ids, existing, strict=True):
        after = {k: v for k, v in payload.items() if k != KEY}
        before = as_sent(after)
        after["City__c"] = "Dallas"
        after["Fraud_Detection_Enabled__c"] = False
        after["Fraud_Detection_Enabled_Date__c"] = None  # cleared: #N/A in the CSV
        rows.append(({"Id": record_id, **after}, before))
    missing_id = id18("a0XHp0000zzzzzz")
    rows.append(({"Id": missing_id, **{k: v for k, v in create_payload(9).items()
                                       if k != KEY}}, {}))
    put_updates(warehouse, rows)
    settings = settings_for(sim, warehouse, salesforce_bulk_threshold=0)

    result = push(settings, warehouse, "update", destination=bulk_destination(settings))

    assert (result.counts.updated, result.counts.rejected) == (3, 1)
    (job,) = sim.admin.bulk_jobs()
    assert job["operation"] == "update"
    assert sim.admin.record_count() == 3
    records = {r["Id"]: r for r in sim.admin.records()}
    for record_id in ids:
        assert records[record_id]["City__c"] == "Dallas"
        assert records[record_id]["Fraud_Detection_Enabled__c"] is False
        assert records[record_id]["Fraud_Detection_Enabled_Date__c"] is None
    ledger = {r["sync_key"]: r for r in Ledger(warehouse).records(result.run_id)}  # type: ignore[arg-type]
    assert (ledger[ids[0]]["outcome"], ledger[ids[0]]["record_id"]) == ("updated", ids[0])
    assert ledger[missing_id]["outcome"] == "rejected"
    assert ledger[missing_id]["error_code"] == "INVALID_CROSS_REFERENCE_KEY"


def test_a_failed_job_aborts_the_pass_and_the_rerun_converges(
    sim: Sim, warehouse: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    payloads = [create_payload(n) for n in range(4)]
    put_creates(warehouse, payloads)
    settings = settings_for(sim, warehouse, salesforce_bulk_threshold=0)
    from reverse_etl.destinations import salesforce_bulk

    real = salesforce_bulk.to_csv

    def with_a_bad_column(records: Any, *, null: str) -> tuple[str, list[str]]:
        data, header = real(records, null=null)
        return data.replace("Name,", "No_Such_Field__c,", 1), header

    monkeypatch.setattr(salesforce_bulk, "to_csv", with_a_bad_column)
    failed = push(settings, warehouse, "create", destination=bulk_destination(settings))
    assert (failed.status, failed.exit_code) == ("failed", 3)
    assert "Failed" in (failed.error or "") and "No_Such_Field__c" in (failed.error or "")
    assert sim.admin.record_count() == 0

    monkeypatch.setattr(salesforce_bulk, "to_csv", real)
    rerun = push(settings, warehouse, "create", destination=bulk_destination(settings))
    assert (rerun.status, rerun.counts.created) == ("succeeded", 4)
    assert_holds_exactly(sim, payloads)


def test_random_faults_on_bulk_jobs_end_in_the_no_fault_state(
    sim: Sim, warehouse: psycopg.Connection[Any]
) -> None:
    payloads = [create_payload(n) for n in range(450)]
    put_creates(warehouse, payloads)
    settings = settings_for(sim, warehouse, salesforce_bulk_threshold=0,
                            http_max_attempts=8, http_breaker_fail_max=8)

    push(settings, warehouse, "create", destination=bulk_destination(settings, job_records=50))
    no_fault = {r[KEY]: {k: v for k, v in r.items() if k not in (
        "Id", "CreatedDate", "LastModifiedDate", "SystemModstamp")} for r in sim.admin.records()}
    assert len(no_fault) == 450

    sim.admin.reset()
    sim.admin.set_faults(rate=0.2, seed=5)
    destination = bulk_destination(settings, job_records=50)  # nine jobs
    result = push(settings, warehouse, "create", destination=destination)

    seen = {e["fault"] for e in sim.log() if e["fault"]}
    assert {"drop_after", "503_after"} & seen, seen
    assert result.status == "succeeded", result.error
    assert result.counts.created == 450, result.counts
    state = {r[KEY]: {k: v for k, v in r.items() if k not in (
        "Id", "CreatedDate", "LastModifiedDate", "SystemModstamp")} for r in sim.admin.records()}
    assert state == no_fault
    jobs = sim.admin.bulk_jobs()
    # Every record in exactly one job that got data; lost creates left no second job
    # with data, and any empty job of a lost answer was aborted, never used.
    with_data = [j for j in jobs if j["uploaded"]]
    assert len(with_data) == 9 and {j["state"] for j in with_data} == {"JobComplete"}
    assert all(j["state"] == "Aborted" for j in jobs if not j["uploaded"])
    assert sum(e["records"] for e in sim.log() if e["method"] == "PUT"
               and e["applied"]) == 450
    assert not [e for e in sim.log() if e["path"].endswith(WRITE_PATH)]
