"""The PWServices endpoint: WSDL, HTTP Basic auth, the operations, faults, the log."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from typing import Any

from sandbox.propertyware import soap
from sandbox.propertyware.dto import OPERATIONS, SERVICE_NS, Operation
from sandbox.propertyware.faults import draw_fault
from sandbox.propertyware.messages import Reply, Request, SoapFault
from sandbox.propertyware.store import Store, iso, utc_now
from sandbox.propertyware.wsdl import SCHEMA_PATH, SERVICE_PATH, soap_encoding_schema, wsdl_text

# PropertyWare does not document its page size; clients stop at a short or empty
# page. The simulator's choice, for every paged operation:
PAGE_SIZE = 100
# Work orders in these statuses (trimmed, lower-cased) cannot be closed again.
CLOSED_STATUSES = frozenset({"closed"})
# updateWorkOrder leaves these alone whatever the request says.
READ_ONLY_WORK_ORDER_FIELDS = frozenset({"ID", "number", "createdDate"})

# Tomcat's error page, HTML and not XML (its lower-case doctype): zeep reports it as a
# TransportError with the status, not as a SOAP fault.
_TOMCAT_401 = (
    "<!doctype html><html lang=\"en\"><head><title>HTTP Status 401 \u2013 Unauthorized"
    "</title></head><body><h1>HTTP Status 401 \u2013 Unauthorized</h1></body></html>"
).encode()
_AXIS_PAGE = (
    "<h1>PWServices</h1><p>Hi there, this is an AXIS service!</p>"
    "<i>Perhaps there will be a form for invoking the service here...</i>"
)


class PropertyWareApi:
    """Everything that is not `/__sandbox/`: the service, its WSDL and the schema."""

    def __init__(self, store: Store, url_getter: Callable[[], str], username: str,
                 password: str) -> None:
        self.store = store
        self.url = url_getter
        self.username, self.password = username, password

    def handle(self, request: Request) -> Reply:
        path = request.path.rstrip("/")
        if request.method == "GET" and path == SERVICE_PATH:
            if any(key.lower() == "wsdl" for key in request.query):
                return Reply(200, wsdl_text(self.url()).encode())
            return Reply(200, _AXIS_PAGE.encode(), "text/html; charset=utf-8")
        if request.method == "GET" and path == SCHEMA_PATH:
            return Reply(200, soap_encoding_schema().encode())
        if path == SERVICE_PATH and request.method == "POST":
            return self._soap(request)
        if path == SERVICE_PATH:
            return Reply(405, b"", headers={"Allow": "GET, POST"})
        return Reply(404, b"<html><body><h1>HTTP Status 404 - Not Found</h1></body></html>",
                     "text/html; charset=utf-8")

    # the SOAP call

    def _soap(self, request: Request) -> Reply:
        with self.store.lock:
            parsed: tuple[str, str | None, dict[str, Any]] | None = None
            parse_error: SoapFault | None = None
            try:
                parsed = soap.parse_call(request.body)
            except SoapFault as error:
                parse_error = error
            operation = parsed[0] if parsed else None
            reused = request.earlier_on_connection > 0
            fault, delay_s = draw_fault(self.store, operation, reused)
            entry: dict[str, Any] = {
                "at": iso(utc_now()), "operation": operation, "reused_connection": reused,
                "fault": fault, "applied": False, "fault_string": None,
            }
            reply = self._answer(request, parsed, parse_error, fault, entry)
            reply.delay_s = delay_s
            entry["status"] = None if reply.drop else reply.status
            self.store.log(entry)
            return reply

    def _answer(self, request: Request, parsed: tuple[str, str | None, dict[str, Any]] | None,
                parse_error: SoapFault | None, fault: str | None,
                entry: dict[str, Any]) -> Reply:
        if fault == "reset_on_reuse":
            return Reply(0, drop=True)
        # Tomcat checks the credentials before Axis reads the envelope.
        if not self._authenticated(request):
            return Reply(401, _TOMCAT_401, "text/html;charset=utf-8",
                         {"WWW-Authenticate": 'Basic realm="PWServices"'})
        try:
            if parse_error is not None:
                raise parse_error
            if fault == "soap_fault":
                raise SoapFault("java.rmi.RemoteException: The service is temporarily"
                                " unavailable, please try again later.")
            assert parsed is not None
            name, namespace, params = parsed
            op = OPERATIONS.get(name)
            if op is None or namespace != SERVICE_NS:
                raise SoapFault(f"No such operation '{name}'", "Client")
            args = {pname: soap.decode(params.get(pname), kind) for pname, kind in op.params}
            with self.store.transaction():
                value = self._call(op, args)
            entry["applied"] = True
            return Reply(200, soap.response(op.name, op.returns, value))
        except SoapFault as error:
            entry["fault_string"] = error.message
            return Reply(500, soap.fault(error))

    def _authenticated(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode(
                "utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        # Both compared, always, so the time taken does not tell which one was wrong.
        user_ok = hmac.compare_digest(user.encode(), self.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return user_ok and password_ok

    # operations

    def _call(self, op: Operation, args: dict[str, Any]) -> Any:
        criteria = args.get("criteria") or {}
        if op.name == "getAllPortfolios":
            return self.store.search("Portfolio")
        if op.name == "getVendors":
            return self.store.search("Vendor")
        if op.name == "getBuildings":
            return self._with_units(self._page("Building", criteria))
        if op.name == "getUnits":
            return self._page("Unit", criteria,
                              equals=_given(buildingID=criteria.get("buildingId")))
        if op.name == "getContacts":
            return self._page("Contact", criteria)
        if op.name == "getLeases":
            leases = self._page("Lease", criteria,
                                contains=_given(tenantIDs=criteria.get("tenantId")))
            return self._with_tenants(leases)
        if op.name == "getWorkOrders":
            return self._work_orders(criteria)
        if op.name == "getWorkOrder":
            return self._work_order(criteria)
        if op.name == "updateWorkOrder":
            return self._update_work_order(args.get("workOrder"))
        if op.name == "closeWorkOrder":
            return self._close_work_order(args)
        raise SoapFault(f"No such operation '{op.name}'", "Client")  # pragma: no cover

    def _page(self, kind: str, criteria: dict[str, Any], *, equals: dict[str, Any] | None = None,
              contains: dict[str, Any] | None = None, newest_first: bool = False
              ) -> list[dict[str, Any]]:
        """One page of `kind` by the Base/Auditable criteria; pages count from 1."""
        page = criteria.get("pageNumber") or 1
        page = max(page, 1)  # a page 0 (or below) is the first page
        return self.store.search(
            kind,
            ids=criteria.get("ids") or None,  # nil or empty: no restriction
            created_after=criteria.get("createdAfter"),
            created_before=criteria.get("createdBefore"),
            modified_after=criteria.get("lastModifiedAfter"),
            modified_before=criteria.get("lastModifiedBefore"),
            modified_on_or_after=criteria.get("lastModifiedOnOrAfter"),
            equals=equals, contains=contains, newest_first=newest_first,
            limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
        )

    def _with_units(self, buildings: list[dict[str, Any]]) -> list[dict[str, Any]]:
        units = self.store.where_field_in("Unit", "buildingID", [b["ID"] for b in buildings])
        by_building: dict[int, list[dict[str, Any]]] = {}
        for unit in units:
            by_building.setdefault(int(unit["buildingID"]), []).append(unit)
        return [{**building, "units": by_building.get(building["ID"], [])}
                for building in buildings]

    def _with_tenants(self, leases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        wanted = {int(i) for lease in leases for i in lease.get("tenantIDs") or []}
        wanted |= {int(lease["primaryContactID"]) for lease in leases
                   if lease.get("primaryContactID") is not None}
        contacts = {c["ID"]: c for c in self.store.by_ids("Contact", sorted(wanted))}
        expanded = []
        for lease in leases:
            tenants = [contacts[int(i)] for i in lease.get("tenantIDs") or []
                       if int(i) in contacts]
            primary = lease.get("primaryContactID")
            expanded.append({**lease, "tenants": tenants,
                             "primaryContact": contacts.get(int(primary)) if primary else None})
        return expanded

    def _work_orders(self, criteria: dict[str, Any]) -> list[dict[str, Any]]:
        equals = _given(building=criteria.get("buildingId"),
                        portfolio=criteria.get("portfolioId"),
                        contactID=criteria.get("contactId"),
                        number=criteria.get("workOrderNumber"))
        contains = _given(unitIDs=criteria.get("unitId"), vendorIDs=criteria.get("vendorId"))
        return self._page("WorkOrder", criteria, equals=equals, contains=contains,
                          newest_first=bool(criteria.get("orderByNewestFirst")))

    def _work_order(self, criteria: dict[str, Any]) -> dict[str, Any]:
        ids = criteria.get("ids") or []
        number = criteria.get("workOrderNumber")
        if not ids and number is None:
            raise SoapFault("A work order ID or work order number is required.")
        found = self.store.search(
            "WorkOrder", ids=ids[:1] or None, equals=_given(number=number), limit=1
        )
        if not found:
            wanted = f"ID {ids[0]}" if ids else f"number {number}"
            raise SoapFault(f"Work order with {wanted} does not exist.")
        return found[0]

    def _update_work_order(self, work_order: dict[str, Any] | None) -> dict[str, Any]:
        if not work_order or work_order.get("ID") is None:
            raise SoapFault("The work order ID is required.")
        work_order_id = int(work_order["ID"])
        if self.store.get("WorkOrder", work_order_id) is None:
            raise SoapFault(f"Work order with ID {work_order_id} does not exist.")
        # A nil field means "not sent": zeep writes every field, nil when unset.
        changes = {name: _stored(value) for name, value in work_order.items()
                   if value is not None and name not in READ_ONLY_WORK_ORDER_FIELDS}
        updated = self.store.update("WorkOrder", work_order_id, changes)
        assert updated is not None
        return updated

    def _close_work_order(self, args: dict[str, Any]) -> dict[str, Any]:
        work_order_id = args.get("workOrderID")
        if work_order_id is None:
            raise SoapFault("The work order ID is required.")
        current = self.store.get("WorkOrder", int(work_order_id))
        if current is None:
            raise SoapFault(f"Work order with ID {work_order_id} does not exist.")
        if str(current.get("status") or "").strip().lower() in CLOSED_STATUSES:
            raise SoapFault(f"Work order with ID {work_order_id} is already closed.")
        changes: dict[str, Any] = {"status": "Closed"}
        for name in ("category", "closingComments", "startDate", "completedDate"):
            if args.get(name) is not None:
                changes[name] = _stored(args[name])
        updated = self.store.update("WorkOrder", int(work_order_id), changes)
        assert updated is not None
        return updated


def _given(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _stored(value: Any) -> Any:
    """A decoded parameter as the store keeps it (dates as ISO text)."""
    if hasattr(value, "isoformat"):
        return iso(value)
    return value
