"""A small client of the PropertyWare simulator's admin API (`/__sandbox/`).

For the demo and the tests: load fixture objects, edit one as a PropertyWare user
would (which stamps it modified), read objects back, switch faults on and off, read
the request log. Admin calls are not SOAP requests: they are never logged nor
faulted. TLS is verified against `ca_bundle` (the simulator's CA), never switched off.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sandbox.admin_client import AdminClient, AdminError

ALL_FAULT_KINDS = ("reset_on_reuse", "slow", "soap_fault")
# The fixture's collections, as `load` takes them.
COLLECTIONS = ("portfolios", "buildings", "units", "contacts", "leases", "vendors", "workOrders")


class PropertyWareAdminError(AdminError):
    """The simulator refused an admin call (bad input) or could not be reached."""


class PropertyWareAdmin(AdminClient):
    error = PropertyWareAdminError
    keep_alive = False

    # objects

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
