"""Every registered sync has a data-quality gate, or says in the registry why not;
and the gates check only what dbt does not (no warehouse, no GX needed here)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from common.settings import PROJECT_ROOT, Settings
from extract.pipelines import SOURCES
from reverse_etl import quality, registry
from reverse_etl.registry import SYNCS, Sync, by_name


@pytest.mark.parametrize("sync", SYNCS, ids=lambda sync: sync.name)
def test_every_sync_names_a_known_gate_or_says_why_not(sync: Sync) -> None:
    if sync.gate is None:
        assert sync.no_gate_reason and sync.no_gate_reason.strip(), sync.name
    else:
        assert sync.gate in quality.SUITES, (
            f"{sync.name}: gate {sync.gate!r} is not a suite of reverse_etl/quality.py "
            f"({', '.join(sorted(quality.SUITES))})"
        )


def test_gate_tables_add_freshness_and_the_safe_mode_bound() -> None:
    settings = Settings.from_env({"QUALITY_MAX_RAW_AGE_HOURS": 6})
    sync = by_name("salesforce.properties.create")
    bounded = {checks.table: checks for checks in quality.gate_tables(settings, sync, max_rows=7)}
    (fresh,) = bounded["raw_salesforce._dlt_loads"].checks
    assert fresh.kind == "fresh" and "6 h" in fresh.description
    assert "status = 0" in (fresh.query or "") and "secs => 21600" in (fresh.query or "")
    # An incremental source writes no load when nothing changed: no load freshness.
    assert "raw_rds._dlt_loads" not in bounded
    (bound,) = bounded[sync.view].checks
    assert bound.kind == "max_rows" and bound.max_rows == 7
    # SAFE_MODE off: the view is not part of the gate at all.
    unbounded = quality.gate_tables(settings, sync, max_rows=None)
    assert sync.view not in {checks.table for checks in unbounded}


def test_no_suite_restates_dbt() -> None:
    # dbt owns the sync views' keys and rules, and ignores unknown feature codes:
    # the only check on a sync view is the SAFE_MODE bound, none on feature_code's
    # values (dbt_project/models/sync/_sync__models.yml, dbt_project/tests/).
    for suite in quality.SUITES.values():
        for checks in suite.tables:
            assert checks.schema.startswith("raw_"), checks.table
            for check in checks.checks:
                assert not (check.column == "feature_code" and check.kind == "in_set"), check


def test_unknown_gate_raises_before_any_io() -> None:
    settings = Settings.from_env({"PGHOST": "127.0.0.1", "PGPORT": 1})
    sync = replace(by_name("salesforce.properties.update"), gate="no_such_gate")
    with pytest.raises(quality.GateConfigurationError, match="no_such_gate"):
        quality.run_gate(settings, sync, max_rows=None)
    ungated = replace(sync, gate=None, no_gate_reason="a file destination")
    result = quality.run_gate(settings, ungated, max_rows=None)
    assert result.ok and result.skipped and "a file destination" in result.summary


def test_importing_the_gate_does_not_import_great_expectations() -> None:
    # GX takes seconds to import; the CLI, the dry runs and these tests must not pay it.
    code = (
        "import sys, reverse_etl.quality; "
        "sys.exit('great_expectations' in sys.modules)"
    )
    child = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=False)
    assert child.returncode == 0


def test_every_validation_names_a_registered_destination_and_a_monitoring_model() -> None:
    for destination, declared in registry.VALIDATIONS.items():
        assert destination in registry.destinations()
        assert declared.model.startswith("monitoring.")
        # the read-back is a source `python -m extract` knows
        assert declared.read_back in SOURCES
