"""The RDS -> Salesforce assets materialized by Dagster, in this process, on a stack of
their own: the extracts, the slice's dbt models and both push passes, then what
Salesforce holds is compared with tests/e2e/oracle.py (as the e2e flow does).

The stack and the checks are those of tests/e2e/test_rds_salesforce_flow.py; the
difference is who runs the steps: `dagster.materialize` of the job's selection
instead of the commands.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, AssetSelection, materialize

from orchestrate.dbt_assets import dbt_models, dbt_resource
from orchestrate.dlt_assets import EXTRACT_ASSETS
from orchestrate.push_assets import PUSH_ASSETS
from orchestrate.schedules import rds_salesforce_creates_and_updates
from tests.e2e.test_rds_salesforce_flow import (
    Stack,
    _write_requests,
    assert_salesforce_as_specified,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PROPERTIES = 120
CREATE = AssetKey(["push", "salesforce", "properties", "create"])
UPDATE = AssetKey(["push", "salesforce", "properties", "update"])


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    base = Path(tempfile.mkdtemp(prefix="propsync-dagster-"))
    stack = Stack(base)
    # dagster-dbt chooses each invocation's target folder; dbt's log goes to the stack
    stack.env.pop("DBT_TARGET_PATH", None)
    stack.up()
    try:
        stack.run(sys.executable, "-m", "sandbox.demo", "seed", "--properties", str(PROPERTIES))
        # The assets run here, so this process gets the stack's configuration.
        for name in [n for n in os.environ if n not in stack.env]:
            monkeypatch.delenv(name)
        for name, value in stack.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("DAGSTER_HOME", str(base / "dagster"))
        yield stack
    finally:
        stack.down()
        shutil.rmtree(base, ignore_errors=True)


def _materialize(selection: Any = None, **options: Any) -> Any:
    """The assets of `selection` (default: the job's, extracts and dbt included), here."""
    return materialize(
        [*EXTRACT_ASSETS, dbt_models, *PUSH_ASSETS],
        selection=selection or rds_salesforce_creates_and_updates.selection,
        resources={"dbt": dbt_resource()},
        **options,
    )


def _metadata(result: Any, key: AssetKey) -> dict[str, Any]:
    """The metadata of the one materialization of `key` in `result`."""
    events = [
        event.event_specific_data.materialization
        for event in result.get_asset_materialization_events()
        if event.event_specific_data.materialization.asset_key == key
    ]
    assert len(events) == 1, f"{key.to_user_string()} materialized {len(events)} times"
    return {name: value.value for name, value in events[0].metadata.items()}


def test_dagster_materializes_the_slice_and_salesforce_holds_what_the_views_prescribe(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    initial = stack.admin.records()
    assert initial, "the seed must load today's Salesforce state"
    mark = stack.admin.request_count()

    # A failing exit code fails the asset: with a cap below the backlog the create
    # pass is blocked (exit 4), sends nothing, and the update pass behind it never runs.
    monkeypatch.setenv("SAFE_MODE_MAX_CREATES", "1")
    blocked = _materialize(raise_on_error=False)
    monkeypatch.delenv("SAFE_MODE_MAX_CREATES")
    assert not blocked.success
    failures = [
        event for event in blocked.get_step_failure_events()
        if event.step_key == "push_salesforce_create"
    ]
    assert failures, [event.step_key for event in blocked.get_step_failure_events()]
    assert "exited 4" in str(failures[0].event_specific_data.error.message)
    done = {
        event.event_specific_data.materialization.asset_key
        for event in blocked.get_asset_materialization_events()
    }
    assert AssetKey(["sync", "properties_to_create"]) in done
    assert CREATE not in done and UPDATE not in done
    assert _write_requests(stack.admin, mark) == [], "a blocked pass sent writes"

    # The cap lifted, the push assets alone (the models are built): both passes run.
    result = _materialize(AssetSelection.assets(CREATE, UPDATE))
    assert result.success

    materialized = {
        event.event_specific_data.materialization.asset_key
        for event in result.get_asset_materialization_events()
    }
    assert materialized == {CREATE, UPDATE}

    assert_salesforce_as_specified(stack, initial)

    # The counts on the assets are the ledger's, and match what Salesforce now holds.
    created = _metadata(result, CREATE)
    updated = _metadata(result, UPDATE)
    new_records = [r for r in stack.admin.records() if r["Id"] not in {i["Id"] for i in initial}]
    assert created["created"] == len(new_records) > 0
    assert created["dry_run"] is False
    assert updated["updated"] > 0
    writes = _write_requests(stack.admin, mark)
    # every record the create pass sent was created or set aside (a seeded bad row)
    sent = sum(e["records"] for e in writes if e["method"] == "POST")
    assert sent == created["created"] + created["rejected"] + created["already_present"]

    # Materialized again with nothing changed (extracts, dbt, pushes): nothing is sent.
    mark = stack.admin.request_count()
    again = _materialize()
    assert again.success
    assert AssetKey(["salesforce", "product_property"]) in {
        event.event_specific_data.materialization.asset_key
        for event in again.get_asset_materialization_events()
    }
    assert _write_requests(stack.admin, mark) == [], "a rerun with no change sent writes"
    assert _metadata(again, CREATE)["created"] == 0
    assert _metadata(again, UPDATE)["updated"] == 0
