"""Values cut to fit a destination field are visible before the push.

The models cut a value longer than its destination field and name the field in
the control column `_truncated_fields` (docs/warehouse.md, "Sync views"). The
pusher reads it into `SyncRow.truncated`, never sends it, and the dry run lists
which fields of which rows were cut. Like tests/unit/test_engine.py, each test
writes the sync view itself as a plain table, against a real Postgres.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from rich.console import Console

from common.settings import Settings
from reverse_etl.destinations.base import Outcome, Payload, ok
from reverse_etl.engine import RunResult, run_pass
from reverse_etl.ledger import Ledger
from reverse_etl.observer import SHOW_RECORDS, ConsoleObserver
from reverse_etl.registry import Sync
from reverse_etl.warehouse import read_sync_view

CREATE_VIEW = "sync.properties_to_create"
UPDATE_VIEW = "sync.properties_to_update"
PLAIN_VIEW = "sync.things_to_create"
KEY = "Snappt_Property_ID__c"
CUT_NAME = "The Residences at Riverside Commons Phase Two North Tower Building The Residence"


class RecordingDestination:
    """Accepts everything and keeps what it was sent."""

    name = "fake"
    object_name = "Thing__c"
    max_batch = 200

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    @property
    def api_requests(self) -> int:
        return 1 if self.sent else 0

    def create(self, batch: Sequence[Payload]) -> list[Outcome]:
        start = len(self.sent)
        self.sent.extend(dict(payload) for payload in batch)
        return [ok(f"a0B{start + at:015d}") for at in range(len(batch))]

    def update(self, batch: Sequence[Payload]) -> list[Outcome]:
        self.sent.extend(dict(payload) for payload in batch)
        return [ok(str(payload["Id"])) for payload in batch]

    def health_check(self) -> str:
        return "fake: fine"

    def close(self) -> None:
        pass


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
                _sync_key text, _payload_hash text, _group_key text, _truncated_fields text
            )
            """
        )
        connection.execute(
            f"""
            create table {UPDATE_VIEW} (
                "Id" text, "Name" text, "City__c" text,
                _sync_key text, _payload_hash text, _group_key text, _before jsonb,
                _truncated_fields text
            )
            """
        )
        # A view of another sync: no _truncated_fields column at all.
        connection.execute(
            f'create table {PLAIN_VIEW} ("Name" text, "{KEY}" text,'
            " _sync_key text, _payload_hash text)"
        )
        yield connection


def settings() -> Settings:
    return Settings.from_env(  # type: ignore[call-arg]
        {
            "safe_mode": True,
            "safe_mode_max_creates": 5000,
            "safe_mode_max_updates": 5000,
            "dry_run": False,
        }
    )


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.md5(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def put_creates(conn: psycopg.Connection[Any], rows: list[tuple[str, str, str | None]]) -> None:
    """(key, name, _truncated_fields) rows of the create view."""
    with conn.cursor() as cursor:
        cursor.executemany(
            f"insert into {CREATE_VIEW} values (%s, %s, 'Austin', %s, %s, %s, %s)",
            [
                (name, key, key, payload_hash({"Name": name, KEY: key}), key, cut)
                for key, name, cut in rows
            ],
        )


def sync_for(pass_name: str = "create", view: str | None = None) -> Sync:
    return Sync(
        destination="fake",
        object_name="Thing__c",
        entity="things",
        pass_name=pass_name,  # type: ignore[arg-type]
        view=view or (CREATE_VIEW if pass_name == "create" else UPDATE_VIEW),
        key=KEY if pass_name == "create" else "Id",
        batch_size=200,
        no_gate_reason="the fake destination has no gate",
    )


def push(
    conn: psycopg.Connection[Any],
    destination: RecordingDestination,
    pass_name: str = "create",
    **options: Any,
) -> tuple[RunResult, str]:
    output = io.StringIO()
    result = run_pass(
        settings(),
        Ledger(conn),
        destination,
        options.pop("sync", None) or sync_for(pass_name),
        observer=ConsoleObserver(Console(file=output, width=200)),
        **options,
    )
    return result, output.getvalue()


def lines_after(output: str, start: str) -> list[str]:
    lines = output.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.startswith(start)]
    return lines[at + 1 :]


# -- reading ------------------------------------------------------------------------


def test_the_cut_fields_are_read_and_never_part_of_the_payload(
    conn: psycopg.Connection[Any],
) -> None:
    put_creates(
        conn,
        [("p-1", CUT_NAME, "Name"), ("p-2", "Short", None), ("p-3", CUT_NAME, "Name,City__c")],
    )

    rows = {row.sync_key: row for row in read_sync_view(conn, CREATE_VIEW)}

    assert rows["p-1"].truncated == ("Name",)
    assert rows["p-2"].truncated == ()
    assert rows["p-3"].truncated == ("Name", "City__c")
    assert all("_truncated_fields" not in row.payload for row in rows.values())
    assert rows["p-1"].payload == {"Name": CUT_NAME, KEY: "p-1", "City__c": "Austin"}


def test_a_view_without_the_column_reads_as_nothing_cut(conn: psycopg.Connection[Any]) -> None:
    conn.execute(f"insert into {PLAIN_VIEW} values ('Tower', 'p-9', 'p-9', 'h')")

    (row,) = read_sync_view(conn, PLAIN_VIEW)

    assert row.truncated == () and row.payload == {"Name": "Tower", KEY: "p-9"}


# -- the dry run ----------------------------------------------------------------------


def test_dry_run_lists_which_fields_were_cut(conn: psycopg.Connection[Any]) -> None:
    put_creates(conn, [("p-1", CUT_NAME, "Name"), ("p-2", "Short", None)])
    destination = RecordingDestination()

    result, output = push(conn, destination, dry_run=True)

    assert destination.sent == [] and result.counts.would_create == 2
    header = next(line for line in output.splitlines() if line.startswith("dry run:"))
    assert header == "dry run: would create 2 record(s), sending nothing; 1 with values cut to fit"
    after_cut = lines_after(output, "  + p-1:")
    assert after_cut[0] == "    ! Name cut to fit"
    after_whole = lines_after(output, "  + p-2:")
    assert not after_whole or not after_whole[0].lstrip().startswith("!")


def test_dry_run_header_counts_the_cut_rows_of_the_whole_view(
    conn: psycopg.Connection[Any],
) -> None:
    rows: list[tuple[str, str, str | None]] = [
        (f"p-{n:03d}", f"Property {n}", None) for n in range(SHOW_RECORDS + 5)
    ]
    rows[0] = ("p-000", CUT_NAME, "Name")
    rows[-1] = (rows[-1][0], CUT_NAME, "Name")  # not listed: beyond SHOW_RECORDS
    put_creates(conn, rows)

    _, output = push(conn, RecordingDestination(), dry_run=True)

    # Both cut rows are counted, though only the first is listed.
    assert (
        f"would create {SHOW_RECORDS + 5} record(s), sending nothing; 2 with values cut to fit"
    ) in output
    assert output.count("! Name cut to fit") == 1


def test_dry_run_update_lists_the_cut_fields_under_the_diff(
    conn: psycopg.Connection[Any],
) -> None:
    row = {"Id": "a0B1", "Name": CUT_NAME, "City__c": "Dallas"}
    before = {"Name": CUT_NAME, "City__c": "Austin"}
    conn.execute(
        f"insert into {UPDATE_VIEW} values (%s, %s, %s, %s, %s, %s, %s, %s)",
        ("a0B1", CUT_NAME, "Dallas", "a0B1", payload_hash(row), "g1", Jsonb(before), "Name"),
    )

    _, output = push(conn, RecordingDestination(), "update", dry_run=True)

    assert "1 with values cut to fit" in output
    assert lines_after(output, "  ~ a0B1")[:2] == [
        "      City__c: 'Austin' -> 'Dallas'",
        "    ! Name cut to fit",
    ]


def test_no_cut_no_mention(conn: psycopg.Connection[Any]) -> None:
    put_creates(conn, [("p-1", "Short", None)])

    _, output = push(conn, RecordingDestination(), dry_run=True)

    assert "cut to fit" not in output
    assert "dry run: would create 1 record(s), sending nothing\n" in output


# -- the real push ----------------------------------------------------------------------


def test_a_real_push_sends_the_cut_value_without_the_control_column(
    conn: psycopg.Connection[Any],
) -> None:
    put_creates(conn, [("p-1", CUT_NAME, "Name")])
    destination = RecordingDestination()

    result, _ = push(conn, destination)

    assert result.counts.created == 1
    assert destination.sent == [{"Name": CUT_NAME, KEY: "p-1", "City__c": "Austin"}]
    (record,) = Ledger(conn).records(result.run_id)  # type: ignore[arg-type]
    assert "_truncated_fields" not in record["payload"]
