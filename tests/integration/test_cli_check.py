"""`reverse-etl check`: every part of the stack answers, or its line says why.

Against the Salesforce simulator and a fresh warehouse; the warehouse has no sync
view and no ledger, on purpose: a wrong secret must be found even when no pass has
anything to send.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from typer.testing import CliRunner

from reverse_etl import cli
from reverse_etl.ledger import Ledger, migrations
from tests.conftest import PostgresServer

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse(fresh_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        yield conn


@pytest.fixture
def env(
    salesforce_sim: Any,
    warehouse: psycopg.Connection[Any],
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> dict[str, str]:
    info = conninfo_to_dict(warehouse.info.dsn)
    return {
        "SANDBOX_DIR": str(tmp_path / "no-sandbox"),  # no sandbox.env of the developer
        "PGHOST": str(info.get("host", "127.0.0.1")),
        "PGPORT": str(info.get("port", 5432)),
        "PGUSER": str(info.get("user", "postgres")),
        "PGPASSWORD": warehouse.info.password or "postgres",
        "PGDATABASE": str(info["dbname"]),
        # Any database that answers stands for the RDS source.
        "RDS_DATABASE_URL": postgres_server.dsn("postgres"),
        **salesforce_sim.settings_env(),
        "HTTP_MAX_ATTEMPTS": "2",
        "HTTP_BACKOFF_INITIAL_S": "0",
        "COLUMNS": "200",
    }


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nobody listens once it is closed


def check(env: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """The outcome, and each part's line (status and detail) by part."""
    outcome = CliRunner().invoke(cli.app, ["check"], env=env)
    parts: dict[str, str] = {}
    for line in outcome.stdout.splitlines():
        for part in (
            "warehouse",
            "source rds",
            "destination salesforce",
            "destination servicefusion",
            "destination propertyware",
            "source dispatch",
            "destination supabase",
        ):
            if line.startswith(part + " "):
                parts[part] = line[len(part) :].strip()
    return outcome, parts


def test_every_part_answers(
    env: dict[str, str], warehouse: psycopg.Connection[Any], salesforce_sim: Any
) -> None:
    salesforce_sim.admin.load_records(
        [{"Name": f"P{n}", "Snappt_Property_ID__c": f"p-{n}"} for n in range(3)]
    )
    outcome, parts = check(env)

    assert outcome.exit_code == 0, outcome.output
    assert len(outcome.stdout.strip().splitlines()) == len(cli._checks()), "one line a part"
    assert parts["warehouse"].startswith("OK") and "no ledger yet" in parts["warehouse"]
    assert parts["source rds"].startswith("OK")
    assert parts["destination salesforce"].startswith("OK")
    assert "authenticated" in parts["destination salesforce"]
    assert "(3 records)" in parts["destination salesforce"]  # the read counts them all
    assert outcome.stderr == ""

    Ledger(warehouse).migrate()
    again, parts = check(env)
    assert again.exit_code == 0, again.output
    latest = migrations()[-1].version
    assert f"ledger at migration {latest}, up to date" in parts["warehouse"]


def test_a_wrong_client_secret_fails_its_line_with_exit_2(env: dict[str, str]) -> None:
    wrong = "not-the-secret-4f2a"
    outcome, parts = check({**env, "SALESFORCE_CLIENT_SECRET": wrong})

    assert outcome.exit_code == 2, outcome.output
    assert parts["destination salesforce"].startswith("FAIL")
    assert "SALESFORCE_CLIENT_SECRET" in parts["destination salesforce"]
    assert parts["warehouse"].startswith("OK") and parts["source rds"].startswith("OK")
    assert "destination salesforce" in outcome.stderr
    assert outcome.stderr.strip().count("\n") == 0
    assert wrong not in outcome.output
    assert "Traceback" not in outcome.output


def test_an_unreachable_warehouse_fails_with_exit_3(env: dict[str, str]) -> None:
    outcome, parts = check({**env, "PGPORT": str(dead_port())})

    assert outcome.exit_code == 3, outcome.output
    assert parts["warehouse"].startswith("FAIL")
    assert "check PGHOST and PGPORT" in parts["warehouse"]
    # The other parts are checked all the same.
    assert parts["destination salesforce"].startswith("OK")
    assert "Traceback" not in outcome.output


def test_a_warehouse_that_refuses_is_a_configuration_error(env: dict[str, str]) -> None:
    outcome, parts = check({**env, "PGDATABASE": "no_such_database"})

    assert outcome.exit_code == 2, outcome.output
    assert parts["warehouse"].startswith("FAIL")
    assert '"no_such_database" does not exist' in parts["warehouse"]


def test_unreachable_beats_misconfigured(env: dict[str, str]) -> None:
    outcome, parts = check(
        {**env, "PGPORT": str(dead_port()), "SALESFORCE_CLIENT_SECRET": "wrong-secret-91c"}
    )
    assert outcome.exit_code == 3, outcome.output
    assert parts["warehouse"].startswith("FAIL")
    assert parts["destination salesforce"].startswith("FAIL")


def test_an_unreachable_salesforce_fails_with_exit_3(env: dict[str, str]) -> None:
    dead = f"https://127.0.0.1:{dead_port()}"
    outcome, parts = check({**env, "SALESFORCE_INSTANCE_URL": dead})

    assert outcome.exit_code == 3, outcome.output
    assert parts["destination salesforce"].startswith("FAIL")
    assert "gave up after 2 attempts" in parts["destination salesforce"]
    # One short line for the retry, then the one-line error.
    retries = [line for line in outcome.stderr.splitlines() if line.startswith("warning:")]
    assert retries == [
        "warning: salesforce: attempt 1 failed (Connection refused); retrying in 0.0 s"
    ]


def test_unconfigured_parts_name_their_variable(env: dict[str, str]) -> None:
    # The RDS is read by the extract only: not configured is no failure of a push.
    no_rds, parts = check({**env, "RDS_DATABASE_URL": ""})
    assert no_rds.exit_code == 0, no_rds.output
    assert parts["source rds"].startswith("SKIP")
    assert "not configured: set RDS_DATABASE_URL" in parts["source rds"]

    # Salesforce is the destination of registered syncs: not configured fails.
    no_id, parts = check({**env, "SALESFORCE_CLIENT_ID": ""})
    assert no_id.exit_code == 2, no_id.output
    assert parts["destination salesforce"].startswith("FAIL")
    assert "not configured: set SALESFORCE_CLIENT_ID" in parts["destination salesforce"]

    # A destination of which nothing is set is another team's: skipped, no failure.
    assert parts["destination servicefusion"].startswith("SKIP")
    assert "SERVICEFUSION_CLIENT_ID, SERVICEFUSION_CLIENT_SECRET" in parts[
        "destination servicefusion"
    ]
    assert parts["destination propertyware"].startswith("SKIP")
    assert parts["destination supabase"].startswith("SKIP")
    assert "not configured: set DISPATCH_DATABASE_URL" in parts["source dispatch"]
    # Half of one is a mistake: it fails and names what is missing.
    half, parts = check({**env, "SERVICEFUSION_CLIENT_ID": "someone"})
    assert half.exit_code == 2, half.output
    assert parts["destination servicefusion"].startswith("FAIL")
    assert "set SERVICEFUSION_CLIENT_SECRET" in parts["destination servicefusion"]
    # Nothing configured at all: every push would fail, so the check does.
    nothing, parts = check(
        {
            **env,
            "SALESFORCE_CLIENT_ID": "",
            "SALESFORCE_CLIENT_SECRET": "",
            "SALESFORCE_INSTANCE_URL": "",
        }
    )
    assert nothing.exit_code == 2, nothing.output
    assert parts["destination salesforce"].startswith("SKIP")
    assert "no destination is configured" in nothing.stderr


def test_a_bad_setting_is_one_line_with_exit_2(env: dict[str, str]) -> None:
    outcome = CliRunner().invoke(cli.app, ["check"], env={**env, "HTTP_MAX_ATTEMPTS": "0"})
    assert outcome.exit_code == 2
    assert "HTTP_MAX_ATTEMPTS" in outcome.stderr
    assert outcome.stderr.strip().count("\n") == 0
