"""A protocol-faithful Salesforce REST simulator for `Product_Property__c`.

Serves HTTPS (certificate from `sandbox.certs`) on 127.0.0.1 and keeps all state
(records, tokens, request log, fault and limit settings, query cursors, API usage)
in Postgres, schema `sim` of the database given by `dsn`, so that it survives
restarts: a second `make demo` sees the records of the first.

API endpoints (what clients talk to; `{v}` is any `vNN.N`):

- `POST /services/oauth2/token`: form body, `grant_type=client_credentials`,
  `client_id`, `client_secret` (or the two in an HTTP Basic `Authorization` header,
  as RFC 6749 allows and simple-salesforce sends) -> `{access_token, signature, scope,
  instance_url, id, token_type: "Bearer", issued_at}`. Bad credentials -> 400
  `invalid_client`; another grant -> 400 `unsupported_grant_type`.
- `GET /services/data` (versions), `GET /services/data/{v}` (resources),
  `GET /services/data/{v}/limits` (`DailyApiRequests` `{Max, Remaining}` live).
- `GET /services/data/{v}/query?q=SOQL` (also `/query/`, `/queryAll`) and
  `GET /services/data/{v}/query/<locator>-<offset>`: pages of 2,000 (or the
  `Sforce-Query-Options: batchSize=N` header, 200..2,000), `nextRecordsUrl` until
  `done`. SOQL subset: `SELECT f, ... | COUNT() FROM Product_Property__c
  [WHERE c AND c ...] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST]] [LIMIT n]
  [OFFSET n]`, conditions `f op literal` (`= != <> < <= > >=`, `LIKE`),
  `f [NOT] IN (...)`, literals `'text'`, numbers, `true/false`, `null`, dates.
  Text comparisons are case-insensitive, as in SOQL.
- `POST` / `PATCH /services/data/{v}/composite/sobjects`: sObject Collections
  create / update, at most 200 records, `allOrNone` (default false), per-record
  `{id, success, errors: [{statusCode, message, fields}]}` in request order.
- `GET /services/data/{v}/sobjects` (describe global), `.../sobjects/Product_Property__c`
  (basic information), `.../Product_Property__c/describe` (fields with name, type,
  length, nillable, createable, updateable, externalId, unique, idLookup, ...).
- sObject Rows under `/services/data/{v}/sobjects/Product_Property__c` (module
  `rows`): `POST /` create -> 201 `{id, success, errors}`; `GET /<id>` (`?fields=`),
  `PATCH /<id>` -> 204, `DELETE /<id>` -> 204; by external id
  `GET|PATCH|DELETE /Snappt_Property_ID__c/<value>`, the PATCH an upsert -> 201
  `{..., created: true}` or 200 `{..., created: false}` (204 before v46.0), a value
  on several records -> 300 with their URLs. Refusals are 400
  `[{message, errorCode, fields}]` from the same checks as Collections; unknown Id ->
  404 `NOT_FOUND`; an Id of another object -> 400 `MALFORMED_ID`.

- Bulk API 2.0 ingest under `/services/data/{v}/jobs/ingest` (module `bulk`): create
  a job, `PUT .../batches` (CSV, one upload a job), `PATCH` to `UploadComplete` /
  `Aborted`, JobInfo and the list of jobs, `successfulResults`, `failedResults`,
  `unprocessedrecords` as CSV, `DELETE`; rows judged by the Collections checks.

Every `/services/data` response carries `Sforce-Limit-Info: api-usage=N/M`; a call
without a valid session -> 401 `INVALID_SESSION_ID`; a spent daily allocation ->
403 `REQUEST_LIMIT_EXCEEDED`. Errors are the real JSON list
`[{"message", "errorCode"}]`.

Admin API (JSON, no auth, not API requests, never logged nor faulted):

- `POST /__sandbox/reset`: delete every record, token, cursor, log entry, fault
  and setting; usage back to 0.
- `POST /__sandbox/records` `{"records": [...]}` -> `{"ids": [...]}`: load
  fixture records as they are (no validation; `SF_Property_ID__c` allowed; an
  `Id` is kept when given, else assigned). `GET /__sandbox/records` ->
  `{"records": [...]}`, every field of every record, ordered by Id.
- `POST /__sandbox/link` `{"links": {snappt_id: sf_property_id}}` -> `{"linked": n}`:
  the Salesforce workflow that fills `SF_Property_ID__c` (outside this project).
- `POST /__sandbox/expire-tokens`; `POST /__sandbox/config`
  `{"token_ttl_s", "daily_limit", "bulk_processing_s"}` (omitted/null = unchanged) ->
  the config. `GET /__sandbox/bulk-jobs` -> `{"jobs": [...]}`: every ingest job's
  JobInfo with `uploaded` and `processed`.
- `POST /__sandbox/faults` `{"rate", "kinds", "methods", "paths", "seed", "next"}`,
  `DELETE /__sandbox/faults`, `GET /__sandbox/faults`.
- `GET /__sandbox/requests?since=N` -> `{"requests": [...], "count": n}`,
  `GET /__sandbox/requests/count`, `DELETE /__sandbox/requests`. Entries:
  `index` (0-based, `since` inclusive), `at`, `method`, `path`, `status` (None
  when dropped), `records` (records in the body), `applied` (the request was
  processed and its effects, if any, committed), `fault` (kind or None),
  `error_codes`.

Fault kinds (deterministic from `seed`; `rate` share of API requests, only those
whose method is in `methods` and whose path contains one of `paths` when given;
`next` fails exactly the next matching requests in order, before any random draw):
`503_before` (503 SERVER_UNAVAILABLE, nothing applied), `503_after` (applied,
then 503), `drop_before` (connection closed without a response, nothing
applied; `requests` raises ConnectionError "Remote end closed connection without
response"), `drop_after` (applied, then closed the same way), `429` (nothing
applied, `Retry-After: 1`).

Deviations from the real API (details in sandbox/DEVIATIONS.md):

- one object only; no Bulk API 1.0 nor Bulk query jobs, no Composite resources besides
  sObject Collections; a Bulk 2.0 job is applied at once when closed (then reads
  InProgress for `bulk_processing_s`) and takes one upload;
- a delete is final: no recycle bin, `queryAll` sees no deleted records;
- the SOQL subset above (no OR, parentheses, relationships, FIELDS(), TODAY ...);
- query cursors are snapshots of the matching Ids and live a day;
- checkbox, number and date values must have their JSON types (no string coercion);
- the same Id twice in one update is applied twice, not refused;
- the daily allocation is per UTC day, not a rolling 24 h; sessions expire a fixed
  TTL after issue, not after idle time;
- the 429 fault kind imitates a proxy (Salesforce itself answers limits with 403).

Modules: `simulator` (`SalesforceSimulator`: start/stop), `server` (HTTPS, TLS,
connection drops), `api` (routing, tokens and sessions, queries and cursors),
`limits` (the daily allocation, `Sforce-Limit-Info`, `/limits`), `soql` (the SOQL
subset), `collections` (sObject Collections create/update and the per-record
validation), `bulk` (Bulk API 2.0 ingest jobs on that same validation), `rows`
(sObject Rows and Rows by External ID, on that same validation),
`describe` (describe global, basic information, describe), `sobject` (the object's
fields, value types, datetimes), `ids` (record Ids), `store`
(Postgres state, schema `sim`), `faults` (fault kinds and the draw), `admin` (the
`/__sandbox/` endpoints), `messages` (`Request`, `Reply`, `ApiError`), `__main__`
(`python -m sandbox.salesforce`).
"""

from sandbox.salesforce.admin import Admin, AdminError
from sandbox.salesforce.api import SalesforceApi
from sandbox.salesforce.bulk import BulkIngest
from sandbox.salesforce.collections import Collections
from sandbox.salesforce.faults import FAULT_KINDS
from sandbox.salesforce.ids import id_checksum, make_id, normalize_id
from sandbox.salesforce.limits import Limits
from sandbox.salesforce.messages import ApiError, Reply, Request
from sandbox.salesforce.rows import Rows
from sandbox.salesforce.simulator import SalesforceSimulator
from sandbox.salesforce.sobject import FIELDS, OBJECT, FieldSpec, canonical_field, sf_datetime
from sandbox.salesforce.soql import Soql, parse_soql, run_soql
from sandbox.salesforce.store import Store

__all__ = [
    "FAULT_KINDS",
    "FIELDS",
    "OBJECT",
    "Admin",
    "AdminError",
    "ApiError",
    "BulkIngest",
    "Collections",
    "FieldSpec",
    "Limits",
    "Reply",
    "Request",
    "Rows",
    "SalesforceApi",
    "SalesforceSimulator",
    "Soql",
    "Store",
    "canonical_field",
    "id_checksum",
    "make_id",
    "normalize_id",
    "parse_soql",
    "run_soql",
    "sf_datetime",
]
