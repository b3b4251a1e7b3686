"""`reverse-etl revert RUN_ID` against the Salesforce simulator and a real warehouse.

An update run changes three records; then a person edits one of them in
Salesforce. The revert must restore what the run wrote, field by field, except
the field that person changed since (reported, not clobbered), read from
Salesforce itself: there is no read-back table in this warehouse at all.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from common.settings import Settings
from reverse_etl import cli, registry
from reverse_etl.destinations.salesforce import SalesforceDestination
from reverse_etl.engine import run_pass
from reverse_etl.ledger import Ledger

pytestmark = pytest.mark.integration

WRITE_PATH = "/composite/sobjects"
ORIGINAL = [
    {"Name": "Oak Court", "City__c": "Austin", "Active_Property_Count__c": 1},
    {"Name": "Elm Place", "City__c": "Dallas", "Active_Property_Count__c": 2},
    {"Name": "Pine Row", "City__c": "Waco", "Active_Property_Count__c": 3},
]


class _PassingGate:
    ok = True
    summary = "data-quality gate: passed (stub: these views are hand-made tables)"

    def __call__(self, *_: Any, **__: Any) -> _PassingGate:
        return self


@pytest.fixture(autouse=True)
def no_developer_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path / "no-sandbox"))


@pytest.fixture
def warehouse(fresh_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("create schema sync")
        conn.execute(
            'create table sync.properties_to_update ("Id" text, "Name" text, "City__c" text, '
            '"Active_Property_Count__c" integer, _sync_key text, _payload_hash text, '
            "_group_key text, _before jsonb)"
        )
        conn.execute(
            'create table sync.properties_to_create ("Name" text, '
            '"Snappt_Property_ID__c" text, _sync_key text, _payload_hash text, _group_key text)'
        )
        yield conn


def env_for(sim: Any, conn: psycopg.Connection[Any], tmp_path: Path) -> dict[str, str]:
    info = conninfo_to_dict(conn.info.dsn)
    return {
        "SANDBOX_DIR": str(tmp_path / "no-sandbox"),
        "PGHOST": str(info.get("host", "127.0.0.1")),
        "PGPORT": str(info.get("port", 5432)),
        "PGUSER": str(info.get("user", "postgres")),
        "PGPASSWORD": conn.info.password or "postgres",
        "PGDATABASE": str(info["dbname"]),
        "SALESFORCE_INSTANCE_URL": sim.url,
        "SALESFORCE_CLIENT_ID": sim.client_id,
        "SALESFORCE_CLIENT_SECRET": sim.client_secret,
        "REQUESTS_CA_BUNDLE": sim.ca_bundle,
        "SALESFORCE_MAX_RPS": "1000",
        "HTTP_BACKOFF_INITIAL_S": "0",
    }


def _hash(payload: dict[str, Any]) -> str:
    return hashlib.md5(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def run_update(sim: Any, conn: psycopg.Connection[Any], env: dict[str, str]) -> uuid.UUID:
    """Load the three records and run an update pass that changes each of them."""
    ids = sim.admin.load_records(
        [{"Snappt_Property_ID__c": f"p-{n}", **values} for n, values in enumerate(ORIGINAL)]
    )
    updates = [
        {"Id": ids[0], "Name": "Oak Court North", "City__c": "Round Rock",
         "Active_Property_Count__c": 1},
        {"Id": ids[1], "Name": "Elm Place", "City__c": "Plano", "Active_Property_Count__c": 4},
        {"Id": ids[2], "Name": "Pine Row II", "City__c": "Waco", "Active_Property_Count__c": 3},
    ]
    with conn.cursor() as cursor:
        cursor.executemany(
            "insert into sync.properties_to_update values (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (row["Id"], row["Name"], row["City__c"], row["Active_Property_Count__c"],
                 row["Id"], _hash(row), row["Id"], Jsonb(before))
                for row, before in zip(updates, ORIGINAL, strict=True)
            ],
        )
    settings = Settings.from_env(env)
    sync = registry.by_name("salesforce.properties.update")
    destination = SalesforceDestination(settings, object_name=sync.object_name)
    try:
        result = run_pass(settings, Ledger(conn), destination, sync, gate=_PassingGate())
    finally:
        destination.close()
    assert (result.status, result.counts.updated) == ("succeeded", 3)
    assert result.run_id is not None
    return result.run_id


def edit_in_salesforce(sim: Any, record_id: str, fields: dict[str, Any]) -> None:
    """A person changes a record in Salesforce after the run (any API client would)."""
    token = requests.post(
        f"{sim.url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": sim.client_id,
              "client_secret": sim.client_secret},
        verify=sim.ca_bundle,
        timeout=10,
    ).json()["access_token"]
    answer = requests.patch(
        f"{sim.url}/services/data/v62.0{WRITE_PATH}",
        json={"allOrNone": True, "records": [
            {"attributes": {"type": "Product_Property__c"}, "id": record_id, **fields}
        ]},
        headers={"Authorization": f"Bearer {token}"},
        verify=sim.ca_bundle,
        timeout=10,
    )
    assert answer.json()[0]["success"], answer.text


def holdings(sim: Any) -> dict[str, dict[str, Any]]:
    return {
        r["Snappt_Property_ID__c"]: {k: r[k] for k in ("Name", "City__c",
                                                       "Active_Property_Count__c")}
        for r in sim.admin.records()
    }


def writes(sim: Any, since: int) -> list[dict[str, Any]]:
    return [e for e in sim.admin.requests(since_index=since) if e["path"].endswith(WRITE_PATH)]


def test_revert_restores_what_the_run_wrote_and_keeps_later_changes(
    salesforce_sim: Any, warehouse: psycopg.Connection[Any], tmp_path: Path
) -> None:
    env = env_for(salesforce_sim, warehouse, tmp_path)
    run_id = run_update(salesforce_sim, warehouse, env)
    record_ids = {r["Snappt_Property_ID__c"]: r["Id"] for r in salesforce_sim.admin.records()}
    edit_in_salesforce(salesforce_sim, record_ids["p-1"], {"City__c": "Houston"})
    mark = salesforce_sim.admin.request_count()

    # A dry run reads Salesforce and sends no write.
    dry = CliRunner().invoke(cli.app, ["revert", str(run_id), "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert writes(salesforce_sim, mark) == []
    assert "would update 3 record(s)" in dry.stdout
    assert "City__c: the run wrote 'Plano', the destination now holds 'Houston'" in dry.stdout

    real = CliRunner().invoke(cli.app, ["revert", str(run_id)], env=env)
    assert real.exit_code == 0, real.output
    assert holdings(salesforce_sim) == {
        "p-0": ORIGINAL[0],
        # Name and count go back; the city a person set since stays.
        "p-1": {**ORIGINAL[1], "City__c": "Houston"},
        "p-2": ORIGINAL[2],
    }
    assert len(writes(salesforce_sim, mark)) == 1  # three records, one collection
    assert "1 field(s) changed since run" in real.stdout

    # The revert is a recorded run of the same sync that names the run it undoes.
    revert_run = warehouse.execute(
        "select sync_name, pass, status, updated, revert_of, sync_view from reverse_etl.sync_runs "
        "where revert_of is not null and not dry_run"
    ).fetchone()
    assert revert_run == (
        "salesforce.properties.update", "update", "succeeded", 3, run_id, f"revert of {run_id}"
    )
    # Its ledger rows carry the values written and what Salesforce held before.
    (record,) = [
        r for r in Ledger(warehouse).records(
            warehouse.execute(
                "select run_id from reverse_etl.sync_runs where revert_of is not null "
                "and not dry_run"
            ).fetchone()[0]  # type: ignore[index]
        )
        if r["record_id"] == record_ids["p-1"]
    ]
    # The run left the name as it was, so only the count goes back (the city is kept).
    assert record["payload"] == {"Id": record_ids["p-1"], "Active_Property_Count__c": 2}
    assert record["before_values"] == {"Active_Property_Count__c": 4.0}

    # Reverting again: every field now differs from what the run wrote, so nothing is sent.
    mark = salesforce_sim.admin.request_count()
    again = CliRunner().invoke(cli.app, ["revert", str(run_id)], env=env)
    assert again.exit_code == 0, again.output
    assert writes(salesforce_sim, mark) == []


def test_a_create_run_is_listed_not_deleted_and_a_dry_run_cannot_be_reverted(
    salesforce_sim: Any, warehouse: psycopg.Connection[Any], tmp_path: Path
) -> None:
    env = env_for(salesforce_sim, warehouse, tmp_path)
    payload = {"Name": "New Place", "Snappt_Property_ID__c": "p-new"}
    warehouse.execute(
        "insert into sync.properties_to_create values (%s, %s, %s, %s, %s)",
        (payload["Name"], payload["Snappt_Property_ID__c"], "p-new", _hash(payload), "p-new"),
    )
    settings = Settings.from_env(env)
    sync = registry.by_name("salesforce.properties.create")
    destination = SalesforceDestination(
        settings, object_name=sync.object_name, external_id_field=sync.key
    )
    try:
        created = run_pass(settings, Ledger(warehouse), destination, sync, gate=_PassingGate())
        dry = run_pass(settings, Ledger(warehouse), destination, sync, dry_run=True)
    finally:
        destination.close()
    (record,) = salesforce_sim.admin.records()
    mark = salesforce_sim.admin.request_count()

    listed = CliRunner().invoke(cli.app, ["revert", str(created.run_id)], env=env)
    assert listed.exit_code == 0, listed.output
    assert "creates are not deleted" in listed.stdout
    assert f"{record['Id']}  p-new" in listed.stdout
    api_calls = [
        e for e in salesforce_sim.admin.requests(since_index=mark)
        if not e["path"].startswith("/__sandbox")
    ]
    assert api_calls == []  # not even a token
    assert salesforce_sim.admin.record_count() == 1

    refused = CliRunner().invoke(cli.app, ["revert", str(dry.run_id)], env=env)
    assert refused.exit_code == 2
    assert "was a dry run" in refused.stderr

    unknown = CliRunner().invoke(cli.app, ["revert", str(uuid.uuid4())], env=env)
    assert unknown.exit_code == 2 and "no run" in unknown.stderr
    bad = CliRunner().invoke(cli.app, ["revert", "not-a-uuid"], env=env)
    assert bad.exit_code == 2 and "not a run id" in bad.stderr
