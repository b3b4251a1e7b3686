"""The daily API allocation: spending it, the `Sforce-Limit-Info` header, `GET /limits`."""

from __future__ import annotations

from typing import Any

from sandbox.salesforce.messages import ApiError
from sandbox.salesforce.store import DEFAULT_CONFIG, Store


class Limits:
    """Every authenticated `/services/data` request spends one call of today's allocation."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def daily_limit(self) -> int:
        return int(self.store.setting("config", DEFAULT_CONFIG)["daily_limit"])

    def spend(self) -> None:
        """Count this request, or refuse it as Salesforce does once the day's calls are spent."""
        if self.store.usage() >= self.daily_limit():
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        self.store.count_usage()

    def header(self) -> str:
        """`Sforce-Limit-Info`, on every `/services/data` response."""
        return f"api-usage={self.store.usage()}/{self.daily_limit()}"

    def resource(self) -> dict[str, Any]:
        """`GET /limits`: `{name: {Max, Remaining}}`. Only `DailyApiRequests` is live (it
        counts this very request, which was spent before it was served); the others are
        fixed figures: the simulator counts no Bulk batches and measures no storage."""
        limit = self.daily_limit()
        return {
            "DailyApiRequests": {"Max": limit,
                                 "Remaining": max(limit - self.store.usage(), 0)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
        }
