"""The REST API: routing, OAuth2 tokens and sessions, queries and cursors."""

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
from urllib.parse import parse_qs, unquote, unquote_plus

from psycopg.types.json import Jsonb

from sandbox.salesforce.bulk import BulkIngest, csv_row_count
from sandbox.salesforce.collections import Collections
from sandbox.salesforce.describe import describe_global, describe_object, object_info
from sandbox.salesforce.faults import draw_fault, fault_reply
from sandbox.salesforce.ids import BASE62, ID_POD
from sandbox.salesforce.limits import Limits
from sandbox.salesforce.messages import ApiError, Reply, Request, not_found
from sandbox.salesforce.rows import Rows, record_url
from sandbox.salesforce.sobject import FIELD_BY_KEY, OBJECT, FieldSpec, sf_datetime, utc_now
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
        self.rows = Rows(store, self.collections)
        self.bulk = BulkIngest(store, self.collections, USER_ID)
        self.limits = Limits(store)

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
                reply.headers["Sforce-Limit-Info"] = self.limits.header()
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
                raise not_found()
            self._authenticate(request)
            self.limits.spend()
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
            return Reply(200, self.limits.resource()), True
        if rest == "/composite/sobjects":
            _allow(method, "POST", "PATCH")
            results, applied = self.collections.save(method, request.json())
            return Reply(200, results), applied
        if rest == "/jobs/ingest" or rest.startswith("/jobs/ingest/"):
            return self.bulk.route(request, version, rest)
        if rest == "":
            _allow(method, "GET")
            return Reply(200, {"limits": f"/services/data/{version}/limits",
                               "query": f"/services/data/{version}/query",
                               "composite": f"/services/data/{version}/composite",
                               "jobs": f"/services/data/{version}/jobs",
                               "sobjects": f"/services/data/{version}/sobjects"}), True
        if rest == "/sobjects":
            _allow(method, "GET")
            return Reply(200, describe_global(version)), True
        if rest.startswith("/sobjects/"):
            return self._sobject(request, version, rest.split("/")[2:])
        raise not_found()

    def _sobject(self, request: Request, version: str, parts: list[str]) -> tuple[Reply, bool]:
        """`/sobjects/{obj}[/...]`: basic information, describe, sObject Rows (`rows`)."""
        method = request.method
        name, tail = parts[0], parts[1:]
        if name.lower() != OBJECT.lower():
            raise not_found()
        if not tail:
            _allow(method, "GET", "POST")
            if method == "POST":
                return self.rows.create(request.json())
            return Reply(200, object_info(version)), True
        if tail == ["describe"]:
            _allow(method, "GET")
            return Reply(200, describe_object(version)), True
        if len(tail) == 1 and tail[0] == "Id" and method == "POST":
            return self.rows.create(request.json())  # Id as the external id, value null
        if len(tail) == 1:
            _allow(method, "GET", "PATCH", "DELETE")
            record_id = self.rows.record_id(unquote(tail[0]))
            if method == "GET":
                return self.rows.read(version, record_id, request.param("fields"))
            if method == "PATCH":
                return self.rows.update(record_id, request.json())
            return self.rows.delete(record_id)
        if len(tail) == 2:
            _allow(method, "GET", "PATCH", "DELETE")
            # The value is split off before decoding, so an encoded "/" stays in it.
            body = request.json() if method == "PATCH" else None
            return self.rows.by_external_id(method, version, tail[0], unquote(tail[1]), body)
        raise not_found()

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
        client_id, client_secret = value("client_id"), value("client_secret")
        if not client_id:
            # RFC 6749 2.3.1: the client may authenticate with HTTP Basic instead of the
            # form, as simple-salesforce's client-credentials login does.
            client_id, client_secret = _basic_credentials(request.headers.get("authorization"))
        good_id = hmac.compare_digest(client_id, self.client_id)
        good_secret = hmac.compare_digest(client_secret, self.client_secret)
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

    # resources

    def _versions(self, request: Request) -> Reply:
        _allow(request.method, "GET")
        return Reply(200, [{"label": "Winter '25", "url": "/services/data/v62.0",
                            "version": "62.0"}])

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

def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise ApiError(405, "METHOD_NOT_ALLOWED",
                       f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}")


def _basic_credentials(header: str | None) -> tuple[str, str]:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return "", ""
    client_id, _, client_secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(client_secret)


def _body_record_count(request: Request) -> int:
    """Records in a write's body: a collection's `records`, the one of sObject Rows, or
    the data rows of a Bulk API 2.0 upload."""
    if request.method == "PUT" and request.path.rstrip("/").endswith("/batches"):
        return csv_row_count(request.body)
    single = "/sobjects/" in request.path and "/composite/" not in request.path
    if "/composite/sobjects" not in request.path and not (
        single and request.method in ("POST", "PATCH")
    ):
        return 0
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return 0
    if single:
        return 1 if isinstance(body, dict) else 0
    records = body.get("records") if isinstance(body, dict) else None
    return len(records) if isinstance(records, list) else 0


def _batch_size(options: str) -> int:
    match = re.search(r"batchSize\s*=\s*(\d+)", options)
    if not match:
        return DEFAULT_BATCH
    return min(max(int(match.group(1)), MIN_BATCH), DEFAULT_BATCH)


def _attributes(version: str, record_id: str) -> dict[str, str]:
    return {"type": OBJECT, "url": record_url(version, record_id)}


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
