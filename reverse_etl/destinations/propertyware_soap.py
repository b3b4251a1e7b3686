"""A small PropertyWare SOAP client for the pusher: zeep over the policy session.

The same construction as extract/propertyware.py (which the pusher may not import:
extract and reverse_etl share only `common`): zeep on
`common.http.policy_session(settings, "propertyware", keep_alive=False)`, so every
request carries `Connection: close`, waits at most HTTP_TIMEOUT_S (90 s by default),
is rate limited by PROPERTYWARE_MAX_RPS and is retried by the stack on resets,
timeouts and 5xx (an Axis fault is an HTTP 500). The WSDL imports the SOAP encoding
schema without a location; the schema ships in `schemas/` and is put into zeep's
cache, so nothing is fetched from schemas.xmlsoap.org.

`PropertyWareClient` offers what the pusher needs: `update_work_order(id, fields)`,
`work_orders_by_ids(ids)`, `work_orders_by_number(numbers)` (the ServiceFusion jobs
verification) and `portfolios()` (the health check). A SOAP fault is raised as
`PropertyWareFault` (one record's problem, e.g. an unknown work order); a transport
failure as `PropertyWareUnavailable` (the pass's problem).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import requests
import zeep
import zeep.exceptions
import zeep.helpers
from lxml import etree

from common.http import HttpError, PolicySession, policy_session
from common.redaction import redact
from common.settings import Settings
from common.soap import soap_client

TYPES_NS = "urn:PWServices"
SERVICE_NS = "http://service.web.propertyware.realpage.com"
# Safety net for paging: PropertyWare's page size is undocumented (a short or empty
# page ends a read); a service that ignored pageNumber must not be paged forever.
MAX_PAGES = 1000


class PropertyWareError(RuntimeError):
    """PropertyWare could not be used; one secret-free line."""


class PropertyWareConfigError(PropertyWareError):
    """Missing variables or refused credentials."""


class PropertyWareUnavailable(PropertyWareError):
    """No usable answer (unreachable, retries exhausted, not a SOAP response)."""


class PropertyWareFault(PropertyWareError):
    """A SOAP fault: the service refused this call (e.g. the work order does not exist)."""

    def __init__(self, operation: str, code: str | None, message: str) -> None:
        self.operation, self.code, self.fault_message = operation, code, message
        super().__init__(redact(f"{operation} failed: {code}: {message}"))


def plain(value: Any) -> Any:
    """A serialized zeep value as plain data (soapenc values hold it in `_value_1`)."""
    if isinstance(value, dict):
        if "_value_1" in value:
            return plain(value["_value_1"])
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def _as_dict(obj: Any) -> dict[str, Any]:
    data = plain(zeep.helpers.serialize_object(obj, target_cls=dict))
    return data if isinstance(data, dict) else {}


class PropertyWareClient:
    """zeep on the policy session; built lazily, at the first call."""

    def __init__(self, settings: Settings, *, session: PolicySession | None = None) -> None:
        self._settings = settings
        self._session = session or policy_session(settings, "propertyware", keep_alive=False)
        self._client: zeep.Client | None = None

    @property
    def requests_sent(self) -> int:
        return self._session.requests_sent

    @property
    def session(self) -> PolicySession:
        return self._session

    def missing(self) -> list[str]:
        return self._settings.propertyware.missing()

    def check_configuration(self) -> None:
        missing = self.missing()
        if missing:
            raise PropertyWareConfigError(
                f"PropertyWare is not configured: set {', '.join(missing)} "
                "(or run `python -m sandbox up` for the local simulator)"
            )

    def close(self) -> None:
        self._session.close()

    # -- zeep -------------------------------------------------------------------------

    def client(self) -> zeep.Client:
        if self._client is not None:
            return self._client
        self.check_configuration()
        config = self._settings.propertyware
        assert config.wsdl_url and config.username and config.password
        self._session.auth = (
            config.username.get_secret_value(),
            config.password.get_secret_value(),
        )
        try:
            self._client = soap_client(
                config.wsdl_url, self._session, self._settings.http.timeout_s
            )
        except HttpError as error:
            raise PropertyWareUnavailable(f"PropertyWare WSDL: {error}") from None
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else 0
            if status in (401, 403):
                raise PropertyWareConfigError(
                    "PropertyWare refused the API user "
                    "(check PROPERTYWARE_USERNAME / PROPERTYWARE_PASSWORD)"
                ) from None
            raise PropertyWareUnavailable(
                f"PROPERTYWARE_WSDL_URL answered HTTP {status} instead of the WSDL"
            ) from None
        except (etree.XMLSyntaxError, zeep.exceptions.XMLSyntaxError,
                zeep.exceptions.WsdlSyntaxError) as error:
            raise PropertyWareUnavailable(
                f"PROPERTYWARE_WSDL_URL does not serve a readable WSDL: {error}"
            ) from None
        return self._client

    def call(self, operation: str, *args: Any) -> Any:
        client = self.client()
        try:
            return getattr(client.service, operation)(*args)
        except zeep.exceptions.Fault as error:
            raise PropertyWareFault(operation, error.code, str(error.message)) from None
        except zeep.exceptions.TransportError as error:
            if error.status_code in (401, 403):
                raise PropertyWareConfigError(
                    "PropertyWare refused the API user "
                    "(check PROPERTYWARE_USERNAME / PROPERTYWARE_PASSWORD)"
                ) from None
            raise PropertyWareUnavailable(
                f"{operation} answered HTTP {error.status_code}, not a SOAP response"
            ) from None
        except HttpError as error:
            raise PropertyWareUnavailable(redact(str(error))) from None

    # -- operations -------------------------------------------------------------------

    def portfolios(self) -> list[dict[str, Any]]:
        return [_as_dict(item) for item in self.call("getAllPortfolios") or []]

    def update_work_order(self, work_order_id: int | str, fields: dict[str, Any]) -> dict[str, Any]:
        """`updateWorkOrder` with the ID and `fields` only: zeep writes every other field
        of the DTO as xsi:nil, which PropertyWare takes as not sent."""
        work_order_type = self.client().get_type(f"{{{TYPES_NS}}}WorkOrder")
        work_order = work_order_type(ID=int(work_order_id), **fields)
        return _as_dict(self.call("updateWorkOrder", work_order))

    def _search(self, criteria: dict[str, Any], wanted: int | None = None) -> list[dict[str, Any]]:
        """Every page of getWorkOrders; stops early once `wanted` objects are read."""
        found: list[dict[str, Any]] = []
        longest = 0
        for page in range(1, MAX_PAGES + 1):
            batch = self.call("getWorkOrders", {**criteria, "pageNumber": page}) or []
            found.extend(_as_dict(item) for item in batch)
            longest = max(longest, len(batch))
            if not batch or len(batch) < longest:
                break
            if wanted is not None and len(found) >= wanted:
                break  # every ID asked for is there: no request for an empty page
        return found

    def work_orders_by_ids(self, ids: Sequence[int | str]) -> dict[str, dict[str, Any]]:
        """The work orders of these IDs (paged by pageNumber), by ID as text."""
        if not ids:
            return {}
        # zeep renders a soapenc:Array only from its array type, never from a list.
        long_array = self.client().get_type(f"{{{SERVICE_NS}}}ArrayOf_xsd_long")
        wanted = {str(int(i)) for i in ids}
        rows = self._search({"ids": long_array(sorted(int(i) for i in wanted))}, len(wanted))
        return {str(row["ID"]): row for row in rows if str(row.get("ID")) in wanted}

    def work_orders_by_number(self, numbers: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """Each work-order number's work order (None: not found), one request each."""
        found: dict[str, dict[str, Any] | None] = {}
        for number in numbers:
            try:
                # A long in PWServices: a number that is not one cannot exist (and
                # would be answered by a NumberFormatException fault, an HTTP 500).
                wanted = int(str(number).strip())
            except ValueError:
                found[str(number)] = None
                continue
            # Work-order numbers are unique: the first page holds it if it exists,
            # so one request a number (no paging to an empty page).
            batch = self.call("getWorkOrders", {"workOrderNumber": wanted, "pageNumber": 1})
            rows = [_as_dict(item) for item in batch or []]
            match = [row for row in rows if str(row.get("number")) == str(wanted)]
            found[str(number)] = match[0] if match else None
        return found


def work_orders_by_number(
    settings: Settings, numbers: Iterable[str], *, client: PropertyWareClient | None = None
) -> dict[str, dict[str, Any] | None]:
    """The reader the ServiceFusion jobs verification uses (a client of its own unless
    one is given)."""
    own = client is None
    reader = client or PropertyWareClient(settings)
    try:
        return reader.work_orders_by_number(numbers)
    finally:
        if own:
            reader.close()
