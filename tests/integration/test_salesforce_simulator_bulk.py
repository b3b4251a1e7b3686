"""The simulator's Bulk API 2.0 ingest jobs over real HTTPS, against the documented shapes.

Expected values are written by hand from the CSV each test uploads (the field limits
are docs/warehouse.md's: City__c holds 40 characters, Name is required), never read
back from an earlier run.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
import requests

from tests.integration.conftest import SalesforceSim
from tests.integration.test_salesforce_simulator import Api

pytestmark = pytest.mark.integration

JOBS = "/services/data/v62.0/jobs/ingest"
HEADER = "Name,Snappt_Property_ID__c,City__c,IDV_Enabled__c,Active_Property_Count__c\n"


def create_job(api: Api, operation: str = "insert", **extra: Any) -> dict[str, Any]:
    response = api.call("POST", JOBS, json={"object": "Product_Property__c",
                                            "operation": operation, "contentType": "CSV",
                                            "lineEnding": "LF", **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


def upload(api: Api, job_id: str, data: str) -> requests.Response:
    return api.call("PUT", f"{JOBS}/{job_id}/batches", data=data.encode(),
                    headers={"Content-Type": "text/csv"})


def close(api: Api, job_id: str, state: str = "UploadComplete") -> requests.Response:
    return api.call("PATCH", f"{JOBS}/{job_id}", json={"state": state})


def rows(response: requests.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_an_insert_job_goes_open_to_job_complete_with_csv_results(
    salesforce_sim: SalesforceSim,
) -> None:
    api = Api(salesforce_sim)
    salesforce_sim.admin.load_records([{"Name": "Old", "Snappt_Property_ID__c": "p-3"}])
    job = create_job(api)
    assert job["state"] == "Open"
    assert job["id"].startswith("750") and job["object"] == "Product_Property__c"
    assert job["operation"] == "insert" and job["contentType"] == "CSV"
    assert job["createdById"].startswith("005")
    assert job["contentUrl"] == f"services/data/v62.0/jobs/ingest/{job['id']}/batches"

    data = HEADER + (
        "One,p-1,Austin,true,2\n"
        "Two,p-2,Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch,false,1\n"
        "Three,p-3,Dallas,false,1\n"
        '"Four, Inc",p-4,#N/A,1,3\n'
    )
    assert upload(api, job["id"], data).status_code == 201
    # One upload a job: the repeat is refused, nothing is added.
    again = upload(api, job["id"], data)
    assert again.status_code == 409 and again.json()[0]["errorCode"] == "INVALIDJOBSTATE"

    closed = close(api, job["id"])
    assert closed.status_code == 200 and closed.json()["state"] == "UploadComplete"
    info = api.call("GET", f"{JOBS}/{job['id']}").json()
    assert info["state"] == "JobComplete"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (4, 2)

    ok = rows(api.call("GET", f"{JOBS}/{job['id']}/successfulResults"))
    assert [(r["sf__Created"], r["Name"], r["City__c"]) for r in ok] == [
        ("true", "One", "Austin"), ("true", "Four, Inc", "#N/A")]
    assert all(r["sf__Id"].startswith("a0X") and len(r["sf__Id"]) == 18 for r in ok)
    failed = rows(api.call("GET", f"{JOBS}/{job['id']}/failedResults"))
    assert [r["Snappt_Property_ID__c"] for r in failed] == ["p-2", "p-3"]
    assert failed[0]["sf__Error"].startswith("STRING_TOO_LONG:City: data value too large")
    assert failed[0]["sf__Error"].endswith(":City__c --")
    old_id = salesforce_sim.admin.records()[0]["Id"]
    assert failed[1]["sf__Error"] == (
        "DUPLICATE_VALUE:duplicate value found: Snappt_Property_ID__c duplicates value on "
        f"record with id: {old_id[:15]}: --"
    )
    assert rows(api.call("GET", f"{JOBS}/{job['id']}/unprocessedrecords")) == []

    held = {r["Snappt_Property_ID__c"]: r for r in salesforce_sim.admin.records()}
    assert sorted(held) == ["p-1", "p-3", "p-4"]
    assert held["p-1"]["IDV_Enabled__c"] is True and held["p-1"]["City__c"] == "Austin"
    assert held["p-4"]["City__c"] is None and held["p-4"]["Active_Property_Count__c"] == 3.0
    assert held["p-3"]["Name"] == "Old", "a duplicate never overwrites"


def test_an_update_job_changes_only_the_given_cells(salesforce_sim: SalesforceSim) -> None:
    api = Api(salesforce_sim)
    (first, second) = salesforce_sim.admin.load_records([
        {"Name": "A", "Snappt_Property_ID__c": "p-1", "City__c": "Austin", "State__c": "TX"},
        {"Name": "B", "Snappt_Property_ID__c": "p-2", "City__c": "Waco"},
    ])
    job = create_job(api, "update")
    data = f"Id,City__c,State__c\n{first},Dallas,\n{second},#N/A,OK\na0XHp0000000ZZZZZZ,X,Y\n"
    assert upload(api, job["id"], data).status_code == 201
    assert close(api, job["id"]).status_code == 200
    info = api.call("GET", f"{JOBS}/{job['id']}").json()
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (
        "JobComplete", 3, 1)
    ok = rows(api.call("GET", f"{JOBS}/{job['id']}/successfulResults"))
    assert [(r["sf__Id"], r["sf__Created"]) for r in ok] == [(first, "false"), (second, "false")]
    (failed,) = rows(api.call("GET", f"{JOBS}/{job['id']}/failedResults"))
    assert failed["sf__Error"].startswith("MALFORMED_ID:") or failed["sf__Error"].startswith(
        "INVALID_CROSS_REFERENCE_KEY:")
    held = {r["Id"]: r for r in salesforce_sim.admin.records()}
    assert (held[first]["City__c"], held[first]["State__c"]) == ("Dallas", "TX")
    assert (held[second]["City__c"], held[second]["State__c"]) == (None, "OK")


def test_states_processing_time_abort_delete_and_the_job_list(
    salesforce_sim: SalesforceSim,
) -> None:
    api = Api(salesforce_sim)
    salesforce_sim.admin.configure(bulk_processing_s=0.6)
    job = create_job(api)
    # No results before the job is done.
    early = api.call("GET", f"{JOBS}/{job['id']}/successfulResults")
    assert early.status_code == 409
    upload(api, job["id"], HEADER + "One,p-1,Austin,true,1\n")
    close(api, job["id"])
    assert api.call("GET", f"{JOBS}/{job['id']}").json()["state"] == "InProgress"
    refused = api.call("DELETE", f"{JOBS}/{job['id']}")
    assert refused.status_code == 409
    time.sleep(0.7)
    assert api.call("GET", f"{JOBS}/{job['id']}").json()["state"] == "JobComplete"
    assert close(api, job["id"]).status_code == 409, "closed twice"

    aborted = create_job(api)
    upload(api, aborted["id"], HEADER + "Two,p-2,Austin,true,1\n")
    assert close(api, aborted["id"], "Aborted").json()["state"] == "Aborted"
    (unprocessed,) = rows(api.call("GET", f"{JOBS}/{aborted['id']}/unprocessedrecords"))
    assert unprocessed["Snappt_Property_ID__c"] == "p-2"
    assert upload(api, aborted["id"], HEADER).status_code == 409

    bad = create_job(api)
    upload(api, bad["id"], "Name,No_Such_Field__c\nX,1\n")
    close(api, bad["id"])
    info = api.call("GET", f"{JOBS}/{bad['id']}").json()
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : No_Such_Field__c"

    listing = api.call("GET", JOBS).json()
    assert listing["done"] is True
    assert [j["id"] for j in listing["records"]] == [job["id"], aborted["id"], bad["id"]]
    assert [j["state"] for j in listing["records"]] == ["JobComplete", "Aborted", "Failed"]

    assert api.call("DELETE", f"{JOBS}/{job['id']}").status_code == 204
    assert api.call("GET", f"{JOBS}/{job['id']}").status_code == 404
    # Only p-1 was written: the aborted job's row never was.
    assert [r["Snappt_Property_ID__c"] for r in salesforce_sim.admin.records()] == ["p-1"]


def test_bad_jobs_are_refused(salesforce_sim: SalesforceSim) -> None:
    api = Api(salesforce_sim)
    for body, code in (
        ({"object": "Account", "operation": "insert"}, "INVALIDJOB"),
        ({"object": "Product_Property__c", "operation": "merge"}, "INVALIDJOB"),
        ({"object": "Product_Property__c", "operation": "upsert",
          "externalIdFieldName": "City__c"}, "INVALIDJOB"),
    ):
        response = api.call("POST", JOBS, json=body)
        assert (response.status_code, response.json()[0]["errorCode"]) == (400, code), body


def test_faults_reach_the_bulk_endpoints(salesforce_sim: SalesforceSim) -> None:
    api = Api(salesforce_sim)
    salesforce_sim.admin.set_faults(next=["drop_after"], paths=["/jobs/ingest"])
    with pytest.raises(requests.ConnectionError):
        api.call("POST", JOBS, json={"object": "Product_Property__c", "operation": "insert"})
    # The create was applied although its answer was lost: the listing shows the job.
    (lost,) = api.call("GET", JOBS).json()["records"]
    assert lost["state"] == "Open"
    salesforce_sim.admin.set_faults(next=["429"], paths=["/batches"])
    throttled = upload(api, lost["id"], HEADER + "One,p-1,Austin,true,1\n")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert upload(api, lost["id"], HEADER + "One,p-1,Austin,true,1\n").status_code == 201
    log = salesforce_sim.admin.requests()
    puts = [e for e in log if e["method"] == "PUT"]
    assert [(e["fault"], e["applied"], e["records"]) for e in puts] == [
        ("429", False, 1), (None, True, 1)]
