"""The Salesforce push against the simulator over HTTPS and a real warehouse.

Each test writes `sync.properties_to_create` / `sync.properties_to_update` itself
(plain tables with the columns of docs/warehouse.md, "Sync views") in a fresh database, runs a pass
and checks the simulator's state and request log. Waits between retries are
recorded instead of slept (the client's sleep is injected), so faults cost no time.
"""

from __future__ import annotations

import datetime as dt
import io
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from rich.console import Console
from typer.testing import CliRunner

from common.http import policy_session
from common.settings import Settings
from reverse_etl import cli, engine, registry
from reverse_etl.destinations.salesforce import SalesforceDestination, id18
from reverse_etl.engine import RunResult, run_pass
from reverse_etl.ledger import Ledger
from reverse_etl.observer import ConsoleObserver
from sandbox.salesforce_admin import SalesforceAdmin
from tests.conformance.harness import Sleeps
from tests.conformance.salesforce import (
    KEY,
    TOKEN_PATH,
    WRITE_PATH,
    as_sent,
    create_payload,
    create_sync_views,
    put_creates,
    put_updates,
)

pytestmark = pytest.mark.integration

TEXT_FIELDS = ("Name", "Company_Name__c", "Street__c", "City__c", "State__c", "Postal_Code__c")


# -- the simulator and the warehouse ------------------------------------------------


@dataclass
class Sim:
    url: str
    ca: Path
    admin: SalesforceAdmin
    client_id: str
    client_secret: str

    def log(self, since: int = 0) -> list[dict[str, Any]]:
        return self.admin.requests(since_index=since)

    def writes(self, since: int = 0) -> list[dict[str, Any]]:
        return [e for e in self.log(since) if e["path"].endswith(WRITE_PATH)]

    def tokens(self, since: int = 0) -> list[dict[str, Any]]:
        return [e for e in self.log(since) if e["path"].rstrip("/") == TOKEN_PATH]

    def by_key(self) -> dict[str, list[dict[str, Any]]]:
        records: dict[str, list[dict[str, Any]]] = {}
        for record in self.admin.records():
            records.setdefault(record[KEY], []).append(record)
        return records


@pytest.fixture(autouse=True)
def no_developer_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings read `<SANDBOX_DIR>/sandbox.env`; a developer's must not leak in."""
    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path / "no-sandbox"))


@pytest.fixture
def sim(salesforce_sim: Any) -> Sim:
    """The shared fixture (a fresh simulator per test) with this file's helpers."""
    return Sim(
        salesforce_sim.url,
        Path(salesforce_sim.ca_bundle),
        salesforce_sim.admin,
        salesforce_sim.client_id,
        salesforce_sim.client_secret,
    )


@pytest.fixture
def warehouse(fresh_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        create_sync_views(conn)
        yield conn


def settings_for(sim: Sim, conn: psycopg.Connection[Any], **overrides: Any) -> Settings:
    info = conninfo_to_dict(conn.info.dsn)
    values: dict[str, Any] = {
        "pghost": info.get("host", "127.0.0.1"),
        "pgport": int(info.get("port", 5432)),
        "pguser": info.get("user", "postgres"),
        "pgpassword": conn.info.password or "postgres",
        "pgdatabase": info["dbname"],
        "salesforce_instance_url": sim.url,
        "salesforce_client_id": sim.client_id,
        "salesforce_client_secret": sim.client_secret,
        "requests_ca_bundle": str(sim.ca),
        "salesforce_max_rps": 1000.0,
        "safe_mode": True,
        "dry_run": False,
        "http_breaker_reset_s": 600.0,
    }
    values.update(overrides)
    return Settings.from_env(values)  # type: ignore[call-arg]


def destination_for(settings: Settings, sleeps: Sleeps | None = None) -> SalesforceDestination:
    session = policy_session(
        settings, "salesforce", sleep=sleeps if sleeps is not None else Sleeps()
    )
    return SalesforceDestination(settings, session=session)


def push(
    settings: Settings,
    conn: psycopg.Connection[Any],
    pass_name: str,
    destination: SalesforceDestination | None = None,
    **options: Any,
) -> RunResult:
    target = destination or destination_for(settings)
    options.setdefault("gate", _passing_gate)
    try:
        return run_pass(
            settings,
            Ledger(conn),
            target,
            registry.by_name(f"salesforce.properties.{pass_name}"),
            observer=ConsoleObserver(Console(file=io.StringIO(), width=200)),
            **options,
        )
    finally:
        if destination is None:
            target.close()


# -- view rows ------------------------------------------------------------------------


def assert_holds_exactly(sim: Sim, payloads: list[dict[str, Any]]) -> None:
    """One record per Snappt id, each holding its payload's values."""
    records = sim.by_key()
    assert sorted(records) == sorted(p[KEY] for p in payloads)
    for payload in payloads:
        (record,) = records[payload[KEY]]
        for field, value in as_sent(payload).items():
            assert record[field] == value, (payload[KEY], field)


# -- create pass ----------------------------------------------------------------------


def test_create_pass_creates_each_record_once(sim: Sim, warehouse: psycopg.Connection[Any]) -> None:
    payloads = [create_payload(n) for n in range(5)]
    put_creates(warehouse, payloads)
    settings = settings_for(sim, warehouse)

    result = push(settings, warehouse, "create")

    assert (result.status, result.exit_code, result.counts.created) == ("succeeded", 0, 5)
    assert_holds_exactly(sim, payloads)
    # One token, one write of five records.
    assert [e["records"] for e in sim.writes()] == [5]
    assert len(sim.tokens()) == 1
    assert result.api_requests == 2
    ids = {r[KEY]: r["Id"] for r in sim.admin.records()}
    for record in Ledger(warehouse).records(result.run_id):  # type: ignore[arg-type]
        assert record["record_id"] == ids[record["sync_key"]]

    # The same view again (no read-back in between): nothing is created twice and
    # nothing is overwritten; every record answers DUPLICATE_VALUE.
    sim.admin.link({payloads[0][KEY]: "001Hp00000LINKEDAAA"})
    again = push(settings, warehouse, "create")
    assert again.counts.already_present == 5 and again.counts.created == 0
    assert_holds_exactly(sim, payloads)
    assert sim.by_key()[payloads[0][KEY]][0]["SF_Property_ID__c"] == "001Hp00000LINKEDAAA"
    present = Ledger(warehouse).records(again.run_id)  # type: ignore[arg-type]
    assert all(r["record_id"] == ids[r["sync_key"]] for r in present)


def test_450_records_cost_exactly_three_write_requests(
    sim: Sim, warehouse: psycopg.Connection[Any]
) -> None:
    payloads = [create_payload(n) for n in range(450)]
    put_creates(warehouse, payloads)

    result = push(settings_for(sim, warehouse), warehouse, "create")

    assert [e["records"] for e in sim.writes()] == [200, 200, 50]
    assert [e["method"] for e in sim.writes()] == ["POST"] * 3
    assert result.counts.created == 450
    assert sim.admin.record_count() == 450


# -- faults ---------------------------------------------------------------------------


def _state(sim: Sim) -> dict[str, dict[str, Any]]:
    """Snappt id -> fields, without what differs between two runs (Ids, dates)."""
    volatile = {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "attributes"}
    return {
        record[KEY]: {k: v for k, v in record.items() if k not in volatile}
        for record in sim.admin.records()
    }


@pytest.mark.parametrize(
    "kinds",
    [
        ["503_before", "503_after", "drop_before", "drop_after", "429"],
        ["503_before"],
        ["503_after"],
        ["drop_before"],
        ["drop_after"],
        ["429"],
    ],
    ids=["all", "503_before", "503_after", "drop_before", "drop_after", "429"],
)
def test_faults_end_in_the_no_fault_state(
    sim: Sim, warehouse: psycopg.Connection[Any], kinds: list[str]
) -> None:
    payloads = [create_payload(n) for n in range(450)]
    put_creates(warehouse, payloads)
    settings = settings_for(sim, warehouse, http_max_attempts=8, http_breaker_fail_max=8)

    clean = destination_for(settings)
    clean.max_batch = 10
    push(settings, warehouse, "create", destination=clean)
    clean.close()
    no_fault_state = _state(sim)
    assert len(no_fault_state) == 450

    sim.admin.reset()
    sim.admin.set_faults(rate=0.2, kinds=kinds, seed=11)
    sleeps = Sleeps()
    destination = destination_for(settings, sleeps)
    destination.max_batch = 10  # 45 writes instead of 3, so that a fifth of them fail

    result = push(settings, warehouse, "create", destination=destination)
    destination.close()

    seen = {e["fault"] for e in sim.log() if e["fault"]}
    assert seen, "the faults must have happened for this test to mean anything"
    assert seen <= set(kinds)
    assert result.status == "succeeded"
    assert _state(sim) == no_fault_state
    assert sorted(sim.by_key()) == sorted(p[KEY] for p in payloads)  # no duplicate
    assert result.counts.created + result.counts.already_present == 450
    lost = [e for e in sim.writes() if e["fault"] in ("503_after", "drop_after")]
    # Each lost answer of an applied create comes back as already present on retry.
    assert result.counts.already_present == sum(e["records"] for e in lost)
    if "429" in seen:
        assert 1.0 in sleeps  # Retry-After: 1 honoured (recorded, not slept)


def test_request_limit_exceeded_aborts_with_exit_3(
    sim: Sim,
    warehouse: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    payloads = [create_payload(n) for n in range(450)]
    put_creates(warehouse, payloads)
    sim.admin.configure(daily_limit=1)  # the first write spends the allocation
    monkeypatch.setattr(engine, "load_gate", lambda: _passing_gate)

    outcome = CliRunner().invoke(
        cli.app, ["push", "salesforce", "--pass", "create"], env=cli_env(sim, warehouse, tmp_path)
    )

    assert outcome.exit_code == 3, outcome.output
    assert "REQUEST_LIMIT_EXCEEDED" in outcome.stderr
    assert "Traceback" not in outcome.output
    assert sim.client_secret not in outcome.output
    assert sim.admin.record_count() == 200
    run = warehouse.execute("select status, created, error from reverse_etl.sync_runs").fetchone()
    assert run is not None and run[0] == "failed" and run[1] == 200
    assert "REQUEST_LIMIT_EXCEEDED" in run[2]
    # The writes after the 403: none.
    assert [e["status"] for e in sim.writes()] == [200, 403]


# -- update pass ----------------------------------------------------------------------


def test_update_pass_updates_by_id_and_never_creates(
    sim: Sim, warehouse: psycopg.Connection[Any]
) -> None:
    existing = [create_payload(n) for n in range(3)]
    ids = sim.admin.load_records([as_sent(p) for p in existing])
    rows = []
    for record_id, payload in zip(ids, existing, strict=True):
        after = {k: v for k, v in payload.items() if k != KEY}
        before = as_sent(after)
        after["City__c"] = "Dallas"
        after["IDV_Enabled__c"] = True
        after["IDV_Enabled_Date__c"] = dt.date(2025, 2, 3)
        rows.append(({"Id": record_id, **after}, before))
    # An update for a record that is not there (deleted in Salesforce meanwhile).
    missing_id = id18("a0XHp0000zzzzzz")
    ghost = {"Id": missing_id, **{k: v for k, v in create_payload(9).items() if k != KEY}}
    rows.append((ghost, {}))
    put_updates(warehouse, rows)

    result = push(settings_for(sim, warehouse), warehouse, "update")

    assert [(e["method"], e["records"]) for e in sim.writes()] == [("PATCH", 4)]
    assert (result.counts.updated, result.counts.rejected) == (3, 1)
    assert sim.admin.record_count() == 3  # the ghost was not created
    records = {r["Id"]: r for r in sim.admin.records()}
    for record_id in ids:
        assert records[record_id]["City__c"] == "Dallas"
        assert records[record_id]["IDV_Enabled__c"] is True
        assert records[record_id]["IDV_Enabled_Date__c"] == "2025-02-03"
    ledger = {r["sync_key"]: r for r in Ledger(warehouse).records(result.run_id)}  # type: ignore[arg-type]
    assert ledger[ids[0]]["outcome"] == "updated"
    assert ledger[ids[0]]["record_id"] == ids[0]
    assert ledger[ids[0]]["before_values"]["City__c"] == "Austin"
    assert ledger[missing_id]["outcome"] == "rejected"
    assert ledger[missing_id]["error_code"] == "INVALID_CROSS_REFERENCE_KEY"


# -- dry run --------------------------------------------------------------------------


def test_dry_run_from_the_environment_through_the_cli(
    sim: Sim,
    warehouse: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    ids = sim.admin.load_records([as_sent(create_payload(4))])
    row = {k: v for k, v in create_payload(4).items() if k != KEY}
    before = as_sent(row)
    row["Street__c"] = "1 New Road"
    put_updates(warehouse, [({"Id": ids[0], **row}, before)])
    monkeypatch.setattr(engine, "load_gate", lambda: _failing_gate)  # not asked in a dry run

    outcome = CliRunner().invoke(
        cli.app,
        ["push", "salesforce", "--pass", "update"],
        env={**cli_env(sim, warehouse, tmp_path), "DRY_RUN": "on"},
    )

    assert outcome.exit_code == 0, outcome.output
    assert "Street__c: '4 Main St' -> '1 New Road'" in outcome.stdout
    assert sim.log() == []


# -- the CLI's other commands ---------------------------------------------------------


def test_cli_errors_are_one_line_with_their_exit_code(
    sim: Sim, warehouse: psycopg.Connection[Any], tmp_path: Path
) -> None:
    env = cli_env(sim, warehouse, tmp_path)
    runner = CliRunner()

    later = runner.invoke(cli.app, ["push", "hubspot", "--pass", "create"], env=env)
    assert later.exit_code == 2
    assert later.stderr.strip().count("\n") == 0
    assert "no sync is registered for destination 'hubspot'" in later.stderr
    assert f"registered: {', '.join(registry.destinations())}" in later.stderr

    bad = runner.invoke(
        cli.app, ["push", "salesforce", "--pass", "create"], env={**env, "SALESFORCE_MAX_RPS": "-1"}
    )
    assert bad.exit_code == 2 and "SALESFORCE_MAX_RPS" in bad.stderr

    no_view = runner.invoke(
        cli.app,
        ["push", "salesforce", "--pass", "create", "--dry-run"],
        env={**env, "PGDATABASE": "postgres"},
    )
    assert no_view.exit_code == 2 and "run `dbt build` first" in no_view.stderr

    unreachable = runner.invoke(cli.app, ["runs"], env={**env, "PGPORT": "1"})
    assert unreachable.exit_code == 3 and "cannot connect to the warehouse" in unreachable.stderr
    assert "Traceback" not in unreachable.output


def test_unreachable_salesforce_stops_the_pass_with_exit_3(
    sim: Sim,
    warehouse: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    put_creates(warehouse, [create_payload(n) for n in range(3)])
    monkeypatch.setattr(engine, "load_gate", lambda: _passing_gate)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{sock.getsockname()[1]}"  # nobody listens after this
    env = {
        **cli_env(sim, warehouse, tmp_path),
        "SALESFORCE_INSTANCE_URL": dead,
        "HTTP_BREAKER_FAIL_MAX": "3",
    }

    outcome = CliRunner().invoke(cli.app, ["push", "salesforce", "--pass", "create"], env=env)

    assert outcome.exit_code == 3, outcome.output
    assert "circuit open after 3 consecutive failed requests" in outcome.stderr
    assert "Traceback" not in outcome.output
    status, error = warehouse.execute("select status, error from reverse_etl.sync_runs").fetchone()  # type: ignore[misc]
    assert status == "failed" and "circuit open" in error
    outcomes = warehouse.execute(
        "select outcome, count(*) from reverse_etl.sync_records group by 1"
    )
    assert outcomes.fetchall() == [("not_sent", 3)]

    missing = CliRunner().invoke(
        cli.app,
        ["push", "salesforce", "--pass", "create"],
        env={**env, "SALESFORCE_CLIENT_SECRET": ""},
    )
    assert missing.exit_code == 2
    assert "SALESFORCE_CLIENT_SECRET" in missing.stderr


def test_runs_lists_past_runs(sim: Sim, warehouse: psycopg.Connection[Any], tmp_path: Path) -> None:
    put_creates(warehouse, [create_payload(n) for n in range(2)])
    push(settings_for(sim, warehouse), warehouse, "create", dry_run=True)
    push(settings_for(sim, warehouse), warehouse, "create")

    outcome = CliRunner().invoke(
        cli.app,
        ["runs", "--limit", "5"],
        env={**cli_env(sim, warehouse, tmp_path), "COLUMNS": "250"},
    )

    assert outcome.exit_code == 0, outcome.output
    assert "dry run" in outcome.stdout and "real" in outcome.stdout
    assert outcome.stdout.count("salesforce") == 2


@pytest.mark.parametrize(("level", "code"), [("OK", 0), ("P2", 10), ("P1", 11), ("P0", 12)])
def test_health_exit_code_follows_the_alert_level(
    sim: Sim, warehouse: psycopg.Connection[Any], tmp_path: Path, level: str, code: int
) -> None:
    env = cli_env(sim, warehouse, tmp_path)
    missing = CliRunner().invoke(cli.app, ["health"], env=env)
    assert missing.exit_code == 2 and "run `dbt build` first" in missing.stderr

    warehouse.execute("create schema monitoring")
    warehouse.execute(
        "create table monitoring.sync_monitoring_dashboard "
        "(sync_name text, queue_size integer, alert_level text)"
    )
    # One row per registered sync; the worst level is the exit code.
    warehouse.execute(
        "insert into monitoring.sync_monitoring_dashboard values "
        "('salesforce.properties.create', 3, %s), ('salesforce.properties.update', 0, 'OK')",
        (level,),
    )
    others = [s.name for s in registry.SYNCS if s.destination != "salesforce"]
    # The other slices' syncs, all quiet here.
    for name in others:
        warehouse.execute(
            "insert into monitoring.sync_monitoring_dashboard values (%s, 0, 'OK')", (name,)
        )
    outcome = CliRunner().invoke(cli.app, ["health"], env=env)
    assert outcome.exit_code == code, outcome.output
    assert f"alert level: {level}" in outcome.stdout
    assert "salesforce.properties.update" in outcome.stdout and "queue" in outcome.stdout

    # A registered sync without a row means the models are older than the registry.
    warehouse.execute(
        "delete from monitoring.sync_monitoring_dashboard "
        "where sync_name = 'salesforce.properties.update'"
    )
    stale = CliRunner().invoke(cli.app, ["health"], env=env)
    assert stale.exit_code == 2 and "no row for salesforce.properties.update" in stale.stderr


# -- helpers for the CLI --------------------------------------------------------------


@dataclass
class _Gate:
    ok: bool
    summary: str

    def __call__(self, *_: Any, **__: Any) -> _Gate:
        return self


_passing_gate = _Gate(True, "data-quality gate salesforce/create: passed")
_failing_gate = _Gate(False, "data-quality gate: FAILED")


def cli_env(sim: Sim, conn: psycopg.Connection[Any], tmp_path: Path) -> dict[str, str]:
    info = conninfo_to_dict(conn.info.dsn)
    return {
        "SANDBOX_DIR": str(tmp_path / "no-sandbox"),  # no sandbox.env of the developer
        "PGHOST": str(info.get("host", "127.0.0.1")),
        "PGPORT": str(info.get("port", 5432)),
        "PGUSER": str(info.get("user", "postgres")),
        "PGPASSWORD": conn.info.password or "postgres",
        "PGDATABASE": str(info["dbname"]),
        "SALESFORCE_INSTANCE_URL": sim.url,
        "SALESFORCE_CLIENT_ID": sim.client_id,
        "SALESFORCE_CLIENT_SECRET": sim.client_secret,
        "REQUESTS_CA_BUNDLE": str(sim.ca),
        "SALESFORCE_MAX_RPS": "1000",
        "SAFE_MODE": "on",
        "DRY_RUN": "off",
        "HTTP_BACKOFF_INITIAL_S": "0",
    }
