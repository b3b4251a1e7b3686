"""Pass semantics of the engine, against an in-memory destination and a real Postgres.

The fake destination behaves like a destination with a unique external id: a
second create of the same key answers `already_present`, never a second record.
Each test writes the sync view itself (a plain table with the docs/warehouse.md control
columns) and checks the destination's state and the ledger.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from rich.console import Console

from common.settings import Settings
from reverse_etl.destinations.base import (
    Outcome,
    PassAborted,
    Payload,
    already_present,
    ok,
    rejected,
)
from reverse_etl.engine import PassLocked, RunResult, field_diff, run_pass
from reverse_etl.ledger import Ledger
from reverse_etl.observer import ConsoleObserver, SilentObserver
from reverse_etl.registry import Sync
from reverse_etl.warehouse import SyncRow

CREATE_VIEW = "sync.properties_to_create"
UPDATE_VIEW = "sync.properties_to_update"
KEY = "Snappt_Property_ID__c"


class FakeDestination:
    """A destination in memory: records by id, unique on the external key."""

    name = "fake"
    object_name = "Thing__c"

    def __init__(
        self,
        *,
        max_batch: int = 200,
        validate: Callable[[Payload], tuple[str, str, list[str]] | None] = lambda _: None,
        lose_response_on_calls: Sequence[int] = (),
    ) -> None:
        self.max_batch = max_batch
        self.validate = validate
        self.lose_response_on_calls = set(lose_response_on_calls)
        self.records: dict[str, dict[str, Any]] = {}
        self.ids_by_key: dict[str, str] = {}
        self.calls: list[tuple[str, int]] = []
        self.created_total = 0

    @property
    def api_requests(self) -> int:
        return len(self.calls)

    def _after(self, outcomes: list[Outcome]) -> list[Outcome]:
        # The write happened; only the answer is lost on the way back.
        if len(self.calls) in self.lose_response_on_calls:
            raise PassAborted("fake: gave up after 6 attempts: connection reset")
        return outcomes

    def create(self, batch: Sequence[Payload]) -> list[Outcome]:
        self.calls.append(("create", len(batch)))
        outcomes = []
        for payload in batch:
            key = payload[KEY]
            if key in self.ids_by_key:
                outcomes.append(already_present(self.ids_by_key[key]))
                continue
            problem = self.validate(payload)
            if problem:
                outcomes.append(rejected(*problem))
                continue
            self.created_total += 1
            record_id = f"a0B{self.created_total:015d}"
            self.records[record_id] = dict(payload)
            self.ids_by_key[key] = record_id
            outcomes.append(ok(record_id))
        return self._after(outcomes)

    def update(self, batch: Sequence[Payload]) -> list[Outcome]:
        self.calls.append(("update", len(batch)))
        outcomes = []
        for payload in batch:
            record_id = payload["Id"]
            if record_id not in self.records:
                outcomes.append(rejected("ENTITY_IS_DELETED", "entity is deleted", []))
                continue
            problem = self.validate(payload)
            if problem:
                outcomes.append(rejected(*problem))
                continue
            self.records[record_id].update({k: v for k, v in payload.items() if k != "Id"})
            outcomes.append(ok(record_id))
        return self._after(outcomes)

    def health_check(self) -> str:
        return "fake: fine"

    def close(self) -> None:
        pass


def city_too_long(payload: Payload) -> tuple[str, str, list[str]] | None:
    city = payload.get("City__c")
    if city is not None and len(city) > 40:
        return ("STRING_TOO_LONG", "City: data value too large", ["City__c"])
    return None


# -- fixtures and helpers ---------------------------------------------------------


@pytest.fixture(autouse=True)
def no_developer_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings read `<SANDBOX_DIR>/sandbox.env`; a developer's must not leak in."""
    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path / "no-sandbox"))


@pytest.fixture
def conn(fresh_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(fresh_database, autocommit=True) as connection:
        connection.execute("create schema sync")
        connection.execute(
            f"""
            create table {CREATE_VIEW} (
                "Name" text, "{KEY}" text, "City__c" text,
                "Active_Property_Count__c" numeric, "Fraud_Detection_Enabled__c" boolean,
                "Fraud_Detection_Enabled_Date__c" date,
                _sync_key text, _payload_hash text, _group_key text
            )
            """
        )
        connection.execute(
            f"""
            create table {UPDATE_VIEW} (
                "Id" text, "Name" text, "City__c" text, "Active_Property_Count__c" numeric,
                _sync_key text, _payload_hash text, _group_key text, _before jsonb
            )
            """
        )
        yield connection


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "safe_mode": True,
        "safe_mode_max_creates": 5000,
        "safe_mode_max_updates": 5000,
        "dry_run": False,
    }
    values.update(overrides)
    return Settings.from_env(values)  # type: ignore[call-arg]


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.md5(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def create_row(number: int, city: str = "Austin") -> dict[str, Any]:
    return {
        "Name": f"Property {number}",
        KEY: f"p-{number:05d}",
        "City__c": city,
        "Active_Property_Count__c": Decimal(2),
        "Fraud_Detection_Enabled__c": number % 2 == 0,
        "Fraud_Detection_Enabled_Date__c": dt.date(2024, 3, 5) if number % 2 == 0 else None,
    }


def put_creates(conn: psycopg.Connection[Any], rows: list[dict[str, Any]]) -> None:
    conn.execute(f"truncate {CREATE_VIEW}")
    with conn.cursor() as cursor:
        cursor.executemany(
            f"""
            insert into {CREATE_VIEW} values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            [
                (
                    row["Name"],
                    row[KEY],
                    row["City__c"],
                    row["Active_Property_Count__c"],
                    row["Fraud_Detection_Enabled__c"],
                    row["Fraud_Detection_Enabled_Date__c"],
                    row[KEY],
                    payload_hash(row),
                    row[KEY],
                )
                for row in rows
            ],
        )


def put_updates(conn: psycopg.Connection[Any], rows: list[tuple[dict[str, Any], dict]]) -> None:
    conn.execute(f"truncate {UPDATE_VIEW}")
    with conn.cursor() as cursor:
        cursor.executemany(
            f"insert into {UPDATE_VIEW} values (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    row["Id"],
                    row["Name"],
                    row["City__c"],
                    row["Active_Property_Count__c"],
                    row["Id"],
                    payload_hash(row),
                    row["Id"],
                    Jsonb(before),
                )
                for row, before in rows
            ],
        )


def sync_for(pass_name: str = "create", *, gated: bool = False, **fields: Any) -> Sync:
    """A registry entry for the fake destination's views."""
    gate: dict[str, Any] = (
        {"gate": "fake"} if gated else {"no_gate_reason": "the fake destination has no gate"}
    )
    return Sync(
        **{
            "destination": "fake",
            "object_name": "Thing__c",
            "entity": "things",
            "pass_name": pass_name,
            "view": CREATE_VIEW if pass_name == "create" else UPDATE_VIEW,
            "key": KEY if pass_name == "create" else "Id",
            "batch_size": 200,
            **gate,
            **fields,
        }
    )


def push(
    conn: psycopg.Connection[Any],
    destination: FakeDestination,
    pass_name: str = "create",
    **options: Any,
) -> tuple[RunResult, str]:
    output = io.StringIO()
    config = options.pop("config", None) or settings()
    sync = options.pop("sync", None) or sync_for(
        pass_name, gated=options.get("gate") is not None
    )
    result = run_pass(
        config,
        Ledger(conn),
        destination,
        sync,
        observer=ConsoleObserver(Console(file=output, width=200)),
        **options,
    )
    return result, output.getvalue()


def ledger_run(conn: psycopg.Connection[Any], result: RunResult) -> dict[str, Any]:
    run = Ledger(conn).run(result.run_id)  # type: ignore[arg-type]
    assert run is not None
    return run


def outcomes(conn: psycopg.Connection[Any], result: RunResult) -> dict[str, str]:
    return {r["sync_key"]: r["outcome"] for r in Ledger(conn).records(result.run_id)}  # type: ignore[arg-type]


# -- tests --------------------------------------------------------------------------


def test_creates_go_out_in_batches_of_200_and_are_recorded(conn: psycopg.Connection[Any]) -> None:
    put_creates(conn, [create_row(n) for n in range(450)])
    destination = FakeDestination()

    result, _ = push(conn, destination)

    # 450 rows = 200 + 200 + 50.
    assert destination.calls == [("create", 200), ("create", 200), ("create", 50)]
    assert result.status == "succeeded" and result.exit_code == 0
    assert result.counts.created == 450
    run = ledger_run(conn, result)
    assert (run["status"], run["created"], run["rows_in_view"], run["api_requests"]) == (
        "succeeded",
        450,
        450,
        3,
    )
    assert run["finished_at"] is not None and run["dry_run"] is False
    records = Ledger(conn).records(result.run_id)  # type: ignore[arg-type]
    assert len(records) == 450
    assert {r["outcome"] for r in records} == {"created"}
    first = records[0]
    assert first["sync_key"] == "p-00000"
    assert first["record_id"] == destination.ids_by_key["p-00000"]
    # The payload is every non-underscore column, dates as YYYY-MM-DD, numerics as numbers.
    assert first["payload"] == {
        "Name": "Property 0",
        KEY: "p-00000",
        "City__c": "Austin",
        "Active_Property_Count__c": 2,
        "Fraud_Detection_Enabled__c": True,
        "Fraud_Detection_Enabled_Date__c": "2024-03-05",
    }
    assert destination.records[first["record_id"]] == first["payload"]


def test_dry_run_sends_nothing_and_records_would_create(conn: psycopg.Connection[Any]) -> None:
    put_creates(conn, [create_row(n) for n in range(3)])
    destination = FakeDestination()

    result, output = push(conn, destination, dry_run=True)

    assert destination.calls == []
    assert result.exit_code == 0 and result.counts.would_create == 3
    assert outcomes(conn, result) == dict.fromkeys(
        ["p-00000", "p-00001", "p-00002"], "would_create"
    )
    run = ledger_run(conn, result)
    assert run["dry_run"] is True and run["created"] == 0 and run["api_requests"] == 0
    assert "would create 3 record(s)" in output


def test_dry_run_update_prints_a_field_diff(conn: psycopg.Connection[Any]) -> None:
    row = {"Id": "a0B1", "Name": "Tower", "City__c": "Dallas", "Active_Property_Count__c": 3}
    before = {"Name": "Tower", "City__c": "Austin", "Active_Property_Count__c": 2}
    put_updates(conn, [(row, before)])
    destination = FakeDestination()

    result, output = push(conn, destination, "update", dry_run=True)

    assert destination.calls == []
    assert "City__c: 'Austin' -> 'Dallas'" in output
    assert "Active_Property_Count__c: 2 -> 3" in output
    assert "Name:" not in output  # unchanged fields are not a change
    (record,) = Ledger(conn).records(result.run_id)  # type: ignore[arg-type]
    assert record["outcome"] == "would_update"
    assert record["before_values"] == before
    assert record["record_id"] == "a0B1"


def test_a_rejected_record_does_not_stop_its_batch(conn: psycopg.Connection[Any]) -> None:
    rows = [create_row(n) for n in range(5)]
    rows[2]["City__c"] = "X" * 41
    put_creates(conn, rows)
    destination = FakeDestination(validate=city_too_long)

    result, output = push(conn, destination)

    assert destination.calls == [("create", 5)]
    assert (result.counts.created, result.counts.rejected) == (4, 1)
    assert (result.status, result.exit_code) == ("partial", 1)
    assert sorted(destination.ids_by_key) == ["p-00000", "p-00001", "p-00003", "p-00004"]
    rejection = conn.execute(
        "select sync_key, error_code, error_message, error_fields, payload_hash "
        "from reverse_etl.rejected_records"
    ).fetchall()
    assert rejection == [
        (
            "p-00002",
            "STRING_TOO_LONG",
            "City: data value too large",
            "City__c",
            payload_hash(rows[2]),
        ),
    ]
    assert "rejected p-00002: STRING_TOO_LONG [City__c]" in output


def test_known_rejection_is_skipped_until_its_payload_changes(
    conn: psycopg.Connection[Any],
) -> None:
    bad = create_row(7, city="Y" * 50)
    put_creates(conn, [bad])
    destination = FakeDestination(validate=city_too_long)
    first, _ = push(conn, destination)
    assert first.counts.rejected == 1 and destination.api_requests == 1

    # Same row, same payload: no write request is spent on it again.
    second, output = push(conn, destination)
    assert destination.api_requests == 1
    assert outcomes(conn, second) == {"p-00007": "skipped_known_rejection"}
    # Set aside, not rejected by this run: the run succeeds (the rejection stays
    # visible in `reverse-etl rejected` and health).
    assert (second.counts.skipped, second.status, second.exit_code) == (1, "succeeded", 0)
    assert "--retry-rejected" in output
    (record,) = Ledger(conn).records(second.run_id)  # type: ignore[arg-type]
    assert record["error_code"] == "STRING_TOO_LONG"

    # --retry-rejected sends it anyway.
    third, _ = push(conn, destination, retry_rejected=True)
    assert destination.api_requests == 2 and third.counts.rejected == 1

    # A fixed row has a new payload hash, so it is sent (and now created).
    fixed = create_row(7, city="Austin")
    put_creates(conn, [fixed])
    fourth, _ = push(conn, destination)
    assert destination.api_requests == 3
    assert (fourth.counts.created, fourth.status) == (1, "succeeded")


def test_rejection_that_later_went_through_is_not_skipped(conn: psycopg.Connection[Any]) -> None:
    row = create_row(1)
    put_creates(conn, [row])
    reject_once = iter([("FIELD_CUSTOM_VALIDATION_EXCEPTION", "not today", []), None])
    destination = FakeDestination(validate=lambda _: next(reject_once, None))
    push(conn, destination)
    push(conn, destination, retry_rejected=True)  # created this time
    assert destination.api_requests == 2

    # The same payload again (say the record was deleted in the destination): sent,
    # because its last answer was a success, not the old rejection.
    destination.ids_by_key.clear()
    third, _ = push(conn, destination)
    assert destination.api_requests == 3 and third.counts.created == 1


def test_empty_view_sends_nothing(conn: psycopg.Connection[Any]) -> None:
    destination = FakeDestination()
    gate_calls: list[tuple[str, str]] = []

    def gate(_settings: Settings, sync: Sync, *, max_rows: int | None) -> Any:
        gate_calls.append((sync.destination, sync.pass_name))
        raise AssertionError("no gate for an empty pass")

    result, _ = push(conn, destination, gate=gate)

    assert destination.calls == [] and gate_calls == []
    assert (result.status, result.exit_code, result.api_requests) == ("succeeded", 0, 0)
    assert ledger_run(conn, result)["rows_in_view"] == 0


def test_rerun_after_read_back_sends_nothing(conn: psycopg.Connection[Any]) -> None:
    put_creates(conn, [create_row(n) for n in range(3)])
    destination = FakeDestination()
    push(conn, destination)
    # dbt rebuilds the view against the read-back: the created rows are gone.
    put_creates(conn, [])
    result, _ = push(conn, destination)
    assert destination.api_requests == 1 and result.api_requests == 0
    assert len(destination.records) == 3


def test_safe_mode_cap_blocks_before_anything_is_sent(conn: psycopg.Connection[Any]) -> None:
    put_creates(conn, [create_row(n) for n in range(11)])
    destination = FakeDestination()

    result, output = push(conn, destination, config=settings(safe_mode_max_creates=10))

    assert destination.calls == []
    assert (result.status, result.exit_code) == ("blocked", 4)
    assert "SAFE_MODE_MAX_CREATES=10" in (result.error or "")
    run = ledger_run(conn, result)
    assert run["status"] == "blocked" and "11 rows to create" in run["error"]
    assert Ledger(conn).records(result.run_id) == []  # type: ignore[arg-type]
    assert "blocked" in output

    # The same cap with SAFE_MODE off lets the pass through.
    allowed, _ = push(conn, destination, config=settings(safe_mode=False, safe_mode_max_creates=10))
    assert allowed.counts.created == 11

    # 10 rows are exactly at the cap, which is allowed.
    put_creates(conn, [create_row(n) for n in range(100, 110)])
    at_cap, _ = push(conn, destination, config=settings(safe_mode_max_creates=10))
    assert at_cap.status == "succeeded"


def test_safe_mode_does_not_block_a_dry_run(conn: psycopg.Connection[Any]) -> None:
    put_creates(conn, [create_row(n) for n in range(3)])
    result, output = push(
        conn, FakeDestination(), dry_run=True, config=settings(safe_mode_max_creates=2)
    )
    assert result.exit_code == 0 and result.counts.would_create == 3
    assert "a real push would be blocked" in output


class StubGate:
    def __init__(self, ok: bool, summary: str) -> None:
        self.ok, self.summary = ok, summary
        self.calls: list[tuple[str, str]] = []

    def __call__(self, _settings: Settings, sync: Sync, *, max_rows: int | None) -> StubGate:
        self.calls.append((sync.destination, sync.pass_name))
        self.max_rows = max_rows
        return self


def test_failed_quality_gate_blocks_the_push(conn: psycopg.Connection[Any]) -> None:
    put_creates(conn, [create_row(n) for n in range(3)])
    destination = FakeDestination()
    gate = StubGate(False, "data-quality gate fake/create: FAILED\n  _sync_key not unique")

    result, _ = push(conn, destination, gate=gate)

    assert gate.calls == [("fake", "create")]
    assert destination.calls == []
    assert (result.status, result.exit_code) == ("blocked", 4)
    assert "_sync_key not unique" in ledger_run(conn, result)["error"]


def test_gate_that_cannot_reach_the_warehouse_fails_the_pass_with_exit_3(
    conn: psycopg.Connection[Any],
) -> None:
    put_creates(conn, [create_row(1)])
    destination = FakeDestination()
    gate = StubGate(False, "data-quality gate fake/create: ERROR\n  warehouse unreachable")
    gate.unreachable = True  # type: ignore[attr-defined]

    result, _ = push(conn, destination, gate=gate)

    assert destination.calls == []
    assert (result.status, result.exit_code) == ("failed", 3)


def test_gate_that_crashes_blocks_the_push(conn: psycopg.Connection[Any]) -> None:
    put_creates(conn, [create_row(1)])
    destination = FakeDestination()

    def broken_gate(*_: Any, **__: Any) -> Any:
        raise RuntimeError("gx exploded")

    result, _ = push(conn, destination, gate=broken_gate)

    assert destination.calls == []
    assert (result.status, result.exit_code) == ("blocked", 4)
    assert "gx exploded" in (result.error or "")


def test_passing_gate_lets_the_push_through_and_dry_run_skips_it(
    conn: psycopg.Connection[Any],
) -> None:
    put_creates(conn, [create_row(n) for n in range(3)])
    destination = FakeDestination()
    gate = StubGate(True, "data-quality gate fake/create: passed")

    push(conn, destination, gate=gate, dry_run=True)
    assert gate.calls == []
    result, _ = push(conn, destination, gate=gate)
    assert gate.calls == [("fake", "create")]
    assert result.counts.created == 3


def test_lost_response_then_rerun_converges_without_duplicates(
    conn: psycopg.Connection[Any],
) -> None:
    put_creates(conn, [create_row(n) for n in range(450)])
    # The first request's records are written, but its answer never arrives.
    destination = FakeDestination(lose_response_on_calls=[1])

    first, _ = push(conn, destination)

    assert (first.status, first.exit_code) == ("failed", 3)
    assert "connection reset" in (first.error or "")
    assert destination.calls == [("create", 200)]
    assert first.counts.not_sent == 450
    assert set(outcomes(conn, first).values()) == {"not_sent"}
    assert ledger_run(conn, first)["status"] == "failed"

    second, _ = push(conn, destination)

    assert (second.counts.already_present, second.counts.created) == (200, 250)
    assert second.status == "succeeded"
    assert len(destination.records) == 450
    assert len(set(destination.ids_by_key)) == 450
    present = [
        r
        for r in Ledger(conn).records(second.run_id)  # type: ignore[arg-type]
        if r["outcome"] == "already_present"
    ]
    assert all(r["record_id"] == destination.ids_by_key[r["sync_key"]] for r in present)


def test_abort_keeps_the_batches_already_done(conn: psycopg.Connection[Any]) -> None:
    put_creates(conn, [create_row(n) for n in range(450)])
    destination = FakeDestination(lose_response_on_calls=[2])

    result, _ = push(conn, destination)

    assert result.exit_code == 3
    assert (result.counts.created, result.counts.not_sent) == (200, 250)
    run = ledger_run(conn, result)
    assert (run["created"], run["api_requests"]) == (200, 2)


def test_update_pass_updates_by_id(conn: psycopg.Connection[Any]) -> None:
    destination = FakeDestination()
    destination.records["a0B1"] = {"Name": "Tower", "City__c": "Austin"}
    rows = [
        (
            {"Id": "a0B1", "Name": "Tower", "City__c": "Dallas", "Active_Property_Count__c": 1},
            {"Name": "Tower", "City__c": "Austin", "Active_Property_Count__c": 1},
        ),
        (
            {"Id": "a0B9", "Name": "Gone", "City__c": "Reno", "Active_Property_Count__c": 1},
            {"Name": "Gone", "City__c": "Elko", "Active_Property_Count__c": 1},
        ),
    ]
    put_updates(conn, rows)

    result, _ = push(conn, destination, "update")

    assert destination.calls == [("update", 2)]
    assert destination.records["a0B1"]["City__c"] == "Dallas"
    assert "a0B9" not in destination.records  # an update never creates
    assert (result.counts.updated, result.counts.rejected) == (1, 1)
    records = {r["sync_key"]: r for r in Ledger(conn).records(result.run_id)}  # type: ignore[arg-type]
    assert records["a0B1"]["outcome"] == "updated"
    assert records["a0B1"]["record_id"] == "a0B1"
    assert records["a0B1"]["before_values"]["City__c"] == "Austin"
    assert records["a0B9"]["error_code"] == "ENTITY_IS_DELETED"


def test_an_unexpected_crash_marks_the_run_failed(conn: psycopg.Connection[Any]) -> None:
    put_creates(conn, [create_row(1)])

    class Broken(FakeDestination):
        def create(self, batch: Sequence[Payload]) -> list[Outcome]:
            raise KeyError("bug")

    with pytest.raises(KeyError):
        push(conn, Broken())
    status, error = conn.execute("select status, error from reverse_etl.sync_runs").fetchone()  # type: ignore[misc]
    assert status == "failed" and "KeyError" in error


def test_field_diff_ignores_the_record_id_and_equal_values() -> None:
    row = SyncRow(
        sync_key="a0B1",
        payload_hash="h",
        payload={"Id": "a0B1", "A": 1, "B": "x", "C": None, "D": "2024-01-02"},
        before={"A": 1.0, "B": "y", "C": "z", "D": "2024-01-01"},
    )
    assert [(c.field, c.before, c.after) for c in field_diff(row)] == [
        ("B", "y", "x"),
        ("C", "z", None),
        ("D", "2024-01-01", "2024-01-02"),
    ]


# -- the spine: gate fails closed, share caps, one pass per sync, nothing printed ------


def test_a_gate_that_cannot_be_imported_blocks_unless_skipped(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    put_creates(conn, [create_row(n) for n in range(3)])
    destination = FakeDestination()
    # `None` in sys.modules makes the import fail as a missing module would.
    monkeypatch.setitem(sys.modules, "reverse_etl.quality", None)
    gated = sync_for("create", gated=True)

    blocked, _ = push(conn, destination, sync=gated)
    assert destination.calls == []
    assert (blocked.status, blocked.exit_code, blocked.gate) == ("blocked", 4, "unavailable")
    assert "--skip-gate" in (blocked.error or "")
    assert "\n" not in (blocked.error or "")

    skipped, output = push(conn, destination, sync=gated, skip_gate=True)
    assert skipped.counts.created == 3
    assert ledger_run(conn, skipped)["gate"] == "skipped_by_user"
    assert "--skip-gate" in output


def test_gate_receives_the_safe_mode_bound_and_the_ledger_records_it(
    conn: psycopg.Connection[Any],
) -> None:
    put_creates(conn, [create_row(n) for n in range(3)])
    gate = StubGate(True, "data-quality gate fake/create: passed")
    result, _ = push(conn, FakeDestination(), gate=gate)
    assert gate.max_rows == 5000  # SAFE_MODE_MAX_CREATES of settings()
    assert ledger_run(conn, result)["gate"] == "passed"


def test_share_cap_counts_the_destination_records(conn: psycopg.Connection[Any]) -> None:
    conn.execute("create schema raw_fake")
    conn.execute("create table raw_fake.things (id text)")
    conn.execute("insert into raw_fake.things select 'r' || g from generate_series(1, 10) as g")
    put_creates(conn, [create_row(n) for n in range(6)])
    destination = FakeDestination()
    capped = sync_for("create", max_share=0.5, destination_table="raw_fake.things")

    # 6 rows > 0.5 x 10 records: blocked, nothing sent.
    blocked, _ = push(conn, destination, sync=capped)
    assert (blocked.status, blocked.exit_code) == ("blocked", 4)
    assert "0.5 x the records in raw_fake.things" in (blocked.error or "")
    assert destination.calls == []

    # An empty destination is bounded by the count alone (a first load).
    conn.execute("truncate raw_fake.things")
    first_load, _ = push(conn, destination, sync=capped)
    assert first_load.counts.created == 6


def test_a_second_identical_pass_is_refused_while_one_holds_the_lock(
    conn: psycopg.Connection[Any], fresh_database: str
) -> None:
    put_creates(conn, [create_row(1)])
    destination = FakeDestination()
    sync = sync_for("create")
    with psycopg.connect(fresh_database, autocommit=True) as other:
        holder = Ledger(other)
        holder.migrate()
        with holder.pass_lock(sync.name) as locked:
            assert locked
            with pytest.raises(PassLocked) as refused:
                push(conn, destination, sync=sync)
    assert refused.value.exit_code == 3
    assert destination.calls == []
    # Released: the next pass goes through.
    result, _ = push(conn, destination, sync=sync)
    assert result.counts.created == 1


def test_the_engine_prints_nothing_itself(
    conn: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    put_creates(conn, [create_row(n) for n in range(3)])
    rows = [create_row(n) for n in range(3)]
    rows[1]["City__c"] = "Z" * 45
    put_creates(conn, rows)
    result = run_pass(
        settings(),
        Ledger(conn),
        FakeDestination(validate=city_too_long),
        sync_for("create"),
        observer=SilentObserver(),
    )
    assert (result.counts.created, result.counts.rejected) == (2, 1)
    assert [entry.sync_key for entry in result.rejections] == ["p-00001"]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_view_larger_than_one_fetch_streams_in_order(conn: psycopg.Connection[Any]) -> None:
    from reverse_etl.engine import PassEngine

    put_creates(conn, [create_row(n) for n in range(1234)])
    destination = FakeDestination()
    engine = PassEngine(settings(), Ledger(conn), destination, fetch_rows=500)
    result = engine.run(sync_for("create"))
    # Batches of 200 are cut across the fetches of 500 (not 200, 200, 100 per fetch).
    assert [size for _, size in destination.calls] == [200] * 6 + [34]
    assert result.counts.created == 1234 == result.rows_in_view
    keys = [r["sync_key"] for r in Ledger(conn).records(result.run_id)]  # type: ignore[arg-type]
    assert keys == sorted(keys) and len(set(keys)) == 1234


def test_a_batch_larger_than_one_fetch_is_not_cut_by_the_fetch(
    conn: psycopg.Connection[Any],
) -> None:
    from reverse_etl.engine import PassEngine

    put_creates(conn, [create_row(n) for n in range(1234)])
    destination = FakeDestination(max_batch=1000)
    engine = PassEngine(settings(), Ledger(conn), destination, fetch_rows=300)
    result = engine.run(sync_for("create", batch_size=1000))
    # 1,234 rows in batches of 1,000, though each fetch brings 300: two writes.
    assert [size for _, size in destination.calls] == [1000, 234]
    assert result.counts.created == 1234


def test_outstanding_rejections_list_each_record_until_it_goes_through(
    conn: psycopg.Connection[Any],
) -> None:
    rows = [create_row(1, city="Y" * 50), create_row(2, city="Z" * 60), create_row(3)]
    put_creates(conn, rows)
    destination = FakeDestination(validate=city_too_long)
    push(conn, destination)
    push(conn, destination)  # both set aside: still one entry each
    ledger = Ledger(conn)
    outstanding = ledger.outstanding_rejections("fake.things.create")
    assert [(r["sync_key"], r["error_code"], r["error_fields"]) for r in outstanding] == [
        ("p-00001", "STRING_TOO_LONG", "City__c"),
        ("p-00002", "STRING_TOO_LONG", "City__c"),
    ]

    # p-00001 is fixed at the source: created, so settled.
    put_creates(conn, [create_row(1), rows[1]])
    push(conn, destination)
    assert [r["sync_key"] for r in ledger.outstanding_rejections()] == ["p-00002"]
    assert ledger.outstanding_rejections("fake.other.create") == []


def test_a_dry_run_and_a_real_run_of_the_same_view_report_the_same_status(
    conn: psycopg.Connection[Any],
) -> None:
    put_creates(conn, [create_row(1, city="Y" * 50), create_row(2)])
    destination = FakeDestination(validate=city_too_long)
    first, _ = push(conn, destination)
    assert (first.status, first.exit_code) == ("partial", 1)  # this run rejected one
    put_creates(conn, [create_row(1, city="Y" * 50)])  # the rejected row is all that is left
    dry, _ = push(conn, destination, dry_run=True)
    real, _ = push(conn, destination)
    assert (dry.status, dry.exit_code) == (real.status, real.exit_code) == ("succeeded", 0)
    assert dry.counts.skipped == real.counts.skipped == 1
