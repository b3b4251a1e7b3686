"""Salesforce Bulk API 2.0 ingest jobs: one job per batch the engine hands over.

Above `SALESFORCE_BULK_THRESHOLD` records a pass, `SalesforceDestination` sends each
batch (`SALESFORCE_BULK_JOB_RECORDS`, 10,000 by default; the Bulk limit of 150 MB of
CSV a job is far above it) as one ingest job
instead of 25 sObject Collections requests: create the job, upload the CSV, close it
(`UploadComplete`), poll its state, then read `successfulResults` and, only when the
job counts failures, `failedResults`. Each result row carries the uploaded fields,
so records are matched to results by their key (the external id for inserts, `Id`
for updates), not by position, which the API does not promise. The results are
handed back in the sObject Collections shape (`{id, success, errors}`), so the
destination records them in the ledger exactly as it does a collection's.

Lost responses never put one record into two jobs:

- Creating a job is not idempotent, so it is sent with one attempt at a time (the
  same session: rate limit, breaker, TLS). When the answer is lost (no response, or
  a 5xx that may come after the job was made) the run looks for its own job before
  sending another: `GET /jobs/ingest`, an `Open` job of this object and operation,
  created by this user no earlier than the last answer the server gave this client,
  that the client does not know yet. Bulk 2.0 jobs carry no client key, so this is
  the only marker there is; it is sound because the pass holds its sync's lock (no
  other pusher of this object and operation runs) and a job left `Open` by a dead run
  is older than this run's answers. More than one such job (several lost answers in
  a row) are all this run's and empty: the oldest is used, the others aborted.
- The upload is retried by the HTTP stack. A job takes one upload, so a repeat
  whose first attempt landed is refused `409 INVALIDJOBSTATE`; the job being ours
  and still `Open`, the data is there. (Were a second upload appended instead, each
  record would appear twice in the results, and the success is the one kept.)
- Closing is retried the same way: a 409 on a job that is already past `Open` means
  the earlier close landed.

A job that ends `Failed` or `Aborted` aborts the pass (exit 3): what it wrote is
found by the rerun like any lost write (a create answers DUPLICATE_VALUE, an update
is applied again to the same values).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import email.utils
import io
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import requests

from common.http import CircuitOpen, PolicySession, ServiceUnavailable
from common.settings import Settings
from reverse_etl.destinations.base import PassAborted

JOBS = "/jobs/ingest"
FINAL_STATES = ("JobComplete", "Failed", "Aborted")
CLOSED_STATES = ("UploadComplete", "InProgress", *FINAL_STATES)
POLL_FIRST_S = 0.5
POLL_MAX_S = 10.0
JOB_TIMEOUT_S = 3600.0
NULL = "#N/A"  # Bulk CSV: sets a field to null (an empty cell leaves it unchanged)


class Caller(Protocol):
    """`SalesforceDestination._call`: one API call with a valid session."""

    def __call__(self, method: str, path: str, *, accept: tuple[int, ...] = (),
                 extra_headers: dict[str, str] | None = None,
                 **kwargs: Any) -> requests.Response: ...


def server_time(response: requests.Response) -> dt.datetime | None:
    """The server's clock from a response's `Date` header (whole seconds)."""
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _sf_datetime(value: Any) -> dt.datetime | None:
    """`2024-05-01T12:34:56.000+0000` (Salesforce's form) as an aware datetime."""
    if not isinstance(value, str):
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def csv_value(value: Any, *, null: str) -> str:
    if value is None or value == "":
        # Salesforce holds no empty text; in an update only #N/A clears a field.
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def to_csv(records: Sequence[dict[str, Any]], *, null: str) -> tuple[str, list[str]]:
    """The records as Bulk CSV (LF line endings, a header row); and the header."""
    header: list[str] = []
    for record in records:
        header.extend(name for name in record if name not in header)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for record in records:
        # A column a record does not have is left empty: unchanged.
        writer.writerow([csv_value(record[n], null=null) if n in record else ""
                         for n in header])
    return out.getvalue(), header


def parse_error(text: str) -> dict[str, Any]:
    """`CODE:message:field field --` (an `sf__Error`) as a collection's error."""
    code, _, rest = text.partition(":")
    fields: list[str] = []
    message = rest
    stripped = rest.rstrip()
    if stripped.endswith("--"):
        message, _, field_text = stripped[:-2].rstrip().rpartition(":")
        if not _:
            message, field_text = stripped[:-2].rstrip(), ""
        fields = field_text.split()
    return {"statusCode": code.strip() or "UNKNOWN", "message": message.strip(),
            "fields": fields}


@contextlib.contextmanager
def single_attempt(session: PolicySession) -> Iterator[None]:
    """The session's policies for one request, without its retries."""
    saved = session.retry
    session.retry = dataclasses.replace(saved, max_attempts=1)
    try:
        yield
    finally:
        session.retry = saved


class BulkJobs:
    """Ingest jobs of one object for one destination client."""

    def __init__(
        self,
        call: Caller,
        session: PolicySession,
        settings: Settings,
        object_name: str,
        *,
        last_answer: Callable[[], dt.datetime | None],
        user_id: Callable[[], str | None],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._call = call
        self._session = session
        self._settings = settings
        self.object_name = object_name
        self._last_answer = last_answer
        self._user_id = user_id
        self._sleep = sleep
        self.known_jobs: list[str] = []  # every job this client made or found, in order

    # -- one batch ----------------------------------------------------------------

    def run(self, operation: str, records: Sequence[dict[str, Any]],
            key: str) -> list[dict[str, Any]]:
        """One job for `records`; per record `{id, success, errors}`, in their order."""
        if not records:
            return []
        data, header = to_csv(records, null=NULL)
        column = next((name for name in header if name.lower() == key.lower()), None)
        if column is None:
            raise PassAborted(f"Bulk API 2.0 results are matched by {key}; the batch has "
                              "no such column")
        job_id = self._create(operation)
        self._upload(job_id, data)
        self._close(job_id)
        info = self._wait(job_id)
        state = info.get("state")
        if state != "JobComplete":
            raise PassAborted(
                f"Bulk API 2.0 job {job_id} ended {state}: "
                f"{info.get('errorMessage') or 'no reason given'}; the pass stopped, the "
                "rerun finds what it wrote"
            )
        processed = int(info.get("numberRecordsProcessed") or 0)
        failed = int(info.get("numberRecordsFailed") or 0)
        results: dict[str, list[dict[str, Any]]] = {}
        if processed - failed > 0:
            for row in self._rows(job_id, "successfulResults"):
                results.setdefault(row.get(column, ""), []).append(
                    {"id": row.get("sf__Id") or None, "success": True, "errors": []}
                )
        if failed > 0:
            for row in self._rows(job_id, "failedResults"):
                results.setdefault(row.get(column, ""), []).append(
                    {"id": row.get("sf__Id") or None, "success": False,
                     "errors": [parse_error(row.get("sf__Error") or "")]}
                )
        answered = []
        for record in records:
            found = results.get(csv_value(record.get(column), null=NULL)) or []
            if not found:
                raise PassAborted(
                    f"Bulk API 2.0 job {job_id} has no result for the record "
                    f"{column}={record.get(column)}; stopping rather than guessing"
                )
            # A record uploaded twice (see the module's docstring) keeps its success.
            best = next((r for r in found if r["success"]), found[0])
            found.remove(best)
            answered.append(best)
        return answered

    # -- the steps ------------------------------------------------------------------

    def _create(self, operation: str) -> str:
        body = {"object": self.object_name, "operation": operation, "contentType": "CSV",
                "lineEnding": "LF", "columnDelimiter": "COMMA"}
        since = self._last_answer()
        http = self._settings.http
        attempts = max(1, http.max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                with single_attempt(self._session):
                    response = self._call("POST", JOBS, json=body)
            except CircuitOpen:
                raise
            except ServiceUnavailable as error:
                throttled = "HTTP 429" in error.detail  # refused, so nothing was made
                if not throttled:
                    found = self._find_lost(operation, since)
                    if found is not None:
                        return found
                if attempt == attempts:
                    raise
                wait = min(http.backoff_max_s, http.backoff_initial_s * 2 ** (attempt - 1))
                # Salesforce answers its limits with 403; a 429 comes from a proxy,
                # whose Retry-After this single attempt cannot see: wait a second.
                self._sleep(max(wait, 1.0) if throttled else wait)
                continue
            job_id = str(response.json()["id"])
            self.known_jobs.append(job_id)
            return job_id
        raise AssertionError("unreachable")  # pragma: no cover

    def _find_lost(self, operation: str, since: dt.datetime | None) -> str | None:
        """This run's job whose create answer was lost, if the server made it."""
        user = self._user_id()
        candidates = []
        for job in self._all_jobs():
            created = _sf_datetime(job.get("createdDate"))
            if (
                job.get("object") == self.object_name
                and job.get("operation") == operation
                and job.get("state") == "Open"
                and job.get("id") not in self.known_jobs
                and (user is None or str(job.get("createdById", ""))[:15] == user[:15])
                and (since is None or (created is not None and created >= since))
            ):
                candidates.append((created or dt.datetime.min.replace(tzinfo=dt.UTC),
                                   str(job["id"])))
        if not candidates:
            return None
        candidates.sort()
        ours, *strays = [job_id for _, job_id in candidates]
        self.known_jobs.extend([ours, *strays])
        for stray in strays:
            # Empty jobs of this run from other lost answers: never used, so aborted.
            self._call("PATCH", f"{JOBS}/{stray}", json={"state": "Aborted"}, accept=(409,))
        return ours

    def _all_jobs(self) -> Iterator[dict[str, Any]]:
        path: str | None = f"{JOBS}?jobType=V2Ingest"
        prefix = f"/v{self._settings.salesforce.api_version}"
        while path:
            body = self._call("GET", path).json()
            yield from body.get("records") or []
            following = body.get("nextRecordsUrl")
            path = following.split(prefix, 1)[-1] if following and not body.get("done") else None

    def _upload(self, job_id: str, data: str) -> None:
        response = self._call(
            "PUT", f"{JOBS}/{job_id}/batches", data=data.encode("utf-8"),
            extra_headers={"Content-Type": "text/csv"}, accept=(409,),
        )
        if response.status_code == 409 and self._info(job_id).get("state") != "Open":
            raise PassAborted(f"Bulk API 2.0 job {job_id} refused its data: "
                              f"{response.text[:300]}")
        # 201; or 409 on our own Open job: an earlier attempt's upload landed.

    def _close(self, job_id: str) -> None:
        response = self._call("PATCH", f"{JOBS}/{job_id}", json={"state": "UploadComplete"},
                              accept=(409,))
        if response.status_code == 409:
            state = self._info(job_id).get("state")
            if state not in CLOSED_STATES:
                raise PassAborted(f"Bulk API 2.0 job {job_id} could not be closed "
                                  f"({state}): {response.text[:300]}")

    def _info(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"{JOBS}/{job_id}").json())

    def _wait(self, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + JOB_TIMEOUT_S
        pause = POLL_FIRST_S
        while True:
            info = self._info(job_id)
            if info.get("state") in FINAL_STATES:
                return info
            if time.monotonic() > deadline:
                raise PassAborted(f"Bulk API 2.0 job {job_id} still {info.get('state')} "
                                  f"after {JOB_TIMEOUT_S:.0f} s; the rerun finds what it wrote")
            self._sleep(pause)
            pause = min(pause * 2, POLL_MAX_S)

    def _rows(self, job_id: str, kind: str) -> list[dict[str, str]]:
        response = self._call("GET", f"{JOBS}/{job_id}/{kind}",
                              extra_headers={"Accept": "text/csv"})
        return list(csv.DictReader(io.StringIO(response.text)))


__all__ = ["BulkJobs", "parse_error", "single_attempt", "to_csv"]
