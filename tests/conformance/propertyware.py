"""The PropertyWare harness: work-order status write-back on sandbox/propertyware.

Also the simulator fixture (`propertyware_sim`) and the helpers that write
`sync.propertyware_work_orders_to_update` (a plain table with the contract's
columns), shared with tests/integration/test_push_propertyware.py. PropertyWare work
orders are only updated: the suite skips its create-pass tests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from unittest import mock

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from common import http
from common.settings import Settings
from reverse_etl import registry
from reverse_etl.destinations import build_destination, propertyware_soap
from reverse_etl.destinations.base import Destination, Payload
from reverse_etl.registry import Sync
from reverse_etl.warehouse import read_sync_view
from sandbox.propertyware import SERVICE_PATH, PropertyWareSimulator
from sandbox.propertyware_admin import PropertyWareAdmin
from tests.conformance.harness import Change
from tests.conftest import PostgresServer, free_port

USER, PASSWORD = "api-user@org-push", "pw-push-secret"
UPDATE_VIEW = registry.by_name("propertyware.work_orders.update").view
# An ID no fixture uses: the work order "was deleted" in PropertyWare.
MISSING_ID_OFFSET = 9_000_000


@dataclass
class PropertyWareSim:
    url: str
    ca_bundle: str
    admin: PropertyWareAdmin

    def settings_env(self) -> dict[str, str]:
        return {
            "PROPERTYWARE_WSDL_URL": f"{self.url}{SERVICE_PATH}?wsdl",
            "PROPERTYWARE_USERNAME": USER,
            "PROPERTYWARE_PASSWORD": PASSWORD,
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
        }


@pytest.fixture
def propertyware_sim(
    postgres_server: PostgresServer, simulator_certs_dir: Path
) -> Iterator[PropertyWareSim]:
    """A PropertyWare simulator of its own: state database, free port."""
    database = postgres_server.create_database("pwpush")
    simulator = PropertyWareSimulator(
        postgres_server.dsn(database), free_port(), simulator_certs_dir, USER, PASSWORD
    )
    simulator.start()
    ca_bundle = str(simulator_certs_dir / "ca.pem")
    try:
        yield PropertyWareSim(simulator.url, ca_bundle, PropertyWareAdmin(simulator.url, ca_bundle))
    finally:
        simulator.stop()
        postgres_server.drop_database(database)


def work_order(number: int, status: str = "Open") -> dict[str, Any]:
    """A fixture work order (`ID` 1000 + number, number 5000 + number)."""
    return {
        "ID": 1000 + number,
        "number": 5000 + number,
        "status": status,
        "priority": "Normal",
        "description": f"Leaking tap {number}",
    }


def _table(qualified_name: str) -> sql.Composable:
    return sql.Identifier(*qualified_name.split("."))


def create_update_view(conn: psycopg.Connection[Any]) -> None:
    conn.execute(sql.SQL("create schema if not exists {}").format(
        sql.Identifier(UPDATE_VIEW.split(".")[0])))
    conn.execute(
        sql.SQL('create table {} ("ID" text, status text, _sync_key text, _payload_hash text, '
                "_group_key text, _before jsonb)").format(_table(UPDATE_VIEW))
    )


def put_updates(
    conn: psycopg.Connection[Any],
    rows: Sequence[tuple[str, str, str | None]],
    keys: Sequence[str] | None = None,
) -> None:
    """Rows of (ID, the status to write, the status PropertyWare holds now); `keys`:
    their `_sync_key`s when not the ID (a row whose work order has gone)."""
    conn.execute(sql.SQL("truncate {}").format(_table(UPDATE_VIEW)))
    with conn.cursor() as cursor:
        cursor.executemany(
            sql.SQL("insert into {} values (%s, %s, %s, %s, %s, %s)").format(_table(UPDATE_VIEW)),
            [
                [
                    rid, status, key,
                    hashlib.md5(json.dumps([rid, status]).encode()).hexdigest(), key,
                    Jsonb({"status": before}),
                ]
                for (rid, status, before), key in zip(
                    rows, keys or [row[0] for row in rows], strict=True
                )
            ],
        )


def build_client(sync: Sync, settings: Settings, sleep: Callable[[float], None], *,
                 dry_run: bool) -> Destination:
    def session(settings: Settings, api: str, **options: Any) -> http.PolicySession:
        return http.policy_session(settings, api, **{**options, "sleep": sleep})

    with mock.patch.object(propertyware_soap, "policy_session", session):
        return build_destination(sync, settings, require_credentials=not dry_run)


class PropertyWareHarness:
    destination = "propertyware"
    entity = "work_orders"
    rejection_code = "NOT_FOUND"
    rejected_field = "ID"
    # `slow` applies the update and answers after the read timeout: the response is
    # lost, the stack resends the (idempotent) update.
    lost_response_faults = ("slow",)
    lost_write_resends = 1
    one_record_per_write = True
    rejection_sent = False
    lost_response_aborts = False
    unsupported_faults: Mapping[str, str] = MappingProxyType({
        "throttle": "PropertyWare has no rate-limit answer (no 429) to honour",
        "expired_session": "PropertyWare authenticates every request (HTTP Basic): no session",
    })

    def __init__(self, sim: PropertyWareSim) -> None:
        self.sim = sim
        self.admin = sim.admin
        self._ids: dict[str, int] = {}

    def env(self) -> dict[str, str]:
        # A short read timeout so that the `slow` fault loses a response in a second.
        return {**self.sim.settings_env(), "PROPERTYWARE_MAX_RPS": "1000",
                "HTTP_TIMEOUT_S": "1"}

    def slow_env(self) -> dict[str, str]:
        return {"PROPERTYWARE_MAX_RPS": "1"}

    def create_views(self, conn: psycopg.Connection[Any]) -> None:
        create_update_view(conn)

    def put_creates(self, conn: psycopg.Connection[Any], payloads: Sequence[Payload]) -> None:
        raise NotImplementedError("PropertyWare work orders have no create pass")

    def put_updates(self, conn: psycopg.Connection[Any], changes: Sequence[Change]) -> None:
        rows, keys = [], []
        for change in changes:
            rid = change.record_id
            keys.append(rid)
            if change.after.get("missing"):
                rid = str(change.after["ID"])
            rows.append((rid, str(change.after["status"]), str(change.before["status"])))
        put_updates(conn, rows, keys)

    def read_back(self, conn: psycopg.Connection[Any], sync: Sync) -> None:
        held = {str(w["ID"]): w for w in self.admin.objects("workOrders")}
        done = [row.sync_key for row in read_sync_view(conn, sync.view)
                if row.sync_key in held and held[row.sync_key].get("status")
                == row.payload["status"]]
        conn.execute(
            sql.SQL("delete from {} where _sync_key = any(%s)").format(_table(sync.view)), (done,)
        )

    def payload(self, number: int) -> dict[str, Any]:
        return work_order(number)

    def key_of(self, payload: Payload) -> str:
        return str(payload["number"])

    def rejected(self, payload: Payload) -> dict[str, Any]:
        # The row names a work order PropertyWare no longer holds.
        return {**payload, "ID": MISSING_ID_OFFSET + int(payload["ID"]), "missing": True}

    def changed(self, payload: Payload) -> dict[str, Any]:
        return {**payload, "status": "On Site"}

    def seed(self, payloads: Sequence[Payload]) -> list[str]:
        self.admin.load({"workOrders": [dict(p) for p in payloads]})
        return [str(p["ID"]) for p in payloads]

    def client(self, sync: Sync, settings: Settings, sleep: Callable[[float], None], *,
               dry_run: bool) -> Destination:
        return build_client(sync, settings, sleep, dry_run=dry_run)

    def records(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for item in self.admin.objects("workOrders"):
            found.setdefault(str(item.get("number")), []).append(item)
        return found

    def mismatches(self, record: Mapping[str, Any], payload: Payload) -> list[str]:
        if "ID" in payload and "number" not in payload:
            # A ledger payload (the update view's row): the refused ID is kept as sent.
            return [f for f, v in payload.items() if str(record.get(f)) != str(v)]
        return [f for f, v in payload.items()
                if f != "missing" and record.get(f) != v]

    def _log(self, since: int) -> list[dict[str, Any]]:
        return self.admin.requests(since_index=since)

    def mark(self) -> int:
        return self.admin.request_count()

    def requests(self, since: int = 0) -> int:
        # The simulator logs SOAP calls only (the WSDL download is not an API call).
        return len(self._log(since))

    def writes(self, since: int = 0) -> int:
        return sum(1 for e in self._log(since) if e.get("operation") == "updateWorkOrder")

    def tokens(self, since: int = 0) -> int:
        return 0  # HTTP Basic on every request: no session to renew

    def lose_next_write_response(self, kind: str) -> None:
        self.admin.set_faults(next=[kind], operations=["updateWorkOrder"], delay_s=2.0)

    def throttle_next_write(self) -> float:
        pytest.skip(self.unsupported_faults["throttle"])

    def expire_session(self) -> None:
        pytest.skip(self.unsupported_faults["expired_session"])
