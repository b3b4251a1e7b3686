"""A protocol-faithful PropertyWare SOAP (PWServices) simulator.

Serves HTTPS (certificate from `sandbox.certs`) on 127.0.0.1 and keeps all state
(objects, request log, fault settings) in Postgres, schema `pw` of the database
given by `dsn`, so it survives restarts.

What clients talk to (Apache Axis 1 behind Tomcat, as the real service):

- `GET /pw/services/PWServices?wsdl`: the shipped `PWServices.wsdl` (RPC style, SOAP
  encoding, `soapAction=""`, operation namespace
  `http://service.web.propertyware.realpage.com`, types in `urn:PWServices`), its
  `soap:address` filled in with this simulator's URL. No login needed.
- `GET /pw/schemas/soap-encoding.xsd`: the SOAP 1.1 encoding schema (trimmed; the
  file `soap-encoding.xsd` of this package). The WSDL imports that namespace without
  a location, so zeep asks for `http://schemas.xmlsoap.org/soap/encoding/`; a client
  supplies the file offline by pre-filling zeep's transport cache:

      cache = zeep.cache.InMemoryCache()
      cache.add("http://schemas.xmlsoap.org/soap/encoding/", xsd_bytes)
      zeep.Client(wsdl_url, transport=zeep.Transport(session=session, cache=cache))

- `POST /pw/services/PWServices`: the SOAP calls, HTTP Basic auth (one API user; a
  missing or wrong login is 401 with `WWW-Authenticate: Basic realm="PWServices"` and
  Tomcat's HTML page, so zeep raises TransportError, not Fault). Operations (`dto`):
  `getAllPortfolios()`, `getBuildings(BuildingSearchCriteria)`,
  `getUnits(UnitSearchCriteria)`, `getLeases(LeaseSearchCriteria)`,
  `getContacts(ContactSearchCriteria)`, `getVendors()`,
  `getWorkOrders(WorkOrderSearchCriteria)` -> arrays; `getWorkOrder(criteria)` (by
  `ids[0]` or `workOrderNumber`), `updateWorkOrder(WorkOrder)`,
  `closeWorkOrder(workOrderID, category, closingComments, startDate, completedDate)`
  -> one WorkOrder. Criteria: `ids`, `pageNumber`, `createdAfter/Before`,
  `lastModifiedAfter` (strictly after), `lastModifiedBefore`, `lastModifiedOnOrAfter`,
  plus `UnitSearchCriteria.buildingId`, `LeaseSearchCriteria.tenantId`,
  `WorkOrderSearchCriteria.buildingId, contactId, orderByNewestFirst, portfolioId,
  unitId, vendorId, workOrderNumber`. The criteria types extend one another in the
  WSDL as in the real service.
- Paging: `PAGE_SIZE` = 100 objects per page, pages counted from 1 (a nil, 0 or
  negative `pageNumber` is page 1), ordered by ID (work orders newest first with
  `orderByNewestFirst`); a short or empty page is the last. `getAllPortfolios` and
  `getVendors` are not paged.
- Responses are Axis 1's RPC/encoded shape: `<opResponse><opReturn>`; each bean a
  `multiRef` child of the Body referenced by `href="#idN"`; arrays `soapenc:Array`
  with `soapenc:arrayType="ns2:T[n]"`, items named like the array element; text is
  `soapenc:string` (zeep gives an object with `_value_1`), numbers, booleans and
  `xsd:dateTime` (UTC, milliseconds, `Z`) carry `xsi:type`; nil is `xsi:nil="true"`.
- Requests are read as Axis reads them: parameters by name, with or without
  `xsi:type` (zeep sends none), converted by their declared types; `href`/`multiRef`
  beans (what Axis clients send) are followed; `xsi:nil` is None; a date-time
  without a zone is UTC. A field a bean does not have is Axis's fault "Invalid element
  in urn:PWServices.T - name".
- Errors are Axis faults, HTTP 500: `soapenv:Fault` with `faultcode`
  (`soapenv:Server.userException` for service errors such as an unknown work order,
  `soapenv:Client` for an unknown operation), `faultstring`, and `detail` holding
  Axis's `ns:hostname`.
- Keep-alive as Tomcat: connections stay open unless the client sends `Connection:
  close`, which the response then echoes.

Incremental reads: the DTOs carry no last-modified field; the store keeps a
last-modified time per object, which `updateWorkOrder`, `closeWorkOrder` and the
admin edit set, and the `lastModified*` criteria read.

Admin API (JSON, no auth, never logged nor faulted; client: `sandbox.propertyware_admin`):
`POST /__sandbox/reset`; `POST /__sandbox/objects` `{"portfolios", "buildings",
"units", "contacts", "leases", "vendors", "workOrders": [...]}` -> `{"loaded": {...}}`
(objects by ID, replaced when loaded again; DTO field names, plus the links the DTOs
derive: `Lease.tenantIDs`/`primaryContactID`, `WorkOrder.contactID`/`closingComments`;
optional `_created`/`_lastModified`); `GET /__sandbox/objects` -> `{"counts"}`;
`GET /__sandbox/objects/<collection>[/<ID>]`; `POST /__sandbox/objects/<collection>/<ID>`
`{"fields": {...}, "at": ISO or null}`: an edit made in PropertyWare (stamps the
object modified at `at` or now); `POST|GET|DELETE /__sandbox/faults`;
`GET /__sandbox/requests?since=N`, `GET /__sandbox/requests/count`,
`DELETE /__sandbox/requests`. Log entries: `index`, `at`, `operation`, `status` (None
when reset), `fault`, `applied`, `reused_connection`, `fault_string`.

Faults (`faults`): `reset_on_reuse` (a request arriving on an already used
connection is answered by a TCP reset, nothing applied), `slow` (served, then the
answer waits `delay_s`), `soap_fault` (an Axis `Server.userException`, nothing
applied); by `rate` + `seed` or queued in `next`, optionally only for `operations`.

Deviations from the real service (beyond the simulator being one organization):

- The WSDL is written from the public description of PWServices, not copied from the
  production one: only the ten operations above and their types; field order follows
  Axis's bean serializer (alphabetical, base type first); every field is declared
  nillable, text as `soapenc:string`, other fields as `xsd:` types. Assumed where the
  public material is silent: `Building.portfolioID`, the `BuildingSearchCriteria` /
  `ContactSearchCriteria` names, `WorkOrder.building/portfolio/lease` as IDs (long),
  `Lease.primaryContact` as a Contact, every return type of the writes (WorkOrder).
- No operation takes an explicit `orgID`: the organization is the Basic user's.
- The page size (100) is the simulator's choice; the real one is undocumented.
- `updateWorkOrder` changes only the fields sent non-nil (`ID`, `number` and
  `createdDate` are read-only) and never clears a field; `closeWorkOrder` sets the
  status `Closed` and refuses a work order already `Closed`. The closing comments are
  stored (visible in the admin API), not returned.
- Every response writes each bean as its own multiRef (Axis shares one multiRef for
  the same Java object referenced twice, e.g. a primary contact that is also a tenant).
- No SOAP header processing, no HTTP compression, no sessions or cookies; the WSDL and
  the schema need no login (production may ask for one).
- Fixture values are not validated (field names are); a wrong type shows when it is
  served.

Modules: `simulator` (`PropertyWareSimulator`: start/stop), `server` (HTTPS, TLS,
per-connection request count, resets, delays), `api` (WSDL, auth, the operations),
`soap` (reading calls, writing returns and faults), `dto` (the types and operations),
`wsdl` (the shipped files), `store` (Postgres state, schema `pw`), `faults` (kinds and
the draw), `admin` (the `/__sandbox/` endpoints), `messages` (`Request`, `Reply`,
`SoapFault`), `__main__` (`python -m sandbox.propertyware --host 127.0.0.1 --port P
--dsn DSN --certs-dir DIR --credentials-file F`, F holding the user then the password).
"""

from sandbox.propertyware.admin import Admin, AdminError, load_objects
from sandbox.propertyware.api import PAGE_SIZE, PropertyWareApi
from sandbox.propertyware.faults import FAULT_KINDS
from sandbox.propertyware.messages import Reply, Request, SoapFault
from sandbox.propertyware.simulator import PropertyWareSimulator
from sandbox.propertyware.store import Store
from sandbox.propertyware.wsdl import (
    SCHEMA_PATH,
    SERVICE_PATH,
    SOAP_ENCODING_URL,
    soap_encoding_schema,
    wsdl_text,
)

__all__ = [
    "FAULT_KINDS",
    "PAGE_SIZE",
    "SCHEMA_PATH",
    "SERVICE_PATH",
    "SOAP_ENCODING_URL",
    "Admin",
    "AdminError",
    "PropertyWareApi",
    "PropertyWareSimulator",
    "Reply",
    "Request",
    "SoapFault",
    "Store",
    "load_objects",
    "soap_encoding_schema",
    "wsdl_text",
]
