"""The per-token rate limit, by the algorithm of the real API's framework (Yii2 RateLimiter).

Each token has an allowance of `rate_limit` requests that refills at
`rate_limit / rate_window_s` per second, in whole requests (Yii2 truncates the
refill to an integer and restarts the clock on every request, so calls closer
together than one refill step never earn anything back). Every authenticated
answer carries `X-Rate-Limit-Limit`, `-Remaining` and `-Reset` (seconds until the
allowance is full again); an empty allowance answers 429 `Rate limit exceeded.`
without `Retry-After`.
"""

from __future__ import annotations

import time

from sandbox.servicefusion.messages import ApiError
from sandbox.servicefusion.store import Store

RATE_LIMIT_MESSAGE = "Rate limit exceeded."


class RateLimiter:
    def __init__(self, store: Store) -> None:
        self.store = store

    def spend(self, token: str) -> dict[str, str]:
        """Take one request from the token's allowance; the headers, or ApiError 429."""
        config = self.store.config()
        limit, window = int(config["rate_limit"]), int(config["rate_window_s"])
        now = int(time.time())
        saved = self.store.allowance(token)
        allowance, at = saved if saved is not None else (limit, now)
        allowance += int((now - at) * limit / window)
        allowance = min(allowance, limit)
        if allowance < 1:
            self.store.save_allowance(token, 0, now)
            raise ApiError(429, RATE_LIMIT_MESSAGE, _headers(limit, 0, window))
        self.store.save_allowance(token, allowance - 1, now)
        reset = int((limit - allowance + 1) * window / limit)
        return _headers(limit, allowance - 1, reset)


def _headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": str(reset)}
