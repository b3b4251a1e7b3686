"""The conventions of the tools users know: `--version`, help without `<bool>`, usage
errors in plain words, one short line per retry, dlt's log off the terminal and
`dlt pipeline <name> info` finding the extract's pipelines.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from typer.testing import CliRunner

from common.settings import Settings
from extract.__main__ import app as extract_app
from reverse_etl import cli
from sandbox.generate import generate_rds
from tests.conformance.salesforce import create_payload, create_sync_views, put_creates
from tests.conftest import PostgresServer

pytestmark = pytest.mark.integration

VERSION = importlib.metadata.version("propsync")


@pytest.fixture(autouse=True)
def no_developer_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings read `<SANDBOX_DIR>/sandbox.env`; a developer's must not leak in."""
    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path / "no-sandbox"))
    # The extract sets DLT_DATA_DIR when it is unset; in-process, that would outlive
    # the test.
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"https://127.0.0.1:{sock.getsockname()[1]}"  # nobody listens after this


def warehouse_env(dsn: str) -> dict[str, str]:
    info = conninfo_to_dict(dsn)
    return {
        "PGHOST": str(info.get("host", "127.0.0.1")),
        "PGPORT": str(info.get("port", 5432)),
        "PGUSER": str(info.get("user", "postgres")),
        "PGPASSWORD": str(info.get("password", "postgres")),
        "PGDATABASE": str(info["dbname"]),
    }


# -- --version ------------------------------------------------------------------------


def test_both_clis_print_their_version() -> None:
    pusher = CliRunner().invoke(cli.app, ["--version"])
    assert pusher.exit_code == 0, pusher.output
    assert pusher.stdout == f"propsync {VERSION}\n"

    extract = CliRunner().invoke(extract_app, ["--version"])
    assert extract.exit_code == 0, extract.output
    assert extract.stdout == f"propsync {VERSION}\n"


# -- help and usage errors ------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["push", "--help"],
        ["runs", "--help"],
        ["runs", "show", "--help"],
        ["revert", "--help"],
        ["check", "--help"],
        ["quality", "check", "--help"],
    ],
)
def test_help_has_no_type_noise_on_flags(args: list[str]) -> None:
    outcome = CliRunner().invoke(cli.app, args, env={"COLUMNS": "80"})
    assert outcome.exit_code == 0, outcome.output
    assert "<bool>" not in outcome.stdout
    assert "--help" in outcome.stdout


def test_push_help_reads_as_flags() -> None:
    outcome = CliRunner().invoke(cli.app, ["push", "--help"], env={"COLUMNS": "80"})
    lines = [line.strip() for line in outcome.stdout.splitlines()]
    assert any(line.startswith("--dry-run ") and "record and print" in line for line in lines)
    assert any(line.startswith("--object OBJECT") for line in lines)


def test_extract_help_has_no_type_noise_on_flags() -> None:
    outcome = CliRunner().invoke(extract_app, ["--help"], env={"COLUMNS": "80"})
    assert outcome.exit_code == 0, outcome.output
    assert "<bool>" not in outcome.stdout
    assert "DLT_DATA_DIR=.local/dlt dlt pipeline rds_to_warehouse info" in outcome.stdout


def test_a_bad_option_value_reads_without_pydantics_prefix() -> None:
    outcome = CliRunner().invoke(cli.app, ["push", "salesforce", "--pass", "nope"])
    assert outcome.exit_code == 2
    assert "'nope' is not one of 'create', 'update'" in outcome.stderr
    assert "Value error" not in outcome.output

    quality = CliRunner().invoke(cli.app, ["quality", "check", "salesforce", "--pass", "x"])
    assert quality.exit_code == 2 and "Value error" not in quality.output


# -- retries: one short line each, then one error --------------------------------------


def assert_retry_then_error(stderr: str, attempts: int) -> list[str]:
    lines = stderr.strip().splitlines()
    retries = [line for line in lines if line.startswith("warning:")]
    assert retries == [
        f"warning: salesforce: attempt {n} failed (Connection refused); retrying in 0.0 s"
        for n in range(1, attempts)
    ], stderr
    errors = [line for line in lines if not line.startswith("warning:")]
    assert len(errors) == 1 and errors[0].startswith("error: "), stderr
    assert f"gave up after {attempts} attempts" in errors[0]
    assert all(len(line) <= 80 for line in retries)
    return errors


def test_a_push_to_a_dead_port_prints_a_line_per_retry_then_the_error(
    fresh_database: str, tmp_path: Path
) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        create_sync_views(conn)
        put_creates(conn, [create_payload(n) for n in range(3)])
    env = {
        **warehouse_env(fresh_database),
        "SANDBOX_DIR": str(tmp_path / "no-sandbox"),
        "SALESFORCE_INSTANCE_URL": dead_url(),
        "SALESFORCE_CLIENT_ID": "client-id",
        "SALESFORCE_CLIENT_SECRET": "client-secret-value",
        "HTTP_MAX_ATTEMPTS": "3",
        "HTTP_BACKOFF_INITIAL_S": "0",
        "COLUMNS": "80",
    }

    outcome = CliRunner().invoke(
        cli.app, ["push", "salesforce", "--pass", "create", "--skip-gate"], env=env
    )

    assert outcome.exit_code == 3, outcome.output
    assert_retry_then_error(outcome.stderr, attempts=3)
    assert "Traceback" not in outcome.output and "client-secret-value" not in outcome.output


def test_an_extract_from_a_dead_port_prints_a_line_per_retry_then_the_error(
    fresh_database: str, tmp_path: Path
) -> None:
    env = {
        **warehouse_env(fresh_database),
        "SALESFORCE_INSTANCE_URL": dead_url(),
        "SALESFORCE_CLIENT_ID": "client-id",
        "SALESFORCE_CLIENT_SECRET": "client-secret-value",
        "HTTP_MAX_ATTEMPTS": "3",
        "HTTP_BACKOFF_INITIAL_S": "0",
        "COLUMNS": "80",
    }

    outcome = CliRunner().invoke(extract_app, ["salesforce"], env=env)

    assert outcome.exit_code == 3, outcome.output
    assert_retry_then_error(outcome.stderr, attempts=3)


def test_the_clis_leave_logging_as_they_found_it(fresh_database: str) -> None:
    http_log = logging.getLogger("common.http")
    handlers = list(http_log.handlers)
    env = {**warehouse_env(fresh_database), "SALESFORCE_INSTANCE_URL": dead_url()}
    CliRunner().invoke(cli.app, ["check"], env={**env, "HTTP_MAX_ATTEMPTS": "1"})
    CliRunner().invoke(extract_app, ["salesforce"], env={**env, "HTTP_MAX_ATTEMPTS": "1"})
    # caplog and other handlers of the process still see common.http afterwards.
    assert http_log.handlers == handlers and http_log.propagate is True


# -- dlt: its log off the terminal, its CLI on the extract's pipelines ----------------


def subprocess_env(project: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a user in `project`: no setting of this test process."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in Settings.variables()
        and not key.startswith(("SANDBOX_", "DLT_", "RUNTIME__", "PG"))
    }
    return {
        **env,
        "SANDBOX_DIR": str(project / ".local"),  # the project's `.local/`
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        **extra,
    }


def test_dlt_warnings_go_to_the_log_and_dlt_pipeline_info_finds_the_pipeline(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    rds = postgres_server.create_database("rds")
    warehouse = postgres_server.create_database("wh")
    try:
        generate_rds(postgres_server.dsn(rds), properties=600, seed=5)
        with psycopg.connect(postgres_server.dsn(rds), autocommit=True) as conn:
            # Every property at one timestamp: dlt warns that many rows share the
            # incremental cursor's value.
            conn.execute("update properties set updated_at = '2024-05-01T00:00:00Z'")
        project = tmp_path / "project"
        project.mkdir()
        env = subprocess_env(
            project,
            {
                **warehouse_env(postgres_server.dsn(warehouse)),
                "RDS_DATABASE_URL": postgres_server.dsn(rds),
            },
        )

        extract = subprocess.run(
            [sys.executable, "-m", "extract", "rds"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )

        assert extract.returncode == 0, extract.stdout + extract.stderr
        assert extract.stderr == "", "dlt's warnings reach the terminal"
        assert extract.stdout.startswith("rds: ")
        log = (project / ".local" / "dlt" / "extract.log").read_text()
        assert "sharing the same value of cursor field 'updated_at'" in log

        # The documented way: DLT_DATA_DIR=.local/dlt from the project folder.
        dlt = str(Path(sys.executable).with_name("dlt"))
        shown = {
            command: subprocess.run(
                [dlt, "pipeline", "rds_to_warehouse", command],
                cwd=project,
                env={**env, "DLT_DATA_DIR": ".local/dlt"},
                capture_output=True,
                text=True,
                timeout=120,
            )
            for command in ("info", "trace")
        }
        for result in shown.values():
            assert result.returncode == 0, result.stdout + result.stderr
            assert "Found pipeline rds_to_warehouse in .local/dlt/pipelines" in result.stdout
        assert "dataset_name: raw_rds" in shown["info"].stdout
        assert "Step load COMPLETED" in shown["trace"].stdout
    finally:
        postgres_server.drop_database(rds)
        postgres_server.drop_database(warehouse)
