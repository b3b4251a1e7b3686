"""Which injected fault hits a request: the queue first, then a seeded draw.

Every simulator's faults are settings in its store: `next` (kinds queued for the
next matching requests), or `rate` with `kinds` and `seed` (a deterministic draw:
the same settings fail the same requests, so a failing test can be replayed).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any


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
