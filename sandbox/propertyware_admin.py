"""A small client of the PropertyWare simulator's admin API (`/__sandbox/`).

For the demo and the tests: load fixture objects, edit one as a PropertyWare user
would (which stamps it modified), read objects back, switch faults on and off, read
the request log. Admin calls are not SOAP requests: they are never logged nor
faulted. TLS is verified against `ca_bundle` (the simulator's CA), never switched off.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests

ALL_FAULT_KINDS = ("reset_on_reuse", "slow", "soap_fault")
# The fixture's collections, as `load` takes them.
COLLECTIONS = ("portfolios", "buildings", "units", "contacts", "leases", "vendors", "workOrders")


class PropertyWareAdminError(RuntimeError):
    """The simulator refused an admin call (bad input) or could not be reached."""


class PropertyWareAdmin:
    def __init__(self, base_url: str, ca_bundle: str | None, timeout_s: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify: str | bool = ca_bundle or True
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: Any = None,
              params: dict[str, Any] | None = None) -> Any:
        try:
            # One connection per call: the simulator's own fault is about reused sockets,
            # and the admin client should never be the one to meet it.
            response = requests.request(
                method, f"{self.base_url}/__sandbox/{path}", json=body, params=params,
                verify=self.verify, timeout=self.timeout_s, headers={"Connection": "close"},
            )
        except requests.RequestException as error:
            raise PropertyWareAdminError(
                f"simulator unreachable at {self.base_url}: {error}"
            ) from None
        if response.status_code != 200:
            raise PropertyWareAdminError(
                f"{method} /__sandbox/{path} -> {response.status_code}: {response.text[:500]}"
            )
        return response.json()

    # objects

    def reset(self) -> None:
        """Forget everything: objects, the log, faults."""
        self._call("POST", "reset")

    def load(self, fixture: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        """Store fixture objects by collection (see COLLECTIONS); an object's `ID` is
        required, `_created` / `_lastModified` (ISO) are optional. Returns the counts."""
        return dict(self._call("POST", "objects", fixture)["loaded"])

    def counts(self) -> dict[str, int]:
        """Objects per kind (Portfolio, Building, Unit, Contact, Lease, Vendor, WorkOrder)."""
        return dict(self._call("GET", "objects")["counts"])

    def objects(self, collection: str) -> list[dict[str, Any]]:
        """Every stored object of a collection, by ID, with `_created` and `_lastModified`."""
        return list(self._call("GET", f"objects/{collection}")["objects"])

    def get(self, collection: str, object_id: int) -> dict[str, Any]:
        return dict(self._call("GET", f"objects/{collection}/{object_id}"))

    def edit(self, collection: str, object_id: int, fields: dict[str, Any],
             at: str | None = None) -> dict[str, Any]:
        """Change fields as a PropertyWare user would; the object's last-modified time
        becomes `at` (ISO) or now, so `lastModifiedAfter` reads see it."""
        return dict(self._call("POST", f"objects/{collection}/{object_id}",
                               {"fields": fields, "at": at}))

    # faults

    def set_faults(self, rate: float = 0.0, kinds: Iterable[str] = ALL_FAULT_KINDS,
                   seed: int = 0, next: Iterable[str] | None = None,
                   operations: Iterable[str] | None = None,
                   delay_s: float = 5.0) -> dict[str, Any]:
        """Fail a share `rate` of SOAP requests (of `operations` only, if given) with one
        of `kinds`, drawn deterministically from `seed`; `next` fails exactly the next
        matching requests, in order, first. `delay_s` is the `slow` kind's wait."""
        body = {"rate": rate, "kinds": list(kinds), "seed": seed, "delay_s": delay_s,
                "operations": list(operations) if operations is not None else None,
                "next": list(next) if next is not None else []}
        return dict(self._call("POST", "faults", body))

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    # request log

    def requests(self, since_index: int = 0) -> list[dict[str, Any]]:
        """Log entries with index >= since_index: index, at, operation, status (None
        when reset), fault, applied, reused_connection, fault_string."""
        return list(self._call("GET", "requests", params={"since": since_index})["requests"])

    def request_count(self) -> int:
        return int(self._call("GET", "requests/count")["count"])

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")
