"""The `/__sandbox/` control API: fixtures, edits made "in the PropertyWare UI", faults, the log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sandbox.propertyware.dto import fields
from sandbox.propertyware.faults import FAULT_KINDS, NO_FAULTS
from sandbox.propertyware.messages import Reply, Request
from sandbox.propertyware.soap import parse_datetime
from sandbox.propertyware.store import Store, utc_now

# The fixture's name of each kind (what `POST /__sandbox/objects` takes).
COLLECTIONS: dict[str, str] = {
    "portfolios": "Portfolio", "buildings": "Building", "units": "Unit",
    "contacts": "Contact", "leases": "Lease", "vendors": "Vendor", "workOrders": "WorkOrder",
}
# Fields the service derives when it answers, never stored.
_DERIVED = {"Building": {"units"}, "Lease": {"tenants", "primaryContact"}}
# Links the DTOs do not show, kept with the object.
_EXTRA = {"Lease": {"tenantIDs", "primaryContactID"},
          "WorkOrder": {"contactID", "closingComments"}}
_TIMES = ("_created", "_lastModified")


class AdminError(Exception):
    pass


def storable_fields(kind: str) -> set[str]:
    declared = {name for name, _ in fields(kind)}
    return (declared - _DERIVED.get(kind, set())) | _EXTRA.get(kind, set())


def load_objects(store: Store, payload: dict[str, Any]) -> dict[str, int]:
    """Store fixture objects as they are (field names checked, values not); by ID, so
    loading an object again replaces it. Returns how many of each collection."""
    now = utc_now()
    rows: list[tuple[str, int, dict[str, Any], dt.datetime, dt.datetime]] = []
    loaded: dict[str, int] = {}
    for collection, objects in payload.items():
        kind = COLLECTIONS.get(collection)
        if kind is None:
            raise AdminError(f"unknown collection {collection!r}; known: {sorted(COLLECTIONS)}")
        if not isinstance(objects, list):
            raise AdminError(f"{collection} must be a list of objects")
        allowed = storable_fields(kind)
        for item in objects:
            rows.append(_fixture_row(kind, item, allowed, now))
        loaded[collection] = len(objects)
    with store.transaction():
        store.upsert(rows)
    return loaded


def _fixture_row(kind: str, item: Any, allowed: set[str], now: dt.datetime
                 ) -> tuple[str, int, dict[str, Any], dt.datetime, dt.datetime]:
    if not isinstance(item, dict):
        raise AdminError(f"each {kind} must be an object")
    oid = item.get("ID")
    if isinstance(oid, bool) or not isinstance(oid, int) or oid <= 0:
        raise AdminError(f"each {kind} needs a positive integer ID, got {oid!r}")
    unknown = sorted(set(item) - allowed - {"ID", *_TIMES})
    if unknown:
        raise AdminError(f"unknown fields {unknown} on {kind} {oid}")
    data = {name: value for name, value in item.items() if name not in ("ID", *_TIMES)}
    created = _moment(item.get("_created") or item.get("createdDate")) or now
    modified = _moment(item.get("_lastModified")) or created
    return kind, oid, data, created, modified


def _moment(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_datetime(str(value))
    except ValueError:
        raise AdminError(f"not an ISO date-time: {value!r}") from None


class Admin:
    def __init__(self, store: Store) -> None:
        self.store = store

    def handle(self, request: Request) -> Reply:
        path = request.path.rstrip("/").removeprefix("/__sandbox")
        route = (request.method, path)
        handlers: dict[tuple[str, str], Callable[[Request], Any]] = {
            ("POST", "/reset"): self._reset,
            ("POST", "/objects"): lambda r: {"loaded": load_objects(self.store, self._body(r))},
            ("GET", "/objects"): lambda _: {"counts": self.store.counts()},
            ("POST", "/faults"): self._set_faults,
            ("DELETE", "/faults"): self._clear_faults,
            ("GET", "/faults"): lambda _: self.store.setting("faults", NO_FAULTS),
            ("GET", "/requests"): self._requests,
            ("GET", "/requests/count"): lambda _: {"count": self.store.log_count()},
            ("DELETE", "/requests"): self._clear_requests,
        }
        handler = handlers.get(route)
        parts = path.split("/")
        if handler is None and len(parts) in (3, 4) and parts[1] == "objects":
            handler = self._object_route(request.method, parts[2:])
        if handler is None:
            return Reply.json(404, {"error": f"no admin endpoint {request.method} {request.path}"})
        try:
            with self.store.lock:
                return Reply.json(200, handler(request))
        except AdminError as error:
            return Reply.json(400, {"error": str(error)})
        except LookupError as error:
            return Reply.json(404, {"error": str(error.args[0])})

    def _object_route(self, method: str, parts: list[str]
                      ) -> Callable[[Request], Any] | None:
        kind = COLLECTIONS.get(parts[0])
        if kind is None:
            return None
        if len(parts) == 1 and method == "GET":
            return lambda _: {"objects": self.store.search(kind)}
        if len(parts) == 2 and parts[1].isdigit():
            oid = int(parts[1])
            if method == "GET":
                return lambda _: self._one(kind, oid)
            if method == "POST":
                return lambda request: self._edit(kind, oid, request)
        return None

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError as error:
            raise AdminError(f"body is not JSON: {error}") from None
        if not isinstance(body, dict):
            raise AdminError("body must be a JSON object")
        return body

    def _reset(self, _: Request) -> dict[str, Any]:
        self.store.reset()
        return {"ok": True}

    def _one(self, kind: str, oid: int) -> dict[str, Any]:
        found = self.store.get(kind, oid)
        if found is None:
            raise LookupError(f"no {kind} {oid}")
        return found

    def _edit(self, kind: str, oid: int, request: Request) -> dict[str, Any]:
        """Change fields as a PropertyWare user would: the object counts as modified."""
        body = self._body(request)
        changes = body.get("fields")
        if not isinstance(changes, dict):
            raise AdminError('expected {"fields": {...}, "at": optional ISO date-time}')
        unknown = sorted(set(changes) - storable_fields(kind))
        if unknown:
            raise AdminError(f"unknown fields {unknown} on {kind}")
        updated = self.store.update(kind, oid, changes, _moment(body.get("at")))
        if updated is None:
            raise LookupError(f"no {kind} {oid}")
        return updated

    def _set_faults(self, request: Request) -> dict[str, Any]:
        body = self._body(request)
        rate = body.get("rate", 0.0)
        kinds = list(body.get("kinds") or FAULT_KINDS)
        queued = list(body.get("next") or [])
        delay = body.get("delay_s", NO_FAULTS["delay_s"])
        operations = body.get("operations")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise AdminError("rate must be a number between 0 and 1")
        unknown = sorted({str(k) for k in kinds + queued} - set(FAULT_KINDS))
        if unknown:
            raise AdminError(f"unknown fault kinds {unknown}; known: {list(FAULT_KINDS)}")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 600:
            raise AdminError("delay_s must be a number of seconds between 0 and 600")
        if operations is not None and (
            not isinstance(operations, list) or not all(isinstance(o, str) for o in operations)
        ):
            raise AdminError("operations must be a list of operation names or null")
        faults = {"rate": float(rate), "kinds": kinds, "seed": body.get("seed", 0),
                  "next": queued, "draws": 0, "delay_s": float(delay),
                  "operations": operations or None}
        self.store.save_setting("faults", faults)
        return faults

    def _clear_faults(self, _: Request) -> dict[str, Any]:
        self.store.save_setting("faults", dict(NO_FAULTS))
        return dict(NO_FAULTS)

    def _requests(self, request: Request) -> dict[str, Any]:
        since = request.param("since") or "0"
        if not since.isdigit():
            raise AdminError("since must be a non-negative integer")
        return {"requests": self.store.log_entries(int(since)), "count": self.store.log_count()}

    def _clear_requests(self, _: Request) -> dict[str, Any]:
        self.store.clear_log()
        return {"ok": True}
