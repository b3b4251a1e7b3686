"""The Supabase harness: `public.offices` on a real Postgres target database.

The target is a database of the test run's Postgres holding the contracts' tables
(`create_supabase`, the sandbox's DDL). The pusher reaches it through
`PostgresProxy` (postgres_proxy.py), which plays the simulator's part: it logs
sessions and statements and loses a commit's reply on demand. The harness itself
reads and seeds the target directly, so its own statements are not in the log.

A database destination has no rate-limit answer and no session token, so the 429
and expired-session tests are skipped (`unsupported_faults`). A lost reply aborts
the pass (a client cannot tell a lost commit from one never made): the suite then
checks that the rerun finds what the lost write applied (`lost_response_aborts`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from common.settings import Settings
from reverse_etl import registry
from reverse_etl.destinations import build_destination
from reverse_etl.destinations.base import Destination, Payload
from reverse_etl.registry import Sync
from reverse_etl.warehouse import read_sync_view
from sandbox.generate.supabase import create_supabase
from tests.conformance.harness import Change
from tests.conformance.postgres_proxy import CONNECT, SLOW_APPLICATION, PostgresProxy
from tests.conftest import PostgresServer

TABLE = "offices"
KEY = "legacy_office_id"
CREATE_VIEW = registry.by_name("supabase.offices.create").view
UPDATE_VIEW = registry.by_name("supabase.offices.update").view
STAMP = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
# The offices columns of the contracts' DDL, as the sync views type them.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    (KEY, "integer"),
    ("name", "text"),
    ("address", "text"),
    ("phone", "text"),
    ("timezone", "text"),
    ("is_active", "boolean"),
    ("deleted_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)
LOST_COMMIT_REPLY = "commit_reply_lost"


@dataclass
class SupabaseTarget:
    dsn: str  # direct, for the harness
    proxy: PostgresProxy
    user: str
    password: str
    database: str

    def url(self, *, slow: bool = False) -> str:
        """The pusher's URL: through the proxy, without TLS (the proxy reads the wire)."""
        url = (
            f"postgresql://{self.user}:{self.password}@{self.proxy.host}:{self.proxy.port}/"
            f"{self.database}?sslmode=disable&gssencmode=disable"
        )
        return f"{url}&application_name={SLOW_APPLICATION}" if slow else url


@pytest.fixture
def supabase_target(postgres_server: PostgresServer) -> Iterator[SupabaseTarget]:
    """A target database of its own with the contracts' tables, behind a proxy."""
    database = postgres_server.create_database("supaconf")
    dsn = postgres_server.dsn(database)
    create_supabase(dsn)
    proxy = PostgresProxy(postgres_server.host, postgres_server.port)
    proxy.start()
    try:
        yield SupabaseTarget(
            dsn, proxy, postgres_server.user, postgres_server.password, database
        )
    finally:
        proxy.stop()
        postgres_server.drop_database(database)


# -- the sync views -------------------------------------------------------------------


def _table(qualified_name: str) -> sql.Composable:
    return sql.Identifier(*qualified_name.split("."))


def _hash(payload: Mapping[str, Any]) -> str:
    return hashlib.md5(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _copy_rows(
    conn: psycopg.Connection[Any],
    relation: sql.Composable,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    # COPY: the suite's views hold tens of thousands of rows (10,000-row batches).
    with conn.cursor() as cursor, cursor.copy(
        sql.SQL("copy {} ({}) from stdin").format(
            relation, sql.SQL(", ").join(sql.Identifier(n) for n in names)
        )
    ) as copy:
        for row in rows:
            copy.write_row(row)


def _same(held: Any, wanted: Any) -> bool:
    if isinstance(held, dt.datetime) and isinstance(wanted, str):
        return held == dt.datetime.fromisoformat(wanted)
    if isinstance(wanted, dt.datetime) and isinstance(held, str):
        return dt.datetime.fromisoformat(held) == wanted
    if isinstance(held, uuid.UUID) or isinstance(wanted, uuid.UUID):
        return str(held) == str(wanted)
    return bool(held == wanted)


# -- the harness ----------------------------------------------------------------------


class SupabaseHarness:
    destination = "supabase"
    entity = TABLE
    # `name` is NOT NULL: a row without one is refused alone.
    rejection_code = "REQUIRED_FIELD_MISSING"
    rejected_field = "name"
    lost_response_faults = (LOST_COMMIT_REPLY,)
    # The rerun sends the lost batch again; `on conflict do nothing` finds its rows.
    lost_write_resends = 1
    lost_response_aborts = True
    one_record_per_write = False
    rejection_sent = True
    unsupported_faults: Mapping[str, str] = MappingProxyType({
        "throttle": "a database has no rate-limit answer (no 429, no Retry-After)",
        "expired_session": "a database session has no token to expire and renew",
    })

    def __init__(self, target: SupabaseTarget) -> None:
        self.target = target
        self.proxy = target.proxy

    # -- configuration ------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {"SUPABASE_DATABASE_URL": self.target.url()}

    def slow_env(self) -> dict[str, str]:
        return {"SUPABASE_DATABASE_URL": self.target.url(slow=True)}

    # -- the warehouse ------------------------------------------------------------

    def create_views(self, conn: psycopg.Connection[Any]) -> None:
        for view in {CREATE_VIEW.split(".")[0], UPDATE_VIEW.split(".")[0]}:
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(view)))
        defined = ", ".join(f'"{name}" {kind}' for name, kind in COLUMNS)
        conn.execute(
            sql.SQL(f"create table {{}} ({defined}, _sync_key text, _payload_hash text)").format(
                _table(CREATE_VIEW)
            )
        )
        conn.execute(
            sql.SQL(
                f"create table {{}} ({defined}, _sync_key text, _payload_hash text, _before jsonb)"
            ).format(_table(UPDATE_VIEW))
        )

    def put_creates(self, conn: psycopg.Connection[Any], payloads: Sequence[Payload]) -> None:
        conn.execute(sql.SQL("truncate {}").format(_table(CREATE_VIEW)))
        names = [name for name, _ in COLUMNS]
        _copy_rows(
            conn,
            _table(CREATE_VIEW),
            [*names, "_sync_key", "_payload_hash"],
            [[*(p.get(n) for n in names), self.key_of(p), _hash(p)] for p in payloads],
        )

    def put_updates(self, conn: psycopg.Connection[Any], changes: Sequence[Change]) -> None:
        conn.execute(sql.SQL("truncate {}").format(_table(UPDATE_VIEW)))
        names = [name for name, _ in COLUMNS]
        # The models key both passes on the legacy id (as text), the record id of seed().
        _copy_rows(
            conn,
            _table(UPDATE_VIEW),
            [*names, "_sync_key", "_payload_hash", "_before"],
            [
                [*(c.after.get(n) for n in names), c.record_id, _hash(c.after),
                 Jsonb(dict(c.before))]
                for c in changes
            ],
        )

    def read_back(self, conn: psycopg.Connection[Any], sync: Sync) -> None:
        records = self.records()
        if sync.pass_name == "create":
            done = list(records)
        else:
            done = [
                row.sync_key
                for row in read_sync_view(conn, sync.view)
                if any(not self.mismatches(r, row.payload) for r in records.get(row.sync_key, []))
            ]
        conn.execute(
            sql.SQL("delete from {} where _sync_key = any(%s)").format(_table(sync.view)), (done,)
        )

    # -- payloads -----------------------------------------------------------------

    def payload(self, number: int) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"conformance:office:{number}")),
            KEY: number + 1,
            "name": f"Office {number}",
            "address": f"{number} Main St",
            "phone": None,
            "timezone": "America/Chicago",
            "is_active": True,
            "deleted_at": None,
            "created_at": STAMP.isoformat(),
            "updated_at": STAMP.isoformat(),
        }

    def key_of(self, payload: Payload) -> str:
        return str(payload[KEY])

    def rejected(self, payload: Payload) -> dict[str, Any]:
        return {**payload, "name": None}

    def changed(self, payload: Payload) -> dict[str, Any]:
        return {
            **payload,
            "name": f"{payload['name']} (renamed)",
            "address": f"{payload['address']} (moved)",
            "updated_at": (STAMP + dt.timedelta(days=30)).isoformat(),
        }

    # -- the destination ----------------------------------------------------------

    def seed(self, payloads: Sequence[Payload]) -> list[str]:
        names = [name for name, _ in COLUMNS]
        with psycopg.connect(self.target.dsn, autocommit=True) as conn:
            _copy_rows(
                conn,
                sql.SQL("public.{}").format(sql.Identifier(TABLE)),
                names,
                [[p.get(n) for n in names] for p in payloads],
            )
        return [self.key_of(p) for p in payloads]

    def client(
        self, sync: Sync, settings: Settings, sleep: Callable[[float], None], *, dry_run: bool
    ) -> Destination:
        # No HTTP stack: nothing waits, so `sleep` has nothing to record.
        return build_destination(sync, settings, require_credentials=not dry_run)

    def records(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        with psycopg.connect(self.target.dsn) as conn, conn.cursor() as cursor:
            cursor.execute(sql.SQL("select * from public.{}").format(sql.Identifier(TABLE)))
            names = [column.name for column in cursor.description or []]
            for row in cursor:
                record = dict(zip(names, row, strict=True))
                found.setdefault(str(record[KEY]), []).append(record)
        return found

    def mismatches(self, record: Mapping[str, Any], payload: Payload) -> list[str]:
        return [f for f, v in payload.items() if not _same(record.get(f), v)]

    # -- the request log ----------------------------------------------------------

    def mark(self) -> int:
        return self.proxy.mark()

    def requests(self, since: int = 0) -> int:
        # A session and every round trip (a simple Query, or an extended Sync).
        return sum(1 for m in self.proxy.log(since) if m.kind in (CONNECT, "Q", "S"))

    def writes(self, since: int = 0) -> int:
        # A batch is one transaction, whatever its statements (COPY, insert, the
        # savepoints of a refused batch): the analogue of one write request.
        return sum(
            1 for m in self.proxy.log(since) if m.text.strip().upper().startswith("BEGIN")
        )

    def tokens(self, since: int = 0) -> int:
        # The session is the database's analogue of a token.
        return sum(1 for m in self.proxy.log(since) if m.kind == CONNECT)

    # -- faults -------------------------------------------------------------------

    def lose_next_write_response(self, kind: str) -> None:
        assert kind == LOST_COMMIT_REPLY, kind
        self.proxy.lose_next_commit_reply()

    def throttle_next_write(self) -> float:
        pytest.skip(self.unsupported_faults["throttle"])

    def expire_session(self) -> None:
        pytest.skip(self.unsupported_faults["expired_session"])
