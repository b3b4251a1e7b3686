"""PropertyWare work orders (SOAP `updateWorkOrder`): the write-back of job statuses.

- Update only: PropertyWare work orders are created by PropertyWare users; `create`
  refuses. A row of `sync.propertyware_work_orders_to_update` is `{ID, status}`; only
  those two are sent (zeep writes every other DTO field as xsi:nil, which the service
  takes as not sent), one record a call (the API has no batch update).
- A work order that does not exist is that record's rejection (`NOT_FOUND`), found
  by one `getWorkOrders(ids)` read per batch before the updates: PropertyWare
  answers an unknown ID with a SOAP fault, which is an HTTP 500 that the HTTP stack
  retries as a 5xx until its breaker opens (one bad row would abort the pass). A
  SOAP fault that still reaches this module (`SOAP_FAULT`, the fault's words) is a
  rejection too; a transport failure (unreachable, retries exhausted, circuit open)
  aborts the pass. Requests per batch of n rows: 1 read + n updates.
- Transport: reverse_etl/destinations/propertyware_soap.py, zeep on the policy
  session with keep-alive off; retries, PROPERTYWARE_MAX_RPS and the breaker are the
  stack's. An update is idempotent (it sets a value), so the stack may resend it.
- `read_records` (used by `reverse-etl revert`) reads `getWorkOrders(ids=[...])`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.redaction import redact
from common.settings import Settings
from reverse_etl.destinations.base import (
    DestinationConfigError,
    Outcome,
    PassAborted,
    Payload,
    ok,
    rejected,
)
from reverse_etl.destinations.propertyware_soap import (
    PropertyWareClient,
    PropertyWareConfigError,
    PropertyWareFault,
    PropertyWareUnavailable,
)

OBJECT_NAME = "work_orders"
# Fields the write-back may set; anything else in a row is a malformed view.
WRITABLE_FIELDS = ("status",)
# Ids per getWorkOrders read.
READ_CHUNK = 100


class PropertyWareDestination:
    name = "propertyware"
    # One record a call; the engine's batches only bound how often it records.
    max_batch = 50

    def __init__(
        self,
        settings: Settings,
        *,
        object_name: str = OBJECT_NAME,
        client: PropertyWareClient | None = None,
    ) -> None:
        if object_name != OBJECT_NAME:
            raise DestinationConfigError(f"propertyware: unknown object {object_name!r}")
        self.object_name = object_name
        self._settings = settings
        self._client = client or PropertyWareClient(settings)

    @property
    def api_requests(self) -> int:
        return self._client.requests_sent

    @property
    def rate_wait_s(self) -> float:
        return self._client.session.rate_wait_s

    def api_usage(self) -> dict[str, tuple[int, float]]:
        """Requests sent and seconds waited on the rate limit, per API."""
        return {"propertyware": (self._client.requests_sent, self._client.session.rate_wait_s)}

    def close(self) -> None:
        self._client.close()

    def check_configuration(self) -> None:
        missing = self._client.missing()
        if missing:
            raise DestinationConfigError(
                f"PropertyWare is not configured: set {', '.join(missing)} "
                "(or run `python -m sandbox up` for the local simulator)"
            )

    def _guard(self, error: Exception) -> PassAborted:
        if isinstance(error, PropertyWareConfigError):
            return DestinationConfigError(redact(str(error)))
        return PassAborted(redact(f"PropertyWare: {error}"))

    # -- the protocol ---------------------------------------------------------------

    def create(self, batch: Sequence[Payload]) -> list[Outcome]:
        if batch:
            raise PassAborted(
                "PropertyWare work orders are not created by propsync (update only); "
                "no create sync is registered for them"
            )
        return []

    def update(self, batch: Sequence[Payload]) -> list[Outcome]:
        if not batch:
            return []
        ids = []
        for record in batch:
            record_id = record.get("ID", record.get("id"))
            try:
                ids.append(int(record_id))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
        # One read of the batch's work orders first: PropertyWare answers an unknown
        # ID with a SOAP fault, an HTTP 500 that the HTTP stack retries (5xx) until its
        # circuit breaker opens, which would abort the pass for one bad record.
        try:
            existing = self._client.work_orders_by_ids(ids)
        except (PropertyWareConfigError, PropertyWareUnavailable, PropertyWareFault) as error:
            raise self._guard(error) from None
        return [self._update_one(record, existing) for record in batch]

    def _update_one(self, record: Payload, existing: dict[str, dict[str, Any]]) -> Outcome:
        record_id = record.get("ID", record.get("id"))
        if record_id in (None, ""):
            raise PassAborted("an update row has no ID column: the update view is malformed")
        fields = {k: v for k, v in record.items() if k not in ("ID", "id")}
        unknown = sorted(set(fields) - set(WRITABLE_FIELDS))
        if unknown:
            raise PassAborted(
                f"the work-order update view has columns PropertyWare is not written "
                f"from: {', '.join(unknown)}"
            )
        try:
            int(record_id)
        except (TypeError, ValueError):
            return rejected("INVALID_ID", f"work order ID {record_id!r} is not a number", ["ID"])
        if str(int(record_id)) not in existing:
            return rejected(
                "NOT_FOUND", f"Work order with ID {int(record_id)} does not exist.", ["ID"]
            )
        try:
            self._client.update_work_order(record_id, fields)
        except PropertyWareFault as fault:
            return rejected(
                "SOAP_FAULT", redact(f"{fault.code}: {fault.fault_message}"), ["ID"]
            )
        except (PropertyWareConfigError, PropertyWareUnavailable) as error:
            raise self._guard(error) from None
        return ok(str(int(record_id)))

    def read_records(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        wanted = [name for name in fields if name not in ("ID", "id")]
        found: dict[str, dict[str, Any]] = {}
        try:
            for start in range(0, len(record_ids), READ_CHUNK):
                chunk = record_ids[start : start + READ_CHUNK]
                for record_id, row in self._client.work_orders_by_ids(chunk).items():
                    found[record_id] = {name: row.get(name) for name in wanted}
        except (PropertyWareConfigError, PropertyWareUnavailable, PropertyWareFault) as error:
            raise self._guard(error) from None
        return found

    def health_check(self) -> str:
        try:
            portfolios = self._client.portfolios()
        except (PropertyWareConfigError, PropertyWareUnavailable, PropertyWareFault) as error:
            raise self._guard(error) from None
        return (
            f"PropertyWare at {self._settings.propertyware.wsdl_url}: authenticated, "
            f"{len(portfolios)} portfolios readable"
        )
