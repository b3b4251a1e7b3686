"""An ordinary Salesforce client, simple-salesforce 1.12, against the Salesforce simulator.

Every everyday call a user tries first goes through simple-salesforce's own code
(URL building, headers, JSON, its error mapping), over HTTPS verified against the
simulator's CA. Each result is checked against the simulator's state, read through
the admin API, not only against what simple-salesforce returns.

Login: simple-salesforce's client-credentials flow posts to
`https://{domain}.salesforce.com/services/oauth2/token`, a host the simulator on
127.0.0.1 cannot be. `login_session` mounts a transport adapter that sends that one
host to the simulator; everything after the login goes to the `instance_url` the
token response names, with no redirection. The other tests hand simple-salesforce a
token from the same flow directly (`session_id` + `instance_url`), the way a user of
an existing token would.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from tests.integration.conftest import SalesforceSim

pytestmark = pytest.mark.integration

OBJ = "Product_Property__c"
VERSION = "62.0"
API = f"/services/data/v{VERSION}"
EXT = "Snappt_Property_ID__c"
LOGIN_DOMAIN = "simulator.my"  # simple-salesforce logs in at https://simulator.my.salesforce.com


# -- clients -----------------------------------------------------------------------


def verified_session(sim: SalesforceSim) -> requests.Session:
    session = requests.Session()
    session.verify = sim.ca_bundle
    # With trust_env, REQUESTS_CA_BUNDLE from the environment would replace the CA set
    # on the session (requests merges the environment over session.verify).
    session.trust_env = False
    return session


def get_token(sim: SalesforceSim) -> str:
    response = verified_session(sim).post(
        f"{sim.url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": sim.client_id,
              "client_secret": sim.client_secret},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def client(sim: SalesforceSim, version: str = VERSION, token: str | None = None) -> Salesforce:
    return Salesforce(instance_url=sim.url, session_id=token or get_token(sim),
                      version=version, session=verified_session(sim))


class _LoginHostToSimulator(HTTPAdapter):
    """Sends requests for the login host to the simulator instead (TLS still verified)."""

    def __init__(self, login_origin: str, simulator_url: str) -> None:
        super().__init__()
        self.login_origin, self.simulator_url = login_origin, simulator_url

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
             ) -> requests.Response:
        assert request.url is not None
        request.url = self.simulator_url + request.url.removeprefix(self.login_origin)
        return super().send(request, *args, **kwargs)


def login_session(sim: SalesforceSim) -> requests.Session:
    session = verified_session(sim)
    origin = f"https://{LOGIN_DOMAIN}.salesforce.com"
    session.mount(origin + "/", _LoginHostToSimulator(origin, sim.url))
    return session


# -- helpers -----------------------------------------------------------------------


def stored(sim: SalesforceSim) -> dict[str, dict[str, Any]]:
    """The simulator's records by Id, read through the admin API."""
    return {record["Id"]: record for record in sim.admin.records()}


def error_of(excinfo: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    """The first `{message, errorCode[, fields]}` of the error body simple-salesforce kept."""
    content = excinfo.value.content
    assert isinstance(content, list) and content, content
    return dict(content[0])


def api_log(sim: SalesforceSim, since: int) -> list[tuple[str, str, int | None]]:
    return [(e["method"], e["path"], e["status"]) for e in sim.admin.requests(since)]


def new_property(n: int, **fields: Any) -> dict[str, Any]:
    return {"Name": f"Property {n}", EXT: f"snappt-{n}", "City__c": "Austin",
            "Fraud_Detection_Enabled__c": True, "Fraud_Detection_Enabled_Date__c": "2024-01-31",
            "Active_Property_Count__c": 2, **fields}


# -- login -------------------------------------------------------------------------


def test_client_credentials_login_and_relogin_after_expiry(salesforce_sim: SalesforceSim) -> None:
    sim = salesforce_sim
    sf = Salesforce(consumer_key=sim.client_id, consumer_secret=sim.client_secret,
                    domain=LOGIN_DOMAIN, version=VERSION, session=login_session(sim))
    # The instance comes from the token response, not from the login host.
    assert f"https://{sf.sf_instance}" == sim.url
    assert sf.base_url == f"{sim.url}{API}/"
    assert sf.limits()["DailyApiRequests"]["Max"] == sim.admin.config()["daily_limit"]

    sim.admin.expire_tokens()
    start = sim.admin.request_count()
    assert sf.query("SELECT COUNT() FROM Product_Property__c")["totalSize"] == 0
    # simple-salesforce met the 401, logged in again by itself and repeated the query.
    assert [(m, s) for m, _, s in api_log(sim, start)] == [("GET", 401), ("POST", 200),
                                                         ("GET", 200)]
    assert sim.admin.requests(start)[0]["error_codes"] == ["INVALID_SESSION_ID"]

    with pytest.raises(SalesforceAuthenticationFailed, match="invalid_client"):
        Salesforce(consumer_key=sim.client_id, consumer_secret="wrong", domain=LOGIN_DOMAIN,
                   version=VERSION, session=login_session(sim))


def test_a_bad_session_is_expired_session(salesforce_sim: SalesforceSim) -> None:
    sf = client(salesforce_sim, token="00D000000000000!AQbogus")
    with pytest.raises(SalesforceExpiredSession) as excinfo:
        sf.limits()
    assert excinfo.value.status == 401
    assert error_of(excinfo)["errorCode"] == "INVALID_SESSION_ID"
    assert salesforce_sim.admin.config()["api_usage"] == 0  # refused before counting


# -- query -------------------------------------------------------------------------


def test_query_all_follows_next_records_url(salesforce_sim: SalesforceSim) -> None:
    sim = salesforce_sim
    ids = sim.admin.load_records([new_property(n) for n in range(4100)])
    sf = client(sim)
    start = sim.admin.request_count()

    result = sf.query_all(f"SELECT Id, Name, {EXT} FROM Product_Property__c")

    assert result["totalSize"] == 4100 and result["done"] is True
    # Without ORDER BY, records come in the simulator's Id order, as the admin API lists them.
    assert [r["Id"] for r in result["records"]] == [r["Id"] for r in sim.admin.records()]
    assert sorted(r["Id"] for r in result["records"]) == sorted(ids)
    by_id = stored(sim)
    assert all(r["Name"] == by_id[r["Id"]]["Name"] and r[EXT] == by_id[r["Id"]][EXT]
               for r in result["records"])
    assert set(result["records"][0]) == {"attributes", "Id", "Name", EXT}
    # One query, then a queryMore per further page of 2,000, each by its nextRecordsUrl.
    log = api_log(sim, start)
    assert [(m, s) for m, _, s in log] == [("GET", 200)] * 3
    assert log[0][1] == f"{API}/query/"
    assert log[1][1].startswith(f"{API}/query/01g") and log[1][1].endswith("-2000")
    assert log[2][1].endswith("-4000")

    rest = sf.query_all(f"SELECT Id FROM Product_Property__c WHERE {EXT} IN "
                        "('snappt-7', 'snappt-4099')", include_deleted=True)
    assert sorted(r["Id"] for r in rest["records"]) == [ids[7], ids[4099]]


# -- sObject Rows ----------------------------------------------------------------------


def test_create_get_update_delete(salesforce_sim: SalesforceSim) -> None:
    sim = salesforce_sim
    table = client(sim).Product_Property__c

    created = table.create(new_property(1))
    assert created == {"id": created["id"], "success": True, "errors": []}
    record_id = created["id"]
    assert len(record_id) == 18 and record_id.startswith("a0X")
    row = stored(sim)[record_id]
    assert (row["Name"], row[EXT], row["City__c"]) == ("Property 1", "snappt-1", "Austin")
    assert row["Fraud_Detection_Enabled__c"] is True
    assert row["Active_Property_Count__c"] == 2.0

    got = table.get(record_id)
    assert got["attributes"] == {"type": OBJ, "url": f"{API}/sobjects/{OBJ}/{record_id}"}
    assert {k: v for k, v in got.items() if k != "attributes"} == stored(sim)[record_id]
    assert table.get(record_id[:15])["Id"] == record_id  # the 15-character form too

    assert table.update(record_id, {"City__c": "Dallas", "IDV_Enabled__c": True}) == 204
    row = stored(sim)[record_id]
    assert (row["City__c"], row["IDV_Enabled__c"], row["Name"]) == ("Dallas", True, "Property 1")
    assert row["LastModifiedDate"] >= row["CreatedDate"]

    assert table.delete(record_id) == 204
    assert sim.admin.record_count() == 0
    with pytest.raises(SalesforceResourceNotFound) as excinfo:
        table.get(record_id)
    assert excinfo.value.status == 404
    assert error_of(excinfo)["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound):
        table.delete(record_id)
    with pytest.raises(SalesforceResourceNotFound):
        table.update(record_id, {"City__c": "Waco"})
    assert sim.admin.record_count() == 0


def test_upsert_by_external_id_then_get_by_custom_id(salesforce_sim: SalesforceSim) -> None:
    sim = salesforce_sim
    table = client(sim).Product_Property__c

    response = table.upsert(f"{EXT}/snappt-42", {"Name": "Upserted", "City__c": "Austin"},
                            raw_response=True)
    assert response.status_code == 201
    body = response.json()
    assert body == {"id": body["id"], "success": True, "errors": [], "created": True}
    assert [(r["Id"], r[EXT], r["Name"]) for r in sim.admin.records()] == [
        (body["id"], "snappt-42", "Upserted")
    ]

    # The same external id (case-insensitively) updates that record: 200 since v46.0.
    response = table.upsert(f"{EXT}/SNAPPT-42", {"City__c": "Dallas"}, raw_response=True)
    assert response.status_code == 200
    assert response.json() == {"id": body["id"], "success": True, "errors": [], "created": False}
    assert [(r["Id"], r[EXT], r["City__c"]) for r in sim.admin.records()] == [
        (body["id"], "snappt-42", "Dallas")
    ]
    # Before v46.0 the update answered 204 without a body.
    old = client(sim, version="45.0").Product_Property__c
    assert old.upsert(f"{EXT}/snappt-42", {"State__c": "TX"}) == 204
    assert stored(sim)[body["id"]]["State__c"] == "TX"

    got = table.get_by_custom_id(EXT, "snappt-42")
    assert got["Id"] == body["id"]
    assert {k: v for k, v in got.items() if k != "attributes"} == stored(sim)[body["id"]]

    with pytest.raises(SalesforceResourceNotFound) as excinfo:
        table.get_by_custom_id(EXT, "snappt-missing")
    assert error_of(excinfo)["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound) as excinfo:
        table.get_by_custom_id("Name", "Upserted")  # not an external id field
    assert "Provided external ID field does not exist" in error_of(excinfo)["message"]
    assert sim.admin.record_count() == 1


def test_upsert_of_a_repeated_external_id_lists_the_records(salesforce_sim: SalesforceSim) -> None:
    sim = salesforce_sim
    # Fixture loads skip the unique check, so two records can share an external id.
    ids = sim.admin.load_records([new_property(7), new_property(7, Name="Twin")])
    table = client(sim).Product_Property__c
    before = sim.admin.records()

    with pytest.raises(SalesforceMoreThanOneRecord) as excinfo:
        table.upsert(f"{EXT}/snappt-7", {"City__c": "Dallas"})
    assert excinfo.value.status == 300
    assert excinfo.value.content == [f"{API}/sobjects/{OBJ}/{i}" for i in ids]
    with pytest.raises(SalesforceMoreThanOneRecord):
        table.get_by_custom_id(EXT, "snappt-7")
    assert sim.admin.records() == before


def test_describe_global_object_and_fields(salesforce_sim: SalesforceSim) -> None:
    sim = salesforce_sim
    sim.admin.load_records([new_property(1)])
    sf = client(sim)

    assert [o["name"] for o in sf.describe()["sobjects"]] == [OBJ]
    assert sf.Product_Property__c.metadata()["objectDescribe"]["keyPrefix"] == "a0X"
    described = sf.Product_Property__c.describe()
    assert described["name"] == OBJ and described["deletable"] is True
    fields = {f["name"]: f for f in described["fields"]}
    # The described fields are exactly the fields the simulator stores for a record.
    assert set(fields) == set(sim.admin.records()[0])

    ext = fields[EXT]
    assert (ext["type"], ext["length"], ext["externalId"], ext["unique"], ext["idLookup"]) == (
        "string", 255, True, True, True)
    assert (ext["nillable"], ext["createable"], ext["updateable"]) == (True, True, True)
    assert fields["Id"]["type"] == "id" and fields["Id"]["createable"] is False
    assert fields["Name"]["nillable"] is False and fields["Name"]["length"] == 80
    assert fields["City__c"]["length"] == 40 and fields["City__c"]["externalId"] is False
    # Read-only to the integration user: the simulator refuses writes to it (below).
    assert fields["SF_Property_ID__c"]["createable"] is False
    assert fields["SF_Property_ID__c"]["updateable"] is False
    assert fields["Fraud_Detection_Enabled__c"]["type"] == "boolean"
    assert fields["Fraud_Detection_Enabled_Date__c"]["type"] == "date"
    assert fields["Active_Property_Count__c"]["type"] == "double"
    assert fields["Contributing_Property_IDs__c"]["type"] == "textarea"


def test_limits_reflect_the_daily_allocation(salesforce_sim: SalesforceSim) -> None:
    sim = salesforce_sim
    sim.admin.configure(daily_limit=50)
    sf = client(sim)

    first = sf.limits()["DailyApiRequests"]
    # /limits is itself an API call: it is counted before it answers.
    assert first == {"Max": 50, "Remaining": 50 - sim.admin.config()["api_usage"]}
    sf.query("SELECT COUNT() FROM Product_Property__c")
    second = sf.limits()["DailyApiRequests"]
    assert second["Remaining"] == first["Remaining"] - 2
    assert second["Remaining"] == 50 - sim.admin.config()["api_usage"]
    # simple-salesforce also reads the Sforce-Limit-Info header of every response.
    assert (sf.api_usage["api-usage"].used, sf.api_usage["api-usage"].total) == (
        sim.admin.config()["api_usage"], 50)

    sim.admin.configure(daily_limit=sim.admin.config()["api_usage"])
    with pytest.raises(SalesforceRefusedRequest) as excinfo:
        sf.limits()
    assert excinfo.value.status == 403
    assert error_of(excinfo)["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


# -- errors ----------------------------------------------------------------------------


def test_refusals_map_to_simple_salesforce_errors(salesforce_sim: SalesforceSim) -> None:
    sim = salesforce_sim
    sf = client(sim)
    table = sf.Product_Property__c
    kept = table.create(new_property(1))["id"]
    before = sim.admin.records()

    def refused(call: Any, *args: Any) -> dict[str, Any]:
        with pytest.raises(SalesforceMalformedRequest) as excinfo:
            call(*args)
        assert excinfo.value.status == 400
        return error_of(excinfo)

    too_long = refused(table.create, new_property(2, City__c="x" * 41))
    assert (too_long["errorCode"], too_long["fields"]) == ("STRING_TOO_LONG", ["City__c"])
    assert "max length=40" in too_long["message"]
    assert refused(table.update, kept, {"City__c": "x" * 41})["errorCode"] == "STRING_TOO_LONG"
    missing = refused(table.create, {EXT: "snappt-3"})
    assert (missing["errorCode"], missing["fields"]) == ("REQUIRED_FIELD_MISSING", ["Name"])
    read_only = refused(table.create, new_property(4, SF_Property_ID__c="001000000000001AAA"))
    assert read_only["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert read_only["fields"] == ["SF_Property_ID__c"]
    duplicate = refused(table.create, new_property(5, Snappt_Property_ID__c="SNAPPT-1"))
    assert duplicate["errorCode"] == "DUPLICATE_VALUE"
    assert duplicate["message"].endswith(kept[:15])
    assert refused(table.create, new_property(6, Nope__c=1))["errorCode"] == "INVALID_FIELD"
    upsert_too_long = refused(table.upsert, f"{EXT}/snappt-8", new_property(8, State__c="x" * 21))
    assert upsert_too_long["errorCode"] == "STRING_TOO_LONG"
    malformed = refused(table.get, "001000000000001")  # an Id, but of another object
    assert (malformed["errorCode"], malformed["fields"]) == ("MALFORMED_ID", ["Id"])
    assert refused(table.delete, "001000000000001AAA")["errorCode"] == "MALFORMED_ID"
    with pytest.raises(SalesforceResourceNotFound):
        table.get("not-an-id")
    # Nothing of the refused writes reached the simulator.
    assert sim.admin.records() == before

    # The same record sent through sObject Collections is refused with the same code.
    response = sf.session.post(
        f"{sim.url}{API}/composite/sobjects", headers=sf.headers, timeout=30,
        json={"records": [{"attributes": {"type": OBJ}, **new_property(2, City__c="x" * 41)}]},
    )
    assert [e["statusCode"] for e in response.json()[0]["errors"]] == ["STRING_TOO_LONG"]
    assert sim.admin.records() == before


def test_single_record_calls_are_logged_and_faulted(salesforce_sim: SalesforceSim) -> None:
    sim = salesforce_sim
    table = client(sim).Product_Property__c
    start = sim.admin.request_count()

    sim.admin.set_faults(next=["503_after"], paths=["/sobjects/"])
    with pytest.raises(SalesforceGeneralError) as excinfo:
        table.create(new_property(1))
    assert excinfo.value.status == 503
    # Applied, then failed: the client cannot tell, the simulator's state can.
    (record,) = sim.admin.records()
    assert record[EXT] == "snappt-1"
    entry = sim.admin.requests(start)[0]
    assert (entry["method"], entry["path"], entry["records"], entry["fault"], entry["applied"]
            ) == ("POST", f"{API}/sobjects/{OBJ}/", 1, "503_after", True)

    sim.admin.set_faults(next=["drop_before"], paths=["/sobjects/"])
    with pytest.raises(requests.ConnectionError):
        table.update(record["Id"], {"City__c": "Dallas"})
    assert stored(sim)[record["Id"]]["City__c"] == "Austin"
    entry = sim.admin.requests(start)[-1]
    assert (entry["method"], entry["status"], entry["fault"], entry["applied"]) == (
        "PATCH", None, "drop_before", False)

    sim.admin.clear_faults()
    assert table.delete(record["Id"]) == 204
    assert sim.admin.requests(start)[-1]["applied"] is True
    assert sim.admin.record_count() == 0
