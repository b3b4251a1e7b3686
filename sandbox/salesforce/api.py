"""The REST API: routing, OAuth2 tokens and sessions, the daily allocation, queries, reads."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from psycopg.types.json import Jsonb

from sandbox.salesforce.collections import Collections
from sandbox.salesforce.faults import draw_fault, fault_reply
from sandbox.salesforce.ids import BASE62, ID_POD, normalize_id
from sandbox.salesforce.messages import ApiError, Reply, Request
from sandbox.salesforce.sobject import (
    FIELD_BY_KEY,
    OBJECT,
    FieldSpec,
    describe,
    sf_datetime,
    utc_now,
)
from sandbox.salesforce.soql import malformed, parse_soql, run_soql
from sandbox.salesforce.store import DEFAULT_CONFIG, Store

DEFAULT_BATCH = 2000
MIN_BATCH = 200
ORG_ID = "00DHp00000SIMORGAAA"
USER_ID = "005Hp00000SIMUSRAAA"

_VERSIONED = re.compile(r"^/services/data/(v\d+\.\d+)(/.*)?$")


class SalesforceApi:
    """Routing, auth, limits and faults for every non-admin request."""

    def __init__(self, store: Store, url_getter: Callable[[], str],
                 client_id: str, client_secret: str) -> None:
        self.store = store
        self.url = url_getter
        self.client_id, self.client_secret = client_id, client_secret
        self.collections = Collections(store)

    # entry point

    def handle(self, request: Request) -> Reply:
        with self.store.lock:
            fault = draw_fault(self.store, request.method, request.path)
            entry = {
                "at": sf_datetime(utc_now()), "method": request.method, "path": request.path,
                "records": _body_record_count(request), "fault": fault,
            }
            if fault in ("503_before", "drop_before", "429"):
                reply, applied = fault_reply(fault), False
            else:
                reply, applied = self._serve(request)
                if fault is not None:
                    reply = fault_reply(fault)
            if request.path.startswith("/services/data"):
                reply.headers["Sforce-Limit-Info"] = self._limit_info()
            entry.update(status=None if reply.drop else reply.status, applied=applied,
                         error_codes=[] if reply.drop else reply.error_codes())
            self.store.log(entry)
            return reply

    def _serve(self, request: Request) -> tuple[Reply, bool]:
        try:
            if request.path.rstrip("/") == "/services/oauth2/token":
                return self._token(request)
            if request.path.rstrip("/") == "/services/data":
                return self._versions(request), True
            match = _VERSIONED.match(request.path)
            if match is None:
                raise _not_found()
            self._authenticate(request)
            self._spend_allocation()
            return self._route(request, match.group(1), (match.group(2) or "/").rstrip("/"))
        except ApiError as error:
            return error.reply(), False

    def _route(self, request: Request, version: str, rest: str) -> tuple[Reply, bool]:
        method = request.method
        if rest in ("/query", "/queryAll"):
            _allow(method, "GET")
            return self._query(request, version), True
        if rest.startswith(("/query/", "/queryAll/")):
            _allow(method, "GET")
            return self._query_more(request, version, rest.split("/", 2)[2]), True
        if rest == "/limits":
            _allow(method, "GET")
            return self._limits(), True
        if rest == "/composite/sobjects":
            _allow(method, "POST", "PATCH")
            results, applied = self.collections.save(method, request.json())
            return Reply(200, results), applied
        if rest == "":
            _allow(method, "GET")
            return Reply(200, {"limits": f"/services/data/{version}/limits",
                               "query": f"/services/data/{version}/query",
                               "composite": f"/services/data/{version}/composite",
                               "sobjects": f"/services/data/{version}/sobjects"}), True
        sobject = re.fullmatch(r"/sobjects/([A-Za-z0-9_]+)(?:/([A-Za-z0-9_]+))?", rest)
        if sobject and sobject.group(1).lower() == OBJECT.lower():
            _allow(method, "GET")
            return self._sobject(version, sobject.group(2)), True
        raise _not_found()

    # auth

    def _token(self, request: Request) -> tuple[Reply, bool]:
        if request.method != "POST":
            raise ApiError(405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed. Allowed are POST")
        form = {**request.query, **parse_qs(request.body.decode("utf-8", "replace"))}

        def value(name: str) -> str:
            return (form.get(name) or [""])[0]

        if value("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type",
                               "error_description": "grant type not supported"}), False
        good_id = hmac.compare_digest(value("client_id"), self.client_id)
        good_secret = hmac.compare_digest(value("client_secret"), self.client_secret)
        if not (good_id and good_secret):
            return Reply(400, {"error": "invalid_client",
                               "error_description": "invalid client credentials"}), False
        return Reply(200, self._issue_token()), True

    def _issue_token(self) -> dict[str, Any]:
        config = self.store.setting("config", DEFAULT_CONFIG)
        issued = utc_now()
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(72)}"
        # A long-lived stack issues a token per command; keep the table small.
        self.store.conn.execute(
            "delete from sim.tokens where expires_at < now() - interval '1 day'"
        )
        self.store.conn.execute(
            "insert into sim.tokens (token, issued_at, expires_at) values (%s, %s, %s)",
            (token, issued, issued + dt.timedelta(seconds=float(config["token_ttl_s"]))),
        )
        identity = f"{self.url()}/id/{ORG_ID}/{USER_ID}"
        issued_at = str(int(issued.timestamp() * 1000))
        signature = base64.b64encode(hmac.new(
            self.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()).decode()
        return {"access_token": token, "signature": signature, "scope": "api",
                "instance_url": self.url(), "id": identity, "token_type": "Bearer",
                "issued_at": issued_at}

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and token:
            row = self.store.conn.execute(
                "select 1 from sim.tokens where token = %s and expires_at > now()",
                (token.strip(),),
            ).fetchone()
            if row:
                return
        raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def _spend_allocation(self) -> None:
        limit = int(self.store.setting("config", DEFAULT_CONFIG)["daily_limit"])
        if self.store.usage() >= limit:
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        self.store.count_usage()

    def _limit_info(self) -> str:
        limit = int(self.store.setting("config", DEFAULT_CONFIG)["daily_limit"])
        return f"api-usage={self.store.usage()}/{limit}"

    # resources

    def _versions(self, request: Request) -> Reply:
        _allow(request.method, "GET")
        return Reply(200, [{"label": "Winter '25", "url": "/services/data/v62.0",
                            "version": "62.0"}])

    def _limits(self) -> Reply:
        limit = int(self.store.setting("config", DEFAULT_CONFIG)["daily_limit"])
        used = self.store.usage()
        return Reply(200, {
            "DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
        })

    def _query(self, request: Request, version: str) -> Reply:
        text = request.param("q")
        if not text or not text.strip():
            raise malformed("A query string has to be specified")
        soql = parse_soql(text)
        rows = run_soql(soql, self.store.records())
        if soql.count_only:
            return Reply(200, {"totalSize": len(rows), "done": True, "records": []})
        ids = [row["Id"] for row in rows]
        batch = _batch_size(request.headers.get("sforce-query-options", ""))
        locator = self._save_cursor(soql.fields, ids) if len(ids) > batch else None
        return Reply(200, _page(version, soql.fields, rows[:batch], len(ids), locator, batch))

    def _query_more(self, request: Request, version: str, cursor: str) -> Reply:
        locator, _, offset_text = cursor.rpartition("-")
        row = self.store.conn.execute(
            "select fields, ids from sim.cursors where locator = %s", (locator,)
        ).fetchone()
        if row is None or not offset_text.isdigit() or int(offset_text) > len(row["ids"]):
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        offset = int(offset_text)
        fields = [FIELD_BY_KEY[name.lower()] for name in row["fields"]]
        batch = _batch_size(request.headers.get("sforce-query-options", ""))
        page_ids = row["ids"][offset : offset + batch]
        by_id = {record["Id"]: record for record in self.store.records(page_ids)}
        rows = [by_id[i] for i in page_ids if i in by_id]
        next_offset = offset + batch if offset + batch < len(row["ids"]) else None
        return Reply(200, _page(version, fields, rows, len(row["ids"]), locator, next_offset))

    def _save_cursor(self, fields: list[FieldSpec], ids: list[str]) -> str:
        locator = "01g" + ID_POD + "".join(secrets.choice(BASE62) for _ in range(13))
        self.store.conn.execute(
            "delete from sim.cursors where created_at < now() - interval '1 day'"
        )
        self.store.conn.execute(
            "insert into sim.cursors (locator, fields, ids, created_at) values (%s, %s, %s, %s)",
            (locator, Jsonb([spec.name for spec in fields]), ids, utc_now()),
        )
        return locator

    def _sobject(self, version: str, tail: str | None) -> Reply:
        if tail is None:
            return Reply(200, {"objectDescribe": describe(version)})
        if tail == "describe":
            return Reply(200, describe(version))
        record_id = normalize_id(tail)
        records = self.store.records([record_id]) if record_id else []
        if not records:
            raise _not_found()
        record = records[0]
        return Reply(200, {"attributes": _attributes(version, record["Id"]), **record})


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise ApiError(405, "METHOD_NOT_ALLOWED",
                       f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}")


def _not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def _body_record_count(request: Request) -> int:
    if "/composite/sobjects" not in request.path:
        return 0
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return 0
    records = body.get("records") if isinstance(body, dict) else None
    return len(records) if isinstance(records, list) else 0


def _batch_size(options: str) -> int:
    match = re.search(r"batchSize\s*=\s*(\d+)", options)
    if not match:
        return DEFAULT_BATCH
    return min(max(int(match.group(1)), MIN_BATCH), DEFAULT_BATCH)


def _attributes(version: str, record_id: str) -> dict[str, str]:
    return {"type": OBJECT, "url": f"/services/data/{version}/sobjects/{OBJECT}/{record_id}"}


def _page(version: str, fields: list[FieldSpec], rows: list[dict[str, Any]], total: int,
          locator: str | None, next_offset: int | None) -> dict[str, Any]:
    page: dict[str, Any] = {"totalSize": total, "done": locator is None or next_offset is None}
    if not page["done"]:
        page["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{next_offset}"
    page["records"] = [
        {"attributes": _attributes(version, row["Id"]),
         **{spec.name: row.get(spec.name) for spec in fields}}
        for row in rows
    ]
    return page
