"""A small client of the Salesforce simulator's admin API (`/__sandbox/`).

For the demo and the tests: load fixture records, run the "link" workflow that
Salesforce performs outside this project, switch faults on and off, read the
request log. Admin calls are not Salesforce API requests: they are never logged,
faulted or counted against the daily allocation. TLS is verified against
`ca_bundle` (the simulator's CA), never switched off.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sandbox.admin_client import AdminClient, AdminError

ALL_FAULT_KINDS = ("503_before", "503_after", "drop_before", "drop_after", "429")


class SalesforceAdminError(AdminError):
    """The simulator refused an admin call (bad input) or could not be reached."""


class SalesforceAdmin(AdminClient):
    error = SalesforceAdminError

    @classmethod
    def from_env(cls, env: dict[str, str]) -> SalesforceAdmin:
        """The admin client of the simulator named by `env` (see `sandbox.stack.stack_env`)."""
        if not env.get("SALESFORCE_INSTANCE_URL"):
            raise SalesforceAdminError("SALESFORCE_INSTANCE_URL is not set")
        return cls(env["SALESFORCE_INSTANCE_URL"].rstrip("/"), env.get("REQUESTS_CA_BUNDLE"))

    # records

    def load_records(self, records: list[dict[str, Any]]) -> list[str]:
        """Store fixture records as they are (no validation); returns their Ids in order."""
        return list(self._call("POST", "records", {"records": records})["ids"])

    def records(self) -> list[dict[str, Any]]:
        """Every record with every field (Id, system dates included), ordered by Id."""
        return list(self._call("GET", "records")["records"])

    def record_count(self) -> int:
        return int(self._call("GET", "records/count")["count"])

    def bulk_jobs(self) -> list[dict[str, Any]]:
        """Every Bulk API 2.0 ingest job, oldest first: its JobInfo (the state as last
        stored) and whether data was `uploaded` and rows `processed`."""
        return list(self._call("GET", "bulk-jobs")["jobs"])

    def link(self, mapping: dict[str, str]) -> int:
        """Set SF_Property_ID__c by Snappt_Property_ID__c, as the Salesforce workflow does."""
        return int(self._call("POST", "link", {"links": mapping})["linked"])

    # sessions and limits

    def expire_tokens(self) -> None:
        self._call("POST", "expire-tokens")

    def configure(self, token_ttl_s: float | None = None,
                  daily_limit: int | None = None,
                  bulk_processing_s: float | None = None) -> dict[str, Any]:
        """Change the token lifetime, the daily API allocation and/or how long a Bulk API
        2.0 job stays InProgress (None = unchanged)."""
        return dict(self._call("POST", "config", {"token_ttl_s": token_ttl_s,
                                                  "daily_limit": daily_limit,
                                                  "bulk_processing_s": bulk_processing_s}))

    def config(self) -> dict[str, Any]:
        """token_ttl_s, daily_limit and today's api_usage."""
        return dict(self._call("GET", "config"))

    # faults

    def set_faults(self, rate: float = 0.0, kinds: Iterable[str] = ALL_FAULT_KINDS,
                   methods: Iterable[str] | None = None, seed: int = 0,
                   next: Iterable[str] | None = None,
                   paths: Iterable[str] | None = None) -> dict[str, Any]:
        """Fail a share `rate` of API requests (of `methods` and of paths containing one
        of `paths` only, if given) with one of `kinds`, drawn deterministically from
        `seed`; `next` fails exactly the next matching requests, in order, first."""
        body = {"rate": rate, "kinds": list(kinds), "seed": seed,
                "paths": list(paths) if paths is not None else None,
                "methods": list(methods) if methods is not None else None,
                "next": list(next) if next is not None else []}
        return dict(self._call("POST", "faults", body))
