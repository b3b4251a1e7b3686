"""Injected faults: the kinds, the settings' default, the deterministic draw, the replies."""

from __future__ import annotations

from typing import Any

from sandbox.fault_draw import draw_http_fault
from sandbox.salesforce.messages import Reply
from sandbox.salesforce.store import Store

FAULT_KINDS = ("503_before", "503_after", "drop_before", "drop_after", "429")
NO_FAULTS: dict[str, Any] = {
    "rate": 0.0, "kinds": list(FAULT_KINDS), "methods": None, "seed": 0, "next": [], "draws": 0,
}


def draw_fault(store: Store, method: str, path: str) -> str | None:
    """The fault kind for this API request, or None; `next` first, then the seeded draw."""
    return draw_http_fault(store, NO_FAULTS, method, path)


def fault_reply(kind: str) -> Reply:
    if kind.startswith("drop"):
        return Reply(0, drop=True)
    if kind == "429":
        return Reply(429, [{"message": "Too many requests, retry later.",
                            "errorCode": "REQUEST_LIMIT_EXCEEDED"}], {"Retry-After": "1"})
    return Reply(503, [{"errorCode": "SERVER_UNAVAILABLE",
                        "message": "Server temporarily unavailable, please try again later."}])
