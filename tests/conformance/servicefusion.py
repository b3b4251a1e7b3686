"""The ServiceFusion harness: parent customers on the simulator of sandbox/servicefusion.

Also the simulator fixture (`servicefusion_sim`) and the helpers that write the
ServiceFusion sync views (plain tables with the contract's columns), shared with
tests/integration/test_push_servicefusion.py.
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

from common import http
from common.settings import Settings
from reverse_etl import registry
from reverse_etl.destinations import build_destination
from reverse_etl.destinations import servicefusion as servicefusion_client
from reverse_etl.destinations.base import Destination, Payload
from reverse_etl.registry import Sync
from sandbox.servicefusion import ServiceFusionSimulator
from sandbox.servicefusion_admin import ServiceFusionAdmin
from tests.conformance.harness import Change
from tests.conftest import PostgresServer, free_port

CLIENT_ID, CLIENT_SECRET = "sf-push-client", "sf-push-secret"
TOKEN_PATH = "/oauth/access_token"

PARENTS_VIEW = registry.by_name("servicefusion.parent_customers.create").view
CUSTOMERS_VIEW = registry.by_name("servicefusion.customers.create").view
JOBS_VIEW = registry.by_name("servicefusion.jobs.create").view

# view -> (columns with types, key column); json columns are jsonb
VIEWS: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    PARENTS_VIEW: (
        (("customer_name", "text"), ("account_number", "text"), ("private_notes", "text")),
        "account_number",
    ),
    CUSTOMERS_VIEW: (
        (
            ("customer_name", "text"), ("account_number", "text"),
            ("parent_customer", "text"), ("private_notes", "text"),
            ("locations", "jsonb"), ("contacts", "jsonb"),
        ),
        "account_number",
    ),
    JOBS_VIEW: (
        (
            ("customer_name", "text"), ("po_number", "text"), ("description", "text"),
            ("category", "text"), ("status", "text"), ("street_1", "text"),
            ("street_2", "text"), ("city", "text"), ("state_prov", "text"),
            ("postal_code", "text"), ("location_name", "text"),
        ),
        "po_number",
    ),
}


@dataclass
class ServiceFusionSim:
    url: str
    ca_bundle: str
    admin: ServiceFusionAdmin
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET

    def settings_env(self) -> dict[str, str]:
        return {
            "SERVICEFUSION_BASE_URL": self.url,
            "SERVICEFUSION_CLIENT_ID": self.client_id,
            "SERVICEFUSION_CLIENT_SECRET": self.client_secret,
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
        }


@pytest.fixture
def servicefusion_sim(
    postgres_server: PostgresServer, simulator_certs_dir: Path
) -> Iterator[ServiceFusionSim]:
    """A ServiceFusion simulator of its own: state database, free port."""
    database = postgres_server.create_database("sfpush")
    simulator = ServiceFusionSimulator(
        postgres_server.dsn(database), free_port(), simulator_certs_dir, CLIENT_ID, CLIENT_SECRET
    )
    simulator.start()
    ca_bundle = str(simulator_certs_dir / "ca.pem")
    try:
        admin = ServiceFusionAdmin(simulator.url, ca_bundle)
        sim = ServiceFusionSim(simulator.url, ca_bundle, admin)
        # The default 60 a minute would slow the tests; the client's rate is the test's.
        sim.admin.configure(rate_limit=100000)
        yield sim
    finally:
        simulator.stop()
        postgres_server.drop_database(database)


# -- the sync views -------------------------------------------------------------------


def _table(qualified_name: str) -> sql.Composable:
    return sql.Identifier(*qualified_name.split("."))


def create_view(conn: psycopg.Connection[Any], view: str) -> None:
    columns, _ = VIEWS[view]
    conn.execute(sql.SQL("create schema if not exists {}").format(
        sql.Identifier(view.split(".")[0])))
    defined = ", ".join(f'"{name}" {kind}' for name, kind in columns)
    conn.execute(
        sql.SQL(f"create table {{}} ({defined}, _sync_key text, _payload_hash text, "
                "_group_key text)").format(_table(view))
    )


def payload_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.md5(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def put_rows(
    conn: psycopg.Connection[Any], view: str, payloads: Sequence[Mapping[str, Any]]
) -> None:
    columns, key = VIEWS[view]
    conn.execute(sql.SQL("truncate {}").format(_table(view)))
    if not payloads:
        return
    names = ", ".join(f'"{name}"' for name, _ in columns)
    marks = ", ".join(["%s"] * (len(columns) + 3))

    def value(payload: Mapping[str, Any], name: str, kind: str) -> Any:
        item = payload.get(name)
        return json.dumps(item) if kind == "jsonb" and item is not None else item

    with conn.cursor() as cursor:
        cursor.executemany(
            sql.SQL(f"insert into {{}} ({names}, _sync_key, _payload_hash, _group_key) "
                    f"values ({marks})").format(_table(view)),
            [[*(value(p, n, k) for n, k in columns), p[key], payload_hash(p), p[key]]
             for p in payloads],
        )


def build_client(sync: Sync, settings: Settings, sleep: Callable[[float], None], *,
                 dry_run: bool) -> Destination:
    """The registry's client of `sync`, its HTTP waits (the stack's and its own POST
    retries') going to `sleep`."""

    def session(settings: Settings, api: str, **options: Any) -> http.PolicySession:
        return http.policy_session(settings, api, **{**options, "sleep": sleep})

    with (
        mock.patch.object(servicefusion_client, "policy_session", session),
        mock.patch.object(servicefusion_client, "SLEEP", sleep),
    ):
        return build_destination(sync, settings, require_credentials=not dry_run)


# -- the harness ----------------------------------------------------------------------


class ServiceFusionHarness:
    destination = "servicefusion"
    entity = "parent_customers"
    rejection_code = "VALIDATION_ERROR"
    rejected_field = "customer_name"
    lost_response_faults = ("drop_after", "503_after")
    # A create whose response was lost is looked up, not sent again.
    lost_write_resends = 0
    one_record_per_write = True
    rejection_sent = True
    lost_response_aborts = False
    unsupported_faults: Mapping[str, str] = MappingProxyType({})

    def __init__(self, sim: ServiceFusionSim) -> None:
        self.sim = sim
        self.admin = sim.admin

    def env(self) -> dict[str, str]:
        return {**self.sim.settings_env(), "SERVICEFUSION_MAX_RPS": "1000"}

    def slow_env(self) -> dict[str, str]:
        return {"SERVICEFUSION_MAX_RPS": "1"}

    def create_views(self, conn: psycopg.Connection[Any]) -> None:
        create_view(conn, PARENTS_VIEW)

    def put_creates(self, conn: psycopg.Connection[Any], payloads: Sequence[Payload]) -> None:
        put_rows(conn, PARENTS_VIEW, payloads)

    def put_updates(self, conn: psycopg.Connection[Any], changes: Sequence[Change]) -> None:
        raise NotImplementedError("ServiceFusion has no update pass")

    def read_back(self, conn: psycopg.Connection[Any], sync: Sync) -> None:
        customers = self.admin.customers()
        held = [str(c["account_number"]) for c in customers if c.get("account_number")]
        conn.execute(
            sql.SQL("delete from {} where _sync_key = any(%s)").format(_table(sync.view)), (held,)
        )

    def payload(self, number: int) -> dict[str, Any]:
        return {
            "customer_name": f"Portfolio {number}",
            "account_number": f"PW-P-{number + 1}",
            "private_notes": None,
        }

    def key_of(self, payload: Payload) -> str:
        return str(payload["account_number"])

    def rejected(self, payload: Payload) -> dict[str, Any]:
        # 45 characters at most: refused with 422 on customer_name.
        return {**payload, "customer_name": f"{payload['customer_name']} " + "x" * 50}

    def changed(self, payload: Payload) -> dict[str, Any]:
        return {**payload, "private_notes": "changed"}

    def seed(self, payloads: Sequence[Payload]) -> list[str]:
        return [str(i) for i in self.admin.load_customers([dict(p) for p in payloads])]

    def client(self, sync: Sync, settings: Settings, sleep: Callable[[float], None], *,
               dry_run: bool) -> Destination:
        return build_client(sync, settings, sleep, dry_run=dry_run)

    def records(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for customer in self.admin.customers():
            found.setdefault(str(customer.get("account_number")), []).append(customer)
        return found

    def mismatches(self, record: Mapping[str, Any], payload: Payload) -> list[str]:
        return [f for f, v in payload.items() if (record.get(f) or None) != (v or None)]

    def _log(self, since: int) -> list[dict[str, Any]]:
        return self.admin.requests(since_index=since)

    def mark(self) -> int:
        return self.admin.request_count()

    def requests(self, since: int = 0) -> int:
        return len(self._log(since))

    def writes(self, since: int = 0) -> int:
        return sum(1 for e in self._log(since)
                   if e["method"] == "POST" and e["path"].startswith("/v1/"))

    def tokens(self, since: int = 0) -> int:
        return sum(1 for e in self._log(since) if e["path"].rstrip("/") == TOKEN_PATH)

    def lose_next_write_response(self, kind: str) -> None:
        self.admin.set_faults(next=[kind], methods=["POST"], paths=["/v1/customers"])

    def throttle_next_write(self) -> float:
        # ServiceFusion's 429 carries no Retry-After: the client's backoff is the wait.
        self.admin.set_faults(next=["429"], methods=["POST"], paths=["/v1/customers"])
        return 0.0

    def expire_session(self) -> None:
        self.admin.expire_tokens()
