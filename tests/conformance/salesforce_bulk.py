"""The Salesforce harness on the Bulk API 2.0 path: every pass above the threshold.

The same object, views, payloads and simulator as `SalesforceHarness`, with
`SALESFORCE_BULK_THRESHOLD=0`, so each batch is one ingest job, and jobs of 200
records, so the suite's batch arithmetic (two batches and a bit, ...) holds. A
"write" is a job: what the suite counts is `POST /jobs/ingest`, and the faults it
injects on a write hit the job's creation, the one step that is not idempotent. A
lost create answer is looked up (`GET /jobs/ingest`), not sent again: no write is
resent. Lost upload and close answers are tested in
tests/integration/test_push_salesforce_bulk.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.settings import Settings
from reverse_etl.destinations.base import Destination
from reverse_etl.destinations.salesforce import SalesforceDestination
from reverse_etl.registry import Sync
from sandbox.salesforce.faults import fault_reply
from tests.conformance.salesforce import SalesforceHarness

JOBS_PATH = "/jobs/ingest"
JOB_RECORDS = 200


class SalesforceBulkHarness(SalesforceHarness):
    lost_write_resends = 0

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "SALESFORCE_BULK_THRESHOLD": "0",
            "SALESFORCE_BULK_JOB_RECORDS": str(JOB_RECORDS),
        }

    def _job_creations(self, since: int) -> list[dict[str, Any]]:
        return [e for e in self._log(since)
                if e["method"] == "POST" and e["path"].rstrip("/").endswith(JOBS_PATH)]

    def writes(self, since: int = 0) -> int:
        return len(self._job_creations(since))

    def lose_next_write_response(self, kind: str) -> None:
        self.admin.set_faults(next=[kind], paths=[JOBS_PATH], methods=["POST"])

    def throttle_next_write(self) -> float:
        self.admin.set_faults(next=["429"], paths=[JOBS_PATH], methods=["POST"])
        return float(fault_reply("429").headers["Retry-After"])

    def client(
        self, sync: Sync, settings: Settings, sleep: Callable[[float], None], *, dry_run: bool
    ) -> Destination:
        destination = super().client(sync, settings, sleep, dry_run=dry_run)
        # The Bulk path's own waits (a refused job create, polling) are recorded too.
        assert isinstance(destination, SalesforceDestination)
        destination.sleep = sleep
        return destination
