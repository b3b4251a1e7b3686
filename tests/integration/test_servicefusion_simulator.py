"""The ServiceFusion simulator over real HTTPS, checked against the public v1 API's shapes.

Every call goes through plain `requests` with `verify=<the simulator's CA>`. Expected
values are written by hand from what each test sends, never read back from an
earlier run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.servicefusion import ServiceFusionSimulator
from sandbox.servicefusion_admin import ServiceFusionAdmin, ServiceFusionAdminError
from tests.conftest import PostgresServer, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "sf-test-client", "-sf-test-secret"


@dataclass
class ServiceFusionSim:
    url: str
    ca_bundle: str
    admin: ServiceFusionAdmin
    simulator: ServiceFusionSimulator | None  # None when served by a subprocess


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
                               ServiceFusionAdmin(simulator.url, ca_bundle), simulator)
    finally:
        simulator.stop()
        postgres_server.drop_database(database)


# -- helpers ------------------------------------------------------------------


def token_response(sim: ServiceFusionSim, as_json: bool = True, **overrides: str
                   ) -> requests.Response:
    body = {"grant_type": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, **overrides}
    kwargs: dict[str, Any] = {"json": body} if as_json else {"data": body}
    return requests.post(f"{sim.url}/oauth/access_token", verify=sim.ca_bundle, timeout=30,
                         **kwargs)


class Api:
    def __init__(self, sim: ServiceFusionSim, token: str | None = None) -> None:
        self.sim = sim
        self.token = token or token_response(sim).json()["access_token"]

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.sim.url}/v1{path}", headers=headers,
                                verify=self.sim.ca_bundle, timeout=30, **kwargs)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.call("POST", path, json=body, params=params)


def customer(name: str, **fields: Any) -> dict[str, Any]:
    return {"customer_name": name, **fields}


def location(street: str, postal_code: str = "78701", **fields: Any) -> dict[str, Any]:
    return {"street_1": street, "city": "Austin", "state_prov": "TX",
            "postal_code": postal_code, **fields}


@pytest.fixture
def api(sf: ServiceFusionSim) -> Api:
    # Tests that page through many records must not trip the default 60/minute limit.
    sf.admin.configure(rate_limit=1000)
    return Api(sf)


# -- tokens and auth ------------------------------------------------------------


def test_token_from_json_and_form_bodies(sf: ServiceFusionSim) -> None:
    for as_json in (True, False):
        response = token_response(sf, as_json=as_json)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 3600
        me = Api(sf, body["access_token"]).get("/me")
        assert me.status_code == 200
        assert set(me.json()) >= {"id", "first_name", "last_name", "email"}


def test_token_refusals(sf: ServiceFusionSim) -> None:
    bad = token_response(sf, client_secret="wrong")
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_client"
    grant = token_response(sf, grant_type="password")
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"


def test_refresh_token_gives_a_new_pair_once(sf: ServiceFusionSim) -> None:
    first = token_response(sf).json()
    again = token_response(sf, grant_type="refresh_token",
                           refresh_token=first["refresh_token"])
    assert again.status_code == 200
    assert again.json()["access_token"] != first["access_token"]
    assert Api(sf, again.json()["access_token"]).get("/me").status_code == 200
    reused = token_response(sf, grant_type="refresh_token",
                            refresh_token=first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


def test_401_without_token_with_a_bad_one_and_after_expiry(sf: ServiceFusionSim) -> None:
    none = requests.get(f"{sf.url}/v1/customers", verify=sf.ca_bundle, timeout=30)
    assert none.status_code == 401
    assert none.json() == {"code": 401, "name": "Unauthorized",
                           "message": "Your request was made with invalid credentials."}
    assert none.headers["WWW-Authenticate"].startswith("Bearer")
    assert Api(sf, "not-a-token").get("/customers").status_code == 401
    api = Api(sf)
    assert api.get("/customers").status_code == 200
    assert sf.admin.expire_tokens() == 1
    expired = api.get("/customers")
    assert expired.status_code == 401
    assert expired.json()["code"] == 401


def test_token_ttl_is_configurable(sf: ServiceFusionSim) -> None:
    sf.admin.configure(token_ttl_s=1)
    body = token_response(sf).json()
    assert body["expires_in"] == 1
    time.sleep(1.2)
    assert Api(sf, body["access_token"]).get("/me").status_code == 401


# -- listing ------------------------------------------------------------------------


def test_paging_to_the_end_with_meta_and_headers(sf: ServiceFusionSim, api: Api) -> None:
    sf.admin.load_customers([customer(f"Customer {i:02d}") for i in range(1, 24)])
    seen: list[str] = []
    page = 1
    while True:
        response = api.get("/customers", page=page, **{"per-page": 10})
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"items", "_expandable", "_meta"}
        meta = body["_meta"]
        assert meta == {"totalCount": 23, "pageCount": 3, "currentPage": page, "perPage": 10}
        assert response.headers["X-Pagination-Total-Count"] == "23"
        assert response.headers["X-Pagination-Page-Count"] == "3"
        assert response.headers["X-Pagination-Current-Page"] == str(page)
        assert response.headers["X-Pagination-Per-Page"] == "10"
        seen += [item["customer_name"] for item in body["items"]]
        if meta["currentPage"] >= meta["pageCount"]:
            break
        page += 1
    assert seen == [f"Customer {i:02d}" for i in range(1, 24)]
    assert len(body["items"]) == 3
    # Past the end: the last page again (Yii2 clamps), not an empty one.
    beyond = api.get("/customers", page=9, **{"per-page": 10}).json()
    assert beyond["_meta"]["currentPage"] == 3
    assert [i["customer_name"] for i in beyond["items"]] == seen[20:]


def test_default_per_page_is_10_and_capped_at_50(sf: ServiceFusionSim, api: Api) -> None:
    sf.admin.load_customers([customer(f"C{i:03d}") for i in range(60)])
    default = api.get("/customers").json()
    assert default["_meta"]["perPage"] == 10
    assert len(default["items"]) == 10
    capped = api.get("/customers", **{"per-page": 200})
    assert capped.json()["_meta"] == {"totalCount": 60, "pageCount": 2, "currentPage": 1,
                                      "perPage": 50}
    assert len(capped.json()["items"]) == 50
    assert capped.headers["X-Pagination-Per-Page"] == "50"
    assert api.get("/customers", **{"per-page": 0}).json()["_meta"]["perPage"] == 1


def test_empty_list(api: Api) -> None:
    body = api.get("/jobs").json()
    assert body["items"] == []
    assert body["_meta"] == {"totalCount": 0, "pageCount": 0, "currentPage": 1, "perPage": 10}


def test_sort_and_fields(sf: ServiceFusionSim, api: Api) -> None:
    sf.admin.load_customers([customer("bravo", account_number="PW-P-2"),
                             customer("Alpha", account_number="PW-P-3"),
                             customer("charlie", account_number="PW-P-1")])
    names = [i["customer_name"] for i in api.get("/customers", sort="customer_name")
             .json()["items"]]
    assert names == ["Alpha", "bravo", "charlie"]
    desc = api.get("/customers", sort="-account_number").json()["items"]
    assert [i["account_number"] for i in desc] == ["PW-P-3", "PW-P-2", "PW-P-1"]
    only = api.get("/customers", fields="id,customer_name,no_such_field").json()["items"]
    assert all(set(item) == {"id", "customer_name"} for item in only)
    bad = api.get("/customers", sort="nope")
    assert bad.status_code == 400
    assert bad.json()["code"] == 400


def test_expand_contacts_and_locations(sf: ServiceFusionSim, api: Api) -> None:
    sf.admin.load_customers([customer(
        "Oak Court", contacts=[{"fname": "Ann", "lname": "Lee",
                                "phones": [{"phone": "555-123-4567", "type": "Mobile"}],
                                "emails": [{"email": "ann@example.com"}]}],
        locations=[location("1 Oak Ct")],
    )])
    plain = api.get("/customers").json()
    assert "contacts" not in plain["items"][0]
    assert "locations" not in plain["items"][0]
    assert set(plain["_expandable"]) >= {"contacts", "locations", "contacts.phones"}
    body = api.get("/customers", expand="contacts,locations").json()
    item = body["items"][0]
    assert [(c["fname"], c["lname"], c["is_primary"]) for c in item["contacts"]] == [
        ("Ann", "Lee", True)]
    assert "phones" not in item["contacts"][0]
    assert item["locations"][0]["street_1"] == "1 Oak Ct"
    assert "contacts" not in body["_expandable"]
    deep = api.get("/customers", expand="contacts.phones,contacts.emails").json()["items"][0]
    assert deep["contacts"][0]["phones"][0]["phone"] == "555-123-4567"
    assert deep["contacts"][0]["emails"][0]["email"] == "ann@example.com"


def test_job_filters(sf: ServiceFusionSim, api: Api) -> None:
    [cid] = sf.admin.load_customers([customer("Elm Building")])
    sf.admin.load_jobs([
        {"customer_name": str(cid), "po_number": "WO-1", "status": "Scheduled",
         "updated_at": "2025-01-01T10:00:00+00:00"},
        {"customer_name": "Elm Building", "po_number": "WO-2", "status": "Completed",
         "updated_at": "2025-02-01T10:00:00Z"},
        {"customer_name": "Elm Building", "po_number": "WO-3", "status": "Scheduled",
         "updated_at": "2025-03-01T10:00:00+02:00"},
    ])

    def po_numbers(**params: Any) -> list[str]:
        response = api.get("/jobs", sort="po_number", **params)
        assert response.status_code == 200, response.text
        return [item["po_number"] for item in response.json()["items"]]

    assert po_numbers(**{"filters[updated_date][gte]": "2025-02-01T10:00:00+00:00"}) == [
        "WO-2", "WO-3"]
    assert po_numbers(**{"filters[updated_date][gte]": "2025-02-01T10:00:01Z"}) == ["WO-3"]
    assert po_numbers(**{"filters[updated_date][lte]": "2025-02-01T10:00:00Z"}) == [
        "WO-1", "WO-2"]
    assert po_numbers(**{"filters[po_number]": "WO-2"}) == ["WO-2"]
    assert po_numbers(**{"filters[status]": "Scheduled"}) == ["WO-1", "WO-3"]
    assert po_numbers(**{"filters[status]": "Scheduled", "filters[po_number]": "WO-3"}) == [
        "WO-3"]
    bad_date = api.get("/jobs", **{"filters[updated_date][gte]": "yesterday"})
    assert bad_date.status_code == 422
    assert bad_date.json()[0]["field"] == "updated_date"
    unknown = api.get("/jobs", **{"filters[colour]": "red"})
    assert unknown.status_code == 422


def test_customer_filters(sf: ServiceFusionSim, api: Api) -> None:
    sf.admin.load_customers([
        customer("Maple Portfolio", locations=[location("10 Maple St", "78701")]),
        customer("Pine Building", locations=[location("20 Pine Ave", "78702")]),
        customer("Maple Annex", locations=[location("30 Cedar Rd", "78702")]),
    ])

    def names(**params: Any) -> list[str]:
        items = api.get("/customers", sort="customer_name", **params).json()["items"]
        return [item["customer_name"] for item in items]

    assert names(**{"filters[name]": "maple"}) == ["Maple Annex", "Maple Portfolio"]
    assert names(**{"filters[postal_code]": "78702"}) == ["Maple Annex", "Pine Building"]
    assert names(**{"filters[address]": "pine ave"}) == ["Pine Building"]
    assert names(**{"filters[name]": "maple", "filters[postal_code]": "78702"}) == [
        "Maple Annex"]


def test_reference_lists(api: Api) -> None:
    statuses = api.get("/job-statuses", **{"per-page": 50}).json()
    names = [s["name"] for s in statuses["items"]]
    for name in ("Unscheduled", "Scheduled", "Dispatched", "On Site", "Completed",
                 "Cancelled", "Awaiting Parts"):
        assert name in names
    assert api.get("/job-categories").json()["_meta"]["totalCount"] >= 1
    techs = api.get("/techs").json()["items"]
    assert {"id", "first_name", "last_name"} <= set(techs[0])
    assert api.get(f"/techs/{techs[0]['id']}").json()["id"] == techs[0]["id"]


# -- create -------------------------------------------------------------------------


def test_create_customer_with_nested_contacts_and_locations(sf: ServiceFusionSim,
                                                            api: Api) -> None:
    parent = api.post("/customers", customer("Lakeside Portfolio",
                                             account_number="PW-P-17"))
    assert parent.status_code == 201, parent.text
    body = customer(
        "Lakeside Tower", account_number="PW-B-301", parent_customer="Lakeside Portfolio",
        private_notes="synced from PropertyWare", ignored_field="x", id=1,
        contacts=[
            {"fname": "Rosa", "lname": "Diaz", "contact_type": "Tenant",
             "phones": [{"phone": "555-987-6543", "type": "Mobile"}],
             "emails": [{"email": "rosa@example.com"}]},
            {"fname": "Sam", "lname": "Ng", "is_primary": True},
        ],
        locations=[location("5 Lake Rd", "78703", street_2="Unit 4B", nickname="4B")],
    )
    created = api.post("/customers", body)
    assert created.status_code == 201, created.text
    new = created.json()
    assert new["id"] != 1
    assert created.headers["Location"].endswith(f"/v1/customers/{new['id']}")
    assert new["customer_name"] == "Lakeside Tower"
    assert new["fully_qualified_name"] == "Lakeside Portfolio:Lakeside Tower"
    assert "ignored_field" not in new
    read = api.get(f"/customers/{new['id']}",
                   expand="contacts,contacts.phones,contacts.emails,locations").json()
    assert read["account_number"] == "PW-B-301"
    assert read["parent_customer"] == "Lakeside Portfolio"
    assert read["private_notes"] == "synced from PropertyWare"
    assert read["created_at"].endswith("+00:00")
    assert [(c["fname"], c["lname"], c["is_primary"]) for c in read["contacts"]] == [
        ("Rosa", "Diaz", False), ("Sam", "Ng", True)]
    assert read["contacts"][0]["contact_type"] == "Tenant"
    assert read["contacts"][0]["phones"] == [
        {"phone": "555-987-6543", "ext": None, "type": "Mobile", "is_mobile": False}]
    assert read["contacts"][0]["emails"][0]["email"] == "rosa@example.com"
    [loc] = read["locations"]
    assert (loc["street_1"], loc["street_2"], loc["postal_code"], loc["nickname"],
            loc["is_primary"]) == ("5 Lake Rd", "Unit 4B", "78703", "4B", True)


def test_customer_422s(api: Api) -> None:
    def errors(body: Any) -> list[dict[str, str]]:
        response = api.post("/customers", body)
        assert response.status_code == 422, response.text
        return list(response.json())

    assert errors({"account_number": "PW-P-1"}) == [
        {"field": "customer_name", "message": "Customer Name cannot be blank."}]
    long = errors(customer("x" * 46))
    assert long[0]["field"] == "customer_name"
    assert "45" in long[0]["message"]
    assert api.post("/customers", customer("x" * 45)).status_code == 201
    assert errors(customer("A", contacts=[{"fname": "Ann"}])) == [
        {"field": "contacts[0][lname]", "message": "Lname cannot be blank."}]
    phone = errors(customer("A", contacts=[{"fname": "A", "lname": "B",
                                            "phones": [{"phone": "5551234567"}]}]))
    assert phone[0]["field"] == "contacts[0][phones][0][phone]"
    no_street = errors(customer("A", locations=[{"city": "Austin"}]))
    assert no_street[0]["field"] == "locations[0][street_1]"
    both = errors({"contacts": [{"lname": "B"}]})
    assert {e["field"] for e in both} == {"customer_name", "contacts[0][fname]"}
    assert errors(customer("A", parent_customer="Nobody"))[0]["field"] == "parent_customer"
    assert api.get("/customers").json()["_meta"]["totalCount"] == 1  # only the 45-char one


def test_create_job_and_422s(sf: ServiceFusionSim, api: Api) -> None:
    [cid] = sf.admin.load_customers([customer("Birch Building")])
    created = api.post("/jobs", {"customer_name": "Birch Building", "po_number": "WO-77",
                                 "category": "Plumbing", "description": "Leak under sink",
                                 "street_1": "9 Birch Way", "number": "999",
                                 "notes": [{"notes": "Tenant home after 5"}]})
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["customer_id"] == cid
    assert job["customer_name"] == "Birch Building"
    assert job["status"] == "Unscheduled"
    assert job["number"] == "1001"  # server-set, the body's "number" is ignored
    assert job["created_at"] == job["updated_at"]
    by_id = api.post("/jobs", {"customer_name": str(cid), "status": "Scheduled"})
    assert by_id.status_code == 201
    assert by_id.json()["number"] == "1002"
    read = api.get(f"/jobs/{job['id']}", expand="notes").json()
    assert read["po_number"] == "WO-77"
    assert read["notes"][0]["notes"] == "Tenant home after 5"

    unknown = api.post("/jobs", {"customer_name": "Nobody"})
    assert unknown.status_code == 422
    assert unknown.json()[0]["field"] == "customer_name"
    missing = api.post("/jobs", {"po_number": "WO-1"})
    assert missing.json() == [{"field": "customer_name",
                               "message": "Customer Name cannot be blank."}]
    bad = api.post("/jobs", {"customer_name": "Birch Building", "status": "Done",
                             "category": "Nope", "description": "x" * 501})
    assert {e["field"] for e in bad.json()} == {"status", "category", "description"}
    assert api.get("/jobs").json()["_meta"]["totalCount"] == 2


def test_bad_json_body(api: Api) -> None:
    response = api.call("POST", "/customers", data=b"{not json",
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["name"] == "Bad Request"


# -- refused methods, 404s ---------------------------------------------------------------


def test_put_patch_delete_refused(sf: ServiceFusionSim, api: Api) -> None:
    [cid] = sf.admin.load_customers([customer("Fir House")])
    for method in ("PUT", "PATCH", "DELETE"):
        for path in (f"/customers/{cid}", "/customers", "/jobs"):
            response = api.call(method, path, json={"customer_name": "Changed"})
            assert response.status_code == 405, (method, path)
            assert response.json()["code"] == 405
            assert "GET" in response.headers["Allow"]
    no_token = requests.delete(f"{sf.url}/v1/customers/{cid}", verify=sf.ca_bundle,
                               timeout=30)
    assert no_token.status_code == 405  # the verb check comes before authentication
    assert api.post(f"/customers/{cid}", {}).status_code == 405
    assert api.get(f"/customers/{cid}").json()["customer_name"] == "Fir House"


def test_html_404s(api: Api) -> None:
    for path in ("/customers/999999", "/jobs/42", "/customers/abc", "/no-such-thing"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"].startswith("text/html")
        assert "Not Found (#404)" in response.text
    assert requests.get(f"{api.sim.url}/v2/customers", verify=api.sim.ca_bundle,
                        timeout=30).status_code == 404
    # An unknown id is answered after authentication, with the limit headers.
    assert "X-Rate-Limit-Remaining" in api.get("/customers/999999").headers
    unauthenticated = requests.get(f"{api.sim.url}/v1/customers/999999",
                                   verify=api.sim.ca_bundle, timeout=30)
    assert unauthenticated.status_code == 401


def test_contacts_and_locations_cannot_be_added_later(sf: ServiceFusionSim, api: Api) -> None:
    [cid] = sf.admin.load_customers([customer("Spruce Building")])
    for nested in ("contacts", "locations"):
        response = api.post(f"/customers/{cid}/{nested}", {"fname": "A", "lname": "B",
                                                           "street_1": "1 Unit"})
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("text/html")
    assert api.post("/contacts", {"fname": "A", "lname": "B"}).status_code == 404
    read = api.get(f"/customers/{cid}", expand="contacts,locations").json()
    assert read["contacts"] == [] and read["locations"] == []


def test_fields_and_expand_on_read_one_and_create(sf: ServiceFusionSim, api: Api) -> None:
    created = api.post("/customers", customer("Willow", locations=[location("2 Willow")]),
                       fields="id,customer_name", expand="locations")
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "customer_name", "locations", "_expandable"}
    assert "locations" not in body["_expandable"]
    one = api.get(f"/customers/{body['id']}", fields="account_number").json()
    assert set(one) == {"account_number", "_expandable"}


# -- rate limit ----------------------------------------------------------------------


def test_rate_limit_429_body_and_headers(sf: ServiceFusionSim) -> None:
    sf.admin.configure(rate_limit=3, rate_window_s=60)
    api = Api(sf)
    remaining = []
    for _ in range(3):
        response = api.get("/me")
        assert response.status_code == 200
        assert response.headers["X-Rate-Limit-Limit"] == "3"
        remaining.append(response.headers["X-Rate-Limit-Remaining"])
        assert int(response.headers["X-Rate-Limit-Reset"]) > 0
    assert remaining == ["2", "1", "0"]
    over = api.get("/customers")
    assert over.status_code == 429
    assert over.json() == {"code": 429, "name": "Too Many Requests.",
                           "message": "Rate limit exceeded."}
    assert "Retry-After" not in over.headers
    assert over.headers["X-Rate-Limit-Remaining"] == "0"
    assert over.headers["X-Rate-Limit-Limit"] == "3"
    # Per token: a new token has its own allowance.
    assert Api(sf).get("/me").status_code == 200


def test_rate_limit_refills_with_time(sf: ServiceFusionSim) -> None:
    # One request back per 2 s, in whole requests: the three quick calls (less than a
    # second apart, whichever second boundary they straddle) earn nothing back.
    sf.admin.configure(rate_limit=2, rate_window_s=4)
    api = Api(sf)
    assert [api.get("/me").status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(2.1)
    assert api.get("/me").status_code == 200


# -- faults --------------------------------------------------------------------------


def test_drop_after_create_the_record_exists_once(sf: ServiceFusionSim, api: Api) -> None:
    sf.admin.set_faults(next=["drop_after"], methods=["POST"], paths=["/v1/customers"])
    with pytest.raises(requests.ConnectionError):
        api.post("/customers", customer("Lost Reply LLC", account_number="PW-P-9"))
    # The create was applied although the client saw nothing: a blind retry duplicates.
    assert sf.admin.counts()["customers"] == 1
    retried = api.post("/customers", customer("Lost Reply LLC", account_number="PW-P-9"))
    assert retried.status_code == 201
    found = api.get("/customers", **{"filters[name]": "Lost Reply"}).json()
    assert found["_meta"]["totalCount"] == 2
    log = sf.admin.requests()
    dropped = [e for e in log if e["fault"] == "drop_after"]
    assert len(dropped) == 1
    assert dropped[0]["status"] is None
    assert dropped[0]["applied"] is True
    assert dropped[0]["created_id"] is not None
    assert dropped[0]["body"]["account_number"] == "PW-P-9"


def test_drop_before_and_503s(sf: ServiceFusionSim, api: Api) -> None:
    [cid] = sf.admin.load_customers([customer("Ash Co")])
    job = {"customer_name": str(cid), "po_number": "WO-5"}
    sf.admin.set_faults(next=["drop_before", "503_before", "503_after"], methods=["POST"])
    with pytest.raises(requests.ConnectionError):
        api.post("/jobs", job)
    assert sf.admin.counts()["jobs"] == 0
    before = api.post("/jobs", job)
    assert before.status_code == 503
    assert before.json()["code"] == 503
    assert sf.admin.counts()["jobs"] == 0
    after = api.post("/jobs", job)
    assert after.status_code == 503
    assert sf.admin.counts()["jobs"] == 1
    assert api.post("/jobs", job).status_code == 201


def test_429_and_slow_faults(sf: ServiceFusionSim, api: Api) -> None:
    sf.admin.set_faults(next=["429", "slow"], slow_s=1.0)
    limited = api.get("/me")
    assert limited.status_code == 429
    assert limited.json()["message"] == "Rate limit exceeded."
    assert "Retry-After" not in limited.headers
    started = time.monotonic()
    slow = api.get("/me")
    assert slow.status_code == 200
    assert time.monotonic() - started >= 1.0


def test_a_slow_answer_holds_up_only_its_own_request(sf: ServiceFusionSim, api: Api) -> None:
    sf.admin.set_faults(next=["slow"], paths=["/v1/me"], slow_s=2.0)
    results: list[int] = []
    slow = threading.Thread(target=lambda: results.append(api.get("/me").status_code))
    started = time.monotonic()
    slow.start()
    time.sleep(0.3)  # the slow request is in, waiting
    assert api.get("/customers").status_code == 200
    assert time.monotonic() - started < 1.5
    slow.join(timeout=10)
    assert results == [200]
    assert time.monotonic() - started >= 2.0


def test_seeded_fault_rate_is_deterministic(sf: ServiceFusionSim, api: Api) -> None:
    def run() -> list[int]:
        sf.admin.set_faults(rate=0.5, kinds=["503_before"], seed=7, paths=["/v1/me"])
        return [api.get("/me").status_code for _ in range(12)]

    first = run()
    assert set(first) == {200, 503}
    assert run() == first


# -- admin ---------------------------------------------------------------------------


def test_admin_set_job_status_is_what_the_api_reads(sf: ServiceFusionSim, api: Api) -> None:
    [cid] = sf.admin.load_customers([customer("Cedar Place")])
    [job_id] = sf.admin.load_jobs([{"customer_name": str(cid), "po_number": "WO-10",
                                    "status": "Scheduled",
                                    "updated_at": "2025-01-01T00:00:00+00:00"}])
    changed = sf.admin.set_job_status(job_id, "Completed", at="2025-06-01T12:30:00+00:00")
    assert changed["status"] == "Completed"
    job = api.get(f"/jobs/{job_id}").json()
    assert job["status"] == "Completed"
    assert job["updated_at"] == "2025-06-01T12:30:00+00:00"
    assert job["closed_at"] == "2025-06-01T12:30:00+00:00"
    since = api.get("/jobs", **{"filters[updated_date][gte]": "2025-05-01T00:00:00Z"}).json()
    assert [item["id"] for item in since["items"]] == [job_id]
    sf.admin.set_job_status(job_id, "On Site")
    assert api.get(f"/jobs/{job_id}").json()["closed_at"] is None
    with pytest.raises(ServiceFusionAdminError):
        sf.admin.set_job_status(job_id, "Finished")


def test_admin_fixtures_are_validated_and_all_or_nothing(sf: ServiceFusionSim) -> None:
    with pytest.raises(ServiceFusionAdminError):
        sf.admin.load_customers([customer("Good"), customer("y" * 46)])
    assert sf.admin.counts() == {"customers": 0, "jobs": 0}
    ids = sf.admin.load_customers([{"id": 42, "customer_name": "Kept Id",
                                    "created_at": "2024-01-01T00:00:00Z"}])
    assert ids == [42]
    [stored] = sf.admin.customers()
    assert stored["created_at"] == "2024-01-01T00:00:00+00:00"
    assert stored["contacts"] == [] and stored["locations"] == []
    sf.admin.reset()
    assert sf.admin.counts() == {"customers": 0, "jobs": 0}


def test_request_log_keeps_no_secrets(sf: ServiceFusionSim, api: Api) -> None:
    start = sf.admin.request_count()
    api.get("/customers", page=2)
    entries = sf.admin.requests(start)
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/v1/customers", 200)]
    assert entries[0]["query"] == {"page": "2"}
    token_entries = [e for e in sf.admin.requests() if e["path"] == "/oauth/access_token"]
    assert token_entries and all(e["body"] is None for e in token_entries)


def test_state_survives_a_restart(sf: ServiceFusionSim, simulator_certs_dir: Path) -> None:
    sf.admin.load_customers([customer("Persistent Co")])
    assert sf.simulator is not None
    again = ServiceFusionSimulator(sf.simulator.dsn, free_port(), simulator_certs_dir,
                                   CLIENT_ID, CLIENT_SECRET)
    again.start()
    try:
        assert ServiceFusionAdmin(again.url, sf.ca_bundle).counts()["customers"] == 1
    finally:
        again.stop()


# -- command line ----------------------------------------------------------------------


def test_main_serves_with_credentials_from_a_file(
    postgres_server: PostgresServer, simulator_certs_dir: Path, tmp_path: Path
) -> None:
    database = postgres_server.create_database("sfusim")
    credentials = tmp_path / "credentials"
    credentials.write_text(f"{CLIENT_ID}\n{CLIENT_SECRET}\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.servicefusion", "--port", str(port),
         "--dsn", postgres_server.dsn(database), "--certs-dir", str(simulator_certs_dir),
         "--credentials-file", str(credentials)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"listening on https://127.0.0.1:{port}" in line
        url, ca_bundle = f"https://127.0.0.1:{port}", str(simulator_certs_dir / "ca.pem")
        sim = ServiceFusionSim(url, ca_bundle, ServiceFusionAdmin(url, ca_bundle), None)
        assert token_response(sim).status_code == 200
        assert sim.admin.counts() == {"customers": 0, "jobs": 0}
        assert all(CLIENT_SECRET not in str(arg) for arg in process.args)  # type: ignore[union-attr]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        postgres_server.drop_database(database)
    assert process.returncode == 0
