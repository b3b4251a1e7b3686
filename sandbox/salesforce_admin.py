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

import requests

ALL_FAULT_KINDS = ("503_before", "503_after", "drop_before", "drop_after", "429")


class SalesforceAdminError(RuntimeError):
    """The simulator refused an admin call (bad input) or could not be reached."""


class SalesforceAdmin:
    def __init__(self, base_url: str, ca_bundle: str | None, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify: str | bool = ca_bundle or True
        self.timeout_s = timeout_s
        self._session = requests.Session()

    @classmethod
    def from_env(cls, env: dict[str, str]) -> SalesforceAdmin:
        """The admin client of the simulator named by `env` (see `sandbox.stack.stack_env`)."""
        if not env.get("SALESFORCE_INSTANCE_URL"):
            raise SalesforceAdminError("SALESFORCE_INSTANCE_URL is not set")
        return cls(env["SALESFORCE_INSTANCE_URL"].rstrip("/"), env.get("REQUESTS_CA_BUNDLE"))

    def _call(self, method: str, path: str, body: Any = None,
              params: dict[str, Any] | None = None) -> Any:
        try:
            response = self._session.request(
                method, f"{self.base_url}/__sandbox/{path}", json=body, params=params,
                verify=self.verify, timeout=self.timeout_s,
            )
        except requests.RequestException as error:
            raise SalesforceAdminError(
                f"simulator unreachable at {self.base_url}: {error}"
            ) from None
        if response.status_code != 200:
            raise SalesforceAdminError(
                f"{method} /__sandbox/{path} -> {response.status_code}: {response.text[:500]}"
            )
        return response.json()

    # records

    def reset(self) -> None:
        """Forget everything: records, tokens, the log, faults, config, usage."""
        self._call("POST", "reset")

    def load_records(self, records: list[dict[str, Any]]) -> list[str]:
        """Store fixture records as they are (no validation); returns their Ids in order."""
        return list(self._call("POST", "records", {"records": records})["ids"])

    def records(self) -> list[dict[str, Any]]:
        """Every record with every field (Id, system dates included), ordered by Id."""
        return list(self._call("GET", "records")["records"])

    def record_count(self) -> int:
        return int(self._call("GET", "records/count")["count"])

    def link(self, mapping: dict[str, str]) -> int:
        """Set SF_Property_ID__c by Snappt_Property_ID__c, as the Salesforce workflow does."""
        return int(self._call("POST", "link", {"links": mapping})["linked"])

    # sessions and limits

    def expire_tokens(self) -> None:
        self._call("POST", "expire-tokens")

    def configure(self, token_ttl_s: float | None = None,
                  daily_limit: int | None = None) -> dict[str, Any]:
        """Change the token lifetime and/or the daily API allocation (None = unchanged)."""
        return dict(self._call("POST", "config", {"token_ttl_s": token_ttl_s,
                                                  "daily_limit": daily_limit}))

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

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    # request log

    def requests(self, since_index: int = 0) -> list[dict[str, Any]]:
        """Log entries with index >= since_index: index, at, method, path, status (None
        when dropped), records, applied, fault, error_codes."""
        return list(self._call("GET", "requests", params={"since": since_index})["requests"])

    def request_count(self) -> int:
        """Entries in the log, which is also the index the next request will get."""
        return int(self._call("GET", "requests/count")["count"])

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")
