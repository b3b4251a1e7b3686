"""`python -m extract all` runs its sources at once, with the outcomes of one by one.

The real command in a process of its own (a fresh interpreter: the first imports of
the run happen in its threads, as in production). Three configured sources, two
databases (RDS, and dispatch on dlt's fast path, both generated) and an API (the
Salesforce read-back, at SALESFORCE_MAX_RPS=0.5, so its token and query take two
seconds of rate limit at least), and two that are not configured (PropertyWare and
ServiceFusion: one error line each, exit 2). The run's report says when each source
began and ended: at once, the runs overlap; with `--workers 1` each begins after the
one before ended. Either way every row lands, the report lists the sources in the
order `all` names them, and the exit code is the worst.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from common.settings import Settings
from extract.pipelines import EXIT_CONFIG
from sandbox.generate import generate_rds
from sandbox.generate.dispatch import TABLES as DISPATCH_TABLES
from sandbox.generate.dispatch import generate_dispatch
from tests.conftest import PostgresServer
from tests.integration.conftest import SalesforceSim
from tests.integration.test_extract_salesforce import FIXTURE

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RDS_TABLES = ("companies", "properties", "property_features")


@pytest.fixture
def databases(postgres_server: PostgresServer) -> Iterator[tuple[str, str, str]]:
    """(RDS DSN, dispatch DSN, both filled by the generators; empty warehouse name)."""
    rds = postgres_server.create_database("rds")
    dispatch = postgres_server.create_database("dispatch")
    warehouse = postgres_server.create_database("wh")
    generate_rds(postgres_server.dsn(rds), properties=300, seed=5)
    generate_dispatch(postgres_server.dsn(dispatch), rows=2000, seed=5)
    try:
        yield postgres_server.dsn(rds), postgres_server.dsn(dispatch), warehouse
    finally:
        for name in (rds, dispatch, warehouse):
            postgres_server.drop_database(name)


def source_counts(dsn: str, tables: tuple[str, ...]) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {
            table: int(conn.execute(f"select count(*) from public.{table}").fetchone()[0])  # type: ignore[index]
            for table in tables
        }


@dataclass
class Run:
    code: int
    output: str
    report: dict[str, dict[str, Any]]  # by source, in the report's order


@pytest.fixture
def run_all(
    databases: tuple[str, str, str], postgres_server: PostgresServer,
    salesforce_sim: SalesforceSim, tmp_path: Path,
) -> Callable[..., Run]:
    rds_dsn, dispatch_dsn, warehouse = databases
    env = {key: value for key, value in os.environ.items()
           if key not in Settings.variables() and key != "DLT_DATA_DIR"}
    env.update({
        **postgres_server.env(warehouse),
        **salesforce_sim.settings_env(),
        "RDS_DATABASE_URL": rds_dsn,
        "DISPATCH_DATABASE_URL": dispatch_dsn,
        "SALESFORCE_MAX_RPS": "0.5",
        "SANDBOX_DIR": str(tmp_path / "no-sandbox"),
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
    })
    salesforce_sim.admin.load_records(FIXTURE)

    def run(*options: str) -> Run:
        report = tmp_path / "report.json"
        done = subprocess.run(
            [sys.executable, "-m", "extract", "all", "--report-json", str(report), *options],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
        entries = json.loads(report.read_text())
        return Run(done.returncode, done.stdout + done.stderr,
                   {entry["source"]: entry for entry in entries})

    return run


def assert_every_row_landed(run: Run, databases: tuple[str, str, str]) -> None:
    rds_dsn, dispatch_dsn, _ = databases
    for name in ("rds", "dispatch", "salesforce"):
        assert "error" not in run.report[name], run.report[name]
    assert run.report["rds"]["rows"] == source_counts(rds_dsn, RDS_TABLES)
    assert run.report["dispatch"]["rows"] == source_counts(dispatch_dsn, DISPATCH_TABLES)
    assert run.report["salesforce"]["rows"] == {"product_property": len(FIXTURE)}
    assert run.report["propertyware"]["exit_code"] == EXIT_CONFIG
    assert run.report["servicefusion"]["exit_code"] == EXIT_CONFIG


def test_all_runs_the_sources_at_once(
    run_all: Callable[..., Run], databases: tuple[str, str, str]
) -> None:
    run = run_all()
    assert run.code == EXIT_CONFIG, run.output  # two sources not configured
    assert list(run.report) == ["rds", "dispatch", "salesforce", "propertyware", "servicefusion"]
    assert_every_row_landed(run, databases)
    # They ran at once: each began before every other ended.
    ran = [run.report[name] for name in ("rds", "dispatch", "salesforce")]
    for one in ran:
        for other in ran:
            assert one["started_at"] < other["ended_at"], (one["source"], other["source"])
    # One line per source, errors included, and never a traceback.
    rows = {name: sum(run.report[name]["rows"].values()) for name in ("rds", "dispatch")}
    assert f"rds: {rows['rds']} rows merged" in run.output
    assert f"dispatch: {rows['dispatch']} rows merged" in run.output
    assert f"salesforce: {len(FIXTURE)} rows replaced" in run.output
    assert "PROPERTYWARE_WSDL_URL" in run.output
    assert "SERVICEFUSION_CLIENT_ID" in run.output
    assert "Traceback" not in run.output


def test_one_worker_runs_them_one_after_another(
    run_all: Callable[..., Run], databases: tuple[str, str, str]
) -> None:
    run = run_all("--workers", "1")
    assert run.code == EXIT_CONFIG, run.output
    assert_every_row_landed(run, databases)
    order = [run.report[name] for name in ("rds", "dispatch", "salesforce")]
    for before, after in itertools.pairwise(order):
        assert before["ended_at"] <= after["started_at"]
