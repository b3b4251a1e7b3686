"""A protocol-faithful ServiceFusion REST (v1) simulator: customers and jobs.

Serves HTTPS (certificate from `sandbox.certs`) on 127.0.0.1 and keeps all state
(customers with their nested contacts and locations, jobs, tokens, rate-limit
allowances, request log, fault and config settings) in Postgres, schema
`servicefusion_sim` of the database given by `dsn`, so that it survives restarts.
The real service is `https://api.servicefusion.com/v1`; here the API is under
`<url>/v1` and the token endpoint at `<url>/oauth/access_token`.

API endpoints:

- `POST /oauth/access_token`, JSON or form body: `grant_type=client_credentials`,
  `client_id`, `client_secret` -> `{access_token, token_type: "Bearer", expires_in:
  3600, refresh_token}`; `grant_type=refresh_token` with `refresh_token` -> a new pair
  (the old pair dies). Errors 400 `{error, error_description}`: `invalid_client`,
  `unsupported_grant_type`, `invalid_grant`.
- Every `/v1` call needs `Authorization: Bearer <token>`; none, unknown or expired ->
  401 `{code: 401, name: "Unauthorized", message: "Your request was made with invalid
  credentials."}` with `WWW-Authenticate: Bearer realm="api"`.
- `GET /v1/customers`, `GET /v1/customers/{id}`, `POST /v1/customers` (201, the
  customer, `Location` header); contacts and locations only nested in the customer
  (`expand=contacts,contacts.phones,contacts.emails,locations,custom_fields`) and sent
  inside the create body; nothing can be added to an existing customer.
- `GET /v1/jobs`, `GET /v1/jobs/{id}`, `POST /v1/jobs` (201, `Location`);
  `expand=techs_assigned,notes,custom_fields`.
- `GET /v1/job-statuses`, `GET /v1/job-categories`, `GET /v1/techs` (also `/{id}`),
  `GET /v1/me`.
- Lists: `page` (1-based), `per-page` (default 10, clamped to 1..50), `sort`
  (`a,-b`), `fields` (top-level names; unknown ones ignored), `expand` (unknown ones
  ignored), filters — customers `filters[name]` (substring, any case),
  `filters[address]` (substring of a location's street/city), `filters[postal_code]`
  (a location's, exact); jobs `filters[updated_date][gte|lte|gt|lt]` and
  `filters[created_date][...]` (RFC 3339 with offset), `filters[po_number]`,
  `filters[status]` (exact). Body `{items, _expandable, _meta: {totalCount, pageCount,
  currentPage, perPage}}`, the same four numbers in `X-Pagination-Total-Count`,
  `-Page-Count`, `-Current-Page`, `-Per-Page`. A page past the end answers the last
  page (Yii2 `Pagination` clamps), so clients must stop on `currentPage >= pageCount`.
- `PUT`, `PATCH`, `DELETE` (and `POST` on a single record or a reference list) ->
  405 `{code, name: "Method Not Allowed", message}` with `Allow: GET, POST` or
  `Allow: GET`, checked before authentication as the framework does.
- Unknown paths, non-numeric ids and unknown ids -> 404 as an HTML page
  (`text/html`), as the real API has been seen to answer; an unknown id is checked
  after authentication, an unknown path before it.
- Rate limit per access token, Yii2 RateLimiter algorithm (module `ratelimit`):
  `X-Rate-Limit-Limit/Remaining/Reset` on every authenticated answer; over it 429
  `{"code": 429, "name": "Too Many Requests.", "message": "Rate limit exceeded."}`,
  no `Retry-After`. Default 60 per 60 s; admin `config` changes it.
- Validation: 422 `[{field, message}]`, every error at once. Customer:
  `customer_name` required, at most 45 characters; `parent_customer` must name an
  existing customer; contacts need `fname`, `lname`; phones `555-123-4567`; emails
  `a@b.c`; locations need `street_1`. Job: `customer_name` required, the id or exact
  name of an existing customer (the oldest of several with that name); `status` one
  of /job-statuses (default Unscheduled); `category` one of /job-categories;
  `description` at most 500; `start_date`/`end_date` `YYYY-MM-DD`; `duration` 0..86400;
  `techs_assigned` `[{id}]` or `[{first_name, last_name}]` of /techs. Unknown and
  server-set fields in a body are ignored. Other errors `{code, name, message}`:
  400 bad JSON, 400 unknown `sort` attribute, 422 unknown filter / bad date.
- Duplicate customer names are accepted (two customers): a client that retries a
  lost create blindly makes a duplicate, which the product must avoid.

Admin API (JSON, no auth, never logged, faulted or rate-limited), `/__sandbox/...`:
`POST reset`; `POST customers {"customers": [...]}` / `POST jobs {"jobs": [...]}`
-> `{"ids"}` (the API's validation, 400 on refusal, all or nothing; `id`, `number`,
`created_at`, `updated_at` may be given); `GET customers` / `GET jobs` (everything,
fully expanded); `GET counts`; `POST jobs/{id}/status {"status", "sub_status"?,
"tech_notes"?, "at"?}` (a technician's change: sets `updated_at`, and `closed_at` for
Completed/Cancelled); `POST expire-tokens`; `GET|POST config {token_ttl_s,
rate_limit, rate_window_s}` (a change refills every allowance); `GET|POST|DELETE
faults {rate, kinds, methods, paths, seed, next, slow_s}`; `GET requests?since=N`,
`GET requests/count`, `DELETE requests` (entries: index, at, method, path, query,
body (POST bodies, never the token request's), status (None when dropped), applied,
fault, created_id).

Fault kinds (`next` fails exactly the next matching requests, then the seeded draw
fails a share `rate` of requests whose method is in `methods` and path contains one of
`paths`): `503_before` (nothing applied), `503_after` (applied, then 503),
`drop_before` / `drop_after` (the connection is aborted without a response, before /
after applying), `429` (the rate limiter's answer, nothing applied), `slow` (applied,
answered after `slow_s` seconds).

Deviations and guesses (the public v1 docs were not at hand; names below marked
"guessed" follow the brief and the ServiceFusion v1 API as remembered, "seen" ones
appear in third-party descriptions of the public API):

- seen: customer `customer_name`, `parent_customer` (a name), `account_number`,
  `private_notes`, `public_notes`, `payment_type`, `payment_terms`, `referral_source`,
  `agent`, `industry`, `is_vip`, `is_taxable`, `is_bill_for_drive_time`, `contacts`,
  `locations`, `custom_fields`, expand names `contacts.phones`, `contacts.emails`; job
  `customer_name`, `status`, `category`, `description` (max 500), `street_1`,
  `street_2`, `city`, `state_prov`, `postal_code`, `po_number`, `start_date`,
  `end_date` (yyyy-mm-dd), `duration` (0-86400 s), `tech_notes`, `location_name`,
  `called_in_by`, `source`, `project`, `phase`, `payment_type`, `techs_assigned`,
  `notes`; the API's three operations (list, read, create) and no PUT/PATCH/DELETE.
- guessed: `fully_qualified_name` (`Parent:Child`), `account_balance`,
  `last_serviced_date`; contact `prefix, fname, lname, suffix, contact_type,
  job_title, department, is_primary`, phones `{phone, ext, type, is_mobile}`, emails
  `{email, class, types_accepted}`; location `street_1 .. country, nickname,
  gate_instructions, location_type, latitude, longitude, is_primary, is_gated,
  is_bill_to`; nested items carry no ids; the first contact/location becomes primary
  when none is flagged; job `number` (text, from 1001), `customer_id`,
  `parent_customer`, `sub_status`, `closed_at`, `contact_first_name/last_name`,
  `is_gated`, `gate_instructions`, `priority`, `is_requires_follow_up`, `total`,
  `due_total`; the job-status items `{id, code, name, is_custom, category}`, category
  and tech items, `/me`; ids are integers from 1000001 (customers) / 5000001 (jobs).
- guessed: expand `contacts` gives contacts without phones and emails (those need
  `contacts.phones` / `contacts.emails`); `_expandable` lists what was not expanded
  (in a list's envelope, and in a single record); a create honours `fields`/`expand`
  of its query string; validation field names of nested items are PHP-style
  (`contacts[0][lname]`, `contacts[0][phones][1][phone]`), messages Yii2-style.
- guessed: 405 (not 404) for PUT/PATCH/DELETE; unknown `sort` attribute 400 (Yii2
  ignores it); unknown filter 422; a job for an unknown customer is refused (422;
  one third-party description says the real API would create the customer).
- the rate limit is per access token (the real one may be per API user); a fault
  draw happens before authentication and before the limit, like a load balancer;
  `X-Rate-Limit-Reset` on 429 is the whole window.
- no `Link` header and no `_links` in list bodies; no estimates, invoices, sources,
  payment types, equipment or calendar tasks; custom fields are always empty; job
  totals are 0; reference lists are fixed.
- a job's location fields are what its body sends (the real API may fill them from
  the customer's primary location); `sub_status` is only set through the admin API.
- a filter value goes through ordinary URL decoding: an unencoded `+` in an offset
  (`...T00:00:00+00:00`) arrives as a space and is refused 422, as PHP would decode it.
- timestamps are whole seconds (`2025-01-31T14:05:09+00:00`), so an `updated_date`
  `gte` watermark re-reads the records of its own second.

Modules: `simulator` (`ServiceFusionSimulator`), `server` (HTTPS, drops, delays),
`api` (routing, tokens, auth, resources), `listing` (paging, sort, fields, expand,
filters), `model` (validation and JSON of customers and jobs), `reference` (statuses,
categories, techs, me), `ratelimit`, `faults`, `store` (Postgres), `admin`
(`/__sandbox/`), `messages` (`Request`, `Reply`, errors), `__main__`
(`python -m sandbox.servicefusion`).
"""

from sandbox.servicefusion.admin import Admin, AdminError
from sandbox.servicefusion.api import ServiceFusionApi
from sandbox.servicefusion.faults import FAULT_KINDS
from sandbox.servicefusion.messages import ApiError, Reply, Request, ValidationFailed
from sandbox.servicefusion.model import CUSTOMER_NAME_MAX
from sandbox.servicefusion.reference import CATEGORY_NAMES, STATUS_NAMES
from sandbox.servicefusion.simulator import ServiceFusionSimulator
from sandbox.servicefusion.store import Store

__all__ = [
    "CATEGORY_NAMES",
    "CUSTOMER_NAME_MAX",
    "FAULT_KINDS",
    "STATUS_NAMES",
    "Admin",
    "AdminError",
    "ApiError",
    "Reply",
    "Request",
    "ServiceFusionApi",
    "ServiceFusionSimulator",
    "Store",
    "ValidationFailed",
]
