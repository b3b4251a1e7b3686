"""`python -m extract all` runs its sources at once, with the outcomes of one by one.

Two configured sources, a database (RDS, generated) and an API (the Salesforce
read-back, at SALESFORCE_MAX_RPS=0.5, so its token and query take two seconds of
rate limit at least), and two that are not configured (PropertyWare and
ServiceFusion: one error line each, exit 2). The run's report says when each source
began and ended: at once, the two runs overlap; with `--workers 1` each begins after
the one before ended. Either way every row lands, the report lists the sources in
the order `all` names them, and the exit code is the worst.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from extract.__main__ import app
from extract.pipelines import EXIT_CONFIG
from sandbox.generate import generate_rds
from tests.conftest import PostgresServer
from tests.integration.conftest import SalesforceSim
from tests.integration.test_extract_salesforce import FIXTURE

pytestmark = pytest.mark.integration

RDS_TABLES = ("companies", "properties", "property_features")


@pytest.fixture
def databases(postgres_server: PostgresServer) -> Iterator[tuple[str, str]]:
    """(RDS DSN filled by the generator, empty warehouse database name)."""
    rds = postgres_server.create_database("rds")
    warehouse = postgres_server.create_database("wh")
    generate_rds(postgres_server.dsn(rds), properties=300, seed=5)
    try:
        yield postgres_server.dsn(rds), warehouse
    finally:
        postgres_server.drop_database(rds)
        postgres_server.drop_database(warehouse)


def source_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {
            table: int(conn.execute(f"select count(*) from public.{table}").fetchone()[0])  # type: ignore[index]
            for table in RDS_TABLES
        }


def run_all(
    monkeypatch: pytest.MonkeyPatch, report: Path, *options: str
) -> tuple[Any, list[dict[str, Any]]]:
    result = CliRunner().invoke(app, ["all", "--report-json", str(report), *options])
    return result, json.loads(report.read_text())


@pytest.fixture
def configured(
    monkeypatch: pytest.MonkeyPatch, databases: tuple[str, str],
    postgres_server: PostgresServer, salesforce_sim: SalesforceSim, tmp_path: Path,
) -> str:
    rds_dsn, warehouse = databases
    for name, value in {
        **postgres_server.env(warehouse),
        **salesforce_sim.settings_env(),
        "RDS_DATABASE_URL": rds_dsn,
        "SALESFORCE_MAX_RPS": "0.5",
        "SANDBOX_DIR": str(tmp_path / "no-sandbox"),
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
    }.items():
        monkeypatch.setenv(name, value)
    salesforce_sim.admin.load_records(FIXTURE)
    return rds_dsn


def test_all_runs_the_sources_at_once(configured: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    result, report = run_all(monkeypatch, tmp_path / "report.json")
    assert result.exit_code == EXIT_CONFIG, result.output  # two sources not configured
    assert [entry["source"] for entry in report] == [
        "rds", "salesforce", "propertyware", "servicefusion",
    ]
    by_source = {entry["source"]: entry for entry in report}
    rds, salesforce = by_source["rds"], by_source["salesforce"]
    assert rds["rows"] == source_counts(configured)
    assert salesforce["rows"] == {"product_property": len(FIXTURE)}
    assert by_source["propertyware"]["exit_code"] == EXIT_CONFIG
    assert by_source["servicefusion"]["exit_code"] == EXIT_CONFIG
    # Both ran at once: each began before the other ended.
    assert rds["started_at"] < salesforce["ended_at"]
    assert salesforce["started_at"] < rds["ended_at"]
    # One line per source, errors included, and never a traceback.
    assert f"rds: {sum(rds['rows'].values())} rows merged" in result.output
    assert f"salesforce: {len(FIXTURE)} rows replaced" in result.output
    assert "PROPERTYWARE_WSDL_URL" in result.output
    assert "SERVICEFUSION_CLIENT_ID" in result.output
    assert "Traceback" not in result.output


def test_one_worker_runs_them_one_after_another(configured: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    result, report = run_all(monkeypatch, tmp_path / "report.json", "--workers", "1")
    assert result.exit_code == EXIT_CONFIG, result.output
    by_source = {entry["source"]: entry for entry in report}
    rds, salesforce = by_source["rds"], by_source["salesforce"]
    assert rds["rows"] == source_counts(configured)
    assert salesforce["rows"] == {"product_property": len(FIXTURE)}
    assert rds["ended_at"] <= salesforce["started_at"]
