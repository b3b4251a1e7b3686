"""The Salesforce harness: `Product_Property__c` on the simulator of sandbox/salesforce.

Also the helpers that write the Salesforce sync views (plain tables with the columns
of docs/warehouse.md), shared with tests/integration/test_push_salesforce.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any
from unittest import mock

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from common import http
from common.settings import Settings
from reverse_etl import registry
from reverse_etl.destinations import build_destination
from reverse_etl.destinations import salesforce as salesforce_client
from reverse_etl.destinations.base import Destination, Payload
from reverse_etl.registry import Sync
from reverse_etl.warehouse import read_sync_view
from sandbox.salesforce.faults import fault_reply
from tests.conformance.harness import Change
from tests.integration.conftest import SalesforceSim

KEY = "Snappt_Property_ID__c"
FEATURES = ("Fraud_Detection", "Income_Verification", "IDV", "Rent_Verification")
WRITE_PATH = "/composite/sobjects"
TOKEN_PATH = "/services/oauth2/token"
# The sync views as the registry names them, so the tables follow a renamed view.
CREATE_VIEW = registry.by_name("salesforce.properties.create").view
UPDATE_VIEW = registry.by_name("salesforce.properties.update").view

CREATE_COLUMNS = (
    '"Name" text, "Snappt_Property_ID__c" text, "Company_Name__c" text, "Street__c" text, '
    '"City__c" text, "State__c" text, "Postal_Code__c" text, '
    + ", ".join(f'"{f}_Enabled__c" boolean, "{f}_Enabled_Date__c" date' for f in FEATURES)
    + ', "Active_Property_Count__c" integer, "Contributing_Property_IDs__c" text'
)
# City__c holds 40 characters; this one is refused with STRING_TOO_LONG.
TOO_LONG_CITY = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch"


# -- the sync views -------------------------------------------------------------------


def _table(qualified_name: str) -> sql.Composable:
    return sql.Identifier(*qualified_name.split("."))


def create_sync_views(conn: psycopg.Connection[Any]) -> None:
    """The create and update views as tables, with their control columns."""
    schemas = {CREATE_VIEW.split(".")[0], UPDATE_VIEW.split(".")[0]}
    for schema in sorted(schemas):
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
    conn.execute(
        sql.SQL(
            f"create table {{}} ({CREATE_COLUMNS}, "
            "_sync_key text, _payload_hash text, _group_key text)"
        ).format(_table(CREATE_VIEW))
    )
    # An update row names the record by its Id; the external id is not sent.
    update_columns = CREATE_COLUMNS.replace('"Snappt_Property_ID__c" text, ', "")
    conn.execute(
        sql.SQL(
            f'create table {{}} ("Id" text, {update_columns}, '
            "_sync_key text, _payload_hash text, _group_key text, _before jsonb)"
        ).format(_table(UPDATE_VIEW))
    )


def property_id(number: int) -> str:
    return str(uuid.UUID(int=number + 1))


def create_payload(number: int) -> dict[str, Any]:
    pid = property_id(number)
    payload: dict[str, Any] = {
        "Name": f"Property {number}",
        KEY: pid,
        "Company_Name__c": f"Company {number % 7}",
        "Street__c": f"{number} Main St",
        "City__c": "Austin",
        "State__c": "TX",
        "Postal_Code__c": f"{78700 + number % 100}",
    }
    for index, feature in enumerate(FEATURES):
        enabled = (number + index) % 3 == 0
        payload[f"{feature}_Enabled__c"] = enabled
        payload[f"{feature}_Enabled_Date__c"] = (
            dt.date(2024, 1, 1) + dt.timedelta(days=number % 300) if enabled else None
        )
    payload["Active_Property_Count__c"] = 1 + number % 2
    payload["Contributing_Property_IDs__c"] = pid
    return payload


def payload_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.md5(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def put_creates(conn: psycopg.Connection[Any], payloads: Sequence[Mapping[str, Any]]) -> None:
    conn.execute(sql.SQL("truncate {}").format(_table(CREATE_VIEW)))
    if not payloads:
        return
    columns = list(payloads[0])
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join(["%s"] * (len(columns) + 3))
    with conn.cursor() as cursor:
        cursor.executemany(
            sql.SQL(
                f"insert into {{}} ({names}, _sync_key, _payload_hash, _group_key) values ({marks})"
            ).format(_table(CREATE_VIEW)),
            [[*(p[c] for c in columns), p[KEY], payload_hash(p), p[KEY]] for p in payloads],
        )


def put_updates(
    conn: psycopg.Connection[Any], rows: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]
) -> None:
    """Rows of (the update view's fields with "Id", `_before`)."""
    conn.execute(sql.SQL("truncate {}").format(_table(UPDATE_VIEW)))
    if not rows:
        return
    columns = list(rows[0][0])
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join(["%s"] * (len(columns) + 4))
    with conn.cursor() as cursor:
        cursor.executemany(
            sql.SQL(
                f"insert into {{}} ({names}, _sync_key, _payload_hash, _group_key, _before) "
                f"values ({marks})"
            ).format(_table(UPDATE_VIEW)),
            [
                [*(row[c] for c in columns), row["Id"], payload_hash(row), row["Id"], Jsonb(b)]
                for row, b in rows
            ],
        )


def as_sent(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What Salesforce should hold for a payload: dates as YYYY-MM-DD."""
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in payload.items()}


# -- the harness ----------------------------------------------------------------------


class SalesforceHarness:
    destination = "salesforce"
    entity = "properties"
    rejection_code = "STRING_TOO_LONG"
    rejected_field = "City__c"
    lost_response_faults = ("drop_after", "503_after")
    lost_write_resends = 1
    one_record_per_write = False
    rejection_sent = True
    lost_response_aborts = False
    unsupported_faults: Mapping[str, str] = MappingProxyType({})

    def __init__(self, sim: SalesforceSim) -> None:
        self.sim = sim
        self.admin = sim.admin

    # -- configuration ------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {**self.sim.settings_env(), "SALESFORCE_MAX_RPS": "1000"}

    def slow_env(self) -> dict[str, str]:
        # The simulator has no delay fault; the client's own rate limiter, at one
        # request a second, spaces the token request and each batch by a second.
        return {"SALESFORCE_MAX_RPS": "1"}

    # -- the warehouse ------------------------------------------------------------

    def create_views(self, conn: psycopg.Connection[Any]) -> None:
        create_sync_views(conn)

    def put_creates(self, conn: psycopg.Connection[Any], payloads: Sequence[Payload]) -> None:
        put_creates(conn, payloads)

    def put_updates(self, conn: psycopg.Connection[Any], changes: Sequence[Change]) -> None:
        rows = []
        for change in changes:
            after = {k: v for k, v in change.after.items() if k != KEY}
            before = as_sent({k: v for k, v in change.before.items() if k != KEY})
            rows.append(({"Id": change.record_id, **after}, before))
        put_updates(conn, rows)

    def read_back(self, conn: psycopg.Connection[Any], sync: Sync) -> None:
        records = self.admin.records()
        if sync.pass_name == "create":
            held = [str(record[KEY]) for record in records if record[KEY]]
        else:
            by_id = {record["Id"]: record for record in records}
            held = [
                row.sync_key
                for row in read_sync_view(conn, sync.view)
                if row.sync_key in by_id and not self.mismatches(by_id[row.sync_key], row.payload)
            ]
        conn.execute(
            sql.SQL("delete from {} where _sync_key = any(%s)").format(_table(sync.view)),
            (held,),
        )

    # -- payloads -----------------------------------------------------------------

    def payload(self, number: int) -> dict[str, Any]:
        return create_payload(number)

    def key_of(self, payload: Payload) -> str:
        return str(payload[KEY])

    def rejected(self, payload: Payload) -> dict[str, Any]:
        return {**payload, "City__c": TOO_LONG_CITY}

    def changed(self, payload: Payload) -> dict[str, Any]:
        return {
            **payload,
            "City__c": "Dallas",
            "Street__c": f"{payload['Street__c']} (moved)",
            "IDV_Enabled__c": True,
            "IDV_Enabled_Date__c": dt.date(2025, 2, 3),
        }

    # -- the destination ----------------------------------------------------------

    def seed(self, payloads: Sequence[Payload]) -> list[str]:
        return self.admin.load_records([as_sent(p) for p in payloads])

    def client(
        self, sync: Sync, settings: Settings, sleep: Callable[[float], None], *, dry_run: bool
    ) -> Destination:
        # The registry's own factory builds the client; only the session it opens is
        # given the recording sleep, so retries cost no time.
        def session(settings: Settings, api: str, **options: Any) -> http.PolicySession:
            return http.policy_session(settings, api, **{**options, "sleep": sleep})

        with mock.patch.object(salesforce_client, "policy_session", session):
            return build_destination(sync, settings, require_credentials=not dry_run)

    def records(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for record in self.admin.records():
            found.setdefault(str(record[KEY]), []).append(record)
        return found

    def mismatches(self, record: Mapping[str, Any], payload: Payload) -> list[str]:
        return [field for field, value in as_sent(payload).items() if record.get(field) != value]

    # -- the request log ----------------------------------------------------------

    def _log(self, since: int) -> list[dict[str, Any]]:
        return self.admin.requests(since_index=since)

    def mark(self) -> int:
        return self.admin.request_count()

    def requests(self, since: int = 0) -> int:
        return len(self._log(since))

    def writes(self, since: int = 0) -> int:
        return sum(1 for e in self._log(since) if e["path"].endswith(WRITE_PATH))

    def tokens(self, since: int = 0) -> int:
        return sum(1 for e in self._log(since) if e["path"].rstrip("/") == TOKEN_PATH)

    # -- faults -------------------------------------------------------------------

    def lose_next_write_response(self, kind: str) -> None:
        # Only writes match, so the token request before the first write is spared.
        self.admin.set_faults(next=[kind], paths=[WRITE_PATH])

    def throttle_next_write(self) -> float:
        self.admin.set_faults(next=["429"], paths=[WRITE_PATH])
        # The simulator's own header, so the test follows it if it changes.
        return float(fault_reply("429").headers["Retry-After"])

    def expire_session(self) -> None:
        self.admin.expire_tokens()
