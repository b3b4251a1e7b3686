"""The PWServices types: each DTO's fields in order, with their XML types.

One table drives both directions: the response encoder writes a field's `xsi:type`
from it, and the request decoder converts an untyped parameter by it (zeep sends
encoded parameters without `xsi:type`; Axis resolves them by their declared types,
and so does the simulator). The shipped WSDL (`PWServices.wsdl`) declares the same
fields; tests/integration/test_propertyware_simulator.py checks that the two agree.

Field kinds: `string` (`soapenc:string`, as Axis 1 declares a Java `String` in
encoded style), `long`, `int`, `boolean`, `double`, `dateTime` (`xsd:...`),
`long[]` / `int[]` (a `soapenc:Array` of them), a DTO name (a `multiRef`), or a DTO
name with `[]` (a `soapenc:Array` of `multiRef`s).
"""

from __future__ import annotations

from dataclasses import dataclass

TYPES_NS = "urn:PWServices"
SERVICE_NS = "http://service.web.propertyware.realpage.com"

SIMPLE_KINDS = ("string", "long", "int", "boolean", "double", "dateTime")


@dataclass(frozen=True)
class Dto:
    name: str
    base: str | None
    own_fields: tuple[tuple[str, str], ...]


_UNIT_FIELDS: tuple[tuple[str, str], ...] = (
    ("ID", "long"),
    ("abbreviation", "string"),
    ("active", "boolean"),
    ("address", "string"),
    ("address2", "string"),
    ("buildingID", "long"),
    ("city", "string"),
    ("multiUnit", "boolean"),
    ("name", "string"),
    ("numberBathrooms", "double"),
    ("numberBedrooms", "int"),
    ("state", "string"),
    ("status", "string"),
    ("type", "string"),
    ("zip", "string"),
)

_AUDITABLE_CRITERIA: tuple[tuple[str, str], ...] = (
    ("createdAfter", "dateTime"),
    ("createdBefore", "dateTime"),
    ("lastModifiedAfter", "dateTime"),
    ("lastModifiedBefore", "dateTime"),
    ("lastModifiedOnOrAfter", "dateTime"),
)

DTOS: dict[str, Dto] = {
    dto.name: dto
    for dto in (
        Dto("BaseDTOSearchCriteria", None, (("ids", "long[]"), ("pageNumber", "int"))),
        Dto("AuditableDTOSearchCriteria", "BaseDTOSearchCriteria", _AUDITABLE_CRITERIA),
        # Axis names every criteria type after its DTO; these two add nothing.
        Dto("BuildingSearchCriteria", "AuditableDTOSearchCriteria", ()),
        Dto("ContactSearchCriteria", "AuditableDTOSearchCriteria", ()),
        Dto("UnitSearchCriteria", "AuditableDTOSearchCriteria", (("buildingId", "long"),)),
        Dto("LeaseSearchCriteria", "AuditableDTOSearchCriteria", (("tenantId", "long"),)),
        Dto("WorkOrderSearchCriteria", "AuditableDTOSearchCriteria", (
            ("buildingId", "long"),
            ("contactId", "long"),
            ("orderByNewestFirst", "boolean"),
            ("portfolioId", "long"),
            ("unitId", "long"),
            ("vendorId", "long"),
            ("workOrderNumber", "long"),
        )),
        Dto("Portfolio", None, (
            ("ID", "long"),
            ("abbreviation", "string"),
            ("active", "boolean"),
            ("managementCompany", "string"),
            ("name", "string"),
        )),
        Dto("Unit", None, _UNIT_FIELDS),
        Dto("Building", "Unit", (
            ("portfolioID", "long"),
            ("rentable", "boolean"),
            ("units", "Unit[]"),
            ("yearBuilt", "int"),
        )),
        Dto("Contact", None, (
            ("ID", "long"),
            ("address", "string"),
            ("address2", "string"),
            ("city", "string"),
            ("completeName", "string"),
            ("contactType", "string"),
            ("email", "string"),
            ("firstName", "string"),
            ("homePhone", "string"),
            ("lastName", "string"),
            ("mobilePhone", "string"),
            ("state", "string"),
            ("workPhone", "string"),
            ("zip", "string"),
        )),
        Dto("Lease", None, (
            ("ID", "long"),
            ("active", "boolean"),
            ("buildingID", "long"),
            ("endDate", "dateTime"),
            ("leaseName", "string"),
            ("leaseStatus", "string"),
            ("moveInDate", "dateTime"),
            ("moveOutDate", "dateTime"),
            ("primaryContact", "Contact"),
            ("startDate", "dateTime"),
            ("tenants", "Contact[]"),
            ("unitID", "long"),
        )),
        Dto("Vendor", None, (
            ("ID", "long"),
            ("active", "boolean"),
            ("address", "string"),
            ("city", "string"),
            ("companyName", "string"),
            ("email", "string"),
            ("name", "string"),
            ("phone", "string"),
            ("state", "string"),
            ("vendorType", "string"),
            ("zip", "string"),
        )),
        Dto("WorkOrder", None, (
            ("ID", "long"),
            ("building", "long"),
            ("category", "string"),
            ("completedDate", "dateTime"),
            ("costEstimate", "double"),
            ("createdDate", "dateTime"),
            ("description", "string"),
            ("lease", "long"),
            ("location", "string"),
            ("number", "long"),
            ("portfolio", "long"),
            ("priority", "string"),
            ("scheduledEndDate", "dateTime"),
            ("specificLocation", "string"),
            ("startDate", "dateTime"),
            ("status", "string"),
            ("totalCost", "double"),
            ("type", "string"),
            ("unitIDs", "int[]"),
            ("vendorIDs", "int[]"),
        )),
    )
}


def fields(type_name: str) -> list[tuple[str, str]]:
    """Every field of a type, its base's first (the order of Axis's bean serializer)."""
    dto = DTOS[type_name]
    inherited = fields(dto.base) if dto.base else []
    return inherited + list(dto.own_fields)


def field_kind(type_name: str, name: str) -> str | None:
    return dict(fields(type_name)).get(name)


@dataclass(frozen=True)
class Operation:
    name: str
    params: tuple[tuple[str, str], ...]
    returns: str


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("getAllPortfolios", (), "Portfolio[]"),
        Operation("getBuildings", (("criteria", "BuildingSearchCriteria"),), "Building[]"),
        Operation("getUnits", (("criteria", "UnitSearchCriteria"),), "Unit[]"),
        Operation("getLeases", (("criteria", "LeaseSearchCriteria"),), "Lease[]"),
        Operation("getContacts", (("criteria", "ContactSearchCriteria"),), "Contact[]"),
        Operation("getVendors", (), "Vendor[]"),
        Operation("getWorkOrders", (("criteria", "WorkOrderSearchCriteria"),), "WorkOrder[]"),
        Operation("getWorkOrder", (("criteria", "WorkOrderSearchCriteria"),), "WorkOrder"),
        Operation("updateWorkOrder", (("workOrder", "WorkOrder"),), "WorkOrder"),
        Operation("closeWorkOrder", (
            ("workOrderID", "long"),
            ("category", "string"),
            ("closingComments", "string"),
            ("startDate", "dateTime"),
            ("completedDate", "dateTime"),
        ), "WorkOrder"),
    )
}
