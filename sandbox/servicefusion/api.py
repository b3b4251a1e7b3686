"""The REST API: routing, OAuth2 tokens, auth, rate limit, faults, the resources."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from sandbox.servicefusion.faults import BEFORE_KINDS, draw_fault, fault_reply
from sandbox.servicefusion.listing import (
    FilterSpec,
    compare_moment,
    expand_param,
    fields_param,
    filters_param,
    page_of,
    pagination_headers,
    sort_rows,
)
from sandbox.servicefusion.messages import (
    ApiError,
    HtmlNotFound,
    Reply,
    Request,
    ValidationFailed,
)
from sandbox.servicefusion.model import (
    CUSTOMER_EXPANDABLE,
    JOB_EXPANDABLE,
    render_customer,
    render_job,
    validate_customer,
    validate_job,
)
from sandbox.servicefusion.ratelimit import RateLimiter
from sandbox.servicefusion.reference import (
    CLOSED_STATUSES,
    JOB_CATEGORIES,
    JOB_STATUSES,
    ME,
    TECHS,
)
from sandbox.servicefusion.store import Store, rfc3339, utc_now

TOKEN_PATH = "/oauth/access_token"
_ROUTE = re.compile(r"^/v1/(customers|jobs|job-statuses|job-categories|techs|me)(?:/(\d+))?/?$")
_REFERENCE: dict[str, list[dict[str, Any]]] = {
    "job-statuses": JOB_STATUSES, "job-categories": JOB_CATEGORIES, "techs": TECHS,
}


def _customer_filters() -> dict[str, FilterSpec]:
    def name(row: dict[str, Any], value: Any, _: str) -> bool:
        return str(value).lower() in (row["doc"].get("customer_name") or "").lower()

    def address(row: dict[str, Any], value: Any, _: str) -> bool:
        needle = str(value).lower()
        for loc in row["doc"].get("locations") or []:
            text = " ".join(str(loc.get(k) or "") for k in ("street_1", "street_2", "city"))
            if needle in text.lower():
                return True
        return False

    def postal_code(row: dict[str, Any], value: Any, _: str) -> bool:
        return any((loc.get("postal_code") or "") == str(value)
                   for loc in row["doc"].get("locations") or [])

    return {"name": FilterSpec("name", False, name),
            "address": FilterSpec("address", False, address),
            "postal_code": FilterSpec("postal_code", False, postal_code)}


def _job_filters() -> dict[str, FilterSpec]:
    def date_on(column: str) -> Callable[[dict[str, Any], Any, str], bool]:
        return lambda row, value, op: compare_moment(row[column], value, op)

    def text_on(field: str) -> Callable[[dict[str, Any], Any, str], bool]:
        return lambda row, value, _: (row["doc"].get(field) or "") == str(value)

    return {"updated_date": FilterSpec("updated_date", True, date_on("updated_at")),
            "created_date": FilterSpec("created_date", True, date_on("created_at")),
            "po_number": FilterSpec("po_number", False, text_on("po_number")),
            "status": FilterSpec("status", False, text_on("status"))}


CUSTOMER_FILTERS = _customer_filters()
JOB_FILTERS = _job_filters()
CUSTOMER_SORT: dict[str, Callable[[dict[str, Any]], Any]] = {
    "id": lambda r: r["id"], "customer_name": lambda r: r["doc"].get("customer_name"),
    "account_number": lambda r: r["doc"].get("account_number"),
    "created_at": lambda r: r["created_at"], "updated_at": lambda r: r["updated_at"],
}
JOB_SORT: dict[str, Callable[[dict[str, Any]], Any]] = {
    # Numeric job numbers in numeric order; fixtures may bring others, sorted after them.
    "id": lambda r: r["id"], "number": lambda r: (0, int(r["number"]), "")
    if r["number"].isdigit() else (1, 0, r["number"]),
    "po_number": lambda r: r["doc"].get("po_number"), "status": lambda r: r["doc"].get("status"),
    "customer_name": lambda r: r["doc"].get("customer_name"),
    "start_date": lambda r: r["doc"].get("start_date"),
    "created_at": lambda r: r["created_at"], "updated_at": lambda r: r["updated_at"],
}


class ServiceFusionApi:
    """Every non-admin request: faults, token endpoint, routing, auth, limit, resources."""

    def __init__(self, store: Store, url_getter: Callable[[], str],
                 client_id: str, client_secret: str) -> None:
        self.store = store
        self.url = url_getter
        self.client_id, self.client_secret = client_id, client_secret
        self.limiter = RateLimiter(store)

    def handle(self, request: Request) -> Reply:
        with self.store.lock:
            fault = draw_fault(self.store, request.method, request.path)
            entry: dict[str, Any] = {
                # to the microsecond, unlike the API's stamps (utc_now, rfc3339): tests
                # count requests per second from it, and a stamp cut to the second
                # makes nine requests 0.97 s apart look simultaneous
                "at": dt.datetime.now(dt.UTC).isoformat(), "method": request.method,
                "path": request.path,
                "query": {k: v[-1] for k, v in request.query.items()}, "fault": fault,
                # The body of a create, for tests of what the product sent; never the
                # token request's (it carries the client secret).
                "body": _logged_body(request),
            }
            created_id = None
            if fault in BEFORE_KINDS:
                reply, applied = fault_reply(fault), False
            else:
                reply, applied = self._serve(request)
                if reply.status == 201 and isinstance(reply.body, dict):
                    # Kept before an *_after fault replaces the answer: the log tells a
                    # test which record a lost response had created.
                    created_id = reply.body.get("id")
                if fault == "slow":
                    reply.delay_s = float(self.store.setting("faults", {}).get("slow_s", 5.0))
                elif fault is not None:
                    reply = fault_reply(fault)
            entry.update(status=None if reply.drop else reply.status, applied=applied,
                         created_id=created_id)
            self.store.log(entry)
            return reply

    def _serve(self, request: Request) -> tuple[Reply, bool]:
        try:
            if request.path.rstrip("/") == TOKEN_PATH:
                return self._token(request)
            match = _ROUTE.match(request.path)
            if match is None:
                raise HtmlNotFound()
            resource, record_id = match.group(1), match.group(2)
            if resource == "me" and record_id is not None:
                raise HtmlNotFound()
            # As in the framework, the verb check comes before authentication.
            allowed = ("GET", "POST") if resource in ("customers", "jobs") and (
                record_id is None) else ("GET",)
            if request.method not in allowed:
                raise ApiError(405, "Method Not Allowed. This URL can only handle the following"
                               f" request methods: {', '.join(allowed)}.",
                               {"Allow": ", ".join(allowed)})
            token = self._authenticate(request)
            limit_headers = self.limiter.spend(token)
            try:
                reply, applied = self._route(request, resource, record_id)
            except (ApiError, ValidationFailed, HtmlNotFound) as error:
                # The framework sets the limit headers before the action runs, so its
                # error answers (404, 422, ...) carry them too.
                reply, applied = error.reply(), False
            reply.headers.update(limit_headers)
            return reply, applied
        except ApiError as error:
            return error.reply(), False
        except ValidationFailed as error:
            return error.reply(), False
        except HtmlNotFound as error:
            return error.reply(), False

    def _route(self, request: Request, resource: str, record_id: str | None
               ) -> tuple[Reply, bool]:
        if resource == "me":
            return Reply(200, dict(ME)), True
        if resource in _REFERENCE:
            return self._reference(request, _REFERENCE[resource], record_id), True
        if resource == "customers":
            if request.method == "POST":
                return self._create_customer(request), True
            if record_id is not None:
                return self._one(request, self.store.customer(int(record_id)), render_customer,
                                 CUSTOMER_EXPANDABLE), True
            return self._list(request, self.store.customers(), CUSTOMER_FILTERS, CUSTOMER_SORT,
                              render_customer, CUSTOMER_EXPANDABLE), True
        if request.method == "POST":
            return self._create_job(request), True
        if record_id is not None:
            return self._one(request, self.store.job(int(record_id)), render_job,
                             JOB_EXPANDABLE), True
        return self._list(request, self.store.jobs(), JOB_FILTERS, JOB_SORT, render_job,
                          JOB_EXPANDABLE), True

    # auth

    def _token(self, request: Request) -> tuple[Reply, bool]:
        if request.method != "POST":
            raise ApiError(405, "Method Not Allowed. This URL can only handle the following"
                           " request methods: POST.", {"Allow": "POST"})
        form = _token_params(request)
        grant = form.get("grant_type", "")
        if grant == "refresh_token":
            refresh = form.get("refresh_token", "")
            if not refresh or not self.store.take_refresh_token(refresh):
                return Reply(400, {"error": "invalid_grant",
                                   "error_description": "Invalid refresh token"}), False
            return Reply(200, self._issue_token()), True
        if grant != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type",
                               "error_description": f"Grant type \"{grant}\" not supported"}
                         ), False
        good_id = hmac.compare_digest(form.get("client_id", ""), self.client_id)
        good_secret = hmac.compare_digest(form.get("client_secret", ""), self.client_secret)
        if not (good_id and good_secret):
            return Reply(400, {"error": "invalid_client",
                               "error_description": "The client credentials are invalid"}
                         ), False
        return Reply(200, self._issue_token()), True

    def _issue_token(self) -> dict[str, Any]:
        ttl = int(self.store.config()["token_ttl_s"])
        issued = utc_now()
        token, refresh = secrets.token_hex(20), secrets.token_hex(20)
        self.store.save_token(token, refresh, issued, issued + dt.timedelta(seconds=ttl))
        return {"access_token": token, "token_type": "Bearer", "expires_in": ttl,
                "refresh_token": refresh}

    def _authenticate(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token and self.store.token_valid(token):
            return token
        raise ApiError(401, "Your request was made with invalid credentials.",
                       {"WWW-Authenticate": 'Bearer realm="api"'})

    # resources

    def _list(self, request: Request, rows: list[dict[str, Any]], filters: dict[str, FilterSpec],
              sort_keys: dict[str, Callable[[dict[str, Any]], Any]],
              render: Callable[[dict[str, Any], set[str] | None, set[str]], dict[str, Any]],
              expandable: tuple[str, ...]) -> Reply:
        for spec, value, operator in filters_param(request, filters):
            rows = [row for row in rows if spec.match(row, value, operator)]
        rows = sort_rows(rows, request, sort_keys)
        page, meta = page_of(request, rows)
        fields, expand = fields_param(request), expand_param(request, expandable)
        items = []
        for row in page:
            item = render(row, fields, expand)
            item.pop("_expandable", None)  # a list names them once, in the envelope
            items.append(item)
        body = {"items": items,
                "_expandable": [name for name in expandable if name not in expand],
                "_meta": meta}
        return Reply(200, body, pagination_headers(meta))

    def _one(self, request: Request, row: dict[str, Any] | None,
             render: Callable[[dict[str, Any], set[str] | None, set[str]], dict[str, Any]],
             expandable: tuple[str, ...]) -> Reply:
        if row is None:
            raise HtmlNotFound()
        return Reply(200, render(row, fields_param(request), expand_param(request, expandable)))

    def _reference(self, request: Request, items: list[dict[str, Any]],
                   record_id: str | None) -> Reply:
        if record_id is not None:
            for item in items:
                if item["id"] == int(record_id):
                    return Reply(200, dict(item))
            raise HtmlNotFound()
        page, meta = page_of(request, items)
        fields = fields_param(request)
        body = {"items": [{k: v for k, v in item.items() if fields is None or k in fields}
                          for item in page], "_expandable": [], "_meta": meta}
        return Reply(200, body, pagination_headers(meta))

    def find_customer(self, ref: str) -> dict[str, Any] | None:
        """A customer by id, else by exact name (the oldest of several with that name)."""
        if ref.isdigit():
            row = self.store.customer(int(ref))
            if row is not None:
                return row
        named = self.store.customers_named(ref)
        return named[0] if named else None

    def _create_customer(self, request: Request) -> Reply:
        doc = validate_customer(request.form_or_json(), self.find_customer)
        with self.store.transaction():
            record_id = self.store.next_id("customers")
            now = utc_now()
            self.store.insert_customer(record_id, doc, now, now)
        row = self.store.customer(record_id)
        assert row is not None
        body = render_customer(row, fields_param(request),
                               expand_param(request, CUSTOMER_EXPANDABLE))
        return Reply(201, body, {"Location": f"{self.url()}/v1/customers/{record_id}"})

    def _create_job(self, request: Request) -> Reply:
        customer_id, doc = validate_job(request.form_or_json(), self.find_customer)
        with self.store.transaction():
            record_id = self.store.next_id("jobs")
            number = self.store.next_job_number()
            now = utc_now()
            if doc["status"] in CLOSED_STATUSES:
                doc["closed_at"] = rfc3339(now)
            self.store.insert_job(record_id, number, customer_id, doc, now, now)
        row = self.store.job(record_id)
        assert row is not None
        body = render_job(row, fields_param(request), expand_param(request, JOB_EXPANDABLE))
        return Reply(201, body, {"Location": f"{self.url()}/v1/jobs/{record_id}"})


def _token_params(request: Request) -> dict[str, str]:
    """The token request's parameters from a JSON or a form body (both are accepted)."""
    text = request.body.decode("utf-8", "replace")
    if "json" in request.headers.get("content-type", "").lower():
        try:
            body = json.loads(text or "{}")
        except ValueError:
            body = {}
        return {str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    return {k: v[0] for k, v in parse_qs(text).items()}


def _logged_body(request: Request) -> Any:
    if request.method != "POST" or request.path.rstrip("/") == TOKEN_PATH:
        return None
    try:
        return json.loads(request.body or b"null")
    except ValueError:
        return request.body.decode("utf-8", "replace")[:2000]
