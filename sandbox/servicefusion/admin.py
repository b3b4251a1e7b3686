"""The `/__sandbox/` control API: fixtures, the technician's status change, config, faults.

Admin calls are not API requests: no token, never logged, faulted or rate-limited.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from sandbox.servicefusion.api import ServiceFusionApi
from sandbox.servicefusion.faults import FAULT_KINDS, NO_FAULTS
from sandbox.servicefusion.listing import parse_rfc3339
from sandbox.servicefusion.messages import Reply, Request, ValidationFailed
from sandbox.servicefusion.model import (
    CUSTOMER_EXPANDABLE,
    JOB_EXPANDABLE,
    render_customer,
    render_job,
    validate_customer,
    validate_job,
)
from sandbox.servicefusion.reference import CLOSED_STATUSES, STATUS_NAMES
from sandbox.servicefusion.store import DEFAULT_CONFIG, Store, rfc3339, utc_now

_JOB_STATUS = re.compile(r"^/jobs/(\d+)/status$")


class AdminError(Exception):
    pass


class Admin:
    def __init__(self, store: Store, api: ServiceFusionApi) -> None:
        self.store = store
        self.api = api

    def handle(self, request: Request) -> Reply:
        path = request.path.rstrip("/").removeprefix("/__sandbox")
        handlers: dict[tuple[str, str], Callable[[Request], Any]] = {
            ("POST", "/reset"): self._reset,
            ("POST", "/customers"): self._load_customers,
            ("GET", "/customers"): lambda _: {"customers": self._all_customers()},
            ("POST", "/jobs"): self._load_jobs,
            ("GET", "/jobs"): lambda _: {"jobs": self._all_jobs()},
            ("GET", "/counts"): lambda _: {"customers": self.store.customer_count(),
                                           "jobs": self.store.job_count()},
            ("POST", "/expire-tokens"): lambda _: {"expired": self.store.expire_tokens()},
            ("POST", "/config"): self._configure,
            ("GET", "/config"): lambda _: self.store.config(),
            ("POST", "/faults"): self._set_faults,
            ("DELETE", "/faults"): self._clear_faults,
            ("GET", "/faults"): lambda _: self.store.setting("faults", NO_FAULTS),
            ("GET", "/requests"): self._requests,
            ("GET", "/requests/count"): lambda _: {"count": self.store.log_count()},
            ("DELETE", "/requests"): self._clear_requests,
        }
        handler = handlers.get((request.method, path))
        status_match = _JOB_STATUS.match(path)
        if handler is None and status_match and request.method == "POST":
            job_id = int(status_match.group(1))

            def handler(r: Request) -> Any:
                return self._set_status(job_id, r)
        if handler is None:
            return Reply(404, {"error": f"no admin endpoint {request.method} {request.path}"})
        try:
            with self.store.lock:
                return Reply(200, handler(request))
        except AdminError as error:
            return Reply(400, {"error": str(error)})
        except ValidationFailed as error:
            return Reply(400, {"error": str(error), "errors": error.errors})

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError as error:
            raise AdminError(f"body is not JSON: {error}") from None
        if not isinstance(body, dict):
            raise AdminError("body must be a JSON object")
        return body

    def _reset(self, _: Request) -> dict[str, Any]:
        self.store.reset()
        return {"ok": True}

    # fixtures

    def _all_customers(self) -> list[dict[str, Any]]:
        return [render_customer(row, None, set(CUSTOMER_EXPANDABLE))
                for row in self.store.customers()]

    def _all_jobs(self) -> list[dict[str, Any]]:
        return [render_job(row, None, set(JOB_EXPANDABLE)) for row in self.store.jobs()]

    def _fixture_meta(self, item: dict[str, Any], table: str, seen: set[int]
                      ) -> tuple[int | None, dt.datetime, dt.datetime]:
        given = item.get("id")
        if given is not None:
            if isinstance(given, bool) or not isinstance(given, int) or given <= 0:
                raise AdminError(f"id must be a positive integer: {given!r}")
            if given in seen or self.store.id_taken(table, given):
                raise AdminError(f"id {given} already exists")
            seen.add(given)
        now = utc_now()
        created = self._moment(item.get("created_at")) or now
        updated = self._moment(item.get("updated_at")) or created
        return given, created, updated

    def _moment(self, value: Any) -> dt.datetime | None:
        if value is None:
            return None
        moment = parse_rfc3339(value) if isinstance(value, str) else None
        if moment is None:
            raise AdminError(f"not an RFC 3339 date-time: {value!r}")
        return moment.replace(microsecond=0)

    def _load_customers(self, request: Request) -> dict[str, Any]:
        """Fixture customers: the API's validation, plus `id`, `created_at`, `updated_at`."""
        items = self._body(request).get("customers")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise AdminError('expected {"customers": [{...}, ...]}')
        ids: list[int] = []
        seen: set[int] = set()
        with self.store.transaction():
            # One transaction: a refused fixture leaves nothing behind. Customers load in
            # order, so a parent_customer may name an earlier one of the same fixture.
            for item in items:
                given, created, updated = self._fixture_meta(item, "customers", seen)
                doc = validate_customer(item, self.api.find_customer)
                record_id = given or self.store.next_id("customers")
                self.store.insert_customer(record_id, doc, created, updated)
                ids.append(record_id)
        return {"ids": ids}

    def _load_jobs(self, request: Request) -> dict[str, Any]:
        """Fixture jobs: the API's validation, plus `id`, `number` and the timestamps."""
        items = self._body(request).get("jobs")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise AdminError('expected {"jobs": [{...}, ...]}')
        ids: list[int] = []
        seen: set[int] = set()
        with self.store.transaction():
            for item in items:
                given, created, updated = self._fixture_meta(item, "jobs", seen)
                customer_id, doc = validate_job(item, self.api.find_customer)
                number = item.get("number")
                if number is not None:
                    number = str(number)
                    if self.store.job_number_taken(number):
                        raise AdminError(f"job number {number} already exists")
                if doc["status"] in CLOSED_STATUSES:
                    doc["closed_at"] = rfc3339(updated)
                record_id = given or self.store.next_id("jobs")
                self.store.insert_job(record_id, number or self.store.next_job_number(),
                                      customer_id, doc, created, updated)
                ids.append(record_id)
        return {"ids": ids}

    def _set_status(self, job_id: int, request: Request) -> dict[str, Any]:
        """What a technician does in the field app: the job's status (and updated_at)."""
        body = self._body(request)
        status = body.get("status")
        if status not in STATUS_NAMES:
            raise AdminError(f"status must be one of {STATUS_NAMES}")
        if self.store.job(job_id) is None:
            raise AdminError(f"no job {job_id}")
        moment = self._moment(body.get("at")) or utc_now()
        changes: dict[str, Any] = {"status": status, "sub_status": body.get("sub_status"),
                                   "closed_at": rfc3339(moment) if status in CLOSED_STATUSES
                                   else None}
        if isinstance(body.get("tech_notes"), str):
            changes["tech_notes"] = body["tech_notes"]
        self.store.update_job(job_id, changes, moment)
        row = self.store.job(job_id)
        assert row is not None
        return render_job(row, None, set(JOB_EXPANDABLE))

    # config and faults

    def _configure(self, request: Request) -> dict[str, Any]:
        body = self._body(request)
        config = self.store.config()
        for name in DEFAULT_CONFIG:
            value = body.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AdminError(f"{name} must be a positive integer")
            config[name] = value
        self.store.save_setting("config", config)
        # A new limit starts every token with a full allowance.
        self.store.clear_allowances()
        return config

    def _set_faults(self, request: Request) -> dict[str, Any]:
        body = self._body(request)
        rate = body.get("rate", 0.0)
        kinds = list(body.get("kinds") or FAULT_KINDS)
        queued = list(body.get("next") or [])
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise AdminError("rate must be a number between 0 and 1")
        unknown = sorted({str(k) for k in kinds + queued} - set(FAULT_KINDS))
        if unknown:
            raise AdminError(f"unknown fault kinds {unknown}; known: {list(FAULT_KINDS)}")
        lists = {}
        for name in ("methods", "paths"):
            value = body.get(name)
            if value is not None and (
                not isinstance(value, list) or not all(isinstance(v, str) for v in value)
            ):
                raise AdminError(f"{name} must be a list of strings or null")
            lists[name] = value or None
        slow_s = body.get("slow_s", NO_FAULTS["slow_s"])
        if isinstance(slow_s, bool) or not isinstance(slow_s, int | float) or slow_s < 0:
            raise AdminError("slow_s must be a non-negative number")
        faults = {"rate": float(rate), "kinds": kinds, "seed": body.get("seed", 0),
                  "next": queued, "draws": 0, "slow_s": float(slow_s),
                  "paths": lists["paths"],
                  "methods": [m.upper() for m in lists["methods"]] if lists["methods"] else None}
        self.store.save_setting("faults", faults)
        return faults

    def _clear_faults(self, _: Request) -> dict[str, Any]:
        self.store.save_setting("faults", dict(NO_FAULTS))
        return dict(NO_FAULTS)

    # request log

    def _requests(self, request: Request) -> dict[str, Any]:
        since = request.param("since") or "0"
        if not since.isdigit():
            raise AdminError("since must be a non-negative integer")
        return {"requests": self.store.log_entries(int(since)), "count": self.store.log_count()}

    def _clear_requests(self, _: Request) -> dict[str, Any]:
        self.store.clear_log()
        return {"ok": True}
