"""The Supabase destination (a Postgres written set-based) against a real Postgres
target, through the engine and the ledger: creates, reruns, refused rows, updates,
dry runs, lost connections and configuration errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from common.settings import Settings
from reverse_etl import registry
from reverse_etl.destinations.base import DestinationConfigError, PassAborted
from reverse_etl.destinations.supabase import SupabaseDestination
from reverse_etl.engine import RunResult, run_pass
from reverse_etl.ledger import Ledger
from sandbox.generate.supabase import create_supabase
from tests.conftest import PostgresServer

pytestmark = pytest.mark.integration

OFFICES_CREATE = registry.by_name("supabase.offices.create")
OFFICES_UPDATE = registry.by_name("supabase.offices.update")
PROFILES_CREATE = registry.by_name("supabase.profiles.create")
OPERATIONS_CREATE = registry.by_name("supabase.operations.create")
STAMP = "2026-01-05T10:00:00+00:00"


@pytest.fixture(autouse=True)
def no_developer_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path / "no-sandbox"))


@pytest.fixture
def warehouse(fresh_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("create schema sync")
        yield conn


@pytest.fixture
def target(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database("supa")
    dsn = postgres_server.dsn(name)
    create_supabase(dsn)
    yield dsn
    postgres_server.drop_database(name)


def settings_for(conn: psycopg.Connection[Any], target: str, **extra: str) -> Settings:
    info = conninfo_to_dict(conn.info.dsn)
    return Settings.from_env(
        {
            "PGHOST": str(info.get("host", "127.0.0.1")),
            "PGPORT": str(info.get("port", 5432)),
            "PGUSER": str(info.get("user", "postgres")),
            "PGPASSWORD": conn.info.password or "postgres",
            "PGDATABASE": str(info["dbname"]),
            "SUPABASE_DATABASE_URL": target,
            "SAFE_MODE": "off",
            **extra,
        }
    )


def office(n: int, **changes: Any) -> dict[str, Any]:
    row = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"test:office:{n}")),
        "legacy_office_id": n,
        "name": f"Office {n}",
        "address": f"{n} Main St",
        "phone": None,
        "timezone": "America/Chicago",
        "is_active": True,
        "deleted_at": None,
        "created_at": STAMP,
        "updated_at": STAMP,
    }
    return {**row, **changes}


def profile(n: int, office_id: str | None) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"test:profile:{n}")),
        "legacy_user_id": n,
        "email": f"user{n}@example.com",
        "first_name": "Ann",
        "last_name": f"Lee {n}",
        "role": "staff",
        "office_id": office_id,
        "is_active": True,
        "deleted_at": None,
        "created_at": STAMP,
        "updated_at": STAMP,
    }


def put_view(
    conn: psycopg.Connection[Any], view: str, rows: Sequence[dict[str, Any]], key: str
) -> None:
    """A sync view as the models shape it: the target's columns + the control columns.
    A table stands in for the view (the reader reads any relation)."""
    columns = list(rows[0])
    conn.execute(f"drop table if exists {view}")
    conn.execute(
        f"create table {view} ("
        + ", ".join(f"{c} text" for c in columns)
        + ", _sync_key text, _payload_hash text)"
    )
    with conn.cursor() as cursor:
        for row in rows:
            values = [
                json.dumps(row[c]) if isinstance(row[c], dict) else row[c] for c in columns
            ]
            cursor.execute(
                f"insert into {view} values ({', '.join(['%s'] * (len(columns) + 2))})",
                [*values, str(row[key]), f"h{row[key]}-{row.get('name', '')}"],
            )


def push(
    conn: psycopg.Connection[Any], settings: Settings, sync: registry.Sync, **options: Any
) -> RunResult:
    client = SupabaseDestination(settings, object_name=sync.object_name)
    try:
        return run_pass(settings, Ledger(conn), client, sync, skip_gate=True, **options)
    finally:
        client.close()


def held(target: str, table: str, key: str) -> dict[int, dict[str, Any]]:
    with psycopg.connect(target) as conn, conn.cursor() as cursor:
        cursor.execute(f"select * from public.{table}")
        names = [column.name for column in cursor.description or []]
        return {row[names.index(key)]: dict(zip(names, row, strict=True)) for row in cursor}


def test_creates_then_a_rerun_finds_them_all_present(
    warehouse: psycopg.Connection[Any], target: str
) -> None:
    put_view(warehouse, OFFICES_CREATE.view, [office(n) for n in (1, 2, 3)], "legacy_office_id")
    settings = settings_for(warehouse, target)

    first = push(warehouse, settings, OFFICES_CREATE)
    again = push(warehouse, settings, OFFICES_CREATE)

    assert (first.status, first.counts.created) == ("succeeded", 3), first.error
    assert (again.status, again.counts.created, again.counts.already_present) == (
        "succeeded",
        0,
        3,
    )
    rows = held(target, "offices", "legacy_office_id")
    assert sorted(rows) == [1, 2, 3]
    assert str(rows[2]["id"]) == office(2)["id"]  # the models' uuid, not a new one
    assert rows[2]["address"] == "2 Main St" and rows[2]["phone"] is None
    # The ledger knows each record by the target's id, found again on the rerun.
    recorded = warehouse.execute(
        "select outcome, record_id from reverse_etl.sync_records where run_id = %s "
        "and sync_key = '2'",
        (again.run_id,),
    ).fetchone()
    assert recorded == ("already_present", office(2)["id"])


def test_a_refused_row_is_rejected_with_its_reason_and_the_rest_is_written(
    warehouse: psycopg.Connection[Any], target: str
) -> None:
    settings = settings_for(warehouse, target)
    put_view(warehouse, OFFICES_CREATE.view, [office(1)], "legacy_office_id")
    assert push(warehouse, settings, OFFICES_CREATE).status == "succeeded"
    ghost = str(uuid.uuid4())  # an office the target does not hold
    profiles = [profile(n, office(1)["id"]) for n in range(10, 17)]
    profiles[3] = profile(13, ghost)
    put_view(warehouse, PROFILES_CREATE.view, profiles, "legacy_user_id")

    result = push(warehouse, settings, PROFILES_CREATE)

    assert (result.status, result.exit_code) == ("partial", 1)
    assert (result.counts.created, result.counts.rejected) == (6, 1)
    assert sorted(held(target, "profiles", "legacy_user_id")) == [10, 11, 12, 14, 15, 16]
    code, message = warehouse.execute(
        "select error_code, error_message from reverse_etl.rejected_records "
        "where run_id = %s and sync_key = '13'",
        (result.run_id,),
    ).fetchone() or (None, None)
    assert code == "FOREIGN_KEY"
    assert "office_id" in message and ghost in message


def test_an_id_held_by_another_row_is_rejected_not_overwritten(
    warehouse: psycopg.Connection[Any], target: str
) -> None:
    settings = settings_for(warehouse, target)
    put_view(warehouse, OFFICES_CREATE.view, [office(1)], "legacy_office_id")
    push(warehouse, settings, OFFICES_CREATE)
    clash = office(2, id=office(1)["id"])
    put_view(warehouse, OFFICES_CREATE.view, [clash, office(3)], "legacy_office_id")

    result = push(warehouse, settings, OFFICES_CREATE)

    assert (result.counts.created, result.counts.rejected) == (1, 1)
    rows = held(target, "offices", "legacy_office_id")
    assert sorted(rows) == [1, 3] and rows[1]["name"] == "Office 1"


def test_updates_write_every_column_by_id_and_a_missing_row_is_not_found(
    warehouse: psycopg.Connection[Any], target: str
) -> None:
    settings = settings_for(warehouse, target)
    put_view(warehouse, OFFICES_CREATE.view, [office(1), office(2)], "legacy_office_id")
    push(warehouse, settings, OFFICES_CREATE)
    deleted = "2026-02-01T00:00:00+00:00"
    changes = [
        office(1, name="Office One", updated_at="2026-02-01T09:30:00+00:00"),
        office(2, deleted_at=deleted),  # a source delete arrives as an update
        office(9),  # not in the target
    ]
    put_view(warehouse, OFFICES_UPDATE.view, changes, "legacy_office_id")

    result = push(warehouse, settings, OFFICES_UPDATE)

    assert (result.counts.updated, result.counts.rejected) == (2, 1)
    rows = held(target, "offices", "legacy_office_id")
    assert rows[1]["name"] == "Office One"
    assert rows[1]["updated_at"].isoformat() == "2026-02-01T09:30:00+00:00"
    assert rows[2]["deleted_at"].isoformat() == "2026-02-01T00:00:00+00:00"
    assert sorted(rows) == [1, 2]  # never deleted, never created by an update
    code = warehouse.execute(
        "select error_code from reverse_etl.rejected_records where run_id = %s",
        (result.run_id,),
    ).fetchone()
    assert code == ("NOT_FOUND",)


def test_money_and_json_arrive_exactly(
    warehouse: psycopg.Connection[Any], target: str
) -> None:
    settings = settings_for(warehouse, target)
    client = SupabaseDestination(settings, object_name="offices")
    try:
        client.create([office(1)])
    finally:
        client.close()
    office_id = office(1)["id"]
    patient_id, case_id = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute(
            "insert into patients (id, legacy_patient_id, office_id, patient_number, status, "
            "treatment_phase, legacy_data, created_at, updated_at) values "
            "(%s, 1, %s, 'P-1', 'new', 'not_started', '{}', now(), now())",
            (patient_id, office_id),
        )
        conn.execute(
            "insert into cases (id, legacy_instruction_id, patient_id, case_type, status, "
            "created_at, updated_at) values (%s, 1, %s, 'aligner', 'open', now(), now())",
            (case_id, patient_id),
        )
    metadata = {"legacy_id": 7, "sq_order_id": "sq-1", "card_last": "0042", "office_card": None,
                # beyond 64 bits (orjson refuses it: json.dumps writes it), a small float,
                # quotes, a backslash, accents and an emoji, nesting
                "big": 123456789012345678901234567890, "tiny": 1e-07,
                "note": 'a "quote" \\ é 😀', "nested": [1, 2.5, {"k": None}]}
    operation = {
        "id": str(uuid.uuid4()),
        "legacy_operation_id": 7,
        "case_id": case_id,
        "operation_type": "payment",
        # 1234567890.12 as a float is exact to the cent only if nothing rounds it again
        "amount": 1234567890.12,
        "metadata": metadata,
        "made_at": None,
        "deleted_at": None,
        "created_at": STAMP,
        "updated_at": STAMP,
    }
    client = SupabaseDestination(settings, object_name="operations")
    try:
        (outcome,) = client.create([operation])
    finally:
        client.close()

    assert outcome.kind == "ok"
    row = held(target, "operations", "legacy_operation_id")[7]
    assert str(row["amount"]) == "1234567890.12"
    assert row["metadata"] == metadata


def test_a_dry_run_writes_nothing_to_the_target(
    warehouse: psycopg.Connection[Any], target: str
) -> None:
    put_view(warehouse, OFFICES_CREATE.view, [office(1), office(2)], "legacy_office_id")

    result = push(warehouse, settings_for(warehouse, target), OFFICES_CREATE, dry_run=True)

    assert (result.status, result.counts.would_create) == ("succeeded", 2)
    assert held(target, "offices", "legacy_office_id") == {}


def test_a_lost_connection_aborts_and_the_rerun_converges(
    warehouse: psycopg.Connection[Any], target: str
) -> None:
    rows = [office(n) for n in range(1, 31)]
    put_view(warehouse, OFFICES_CREATE.view, rows, "legacy_office_id")
    settings = settings_for(warehouse, target)
    client = SupabaseDestination(settings, object_name="offices")
    client.max_batch = 10
    sent = 0
    original = client.create

    def create_then_lose(batch: Sequence[dict[str, Any]]) -> Any:
        nonlocal sent
        sent += 1
        if sent == 2:
            # The target drops the session, as a failover or a restart would.
            with psycopg.connect(target, autocommit=True) as admin:
                admin.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity "
                    "where datname = current_database() and pid <> pg_backend_pid()"
                )
        return original(batch)

    client.create = create_then_lose  # type: ignore[method-assign]
    try:
        first = run_pass(settings, Ledger(warehouse), client, OFFICES_CREATE, skip_gate=True)
    finally:
        client.close()

    assert (first.status, first.exit_code) == ("failed", 3)
    assert first.counts.created == 10
    assert len(held(target, "offices", "legacy_office_id")) == 10

    again = push(warehouse, settings, OFFICES_CREATE)

    assert (again.status, again.counts.created, again.counts.already_present) == (
        "succeeded",
        20,
        10,
    )
    assert sorted(held(target, "offices", "legacy_office_id")) == list(range(1, 31))


def test_configuration_errors_name_what_to_do(
    warehouse: psycopg.Connection[Any], target: str, postgres_server: PostgresServer
) -> None:
    unset = SupabaseDestination(
        settings_for(warehouse, target, SUPABASE_DATABASE_URL=""), object_name="offices"
    )
    with pytest.raises(DestinationConfigError, match="set SUPABASE_DATABASE_URL"):
        unset.check_configuration()

    # The test cluster trusts local users, so the refusal here is a database it lacks.
    wrong = target.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(DestinationConfigError, match="check SUPABASE_DATABASE_URL") as refused:
        SupabaseDestination(
            settings_for(warehouse, wrong), object_name="offices"
        ).health_check()
    assert "postgresql://" not in str(refused.value)  # the URL holds the password

    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("drop table operations")
    with pytest.raises(DestinationConfigError, match=r"no table public\.operations"):
        SupabaseDestination(settings_for(warehouse, target), object_name="operations").create(
            [{"id": str(uuid.uuid4()), "legacy_operation_id": 1}]
        )

    with pytest.raises(PassAborted) as unreachable:
        SupabaseDestination(
            settings_for(warehouse, "postgresql://postgres:x@127.0.0.1:1/none"),
            object_name="offices",
        ).health_check()
    assert unreachable.value.exit_code == 3

    good = SupabaseDestination(settings_for(warehouse, target), object_name="offices")
    try:
        assert "answered" in good.health_check()
    finally:
        good.close()


def test_operations_sync_is_registered_after_its_parents() -> None:
    names = [s.object_name for s in registry.select("supabase", "create")]
    assert names == ["offices", "profiles", "doctors", "patients", "cases", "operations"]
    assert OPERATIONS_CREATE.gate == "dispatch"
