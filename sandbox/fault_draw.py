"""Which injected fault hits a request: the queue first, then a seeded draw.

Every simulator's faults are settings in its store: `next` (kinds queued for the
next matching requests), or `rate` with `kinds` and `seed` (a deterministic draw:
the same settings fail the same requests, so a failing test can be replayed).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol


def pick_fault(
    faults: dict[str, Any], eligible: Callable[[str], bool] = lambda _kind: True
) -> tuple[str | None, bool]:
    """(the fault kind or None, whether `faults` changed and must be saved).

    `eligible` says whether a kind can hit this request at all; a queued kind that
    cannot waits for one that it can, a drawn one is simply not applied.
    """
    queued = faults.get("next") or []
    if queued:
        if not eligible(queued[0]):
            return None, False
        return queued.pop(0), True
    if float(faults.get("rate") or 0) > 0 and faults.get("kinds"):
        draw = random.Random(f"{faults['seed']}:{faults['draws']}")
        faults["draws"] += 1
        kind: str | None = None
        if draw.random() < float(faults["rate"]):
            kind = draw.choice(faults["kinds"])
            if not eligible(kind):
                kind = None
        return kind, True
    return None, False


class _FaultSettings(Protocol):
    def setting(self, name: str, default: dict[str, Any]) -> dict[str, Any]: ...

    def save_setting(self, name: str, value: dict[str, Any]) -> None: ...


def draw_http_fault(
    store: _FaultSettings, defaults: dict[str, Any], method: str, path: str
) -> str | None:
    """The fault kind for one request of a REST simulator, or None.

    The faults setting may narrow faults to some `methods` and to `paths` holding
    one of its fragments; the draw itself is `pick_fault`'s.
    """
    faults = store.setting("faults", defaults)
    methods = faults.get("methods")
    if methods and method.upper() not in {m.upper() for m in methods}:
        return None
    paths = faults.get("paths")
    if paths and not any(fragment in path for fragment in paths):
        return None
    kind, changed = pick_fault(faults)
    if changed:
        store.save_setting("faults", faults)
    return kind
