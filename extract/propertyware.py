"""dlt source over PropertyWare's SOAP API (PWServices, via zeep) -> dataset `raw_propertyware`.

Tables (one resource each, merged on `id`): `portfolios`, `buildings`, `units`,
`leases`, `vendors`, `work_orders`. Column names are the DTO field names in
snake_case (`buildingID` -> `building_id`, `unitIDs` -> `unit_ids`); every scalar
field of the WSDL's type is declared, so a column exists with its type even while
it is null everywhere.

Nesting (`max_table_nesting=1`): lists become child tables, one level deep, which
dbt models as plain joins rather than JSON unpacking:

- `leases__tenants`: one row per tenant contact of a lease, with `lease_id` added
  so that dbt can join on the business key (dlt's `_dlt_parent_id` works too);
- `work_orders__unit_ids`, `work_orders__vendor_ids`: one `value` per linked ID;
- `Lease.primaryContact` (one Contact) is flattened into `primary_contact__*`
  columns of `leases`;
- `Building.units` is left out: `units` holds the same objects, read on their own.

Incremental reads: the DTOs carry no last-modified field, but the search criteria
of buildings, units, leases and work orders take `lastModifiedAfter`. Each of those
resources keeps, in its dlt resource state, the time its previous successful run
started, and asks for objects modified after that time minus LOOKBACK (our clock
and the server's may disagree, and an edit committed while we paged could carry an
earlier stamp). Re-read objects merge onto their rows, so the overlap never makes a
duplicate. dlt commits the state only with a successful load, so a failed run is
simply read again. Portfolios and vendors have no criteria (one call returns all of
them) and are read whole on every run. Objects deleted in PropertyWare are not
detected: PWServices offers no feed of deletions.

Paging: `pageNumber` from 1 until an empty page or one shorter than the longest
seen (the real page size is undocumented, so it is learnt rather than assumed).

Transport: zeep on the project's policy session (common.http) with keep-alive off
(`Connection: close`: reused keep-alive sockets hang or are reset), its
retries with backoff and jitter on resets, timeouts and 5xx (an Axis fault is an
HTTP 500), the PROPERTYWARE_MAX_RPS rate limit and the circuit breaker. This module
adds no retry or rate loop of its own. The WSDL imports the SOAP encoding schema
without a location; the schema ships with this package (`schemas/`) and is given to
zeep's cache, so nothing is fetched from schemas.xmlsoap.org.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dlt
import requests
import zeep
import zeep.exceptions
import zeep.helpers
from dlt.common.schema.typing import TColumnSchema, TTableSchemaColumns
from dlt.extract import DltResource
from lxml import etree

from common.http import PolicySession
from common.settings import Settings
from common.soap import soap_client

DATASET = "raw_propertyware"
TYPES_NS = "urn:PWServices"
# How far before the previous run's start an incremental read begins (see above).
LOOKBACK = dt.timedelta(minutes=10)
# Resource state key of the incremental cursor (ISO text, UTC).
CURSOR = "modified_after"


@dataclass(frozen=True)
class Endpoint:
    table: str
    operation: str
    dto: str
    # Paged and read by lastModifiedAfter when the operation takes criteria.
    incremental: bool
    # Fields not landed (read by another resource).
    drop: tuple[str, ...] = ()
    # Bean fields flattened into `<field>__<column>` columns: field -> its DTO.
    flattened: tuple[tuple[str, str], ...] = ()
    # List fields that become child tables: field -> the DTO of the items, or the
    # dlt type of a scalar item (dlt names its column `value`).
    nested: tuple[tuple[str, str], ...] = ()


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("portfolios", "getAllPortfolios", "Portfolio", incremental=False),
    Endpoint("buildings", "getBuildings", "Building", incremental=True, drop=("units",)),
    Endpoint("units", "getUnits", "Unit", incremental=True),
    Endpoint("leases", "getLeases", "Lease", incremental=True,
             flattened=(("primaryContact", "Contact"),), nested=(("tenants", "Contact"),)),
    Endpoint("vendors", "getVendors", "Vendor", incremental=False),
    Endpoint("work_orders", "getWorkOrders", "WorkOrder", incremental=True,
             nested=(("unitIDs", "bigint"), ("vendorIDs", "bigint"))),
)
TABLES: tuple[str, ...] = tuple(endpoint.table for endpoint in ENDPOINTS)

# XML Schema / SOAP encoding type (local name) -> dlt data type. Arrays and beans
# are not here: they become child tables or flattened columns.
_DATA_TYPES = {
    "string": "text",
    "long": "bigint",
    "int": "bigint",
    "boolean": "bool",
    "double": "double",
    "dateTime": "timestamp",
}


class PropertyWareError(RuntimeError):
    """PropertyWare answered, but not with what a read expects; no secret in it."""


class PropertyWareAuthError(PropertyWareError):
    """PropertyWare refused the API user (HTTP 401/403)."""


AUTH_MESSAGE = (
    "PropertyWare refused the API user (check PROPERTYWARE_USERNAME / PROPERTYWARE_PASSWORD)"
)


def column_name(field: str) -> str:
    """The warehouse column of a DTO field: `ID` -> id, `unitIDs` -> unit_ids.

    `ID`/`IDs` are made words first: dlt's snake_case would turn `unitIDs` into
    `unit_i_ds`. The result is already normalised, so dlt keeps it.
    """
    worded = re.sub(r"IDs(?=[A-Z]|$)", "Ids", field)
    worded = re.sub(r"ID(?=[A-Z]|$)", "Id", worded)
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", worded).lower()


def plain(value: Any) -> Any:
    """A serialized zeep value as plain data: a soapenc value (text, and the
    encoded numbers) is an object holding it in `_value_1`; so is a soapenc:Array's
    list of items, depending on how zeep resolved the type."""
    if isinstance(value, dict):
        if "_value_1" in value:
            return plain(value["_value_1"])
        return {column_name(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def row_of(obj: Any, endpoint: Endpoint) -> dict[str, Any]:
    data = zeep.helpers.serialize_object(obj, target_cls=dict)
    row: dict[str, Any] = plain(
        {key: item for key, item in data.items() if key not in endpoint.drop}
    )
    if endpoint.table == "leases":
        # The business key on each tenant row, for dbt's lease-tenant bridge.
        for tenant in row.get("tenants") or []:
            tenant["lease_id"] = row["id"]
    return row


def zeep_client(wsdl_url: str, session: PolicySession, timeout_s: float) -> zeep.Client:
    """zeep on the policy session; the encoding schema from `common`, not the web."""
    try:
        return soap_client(wsdl_url, session, timeout_s)
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        if status in (401, 403):
            raise PropertyWareAuthError(AUTH_MESSAGE) from None
        raise PropertyWareError(
            f"PROPERTYWARE_WSDL_URL answered HTTP {status} instead of the WSDL"
        ) from None
    except (etree.XMLSyntaxError, zeep.exceptions.XMLSyntaxError,
            zeep.exceptions.WsdlSyntaxError) as error:
        raise PropertyWareError(
            f"PROPERTYWARE_WSDL_URL does not serve a readable WSDL: {error}"
        ) from None


def _scalar_columns(client: zeep.Client, dto: str, prefix: str = "",
                    drop: tuple[str, ...] = ()) -> TTableSchemaColumns:
    """Every scalar field of a DTO with its type, in the WSDL's order."""
    xsd_type = client.get_type(f"{{{TYPES_NS}}}{dto}")
    columns: TTableSchemaColumns = {}
    for field, element in xsd_type.elements:
        qname = getattr(element.type, "qname", None)
        data_type = _DATA_TYPES.get(qname.localname) if qname is not None else None
        if data_type is None or field in drop:
            continue
        name = prefix + column_name(field)
        columns[name] = TColumnSchema(
            name=name,
            data_type=data_type,  # type: ignore[typeddict-item]
            nullable=name != "id",
        )
    return columns


def columns_of(client: zeep.Client, endpoint: Endpoint) -> TTableSchemaColumns:
    """The root table's columns: the DTO's scalars and those of its flattened beans,
    so that a column exists, typed, even while no object has a value in it."""
    columns = _scalar_columns(client, endpoint.dto, drop=endpoint.drop)
    for field, dto in endpoint.flattened:
        columns.update(_scalar_columns(client, dto, prefix=f"{column_name(field)}__"))
    return columns


def nested_hints_of(client: zeep.Client, endpoint: Endpoint) -> dict[str, Any]:
    """The child tables' columns, for the same reason."""
    hints: dict[str, Any] = {}
    for field, item in endpoint.nested:
        if item in _DATA_TYPES.values():
            columns: TTableSchemaColumns = {
                "value": TColumnSchema(name="value", data_type=item)  # type: ignore[typeddict-item]
            }
        else:
            columns = {name: {**column, "nullable": True}
                       for name, column in _scalar_columns(client, item).items()}
            if endpoint.table == "leases":
                columns["lease_id"] = TColumnSchema(name="lease_id", data_type="bigint")
        hints[column_name(field)] = dlt.mark.make_nested_hints(columns=columns)
    return hints


def call(client: zeep.Client, operation: str, *args: Any) -> Any:
    """One SOAP call, its failures as PropertyWare errors (the session has already
    retried what was worth retrying: resets, timeouts, 5xx)."""
    try:
        return getattr(client.service, operation)(*args)
    except zeep.exceptions.TransportError as error:
        if error.status_code in (401, 403):
            raise PropertyWareAuthError(AUTH_MESSAGE) from None
        raise PropertyWareError(
            f"{operation} answered HTTP {error.status_code}, not a SOAP response"
        ) from None
    except zeep.exceptions.Fault as error:
        raise PropertyWareError(f"{operation} failed: {error.code}: {error.message}") from None


def read(client: zeep.Client, endpoint: Endpoint) -> Iterator[list[dict[str, Any]]]:
    if not endpoint.incremental:
        rows = [row_of(obj, endpoint) for obj in call(client, endpoint.operation) or []]
        if rows:
            yield rows
        return
    state = dlt.current.resource_state()
    started = dt.datetime.now(dt.UTC)
    criteria: dict[str, Any] = {}
    if state.get(CURSOR):
        criteria["lastModifiedAfter"] = dt.datetime.fromisoformat(state[CURSOR]) - LOOKBACK
    seen: set[int] = set()
    longest = 0
    page = 1
    while True:
        batch = call(client, endpoint.operation, {**criteria, "pageNumber": page}) or []
        rows = [row_of(obj, endpoint) for obj in batch]
        ids = {int(row["id"]) for row in rows}
        if ids and ids <= seen:
            # A service that ignored pageNumber would otherwise be paged forever.
            raise PropertyWareError(
                f"{endpoint.operation} page {page} repeats objects of earlier pages"
            )
        seen |= ids
        if rows:
            yield rows
        longest = max(longest, len(batch))
        if not batch or len(batch) < longest:
            break
        page += 1
    # Only now: a read that failed half-way keeps the old cursor (and dlt commits
    # resource state only together with the load).
    state[CURSOR] = started.isoformat()


@dlt.source(name="propertyware", max_table_nesting=1)
def propertyware(settings: Settings, session: PolicySession) -> list[DltResource]:
    """The PropertyWare objects of the API user's organization.

    `session` is `common.http.policy_session(settings, "propertyware",
    keep_alive=False)`: every retry, rate and breaker policy lives there.
    """
    config = settings.propertyware
    if not (config.wsdl_url and config.username and config.password):
        raise ValueError(f"PropertyWare is not configured: set {', '.join(config.missing())}")
    session.auth = (config.username.get_secret_value(), config.password.get_secret_value())
    client = zeep_client(config.wsdl_url, session, settings.http.timeout_s)
    return [
        dlt.resource(
            read,
            name=endpoint.table,
            primary_key="id",
            write_disposition="merge",
            columns=columns_of(client, endpoint),
            nested_hints=nested_hints_of(client, endpoint),
        )(client, endpoint)
        for endpoint in ENDPOINTS
    ]
