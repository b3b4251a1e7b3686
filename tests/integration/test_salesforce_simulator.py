"""The Salesforce simulator over real HTTPS, checked against the REST API's documented shapes.

Every call goes through `requests` with `verify=<the simulator's CA>`. Expected
values are written by hand from the request each test sends (and from the limits of
docs/warehouse.md, "The Salesforce object"), never read back from an earlier run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.salesforce import SalesforceSimulator, make_id, normalize_id
from sandbox.salesforce_admin import SalesforceAdmin
from tests.conftest import PostgresServer, free_port
from tests.integration.conftest import SalesforceSim

pytestmark = pytest.mark.integration

OBJ = "Product_Property__c"
API = "/services/data/v62.0"
ROOT = Path(__file__).resolve().parents[2]


# -- helpers ------------------------------------------------------------------


def get_token(sim: SalesforceSim) -> str:
    response = requests.post(
        f"{sim.url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": sim.client_id,
              "client_secret": sim.client_secret},
        verify=sim.ca_bundle, timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


class Api:
    """A logged-in client, one connection per request (like the product's clients)."""

    def __init__(self, sim: SalesforceSim, token: str | None = None) -> None:
        self.sim = sim
        self.token = token or get_token(sim)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("https://") else f"{self.sim.url}{path}"
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, url, headers=headers, verify=self.sim.ca_bundle,
                                timeout=30, **kwargs)

    def query(self, soql: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", f"{API}/query", params={"q": soql}, **kwargs)

    def create(self, records: list[dict[str, Any]], all_or_none: bool | None = None
               ) -> requests.Response:
        body: dict[str, Any] = {"records": records}
        if all_or_none is not None:
            body["allOrNone"] = all_or_none
        return self.call("POST", f"{API}/composite/sobjects", json=body)

    def update(self, records: list[dict[str, Any]]) -> requests.Response:
        return self.call("PATCH", f"{API}/composite/sobjects",
                         json={"allOrNone": False, "records": records})


def rec(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": OBJ}, **fields}


def by_snappt(sim: SalesforceSim) -> dict[str, dict[str, Any]]:
    return {r["Snappt_Property_ID__c"]: r for r in sim.admin.records()}


def codes(result: dict[str, Any]) -> list[str]:
    return [error["statusCode"] for error in result["errors"]]


def assert_api_error(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list) and body[0]["errorCode"] == code, body
    assert body[0]["message"]


# -- ids --------------------------------------------------------------------------


def test_ids_carry_salesforce_checksum() -> None:
    # The documented example pair: 001xx000003DGb2 <-> 001xx000003DGb2AAG (checksum rule
    # applies to any prefix; ours must be accepted in both forms, others refused).
    assert normalize_id("a0XHp0000000001") == make_id(1)
    assert make_id(1) == "a0XHp0000000001" + "MAA"
    assert normalize_id("001xx000003DGb2AAG") is None  # another object's key prefix
    assert normalize_id(make_id(62)[:17] + "Z") is None  # wrong checksum
    assert len({make_id(n) for n in range(1, 5000)}) == 4999


# -- auth -------------------------------------------------------------------------


def test_token_for_good_credentials_and_errors_for_bad(salesforce_sim: SalesforceSim) -> None:
    url = f"{salesforce_sim.url}/services/oauth2/token"
    good = {"grant_type": "client_credentials", "client_id": salesforce_sim.client_id,
            "client_secret": salesforce_sim.client_secret}
    ok = requests.post(url, data=good, verify=salesforce_sim.ca_bundle, timeout=30)
    assert ok.status_code == 200
    body = ok.json()
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == salesforce_sim.url
    assert body["access_token"] and body["signature"] and body["id"]
    assert body["issued_at"].isdigit()

    bad = requests.post(url, data={**good, "client_secret": "wrong"},
                        verify=salesforce_sim.ca_bundle, timeout=30)
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_client"
    assert bad.json()["error_description"]

    grant = requests.post(url, data={**good, "grant_type": "password"},
                          verify=salesforce_sim.ca_bundle, timeout=30)
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"


def test_missing_expired_or_unknown_session_is_401(salesforce_sim: SalesforceSim) -> None:
    api = Api(salesforce_sim)
    assert api.query(f"SELECT Id FROM {OBJ}").status_code == 200

    salesforce_sim.admin.expire_tokens()
    expired = api.query(f"SELECT Id FROM {OBJ}")
    assert expired.status_code == 401
    assert expired.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert Api(salesforce_sim, "00Dnot-a-token").query(f"SELECT Id FROM {OBJ}").status_code == 401
    no_header = requests.get(f"{salesforce_sim.url}{API}/limits",
                             verify=salesforce_sim.ca_bundle, timeout=30)
    assert_api_error(no_header, 401, "INVALID_SESSION_ID")

    # A token outlives nothing beyond its TTL.
    salesforce_sim.admin.configure(token_ttl_s=0.5)
    short = Api(salesforce_sim)
    assert short.query(f"SELECT Id FROM {OBJ}").status_code == 200
    time.sleep(0.8)
    assert_api_error(short.query(f"SELECT Id FROM {OBJ}"), 401, "INVALID_SESSION_ID")


# -- query --------------------------------------------------------------------------


def test_query_pages_of_2000_over_4500_records(salesforce_sim: SalesforceSim) -> None:
    snappt_ids = [f"prop-{n:05d}" for n in range(4500)]
    ids = salesforce_sim.admin.load_records(
        [{"Name": f"Property {n}", "Snappt_Property_ID__c": s} for n, s in enumerate(snappt_ids)]
    )
    assert len(set(ids)) == 4500
    api = Api(salesforce_sim)

    page = api.query(f"SELECT Id, Snappt_Property_ID__c FROM {OBJ}").json()
    sizes, seen = [], []
    while True:
        assert page["totalSize"] == 4500
        sizes.append(len(page["records"]))
        seen.extend(page["records"])
        if page["done"]:
            assert "nextRecordsUrl" not in page
            break
        next_url = page["nextRecordsUrl"]
        assert re.fullmatch(rf"{API}/query/[0-9A-Za-z]+-{sum(sizes)}", next_url), next_url
        page = api.call("GET", next_url).json()

    assert sizes == [2000, 2000, 500]
    assert len({r["Id"] for r in seen}) == 4500
    assert sorted(r["Snappt_Property_ID__c"] for r in seen) == snappt_ids
    assert seen[0]["attributes"] == {"type": OBJ, "url": f"{API}/sobjects/{OBJ}/{seen[0]['Id']}"}

    # Sforce-Query-Options batchSize: 4500 records in pages of 1000 -> 5 pages.
    small = api.query(f"SELECT Id FROM {OBJ}", headers={"Sforce-Query-Options": "batchSize=1000"})
    assert len(small.json()["records"]) == 1000
    assert small.json()["nextRecordsUrl"].endswith("-1000")
    bad_locator = api.call("GET", f"{API}/query/01gXXXXXXXXXXXXXXX-2000")
    assert_api_error(bad_locator, 400, "INVALID_QUERY_LOCATOR")


def test_query_value_types_filters_and_errors(salesforce_sim: SalesforceSim) -> None:
    salesforce_sim.admin.load_records([
        {"Name": "Alpha", "Snappt_Property_ID__c": "A-1", "City__c": "Austin",
         "Active_Property_Count__c": 3, "Fraud_Detection_Enabled__c": True,
         "Fraud_Detection_Enabled_Date__c": "2024-02-29", "SF_Property_ID__c": "a00Hp00000ABCDE"},
        {"Name": "Beta", "Snappt_Property_ID__c": "B-2", "City__c": "Boston"},
        {"Name": "Gamma", "Snappt_Property_ID__c": "C-3"},
    ])
    api = Api(salesforce_sim)
    fields = ("Name, City__c, Active_Property_Count__c, Fraud_Detection_Enabled__c, "
              "Fraud_Detection_Enabled_Date__c, IDV_Enabled__c, IDV_Enabled_Date__c")
    alpha = api.query(f"SELECT {fields} FROM {OBJ} WHERE Snappt_Property_ID__c = 'a-1'")
    assert alpha.status_code == 200, alpha.text
    record = alpha.json()["records"][0]
    assert record["Active_Property_Count__c"] == 3.0
    assert isinstance(record["Active_Property_Count__c"], float)
    assert '"Active_Property_Count__c": 3.0' in alpha.text
    assert record["Fraud_Detection_Enabled__c"] is True
    assert record["IDV_Enabled__c"] is False  # a checkbox is never null
    assert record["Fraud_Detection_Enabled_Date__c"] == "2024-02-29"
    assert record["IDV_Enabled_Date__c"] is None
    assert list(record) == ["attributes", *[f.strip() for f in fields.split(",")]]

    def names(where: str) -> list[str]:
        response = api.query(f"SELECT Name FROM {OBJ} {where}")
        assert response.status_code == 200, response.text
        return [r["Name"] for r in response.json()["records"]]

    assert names("WHERE Snappt_Property_ID__c IN ('A-1', 'c-3') ORDER BY Id") == ["Alpha", "Gamma"]
    assert names("WHERE City__c != null AND Name != 'Alpha'") == ["Beta"]
    assert names("WHERE City__c = null") == ["Gamma"]
    assert names("ORDER BY Name DESC LIMIT 2") == ["Gamma", "Beta"]
    assert names("WHERE SF_Property_ID__c != null") == ["Alpha"]
    count = api.query(f"SELECT COUNT() FROM {OBJ} WHERE Fraud_Detection_Enabled__c = false")
    assert count.json() == {"totalSize": 2, "done": True, "records": []}

    assert_api_error(api.query(f"SELECT Id, Bogus__c FROM {OBJ}"), 400, "INVALID_FIELD")
    assert_api_error(api.query("SELECT Id FROM Account__x"), 400, "INVALID_TYPE")
    assert_api_error(api.query(f"SELECT FROM {OBJ}"), 400, "MALFORMED_QUERY")
    assert_api_error(api.query(f"SELECT Id FROM {OBJ} WHERE"), 400, "MALFORMED_QUERY")
    assert_api_error(api.call("GET", f"{API}/query"), 400, "MALFORMED_QUERY")


# -- create -----------------------------------------------------------------------------


def test_create_mixed_batch_reports_per_record_results_in_order(
    salesforce_sim: SalesforceSim,
) -> None:
    api = Api(salesforce_sim)
    response = api.create([
        rec(Name="Good One", Snappt_Property_ID__c="g-1", Active_Property_Count__c=2),
        rec(Snappt_Property_ID__c="no-name"),
        rec(Name="Long City", Snappt_Property_ID__c="long", City__c="X" * 41),
        rec(Name="Good Two", Snappt_Property_ID__c="g-2", IDV_Enabled__c=True,
            IDV_Enabled_Date__c="2023-12-31"),
        rec(Name="Dup", Snappt_Property_ID__c="G-1"),
        rec(Name="Linked", Snappt_Property_ID__c="linked", SF_Property_ID__c="a00Hp00000XYZ"),
    ])
    assert response.status_code == 200, response.text
    results = response.json()
    assert [r["success"] for r in results] == [True, False, False, True, False, False]
    assert codes(results[1]) == ["REQUIRED_FIELD_MISSING"]
    assert results[1]["errors"][0]["fields"] == ["Name"]
    assert codes(results[2]) == ["STRING_TOO_LONG"]
    assert results[2]["errors"][0]["fields"] == ["City__c"]
    assert codes(results[4]) == ["DUPLICATE_VALUE"]
    assert codes(results[5]) == ["INVALID_FIELD_FOR_INSERT_UPDATE"]
    assert results[5]["errors"][0]["fields"] == ["SF_Property_ID__c"]
    for failure in (results[1], results[2], results[4], results[5]):
        assert failure.get("id") is None
    assert results[0]["errors"] == [] and normalize_id(results[0]["id"]) == results[0]["id"]

    stored = by_snappt(salesforce_sim)
    assert set(stored) == {"g-1", "g-2"}
    assert stored["g-1"]["Id"] == results[0]["id"]
    assert stored["g-1"]["Active_Property_Count__c"] == 2.0
    assert stored["g-2"]["IDV_Enabled__c"] is True
    assert stored["g-2"]["IDV_Enabled_Date__c"] == "2023-12-31"
    assert stored["g-2"]["Fraud_Detection_Enabled__c"] is False


def test_string_length_limits(salesforce_sim: SalesforceSim) -> None:
    limits = {"Name": 80, "Street__c": 255, "City__c": 40, "State__c": 20,
              "Postal_Code__c": 20, "Company_Name__c": 255}
    records = []
    for n, (name, length) in enumerate(limits.items()):
        for extra in (0, 1):
            fields = {"Name": f"P{n}{extra}", "Snappt_Property_ID__c": f"len-{n}-{extra}"}
            fields[name] = "x" * (length + extra)
            records.append(rec(**fields))
    results = Api(salesforce_sim).create(records).json()
    for n, name in enumerate(limits):
        at_limit, over = results[2 * n], results[2 * n + 1]
        assert at_limit["success"], (name, at_limit)
        assert codes(over) == ["STRING_TOO_LONG"], (name, over)
        assert over["errors"][0]["fields"] == [name]
    assert salesforce_sim.admin.record_count() == 6


def test_duplicate_external_id_never_creates_a_second_record(
    salesforce_sim: SalesforceSim,
) -> None:
    api = Api(salesforce_sim)
    first = api.create([rec(Name="Original", Snappt_Property_ID__c="ABC-123")]).json()[0]
    again = api.create([rec(Name="Retry", Snappt_Property_ID__c="abc-123")]).json()[0]
    assert again["success"] is False
    assert codes(again) == ["DUPLICATE_VALUE"]
    assert again["errors"][0]["message"] == (
        "duplicate value found: Snappt_Property_ID__c duplicates value on record with id: "
        + first["id"][:15]
    )
    records = salesforce_sim.admin.records()
    assert [(r["Id"], r["Name"]) for r in records] == [(first["id"], "Original")]


def test_read_only_and_unknown_fields(salesforce_sim: SalesforceSim) -> None:
    api = Api(salesforce_sim)
    created = api.create([rec(Name="P", Snappt_Property_ID__c="p-1")]).json()[0]
    on_update = api.update([rec(id=created["id"], SF_Property_ID__c="a00Hp00000XYZ")]).json()[0]
    assert codes(on_update) == ["INVALID_FIELD_FOR_INSERT_UPDATE"]
    assert on_update["errors"][0]["fields"] == ["SF_Property_ID__c"]
    on_create = api.create([rec(Name="Q", Snappt_Property_ID__c="q", CreatedDate="2020-01-01")])
    assert codes(on_create.json()[0]) == ["INVALID_FIELD_FOR_INSERT_UPDATE"]
    # Unknown names and values of the wrong JSON type fail the whole request, as the
    # real JSON deserialiser does, and nothing is stored.
    unknown = api.create([rec(Name="R", Snappt_Property_ID__c="r", Colour__c="red")])
    assert_api_error(unknown, 400, "INVALID_FIELD")
    checkbox = api.create([rec(Name="S", Snappt_Property_ID__c="s", IDV_Enabled__c="yes")])
    assert_api_error(checkbox, 400, "JSON_PARSER_ERROR")
    bad_date = api.create([rec(Name="T", Snappt_Property_ID__c="t",
                               IDV_Enabled_Date__c="2023-02-30")])
    assert_api_error(bad_date, 400, "JSON_PARSER_ERROR")
    no_type = api.create([{"Name": "U", "Snappt_Property_ID__c": "u"}])
    assert_api_error(no_type, 400, "INVALID_TYPE")
    assert [r["Snappt_Property_ID__c"] for r in salesforce_sim.admin.records()] == ["p-1"]
    assert salesforce_sim.admin.records()[0]["SF_Property_ID__c"] is None


def test_more_than_200_records_are_refused(salesforce_sim: SalesforceSim) -> None:
    api = Api(salesforce_sim)
    batch = [rec(Name=f"P{n}", Snappt_Property_ID__c=f"p-{n}") for n in range(201)]
    assert_api_error(api.create(batch), 400, "EXCEEDED_ID_LIMIT")
    assert salesforce_sim.admin.record_count() == 0
    results = api.create(batch[:200]).json()
    assert len(results) == 200 and all(r["success"] for r in results)
    assert salesforce_sim.admin.record_count() == 200


def test_all_or_none_rolls_back_every_record(salesforce_sim: SalesforceSim) -> None:
    results = Api(salesforce_sim).create(
        [rec(Name="Fine", Snappt_Property_ID__c="fine"), rec(Snappt_Property_ID__c="nameless")],
        all_or_none=True,
    ).json()
    assert codes(results[0]) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK"]
    assert codes(results[1]) == ["REQUIRED_FIELD_MISSING"]
    assert salesforce_sim.admin.record_count() == 0


def test_empty_text_is_stored_as_null(salesforce_sim: SalesforceSim) -> None:
    api = Api(salesforce_sim)
    created = api.create([rec(Name="P", Snappt_Property_ID__c="p", City__c="",
                              Street__c="1 Main St")]).json()[0]
    assert created["success"]
    assert api.update([rec(id=created["id"], Street__c="")]).json()[0]["success"]
    record = salesforce_sim.admin.records()[0]
    assert record["City__c"] is None and record["Street__c"] is None


# -- update ---------------------------------------------------------------------------


def test_update_by_id_and_id_errors(salesforce_sim: SalesforceSim) -> None:
    first, second = salesforce_sim.admin.load_records([
        {"Name": "Old Name", "Snappt_Property_ID__c": "u-1", "City__c": "Austin"},
        {"Name": "Other", "Snappt_Property_ID__c": "u-2"},
    ])
    before = salesforce_sim.admin.records()[0]
    api = Api(salesforce_sim)
    results = api.update([
        rec(id=first, Name="New Name", IDV_Enabled__c=True, Active_Property_Count__c=4),
        rec(Id=second[:15], Rent_Verification_Enabled_Date__c="2022-06-30"),
        rec(id="not-an-id", Name="X"),
        rec(id="001xx000003DGb2AAG", Name="X"),
        rec(id=make_id(987654), Name="X"),
        rec(Name="no id"),
        rec(id=second, Snappt_Property_ID__c="U-1"),
        rec(id=second, Name=None),
    ]).json()
    assert [r["success"] for r in results] == [True, True] + [False] * 6
    assert results[0]["id"] == first and results[1]["id"] == second
    assert codes(results[2]) == ["MALFORMED_ID"] and results[2]["errors"][0]["fields"] == ["Id"]
    assert codes(results[3]) == ["MALFORMED_ID"]
    assert codes(results[4]) == ["INVALID_CROSS_REFERENCE_KEY"]
    assert codes(results[5]) == ["MISSING_ARGUMENT"]
    assert codes(results[6]) == ["DUPLICATE_VALUE"]
    assert codes(results[7]) == ["REQUIRED_FIELD_MISSING"]

    stored = by_snappt(salesforce_sim)
    assert stored["u-1"]["Name"] == "New Name"
    assert stored["u-1"]["City__c"] == "Austin"  # fields not sent are kept
    assert stored["u-1"]["IDV_Enabled__c"] is True
    assert stored["u-1"]["Active_Property_Count__c"] == 4.0
    assert stored["u-1"]["LastModifiedDate"] >= before["LastModifiedDate"]
    assert stored["u-1"]["CreatedDate"] == before["CreatedDate"]
    assert stored["u-2"]["Rent_Verification_Enabled_Date__c"] == "2022-06-30"
    assert stored["u-2"]["Name"] == "Other"
    assert salesforce_sim.admin.record_count() == 2


# -- faults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "stored"),
    [("503_before", 503, False), ("503_after", 503, True), ("drop_before", None, False),
     ("drop_after", None, True), ("429", 429, False)],
)
def test_fault_kinds(salesforce_sim: SalesforceSim, kind: str, status: int | None,
                     stored: bool) -> None:
    api = Api(salesforce_sim)
    mark = salesforce_sim.admin.request_count()
    salesforce_sim.admin.set_faults(next=[kind])
    if status is None:
        with pytest.raises(requests.ConnectionError):
            api.create([rec(Name="P", Snappt_Property_ID__c="p-1")])
    else:
        response = api.create([rec(Name="P", Snappt_Property_ID__c="p-1")])
        assert response.status_code == status
        assert response.json()[0]["errorCode"] in ("SERVER_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED")
    assert salesforce_sim.admin.record_count() == (1 if stored else 0)

    (entry,) = salesforce_sim.admin.requests(since_index=mark)
    assert entry["fault"] == kind
    assert entry["status"] == status
    assert entry["applied"] is stored
    assert entry["records"] == 1
    # Only the next request was failing: a retry goes through.
    retry = api.create([rec(Name="P", Snappt_Property_ID__c="p-1")]).json()[0]
    assert codes(retry) == (["DUPLICATE_VALUE"] if stored else [])


def test_fault_rate_is_seeded_and_limited_to_methods(salesforce_sim: SalesforceSim) -> None:
    api = Api(salesforce_sim)

    def pattern() -> list[int]:
        return [api.call("GET", f"{API}/limits").status_code for _ in range(20)]

    salesforce_sim.admin.set_faults(rate=0.5, kinds=["503_before"], seed=42)
    first = pattern()
    salesforce_sim.admin.set_faults(rate=0.5, kinds=["503_before"], seed=42)
    assert pattern() == first
    assert set(first) == {200, 503}

    salesforce_sim.admin.set_faults(rate=1.0, kinds=["503_before"], methods=["POST"])
    assert api.call("GET", f"{API}/limits").status_code == 200
    assert api.create([rec(Name="P", Snappt_Property_ID__c="p")]).status_code == 503
    salesforce_sim.admin.clear_faults()
    assert api.create([rec(Name="P", Snappt_Property_ID__c="p")]).status_code == 200


def test_faults_limited_to_paths(salesforce_sim: SalesforceSim) -> None:
    api = Api(salesforce_sim)
    salesforce_sim.admin.set_faults(next=["503_before"], paths=["/composite/sobjects"])
    # The queued fault waits for the first matching request, whatever comes before it.
    assert api.call("GET", f"{API}/limits").status_code == 200
    assert api.create([rec(Name="P", Snappt_Property_ID__c="p")]).status_code == 503
    assert api.create([rec(Name="P", Snappt_Property_ID__c="p")]).status_code == 200


# -- log, limits, persistence ---------------------------------------------------------


def test_request_log(salesforce_sim: SalesforceSim) -> None:
    admin = salesforce_sim.admin
    api = Api(salesforce_sim)  # request 0: the token
    api.create([rec(Name="A", Snappt_Property_ID__c="a"), rec(Name="B", Snappt_Property_ID__c="b")])
    api.query(f"SELECT Id FROM {OBJ}")
    admin.records()  # admin calls are not API requests
    admin.record_count()
    entries = admin.requests()
    assert [(e["index"], e["method"], e["path"], e["status"], e["records"], e["applied"],
             e["fault"]) for e in entries] == [
        (0, "POST", "/services/oauth2/token", 200, 0, True, None),
        (1, "POST", f"{API}/composite/sobjects", 200, 2, True, None),
        (2, "GET", f"{API}/query", 200, 0, True, None),
    ]
    assert admin.request_count() == 3
    assert [e["index"] for e in admin.requests(since_index=2)] == [2]
    admin.clear_requests()
    assert admin.request_count() == 0 and admin.requests() == []


def test_daily_limit(salesforce_sim: SalesforceSim) -> None:
    salesforce_sim.admin.configure(daily_limit=3)
    api = Api(salesforce_sim)  # the token request is not an API request
    usage = []
    for _ in range(3):
        response = api.call("GET", f"{API}/limits")
        assert response.status_code == 200
        usage.append(response.headers["Sforce-Limit-Info"])
    assert usage == ["api-usage=1/3", "api-usage=2/3", "api-usage=3/3"]
    assert response.json()["DailyApiRequests"] == {"Max": 3, "Remaining": 0}
    refused = api.create([rec(Name="P", Snappt_Property_ID__c="p")])
    assert refused.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert refused.status_code == 403
    assert salesforce_sim.admin.record_count() == 0


def test_link_sets_the_production_id(salesforce_sim: SalesforceSim) -> None:
    salesforce_sim.admin.load_records([{"Name": "A", "Snappt_Property_ID__c": "Aa-1"},
                                       {"Name": "B", "Snappt_Property_ID__c": "b-2"}])
    assert salesforce_sim.admin.link({"aa-1": "a00Hp00000PROD1", "zz-9": "a00Hp00000PROD9"}) == 1
    stored = by_snappt(salesforce_sim)
    assert stored["Aa-1"]["SF_Property_ID__c"] == "a00Hp00000PROD1"
    assert stored["b-2"]["SF_Property_ID__c"] is None


def test_state_survives_a_restart(salesforce_sim: SalesforceSim) -> None:
    api = Api(salesforce_sim)
    created = api.create([rec(Name="Kept", Snappt_Property_ID__c="kept")]).json()[0]
    salesforce_sim.admin.configure(daily_limit=500)
    salesforce_sim.simulator.stop()

    again = SalesforceSimulator(salesforce_sim.dsn, free_port(), salesforce_sim.simulator.certs_dir,
                                salesforce_sim.client_id, salesforce_sim.client_secret)
    again.start()
    try:
        admin = SalesforceAdmin(again.url, salesforce_sim.ca_bundle)
        assert [r["Id"] for r in admin.records()] == [created["id"]]
        assert admin.request_count() == 2
        assert admin.config()["daily_limit"] == 500
        salesforce_sim.url = again.url
        response = Api(salesforce_sim, api.token).query(f"SELECT Name FROM {OBJ}")
        assert [r["Name"] for r in response.json()["records"]] == ["Kept"]
    finally:
        again.stop()


def test_command_line_serves_until_sigterm(
    postgres_server: PostgresServer, simulator_certs_dir: Path
) -> None:
    database = postgres_server.create_database("sfcli")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.salesforce", "--host", "127.0.0.1", "--port", str(port),
         "--dsn", postgres_server.dsn(database), "--certs-dir", str(simulator_certs_dir),
         "--client-id", "cli-id", "--client-secret", "cli-secret"],
        cwd=ROOT, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        assert "listening on" in process.stdout.readline()
        admin = SalesforceAdmin(f"https://127.0.0.1:{port}", str(simulator_certs_dir / "ca.pem"))
        assert admin.record_count() == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        postgres_server.drop_database(database)
