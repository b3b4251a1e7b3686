"""A protocol-faithful Salesforce REST simulator for `Product_Property__c`.

Serves HTTPS (certificate from `sandbox.certs`) on 127.0.0.1 and keeps all state
(records, tokens, request log, fault and limit settings, query cursors, API usage)
in Postgres, schema `sim` of the database given by `dsn`, so that it survives
restarts: a second `make demo` sees the records of the first.

API endpoints (what product code talks to; `{v}` is any `vNN.N`):

- `POST /services/oauth2/token`: form body, `grant_type=client_credentials`,
  `client_id`, `client_secret` -> `{access_token, signature, scope, instance_url,
  id, token_type: "Bearer", issued_at}`. Bad credentials -> 400 `invalid_client`;
  another grant -> 400 `unsupported_grant_type`.
- `GET /services/data` (versions), `GET /services/data/{v}/limits`.
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
- `GET /services/data/{v}/sobjects/Product_Property__c/describe` and
  `GET /services/data/{v}/sobjects/Product_Property__c/<id>`.

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
  `{"token_ttl_s", "daily_limit"}` (omitted/null = unchanged) -> the config.
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

- one object only; no upsert, delete, single-record writes, Bulk or Composite API;
- the SOQL subset above (no OR, parentheses, relationships, FIELDS(), TODAY ...);
- query cursors are snapshots of the matching Ids and live a day;
- checkbox, number and date values must have their JSON types (no string coercion);
- the same Id twice in one update is applied twice, not refused;
- the daily allocation is per UTC day, not a rolling 24 h; sessions expire a fixed
  TTL after issue, not after idle time;
- the 429 fault kind imitates a proxy (Salesforce itself answers limits with 403).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import re
import secrets
import signal
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from sandbox.certs import ensure_certificates

OBJECT = "Product_Property__c"
KEY_PREFIX = "a0X"
# Id = key prefix + pod + reserved char + 9 base-62 digits (+ 3-char checksum).
ID_POD = "Hp0"
MAX_COLLECTION = 200
DEFAULT_BATCH = 2000
MIN_BATCH = 200
DEFAULT_TOKEN_TTL_S = 7200.0  # Salesforce's default session timeout: 2 hours
DEFAULT_DAILY_LIMIT = 100_000  # Enterprise Edition base allocation
FAULT_KINDS = ("503_before", "503_after", "drop_before", "drop_after", "429")
ORG_ID = "00DHp00000SIMORGAAA"
USER_ID = "005Hp00000SIMUSRAAA"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# -- the object ---------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: str  # id | string | textarea | boolean | date | double | datetime
    length: int = 0
    writable: bool = True
    required: bool = False
    external_id: bool = False

    @property
    def is_text(self) -> bool:
        return self.kind in ("string", "textarea")


def _feature_fields(prefix: str, label: str) -> tuple[FieldSpec, FieldSpec]:
    return (
        FieldSpec(f"{prefix}_Enabled__c", f"{label} Enabled", "boolean"),
        FieldSpec(f"{prefix}_Enabled_Date__c", f"{label} Enabled Date", "date"),
    )


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("Id", "Record ID", "id", 18, writable=False),
    FieldSpec("Name", "Product Property Name", "string", 80, required=True),
    FieldSpec("Snappt_Property_ID__c", "Snappt Property ID", "string", 255, external_id=True),
    FieldSpec("SF_Property_ID__c", "SF Property ID", "string", 18, writable=False),
    FieldSpec("Company_Name__c", "Company Name", "string", 255),
    FieldSpec("Street__c", "Street", "string", 255),
    FieldSpec("City__c", "City", "string", 40),
    FieldSpec("State__c", "State", "string", 20),
    FieldSpec("Postal_Code__c", "Postal Code", "string", 20),
    *_feature_fields("Fraud_Detection", "Fraud Detection"),
    *_feature_fields("Income_Verification", "Income Verification"),
    *_feature_fields("IDV", "IDV"),
    *_feature_fields("Rent_Verification", "Rent Verification"),
    FieldSpec("Active_Property_Count__c", "Active Property Count", "double", 18),
    FieldSpec("Contributing_Property_IDs__c", "Contributing Property IDs", "textarea", 131072),
    FieldSpec("CreatedDate", "Created Date", "datetime", writable=False),
    FieldSpec("LastModifiedDate", "Last Modified Date", "datetime", writable=False),
    FieldSpec("SystemModstamp", "System Modstamp", "datetime", writable=False),
    FieldSpec("IsDeleted", "Deleted", "boolean", writable=False),
)
FIELD_BY_KEY = {spec.name.lower(): spec for spec in FIELDS}
SYSTEM_FIELDS = ("Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted")
# What sim.records.fields (jsonb) holds: every field that is not a system column.
STORED_FIELDS = tuple(spec for spec in FIELDS if spec.name not in SYSTEM_FIELDS)
EXTERNAL_ID = "Snappt_Property_ID__c"


def canonical_field(name: str) -> FieldSpec | None:
    """Salesforce field names are case-insensitive; answers use the API name."""
    return FIELD_BY_KEY.get(name.lower())


# -- record ids ---------------------------------------------------------------


def id_checksum(id15: str) -> str:
    """The 3-char suffix that makes an Id case-insensitively unique (Salesforce's rule)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += alphabet[bits]
    return suffix


def make_id(number: int) -> str:
    digits = ""
    for _ in range(9):
        number, rest = divmod(number, 62)
        digits = BASE62[rest] + digits
    id15 = KEY_PREFIX + ID_POD + digits
    return id15 + id_checksum(id15)


def normalize_id(value: object) -> str | None:
    """The 18-char form of a well-formed Product_Property__c Id, else None."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?", value):
        return None
    id15 = value[:15]
    if len(value) == 18 and value[15:].upper() != id_checksum(id15):
        return None
    if not id15.startswith(KEY_PREFIX):
        return None
    return id15 + id_checksum(id15)


# -- errors and replies -------------------------------------------------------


class ApiError(Exception):
    """A request-level failure, answered as Salesforce's `[{message, errorCode}]`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def reply(self) -> Reply:
        return Reply(self.status, [{"message": self.message, "errorCode": self.code}])


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False

    def error_codes(self) -> list[str]:
        if isinstance(self.body, dict) and "error" in self.body:
            return [str(self.body["error"])]
        if not isinstance(self.body, list):
            return []
        codes = []
        for item in self.body:
            if isinstance(item, dict) and "errorCode" in item:
                codes.append(str(item["errorCode"]))
            elif isinstance(item, dict):
                codes.extend(str(e.get("statusCode")) for e in item.get("errors") or [])
        return codes


def _record_error(code: str, message: str, fields: Iterable[str] = ()) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": list(fields)}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sf_datetime(moment: dt.datetime) -> str:
    """Salesforce's datetime format: 2024-05-01T12:34:56.000+0000."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}+0000"
    )


def _parse_datetime(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value.replace("Z", "+00:00"))
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# -- SOQL ---------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')"
    r"|(?P<date>\d{4}-\d{2}-\d{2}(?![\d:T]))"
    r"|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<op>!=|<>|<=|>=|=|<|>)"
    r"|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


@dataclass
class Condition:
    field: FieldSpec
    op: str  # = != < <= > >= LIKE IN NOTIN
    value: Any


@dataclass
class Soql:
    fields: list[FieldSpec]
    count_only: bool
    conditions: list[Condition]
    order_by: FieldSpec | None = None
    descending: bool = False
    nulls_last: bool = False
    limit: int | None = None
    offset: int = 0


def _malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", message)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise _malformed(f"unexpected token: '{text[position:].split()[0]}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _SoqlParser:
    """Recursive-descent parser of the SOQL subset in the module docstring."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.position = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end":
            raise _malformed("unexpected end of query")
        self.position += 1
        return token

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "word" and value.upper() in words:
            self.position += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.keyword(word):
            raise _malformed(f"unexpected token: '{self.peek()[1] or 'end of query'}'")

    def expect_punct(self, char: str) -> None:
        if self.take() != ("punct", char):
            raise _malformed(f"expecting '{char}'")

    def parse(self) -> tuple[list[str], bool, str, list[tuple[str, str, Any]], dict[str, Any]]:
        self.expect("SELECT")
        names, count_only = self.select_list()
        self.expect("FROM")
        kind, obj = self.take()
        if kind != "word":
            raise _malformed(f"unexpected token: '{obj}'")
        conditions = self.where() if self.keyword("WHERE") else []
        tail = self.tail()
        if self.peek()[0] != "end":
            raise _malformed(f"unexpected token: '{self.peek()[1]}'")
        return names, count_only, obj, conditions, tail

    def select_list(self) -> tuple[list[str], bool]:
        if self.peek()[1].upper() == "COUNT" and self.tokens[self.position + 1 :][:1] == [
            ("punct", "(")
        ]:
            self.position += 1
            self.expect_punct("(")
            self.expect_punct(")")
            return [], True
        names = []
        while True:
            kind, value = self.take()
            if kind != "word" or value.upper() == "FROM":
                raise _malformed(f"unexpected token: '{value}'")
            names.append(value)
            if self.peek() != ("punct", ","):
                return names, False
            self.position += 1

    def where(self) -> list[tuple[str, str, Any]]:
        conditions = [self.condition()]
        while self.keyword("AND"):
            conditions.append(self.condition())
        if self.peek()[0] == "word" and self.peek()[1].upper() in ("OR", "NOT"):
            raise _malformed(f"this simulator does not support {self.peek()[1].upper()}")
        return conditions

    def condition(self) -> tuple[str, str, Any]:
        kind, name = self.take()
        if kind != "word":
            raise _malformed(f"unexpected token: '{name}'")
        if self.keyword("NOT"):
            self.expect("IN")
            return name, "NOTIN", self.value_list()
        if self.keyword("IN"):
            return name, "IN", self.value_list()
        if self.keyword("LIKE"):
            return name, "LIKE", self.literal()
        kind, op = self.take()
        if kind != "op":
            raise _malformed(f"unexpected token: '{op}'")
        return name, "!=" if op == "<>" else op, self.literal()

    def value_list(self) -> list[Any]:
        self.expect_punct("(")
        values = [self.literal()]
        while self.peek() == ("punct", ","):
            self.position += 1
            values.append(self.literal())
        self.expect_punct(")")
        return values

    def literal(self) -> Any:
        kind, value = self.take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "num":
            return float(value)
        if kind == "date":
            return dt.date.fromisoformat(value).isoformat()
        if kind == "word" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind == "word" and value.lower() == "null":
            return None
        raise _malformed(f"unexpected token: '{value}'")

    def tail(self) -> dict[str, Any]:
        tail: dict[str, Any] = {"limit": None, "offset": 0}
        if self.keyword("ORDER"):
            self.expect("BY")
            kind, name = self.take()
            if kind != "word":
                raise _malformed(f"unexpected token: '{name}'")
            tail["order_by"] = name
            tail["descending"] = self.keyword("DESC")
            if not tail["descending"]:
                self.keyword("ASC")
            if self.keyword("NULLS"):
                tail["nulls_last"] = self.keyword("LAST")
                if not tail["nulls_last"]:
                    self.expect("FIRST")
            else:
                tail["nulls_last"] = tail["descending"]
        for word in ("LIMIT", "OFFSET"):
            if self.keyword(word):
                kind, value = self.take()
                if kind != "num" or not value.isdigit():
                    raise _malformed(f"unexpected token: '{value}'")
                tail[word.lower()] = int(value)
        return tail


def _unknown_field(name: str) -> ApiError:
    return ApiError(
        400,
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{OBJECT}'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names.",
    )


def parse_soql(text: str) -> Soql:
    """Parse, then check the object and the fields, in Salesforce's order of complaints."""
    names, count_only, obj, raw_conditions, tail = _SoqlParser(text).parse()
    if obj.lower() != OBJECT.lower():
        raise ApiError(
            400,
            "INVALID_TYPE",
            f"sObject type '{obj}' is not supported. If you are attempting to use a custom "
            "object, be sure to append the '__c' after the entity name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
        )

    def resolve(name: str) -> FieldSpec:
        spec = canonical_field(name)
        if spec is None:
            raise _unknown_field(name)
        return spec

    fields: list[FieldSpec] = []
    for name in names:
        spec = resolve(name)
        if spec not in fields:
            fields.append(spec)
    conditions = [Condition(resolve(n), op, value) for n, op, value in raw_conditions]
    order = resolve(tail["order_by"]) if "order_by" in tail else None
    return Soql(
        fields, count_only, conditions, order, tail.get("descending", False),
        tail.get("nulls_last", False), tail["limit"], tail["offset"],
    )


def _comparable(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.is_text or spec.kind == "id":
        return str(value).lower()
    if spec.kind == "double":
        return float(value)
    return value


def _like(value: Any, pattern: Any) -> bool:
    if value is None or pattern is None:
        return False
    regex = "".join(
        ".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(pattern).lower()
    )
    return re.fullmatch(regex, str(value).lower(), re.DOTALL) is not None


def _matches(record: dict[str, Any], condition: Condition) -> bool:
    spec = condition.field
    left = _comparable(spec, record.get(spec.name))
    op = condition.op
    if op in ("IN", "NOTIN"):
        found = left in {_comparable(spec, v) for v in condition.value}
        return found if op == "IN" else (not found and left is not None)
    if op == "LIKE":
        return _like(left, condition.value)
    right = _comparable(spec, condition.value)
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    try:
        return bool(
            {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
        )
    except TypeError:
        return False


def run_soql(query: Soql, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [r for r in records if all(_matches(r, c) for c in query.conditions)]
    if query.order_by is not None:
        spec = query.order_by
        present = [r for r in rows if r.get(spec.name) is not None]
        missing = [r for r in rows if r.get(spec.name) is None]
        present.sort(key=lambda r: _comparable(spec, r[spec.name]), reverse=query.descending)
        rows = present + missing if query.nulls_last else missing + present
    rows = rows[query.offset :]
    return rows if query.limit is None else rows[: query.limit]


# -- values -------------------------------------------------------------------


class _TypeMismatch(Exception):
    pass


def coerce_value(spec: FieldSpec, value: Any) -> Any:
    """A request value as stored; raises _TypeMismatch where Salesforce's parser refuses it."""
    if value is None:
        return False if spec.kind == "boolean" else None
    if spec.is_text:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return json.dumps(value)
        if not isinstance(value, str):
            raise _TypeMismatch
        return value or None  # Salesforce stores an empty text as null
    if spec.kind == "boolean":
        if not isinstance(value, bool):
            raise _TypeMismatch
        return value
    if spec.kind == "double":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _TypeMismatch
        return float(value)
    if spec.kind == "date":
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise _TypeMismatch
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise _TypeMismatch from None
        return value
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int | float):
        return "VALUE_NUMBER_INT" if isinstance(value, int) else "VALUE_NUMBER_FLOAT"
    if isinstance(value, str):
        return "VALUE_STRING"
    return "START_OBJECT" if isinstance(value, dict) else "START_ARRAY"


def _parser_error(spec: FieldSpec, value: Any) -> ApiError:
    java = {"boolean": "boolean", "double": "double", "date": "date"}.get(spec.kind, "String")
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {java} from {_json_type(value)} value "
        f"{value} or request may be missing a required field",
    )


def output_value(spec: FieldSpec, value: Any) -> Any:
    if spec.kind == "double" and value is not None and not isinstance(value, bool):
        return float(value)
    if spec.kind == "boolean":
        return bool(value)
    return value


# -- storage ------------------------------------------------------------------

SCHEMA_SQL = """
create schema if not exists sim;
create table if not exists sim.records (
    id text primary key,
    fields jsonb not null,
    created_date timestamptz not null,
    last_modified_date timestamptz not null,
    system_modstamp timestamptz not null
);
create index if not exists records_external_id
    on sim.records (lower(fields ->> 'Snappt_Property_ID__c'));
create sequence if not exists sim.record_number;
create table if not exists sim.tokens (
    token text primary key,
    issued_at timestamptz not null,
    expires_at timestamptz not null
);
create table if not exists sim.request_log (
    idx integer primary key,
    entry jsonb not null
);
create table if not exists sim.settings (
    name text primary key,
    value jsonb not null
);
create table if not exists sim.api_usage (
    day date primary key,
    used integer not null
);
create table if not exists sim.cursors (
    locator text primary key,
    fields jsonb not null,
    ids text[] not null,
    created_at timestamptz not null
);
"""
# Serialises the idempotent DDL when two simulators start against one database.
SCHEMA_LOCK_KEY = 0x5F5A1E50

DEFAULT_CONFIG: dict[str, Any] = {
    "token_ttl_s": DEFAULT_TOKEN_TTL_S,
    "daily_limit": DEFAULT_DAILY_LIMIT,
}
NO_FAULTS: dict[str, Any] = {
    "rate": 0.0, "kinds": list(FAULT_KINDS), "methods": None, "seed": 0, "next": [], "draws": 0,
}


class Store:
    """The simulator's state in Postgres; one connection, callers hold `lock`."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.lock = threading.RLock()
        self._conn: psycopg.Connection[dict[str, Any]] | None = None

    @property
    def conn(self) -> psycopg.Connection[dict[str, Any]]:
        # Reconnect after a Postgres restart instead of failing every later request.
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row)
        return self._conn

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def ensure_schema(self) -> None:
        with self.lock, self.conn.transaction():
            self.conn.execute("select pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            self.conn.execute(SCHEMA_SQL)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        with self.lock, self.conn.transaction():
            yield self.conn

    # settings

    def setting(self, name: str, default: dict[str, Any]) -> dict[str, Any]:
        row = self.conn.execute(
            "select value from sim.settings where name = %s", (name,)
        ).fetchone()
        return {**default, **(row["value"] if row else {})}

    def save_setting(self, name: str, value: dict[str, Any]) -> None:
        self.conn.execute(
            "insert into sim.settings (name, value) values (%s, %s)"
            " on conflict (name) do update set value = excluded.value",
            (name, Jsonb(value)),
        )

    def reset(self) -> None:
        with self.transaction() as conn:
            for table in ("records", "tokens", "request_log", "settings", "api_usage", "cursors"):
                conn.execute(f"truncate sim.{table}")
            conn.execute("alter sequence sim.record_number restart")

    # records

    def new_ids(self, count: int, exclude: frozenset[str] = frozenset()) -> list[str]:
        ids: list[str] = []
        while len(ids) < count:
            rows = self.conn.execute(
                "select nextval('sim.record_number') as n from generate_series(1, %s)",
                (count - len(ids),),
            ).fetchall()
            candidates = [make_id(int(row["n"])) for row in rows]
            # Loaded fixtures may carry their own Ids; never hand one out twice.
            taken = {row["id"] for row in self.conn.execute(
                "select id from sim.records where id = any(%s)", (candidates,)
            )}
            ids.extend(c for c in candidates if c not in taken and c not in exclude)
        return ids

    def insert(self, rows: list[tuple[str, dict[str, Any], dt.datetime, dt.datetime]]) -> None:
        """(id, fields, created, last modified) rows, in one round trip."""
        with self.conn.cursor() as cursor:
            cursor.executemany(
                "insert into sim.records (id, fields, created_date, last_modified_date,"
                " system_modstamp) values (%s, %s, %s, %s, %s)",
                [(i, Jsonb(f), created, modified, modified) for i, f, created, modified in rows],
            )

    def update_fields(self, record_id: str, fields: dict[str, Any], moment: dt.datetime) -> None:
        self.conn.execute(
            "update sim.records set fields = fields || %s, last_modified_date = %s,"
            " system_modstamp = %s where id = %s",
            (Jsonb(fields), moment, moment, record_id),
        )

    def stored_fields(self, record_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "select fields from sim.records where id = %s", (record_id,)
        ).fetchone()
        return row["fields"] if row else None

    def id_by_external_id(self, value: str) -> str | None:
        row = self.conn.execute(
            "select id from sim.records where lower(fields ->> %s) = lower(%s) order by id limit 1",
            (EXTERNAL_ID, value),
        ).fetchone()
        return row["id"] if row else None

    def records(self, ids: list[str] | None = None) -> list[dict[str, Any]]:
        sql = (
            "select id, fields, created_date, last_modified_date, system_modstamp"
            " from sim.records"
        )
        if ids is None:
            rows = self.conn.execute(sql + " order by id").fetchall()
        else:
            rows = self.conn.execute(sql + " where id = any(%s)", (ids,)).fetchall()
        return [_full_record(row) for row in rows]

    def record_count(self) -> int:
        row = self.conn.execute("select count(*) as n from sim.records").fetchone()
        return int(row["n"]) if row else 0

    # request log

    def log(self, entry: dict[str, Any]) -> None:
        row = self.conn.execute(
            "select coalesce(max(idx) + 1, 0) as n from sim.request_log"
        ).fetchone()
        entry["index"] = int(row["n"]) if row else 0
        self.conn.execute(
            "insert into sim.request_log (idx, entry) values (%s, %s)",
            (entry["index"], Jsonb(entry)),
        )

    def log_entries(self, since: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "select entry from sim.request_log where idx >= %s order by idx", (since,)
        ).fetchall()
        return [row["entry"] for row in rows]

    def log_count(self) -> int:
        row = self.conn.execute("select count(*) as n from sim.request_log").fetchone()
        return int(row["n"]) if row else 0

    # usage

    def usage(self) -> int:
        row = self.conn.execute(
            "select used from sim.api_usage where day = %s", (_now().date(),)
        ).fetchone()
        return int(row["used"]) if row else 0

    def count_usage(self) -> None:
        self.conn.execute(
            "insert into sim.api_usage (day, used) values (%s, 1)"
            " on conflict (day) do update set used = sim.api_usage.used + 1",
            (_now().date(),),
        )


def _full_record(row: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"Id": row["id"]}
    for spec in STORED_FIELDS:
        record[spec.name] = output_value(spec, row["fields"].get(spec.name))
    record["CreatedDate"] = sf_datetime(row["created_date"])
    record["LastModifiedDate"] = sf_datetime(row["last_modified_date"])
    record["SystemModstamp"] = sf_datetime(row["system_modstamp"])
    record["IsDeleted"] = False
    return record


# -- sObject Collections --------------------------------------------------------


@dataclass
class _Prepared:
    """One collection record after request-level checks: canonical fields, typed values."""

    fields: dict[str, Any]
    given_id: Any = None
    has_id: bool = False
    read_only: list[str] = field(default_factory=list)


class _Rollback(Exception):
    pass


def _prepare_records(raw: Any) -> tuple[list[_Prepared], bool]:
    """Request-level validation, as Salesforce's JSON deserialiser does it (one 400 for all)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("records"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be an object with "
                       "a 'records' array")
    all_or_none = raw.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise ApiError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of boolean "
                       f"from {_json_type(all_or_none)} value {all_or_none}")
    records = raw["records"]
    if len(records) > MAX_COLLECTION:
        raise ApiError(400, "EXCEEDED_ID_LIMIT",
                       "record limit reached. cannot submit more than 200 records into this call")
    return [_prepare_record(record) for record in records], all_or_none


def _prepare_record(record: Any) -> _Prepared:
    if not isinstance(record, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
    attributes = record.get("attributes")
    sobject = attributes.get("type") if isinstance(attributes, dict) else None
    if not sobject:
        raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
    if str(sobject).lower() != OBJECT.lower():
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
    prepared = _Prepared(fields={})
    for name, value in record.items():
        if name == "attributes":
            continue
        spec = canonical_field(name)
        if spec is None:
            raise ApiError(400, "INVALID_FIELD",
                           f"No such column '{name}' on sobject of type {OBJECT}")
        if spec.name == "Id":
            prepared.given_id, prepared.has_id = value, True
            continue
        if not spec.writable:
            prepared.read_only.append(spec.name)
            continue
        try:
            prepared.fields[spec.name] = coerce_value(spec, value)
        except _TypeMismatch:
            raise _parser_error(spec, value) from None
    return prepared


def _field_errors(fields: dict[str, Any], creating: bool) -> list[dict[str, Any]]:
    """Required and length checks, one error per field like the real save."""
    errors = []
    for spec in STORED_FIELDS:
        if not spec.required:
            continue
        if (creating and fields.get(spec.name) is None) or (
            spec.name in fields and fields[spec.name] is None
        ):
            errors.append(_record_error(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{spec.name}]",
                [spec.name],
            ))
    for name, value in fields.items():
        spec = FIELD_BY_KEY[name.lower()]
        if spec.is_text and isinstance(value, str) and len(value) > spec.length:
            errors.append(_record_error(
                "STRING_TOO_LONG",
                f"{spec.label}: data value too large: {value} (max length={spec.length})",
                [spec.name],
            ))
    return errors


def _read_only_error(names: list[str]) -> dict[str, Any]:
    return _record_error(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {', '.join(names)}. Please check the security "
        "settings of this field and verify that it is read/write for your profile or "
        "permission set.",
        names,
    )


def _duplicate_error(existing_id: str) -> dict[str, Any]:
    # The real message names the 15-character form of the other record's Id.
    return _record_error(
        "DUPLICATE_VALUE",
        f"duplicate value found: {EXTERNAL_ID} duplicates value on record with id: "
        f"{existing_id[:15]}",
    )


ROLLED_BACK = _record_error(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)


def _result(record_id: str | None, errors: list[dict[str, Any]]) -> dict[str, Any]:
    if errors:
        return {"success": False, "errors": errors}
    return {"id": record_id, "success": True, "errors": []}


class Collections:
    """Create and update through sObject Collections, with per-record results."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, method: str, body: Any) -> tuple[list[dict[str, Any]], bool]:
        """Per-record results, and whether anything was committed."""
        prepared, all_or_none = _prepare_records(body)
        apply = self._create if method == "POST" else self._update
        results: list[dict[str, Any]] = []
        try:
            with self.store.transaction():
                moment = _now()
                results = [apply(record, moment) for record in prepared]
                if all_or_none and not all(r["success"] for r in results):
                    raise _Rollback
        except _Rollback:
            rolled = [r if not r["success"] else _result(None, [ROLLED_BACK]) for r in results]
            return rolled, False
        return results, any(r["success"] for r in results)

    def _create(self, record: _Prepared, moment: dt.datetime) -> dict[str, Any]:
        if record.has_id:
            return _result(None, [_record_error(
                "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"]
            )])
        if record.read_only:
            return _result(None, [_read_only_error(record.read_only)])
        fields = {spec.name: record.fields.get(spec.name, coerce_value(spec, None))
                  for spec in STORED_FIELDS}
        errors = _field_errors(fields, creating=True) or self._duplicate(fields, None)
        if errors:
            return _result(None, errors)
        record_id = self.store.new_ids(1)[0]
        self.store.insert([(record_id, fields, moment, moment)])
        return _result(record_id, [])

    def _update(self, record: _Prepared, moment: dt.datetime) -> dict[str, Any]:
        if not record.has_id or record.given_id in (None, ""):
            return _result(None, [_record_error(
                "MISSING_ARGUMENT", "Id not specified in an update call"
            )])
        record_id = normalize_id(record.given_id)
        if record_id is None:
            return _result(None, [_record_error(
                "MALFORMED_ID",
                f"{OBJECT} ID: id value of incorrect type: {record.given_id}",
                ["Id"],
            )])
        if self.store.stored_fields(record_id) is None:
            return _result(None, [_record_error(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"
            )])
        if record.read_only:
            return _result(None, [_read_only_error(record.read_only)])
        errors = _field_errors(record.fields, creating=False) or self._duplicate(
            record.fields, record_id
        )
        if errors:
            return _result(None, errors)
        self.store.update_fields(record_id, record.fields, moment)
        return _result(record_id, [])

    def _duplicate(self, fields: dict[str, Any], own_id: str | None) -> list[dict[str, Any]]:
        value = fields.get(EXTERNAL_ID)
        if value is None:
            return []
        existing = self.store.id_by_external_id(value)
        if existing is None or existing == own_id:
            return []
        return [_duplicate_error(existing)]


# -- the API ------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as error:
            raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {error}") from None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


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
            fault = self._draw_fault(request.method, request.path)
            entry = {
                "at": sf_datetime(_now()), "method": request.method, "path": request.path,
                "records": _body_record_count(request), "fault": fault,
            }
            if fault in ("503_before", "drop_before", "429"):
                reply, applied = _fault_reply(fault), False
            else:
                reply, applied = self._serve(request)
                if fault is not None:
                    reply = _fault_reply(fault)
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
        issued = _now()
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
            raise _malformed("A query string has to be specified")
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
            (locator, Jsonb([spec.name for spec in fields]), ids, _now()),
        )
        return locator

    def _sobject(self, version: str, tail: str | None) -> Reply:
        if tail is None:
            return Reply(200, {"objectDescribe": _describe(version)})
        if tail == "describe":
            return Reply(200, _describe(version))
        record_id = normalize_id(tail)
        records = self.store.records([record_id]) if record_id else []
        if not records:
            raise _not_found()
        record = records[0]
        return Reply(200, {"attributes": _attributes(version, record["Id"]), **record})

    # faults

    def _draw_fault(self, method: str, path: str) -> str | None:
        faults = self.store.setting("faults", NO_FAULTS)
        methods = faults.get("methods")
        if methods and method.upper() not in {m.upper() for m in methods}:
            return None
        paths = faults.get("paths")
        if paths and not any(fragment in path for fragment in paths):
            return None
        kind: str | None = None
        if faults["next"]:
            kind = faults["next"].pop(0)
        elif float(faults["rate"]) > 0 and faults["kinds"]:
            draw = random.Random(f"{faults['seed']}:{faults['draws']}")
            faults["draws"] += 1
            if draw.random() < float(faults["rate"]):
                kind = draw.choice(faults["kinds"])
        else:
            return None
        self.store.save_setting("faults", faults)
        return kind


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise ApiError(405, "METHOD_NOT_ALLOWED",
                       f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}")


def _not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def _fault_reply(kind: str) -> Reply:
    if kind.startswith("drop"):
        return Reply(0, drop=True)
    if kind == "429":
        return Reply(429, [{"message": "Too many requests, retry later.",
                            "errorCode": "REQUEST_LIMIT_EXCEEDED"}], {"Retry-After": "1"})
    return Reply(503, [{"errorCode": "SERVER_UNAVAILABLE",
                        "message": "Server temporarily unavailable, please try again later."}])


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


def _describe(version: str) -> dict[str, Any]:
    soap_type = {"id": "tns:ID", "string": "xsd:string", "textarea": "xsd:string",
                 "boolean": "xsd:boolean", "date": "xsd:date", "double": "xsd:double",
                 "datetime": "xsd:dateTime"}
    return {
        "name": OBJECT, "label": "Product Property", "custom": True, "keyPrefix": KEY_PREFIX,
        "createable": True, "updateable": True, "queryable": True,
        "urls": {"sobject": f"/services/data/{version}/sobjects/{OBJECT}"},
        "fields": [
            {"name": spec.name, "label": spec.label,
             "type": spec.kind,
             "soapType": soap_type[spec.kind], "length": spec.length if spec.is_text else 0,
             "nillable": not spec.required and spec.kind != "boolean" and spec.name != "Id",
             "createable": spec.writable, "updateable": spec.writable,
             "externalId": spec.external_id, "unique": spec.external_id,
             "caseSensitive": False, "custom": spec.name.endswith("__c")}
            for spec in FIELDS
        ],
    }


# -- admin ----------------------------------------------------------------------


class AdminError(Exception):
    pass


class Admin:
    """The `/__sandbox/` control API: fixtures, the link workflow, faults, the log."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def handle(self, request: Request) -> Reply:
        route = (request.method, request.path.rstrip("/").removeprefix("/__sandbox"))
        handlers: dict[tuple[str, str], Callable[[Request], Any]] = {
            ("POST", "/reset"): self._reset,
            ("POST", "/records"): self._load,
            ("GET", "/records"): lambda _: {"records": self.store.records()},
            ("GET", "/records/count"): lambda _: {"count": self.store.record_count()},
            ("POST", "/link"): self._link,
            ("POST", "/expire-tokens"): self._expire_tokens,
            ("POST", "/config"): self._configure,
            ("GET", "/config"): lambda _: self._state(),
            ("POST", "/faults"): self._set_faults,
            ("DELETE", "/faults"): self._clear_faults,
            ("GET", "/faults"): lambda _: self.store.setting("faults", NO_FAULTS),
            ("GET", "/requests"): self._requests,
            ("GET", "/requests/count"): lambda _: {"count": self.store.log_count()},
            ("DELETE", "/requests"): self._clear_requests,
        }
        handler = handlers.get(route)
        if handler is None:
            return Reply(404, {"error": f"no admin endpoint {request.method} {request.path}"})
        try:
            with self.store.lock:
                return Reply(200, handler(request))
        except AdminError as error:
            return Reply(400, {"error": str(error)})

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

    def _load(self, request: Request) -> dict[str, Any]:
        records = self._body(request).get("records")
        if not isinstance(records, list):
            raise AdminError("expected {\"records\": [...]}")
        now = _now()
        parsed = [self._parse_fixture(record, now) for record in records]
        explicit = [row[0] for row in parsed if row[0] is not None]
        self._check_free(explicit)
        with self.store.transaction():
            fresh = iter(self.store.new_ids(len(parsed) - len(explicit), frozenset(explicit)))
            rows = [(given or next(fresh), fields, created, modified)
                    for given, fields, created, modified in parsed]
            self.store.insert(rows)
        return {"ids": [row[0] for row in rows]}

    def _parse_fixture(
        self, record: Any, now: dt.datetime
    ) -> tuple[str | None, dict[str, Any], dt.datetime, dt.datetime]:
        if not isinstance(record, dict):
            raise AdminError("each record must be an object")
        given: dict[str, Any] = {}
        for name, value in record.items():
            if name == "attributes":
                continue
            spec = canonical_field(name)
            if spec is None:
                raise AdminError(f"unknown field {name!r} on {OBJECT}")
            given[spec.name] = value
        fields = {spec.name: coerce_value(spec, None) for spec in STORED_FIELDS}
        for spec in STORED_FIELDS:
            if spec.name in given:
                value = given[spec.name]
                # Salesforce cannot hold an empty text, so neither can a fixture.
                fields[spec.name] = None if value == "" and spec.is_text else value
        record_id = None
        if given.get("Id") not in (None, ""):
            record_id = normalize_id(given["Id"])
            if record_id is None:
                raise AdminError(f"not a {OBJECT} Id: {given['Id']!r}")
        created = _parse_datetime(given.get("CreatedDate")) or now
        modified = _parse_datetime(given.get("LastModifiedDate")) or created
        return record_id, fields, created, modified

    def _check_free(self, ids: list[str]) -> None:
        if len(set(ids)) != len(ids):
            raise AdminError("the fixture repeats an Id")
        taken = self.store.records(ids) if ids else []
        if taken:
            raise AdminError(f"Id {taken[0]['Id']} already exists")

    def _link(self, request: Request) -> dict[str, Any]:
        links = self._body(request).get("links")
        if not isinstance(links, dict):
            raise AdminError("expected {\"links\": {snappt_id: sf_property_id}}")
        linked = 0
        with self.store.transaction() as conn:
            moment = _now()
            for snappt_id, sf_id in links.items():
                cursor = conn.execute(
                    "update sim.records set fields = fields || %s, last_modified_date = %s,"
                    " system_modstamp = %s where lower(fields ->> %s) = lower(%s)",
                    (Jsonb({"SF_Property_ID__c": sf_id or None}), moment, moment,
                     EXTERNAL_ID, str(snappt_id)),
                )
                linked += cursor.rowcount
        return {"linked": linked}

    def _expire_tokens(self, _: Request) -> dict[str, Any]:
        cursor = self.store.conn.execute(
            "update sim.tokens set expires_at = now() where expires_at > now()"
        )
        return {"expired": cursor.rowcount}

    def _state(self) -> dict[str, Any]:
        return {**self.store.setting("config", DEFAULT_CONFIG), "api_usage": self.store.usage()}

    def _configure(self, request: Request) -> dict[str, Any]:
        body = self._body(request)
        config = self.store.setting("config", DEFAULT_CONFIG)
        ttl, limit = body.get("token_ttl_s"), body.get("daily_limit")
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
                raise AdminError("token_ttl_s must be a positive number")
            config["token_ttl_s"] = float(ttl)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise AdminError("daily_limit must be a non-negative integer")
            config["daily_limit"] = limit
        self.store.save_setting("config", config)
        return self._state()

    def _set_faults(self, request: Request) -> dict[str, Any]:
        body = self._body(request)
        rate = body.get("rate", 0.0)
        kinds = list(body.get("kinds") or FAULT_KINDS)
        queued = list(body.get("next") or [])
        methods = body.get("methods")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise AdminError("rate must be a number between 0 and 1")
        unknown = sorted({str(k) for k in kinds + queued} - set(FAULT_KINDS))
        if unknown:
            raise AdminError(f"unknown fault kinds {unknown}; known: {list(FAULT_KINDS)}")
        if methods is not None and (
            not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)
        ):
            raise AdminError("methods must be a list of HTTP methods or null")
        paths = body.get("paths")
        if paths is not None and (
            not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)
        ):
            raise AdminError("paths must be a list of path fragments or null")
        faults = {"paths": paths or None,
                  "rate": float(rate), "kinds": kinds, "seed": body.get("seed", 0),
                  "next": queued, "draws": 0,
                  "methods": [m.upper() for m in methods] if methods else None}
        self.store.save_setting("faults", faults)
        return faults

    def _clear_faults(self, _: Request) -> dict[str, Any]:
        self.store.save_setting("faults", dict(NO_FAULTS))
        return dict(NO_FAULTS)

    def _requests(self, request: Request) -> dict[str, Any]:
        since = request.param("since") or "0"
        if not since.isdigit():
            raise AdminError("since must be a non-negative integer")
        entries = self.store.log_entries(int(since))
        return {"requests": entries, "count": self.store.log_count()}

    def _clear_requests(self, _: Request) -> dict[str, Any]:
        self.store.conn.execute("truncate sim.request_log")
        return {"ok": True}


# -- HTTPS server -------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoint
    server_version = "SalesforceSimulator/1.0"
    sys_version = ""
    timeout = 60  # an idle keep-alive connection frees its thread after a minute
    server: _HttpsServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.simulator.verbose:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()}, body,
        )
        simulator = self.server.simulator
        try:
            if parts.path.startswith("/__sandbox/"):
                reply = simulator.admin.handle(request)
            else:
                reply = simulator.api.handle(request)
        except psycopg.Error as error:
            reply = Reply(500, [{"errorCode": "UNKNOWN_EXCEPTION",
                                 "message": f"simulator state store failed: {error}"}])
        if reply.drop:
            self._drop()
        else:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        # Nothing is written; SO_LINGER 0 makes the close that follows abort the TCP
        # connection (no TLS close_notify either), so the client sees it die with no
        # response at all, as when a load balancer fails mid-request.
        self.close_connection = True
        with suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))


class _HttpsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext,
                 simulator: SalesforceSimulator) -> None:
        self.context = context
        self.simulator = simulator
        self.open_sockets: set[ssl.SSLSocket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread, so a slow or
        # half-open client (a port probe) never blocks the accept loop.
        request.settimeout(10)
        # Headers and body leave in separate writes; without NODELAY, Nagle plus the
        # client's delayed ACK would add 40 ms to every response.
        with suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self.sockets_lock:
            self.open_sockets.add(tls)
        try:
            _Handler(tls, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self.sockets_lock:
                self.open_sockets.discard(tls)
            with suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.simulator.verbose:
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class SalesforceSimulator:
    """The simulator as an object: `start()` serves in a background thread."""

    def __init__(self, dsn: str, port: int, certs_dir: Path, client_id: str,
                 client_secret: str, host: str = "127.0.0.1", verbose: bool = False) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the simulator listens on the loopback interface only")
        self.dsn, self.port, self.host = dsn, port, host
        self.certs_dir = Path(certs_dir)
        self.verbose = verbose
        self.store = Store(dsn)
        self.api = SalesforceApi(self.store, lambda: self.url, client_id, client_secret)
        self.admin = Admin(self.store)
        self._server: _HttpsServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            return
        certs = ensure_certificates(self.certs_dir)
        self.store.ensure_schema()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certs.cert, certs.key)
        self._server = _HttpsServer((self.host, self.port), context, self)
        self.port = self._server.server_address[1]  # port 0 means "any free port"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
            name=f"salesforce-sim-{self.port}", daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.store.close()

    def __enter__(self) -> SalesforceSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.salesforce", description="Serve the Salesforce simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--dsn", required=True, help="Postgres database holding the state")
    parser.add_argument("--certs-dir", type=Path, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    simulator = SalesforceSimulator(
        args.dsn, args.port, args.certs_dir, args.client_id, args.client_secret,
        host=args.host, verbose=args.verbose,
    )
    try:
        simulator.start()
    except (OSError, psycopg.Error, ValueError) as error:
        print(f"salesforce simulator: cannot start: {error}", file=sys.stderr)
        return 3
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"salesforce simulator listening on {simulator.url}", flush=True)
    while not stopping.wait(0.5):
        pass
    simulator.stop()
    print("salesforce simulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
