"""The PropertyWare simulator over real HTTPS, driven by zeep as a real client would be.

zeep loads the WSDL from the simulator and gets the SOAP encoding schema (which the
WSDL imports without a location) from its transport cache, pre-filled from the file
the repository ships; a session adapter fails any plain-http request, so nothing is
ever fetched from the network. Expected values are written by hand from the fixture
below, never read back from an earlier run.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
import zeep.cache
import zeep.exceptions
from lxml import etree
from requests.adapters import BaseAdapter

from sandbox.certs import ensure_certificates
from sandbox.generate.propertyware import generate_propertyware
from sandbox.propertyware import PAGE_SIZE, SCHEMA_PATH, SERVICE_PATH, PropertyWareSimulator
from sandbox.propertyware.dto import DTOS, fields
from sandbox.propertyware_admin import PropertyWareAdmin, PropertyWareAdminError
from tests.conftest import PostgresServer, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "sandbox" / "propertyware" / "soap-encoding.xsd"
SOAP_ENCODING_URL = "http://schemas.xmlsoap.org/soap/encoding/"
USER, PASSWORD = "api-user@org-4711", "-starts-with-a-dash"
MODIFIED_LONG_AGO = "2024-03-01T12:00:00Z"


@dataclass
class PwSim:
    url: str
    ca_bundle: str
    admin: PropertyWareAdmin
    simulator: PropertyWareSimulator
    dsn: str

    @property
    def service_url(self) -> str:
        return self.url + SERVICE_PATH


@pytest.fixture(scope="module")
def pw_certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    certs_dir = tmp_path_factory.mktemp("propertyware-certs")
    ensure_certificates(certs_dir)
    return certs_dir


@pytest.fixture
def pw_sim(postgres_server: PostgresServer, pw_certs_dir: Path) -> Iterator[PwSim]:
    database = postgres_server.create_database("pwsim")
    dsn = postgres_server.dsn(database)
    simulator = PropertyWareSimulator(dsn, free_port(), pw_certs_dir, USER, PASSWORD)
    simulator.start()
    ca_bundle = str(pw_certs_dir / "ca.pem")
    try:
        yield PwSim(simulator.url, ca_bundle, PropertyWareAdmin(simulator.url, ca_bundle),
                    simulator, dsn)
    finally:
        simulator.stop()
        postgres_server.drop_database(database)


# -- the fixture --------------------------------------------------------------------

BUILDINGS = 2 * PAGE_SIZE + 5  # two full pages and a short third one


def fixture() -> dict[str, list[dict[str, Any]]]:
    buildings = [
        {"ID": 1000 + n, "name": f"Building {n}", "abbreviation": f"B{n}", "active": True,
         "address": f"{n} Main St", "city": "Austin", "state": "TX", "zip": "78701",
         "multiUnit": n == 0, "rentable": n != 0, "portfolioID": 10, "buildingID": 1000 + n,
         "yearBuilt": 1990, "_lastModified": MODIFIED_LONG_AGO}
        for n in range(BUILDINGS)
    ]
    unit = {"active": True, "city": "Austin", "state": "TX", "zip": "78701",
            "multiUnit": False, "status": "Occupied", "type": "Apartment",
            "_lastModified": MODIFIED_LONG_AGO}
    return {
        "portfolios": [
            {"ID": 10, "name": "Oak Holdings", "abbreviation": "OAK", "active": True,
             "managementCompany": "Summit Residential"},
            {"ID": 11, "name": "Elm Partners", "abbreviation": "ELM", "active": False,
             "managementCompany": "Summit Residential"},
        ],
        "buildings": buildings,
        "units": [
            {**unit, "ID": 5001, "name": "101", "buildingID": 1000, "numberBedrooms": 2,
             "numberBathrooms": 1.5, "address": "0 Main St", "address2": "Unit 101"},
            {**unit, "ID": 5002, "name": "102", "buildingID": 1000, "numberBedrooms": 1,
             "numberBathrooms": 1.0},
            {**unit, "ID": 5003, "name": "103", "buildingID": 1000, "status": "Vacant"},
            {**unit, "ID": 5010, "name": "1 Main St", "buildingID": 1001, "type": "House"},
        ],
        "contacts": [
            {"ID": 7001, "firstName": "Ann", "lastName": "Lee", "completeName": "Ann Lee",
             "email": "ann@example.com", "contactType": "Tenant", "mobilePhone": "512-555-0101"},
            {"ID": 7002, "firstName": "Bob", "lastName": "Lee", "completeName": "Bob Lee",
             "contactType": "Tenant"},
            {"ID": 7003, "firstName": "Cy", "lastName": "Park", "completeName": "Cy Park",
             "contactType": "Tenant"},
        ],
        "leases": [
            {"ID": 8001, "active": True, "buildingID": 1000, "unitID": 5001,
             "leaseName": "Lee - 101", "leaseStatus": "Active",
             "startDate": "2025-01-01T00:00:00Z", "endDate": "2025-12-31T00:00:00Z",
             "moveInDate": "2025-01-01T00:00:00Z", "tenantIDs": [7001, 7002],
             "primaryContactID": 7001},
            {"ID": 8002, "active": False, "buildingID": 1000, "unitID": 5002,
             "leaseName": "Park - 102", "leaseStatus": "Past",
             "startDate": "2022-06-01T00:00:00Z", "endDate": "2023-05-31T00:00:00Z",
             "moveOutDate": "2023-05-31T00:00:00Z", "tenantIDs": [7003],
             "primaryContactID": 7003},
        ],
        "vendors": [
            {"ID": 9001, "name": "Ace Plumbing", "companyName": "Ace Plumbing LLC",
             "vendorType": "Plumbing", "active": True, "email": "ops@ace.example"},
        ],
        "workOrders": [
            {"ID": 6001, "number": 1001, "status": "Open", "priority": "High",
             "type": "Service Request", "category": "Plumbing",
             "description": "Kitchen sink leaks", "location": "Kitchen",
             "createdDate": "2024-02-01T09:00:00Z", "costEstimate": 150.0,
             "building": 1000, "portfolio": 10, "lease": 8001, "unitIDs": [5001],
             "vendorIDs": [9001], "contactID": 7001, "_lastModified": MODIFIED_LONG_AGO},
            {"ID": 6002, "number": 1002, "status": " WO Received ", "priority": "Low",
             "createdDate": "2024-02-02T09:00:00Z", "building": 1000, "portfolio": 10,
             "unitIDs": [5002], "vendorIDs": [], "_lastModified": MODIFIED_LONG_AGO},
            {"ID": 6003, "number": 1003, "status": "Completed", "priority": "Normal",
             "createdDate": "2024-02-03T09:00:00Z", "building": 1001, "portfolio": 10,
             "unitIDs": [5010], "vendorIDs": [9001], "_lastModified": MODIFIED_LONG_AGO},
        ],
    }


# -- clients ------------------------------------------------------------------------


class _NoNetwork(BaseAdapter):
    """Mounted for http://: the schema must come from the cache, never from the web."""

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted: {request.url}")

    def close(self) -> None:
        pass


def zeep_client(sim: PwSim, password: str = PASSWORD) -> zeep.Client:
    """The client setup a PropertyWare source would use: Basic auth, the sandbox CA,
    `Connection: close`, 90 s timeouts, the encoding schema supplied offline."""
    session = requests.Session()
    # With trust_env, REQUESTS_CA_BUNDLE from the environment would replace this CA.
    session.trust_env = False
    session.verify = sim.ca_bundle
    session.auth = (USER, password)
    session.headers["Connection"] = "close"
    session.mount("http://", _NoNetwork())
    cache = zeep.cache.InMemoryCache()
    cache.add(SOAP_ENCODING_URL, SCHEMA_FILE.read_bytes())
    transport = zeep.Transport(session=session, cache=cache, timeout=90, operation_timeout=90)
    return zeep.Client(f"{sim.service_url}?wsdl", transport=transport)


def long_array(client: zeep.Client, values: list[int]) -> Any:
    """A `long[]` parameter: zeep renders a soapenc:Array only from its array type (a
    plain list fails with "argument of type 'int' is not iterable")."""
    return client.get_type(
        "{http://service.web.propertyware.realpage.com}ArrayOf_xsd_long")(values)


def text(value: Any) -> str | None:
    """A `soapenc:string` as zeep returns it: an object with the text in `_value_1`."""
    return None if value is None else value._value_1


def envelope(operation: str, params: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/">'
        '<soapenv:Header/><soapenv:Body>'
        f'<ns1:{operation} soapenv:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"'
        ' xmlns:ns1="http://service.web.propertyware.realpage.com">'
        f"{params}</ns1:{operation}></soapenv:Body></soapenv:Envelope>"
    ).encode()


def post(sim: PwSim, body: bytes, session: requests.Session | None = None,
         **kwargs: Any) -> requests.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""',
               **kwargs.pop("headers", {})}
    return (session or requests).post(
        sim.service_url, data=body, headers=headers, auth=(USER, PASSWORD),
        verify=sim.ca_bundle, timeout=kwargs.pop("timeout", 30), **kwargs,
    )


def loaded(sim: PwSim) -> PwSim:
    sim.admin.load(fixture())
    return sim


# -- WSDL and schema ----------------------------------------------------------------


def test_wsdl_carries_the_serving_address_and_the_schema_is_served(pw_sim: PwSim) -> None:
    response = requests.get(f"{pw_sim.service_url}?wsdl", verify=pw_sim.ca_bundle, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    wsdl = etree.fromstring(response.content)
    address = wsdl.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None
    assert address.get("location") == f"https://127.0.0.1:{pw_sim.simulator.port}{SERVICE_PATH}"
    binding = wsdl.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}binding")
    assert binding is not None and binding.get("style") == "rpc"
    schema = requests.get(pw_sim.url + SCHEMA_PATH, verify=pw_sim.ca_bundle, timeout=30)
    assert schema.status_code == 200
    assert schema.content == SCHEMA_FILE.read_bytes()


def test_the_wsdl_declares_the_fields_the_simulator_serves(pw_sim: PwSim) -> None:
    client = zeep_client(pw_sim)
    for name in DTOS:
        xsd_type = client.get_type(f"{{urn:PWServices}}{name}")
        assert [element_name for element_name, _ in xsd_type.elements] == [
            field for field, _ in fields(name)
        ], name
    operations = client.service._binding._operations
    assert sorted(operations) == sorted([
        "closeWorkOrder", "getAllPortfolios", "getBuildings", "getContacts", "getLeases",
        "getUnits", "getVendors", "getWorkOrder", "getWorkOrders", "updateWorkOrder",
    ])


# -- reads --------------------------------------------------------------------------


def test_get_all_portfolios(pw_sim: PwSim) -> None:
    portfolios = zeep_client(loaded(pw_sim)).service.getAllPortfolios()
    assert [(p.ID, text(p.name), text(p.abbreviation), p.active) for p in portfolios] == [
        (10, "Oak Holdings", "OAK", True), (11, "Elm Partners", "ELM", False),
    ]
    assert text(portfolios[0].managementCompany) == "Summit Residential"


def test_get_buildings_pages_to_the_end(pw_sim: PwSim) -> None:
    client = zeep_client(loaded(pw_sim))
    seen: list[int] = []
    sizes: list[int] = []
    page = 1
    while True:
        batch = client.service.getBuildings({"pageNumber": page}) or []
        sizes.append(len(batch))
        seen.extend(b.ID for b in batch)
        if len(batch) < PAGE_SIZE:  # a short (or empty) page is the last
            break
        page += 1
    assert sizes == [100, 100, 5]
    assert seen == list(range(1000, 1000 + BUILDINGS))
    first = client.service.getBuildings({"pageNumber": 1})[0]
    assert (text(first.name), first.multiUnit, first.portfolioID, first.yearBuilt) == (
        "Building 0", True, 10, 1990)
    assert [u.ID for u in first.units] == [5001, 5002, 5003]
    assert client.service.getBuildings({"pageNumber": 4}) in (None, [])


def test_get_units_by_building(pw_sim: PwSim) -> None:
    client = zeep_client(loaded(pw_sim))
    units = client.service.getUnits({"buildingId": 1000})
    assert [(u.ID, text(u.name), u.buildingID) for u in units] == [
        (5001, "101", 1000), (5002, "102", 1000), (5003, "103", 1000),
    ]
    assert (units[0].numberBedrooms, units[0].numberBathrooms) == (2, 1.5)
    assert text(units[0].address2) == "Unit 101"
    assert units[2].numberBedrooms is None
    assert [u.ID for u in client.service.getUnits({"buildingId": 1001})] == [5010]


def test_get_leases_with_tenants(pw_sim: PwSim) -> None:
    client = zeep_client(loaded(pw_sim))
    leases = client.service.getLeases({})
    assert [(lease.ID, lease.active, text(lease.leaseStatus)) for lease in leases] == [
        (8001, True, "Active"), (8002, False, "Past"),
    ]
    active = leases[0]
    assert [(t.ID, text(t.completeName)) for t in active.tenants] == [
        (7001, "Ann Lee"), (7002, "Bob Lee"),
    ]
    assert active.primaryContact.ID == 7001
    assert text(active.primaryContact.email) == "ann@example.com"
    assert active.startDate == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert leases[1].moveOutDate == dt.datetime(2023, 5, 31, tzinfo=dt.UTC)
    by_tenant = client.service.getLeases({"tenantId": 7003})
    assert [lease.ID for lease in by_tenant] == [8002]


def test_get_contacts_and_vendors(pw_sim: PwSim) -> None:
    client = zeep_client(loaded(pw_sim))
    assert [c.ID for c in client.service.getContacts({})] == [7001, 7002, 7003]
    vendors = client.service.getVendors()
    assert [(v.ID, text(v.companyName), text(v.vendorType)) for v in vendors] == [
        (9001, "Ace Plumbing LLC", "Plumbing"),
    ]


def test_get_work_orders_modified_after_only_returns_changed_ones(pw_sim: PwSim) -> None:
    client = zeep_client(loaded(pw_sim))
    since = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert client.service.getWorkOrders({"lastModifiedAfter": since}) in (None, [])
    pw_sim.admin.edit("workOrders", 6002, {"status": "Scheduled"},
                      at="2025-06-01T08:00:00Z")
    changed = client.service.getWorkOrders({"lastModifiedAfter": since})
    assert [(w.ID, text(w.status)) for w in changed] == [(6002, "Scheduled")]
    every = client.service.getWorkOrders({})
    assert [w.ID for w in every] == [6001, 6002, 6003]
    newest = client.service.getWorkOrders({"orderByNewestFirst": True})
    assert [w.ID for w in newest] == [6003, 6002, 6001]
    assert [w.ID for w in client.service.getWorkOrders({"unitId": 5010})] == [6003]
    assert [w.ID for w in client.service.getWorkOrders({"vendorId": 9001})] == [6001, 6003]


def test_get_work_order_by_id(pw_sim: PwSim) -> None:
    client = zeep_client(loaded(pw_sim))
    work_order = client.service.getWorkOrder({"ids": long_array(client, [6001])})
    assert (work_order.ID, work_order.number, text(work_order.status)) == (6001, 1001, "Open")
    assert (work_order.building, work_order.portfolio, work_order.lease) == (1000, 10, 8001)
    assert list(work_order.unitIDs) == [5001]
    assert list(work_order.vendorIDs) == [9001]
    assert work_order.costEstimate == 150.0
    assert work_order.createdDate == dt.datetime(2024, 2, 1, 9, tzinfo=dt.UTC)
    assert work_order.completedDate is None


# -- writes -------------------------------------------------------------------------


def test_update_work_order_changes_the_status(pw_sim: PwSim) -> None:
    client = zeep_client(loaded(pw_sim))
    work_order = client.service.getWorkOrder({"ids": long_array(client, [6002])})
    assert list(work_order.vendorIDs) == []
    work_order.status = "Dispatched"
    # zeep cannot write an empty soapenc:Array back (its minOccurs check); nil means
    # "unchanged" to updateWorkOrder.
    work_order.vendorIDs = None
    updated = client.service.updateWorkOrder(work_order)
    assert (updated.ID, text(updated.status)) == (6002, "Dispatched")
    stored = pw_sim.admin.get("workOrders", 6002)
    assert stored["status"] == "Dispatched"
    assert stored["number"] == 1002 and stored["unitIDs"] == [5002]
    assert stored["_lastModified"] > MODIFIED_LONG_AGO
    # The write counts as a change for the next incremental read.
    since = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert [w.ID for w in client.service.getWorkOrders({"lastModifiedAfter": since})] == [6002]
    # Only what was sent changes: a work order with just an ID and a priority.
    WorkOrder = client.get_type("{urn:PWServices}WorkOrder")
    client.service.updateWorkOrder(WorkOrder(ID=6002, priority="Urgent"))
    stored = pw_sim.admin.get("workOrders", 6002)
    assert (stored["status"], stored["priority"]) == ("Dispatched", "Urgent")


def test_close_work_order(pw_sim: PwSim) -> None:
    client = zeep_client(loaded(pw_sim))
    closed = client.service.closeWorkOrder(
        6001, "Plumbing", "Replaced the trap", dt.datetime(2024, 2, 2, 10, tzinfo=dt.UTC),
        dt.datetime(2024, 2, 2, 12, tzinfo=dt.UTC),
    )
    assert (closed.ID, text(closed.status)) == (6001, "Closed")
    assert closed.completedDate == dt.datetime(2024, 2, 2, 12, tzinfo=dt.UTC)
    stored = pw_sim.admin.get("workOrders", 6001)
    assert stored["closingComments"] == "Replaced the trap"
    assert stored["status"] == "Closed"
    with pytest.raises(zeep.exceptions.Fault, match="already closed"):
        client.service.closeWorkOrder(6001, "Plumbing", "again", dt.datetime(2024, 2, 2),
                                      dt.datetime(2024, 2, 3))


# -- errors -------------------------------------------------------------------------


def test_wrong_password_is_401_with_basic_challenge(pw_sim: PwSim) -> None:
    loaded(pw_sim)
    response = requests.post(
        pw_sim.service_url, data=envelope("getAllPortfolios", ""), auth=(USER, "wrong"),
        headers={"Content-Type": "text/xml", "SOAPAction": '""'},
        verify=pw_sim.ca_bundle, timeout=30,
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    no_auth = requests.post(pw_sim.service_url, data=envelope("getAllPortfolios", ""),
                            verify=pw_sim.ca_bundle, timeout=30)
    assert no_auth.status_code == 401
    client = zeep_client(pw_sim, password="wrong")  # the WSDL itself needs no login
    with pytest.raises(zeep.exceptions.TransportError) as caught:
        client.service.getAllPortfolios()
    assert caught.value.status_code == 401


def test_unknown_work_order_is_an_axis_soap_fault(pw_sim: PwSim) -> None:
    client = zeep_client(loaded(pw_sim))
    with pytest.raises(zeep.exceptions.Fault) as caught:
        client.service.getWorkOrder({"ids": long_array(client, [999999])})
    assert caught.value.code == "soapenv:Server.userException"
    assert "999999" in caught.value.message
    response = post(pw_sim, envelope(
        "getWorkOrder", '<criteria><ids><item>999999</item></ids></criteria>'))
    assert response.status_code == 500
    fault = etree.fromstring(response.content).find(
        ".//{http://schemas.xmlsoap.org/soap/envelope/}Fault")
    assert fault is not None
    assert [child.tag for child in fault] == ["faultcode", "faultstring", "detail"]
    assert fault.findtext("faultcode") == "soapenv:Server.userException"
    entries = pw_sim.admin.requests()
    assert entries[-1]["operation"] == "getWorkOrder" and entries[-1]["status"] == 500
    assert entries[-1]["applied"] is False


def test_unknown_operation_is_a_client_fault(pw_sim: PwSim) -> None:
    response = post(pw_sim, envelope("deleteEverything", ""))
    assert response.status_code == 500
    assert b"soapenv:Client" in response.content
    assert b"No such operation" in response.content


# -- faults -------------------------------------------------------------------------


def test_reset_on_a_reused_connection(pw_sim: PwSim) -> None:
    loaded(pw_sim)
    pw_sim.admin.set_faults(rate=1.0, kinds=["reset_on_reuse"])
    body = envelope("getAllPortfolios", "")
    with requests.Session() as keep_alive:
        assert post(pw_sim, body, keep_alive).status_code == 200
        with pytest.raises(requests.ConnectionError):
            post(pw_sim, body, keep_alive)
    for _ in range(3):  # Connection: close, a fresh socket every time: never reset
        assert post(pw_sim, body, headers={"Connection": "close"}).status_code == 200
    portfolios = zeep_client(pw_sim).service.getAllPortfolios()  # zeep with Connection: close
    assert len(portfolios) == 2
    entries = pw_sim.admin.requests()
    assert [(e["reused_connection"], e["fault"], e["status"]) for e in entries[:2]] == [
        (False, None, 200), (True, "reset_on_reuse", None),
    ]
    assert entries[1]["applied"] is False


def test_a_reset_write_is_not_applied(pw_sim: PwSim) -> None:
    loaded(pw_sim)
    pw_sim.admin.set_faults(next=["reset_on_reuse"])
    close = envelope("closeWorkOrder", "<workOrderID>6002</workOrderID><category>General"
                     "</category><closingComments>x</closingComments><startDate>"
                     "2024-03-01T00:00:00Z</startDate><completedDate>2024-03-02T00:00:00Z"
                     "</completedDate>")
    with requests.Session() as keep_alive:
        assert post(pw_sim, envelope("getVendors", ""), keep_alive).status_code == 200
        with pytest.raises(requests.ConnectionError):
            post(pw_sim, close, keep_alive)
    assert pw_sim.admin.get("workOrders", 6002)["status"] == " WO Received "


def test_fault_rate_is_deterministic_by_seed(pw_sim: PwSim) -> None:
    loaded(pw_sim)

    def pattern() -> list[int]:
        pw_sim.admin.set_faults(rate=0.5, kinds=["soap_fault"], seed=42)
        return [post(pw_sim, envelope("getVendors", "")).status_code for _ in range(12)]

    first = pattern()
    assert set(first) == {200, 500}
    assert pattern() == first


def test_queued_reset_waits_for_a_reused_connection(pw_sim: PwSim) -> None:
    loaded(pw_sim)
    pw_sim.admin.set_faults(next=["reset_on_reuse"])
    body = envelope("getAllPortfolios", "")
    assert post(pw_sim, body, headers={"Connection": "close"}).status_code == 200
    with requests.Session() as keep_alive:
        assert post(pw_sim, body, keep_alive).status_code == 200
        with pytest.raises(requests.ConnectionError):
            post(pw_sim, body, keep_alive)
    with requests.Session() as keep_alive:  # the queue is spent
        assert post(pw_sim, body, keep_alive).status_code == 200
        assert post(pw_sim, body, keep_alive).status_code == 200


def test_slow_answer(pw_sim: PwSim) -> None:
    loaded(pw_sim)
    pw_sim.admin.set_faults(next=["slow", "slow"], delay_s=1.5)
    body = envelope("getAllPortfolios", "")
    started = time.monotonic()
    assert post(pw_sim, body, headers={"Connection": "close"}).status_code == 200
    assert time.monotonic() - started >= 1.5
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(pw_sim, body, headers={"Connection": "close"}, timeout=0.5)
    started = time.monotonic()
    assert post(pw_sim, body, headers={"Connection": "close"}).status_code == 200
    assert time.monotonic() - started < 1.0


def test_injected_soap_fault_applies_nothing(pw_sim: PwSim) -> None:
    client = zeep_client(loaded(pw_sim))
    pw_sim.admin.set_faults(next=["soap_fault"], operations=["closeWorkOrder"])
    assert len(client.service.getAllPortfolios()) == 2  # another operation: untouched
    with pytest.raises(zeep.exceptions.Fault) as caught:
        client.service.closeWorkOrder(6002, "General", "done", dt.datetime(2024, 3, 1),
                                      dt.datetime(2024, 3, 2))
    assert caught.value.code == "soapenv:Server.userException"
    assert pw_sim.admin.get("workOrders", 6002)["status"] == " WO Received "


# -- what other clients send --------------------------------------------------------


def test_envelope_with_xsi_types_and_multirefs_is_accepted(pw_sim: PwSim) -> None:
    """What an Axis 1 client writes: typed parameters, the bean as a multiRef."""
    loaded(pw_sim)
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        b' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        b' xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/">'
        b"<soapenv:Body>"
        b'<ns1:getUnits soapenv:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"'
        b' xmlns:ns1="http://service.web.propertyware.realpage.com">'
        b'<criteria href="#id0"/></ns1:getUnits>'
        b'<multiRef id="id0" soapenc:root="0" xsi:type="ns2:UnitSearchCriteria"'
        b' xmlns:ns2="urn:PWServices">'
        b'<ids soapenc:arrayType="xsd:long[2]" xsi:type="soapenc:Array">'
        b'<ids xsi:type="xsd:long">5003</ids><ids xsi:type="xsd:long">5001</ids></ids>'
        b'<pageNumber xsi:type="xsd:int">1</pageNumber>'
        b'<buildingId xsi:type="xsd:long">1000</buildingId>'
        b'<lastModifiedAfter xsi:type="xsd:dateTime" xsi:nil="true"/>'
        b"</multiRef></soapenv:Body></soapenv:Envelope>"
    )
    response = post(pw_sim, body)
    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content)
    ids = [int(e.text or 0) for e in root.iter("ID")]
    assert ids == [5001, 5003]
    returned = root.find(".//getUnitsReturn")
    assert returned is not None
    assert returned.get("{http://schemas.xmlsoap.org/soap/encoding/}arrayType") == "ns2:Unit[2]"
    assert all(item.get("href", "").startswith("#id") for item in returned)
    typed = post(pw_sim, envelope(
        "closeWorkOrder",
        '<workOrderID xsi:type="xsd:long">6003</workOrderID>'
        '<category xsi:type="soapenc:string">HVAC</category>'
        '<closingComments xsi:type="xsd:string">ok</closingComments>'
        '<startDate xsi:type="xsd:dateTime">2024-02-03T10:00:00.000Z</startDate>'
        '<completedDate xsi:type="xsd:dateTime">2024-02-04T10:00:00.000Z</completedDate>'))
    assert typed.status_code == 200, typed.text
    stored = pw_sim.admin.get("workOrders", 6003)
    assert (stored["status"], stored["category"]) == ("Closed", "HVAC")
    assert stored["completedDate"] == "2024-02-04T10:00:00Z"


def test_admin_refuses_bad_fixtures_and_unknown_objects(pw_sim: PwSim) -> None:
    with pytest.raises(PropertyWareAdminError, match="unknown fields"):
        pw_sim.admin.load({"workOrders": [{"ID": 1, "colour": "red"}]})
    with pytest.raises(PropertyWareAdminError, match="positive integer ID"):
        pw_sim.admin.load({"units": [{"name": "no id"}]})
    with pytest.raises(PropertyWareAdminError, match="404"):
        pw_sim.admin.get("workOrders", 12345)
    with pytest.raises(PropertyWareAdminError, match="unknown fault kinds"):
        pw_sim.admin.set_faults(next=["explode"])
    assert pw_sim.admin.counts()["WorkOrder"] == 0
    # Values are not checked on load; a wrong one is answered with a fault when served.
    pw_sim.admin.load({"workOrders": [{"ID": 1, "number": "not a number"}]})
    response = post(pw_sim, envelope("getWorkOrders", "<criteria/>"))
    assert response.status_code == 500
    assert b"simulator error" in response.content


def test_unknown_field_in_a_bean_is_refused_like_axis(pw_sim: PwSim) -> None:
    response = post(pw_sim, envelope("getUnits", "<criteria><color>red</color></criteria>"))
    assert response.status_code == 500
    assert b"Invalid element in urn:PWServices.UnitSearchCriteria - color" in response.content


# -- the command --------------------------------------------------------------------


def test_module_command_serves_with_credentials_from_a_file(
    pw_sim: PwSim, pw_certs_dir: Path, tmp_path: Path
) -> None:
    credentials = tmp_path / "propertyware-credentials"
    credentials.write_text(f"{USER}\n{PASSWORD}\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.propertyware", "--port", str(port), "--dsn",
         pw_sim.dsn, "--certs-dir", str(pw_certs_dir), "--credentials-file", str(credentials)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None, process.communicate()
                time.sleep(0.1)
        loaded(pw_sim)  # the same database: the command sees these objects
        url = f"https://127.0.0.1:{port}{SERVICE_PATH}"
        response = requests.post(url, data=envelope("getVendors", ""), auth=(USER, PASSWORD),
                                 verify=pw_sim.ca_bundle, timeout=30)
        assert response.status_code == 200
        assert b"Ace Plumbing LLC" in response.content
        assert response.headers.get("Connection") != "close"  # keep-alive unless asked
        closing = requests.post(url, data=envelope("getVendors", ""), auth=(USER, PASSWORD),
                                headers={"Connection": "close"}, verify=pw_sim.ca_bundle,
                                timeout=30)
        assert closing.headers["Connection"] == "close"
        assert PASSWORD not in " ".join(process.args)  # type: ignore[arg-type]
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "propertyware simulator stopped" in out


@pytest.mark.parametrize("target", ["dsn", "url"])
def test_seed_command_loads_the_generated_data(pw_sim: PwSim, target: str) -> None:
    where = (["--dsn", pw_sim.dsn] if target == "dsn"
             else ["--url", pw_sim.url, "--ca-bundle", pw_sim.ca_bundle])
    pw_sim.admin.load({"workOrders": [{"ID": 1, "status": "Open"}]})  # replaced, not kept
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "seed", "propertyware", "--buildings", "12",
         "--seed", "3", *where],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert "12 buildings" in result.stdout
    data = generate_propertyware(buildings=12, seed=3)
    assert pw_sim.admin.counts() == {
        "Portfolio": len(data.portfolios), "Building": 12, "Unit": len(data.units),
        "Contact": len(data.contacts), "Lease": len(data.leases),
        "Vendor": len(data.vendors), "WorkOrder": len(data.work_orders),
    }
    client = zeep_client(pw_sim)
    served: list[Any] = []
    page = 1
    while batch := client.service.getWorkOrders({"pageNumber": page}):
        served.extend(batch)
        if len(batch) < PAGE_SIZE:
            break
        page += 1
    assert [w.ID for w in served] == sorted(w["ID"] for w in data.work_orders)
    corrupt = set(data.corrupted["unit_is_building_multi"])
    assert corrupt
    assert all(list(w.unitIDs) == [w.building] for w in served if w.ID in corrupt)
    statuses = {text(w.status) for w in served}
    assert " WO Received " in statuses
