"""A small client of the ServiceFusion simulator's admin API (`/__sandbox/`).

For the demo and the tests: load fixture customers and jobs, change a job's status as
a technician would (so the write-back has something to read), switch faults on and
off, change the rate limit, expire tokens, read the request log. Admin calls are not
API requests: they are never logged, faulted or rate-limited. TLS is verified against
`ca_bundle` (the simulator's CA), never switched off.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sandbox.admin_client import AdminClient, AdminError

ALL_FAULT_KINDS = ("503_before", "503_after", "drop_before", "drop_after", "429", "slow")


class ServiceFusionAdminError(AdminError):
    """The simulator refused an admin call (bad input) or could not be reached."""


class ServiceFusionAdmin(AdminClient):
    error = ServiceFusionAdminError

    # fixtures

    def load_customers(self, customers: list[dict[str, Any]]) -> list[int]:
        """Store fixture customers (validated as the API does; `id`, `created_at`,
        `updated_at` allowed); returns their ids in order. All or nothing."""
        return [int(i) for i in self._call("POST", "customers", {"customers": customers})["ids"]]

    def load_jobs(self, jobs: list[dict[str, Any]]) -> list[int]:
        """Store fixture jobs (validated as the API does; `id`, `number`, `created_at`,
        `updated_at` allowed); returns their ids in order. All or nothing."""
        return [int(i) for i in self._call("POST", "jobs", {"jobs": jobs})["ids"]]

    def customers(self) -> list[dict[str, Any]]:
        """Every customer, contacts (with phones and emails) and locations expanded."""
        return list(self._call("GET", "customers")["customers"])

    def jobs(self) -> list[dict[str, Any]]:
        """Every job, fully expanded, in id order."""
        return list(self._call("GET", "jobs")["jobs"])

    def counts(self) -> dict[str, int]:
        """`{"customers": n, "jobs": n}`."""
        return {k: int(v) for k, v in self._call("GET", "counts").items()}

    def set_job_status(self, job_id: int, status: str, sub_status: str | None = None,
                       tech_notes: str | None = None, at: str | None = None) -> dict[str, Any]:
        """A technician's status change: `updated_at` = `at` (RFC 3339) or now; returns
        the job."""
        body: dict[str, Any] = {"status": status, "sub_status": sub_status}
        if tech_notes is not None:
            body["tech_notes"] = tech_notes
        if at is not None:
            body["at"] = at
        return dict(self._call("POST", f"jobs/{job_id}/status", body))

    # tokens and limits

    def expire_tokens(self) -> int:
        return int(self._call("POST", "expire-tokens")["expired"])

    def configure(self, token_ttl_s: int | None = None, rate_limit: int | None = None,
                  rate_window_s: int | None = None) -> dict[str, Any]:
        """Token lifetime and the per-token rate limit (None = unchanged); every token's
        allowance is refilled."""
        return dict(self._call("POST", "config", {
            "token_ttl_s": token_ttl_s, "rate_limit": rate_limit,
            "rate_window_s": rate_window_s,
        }))

    def config(self) -> dict[str, Any]:
        return dict(self._call("GET", "config"))

    # faults

    def set_faults(self, rate: float = 0.0, kinds: Iterable[str] = ALL_FAULT_KINDS,
                   methods: Iterable[str] | None = None, seed: int = 0,
                   next: Iterable[str] | None = None, paths: Iterable[str] | None = None,
                   slow_s: float = 5.0) -> dict[str, Any]:
        """Fail a share `rate` of API requests (of `methods` and of paths containing one
        of `paths` only, if given) with one of `kinds`, drawn deterministically from
        `seed`; `next` fails exactly the next matching requests, in order, first."""
        body = {"rate": rate, "kinds": list(kinds), "seed": seed, "slow_s": slow_s,
                "paths": list(paths) if paths is not None else None,
                "methods": list(methods) if methods is not None else None,
                "next": list(next) if next is not None else []}
        return dict(self._call("POST", "faults", body))
