"""Injected faults: the kinds, the settings' default, the deterministic draw, the replies."""

from __future__ import annotations

from typing import Any

from sandbox.fault_draw import draw_http_fault
from sandbox.servicefusion.messages import ApiError, Reply
from sandbox.servicefusion.ratelimit import RATE_LIMIT_MESSAGE
from sandbox.servicefusion.store import Store

FAULT_KINDS = ("503_before", "503_after", "drop_before", "drop_after", "429", "slow")
# Kinds that stop the request before it is processed: nothing is applied.
BEFORE_KINDS = frozenset({"503_before", "drop_before", "429"})
DEFAULT_SLOW_S = 5.0
NO_FAULTS: dict[str, Any] = {
    "rate": 0.0, "kinds": list(FAULT_KINDS), "methods": None, "paths": None, "seed": 0,
    "next": [], "draws": 0, "slow_s": DEFAULT_SLOW_S,
}


def draw_fault(store: Store, method: str, path: str) -> str | None:
    """The fault kind for this API request, or None; `next` first, then the seeded draw."""
    return draw_http_fault(store, NO_FAULTS, method, path)


def fault_reply(kind: str) -> Reply:
    if kind.startswith("drop"):
        return Reply(0, drop=True)
    if kind == "429":
        # The same body as the real limiter, and like it no Retry-After.
        return ApiError(429, RATE_LIMIT_MESSAGE).reply()
    return ApiError(503, "The server is temporarily unable to service your request due to"
                    " maintenance downtime or capacity problems. Please try again later.").reply()
