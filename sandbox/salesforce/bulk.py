"""Bulk API 2.0 ingest jobs: create, upload CSV, close, state, CSV results, abort, delete.

Resources under `/services/data/{v}/jobs/ingest` (shapes of the Bulk API 2.0
Developer Guide):

- `POST /jobs/ingest` `{object, operation: insert | update | upsert,
  externalIdFieldName (upsert), contentType: CSV, lineEnding: LF | CRLF,
  columnDelimiter: COMMA}` -> 200 JobInfo, `state: Open`.
- `PUT /jobs/ingest/{id}/batches` (`text/csv`, header row of field names) -> 201,
  no body. One upload a job: a second one is refused 409 `INVALIDJOBSTATE` (see
  DEVIATIONS.md), as is an upload to a job that is not `Open`.
- `PATCH /jobs/ingest/{id}` `{state: UploadComplete | Aborted}` -> 200 JobInfo.
  `UploadComplete` processes the job's rows at once (the same per-record checks as
  sObject Collections, `Collections.create_record` / `update_record`); the job then
  reads `InProgress` for the configured `bulk_processing_s` and `JobComplete` after
  it. A header naming no field of the object, or a job closed without data, ends
  `Failed` with an `errorMessage`, every row unprocessed.
- `GET /jobs/ingest/{id}` -> JobInfo with `numberRecordsProcessed`,
  `numberRecordsFailed`, `retries`, `totalProcessingTime`, `errorMessage`.
- `GET /jobs/ingest` -> `{done, records: [JobInfo], nextRecordsUrl}`, 1,000 jobs a
  page (`queryLocator=`), so a client can find a job whose create answer it lost.
- `GET /jobs/ingest/{id}/successfulResults` (`sf__Id`, `sf__Created`, the fields),
  `/failedResults` (`sf__Id`, `sf__Error` = `CODE:message:fields --`, the fields),
  `/unprocessedrecords` (the fields), CSV in upload order, values as uploaded.
- `DELETE /jobs/ingest/{id}` -> 204 (not while `Open` or `InProgress`).

CSV values: an empty cell leaves the field alone, `#N/A` sets it to null; checkboxes
`true`/`false` (also `1`/`0`, `yes`/`no`), numbers, dates `YYYY-MM-DD`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import secrets
from typing import Any

from psycopg.types.json import Jsonb

from sandbox.salesforce.collections import Collections, Prepared, prepare_record
from sandbox.salesforce.ids import BASE62, ID_POD
from sandbox.salesforce.messages import ApiError, Reply, Request, not_found
from sandbox.salesforce.sobject import (
    FIELD_BY_KEY,
    OBJECT,
    FieldSpec,
    canonical_field,
    sf_datetime,
    utc_now,
)
from sandbox.salesforce.store import DEFAULT_CONFIG, Store

JOB_PREFIX = "750"
OPERATIONS = ("insert", "update", "upsert")
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^",
              "BACKQUOTE": "`"}
FINAL_STATES = ("JobComplete", "Failed", "Aborted")
JOBS_PAGE = 1000
NULL = "#N/A"
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def csv_row_count(body: bytes) -> int:
    """Data rows of an upload (the header is not a record), for the request log."""
    text = body.decode("utf-8", "replace")
    return max(sum(1 for _ in csv.reader(io.StringIO(text))) - 1, 0)


def _job_id() -> str:
    return JOB_PREFIX + ID_POD + "".join(secrets.choice(BASE62) for _ in range(12))


def _invalid_state(message: str) -> ApiError:
    return ApiError(409, "INVALIDJOBSTATE", message)


class BulkIngest:
    """The ingest jobs of one simulator; callers hold the store's lock."""

    def __init__(self, store: Store, collections: Collections, user_id: str) -> None:
        self.store = store
        self.collections = collections
        self.user_id = user_id

    # routing: `rest` is the path after /services/data/{v}

    def route(self, request: Request, version: str, rest: str) -> tuple[Reply, bool]:
        parts = rest.split("/")[3:]  # after "", "jobs", "ingest"
        method = request.method
        if not parts:
            if method == "POST":
                return Reply(200, self._create(request.json(), version)), True
            if method == "GET":
                return Reply(200, self._list(request, version)), True
            raise _not_allowed(method, "GET, POST")
        job = self._job(parts[0])
        tail = parts[1:]
        if not tail:
            if method == "GET":
                return Reply(200, self._info(job)), True
            if method == "PATCH":
                return Reply(200, self._change_state(job, request.json())), True
            if method == "DELETE":
                return self._delete(job), True
            raise _not_allowed(method, "GET, PATCH, DELETE")
        if tail == ["batches"]:
            if method != "PUT":
                raise _not_allowed(method, "PUT")
            return self._upload(job, request), True
        if len(tail) == 1 and tail[0] in ("successfulResults", "failedResults",
                                          "unprocessedrecords"):
            if method != "GET":
                raise _not_allowed(method, "GET")
            return self._results(job, tail[0]), True
        raise not_found()

    # jobs

    def _create(self, body: Any, version: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        sobject, operation = body.get("object"), body.get("operation")
        if not sobject:
            raise ApiError(400, "INVALIDJOB", "Required property 'object' is missing")
        if str(sobject).lower() != OBJECT.lower():
            raise ApiError(400, "INVALIDJOB", f"Entity '{sobject}' is not supported by the "
                           "Bulk API.")
        if operation not in OPERATIONS:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        external_id = body.get("externalIdFieldName")
        if operation == "upsert":
            spec = canonical_field(str(external_id or ""))
            if spec is None or not (spec.external_id or spec.name == "Id"):
                raise ApiError(400, "INVALIDJOB", "InvalidJob : External ID was blank or "
                               f"not an external ID field: {external_id}")
            external_id = spec.name
        if body.get("contentType", "CSV") != "CSV":
            raise ApiError(400, "INVALIDJOB", "InvalidJob : contentType must be CSV")
        line_ending = body.get("lineEnding", "LF")
        delimiter = body.get("columnDelimiter", "COMMA")
        if line_ending not in LINE_ENDINGS or delimiter not in DELIMITERS:
            raise ApiError(400, "INVALIDJOB", "InvalidJob : invalid lineEnding or "
                           "columnDelimiter")
        now = utc_now()
        info = {
            "id": _job_id(), "operation": operation, "object": OBJECT,
            "createdById": self.user_id, "createdDate": sf_datetime(now),
            "systemModstamp": sf_datetime(now), "state": "Open",
            "externalIdFieldName": external_id if operation == "upsert" else None,
            "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": float(version.lstrip("v")), "jobType": "V2Ingest",
            "contentUrl": "", "lineEnding": line_ending, "columnDelimiter": delimiter,
        }
        info["contentUrl"] = f"services/data/{version}/jobs/ingest/{info['id']}/batches"
        self.store.conn.execute(
            "insert into sim.bulk_jobs (id, info, created_at) values (%s, %s, %s)",
            (info["id"], Jsonb(info), now),
        )
        return _public(info)

    def _job(self, job_id: str) -> dict[str, Any]:
        row = self.store.conn.execute(
            "select id, info, data, results, ready_at from sim.bulk_jobs where id = %s",
            (job_id,),
        ).fetchone()
        if row is None:
            raise not_found()
        return dict(row)

    def _info(self, job: dict[str, Any]) -> dict[str, Any]:
        info = dict(job["info"])
        if info["state"] in ("UploadComplete", "InProgress") and job["ready_at"] is not None:
            # Processing is modelled as time: the rows were applied at UploadComplete,
            # the job reports them once its processing time has passed.
            info["state"] = "JobComplete" if utc_now() >= job["ready_at"] else "InProgress"
            if info["state"] == "JobComplete":
                self._save(job["id"], info)
        if info["state"] not in ("JobComplete", "Failed", "Aborted"):
            info["numberRecordsProcessed"] = info["numberRecordsFailed"] = 0
        return _public(info, detail=True)

    def _list(self, request: Request, version: str) -> dict[str, Any]:
        offset_text = request.param("queryLocator") or "0"
        offset = int(offset_text) if offset_text.isdigit() else 0
        rows = self.store.conn.execute(
            "select id, info, data, results, ready_at from sim.bulk_jobs"
            " order by created_at, id offset %s limit %s",
            (offset, JOBS_PAGE + 1),
        ).fetchall()
        more = len(rows) > JOBS_PAGE
        page: dict[str, Any] = {
            "done": not more,
            "records": [self._info(dict(row)) for row in rows[:JOBS_PAGE]],
            "nextRecordsUrl": (f"/services/data/{version}/jobs/ingest?queryLocator="
                               f"{offset + JOBS_PAGE}" if more else None),
        }
        return page

    def _save(self, job_id: str, info: dict[str, Any]) -> None:
        info["systemModstamp"] = sf_datetime(utc_now())
        self.store.conn.execute(
            "update sim.bulk_jobs set info = %s where id = %s", (Jsonb(info), job_id)
        )

    def _upload(self, job: dict[str, Any], request: Request) -> Reply:
        info = job["info"]
        if info["state"] != "Open":
            raise _invalid_state(f"Job {job['id']} is not in the Open state: {info['state']}")
        if job["data"] is not None:
            raise _invalid_state(f"Job {job['id']} already holds uploaded data; a job takes "
                                 "one upload")
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("text/csv"):
            raise ApiError(400, "INVALIDCONTENTTYPE",
                           f"Content type {content_type or 'none'} is not text/csv")
        self.store.conn.execute(
            "update sim.bulk_jobs set data = %s where id = %s",
            (request.body.decode("utf-8", "replace"), job["id"]),
        )
        return Reply(201)

    def _change_state(self, job: dict[str, Any], body: Any) -> dict[str, Any]:
        wanted = body.get("state") if isinstance(body, dict) else None
        info = dict(job["info"])
        current = self._info(job)["state"]
        if wanted == "UploadComplete":
            if current != "Open":
                raise _invalid_state(f"Job {job['id']} is not in the Open state: {current}")
            self._process(job, info)
        elif wanted == "Aborted":
            if current in FINAL_STATES:
                raise _invalid_state(f"Job {job['id']} is already {current}")
            info["state"] = "Aborted"
            self._save(job["id"], info)
        else:
            raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state change to {wanted}")
        return _public(info)

    def _delete(self, job: dict[str, Any]) -> Reply:
        state = self._info(job)["state"]
        if state in ("Open", "InProgress"):
            raise _invalid_state(f"Job {job['id']} cannot be deleted while {state}")
        self.store.conn.execute("delete from sim.bulk_jobs where id = %s", (job["id"],))
        return Reply(204)

    # processing

    def _process(self, job: dict[str, Any], info: dict[str, Any]) -> None:
        started = utc_now()
        rows, header, error = self._parse(job, info)
        results: list[dict[str, Any]] = []
        if error is None:
            results = self._apply(info, header, rows, started)
            info["state"] = "UploadComplete"
        else:
            info["state"], info["errorMessage"] = "Failed", error
            results = [{"kind": "unprocessed", "row": row} for row in rows]
        info["numberRecordsProcessed"] = sum(1 for r in results if r["kind"] != "unprocessed")
        info["numberRecordsFailed"] = sum(1 for r in results if r["kind"] == "failed")
        info["retries"] = 0
        info["totalProcessingTime"] = int((utc_now() - started).total_seconds() * 1000)
        info["apiActiveProcessingTime"] = info["apexProcessingTime"] = 0
        delay = float(self.store.setting("config", DEFAULT_CONFIG).get("bulk_processing_s", 0))
        ready_at = utc_now() + dt.timedelta(seconds=delay) if error is None else None
        info["systemModstamp"] = sf_datetime(utc_now())
        self.store.conn.execute(
            "update sim.bulk_jobs set info = %s, results = %s, header = %s, ready_at = %s"
            " where id = %s",
            (Jsonb(info), Jsonb(results), Jsonb(header), ready_at, job["id"]),
        )

    def _parse(self, job: dict[str, Any], info: dict[str, Any]
               ) -> tuple[list[list[str]], list[str], str | None]:
        if job["data"] is None:
            return [], [], "InvalidBatch : No data was uploaded for this job"
        text = job["data"]
        if info["lineEnding"] == "LF" and "\r\n" in text:
            return [], [], "InvalidBatch : The line ending of the data is CRLF, not LF"
        reader = csv.reader(io.StringIO(text), delimiter=DELIMITERS[info["columnDelimiter"]])
        table = [row for row in reader if row]
        if not table:
            return [], [], "InvalidBatch : The data holds no header row"
        header, rows = table[0], table[1:]
        for name in header:
            if canonical_field(name) is None:
                return rows, header, f"InvalidBatch : Field name not found : {name}"
        if any(len(row) != len(header) for row in rows):
            return rows, header, "InvalidBatch : a row has more or fewer values than the header"
        return rows, header, None

    def _apply(self, info: dict[str, Any], header: list[str], rows: list[list[str]],
               moment: dt.datetime) -> list[dict[str, Any]]:
        results = []
        with self.store.transaction():
            for row in rows:
                results.append(self._apply_row(info, header, row, moment))
        return results

    def _apply_row(self, info: dict[str, Any], header: list[str], row: list[str],
                   moment: dt.datetime) -> dict[str, Any]:
        operation = info["operation"]
        record: dict[str, Any] = {}
        for name, cell in zip(header, row, strict=True):
            spec = FIELD_BY_KEY[name.lower()]
            if cell == "":
                continue  # an empty cell leaves the field as it is
            try:
                record[spec.name] = _typed(spec, cell)
            except ValueError:
                return _failed(row, "INVALID_TYPE_ON_FIELD_IN_RECORD",
                               f"{spec.label}: value not of required type: {cell}", [spec.name])
        if operation == "insert" and "Id" in record:
            return _failed(row, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        try:
            prepared = prepare_record(record, require_type=False)
        except ApiError as error:
            return _failed(row, error.code, error.message, error.fields or [])
        if operation == "upsert":
            prepared, operation = self._upsert_target(info, prepared)
        save = (self.collections.create_record if operation == "insert"
                else self.collections.update_record)
        result = save(prepared, moment)
        if result["success"]:
            return {"kind": "success", "row": row, "id": result["id"],
                    "created": operation == "insert"}
        first = result["errors"][0]
        return _failed(row, first["statusCode"], first["message"], first["fields"],
                       record_id=str(prepared.given_id or "") if operation == "update" else "")

    def _upsert_target(self, info: dict[str, Any], prepared: Prepared) -> tuple[Prepared, str]:
        field = info["externalIdFieldName"]
        if field == "Id":
            return prepared, "update" if prepared.has_id else "insert"
        value = prepared.fields.get(field)
        existing = self.store.ids_by_external_id(str(value)) if value is not None else []
        if len(existing) == 1:
            prepared.given_id, prepared.has_id = existing[0], True
            return prepared, "update"
        return prepared, "insert"

    # results

    def _results(self, job: dict[str, Any], kind: str) -> Reply:
        state = self._info(job)["state"]
        if state not in FINAL_STATES:
            raise _invalid_state(f"Job {job['id']} is {state}: no results until it is "
                                 "JobComplete, Failed or Aborted")
        row = self.store.conn.execute(
            "select header, results from sim.bulk_jobs where id = %s", (job["id"],)
        ).fetchone()
        header = list(row["header"] or []) if row else []
        results = list(row["results"] or []) if row else []
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
        if kind == "successfulResults":
            writer.writerow(["sf__Id", "sf__Created", *header])
            for result in results:
                if result["kind"] == "success":
                    writer.writerow([result["id"], str(result["created"]).lower(),
                                     *result["row"]])
        elif kind == "failedResults":
            writer.writerow(["sf__Id", "sf__Error", *header])
            for result in results:
                if result["kind"] == "failed":
                    writer.writerow([result.get("id", ""), result["error"], *result["row"]])
        else:
            if header:
                writer.writerow(header)
            unprocessed = [r for r in results if r["kind"] == "unprocessed"]
            if not results and job["data"]:
                # Aborted before processing: every uploaded row is unprocessed.
                reader = csv.reader(io.StringIO(job["data"]))
                rows = [r for r in reader if r]
                if rows and not header:
                    writer.writerow(rows[0])
                unprocessed = [{"row": r} for r in rows[1:]]
            for result in unprocessed:
                writer.writerow(result["row"])
        return Reply(200, out.getvalue(), {"Content-Type": "text/csv"})


def _typed(spec: FieldSpec, cell: str) -> Any:
    """A CSV cell as the JSON value the shared per-record checks expect."""
    if cell == NULL:
        return None
    if spec.kind == "boolean":
        lowered = cell.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(cell)
    if spec.kind == "double":
        if not re.fullmatch(r"[-+]?\d+(\.\d+)?", cell.strip()):
            raise ValueError(cell)
        number = float(cell)
        return int(number) if number.is_integer() else number
    if spec.kind == "date":
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", cell):
            raise ValueError(cell)
        dt.date.fromisoformat(cell)  # a ValueError for 2024-02-30
    return cell


def _failed(row: list[str], code: str, message: str, fields: list[str],
            record_id: str = "") -> dict[str, Any]:
    # Bulk results name the fields after the message, blank-separated, then " --".
    error = f"{code}:{message}:{' '.join(fields)} --"
    return {"kind": "failed", "row": row, "id": record_id, "error": error}


def _public(info: dict[str, Any], detail: bool = False) -> dict[str, Any]:
    keys = ["id", "operation", "object", "createdById", "createdDate", "systemModstamp",
            "state", "externalIdFieldName", "concurrencyMode", "contentType", "apiVersion",
            "jobType", "contentUrl", "lineEnding", "columnDelimiter"]
    if detail:
        keys += ["numberRecordsProcessed", "numberRecordsFailed", "retries",
                 "totalProcessingTime", "apiActiveProcessingTime", "apexProcessingTime",
                 "errorMessage"]
    public = {key: info.get(key) for key in keys}
    if detail:
        for key in ("numberRecordsProcessed", "numberRecordsFailed", "retries",
                    "totalProcessingTime", "apiActiveProcessingTime", "apexProcessingTime"):
            public[key] = public[key] or 0
    if public["externalIdFieldName"] is None:
        del public["externalIdFieldName"]
    if public.get("errorMessage") is None:
        public.pop("errorMessage", None)
    if info["state"] != "Open":
        public.pop("contentUrl")
    return public


def _not_allowed(method: str, allowed: str) -> ApiError:
    return ApiError(405, "METHOD_NOT_ALLOWED",
                    f"HTTP Method '{method}' not allowed. Allowed are {allowed}")


__all__ = ["BulkIngest", "csv_row_count"]
