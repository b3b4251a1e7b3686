"""Injected faults: the kinds, the settings' default and the deterministic draw.

- `reset_on_reuse`: the server aborts the TCP connection (RST, no response) when a
  request arrives on a connection that already carried one, the hung/reset
  keep-alive sockets production users report. A request on a fresh connection is
  never reset, so a `Connection: close` client never meets this fault.
- `slow`: the request is served (and applied), then the answer waits `delay_s`.
- `soap_fault`: an Axis `Server.userException` fault (HTTP 500), nothing applied.

`next` lists kinds for exactly the next matching requests, in order, before any
random draw; a queued `reset_on_reuse` waits for the next request on a reused
connection (a fresh connection neither triggers nor consumes it). Otherwise a share
`rate` of matching requests draws one of `kinds` from `seed` (a draw of
`reset_on_reuse` on a fresh connection is no fault). `operations` limits faults to
those SOAP operations when given. Admin calls and WSDL/schema downloads never fault.
"""

from __future__ import annotations

from typing import Any

from sandbox.fault_draw import pick_fault
from sandbox.propertyware.store import Store

FAULT_KINDS = ("reset_on_reuse", "slow", "soap_fault")
DEFAULT_DELAY_S = 5.0
NO_FAULTS: dict[str, Any] = {
    "rate": 0.0, "kinds": list(FAULT_KINDS), "operations": None, "seed": 0, "next": [],
    "draws": 0, "delay_s": DEFAULT_DELAY_S,
}


def draw_fault(store: Store, operation: str | None, reused: bool) -> tuple[str | None, float]:
    """(fault kind or None, the slow delay) for this SOAP request."""
    faults = store.setting("faults", NO_FAULTS)
    operations = faults.get("operations")
    if operations and operation not in operations:
        return None, 0.0
    # A reset needs a reused connection: a queued one waits for such a request.
    kind, changed = pick_fault(faults, lambda k: k != "reset_on_reuse" or reused)
    if changed:
        store.save_setting("faults", faults)
    return kind, float(faults["delay_s"]) if kind == "slow" else 0.0
